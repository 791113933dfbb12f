"""Dagster as users run it, as real processes on loopback: `dagster dev`, or a gRPC code server,
`dagster-webserver` and `dagster-daemon` apart, plus waiting on the UI's GraphQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from catalog_pipeline_tests.conftest import PROJECT_ROOT

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_environment(**settings: str) -> dict[str, str]:
    """This process's environment without provider keys or catalog/Dagster settings, plus `settings`."""
    environment = {
        k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith(("CATALOG_", "DAGSTER_"))
    }
    environment.update(settings)
    return environment


@contextmanager
def running(
    command: list[str], environment: Mapping[str, str], log_path: Path, cwd: Path = PROJECT_ROOT
) -> Iterator[subprocess.Popen]:
    """A process in its own session, its output in `log_path`; stopped (SIGTERM, then SIGKILL) afterwards."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=dict(environment), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def wait_for_webserver(port: int, log_path: Path, timeout: float = 120) -> None:
    """Until the webserver answers and the code location has loaded its assets."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = graphql(port, "{ assetNodes { assetKey { path } } }", timeout=10)
            if body.get("data", {}).get("assetNodes"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"webserver on port {port} did not load the code location: " + log_path.read_text()[-3000:])


def graphql(port: int, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
    )
    response.raise_for_status()
    return response.json()


RUNS = """
query Runs($limit: Int) { runsOrError(limit: $limit) { ... on Runs { results {
  runId jobName status tags { key value } } } } }
"""


def runs(port: int, limit: int = 50) -> list[dict]:
    """The newest runs, each with its tags as a dict."""
    results = graphql(port, RUNS, {"limit": limit})["data"]["runsOrError"]["results"]
    return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in results]


def wait_for_run(port: int, predicate, timeout: float, what: str) -> dict:
    """The first run matching `predicate` once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [run for run in runs(port) if predicate(run) and run["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        if done:
            return done[0]
        time.sleep(1)
    raise AssertionError(f"no finished run for {what} within {timeout} s; runs: {runs(port, 10)}")


CHECK_NAMES = """
query Checks($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks { name } } } } } }
"""
CHECK_EXECUTIONS = """
query Executions($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 20) { runId status } }
"""


def check_executions_of_run(port: int, asset: str, run_id: str) -> dict[str, str | None]:
    """Each check of `asset` and the status of its execution in `run_id` (None: not in that run)."""
    key = {"path": [asset]}
    node = graphql(port, CHECK_NAMES, {"key": key})["data"]["assetNodeOrError"]
    statuses = {}
    for check in node["assetChecksOrError"]["checks"]:
        executions = graphql(port, CHECK_EXECUTIONS, {"key": key, "name": check["name"]})["data"]
        statuses[check["name"]] = next(
            (e["status"] for e in executions["assetCheckExecutions"] if e["runId"] == run_id), None
        )
    return statuses


def dagster_dev_command(port: int) -> list[str]:
    return [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
