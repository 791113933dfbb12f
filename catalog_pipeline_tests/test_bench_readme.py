"""The README's benchmark figures are the stored run's (`.bench/latest.json`), written by `benchmarks.readme`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.readme import BEGIN, END, render, update

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_shows_the_figures_of_the_stored_bench_run():
    figures = json.loads((ROOT / ".bench" / "latest.json").read_text())
    readme = (ROOT / "README.md").read_text()
    shown = readme.split(BEGIN + "\n", 1)[1].split("\n" + END, 1)[0]
    assert figures["date"] in shown
    assert shown == render(figures), (
        "README.md's bench block differs from .bench/latest.json: run python -m benchmarks.readme"
    )


def test_every_target_of_the_run_is_in_the_readme_with_its_verdict():
    figures = json.loads((ROOT / ".bench" / "latest.json").read_text())
    block = render(figures)
    assert figures["targets"], "the stored run has no targets"
    for name, target in figures["targets"].items():
        verdict = "met" if target["met"] else "**not met**"
        assert f"| {name} | {target['value']} | {verdict} |" in block


def test_a_readme_without_the_markers_is_refused():
    with pytest.raises(ValueError, match="bench:begin"):
        update("# no block here\n", "figures")
