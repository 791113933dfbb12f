"""The Dagster instances we ship (deploy/dagster.yaml on PostgreSQL, deploy/dagster-local.yaml on
SQLite) keep their database connections instead of opening one per stored event, and still behave
as Dagster's own storage does for the people reading it: every event stored, a running sync's
events seen by the webserver as they arrive, a server that dropped its connections survived; on
SQLite a batch of events is stored with one transaction per file, and one that fails stores none."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.events import StepMaterializationData
from dagster._core.events.log import EventLogEntry

from catalog_pipeline.dagster_storage import SQLITE_KEPT_RUN_FILES, PooledPostgresEventLogStorage
from catalog_pipeline.definitions import defs
from catalog_pipeline.defs.jobs import catalog_sync_job
from catalog_pipeline_tests.conftest import PROJECT_ROOT, inject_fault
from catalog_pipeline_tests.helpers import materializations, partition_range_tags, sync
from catalog_pipeline_tests.postgres_server import create_database
from catalog_pipeline_tests.storage_helpers import cli_environment, dagster_postgres_settings, run_cli

DEPLOY = PROJECT_ROOT / "deploy"
SIZES = {"cerebras": 7, "nebius": 11, "xai": 13}  # three neighbouring partitions: one partition range


def _home(tmp_path: Path, config: str) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(DEPLOY / config, home / "dagster.yaml")
    return home


def _postgres_settings(server_url: str) -> dict[str, str]:
    """DAGSTER_PG_* for a fresh Dagster instance database on the session's server."""
    return dagster_postgres_settings(create_database(server_url, prefix="dagster"))


def _server_figures(server_url: str, database: str) -> tuple[int, int]:
    """Sessions PostgreSQL has opened for `database` so far, and the events stored in it."""
    engine = sa.create_engine(server_url.rsplit("/", 1)[0] + f"/{database}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_stat_force_next_flush()")
            sessions = connection.exec_driver_sql(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).scalar_one()
            has_events = connection.exec_driver_sql("SELECT to_regclass('event_logs') IS NOT NULL").scalar_one()
            events = connection.exec_driver_sql("SELECT count(*) FROM event_logs").scalar_one() if has_events else 0
        return int(sessions), int(events)
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.e2e
def test_a_sync_on_the_deployment_instance_opens_a_few_connections_not_one_per_event(
    tmp_path, replay_server, postgres_server_url, postgres_url
):
    """`catalog-pipeline sync` of three providers on deploy/dagster.yaml stores dozens of events (two
    runs: the sync and the reconciliation after it) over a handful of PostgreSQL sessions (Dagster's
    own storage opens one per event: about 500 here)."""
    settings = _postgres_settings(postgres_server_url)
    home = _home(tmp_path, "dagster.yaml")
    for slug, size in SIZES.items():
        inject_fault(replay_server, slug, size=size)
    environment = cli_environment(home, postgres_url, replay_server.url, **settings)
    command = ["sync", *sum((["--provider", slug] for slug in SIZES), [])]
    first = run_cli(command, environment)  # creates Dagster's tables, which takes its own connections
    assert first.returncode == 0, first.stdout + first.stderr
    inject_fault(replay_server, "xai", size=14)
    sessions_before, events_before = _server_figures(postgres_server_url, settings["DAGSTER_PG_DB"])

    result = run_cli(command, environment)
    assert result.returncode == 0, result.stdout + result.stderr

    sessions_after, events_after = _server_figures(postgres_server_url, settings["DAGSTER_PG_DB"])
    stored, opened = events_after - events_before, sessions_after - sessions_before - 1  # -1: our own query
    assert stored >= 60, stored
    # one per storage (runs, events, schedules), and a few more for start-up and threads; not one per event
    assert opened <= 16, f"{opened} sessions for {stored} stored events"


@pytest.mark.postgres
@pytest.mark.e2e
def test_the_deployment_instance_reconnects_after_the_server_closed_its_connections(
    tmp_path, replay_server, postgres_server_url, postgres_url, monkeypatch
):
    """PostgreSQL ending every session of the Dagster database (a restart, an idle timeout, a failover)
    between two syncs does not fail the second: a kept connection is checked before it is used."""
    settings = _postgres_settings(postgres_server_url)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for slug, size in SIZES.items():
        inject_fault(replay_server, slug, size=size)
    instance = dg.DagsterInstance.from_config(str(_home(tmp_path, "dagster.yaml")))
    try:
        assert sync(postgres_url, replay_server.url, list(SIZES), instance=instance).success
        admin = sa.create_engine(postgres_server_url, poolclass=sa.pool.NullPool)
        with admin.connect() as connection:
            ended = connection.exec_driver_sql(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %(db)s AND pid <> pg_backend_pid()",
                {"db": settings["DAGSTER_PG_DB"]},
            ).scalar_one()
        admin.dispose()
        assert ended >= 1  # the instance kept connections, and the server ended them

        inject_fault(replay_server, "xai", size=14)
        second = sync(postgres_url, replay_server.url, list(SIZES), instance=instance)
        assert second.success
        assert materializations(instance, dg.AssetKey("models"), second.run_id)["xai"]["inserted"] == 1
    finally:
        instance.dispose()


def _stock_postgres_home(tmp_path: Path, settings: dict[str, str]) -> Path:
    """A Dagster home on dagster-postgres' own storage (a connection and commits for each event) on the
    database of `settings`: what our storage's rows are compared with."""
    home = tmp_path / "stock_dagster_home"
    home.mkdir()
    database = {
        "hostname": settings["DAGSTER_PG_HOST"],
        "port": int(settings["DAGSTER_PG_PORT"]),
        "username": settings["DAGSTER_PG_USER"],
        "password": settings["DAGSTER_PG_PASSWORD"],
        "db_name": settings["DAGSTER_PG_DB"],
        "scheme": "postgresql+psycopg2",
    }
    (home / "dagster.yaml").write_text(
        yaml.safe_dump({"storage": {"postgres": {"postgres_db": database}}, "telemetry": {"enabled": False}})
    )
    return home


def _create_sync_run(home: Path, settings: dict[str, str], monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """Create the schedule's run (`catalog_sync_job` over the partition range of SIZES) on the instance of
    `home`, as the daemon and the UI's launch do, with the deployment's event batching: creating it stores
    its planned events. Its run id."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    for name, value in {
        **settings,
        "DAGSTER_EVENT_BATCH_SIZE": str(compose["x-dagster-postgres"]["DAGSTER_EVENT_BATCH_SIZE"]),
    }.items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        run = instance.create_run_for_job(
            job_def=defs.resolve_job_def(catalog_sync_job.name),
            tags=partition_range_tags(*list(SIZES)[:: len(SIZES) - 1]),
        )
        planned = instance.get_latest_planned_materialization_info(dg.AssetKey("provider_catalog"), "nebius")
        assert planned is not None and planned.run_id == run.run_id  # as the UI reads a partition's last run
        return run.run_id
    finally:
        instance.dispose()


def _planned_rows(settings: dict[str, str], run_id: str) -> dict[str, list[tuple]]:
    """What a run's planned events left in the Dagster database: the events in order, and the asset and
    check rows the UI reads them through."""
    url = sa.URL.create(
        "postgresql+psycopg",
        username=settings["DAGSTER_PG_USER"],
        host=settings["DAGSTER_PG_HOST"],
        port=int(settings["DAGSTER_PG_PORT"]),
        database=settings["DAGSTER_PG_DB"],
    )
    queries = {
        "events": "SELECT dagster_event_type, asset_key, partition, step_key FROM event_logs "
        "WHERE dagster_event_type LIKE '%%PLANNED' ORDER BY id",
        "assets": "SELECT asset_key, last_run_id = %(run)s, last_materialization_timestamp IS NOT NULL "
        "FROM asset_keys ORDER BY asset_key",
        "checks": "SELECT asset_key, check_name, partition, execution_status, run_id = %(run)s "
        "FROM asset_check_executions ORDER BY asset_key, check_name, partition",
        "tags": "SELECT asset_key, key, count(*) FROM asset_event_tags GROUP BY 1, 2 ORDER BY 1, 2",
    }
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return {
                name: [tuple(row) for row in connection.exec_driver_sql(sql, {"run": run_id})]
                for name, sql in queries.items()
            }
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.e2e
@pytest.mark.parametrize("batch_fails", [False, True], ids=["batch", "failing-batch"])
def test_a_runs_planned_events_are_stored_as_dagster_postgres_stores_them(
    tmp_path, postgres_server_url, monkeypatch, capfd, batch_fails
):
    """A sync run's planned materializations and checks, stored by deploy/dagster.yaml's storage in one
    transaction, leave the same events, in the same order, and the same asset and check rows as
    dagster-postgres' own storage leaves for the same run. When the batch fails midway, Dagster stores its
    events one by one instead: none of the failed batch is left behind, so none is stored twice."""
    stock = _postgres_settings(postgres_server_url)
    stock_run = _create_sync_run(_stock_postgres_home(tmp_path, stock), stock, monkeypatch)
    expected = _planned_rows(stock, stock_run)
    assert {row[0] for row in expected["events"]} == {"ASSET_MATERIALIZATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED"}
    assert sorted(row[2] for row in expected["events"] if row[1] == '["provider_catalog"]') == sorted(SIZES)
    assert expected["checks"] and all(row[-1] for row in expected["checks"])

    if batch_fails:
        original, calls = PooledPostgresEventLogStorage._store_asset_event, []

        def failing_second(self, conn, event, event_id):  # type: ignore[no-untyped-def]
            calls.append(event.get_dagster_event().event_type_value)
            if len(calls) == 2:
                raise OSError("connection reset by peer")
            return original(self, conn, event, event_id)

        monkeypatch.setattr(PooledPostgresEventLogStorage, "_store_asset_event", failing_second)
    ours = _postgres_settings(postgres_server_url)
    home = _home(tmp_path, "dagster.yaml")
    run = _create_sync_run(home, ours, monkeypatch)

    assert _planned_rows(ours, run) == expected
    fallback = "Exception while storing event batch: connection reset by peer" in capfd.readouterr().err
    assert fallback is batch_fails


# --- the local instance (SQLite) ------------------------------------------------------------------


def _local_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    """The instance of deploy/dagster-local.yaml, found as every Dagster process finds it: $DAGSTER_HOME."""
    home = _home(tmp_path, "dagster-local.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return dg.DagsterInstance.get()


def _log_entry(run_id: str, message: str) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=logging.INFO,
        user_message=message,
        run_id=run_id,
        timestamp=time.time(),
        step_key=None,
        job_name=None,
        dagster_event=None,
    )


WRITER = textwrap.dedent(
    """
    import logging, sys, time
    import dagster as dg
    from dagster._core.events.log import EventLogEntry
    instance = dg.DagsterInstance.get()
    for number in range(3):
        instance.event_log_storage.store_event(EventLogEntry(
            error_info=None, level=logging.INFO, user_message=f"event {number}", run_id=sys.argv[1],
            timestamp=time.time(), step_key=None, job_name=None, dagster_event=None))
        print(f"stored {number}", flush=True)
        sys.stdin.readline()  # the next event only once the reader saw this one
    """
)


def test_the_webserver_sees_each_event_of_a_running_sync_as_another_process_stores_it(tmp_path, monkeypatch):
    """The webserver follows a run on SQLite by watching that run's database file; events a run
    worker (another process, which keeps its connection) stores must reach it one by one, not when
    the worker exits."""
    instance = _local_instance(tmp_path, monkeypatch)
    run_id = "0123456789abcdef0123456789abcdef"
    seen: list[str] = []
    arrived = threading.Condition()

    def on_event(entry, cursor):  # type: ignore[no-untyped-def]
        with arrived:
            seen.append(entry.user_message)
            arrived.notify_all()

    instance.event_log_storage.store_event(_log_entry(run_id, "run created"))  # the run's file exists
    instance.event_log_storage.watch(run_id, None, on_event)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, run_id],
        env=dict(os.environ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for number in range(3):
            assert writer.stdout is not None and writer.stdin is not None
            assert writer.stdout.readline().strip() == f"stored {number}"
            expected = f"event {number}"
            with arrived:
                arrived.wait_for(lambda expected=expected: expected in seen, timeout=10)
            assert expected in seen, f"{expected} stored, not seen while the writer runs: {seen}"
            writer.stdin.write("next\n")
            writer.stdin.flush()
        assert writer.wait(timeout=30) == 0
    finally:
        writer.kill()
        instance.dispose()
    assert [message for message in seen if message.startswith("event")] == ["event 0", "event 1", "event 2"]


def _open_run_files(home: Path) -> set[str]:
    """The run files of the event log (``history/runs/<run id>.db``) this process has open."""
    folder, names = home / "history" / "runs", set()
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith(f"{folder}/") and target.endswith(".db") and not target.endswith("/index.db"):
            names.add(Path(target).name)
    return names


def test_the_local_event_log_keeps_a_bounded_number_of_run_files_open(tmp_path, monkeypatch):
    """A webserver reads many runs over its life: the local event log keeps at most
    SQLITE_KEPT_RUN_FILES run files open, and every run's events stay readable."""
    instance = _local_instance(tmp_path, monkeypatch)
    storage = instance.event_log_storage
    runs = [f"{number:032x}" for number in range(SQLITE_KEPT_RUN_FILES * 3)]
    try:
        for run_id in runs:
            storage.store_event(_log_entry(run_id, f"from {run_id}"))
        open_files = _open_run_files(tmp_path / "dagster_home")
        assert 1 <= len(open_files) <= SQLITE_KEPT_RUN_FILES, sorted(open_files)
        for run_id in runs:
            assert [entry.user_message for entry in instance.all_logs(run_id)] == [f"from {run_id}"]
    finally:
        instance.dispose()
    assert _open_run_files(tmp_path / "dagster_home") == set()  # dispose closes them


def test_wiping_the_local_instance_leaves_no_event_behind_and_takes_new_ones(tmp_path, monkeypatch):
    """`dagster instance wipe` deletes the run files: a kept connection must not go on reading or
    writing a deleted file."""
    instance = _local_instance(tmp_path, monkeypatch)
    run_id = "fedcba9876543210fedcba9876543210"
    try:
        instance.event_log_storage.store_event(_log_entry(run_id, "before the wipe"))
        assert [e.user_message for e in instance.all_logs(run_id)] == ["before the wipe"]
        instance.wipe()
        assert instance.all_logs(run_id) == []
        instance.event_log_storage.store_event(_log_entry(run_id, "after the wipe"))
        assert [e.user_message for e in instance.all_logs(run_id)] == ["after the wipe"]
        reader = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))  # another process's view
        try:
            assert [e.user_message for e in reader.all_logs(run_id)] == ["after the wipe"]
        finally:
            reader.dispose()
    finally:
        instance.dispose()


def test_a_sync_on_the_local_instance_stores_every_partitions_materialization(tmp_path, replay_server, monkeypatch):
    """The local instance of `make demo`/`make dev`: a sync over three partitions leaves each partition
    materialized with its own numbers, read back through a second instance as the webserver reads it."""
    instance = _local_instance(tmp_path, monkeypatch)
    home = tmp_path / "dagster_home"
    for slug, size in SIZES.items():
        inject_fault(replay_server, slug, size=size)
    database = f"sqlite:///{tmp_path / 'catalog.db'}"
    try:
        result = sync(database, replay_server.url, list(SIZES), instance=instance)
        assert result.success
    finally:
        instance.dispose()
    reader = dg.DagsterInstance.from_config(str(home))
    try:
        models = materializations(reader, dg.AssetKey("models"), result.run_id)
        assert {slug: numbers["inserted"] for slug, numbers in models.items()} == SIZES
        assert reader.get_materialized_partitions(dg.AssetKey("models")) == set(SIZES)
    finally:
        reader.dispose()


def _hold_connections_at_once(storage, threads: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`threads` threads each holding one of `storage`'s connections at the same moment; their errors."""
    everyone = threading.Barrier(threads, timeout=20)
    errors: list[str] = []

    def hold() -> None:
        try:
            with storage.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
                everyone.wait()  # breaks if any thread is still waiting for a connection
        except Exception as error:  # the test reports them
            errors.append(f"{type(error).__name__}: {error}")

    workers = [threading.Thread(target=hold) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return errors


@pytest.mark.postgres
def test_threads_using_the_deployment_instance_at_once_never_wait_for_a_connection(
    tmp_path, postgres_server_url, monkeypatch
):
    """The daemon runs a dozen threads on one instance: a kept connection must not become a queue."""
    for name, value in _postgres_settings(postgres_server_url).items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(str(_home(tmp_path, "dagster.yaml")))
    try:
        assert _hold_connections_at_once(instance.run_storage, 12) == []
    finally:
        instance.dispose()


def test_threads_using_the_local_instance_at_once_never_wait_for_a_connection(tmp_path, monkeypatch):
    """The webserver answers the UI from a pool of threads: as many connections as threads want."""
    instance = _local_instance(tmp_path, monkeypatch)
    try:
        assert _hold_connections_at_once(instance.run_storage, 20) == []
    finally:
        instance.dispose()


def test_with_event_batches_a_local_sync_stores_each_batch_in_one_transaction_per_file(
    tmp_path, replay_server, monkeypatch
):
    """With DAGSTER_EVENT_BATCH_SIZE (as `catalog-pipeline sync` and `make dev` set it), the run's planned
    events and each asset's per-partition materializations reach the local instance as batches, each
    stored with one commit per database file instead of one or two per event; every partition still
    has its own planned event and materialization with its own numbers, read back as the webserver reads
    them."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "100")
    instance = _local_instance(tmp_path, monkeypatch)
    home = tmp_path / "dagster_home"
    for slug, size in SIZES.items():
        inject_fault(replay_server, slug, size=size)
    storage = type(instance.event_log_storage)
    batches: list[tuple[list[tuple[str, str | None]], dict[str, int]]] = []
    commits: dict[str, int] = {}
    creating: list[bool] = []  # a run's file made by its first event, with Dagster's own schema commits

    def count(conn: sa.Connection) -> None:
        database = Path(conn.engine.url.database or "")
        if not creating and home in database.parents:  # the event log's files, not the catalog's
            commits[database.name] = commits.get(database.name, 0) + 1

    original, initdb = storage.store_event_batch, storage._initdb

    def uncounted_initdb(self, engine):  # type: ignore[no-untyped-def]
        creating.append(True)
        try:
            return initdb(self, engine)
        finally:
            creating.pop()

    monkeypatch.setattr(storage, "_initdb", uncounted_initdb)

    def recording(self, events):  # type: ignore[no-untyped-def]
        commits.clear()
        original(self, events)
        kinds = [(e.get_dagster_event().event_type_value, e.get_dagster_event().partition) for e in events]
        batches.append((kinds, dict(commits)))

    monkeypatch.setattr(storage, "store_event_batch", recording)
    sa.event.listen(sa.Engine, "commit", count)
    try:
        result = sync(f"sqlite:///{tmp_path / 'catalog.db'}", replay_server.url, list(SIZES), instance=instance)
        assert result.success
    finally:
        sa.event.remove(sa.Engine, "commit", count)
        instance.dispose()

    materialized = [kinds for kinds, _ in batches if kinds[0][0] == "ASSET_MATERIALIZATION"]
    assert sorted(sorted(kinds) for kinds in materialized) == [[("ASSET_MATERIALIZATION", s) for s in SIZES]] * 2
    planned = [kind for kinds, _ in batches for kind in kinds if kind[0] == "ASSET_MATERIALIZATION_PLANNED"]
    assert sorted(planned) == sorted([("ASSET_MATERIALIZATION_PLANNED", s) for s in SIZES] * 2)
    for kinds, per_file in batches:
        # the run's file and the index, once each (a batch of check plans touches the run's file only)
        assert set(per_file.values()) == {1} and 1 <= len(per_file) <= 2, (kinds, per_file)
    reader = dg.DagsterInstance.from_config(str(home))
    try:
        models = materializations(reader, dg.AssetKey("models"), result.run_id)
        assert {slug: numbers["inserted"] for slug, numbers in models.items()} == SIZES
        assert reader.get_materialized_partitions(dg.AssetKey("models")) == set(SIZES)
        planned_records = reader.fetch_planned_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("models")), limit=100
        ).records
        assert sorted(r.event_log_entry.dagster_event.partition for r in planned_records) == sorted(SIZES)
    finally:
        reader.dispose()


def _materialization_entry(run_id: str, partition: str) -> EventLogEntry:
    event = dg.DagsterEvent(
        event_type_value="ASSET_MATERIALIZATION",
        job_name="catalog_sync_job",
        event_specific_data=StepMaterializationData(
            dg.AssetMaterialization(asset_key="models", partition=partition, metadata={"inserted": 1})
        ),
    )
    return EventLogEntry(
        error_info=None,
        level=logging.INFO,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        step_key="sync_provider_catalogs",
        job_name="catalog_sync_job",
        dagster_event=event,
    )


def test_a_batch_that_fails_midway_stores_none_of_its_events_and_the_event_log_goes_on(tmp_path, monkeypatch):
    """All or nothing: the second event of a batch failing in the index leaves neither the run's file nor the
    index with any of the batch's events; the next event is stored as usual (no lock or transaction left)."""
    instance = _local_instance(tmp_path, monkeypatch)
    storage = instance.event_log_storage
    run_id = "fedcba9876543210fedcba9876543210"
    storage.store_event(_log_entry(run_id, "run created"))
    original, calls = type(storage)._store_asset_event, []

    def failing_second(self, conn, event, event_id):  # type: ignore[no-untyped-def]
        calls.append(event.dagster_event.partition)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(self, conn, event, event_id)

    monkeypatch.setattr(type(storage), "_store_asset_event", failing_second)
    try:
        with pytest.raises(OSError, match="disk full"):
            storage.store_event_batch([_materialization_entry(run_id, slug) for slug in SIZES])
        assert calls == ["cerebras", "nebius"]
        assert [e.user_message for e in storage.get_logs_for_run(run_id)] == ["run created"]
        assert instance.get_materialized_partitions(dg.AssetKey("models")) == set()
        monkeypatch.setattr(type(storage), "_store_asset_event", original)
        storage.store_event(_materialization_entry(run_id, "xai"))
        assert instance.get_materialized_partitions(dg.AssetKey("models")) == {"xai"}
    finally:
        instance.dispose()


def test_an_event_stored_by_another_thread_during_a_batch_waits_for_it_and_both_are_kept(tmp_path, monkeypatch):
    """A log line stored from another thread while a batch is being written waits for the batch (one writer
    per file at a time) and is then stored; neither thread deadlocks."""
    instance = _local_instance(tmp_path, monkeypatch)
    storage = instance.event_log_storage
    run_id = "00112233445566778899aabbccddeeff"
    storage.store_event(_log_entry(run_id, "run created"))
    inside, release = threading.Event(), threading.Event()
    original = type(storage)._store_asset_event

    def pausing(self, conn, event, event_id):  # type: ignore[no-untyped-def]
        inside.set()
        release.wait(timeout=30)
        return original(self, conn, event, event_id)

    monkeypatch.setattr(type(storage), "_store_asset_event", pausing)
    batch = threading.Thread(target=storage.store_event_batch, args=([_materialization_entry(run_id, "nebius")],))
    other = threading.Thread(target=storage.store_event, args=(_log_entry(run_id, "from another thread"),))
    try:
        batch.start()
        assert inside.wait(timeout=30)
        other.start()
        other.join(timeout=1)
        assert other.is_alive(), "the other thread's event was stored in the middle of the batch"
        release.set()
        batch.join(timeout=30)
        other.join(timeout=30)
        assert not batch.is_alive() and not other.is_alive()
        messages = [e.user_message for e in storage.get_logs_for_run(run_id) if not e.is_dagster_event]
        assert messages == ["run created", "from another thread"]
        assert instance.get_materialized_partitions(dg.AssetKey("models")) == {"nebius"}
    finally:
        release.set()
        instance.dispose()


#: `catalog-pipeline sync` in a process of its own, noting the type of every event the local event log is
#: handed in a batch (one line each) in the file named by argv[1].
CLI_RECORDING_BATCHES = textwrap.dedent(
    """
    import sys
    from catalog_pipeline.cli import main
    from catalog_pipeline.dagster_storage import PooledSqliteEventLogStorage

    original = PooledSqliteEventLogStorage.store_event_batch

    def recording(self, events):
        with open(sys.argv[1], "a") as noted:
            noted.writelines(e.get_dagster_event().event_type_value + "\\n" for e in events)
        return original(self, events)

    PooledSqliteEventLogStorage.store_event_batch = recording
    sys.exit(main(sys.argv[2:]))
    """
)


def test_catalog_pipeline_sync_batches_its_runs_events_unless_told_otherwise(tmp_path, replay_server):
    """`catalog-pipeline sync` stores its runs' materializations in batches on the local instance when
    DAGSTER_EVENT_BATCH_SIZE is unset or blank (as the deployment does), one by one when the variable says
    0, and refuses a value that is no whole number, naming it."""
    home = _home(tmp_path, "dagster-local.yaml")
    for slug, size in SIZES.items():
        inject_fault(replay_server, slug, size=size)
    providers = [argument for slug in SIZES for argument in ("--provider", slug)]
    noted = tmp_path / "batched.txt"

    def cli_sync(**extra: str) -> subprocess.CompletedProcess:
        environment = cli_environment(home, f"sqlite:///{tmp_path / 'catalog.db'}", replay_server.url, **extra)
        noted.unlink(missing_ok=True)
        command = [sys.executable, "-c", CLI_RECORDING_BATCHES, str(noted), "sync", *providers]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=240, cwd=PROJECT_ROOT)

    for extra, expect_batches in (
        ({}, True),
        ({"DAGSTER_EVENT_BATCH_SIZE": " "}, True),
        ({"DAGSTER_EVENT_BATCH_SIZE": "0"}, False),
    ):
        done = cli_sync(**extra)
        assert done.returncode == 0, done.stdout + done.stderr
        batched = noted.read_text().split() if noted.exists() else []
        assert ("ASSET_MATERIALIZATION" in batched) is expect_batches, (extra, batched)
    done = cli_sync(DAGSTER_EVENT_BATCH_SIZE="many")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "DAGSTER_EVENT_BATCH_SIZE" in done.stderr, done.stderr
