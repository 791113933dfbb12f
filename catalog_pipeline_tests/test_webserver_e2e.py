"""`dagster dev` (webserver and daemon, as `make dev` starts them): the UI's GraphQL shows the three
assets, and one provider partition launched from it (as a click on "Materialize" would) lands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient

from catalog_pipeline.replay.server import expected_live_count
from catalog_pipeline_tests.conftest import PROJECT_ROOT
from catalog_pipeline_tests.helpers import model_rows

pytestmark = pytest.mark.e2e

ASSET_NODES = """
{ assetNodes { assetKey { path } description groupName kinds
    partitionKeysByDimension { partitionKeys }
    assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def webserver(tmp_path: Path, replay_server, sqlite_url):
    port = _free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("CATALOG_")}
    environment.update(
        {
            "DAGSTER_HOME": str(home),
            "CATALOG_REPLAY_URL": replay_server.url,
            "CATALOG_DATABASE_URL": sqlite_url,
            "PRICING_SYNC_ENABLED": "false",
        }
    )
    log = open(tmp_path / "webserver.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("webserver did not start: " + (tmp_path / "webserver.log").read_text()[-2000:])
    yield port
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_ui_shows_assets_and_materializes_one_provider_partition(webserver, sqlite_url):
    nodes = None
    for _ in range(60):  # the code location loads in the background after start-up
        body = httpx.post(f"http://127.0.0.1:{webserver}/graphql", json={"query": ASSET_NODES}, timeout=30).json()
        nodes = {"/".join(n["assetKey"]["path"]): n for n in body.get("data", {}).get("assetNodes") or []}
        if nodes:
            break
        time.sleep(1)
    assert {"provider_catalog", "models", "catalog_reconciliation"} <= set(nodes)
    assert "groq" in nodes["models"]["partitionKeysByDimension"][0]["partitionKeys"]
    assert nodes["models"]["description"].startswith("Normalized models")
    checks = {c["name"] for c in nodes["catalog_reconciliation"]["assetChecksOrError"]["checks"]}
    assert {"all_providers_parity", "all_providers_unexplained_gap", "parity_groq"} <= checks

    client = DagsterGraphQLClient("127.0.0.1", port_number=webserver)
    run_id = client.submit_job_execution("catalog_sync_job", tags={"dagster/partition": "groq"})
    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS"
    assert len(model_rows(sqlite_url, "groq")) == expected_live_count("groq")
    assert model_rows(sqlite_url, "together") == []
