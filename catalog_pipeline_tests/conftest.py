"""Shared fixtures: a replay server on a real socket, databases, and the shared snapshots."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_pipeline.replay.server import ReplayServer
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import CatalogWriter
from catalog_pipeline_tests.catalog_builders import Clock
from catalog_pipeline_tests.fault_proxy import FaultProxy
from catalog_pipeline_tests.postgres_server import create_database, postgres_server

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# A suite started in the background (nohup, a CI runner, an xdist worker) inherits SIGINT ignored, and every
# in-process Dagster run copies SIGINT's handler onto SIGTERM (dagster._utils.interrupts): SIGTERM ignored is
# then inherited by every process a later test starts, and `kill` no longer stops them (the demo's replay
# server kept demo.sh's output open until the test timed out). Tests run as in a terminal instead.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
#: CATALOG_SHARED_SNAPSHOTS points elsewhere (the mutation run executes a copy of the tests in mutants/).
SHARED_SNAPSHOTS = Path(
    os.environ.get("CATALOG_SHARED_SNAPSHOTS") or PROJECT_ROOT.parent / "shared" / "provider_snapshots"
)


@pytest.fixture(scope="session")
def replay_server() -> Iterator[ReplayServer]:
    """One replay server for the session; faults are healed after every test."""
    server = ReplayServer(port=0)
    server.start_in_background()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def fault_proxy(replay_server: ReplayServer) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the replay server; healed after every test."""
    proxy = FaultProxy(replay_server.url)
    yield proxy
    proxy.close()


@pytest.fixture(autouse=True)
def _heal_replay_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "fault_proxy" in request.fixturenames:
        request.getfixturevalue("fault_proxy").heal()
    if "replay_server" in request.fixturenames:
        server: ReplayServer = request.getfixturevalue("replay_server")
        with server.state.lock:
            server.state.faults.clear()
            server.state.requests.clear()
            server.state.scale = 1.0


def inject_fault(server: ReplayServer, slug: str, **fault: object) -> None:
    """Inject a fault over HTTP, as an operator or another process would."""
    request = urllib.request.Request(
        f"{server.url}/_faults/{slug}",
        data=json.dumps(fault).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def heal(server: ReplayServer, slug: str) -> None:
    request = urllib.request.Request(f"{server.url}/_faults/{slug}", method="DELETE")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return create_database(postgres_server_url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return create_database(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def shared_snapshots() -> Path:
    """`../shared/provider_snapshots`; skipped when absent unless CATALOG_REQUIRE_SHARED=1."""
    if SHARED_SNAPSHOTS.is_dir():
        return SHARED_SNAPSHOTS
    message = f"real provider payloads not found at {SHARED_SNAPSHOTS}"
    if os.environ.get("CATALOG_REQUIRE_SHARED") == "1":
        pytest.fail(message + " and CATALOG_REQUIRE_SHARED=1 requires them")
    pytest.skip(message + " (set CATALOG_REQUIRE_SHARED=1 to make this a failure)")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The catalog writer's clock, fixed at `catalog_builders.T1` until the test moves it."""
    return Clock(monkeypatch)


@pytest.fixture
def writer(database_url: str) -> Iterator[CatalogWriter]:
    """A catalog writer on a fresh database, SQLite and PostgreSQL."""
    engine = create_catalog_engine(database_url)
    yield CatalogWriter(engine)
    engine.dispose()
