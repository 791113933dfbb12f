"""Connecting to the catalog database and keeping its schema current."""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from catalog_pipeline.masking import mask_secrets
from catalog_pipeline.settings import DATABASE_URL, ConfigurationError

MIGRATIONS = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock (session level) held while migrating, so two processes that
#: start on a fresh database do not both try to create the tables.
MIGRATION_LOCK_KEY = zlib.crc32(b"catalog_pipeline:migrations")
_upgraded: set[str] = set()
_upgrade_lock = threading.Lock()


#: The Dagster home (and SQLite catalog) used when DAGSTER_HOME is not set, relative to the working folder.
DEFAULT_DAGSTER_HOME = ".catalog/dagster_home"


def default_database_url(dagster_home: str | None) -> str:
    """A SQLite file under ``$DAGSTER_HOME`` (or ``./.catalog/dagster_home``, the home `make demo`,
    `make dev` and the CLI share) when no URL is configured."""
    folder = Path(dagster_home) if dagster_home else Path(DEFAULT_DAGSTER_HOME)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'catalog.db').resolve()}"


def shown_database_url(url: str) -> str:
    """`url` as messages may show it: the password masked."""
    try:
        return mask_secrets(sa.make_url(url).render_as_string(hide_password=True))
    except (sa.exc.ArgumentError, ValueError):
        return mask_secrets(url)


def check_database(url: str, connect_timeout_seconds: int = 5) -> None:
    """Make sure the catalog database at `url` can be used, before any provider is fetched.

    A SQLite file's folder is created when missing; a PostgreSQL server must answer within
    `connect_timeout_seconds`.

    Raises:
        ConfigurationError: the URL is malformed, names an unsupported database or driver,
            the SQLite folder cannot be created or written, or the server cannot be reached
            (the password masked in every case).
    """
    shown = shown_database_url(url)
    try:
        parsed = sa.make_url(url)
        backend = parsed.get_backend_name()
    except (sa.exc.ArgumentError, ValueError) as error:
        raise ConfigurationError(
            f"{DATABASE_URL} is not a database URL ({mask_secrets(str(error))}): {shown!r}; "
            "expected sqlite:////path/catalog.db or postgresql+psycopg://user@host:5432/catalog"
        ) from None
    if backend == "sqlite":
        _check_sqlite_folder(parsed.database, shown)
        return
    if backend != "postgresql":
        raise ConfigurationError(
            f"{DATABASE_URL} names {backend!r}: the catalog lives in SQLite or PostgreSQL ({shown})"
        )
    try:
        engine = create_catalog_engine(url, connect_timeout_seconds=connect_timeout_seconds)
    except (ValueError, ImportError, sa.exc.ArgumentError) as error:
        raise ConfigurationError(f"{DATABASE_URL}: {mask_secrets(str(error))} ({shown})") from None
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise ConfigurationError(
            f"catalog database unreachable at {shown}: {mask_secrets(cause, extra=[parsed.password])}"
        ) from None
    finally:
        engine.dispose()


def _check_sqlite_folder(database: str | None, shown: str) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.is_dir():
        raise ConfigurationError(f"the SQLite catalog {shown} is a folder, not a file")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"the folder of the SQLite catalog {shown}, {folder}, is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"cannot create {folder}, the folder of the SQLite catalog {shown}: {error.strerror}"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigurationError(f"cannot write to {folder}, the folder of the SQLite catalog {shown}")


def create_catalog_engine(url: str, connect_timeout_seconds: int | None = None) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and write-locking transactions."""
    if url.startswith("sqlite"):
        # Pooled connections: closing the last connection to a WAL database checkpoints it,
        # which cost seconds per sync when every query opened and closed its own.
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE
            # takes the single writer lock up front instead of failing mid-write.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a power cut can lose the
            # last commits but never corrupts the file, and each provider's write stops waiting for the disk.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args = {"connect_timeout": connect_timeout_seconds} if connect_timeout_seconds else {}
    return sa.create_engine(
        _pinned_driver(url), pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args
    )


def _pinned_driver(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # The writer bulk-loads with psycopg 3's COPY: pin it, whatever SQLAlchemy's default driver is.
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.get_driver_name() != "psycopg":
            raise ValueError(
                f"catalog database driver {parsed.drivername!r} is not supported: use postgresql+psycopg://"
            )
    return parsed


def create_readonly_engine(url: str, pool_size: int = 8) -> Engine:
    """An engine that cannot write, for readers such as ``catalog-pipeline serve``.

    SQLite: the file is opened with ``mode=ro`` (and ``PRAGMA query_only``), never created
    and never migrated. PostgreSQL: every transaction is ``READ ONLY`` and ``REPEATABLE
    READ``, so the statements of one request see one snapshot; give it a role that may
    only SELECT (README) for a guarantee that does not depend on this code.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("a read-only SQLite catalog needs a database file")
        path = Path(parsed.database).resolve()
        engine = sa.create_engine(
            f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true",
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN")  # deferred: one read snapshot for the whole request

        return engine
    return sa.create_engine(
        _pinned_driver(url),
        connect_args={"options": "-c default_transaction_read_only=on"},
        isolation_level="REPEATABLE READ",
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
    )


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (a no-op when already there)."""
    _migrate(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Revert migrations down to `revision` (``base`` drops every table)."""
    _upgraded.discard(_key(engine))
    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, run: Callable[[Config], None]) -> None:
    # PostgreSQL runs the whole migration in one transaction (DDL is transactional), so
    # a process killed half way leaves the schema as it was; SQLite's BEGIN IMMEDIATE
    # already makes a second migrating process wait for the first.
    with engine.connect() as connection, _migration_lock(connection):
        run(alembic_config(connection))


@contextmanager
def _migration_lock(connection: sa.Connection) -> Iterator[None]:
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
        connection.commit()


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def ensure_schema(engine: Engine) -> None:
    """Bring the schema to head once per process and database, before the first write."""
    key = _key(engine)
    if key in _upgraded:
        return
    with _upgrade_lock:
        if key in _upgraded:
            return
        if current_revision(engine) != head_revision():
            upgrade(engine)
        _upgraded.add(key)
