"""Several processes on one PostgreSQL catalog: concurrent migrations, concurrent syncs of
one provider, one sync writing two providers at once, and a sync killed (SIGKILL) in the
middle of its write.

The tests make the overlap certain instead of hoping for it: they hold a real lock (an
advisory lock, or a table lock that stops writes but not reads) so each process stops
at a known point, watch pg_stat_activity / pg_locks until it is there, then let go.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from catalog_pipeline.storage.database import MIGRATION_LOCK_KEY, create_catalog_engine, upgrade
from catalog_pipeline.storage.writer import PROVIDER_LOCK_NAMESPACE, provider_lock_key
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import sync, sync_log
from catalog_pipeline_tests.postgres_server import wait_for
from catalog_pipeline_tests.storage_helpers import (  # noqa: F401 - current_instance is a fixture
    cli_environment,
    current_instance,
    provider_tables,
    start_cli,
)
from catalog_pipeline_tests.test_migrations import HEAD, schema_differences

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.usefixtures("current_instance")]

SLUG = "cerebras"
SIZE = 40


@contextmanager
def observer(database_url: str) -> Iterator[sa.Connection]:
    """A connection in autocommit mode, to hold locks or to watch the other backends.

    Watching needs its own connection: inside a transaction PostgreSQL serves
    pg_stat_activity from a snapshot taken once, so a lock holder would never see a change.
    """
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def waiting_backends(connection: sa.Connection) -> list[sa.Row]:
    """Other backends of this database that wait for a lock: pid, wait_event, the statement."""
    return connection.execute(
        sa.text(
            "SELECT pid, wait_event, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
    ).all()


def finish(processes: list, timeout: float = 180) -> list[str]:
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, output
        outputs.append(output)
    return outputs


def test_two_processes_migrating_a_fresh_database_take_turns(tmp_path, postgres_url):
    """Both processes wait on the migration lock; the first creates the schema, the second
    finds it at head and does nothing, and neither fails on a table the other created."""
    with observer(postgres_url) as holder:
        holder.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
        processes = [
            start_cli(["db", "upgrade"], cli_environment(tmp_path / f"home{i}", postgres_url, None)) for i in range(2)
        ]
        both_waiting = wait_for(
            lambda: [row.wait_event for row in waiting_backends(holder)] == ["advisory", "advisory"], timeout=60
        )
        holder.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
    assert both_waiting
    for output in finish(processes, timeout=60):
        assert f"at revision {HEAD} (head {HEAD})" in output
    engine = create_catalog_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [(HEAD,)]
        # The second process did nothing: every table and the version row were last written by one
        # transaction (a second migration run, a re-stamp or a drop-and-create would show another xmin).
        writers = connection.exec_driver_sql(
            "SELECT DISTINCT c.xmin::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' "
            "UNION SELECT xmin::text FROM alembic_version"
        ).all()
        assert len(writers) == 1, writers
    assert schema_differences(engine) == []
    engine.dispose()


def test_two_syncs_of_one_provider_at_once_serialize_on_the_provider_lock(tmp_path, replay_server, postgres_url):
    """Two `catalog-pipeline sync` processes for the same provider at the same moment: the
    first writes, the second waits on the provider's advisory lock and then finds nothing to
    change. No duplicate rows, and two consistent sync log rows (40 inserted, 40 unchanged)."""
    upgrade(create_catalog_engine(postgres_url))
    inject_fault(replay_server, SLUG, size=SIZE)
    with observer(postgres_url) as holder, observer(postgres_url) as watcher:
        holder.exec_driver_sql("BEGIN")
        holder.exec_driver_sql("LOCK TABLE models IN SHARE MODE")  # reads pass, writes wait
        processes = [
            start_cli(
                ["sync", "--provider", SLUG],
                cli_environment(tmp_path / f"home{i}", postgres_url, replay_server.url),
            )
            for i in range(2)
        ]
        overlapping = wait_for(
            lambda: sorted(row.wait_event for row in waiting_backends(watcher)) == ["advisory", "relation"], timeout=120
        )
        blocked_statements = [row.query for row in waiting_backends(watcher)]
        holder.exec_driver_sql("COMMIT")
    assert overlapping, blocked_statements
    # the first sync's write of models (a first listing is COPYed straight into the table)
    assert any(query.startswith(("INSERT INTO models", 'COPY "models"')) for query in blocked_statements)
    finish(processes)

    rows = provider_tables(postgres_url, SLUG)
    ids = [row["provider_model_id"] for row in rows["models"]]
    assert len(ids) == len(set(ids)) == SIZE
    assert len(rows["price_history"]) == len(rows["model_pricing"])  # each first listing recorded once
    log = [row for row in sync_log(postgres_url) if row["provider_slug"] == SLUG]
    assert [row["status"] for row in log] == ["success", "success"]
    assert [(row["models_inserted"], row["models_unchanged"], row["models_updated"]) for row in log] == [
        (SIZE, 0, SIZE),
        (0, SIZE, 0),
    ]
    assert log[0]["sync_finished_at"] <= log[1]["sync_finished_at"]
    assert len({row["dagster_run_id"] for row in log}) == 2 and all(row["dagster_run_id"] for row in log)


@pytest.mark.parametrize("concurrent_writes", [None, "1"], ids=["default", "CATALOG_CONCURRENT_WRITES=1"])
def test_one_sync_writes_another_provider_while_the_first_waits_for_the_server(
    tmp_path, replay_server, postgres_url, concurrent_writes
):
    """One sync run of two providers on PostgreSQL writes them at the same time, each in its own
    transaction: while cerebras' write is stopped (the test holds its provider lock), nebius, fetched a
    second later, is written and committed. With CATALOG_CONCURRENT_WRITES=1 nebius waits behind it.
    Released, both land, each provider's rows complete."""
    upgrade(create_catalog_engine(postgres_url))
    inject_fault(replay_server, SLUG, size=SIZE)
    inject_fault(replay_server, "nebius", size=SIZE, delay=1.0)  # fetched after cerebras' write has started
    extra = {"CATALOG_CONCURRENT_WRITES": concurrent_writes} if concurrent_writes else {}
    with observer(postgres_url) as holder, observer(postgres_url) as watcher:
        holder.execute(sa.select(sa.func.pg_advisory_lock(PROVIDER_LOCK_NAMESPACE, provider_lock_key(SLUG))))
        process = start_cli(
            ["sync", "--provider", SLUG, "--provider", "nebius"],
            cli_environment(tmp_path / "home", postgres_url, replay_server.url, **extra),
        )
        cerebras_waits = wait_for(
            lambda: [row.wait_event for row in waiting_backends(watcher)] == ["advisory"], timeout=120
        )
        nebius_logged_before_cerebras = "nebius" in [row["provider_slug"] for row in sync_log(postgres_url)]
        # nebius' fetch takes a second; its write, when it may run, a fraction of one
        nebius_written = wait_for(
            lambda: [row["provider_slug"] for row in sync_log(postgres_url)] == ["nebius"],
            timeout=60 if concurrent_writes is None else 5,
        )
        still_waiting = [row.wait_event for row in waiting_backends(watcher)]
        cerebras_rows_meanwhile = len(provider_tables(postgres_url, SLUG)["models"])
        nebius_rows_meanwhile = len(provider_tables(postgres_url, "nebius")["models"])
        holder.execute(sa.select(sa.func.pg_advisory_unlock(PROVIDER_LOCK_NAMESPACE, provider_lock_key(SLUG))))
        output = finish([process])[0]
    assert cerebras_waits, output
    assert not nebius_logged_before_cerebras  # nebius came second: its write did not simply go first
    assert still_waiting == ["advisory"] and cerebras_rows_meanwhile == 0
    if concurrent_writes is None:
        assert nebius_written, f"nebius was not written while cerebras waited: {sync_log(postgres_url)}"
        assert nebius_rows_meanwhile == SIZE
    else:
        assert not nebius_written and nebius_rows_meanwhile == 0  # one writer: nebius waits its turn
    log = sync_log(postgres_url)
    first, second = ("nebius", SLUG) if concurrent_writes is None else (SLUG, "nebius")
    assert [(row["provider_slug"], row["status"], row["models_inserted"]) for row in log] == [
        (first, "success", SIZE),
        (second, "success", SIZE),
    ]
    for slug in (SLUG, "nebius"):
        rows = provider_tables(postgres_url, slug)
        assert len(rows["models"]) == SIZE
        assert len(rows["price_history"]) == len(rows["model_pricing"]) > 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_sync_stopped_while_a_write_waits_ends_at_once_and_rolls_that_write_back(
    tmp_path, replay_server, postgres_url, stop
):
    """Stopped (SIGTERM, as a run's termination sends; SIGINT, Ctrl-C) while cerebras' write waits for its
    provider lock in a second writer: the sync does not wait for that write. Its statement is cancelled,
    its transaction rolls back (no cerebras row, the lock no longer waited for), and the sync log says so;
    nebius, written before the stop, keeps its rows."""
    upgrade(create_catalog_engine(postgres_url))
    inject_fault(replay_server, SLUG, size=SIZE)
    inject_fault(replay_server, "nebius", size=SIZE, delay=1.0)
    with observer(postgres_url) as holder, observer(postgres_url) as watcher:
        holder.execute(sa.select(sa.func.pg_advisory_lock(PROVIDER_LOCK_NAMESPACE, provider_lock_key(SLUG))))
        process = start_cli(
            ["sync", "--provider", SLUG, "--provider", "nebius"],
            cli_environment(tmp_path / "home", postgres_url, replay_server.url),
        )
        assert wait_for(lambda: [row.wait_event for row in waiting_backends(watcher)] == ["advisory"], timeout=120)
        assert wait_for(lambda: [row["provider_slug"] for row in sync_log(postgres_url)] == ["nebius"], timeout=60)
        process.send_signal(stop)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            pytest.fail(f"the stopped sync still waited for cerebras' write 30 s later: {output[-2000:]}")
        no_longer_waiting = waiting_backends(watcher)
        holder.execute(sa.select(sa.func.pg_advisory_unlock(PROVIDER_LOCK_NAMESPACE, provider_lock_key(SLUG))))
    assert process.returncode != 0, output
    assert no_longer_waiting == []
    assert provider_tables(postgres_url, SLUG)["models"] == []
    assert len(provider_tables(postgres_url, "nebius")["models"]) == SIZE
    log = {row["provider_slug"]: row for row in sync_log(postgres_url)}
    assert log["nebius"]["status"] == "success"
    assert log[SLUG]["status"] == "failed" and "cancel" in log[SLUG]["error_message"], log[SLUG]


def test_sync_killed_in_the_middle_of_its_write_leaves_the_rows_as_before(tmp_path, replay_server, postgres_url):
    """SIGKILL while the sync has upserted the models but not yet the prices, inside its
    transaction: PostgreSQL rolls the transaction back, the provider's rows (models, prices,
    history) are exactly as before, and the next sync is not blocked by a leftover lock."""
    inject_fault(replay_server, SLUG, size=SIZE)
    assert sync(postgres_url, replay_server.url, slugs=[SLUG]).success
    before, log_before = provider_tables(postgres_url, SLUG), sync_log(postgres_url)

    inject_fault(replay_server, SLUG, size=SIZE + 10, price_multiplier="1.5")
    with observer(postgres_url) as holder, observer(postgres_url) as watcher:
        holder.exec_driver_sql("BEGIN")
        holder.exec_driver_sql("LOCK TABLE model_pricing IN SHARE MODE")
        process = start_cli(
            ["sync", "--provider", SLUG], cli_environment(tmp_path / "home", postgres_url, replay_server.url)
        )

        def writer_backend() -> int | None:
            for row in waiting_backends(watcher):
                if row.query.startswith("INSERT INTO model_pricing"):
                    return row.pid
            return None

        assert wait_for(lambda: writer_backend() is not None, timeout=120)
        pid = writer_backend()
        written_in_transaction = watcher.execute(
            sa.text(
                "SELECT relation::regclass::text FROM pg_locks "
                "WHERE pid = :pid AND granted AND mode = 'RowExclusiveLock' AND relation IS NOT NULL"
            ),
            {"pid": pid},
        ).scalars()
        assert "models" in set(written_in_transaction)  # the models upsert already ran in this transaction

        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
        holder.exec_driver_sql("COMMIT")
        gone = wait_for(
            lambda: (
                not holder.execute(sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first()
            ),
            timeout=30,
        )
    assert gone
    assert provider_tables(postgres_url, SLUG) == before
    assert sync_log(postgres_url) == log_before

    again = sync(postgres_url, replay_server.url, slugs=[SLUG])  # no lock or half-written row left behind
    assert again.success
    after = provider_tables(postgres_url, SLUG)
    assert len(after["models"]) == SIZE + 10
    assert sync_log(postgres_url)[-1]["price_changes"] > 0
