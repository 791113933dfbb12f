"""Dagster instance storage that keeps its database connections for the life of the process.

Dagster's own storages open and close a database connection for every event they store
(SQLAlchemy ``NullPool``; on SQLite a new engine each time). One sync of 32 providers stores about
200 events, so those connections cost more than the sync's own work when nothing changed
(`make bench`). These classes change only that; tables, queries and migrations are Dagster's.

- `PooledPostgresStorage` (``deploy/dagster.yaml``): run, event log and schedule storage each keep
  one connection, checked before use and replaced hourly; threads using a storage at once open
  more, as before, and close them on return. A batch of events (a run's planned materializations
  and checks, a step's per-partition materializations) is stored in one transaction.
- `PooledSqliteStorage` (``deploy/dagster-local.yaml``, the home of `make demo` and `make dev`): the
  run storage keeps its engine; the event log keeps one engine per database file for the most
  recently used files, and checkpoints a run's write-ahead log after every transaction on it,
  because the webserver learns of a run's new events from changes to that run's ``.db`` file.
  Their commits are not flushed to disk one by one (``synchronous=NORMAL``, as the catalog's own
  SQLite file): a power cut can lose the last events, a crash of the process loses none.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from dagster._utils import mkdir_p
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import (
    create_pg_connection,
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# How long a kept PostgreSQL connection is used before it is replaced.
POSTGRES_CONNECTION_RECYCLE_SECONDS = 3600
# Threads that use one storage at once (the daemon's, the webserver's) beyond the kept connection
# each open their own and close it on return, as Dagster's storage does for every use: no limit
# (SQLAlchemy's -1), so keeping a connection never makes a thread wait for one.
UNLIMITED_EXTRA_CONNECTIONS = -1
# Run files whose engine the SQLite event log keeps (the index file is always kept): a run worker
# writes one run's file; the webserver reads a few at a time.
SQLITE_KEPT_RUN_FILES = 8
# The events Dagster stores when a run is created, in one batch: what the run will materialize and check.
PLANNED_EVENTS = {DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED}


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """Dagster's PostgreSQL event log, storing a batch of events in one transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._batch = threading.local()  # .conn: the open transaction of this thread's batch, if any
        super().__init__(*args, **kwargs)

    def _connect(self):  # type: ignore[no-untyped-def]
        conn = getattr(self._batch, "conn", None)
        return nullcontext(conn) if conn is not None else super()._connect()

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A batch of events on one connection, in one transaction: a batch that fails stores none of its
        events; other threads' events do not wait for it. Dagster stores a run's planned materializations and
        checks one by one, each with its own connection and commits (72 of them for a sync of 32 providers,
        a third of a second here): they go in with one INSERT instead (`_store_planned_events`)."""
        with create_pg_connection(self._engine) as conn:
            conn = conn.execution_options(isolation_level="READ COMMITTED")  # as Dagster's index transactions
            with conn.begin():
                self._batch.conn = conn
                try:
                    if events and all(event.dagster_event_type in PLANNED_EVENTS for event in events):
                        self._store_planned_events(conn, events)
                    else:
                        super().store_event_batch(events)
                finally:
                    self._batch.conn = None

    def _store_planned_events(self, conn: sa.Connection, events: Sequence[EventLogEntry]) -> None:
        """What Dagster's `store_event` writes for each planned event, batched: the events in one INSERT (as
        Dagster's own batch of materializations), their tags at once, each asset's row once with its last
        event (every planned event of one asset and run sets the same run id; the last sets the time), and
        each planned check's execution row. No NOTIFY: Dagster no longer watches for it, nor sends it for
        its own batches."""
        inserted = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
        event_ids = [int(row[0]) for row in inserted.fetchall()]
        stored = list(zip(events, event_ids, strict=True))
        of_assets = [(event, event_id) for event, event_id in stored if event.dagster_event_type in ASSET_EVENTS]
        self._store_asset_event_tags(conn, [event for event, _ in of_assets], [event_id for _, event_id in of_assets])
        last_of_asset = {event.get_dagster_event().asset_key: (event, event_id) for event, event_id in of_assets}
        for event, event_id in last_of_asset.values():
            self._store_asset_event(conn, event, event_id)
        for event, event_id in stored:
            if event.dagster_event_type in ASSET_CHECK_EVENTS:
                self.store_asset_check_event(event, event_id)


class PooledPostgresStorage(DagsterPostgresStorage):
    """Dagster's PostgreSQL storage, with one kept connection per storage instead of one per event."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = PostgresRunStorage(postgres_url, should_autocreate_tables, token_provider=token_provider)
        self._event_log_storage = PooledPostgresEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._schedule_storage = PostgresScheduleStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        DagsterStorage.__init__(self)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine.dispose()
            storage._engine = create_pg_engine(
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=1,
                max_overflow=UNLIMITED_EXTRA_CONNECTIONS,
                pool_recycle=POSTGRES_CONNECTION_RECYCLE_SECONDS,
                pool_pre_ping=True,
            )

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]):  # type: ignore[override]
        return cls(
            pg_url_from_config(config_value),
            config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )


class _KeptSqliteEngines:
    """The engines of a storage's SQLite files, kept for the process: the `always` file's for good,
    the others' for the `keep` most recently used; a forked child opens its own."""

    def __init__(self, keep: int, always: str | None = None) -> None:
        self._keep, self._always = keep, always
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.RLock()

    def get(self, name: str, url: str) -> sa.Engine:
        with self._lock:
            if self._pid != os.getpid():
                for engine in self._engines.values():
                    engine.dispose(close=False)  # the parent's connections stay the parent's
                self._engines.clear()
                self._pid = os.getpid()
            engine = self._engines.get(name)
            if engine is not None:
                self._engines.move_to_end(name)
                return engine
            self._engines[name] = engine = _kept_sqlite_engine(url)
            others = [kept for kept in self._engines if kept != self._always]
            for kept in others[: -self._keep]:
                self._engines.pop(kept).dispose()
            return engine

    def dispose(self, but_always: bool = False) -> None:
        with self._lock:
            for name in list(self._engines):
                if not (but_always and name == self._always):
                    self._engines.pop(name).dispose()


def _kept_sqlite_engine(url: str) -> sa.Engine:
    """An engine whose connections stay open. Its commits are not flushed to disk one by one
    (``synchronous=NORMAL``, as the catalog's SQLite file): a power cut can lose the last
    events, never corrupt the file; a crash of the process loses nothing."""
    engine = sa.create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, max_overflow=UNLIMITED_EXTRA_CONNECTIONS
    )

    @sa.event.listens_for(engine, "connect")
    def _no_flush_per_commit(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    return engine


def _checkpoint(conn: sa.Connection, shard: str) -> None:
    """A connection that stays open leaves its writes in the -wal file; the webserver watches a run's .db
    file, so they are moved there after every transaction on it (a no-op after a read)."""
    if shard != INDEX_SHARD_NAME:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, keeping an engine per database file instead of creating one per event."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._kept = _KeptSqliteEngines(keep=SQLITE_KEPT_RUN_FILES, always=INDEX_SHARD_NAME)
        # While `store_event_batch` runs: its thread and the one open transaction per database file it uses.
        self._batch_thread: int | None = None
        self._batch: dict[str, sa.Connection] = {}
        super().__init__(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> sa.Engine:
        engine = self._kept.get(shard, self.conn_string_for_shard(shard))
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        if self._batch_thread == threading.get_ident():
            # inside the batch (its thread holds the lock): the file's one transaction of the batch
            conn = self._batch.get(shard)
            if conn is None:
                conn = self._batch[shard] = self._engine(shard).connect()
                conn.begin()
            yield conn
            return
        with self._db_lock, self._engine(shard).connect() as conn:
            with conn.begin():
                yield conn
            _checkpoint(conn, shard)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Dagster's own writes of each event, in one transaction per database file for the whole batch
        instead of one (and a checkpoint) per event. Dagster batches a run's planned and per-partition
        materialization events when ``DAGSTER_EVENT_BATCH_SIZE`` is set (`catalog-pipeline sync` and
        `make dev` set it): about half a second of an 18k sync here. A batch that fails before its commits
        stores none of its events (as PostgreSQL's batch insert); other threads' events wait for the batch."""
        with self._db_lock:
            self._batch_thread, self._batch = threading.get_ident(), {}
            try:
                super().store_event_batch(events)
                for conn in self._batch.values():
                    conn.commit()
            finally:
                connections, self._batch_thread, self._batch = self._batch, None, {}
                for shard, conn in connections.items():
                    conn.rollback()  # nothing is left after the commits; everything when the batch failed
                    _checkpoint(conn, shard)
                    conn.close()

    def wipe(self) -> None:
        self._kept.dispose(but_always=True)  # the run files are deleted; the index is emptied
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._kept.dispose()


class PooledSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage, keeping its engine instead of creating one per call."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._kept = _KeptSqliteEngines(keep=1)
        super().__init__(conn_string, inst_data=inst_data)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with self._kept.get("runs", self._conn_string).connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._kept.dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, event log, schedules under ``base_dir``) with the kept-engine event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]):  # type: ignore[override]
        mkdir_p(config_value["base_dir"])
        return cls(config_value["base_dir"], inst_data=inst_data)
