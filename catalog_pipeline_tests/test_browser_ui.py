"""The Dagster UI in a real browser (Playwright driving Debian's chromium) against `dagster dev` on
loopback, as a data engineer uses it: open the lineage, launch one provider's sync from the asset page,
wait for it, and read what the UI then shows. Pins: every check on `models` shows an evaluation of that
run (none skipped), `by_provider` renders as a table, and a provider whose list shrank shows a failing
parity check with its stale models. Screenshots go to .artifacts/browser/."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_pipeline.defs.sensors import AFTER_SYNC_SENSOR
from catalog_pipeline.replay.server import expected_live_count
from catalog_pipeline_tests.conftest import PROJECT_ROOT, inject_fault
from catalog_pipeline_tests.dagster_processes import (
    check_executions_of_run,
    dagster_dev_command,
    free_port,
    process_environment,
    running,
    wait_for_run,
    wait_for_webserver,
)
from catalog_pipeline_tests.storage_helpers import run_cli

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / ".artifacts" / "browser"
SMALL = 0.02
SHRUNK = "together"
SHRINK = 6
THRESHOLDS = {"CATALOG_PARITY_WARN_THRESHOLD": "2", "CATALOG_PARITY_ERROR_THRESHOLD": "5"}
EVALUATED = ("Succeeded", "Failed")


def _browser_or_skip():
    """Playwright's sync API, or a skip with the reason; CATALOG_REQUIRE_BROWSER=1 (CI) makes it a failure."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        problem, sync_playwright = f"playwright is not installed ({error}): pip install -e '.[test]'", None
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} not found: apt-get install -y chromium (CI's .ci/run does)"
    if problem:
        if os.environ.get("CATALOG_REQUIRE_BROWSER") == "1":
            pytest.fail(problem + "; CATALOG_REQUIRE_BROWSER=1 requires the browser tests to run")
        pytest.skip(problem)
    return sync_playwright


@pytest.fixture
def ui(tmp_path, replay_server) -> Iterator[dict]:
    """`dagster dev` on a home whose catalog every provider synced into (small demo catalogs), with
    thresholds low enough that a shrink of a few models fails."""
    sync_playwright = _browser_or_skip()
    replay_server.state.scale = SMALL
    home, database = tmp_path / "dagster_home", f"sqlite:///{tmp_path / 'catalog.db'}"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster-local.yaml", home / "dagster.yaml")  # as `make dev` installs it
    environment = process_environment(
        DAGSTER_HOME=str(home),
        CATALOG_DATABASE_URL=database,
        CATALOG_REPLAY_URL=replay_server.url,
        PRICING_SYNC_ENABLED="false",  # no scheduled sync or drift re-sync behind the test's back
        **THRESHOLDS,
    )
    synced = run_cli(["sync"], environment)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    port = free_port()
    log = tmp_path / "dagster_dev.log"
    with running(dagster_dev_command(port), environment, log):
        wait_for_webserver(port, log)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(30_000)
            try:
                yield {"page": page, "port": port, "base": f"http://127.0.0.1:{port}", "log": log}
            finally:
                browser.close()


class Screenshots:
    def __init__(self, name: str):
        self.folder = ARTIFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def take(self, page, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def _dismiss_welcome(page) -> None:
    """The first visit shows a community dialog; a person clicks Skip."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
        skip.click()
    except Exception:  # noqa: BLE001 - not shown: nothing to dismiss
        pass


def _launch_one_partition(page, base: str, slug: str) -> str:
    """Materialize… on the models page, for one partition: returns the launched run's id prefix."""
    page.goto(f"{base}/assets/models")
    _dismiss_welcome(page)
    page.get_by_role("button", name="Materialize…").click()
    # models and provider_catalog are one sync: the UI says the sibling materializes too
    page.get_by_text("Additional assets will be materialized").wait_for()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Select a partition or create one").click()
    page.get_by_text(re.compile(r"^Select all")).first.wait_for()  # the partition list is open
    page.keyboard.type(slug)
    page.get_by_text("Select all (1)").wait_for()  # filtered to the one partition
    page.locator("label").filter(has_text=slug).last.click()
    page.get_by_text("Launch runs to materialize 2 assets").click()  # closes the partition list
    page.get_by_role("button", name="Launch 1 run").click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    toast.wait_for()
    return re.search(r"Launched run ([0-9a-f]{8})", toast.inner_text()).group(1)


def _checks_list_statuses(page) -> dict[str, str]:
    """Check name -> the status the Checks tab lists beside it (the rows on screen)."""
    page.get_by_text("Execute all").wait_for()
    time.sleep(0.5)
    listing = page.inner_text("body").split("Execute all", 1)[1]
    return dict(
        re.findall(r"\n([a-z0-9_]+)\n(Succeeded|Failed|Skipped|Not evaluated|In progress|Execution failed)", listing)
    )


def test_one_provider_synced_from_the_ui_shows_true_checks_and_the_parity_table(ui, replay_server):
    page, base, port = ui["page"], ui["base"], ui["port"]
    shots = Screenshots("one_provider_sync")

    page.goto(f"{base}/asset-groups/catalog")
    _dismiss_welcome(page)
    for name in ("provider_catalog", "models", "catalog_reconciliation"):
        page.get_by_text(name, exact=True).first.wait_for()
    shots.take(page, "lineage")

    inject_fault(replay_server, SHRUNK, size=expected_live_count(SHRUNK, SMALL) - SHRINK)
    prefix = _launch_one_partition(page, base, "groq")
    run = wait_for_run(port, lambda r: r["runId"].startswith(prefix), 120, "the UI's groq sync")
    assert run["status"] == "SUCCESS", run
    assert run["tags"]["dagster/partition"] == "groq"
    page.goto(f"{base}/runs/{run['runId']}")
    page.get_by_text("Success").first.wait_for()
    shots.take(page, "run")

    # every check on models was evaluated in that run, not skipped
    executions = check_executions_of_run(port, "models", run["runId"])
    assert len(executions) >= 5 and set(executions.values()) <= {"SUCCEEDED", "FAILED"}, executions

    # the monitor the after-sync sensor starts: it re-evaluates the checks and reconciles
    monitor = wait_for_run(
        port,
        lambda r: r["tags"].get("catalog_pipeline/trigger") == AFTER_SYNC_SENSOR,
        120,
        "the monitor after the sync",
    )
    assert monitor["status"] == "SUCCESS", monitor
    page.goto(f"{base}/assets/models?view=checks")
    listed = _checks_list_statuses(page)
    assert set(listed) == set(executions), listed
    assert set(listed.values()) <= set(EVALUATED), listed
    shots.take(page, "models_checks")

    # the monitor the after-sync sensor starts: by_provider as a table, the shrunk provider failing
    monitor = wait_for_run(
        port,
        lambda r: r["tags"].get("catalog_pipeline/trigger") == AFTER_SYNC_SENSOR,
        120,
        "the monitor after the sync",
    )
    assert monitor["status"] == "SUCCESS", monitor
    page.goto(f"{base}/assets/catalog_reconciliation")
    # the by_provider table itself, not the metadata table around it
    table = (
        page.locator("table")
        .filter(has=page.locator("th", has_text="last error"))
        .filter(has_not=page.locator("table"))
    )
    table.first.wait_for()
    headers = [h.strip() for h in table.first.locator("th").all_inner_texts()]
    assert headers == [
        "provider",
        "live",
        "stored",
        "rejected",
        "missing",
        "stale",
        "parity %",
        "status",
        "last sync",
        "last error",
    ]
    shrunk_row = table.first.locator("tr").filter(has=page.get_by_text(SHRUNK, exact=True))
    cells = [c.strip() for c in shrunk_row.first.locator("td").all_inner_texts()]
    assert cells[0] == SHRUNK and cells[5] == str(SHRINK) and cells[7] == "out_of_sync", cells
    table.first.scroll_into_view_if_needed()
    shots.take(page, "by_provider_table")

    page.goto(f"{base}/assets/catalog_reconciliation?view=checks")
    listed = _checks_list_statuses(page)
    # 34 checks, the two totals first (the list is sorted by name): failing, as the shrink makes them
    assert list(listed)[:2] == ["all_providers_parity", "all_providers_unexplained_gap"], listed
    assert listed["all_providers_parity"] == listed["all_providers_unexplained_gap"] == "Failed", listed
    check = "parity_" + SHRUNK
    page.get_by_placeholder("Filter checks").fill("parity_")  # the list is virtual: filter it as a person would
    page.get_by_placeholder("Filter checks").fill(check)
    listed = _checks_list_statuses(page)
    assert listed == {check: "Failed"}, listed
    page.get_by_text(check, exact=True).first.click()
    detail = page.inner_text("body")
    assert re.search(rf"\nstale\n\s*{SHRINK}\n", detail), detail[-3000:]
    assert re.search(r"\nstatus\n\s*out_of_sync\n", detail), detail[-3000:]
    time.sleep(0.5)
    shots.take(page, "failing_parity_check")
