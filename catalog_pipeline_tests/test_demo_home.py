"""One home for the demo: in a fresh copy of the repository, `make demo` (scripts/demo.sh), then
`catalog-pipeline status` with no variable set, then `make dev` (scripts/dev.sh) all use
./.catalog/dagster_home and its catalog: status prints the demo's report and the UI shows all 32
partitions of both assets materialized. On a copy that never synced, `make dev` syncs first."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline_tests.conftest import PROJECT_ROOT
from catalog_pipeline_tests.dagster_processes import (
    free_port,
    graphql,
    process_environment,
    running,
    wait_for_webserver,
)

# demo, status and dev each have their own subprocess timeout (600 + 120 + 240 s; the demo alone takes
# ~15 s on a quiet machine, over 300 s on a starved one): the suite's 300 s default would cut the whole
# test short before any of them is reached
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

VENV = Path(sys.executable).parent.parent
PARTITIONS = """
{ assetNodes { assetKey { path } partitionStats { numMaterialized numPartitions numFailed } } }
"""


def _fresh_clone(tmp_path: Path) -> Path:
    """The repository's tracked files, as a clone has them (no .catalog, no .venv)."""
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    clone = tmp_path / "clone"
    for name in filter(None, tracked):
        source = PROJECT_ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


def _environment() -> dict[str, str]:
    # no DAGSTER_HOME, no CATALOG_*: what a newcomer's shell has
    return process_environment(VENV=str(VENV), PATH=f"{VENV / 'bin'}:/usr/bin:/bin")


def _materialized_partitions(port: int) -> dict[str, tuple[int, int]]:
    nodes = graphql(port, PARTITIONS)["data"]["assetNodes"]
    return {
        "/".join(n["assetKey"]["path"]): (n["partitionStats"]["numMaterialized"], n["partitionStats"]["numPartitions"])
        for n in nodes
        if n["partitionStats"]
    }


def _dev_shows_every_partition(clone: Path, tmp_path: Path) -> str:
    port = free_port()
    environment = _environment() | {"DAGSTER_PORT": str(port), "CATALOG_DEMO_PORT": str(free_port())}
    log = tmp_path / "dev.log"
    with running(["bash", "scripts/dev.sh"], environment, log, cwd=clone):
        wait_for_webserver(port, log, timeout=240)
        every = (len(PROVIDER_SLUGS), len(PROVIDER_SLUGS))
        assert _materialized_partitions(port) == {"provider_catalog": every, "models": every}
    return log.read_text()


def test_make_demo_then_status_and_make_dev_share_one_home(tmp_path):
    clone = _fresh_clone(tmp_path)
    demo = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=clone, env=_environment(), capture_output=True, text=True, timeout=600
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert (clone / ".catalog" / "dagster_home" / "catalog.db").is_file()

    status = subprocess.run(
        [str(VENV / "bin" / "catalog-pipeline"), "status"],
        cwd=clone,
        env=process_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.startswith("catalog status at ")
    report = status.stdout.split("\n")
    total = next(line for line in report if line.startswith("total "))
    assert total.split()[-1] == "healthy" and "100.0%" in total
    assert demo.stdout.rstrip().endswith(status.stdout.rstrip().split("\n")[-1])  # the same report

    dev_log = _dev_shows_every_partition(clone, tmp_path)
    assert "syncing every provider" not in dev_log  # the demo's runs, not a sync of its own


def test_make_dev_on_a_fresh_clone_syncs_first_so_the_ui_is_never_empty(tmp_path):
    clone = _fresh_clone(tmp_path)
    dev_log = _dev_shows_every_partition(clone, tmp_path)
    assert "nothing synced in" in dev_log and "syncing every provider from the demo catalogs first" in dev_log
