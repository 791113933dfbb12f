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
    """A full sync prints each provider as it lands and a summary, and no warning about the beta Dagster
    APIs the project chose on purpose; status --json shows 100 % parity."""
    environment = cli_environment(tmp_path, database_url, replay_server.url)
    result = run_cli(["sync"], environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BetaWarning" not in result.stdout + result.stderr
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


def test_status_json_counts_stale_models_per_provider_and_in_total(tmp_path, replay_server, sqlite_url):
    """groq's list shrinks from 40 to 25 after a sync: the reconciliation of the next monitor records 15
    stale models, and `status --json` (from that reconciliation) and `status --live` report them per
    provider and in total, keep live = db_active + rejected + missing - stale, and exit 1 (the gap of 15
    is above the error threshold)."""
    environment = cli_environment(tmp_path, sqlite_url, replay_server.url)
    environment.update({"CATALOG_PARITY_WARN_THRESHOLD": "5", "CATALOG_PARITY_ERROR_THRESHOLD": "10"})
    inject_fault(replay_server, "groq", size=40)
    assert run_cli(["sync", "--provider", "groq"], environment).returncode == 0
    inject_fault(replay_server, "groq", size=25)
    for args in (["status", "--json", "--live"], ["status", "--json"]):
        if args == ["status", "--json"]:
            # the stored reconciliation is the one the CLI's sync recorded (before the shrink)
            assert json.loads(run_cli(args, environment).stdout)["stale"] == 0
            reconciled = subprocess.run(
                [sys.executable, "-c", RECONCILE], env=environment, capture_output=True, text=True, timeout=240
            )
            assert reconciled.returncode == 0, reconciled.stderr[-2000:]
        status = run_cli(args, environment)
        assert status.returncode == 1, status.stdout + status.stderr
        report = json.loads(status.stdout)
        groq = {p["slug"]: p for p in report["providers"]}["groq"]
        assert (groq["live"], groq["db_active"], groq["missing"], groq["stale"], groq["gap"]) == (25, 40, 0, 15, 15)
        assert groq["status"] == "out_of_sync" and groq["parity_pct"] == 62.5
        assert report["stale"] == 15 and report["missing"] >= 0
        for provider in report["providers"]:
            if provider["live"] is not None:
                assert provider["live"] == (
                    provider["db_active"] + provider["rejected"] + provider["missing"] - provider["stale"]
                )
    assert " 15 " in run_cli(["status"], environment).stdout


# The monitor's reconciliation, run as the daemon would run the job, in a process of its own.
RECONCILE = """
import dagster as dg
from catalog_pipeline.definitions import defs
result = defs.resolve_job_def("catalog_reconciliation_job").execute_in_process(instance=dg.DagsterInstance.get())
assert result.success
"""
