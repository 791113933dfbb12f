"""The real `catalog-pipeline` command as a subprocess, against the replay server on a real socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.replay.server import expected_live_count
from catalog_pipeline_tests.conftest import inject_fault

pytestmark = pytest.mark.e2e


def run_cli(args: list[str], environment: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "catalog_pipeline.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_environment(tmp_path: Path, database_url: str, replay_url: str | None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("CATALOG_")}
    environment.update({"DAGSTER_HOME": str(tmp_path / "dagster_home"), "CATALOG_DATABASE_URL": database_url})
    if replay_url:
        environment["CATALOG_REPLAY_URL"] = replay_url
    return environment


def test_status_without_any_reconciliation_cannot_tell(tmp_path, sqlite_url):
    result = run_cli(["status", "--json"], cli_environment(tmp_path, sqlite_url, None))
    assert result.returncode == 2, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "unknown"


def test_sync_then_status_through_the_real_cli(tmp_path, replay_server, database_url):
    """A full sync prints each provider as it lands and a summary; status --json shows 100 % parity."""
    environment = cli_environment(tmp_path, database_url, replay_server.url)
    result = run_cli(["sync"], environment)
    assert result.returncode == 0, result.stdout + result.stderr
    for slug in PROVIDER_SLUGS:
        assert f"  {slug} " in result.stdout
    assert f"all {len(PROVIDER_SLUGS)} requested provider(s) synced" in result.stdout

    status = run_cli(["status", "--json"], environment)
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["status"] == "healthy"
    assert report["parity_pct"] == 100.0
    assert report["live_models"] == report["db_active_models"] == sum(expected_live_count(s) for s in PROVIDER_SLUGS)
    for provider in report["providers"]:
        assert provider["live"] == provider["db_active"] + provider["rejected"] + provider["missing"]
        assert provider["last_sync_status"] == "success"

    table = run_cli(["status"], environment)
    assert table.returncode == 0
    assert "100.0%" in table.stdout and "healthy" in table.stdout


def test_cli_sync_exits_1_naming_the_failed_provider_and_status_reports_the_gap(tmp_path, replay_server, sqlite_url):
    environment = cli_environment(tmp_path, sqlite_url, replay_server.url)
    inject_fault(replay_server, "huggingface", status=500)
    result = run_cli(["sync", "--provider", "huggingface", "--provider", "groq"], environment)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED: huggingface" in result.stdout
    assert "HTTP 500 after 4 attempts" in result.stdout

    # the provider recovers in the live API but the database has not caught up yet
    replay_server.state.faults.clear()
    status = run_cli(["status", "--json", "--live"], environment)
    report = json.loads(status.stdout)
    by_slug = {p["slug"]: p for p in report["providers"]}
    assert by_slug["groq"]["missing"] == 0
    assert by_slug["huggingface"]["missing"] == expected_live_count("huggingface")
    assert by_slug["huggingface"]["status"] == "out_of_sync"
    assert len(by_slug["huggingface"]["missing_sample"]) == 10
    assert status.returncode == 1
    table = run_cli(["status", "--live"], environment)
    assert (
        f"huggingface: listed live but not stored, e.g. {by_slug['huggingface']['missing_sample'][0]}" in table.stdout
    )
