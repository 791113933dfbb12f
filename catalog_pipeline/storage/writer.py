"""Writes one provider's normalized catalog: change-only, transactional, idempotent.

One call of `CatalogWriter.write_provider` is one transaction: the provider's rows
are either all brought in line with the live list or left exactly as they were.
Unchanged models are never sent to the database, and the upsert's ``WHERE`` guard
keeps a row untouched even if a concurrent writer already stored the same content.
Rows travel in bulk: on PostgreSQL a binary COPY into a temporary table and one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE`` per table; on SQLite the
same statement per batch, the batch being one JSON parameter.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from catalog_pipeline.http_engine import FetchResult, PageValidator, PreviousFetch
from catalog_pipeline.masking import mask_secrets
from catalog_pipeline.pages import PageStore
from catalog_pipeline.providers.drift import READ, VANISHED, FieldObservation, FieldObserver, news
from catalog_pipeline.providers.normalize import (
    CatalogStream,
    ModelRecord,
    NormalizedCatalog,
    Price,
    PriceState,
    Rejection,
)
from catalog_pipeline.providers.spec import ProviderSpec
from catalog_pipeline.settings import DEFAULT_MAX_PRICE_CHANGE_FACTOR
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.changes import (
    ChangeEvent,
    ChangeKind,
    deprecation_announced,
    held,
    limits_changed,
    price_changed,
    same_instant,
)
from catalog_pipeline.storage.database import ensure_schema

#: Rows per statement on SQLite, where a batch travels as one JSON parameter. PostgreSQL
#: streams all of a write's rows with COPY and upserts them in one statement.
BATCH_ROWS = 5000
#: Ids per ``IN (...)`` list, well below SQLite's and PostgreSQL's bind parameter limits.
_IDS_PER_QUERY = 5000
#: Namespace of the per-provider advisory locks (PostgreSQL two-key form: namespace, provider).
PROVIDER_LOCK_NAMESPACE = int.from_bytes(b"CATG")
#: PostgreSQL advisory lock (one-key form, transaction level) taken before change events are
#: inserted: held until commit, so `model_changes.id` is handed out in commit order.
CHANGE_FEED_LOCK_KEY = zlib.crc32(b"catalog_pipeline:change_feed")
_MODEL_COLUMNS = (
    "provider_id",
    "provider_model_id",
    "canonical_slug",
    "name",
    "context_length",
    "max_output_tokens",
    "input_modalities",
    "output_modalities",
    "input_price_per_million",
    "output_price_per_million",
    "price_status",
    "is_active",
    "content_hash",
    "first_seen_at",
    "last_seen_at",
    "updated_at",
    "deactivated_at",
    "deprecation_date",
    "provider_status",
)
#: What an upsert of a known model rewrites; `first_seen_at` is kept.
_MODEL_UPDATED_COLUMNS = tuple(
    name for name in _MODEL_COLUMNS if name not in ("provider_id", "provider_model_id", "first_seen_at")
)
_PRICING_COLUMNS = ("model_id", "price_type", "amount", "state", "unit", "updated_at", "threshold_tokens")
_HISTORY_COLUMNS = (
    "model_id",
    "price_type",
    "old_amount",
    "new_amount",
    "old_state",
    "new_state",
    "unit",
    "changed_at",
    "dagster_run_id",
)
_CHANGE_COLUMNS = ("provider_id", "model_id", "kind", "recorded_at", "dagster_run_id", "details")


CHANGED, NOT_MODIFIED, SAME_PAYLOAD = "changed", "not_modified", "same_payload"
WRITE_STAGES = ("normalize", "hash", "models", "prices", "finish")
#: Models normalized and written per batch: large enough that a statement's fixed cost vanishes, small
#: enough that a batch of records stays a few MiB.
WRITE_BATCH_MODELS = 20_000
#: Snapshots kept per provider unless CATALOG_SNAPSHOT_RETENTION says otherwise (the applied one always stays).
DEFAULT_SNAPSHOT_RETENTION = 5
PAGES_FORMAT, ENTRIES_FORMAT = "pages", "entries"


@dataclass(frozen=True)
class StoredSnapshot:
    """What the catalog database knows about a provider's latest snapshot (no payload)."""

    id: int
    endpoint: str
    live_count: int
    pages: int
    payload_sha256: str | None
    validators: tuple[PageValidator, ...]
    applied: bool
    model_ids_digest: str | None

    def previous_fetch(self) -> PreviousFetch:
        return PreviousFetch(self.endpoint, self.validators, self.payload_sha256)


@dataclass(frozen=True)
class SnapshotToStore:
    """A raw list to keep: new pages (`fetched`), or an existing row (`existing_id`) the write was made from."""

    fetched: FetchResult | None = None
    run_id: str | None = None
    existing_id: int | None = None


@dataclass
class PriceChange:
    provider_model_id: str
    price_type: str
    old_amount: Decimal | None
    new_amount: Decimal | None
    old_state: str
    new_state: str
    unit: str | None = None

    def old_new(self) -> tuple[Decimal | None, str, Decimal | None, str]:
        return self.old_amount, self.old_state, self.new_amount, self.new_state

    @property
    def magnitude(self) -> Decimal:
        return abs((self.new_amount or Decimal(0)) - (self.old_amount or Decimal(0)))


HELD, APPLIED, WITHDRAWN = "held", "applied", "withdrawn"
INPUT_PRICE, OUTPUT_PRICE, CONTEXT_LENGTH = "input_price", "output_price", "context_length"
PRICE_FACTOR, PRICE_TO_ZERO, PRICE_FROM_ZERO, CONTEXT_SHRINK = (
    "price_factor",
    "price_to_zero",
    "price_from_zero",
    "context_shrink",
)


@dataclass(frozen=True)
class HeldChange:
    """A change of a stored model too large to apply without a person looking."""

    provider_model_id: str
    field: str
    rule: str
    old_value: Decimal | int | None
    new_value: Decimal | int | None
    unit: str | None = None

    def describe(self) -> str:
        return (
            f"{self.provider_model_id} {self.field} {_plain(self.old_value)} -> {_plain(self.new_value)} ({self.rule})"
        )


def find_anomalies(
    model: ModelRecord,
    stored_context_length: int | None,
    stored_prices: dict[str, Any],
    max_factor: Decimal = DEFAULT_MAX_PRICE_CHANGE_FACTOR,
) -> list[HeldChange]:
    """The changes of an already stored model that must be held.

    A known input or output price moving by more than `max_factor` either way, a price going
    to or from zero, or a context length shrinking by more than half. A price becoming or
    ceasing to be unknown is not an anomaly (nothing is claimed), nor is a change of unit.

    Args:
        model: the model as the provider lists it now.
        stored_context_length: its stored context length.
        stored_prices: its stored ``input``/``output`` rows of `model_pricing` (amount, state, unit).
        max_factor: the largest factor a price may move by in one sync.
    """
    found = []
    for price_type, field_name, fresh in (
        ("input", INPUT_PRICE, model.input_price),
        ("output", OUTPUT_PRICE, model.output_price),
    ):
        old = stored_prices.get(price_type)
        if old is None or fresh is None or old.amount is None or fresh.amount is None or old.unit != fresh.unit:
            continue
        before, after = Decimal(old.amount), fresh.amount
        rule = None
        if before > 0 and after == 0:
            rule = PRICE_TO_ZERO
        elif before == 0 and after > 0:
            rule = PRICE_FROM_ZERO
        elif before > 0 and after > 0 and (after > before * max_factor or after * max_factor < before):
            rule = PRICE_FACTOR
        if rule:
            found.append(HeldChange(model.provider_model_id, field_name, rule, before, after, fresh.unit))
    fresh_context = model.context_length
    if stored_context_length and fresh_context is not None and fresh_context * 2 < stored_context_length:
        found.append(
            HeldChange(model.provider_model_id, CONTEXT_LENGTH, CONTEXT_SHRINK, stored_context_length, fresh_context)
        )
    return found


def _plain(value: Decimal | int | None) -> str:
    if value is None:
        return "unknown"
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


@dataclass
class SyncCounts:
    """What one provider's write did (or, when blocked, would have done)."""

    provider: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    rejected: int = 0
    price_changes: list[PriceChange] = field(default_factory=list)
    #: the rows written to `model_changes` (the change feed)
    changes: list[ChangeEvent] = field(default_factory=list)
    active_before: int | None = None
    would_deactivate: int | None = None
    #: models sent to the upsert (new, changed or reactivated)
    models_written: int = 0
    #: `changed`, `not_modified` (every page answered 304) or `same_payload` (pages identical to the applied snapshot)
    catalog_change: str = CHANGED
    #: stored rejections by reason (set when the list was unchanged and not normalized)
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    #: seconds spent per stage of the write: normalize, hash, models, prices, finish
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(WRITE_STAGES, 0.0))
    #: changes held for review this sync (their models kept their stored values)
    held: list[HeldChange] = field(default_factory=list)
    #: changes beyond the limits that were applied because the run accepted held changes
    accepted: list[HeldChange] = field(default_factory=list)
    #: the fields news of a write given its field observer: unknown fields and vanished read fields
    drift: list[FieldObservation] = field(default_factory=list)

    @property
    def models_held(self) -> int:
        return len({change.provider_model_id for change in self.held})

    @property
    def rows_written(self) -> int:
        """Rows of `models` written: the `models_updated` column of `pricing_sync_log`."""
        return self.inserted + self.updated + self.deactivated


class MassDeactivationBlocked(Exception):
    """The live list shrank too much to trust; nothing was written."""

    def __init__(self, counts: SyncCounts, live: int, max_share: float):
        self.counts = counts
        self.provider = counts.provider
        self.stored_active = counts.active_before or 0
        self.live = live
        self.would_deactivate = counts.would_deactivate or 0
        self.max_share = max_share
        self.share = self.would_deactivate / self.stored_active if self.stored_active else 1.0
        super().__init__(
            f"provider {self.provider!r}: sync would deactivate {self.would_deactivate} of {self.stored_active} "
            f"active models ({self.share:.0%}, limit {max_share:.0%}; live list has {live}); nothing was written. "
            "If the shrink is real, re-run with allow_mass_deactivation: true."
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(connection: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)


def _batches(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _row_sources(
    connection: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple]
) -> Iterator[tuple[sa.Select, dict[str, str]]]:
    """SELECTs (with their parameters) that produce `rows` as `table`'s `columns`, for INSERT ... SELECT.

    PostgreSQL: the rows are streamed with COPY into a temporary table dropped at commit,
    and one SELECT reads them all back, so the upsert is one statement whatever the size.
    SQLite (in process, no round trips): one JSON document per batch of `BATCH_ROWS`
    rows, unpacked by ``json_each``, encoded by SQLAlchemy's own bind processors so
    values are stored exactly as a plain INSERT stores them.
    """
    if connection.dialect.name == "postgresql":
        stage = _staging_table(table, columns)
        # dropped at commit, so it exists only if an earlier batch of this transaction created it
        exists = connection.execute(
            sa.select(sa.func.to_regclass(sa.literal(f"pg_temp.{stage.name}")).is_not(None))
        ).scalar()
        if exists:
            connection.execute(sa.text(f"TRUNCATE {stage.name}"))
        else:
            stage.create(connection)
        _copy_rows(connection, stage, columns, rows)
        yield sa.select(*stage.c), {}
        return
    encoded = _sqlite_encoder(connection.dialect, table, columns)
    document = sa.func.json_each(sa.bindparam("rows", type_=sa.Text)).table_valued("value")
    # The WHERE lets SQLite tell a following ON CONFLICT from a join constraint.
    select = sa.select(
        *(sa.func.json_extract(document.c.value, sa.literal_column(f"'$[{i}]'")) for i in range(len(columns)))
    ).where(sa.true())
    for batch in _batches(rows, BATCH_ROWS):
        yield select, {"rows": json.dumps(encoded(batch))}


def _sqlite_encoder(
    dialect: sa.Dialect, table: sa.Table, columns: Sequence[str]
) -> Callable[[Iterable[tuple]], list[tuple]]:
    """A function giving rows of `table`'s `columns` as a plain INSERT would send them to SQLite: each value
    through SQLAlchemy's own bind processor for its column."""
    # only the columns whose values SQLAlchemy converts (decimals, timestamps, booleans) cost a call per value
    converted = [
        (index, _memoized(encode))
        for index, name in enumerate(columns)
        if (encode := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]

    def encoded(rows: Iterable[tuple]) -> list[tuple]:
        result = []
        for row in rows:
            values = list(row)
            for index, encode in converted:
                value = values[index]
                if value is not None:
                    values[index] = encode(value)
            result.append(tuple(values))
        return result

    return encoded


_staging_metadata = sa.MetaData()
#: Change events kept in `SyncCounts.changes` (all of them are written to `model_changes`).
KEPT_CHANGES = 10_000


#: Change events a PostgreSQL write holds in memory until its end; more go to a temporary table.
PENDING_CHANGES_IN_MEMORY = WRITE_BATCH_MODELS


@dataclass
class _PendingChanges:
    """One PostgreSQL write's change rows not yet in `model_changes`, and whether some wait in the temporary table."""

    rows: list[tuple] = field(default_factory=list)
    spilled: bool = False


def _pending_changes_table() -> sa.Table:
    """A provider's change events waiting for the end of its write (PostgreSQL), in the order they came."""
    name = "pending_model_changes"
    if name in _staging_metadata.tables:
        return _staging_metadata.tables[name]
    table = schema.model_changes
    return sa.Table(
        name,
        _staging_metadata,
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        *(sa.Column(column, table.c[column].type) for column in _CHANGE_COLUMNS),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def _staging_table(table: sa.Table, columns: Sequence[str]) -> sa.Table:
    """A constraint-free temporary copy of `columns` of `table`, dropped when the transaction ends."""
    name = f"staging_{table.name}"
    if name in _staging_metadata.tables:
        return _staging_metadata.tables[name]
    return sa.Table(
        name,
        _staging_metadata,
        *(sa.Column(column, table.c[column].type) for column in columns),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def _copy_rows(connection: Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """COPY `rows` into `table` in binary format, on the connection's own transaction (psycopg 3)."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(column) for column in columns)
    )
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types([_binary_copy_type(table.c[column].type) for column in columns])
        for row in rows:
            copy.write_row(row)


def _bulk_insert(connection: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Append `rows` to `table`: COPY on PostgreSQL, one prepared INSERT run over every row on SQLite.

    For rows that cannot conflict (a provider's first listing, under its lock). SQLite's values are
    encoded by SQLAlchemy's own bind processors, so they are stored exactly as a plain INSERT stores them.
    """
    if connection.dialect.name == "postgresql":
        _copy_rows(connection, table, columns, rows)
        return
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    connection.exec_driver_sql(statement, _sqlite_encoder(connection.dialect, table, columns)(rows))


def _binary_copy_type(column_type: sa.types.TypeEngine) -> str:
    """The PostgreSQL type whose binary form COPY must send for a column of `column_type`."""
    for python_type, name in (
        (sa.Boolean, "bool"),
        (sa.BigInteger, "int8"),
        (sa.Integer, "int4"),
        (sa.Numeric, "numeric"),
        (sa.DateTime, "timestamptz"),
        (sa.String, "text"),  # varchar's binary form is text's
    ):
        if isinstance(column_type, python_type):
            if python_type is sa.DateTime and not column_type.timezone:
                return "timestamp"
            return name
    raise TypeError(f"no binary COPY type for {column_type!r}")


def _memoized(encode: Any) -> Any:
    # Timestamps (one per sync) and prices repeat across rows; encoding each once
    # keeps SQLAlchemy's pure-Python processors out of the per-row cost.
    return None if encode is None else functools.lru_cache(maxsize=4096)(encode)


class _Stored(NamedTuple):
    """What the writer reads of a stored model (a plain tuple: a million of them stay small)."""

    id: int
    content_hash: str
    is_active: bool
    context_length: int | None
    max_output_tokens: int | None
    deprecation_date: datetime | None


class CatalogWriter:
    """Writes providers' catalogs into the catalog database at `engine`."""

    def __init__(self, engine: Engine, snapshot_retention: int = DEFAULT_SNAPSHOT_RETENTION):
        self.engine = engine
        self.snapshot_retention = snapshot_retention
        self._writes_under_way: set[Any] = set()  # the driver connections of `write_provider` calls running now
        self._writes_lock = threading.Lock()
        ensure_schema(engine)

    @property
    def supports_concurrent_writes(self) -> bool:
        """Whether providers may be written at the same time: PostgreSQL, not SQLite (one writer at a time)."""
        return self.engine.dialect.name == "postgresql"

    def cancel_writes(self) -> None:
        """Cancel the statement each provider write under way is running (PostgreSQL), from any thread: that
        write fails with the server's "canceling statement" error and rolls back whole. A write between two
        statements is not stopped; call again until the writes have ended."""
        with self._writes_lock:
            under_way = list(self._writes_under_way)
        for dbapi_connection in under_way:
            with suppress(Exception):  # it may have just finished
                dbapi_connection.cancel_safe(timeout=5.0)  # a stop waits at most this long for an unreachable server

    @contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            dbapi_connection = connection.connection.dbapi_connection
            with self._writes_lock:
                self._writes_under_way.add(dbapi_connection)
            try:
                yield connection
            finally:
                with self._writes_lock:
                    self._writes_under_way.discard(dbapi_connection)

    def write_provider(
        self,
        spec: ProviderSpec,
        fetched: FetchResult,
        catalog: NormalizedCatalog | CatalogStream,
        run_id: str | None = None,
        max_deactivation_share: float = 0.5,
        allow_mass_deactivation: bool = False,
        snapshot: SnapshotToStore | None = None,
        batch_size: int = WRITE_BATCH_MODELS,
        max_price_change_factor: Decimal = DEFAULT_MAX_PRICE_CHANGE_FACTOR,
        accept_held_changes: bool = False,
        observer: FieldObserver | None = None,
        log_started_at: datetime | None = None,
    ) -> SyncCounts:
        """Bring `spec`'s stored rows in line with `catalog`, in one transaction.

        The models arrive in batches of `batch_size` (a `CatalogStream` normalizes them page by
        page while they are written), so a provider's memory does not grow with its catalog
        beyond its stored ids. With `snapshot`, the raw list is stored (or marked) as applied in
        the same transaction: a later identical list may then skip all of this.

        A stored model whose input or output price or context length changed beyond the
        limits (`find_anomalies`) is not written: it keeps its stored values and the change
        is recorded in `held_changes`, unless `accept_held_changes`. A first listing is never held.

        With `observer` (the fields seen while `catalog` was read), those fields are recorded in the same
        transaction (`record_field_observations`; the news is `counts.drift`), and with `log_started_at`
        this sync's `pricing_sync_log` row: the write, what it saw and its log commit together or not at all.

        Raises:
            MassDeactivationBlocked: the live list is empty or would deactivate more
                than `max_deactivation_share` of the stored active models; nothing is written.
        """
        now = _now()
        counts = SyncCounts(provider=spec.slug)
        timings = counts.seconds
        with self._write_transaction() as connection:
            self._lock(connection, spec.slug)
            provider_id, last_synced_at = self._upsert_provider(connection, spec, now)
            models = schema.models
            existing = {
                row[0]: _Stored(*row[1:])
                for row in connection.execute(
                    sa.select(
                        models.c.provider_model_id,
                        models.c.id,
                        models.c.content_hash,
                        models.c.is_active,
                        models.c.context_length,
                        models.c.max_output_tokens,
                        models.c.deprecation_date,
                    ).where(models.c.provider_id == provider_id)
                )
            }
            seen: set[str] = set()
            feed = _PendingChanges()
            # A provider with no stored model, under its lock: nothing can conflict, so its models and prices
            # go straight into their tables (COPY on PostgreSQL: the server's own bulk-load speed).
            direct = not existing
            watermark = 0
            clock = time.perf_counter()
            for batch in catalog.batches(batch_size):
                started = time.perf_counter()
                timings["normalize"] += started - clock
                hashes = {model.provider_model_id: model.content_hash for model in batch}
                seen.update(hashes)
                held_models = self._hold_anomalies(
                    connection, batch, hashes, existing, counts, max_price_change_factor, accept_held_changes
                )
                changed: list[ModelRecord] = []
                events: list[ChangeEvent] = []
                for model in batch:
                    key = model.provider_model_id
                    row = existing.get(key)
                    if row is None:
                        counts.inserted += 1
                        changed.append(model)
                        events.append(ChangeEvent(key, ChangeKind.ADDED))
                        if model.deprecation_date is not None:
                            events.append(deprecation_announced(key, None, model.deprecation_date))
                    elif key in held_models:
                        continue
                    elif row.content_hash != hashes[key] or not row.is_active:
                        counts.updated += 1
                        changed.append(model)
                        if not row.is_active:
                            events.append(ChangeEvent(key, ChangeKind.REACTIVATED))
                        limits = limits_changed(key, row, model)
                        if limits is not None:
                            events.append(limits)
                        if model.deprecation_date is not None and not same_instant(
                            row.deprecation_date, model.deprecation_date
                        ):
                            events.append(deprecation_announced(key, row.deprecation_date, model.deprecation_date))
                    else:
                        counts.unchanged += 1
                timings["hash"] += time.perf_counter() - started
                if changed:
                    written = time.perf_counter()
                    if direct:
                        below = watermark
                        ids, watermark = self._copy_new_models(connection, provider_id, changed, hashes, now, watermark)
                    else:
                        ids = self._upsert_models(connection, provider_id, changed, hashes, existing, now)
                    priced = time.perf_counter()
                    timings["models"] += priced - written
                    if direct:
                        self._insert_first_prices(connection, provider_id, changed, ids, below, now, run_id)
                        price_changes = []
                    else:
                        price_changes = self._write_prices(connection, changed, ids, existing, now, run_id)
                    counts.price_changes.extend(price_changes)
                    events += [
                        price_changed(c.provider_model_id, c.price_type, c.unit or "", *c.old_new())
                        for c in price_changes
                    ]
                    timings["prices"] += time.perf_counter() - priced
                    counts.models_written += len(changed)
                    self._record_changes(connection, provider_id, events, ids, existing, now, run_id, counts, feed)
                clock = time.perf_counter()
            timings["normalize"] += time.perf_counter() - clock
            rest = time.perf_counter()
            counts.fetched = fetched.count
            counts.rejected = len(catalog.rejections)
            to_deactivate = [row.id for key, row in existing.items() if row.is_active and key not in seen]
            counts.active_before = sum(1 for row in existing.values() if row.is_active)
            counts.would_deactivate = len(to_deactivate)
            # Checked after the models went in, inside the transaction: a blocked write rolls back whole.
            self._guard(counts, len(seen), max_deactivation_share, allow_mass_deactivation)
            events = []
            if to_deactivate:
                counts.deactivated = self._deactivate(connection, to_deactivate, now, last_synced_at)
                deactivated = set(to_deactivate)
                events += [
                    ChangeEvent(key, ChangeKind.DEACTIVATED) for key, row in existing.items() if row.id in deactivated
                ]
            if existing or counts.held or counts.accepted:  # a provider with no stored model has no held change
                newly_held = self._record_held_changes(connection, provider_id, existing, counts, now, run_id)
                events += [
                    held(c.provider_model_id, c.field, c.old_value, c.new_value, c.rule, c.unit) for c in newly_held
                ]
            self._replace_rejections(connection, provider_id, catalog.rejections, now, run_id)
            connection.execute(
                schema.providers.update()
                .where(schema.providers.c.id == provider_id)
                .values(last_synced_at=now, last_sync_status="success", updated_at=now)
            )
            if snapshot is not None:
                # Held changes mean the stored rows are not this list: it is kept, not applied, so the
                # same list comes back through here (and an accepting run applies it) instead of being skipped.
                digest = None if counts.held else model_ids_digest(seen)
                self._store_snapshot(connection, provider_id, snapshot, now, digest)
            if observer is not None:
                counts.drift = self._record_field_observations(connection, provider_id, fetched.endpoint, observer)
            if log_started_at is not None:
                self._log_sync(connection, spec.slug, log_started_at, "success", counts, None, run_id, fetched.endpoint)
            # Last: the change feed's lock (PostgreSQL) is held from here to the commit, and every other
            # provider's write waits for it there.
            self._record_changes(connection, provider_id, events, {}, existing, now, run_id, counts, feed, final=True)
            timings["finish"] += time.perf_counter() - rest
        return counts

    def _hold_anomalies(
        self,
        connection: Connection,
        batch: list[ModelRecord],
        hashes: dict[str, str],
        existing: dict[str, _Stored],
        counts: SyncCounts,
        max_price_change_factor: Decimal,
        accept_held_changes: bool,
    ) -> set[str]:
        """The ids of `batch`'s stored models whose change is held (recorded in `counts.held`); changes
        beyond the limits that the run accepts go to `counts.accepted`."""
        differing = [
            model
            for model in batch
            if (row := existing.get(model.provider_model_id)) is not None
            and (row.content_hash != hashes[model.provider_model_id] or not row.is_active)
        ]
        if not differing:
            return set()
        stored_prices = self._headline_prices(connection, [existing[m.provider_model_id].id for m in differing])
        held_models: set[str] = set()
        for model in differing:
            row = existing[model.provider_model_id]
            anomalies = find_anomalies(
                model, row.context_length, stored_prices.get(row.id, {}), max_price_change_factor
            )
            if anomalies and not accept_held_changes:
                counts.held.extend(anomalies)
                held_models.add(model.provider_model_id)
            else:
                counts.accepted.extend(anomalies)
        return held_models

    @staticmethod
    def _record_changes(
        connection: Connection,
        provider_id: int,
        events: list[ChangeEvent],
        ids: dict[str, int],
        existing: dict[str, _Stored],
        now: datetime,
        run_id: str | None,
        counts: SyncCounts,
        feed: _PendingChanges,
        final: bool = False,
    ) -> None:
        """Append one batch's `events` to `model_changes`; the first `KEPT_CHANGES` also go to `counts.changes`.

        On PostgreSQL the rows wait in `feed` (in memory up to `PENDING_CHANGES_IN_MEMORY` rows, in a
        temporary table beyond) until the `final` call, which takes the change feed's lock and inserts them
        last in the transaction (the lock is held until commit, so the feed's ids follow commit order);
        SQLite has one writer and inserts them as they come.
        """
        if len(counts.changes) < KEPT_CHANGES:
            counts.changes.extend(events[: KEPT_CHANGES - len(counts.changes)])
        rows = [
            (
                provider_id,
                ids[event.provider_model_id]
                if event.provider_model_id in ids
                else existing[event.provider_model_id].id,
                event.kind,
                now,
                run_id,
                event.details_json(),
            )
            for event in events
        ]
        table = schema.model_changes
        if connection.dialect.name != "postgresql":
            if rows:
                _bulk_insert(connection, table, _CHANGE_COLUMNS, rows)
            return
        feed.rows.extend(rows)
        if not final and len(feed.rows) <= PENDING_CHANGES_IN_MEMORY:
            return
        pending = _pending_changes_table()
        if feed.rows and (feed.spilled or not final):
            # more than one batch's worth: they wait in a temporary table, so memory stays bounded
            if not feed.spilled:
                pending.create(connection)
                feed.spilled = True
            _copy_rows(connection, pending, _CHANGE_COLUMNS, feed.rows)
            feed.rows.clear()
        if not final or not (feed.spilled or feed.rows):
            return
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(CHANGE_FEED_LOCK_KEY)))
        if feed.spilled:
            connection.execute(
                table.insert().from_select(
                    _CHANGE_COLUMNS, sa.select(*(pending.c[name] for name in _CHANGE_COLUMNS)).order_by(pending.c.seq)
                )
            )
        elif feed.rows:
            _copy_rows(connection, table, _CHANGE_COLUMNS, feed.rows)  # COPY numbers them in this order

    @staticmethod
    def _headline_prices(connection: Connection, model_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The stored input and output prices of `model_ids`: model id -> price type -> row."""
        pricing = schema.model_pricing
        found: dict[int, dict[str, Any]] = {}
        for batch in _batches(model_ids, _IDS_PER_QUERY):
            for row in connection.execute(
                sa.select(
                    pricing.c.model_id, pricing.c.price_type, pricing.c.amount, pricing.c.state, pricing.c.unit
                ).where(pricing.c.model_id.in_(batch), pricing.c.price_type.in_(["input", "output"]))
            ):
                found.setdefault(row.model_id, {})[row.price_type] = row
        return found

    @staticmethod
    def _record_held_changes(
        connection: Connection,
        provider_id: int,
        existing: dict[str, Any],
        counts: SyncCounts,
        now: datetime,
        run_id: str | None,
    ) -> list[HeldChange]:
        """Keep `held_changes` in line with this sync: one open row per held (model, field), updated while
        the provider keeps listing the change; `applied` when accepted; `withdrawn` when no longer listed.

        Returns:
            The changes held for the first time, or held again with another proposed value: the
            change feed's `held` events (a change still held as it was is no news).
        """
        table = schema.held_changes
        open_rows = {
            (row.model_id, row.field): row
            for row in connection.execute(
                sa.select(table.c.id, table.c.model_id, table.c.field, table.c.new_value).where(
                    table.c.provider_id == provider_id, table.c.status == HELD
                )
            )
        }
        newly_held: list[HeldChange] = []
        current = [(change, HELD) for change in counts.held] + [(change, APPLIED) for change in counts.accepted]
        seen = set()
        for change, status in current:
            key = (existing[change.provider_model_id].id, change.field)
            seen.add(key)
            values: dict[str, Any] = {
                "rule": change.rule,
                "old_value": change.old_value,
                "new_value": change.new_value,
                "unit": change.unit,
                "status": status,
                "last_held_at": now,
            }
            if status == APPLIED:
                values |= {"resolved_at": now, "resolved_run_id": run_id}
            else:
                values["dagster_run_id"] = run_id
            row = open_rows.get(key)
            if status == HELD and (
                row is None or not _same_amount(_decimal_or_none(row.new_value), _decimal_or_none(change.new_value))
            ):
                newly_held.append(change)
            if row is None:
                connection.execute(
                    table.insert().values(
                        provider_id=provider_id,
                        model_id=key[0],
                        field=change.field,
                        first_held_at=now,
                        **({"dagster_run_id": run_id} | values),
                    )
                )
            else:
                connection.execute(table.update().where(table.c.id == row.id).values(**values))
        gone = [row.id for key, row in open_rows.items() if key not in seen]
        for batch in _batches(gone, _IDS_PER_QUERY):
            connection.execute(
                table.update()
                .where(table.c.id.in_(batch))
                .values(status=WITHDRAWN, resolved_at=now, resolved_run_id=run_id)
            )
        return newly_held

    @staticmethod
    def _guard(counts: SyncCounts, live: int, max_share: float, allow: bool) -> None:
        # write_provider sets both counts first; only stored active models can be deactivated, so
        # active_before >= would_deactivate > 0 past the first test
        if allow or not counts.would_deactivate:
            return
        # Counting deactivations, not just the shrink, also stops a mass rename
        # (every id changed) from retiring the whole catalog.
        if live == 0 or counts.would_deactivate / counts.active_before > max_share:
            raise MassDeactivationBlocked(counts, live, max_share)

    @staticmethod
    def _lock(connection: Connection, slug: str) -> None:
        # SQLite already holds the database's single write lock (BEGIN IMMEDIATE);
        # PostgreSQL serializes two syncs of one provider on a transaction-scoped
        # advisory lock, released by COMMIT, ROLLBACK or a dead connection.
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.select(sa.func.pg_advisory_xact_lock(PROVIDER_LOCK_NAMESPACE, provider_lock_key(slug)))
            )

    @staticmethod
    def _upsert_provider(connection: Connection, spec: ProviderSpec, now: datetime) -> tuple[int, datetime | None]:
        """The provider's id and when it last synced successfully (before this sync).

        DO NOTHING rather than DO UPDATE: an upsert that updates locks the provider's row
        even when nothing changes, which would make a snapshot write wait for another
        process's whole models write of the same provider.
        """
        table = schema.providers
        insert = (
            _insert(connection, table)
            .values(slug=spec.slug, name=spec.name, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=[table.c.slug])
        )
        stored = sa.select(table.c.id, table.c.name, table.c.last_synced_at).where(table.c.slug == spec.slug)
        row = None
        if connection.dialect.name == "postgresql":
            # One round trip: the inserted row, or else the stored one (the statement's snapshot predates the
            # insert, so not both). Nothing when another transaction inserted it after that snapshot.
            inserted = insert.returning(table.c.id, table.c.name, table.c.last_synced_at).cte("inserted")
            row = connection.execute(sa.select(inserted).union_all(stored)).first()
        else:
            connection.execute(insert)
        if row is None:
            row = connection.execute(stored).one()
        if row.name != spec.name:
            connection.execute(table.update().where(table.c.id == row.id).values(name=spec.name, updated_at=now))
        return row.id, row.last_synced_at

    @staticmethod
    def _copy_new_models(
        connection: Connection,
        provider_id: int,
        changed: list[ModelRecord],
        hashes: dict[str, str],
        now: datetime,
        watermark: int,
    ) -> tuple[dict[str, int], int]:
        """Bulk-insert models the provider never had into `models`; returns their ids and the highest id so far.

        Only under the provider's lock with no stored model of it: no other writer adds rows of this
        provider meanwhile, so its rows above `watermark` (the previous batch's highest id) are these.
        """
        table = schema.models
        _bulk_insert(connection, table, _MODEL_COLUMNS, _model_rows(provider_id, changed, hashes, now))
        ids = dict(
            connection.execute(
                sa.select(table.c.provider_model_id, table.c.id).where(
                    table.c.provider_id == provider_id, table.c.id > watermark
                )
            ).all()
        )
        return ids, max(ids.values(), default=watermark)

    @staticmethod
    def _upsert_models(
        connection: Connection,
        provider_id: int,
        changed: list[ModelRecord],
        hashes: dict[str, str],
        existing: dict[str, Any],
        now: datetime,
    ) -> dict[str, int]:
        """Insert new and rewrite changed models; returns provider_model_id -> models.id for `changed`."""
        table = schema.models
        rows = _model_rows(provider_id, changed, hashes, now)
        ids = {
            model.provider_model_id: existing[model.provider_model_id][0]
            for model in changed
            if model.provider_model_id in existing
        }
        for source, parameters in _row_sources(connection, table, _MODEL_COLUMNS, rows):
            statement = _insert(connection, table).from_select(_MODEL_COLUMNS, source)
            excluded = statement.excluded
            statement = statement.on_conflict_do_update(
                index_elements=[table.c.provider_id, table.c.provider_model_id],
                set_={name: excluded[name] for name in _MODEL_UPDATED_COLUMNS},
                # Leaves a row untouched when its content is already stored (a replayed write).
                where=sa.or_(table.c.content_hash != excluded.content_hash, table.c.is_active == sa.false()),
            ).returning(table.c.provider_model_id, table.c.id)
            ids.update(connection.execute(statement, parameters).tuples().all())
        # RETURNING skips rows the WHERE left alone: only possible if a writer outside the
        # provider lock stored the same content first. Their ids are read instead.
        missing = [model.provider_model_id for model in changed if model.provider_model_id not in ids]
        for batch in _batches(missing, _IDS_PER_QUERY):
            ids.update(
                connection.execute(
                    sa.select(table.c.provider_model_id, table.c.id).where(
                        table.c.provider_id == provider_id, table.c.provider_model_id.in_(batch)
                    )
                )
                .tuples()
                .all()
            )
        return ids

    @staticmethod
    def _insert_first_prices(
        connection: Connection,
        provider_id: int,
        changed: list[ModelRecord],
        ids: dict[str, int],
        below: int,
        now: datetime,
        run_id: str | None,
    ) -> None:
        """Prices of models the provider never had (their ids are above `below`): appended to `model_pricing`,
        and each one's first listing to `price_history`, copied from those rows by the database itself."""
        pricing, history = schema.model_pricing, schema.price_history
        rows = [
            (
                ids[model.provider_model_id],
                price_type,
                price.amount,
                price.state,
                price.unit,
                now,
                price.threshold_tokens,
            )
            for model in changed
            for price_type, price in model.prices.items()
        ]
        if not rows:
            return
        _bulk_insert(connection, pricing, _PRICING_COLUMNS, rows)
        ours = sa.select(schema.models.c.id).where(
            schema.models.c.provider_id == provider_id, schema.models.c.id > below
        )
        first_listings = sa.select(
            pricing.c.model_id,
            pricing.c.price_type,
            sa.null(),
            pricing.c.amount,
            sa.null(),
            pricing.c.state,
            pricing.c.unit,
            pricing.c.updated_at,  # `now`, stored exactly as the history column stores it
            sa.literal(run_id, sa.String),
        ).where(pricing.c.model_id.in_(ours))
        connection.execute(history.insert().from_select(_HISTORY_COLUMNS, first_listings))

    @staticmethod
    def _write_prices(
        connection: Connection,
        changed: list[ModelRecord],
        ids: dict[str, int],
        existing: dict[str, Any],
        now: datetime,
        run_id: str | None,
    ) -> list[PriceChange]:
        """Bring `model_pricing` in line for the changed models and append every price change to `price_history`.

        A price type that a model no longer lists becomes ``unknown`` (amount NULL), and
        that is recorded as a change too. Returns the changes of already stored prices
        (a model's first listing is history, not a change).
        """
        pricing = schema.model_pricing
        current: dict[int, dict[str, Any]] = {}
        known_ids = [ids[model.provider_model_id] for model in changed if model.provider_model_id in existing]
        for batch in _batches(known_ids, _IDS_PER_QUERY):
            for row in connection.execute(
                sa.select(
                    pricing.c.model_id,
                    pricing.c.price_type,
                    pricing.c.amount,
                    pricing.c.state,
                    pricing.c.unit,
                    pricing.c.threshold_tokens,
                ).where(pricing.c.model_id.in_(batch))
            ):
                current.setdefault(row.model_id, {})[row.price_type] = row

        pricing_rows: list[tuple] = []
        history_rows: list[tuple] = []
        changes: list[PriceChange] = []
        for model in changed:
            model_id = ids[model.provider_model_id]
            stored = current.get(model_id, {})
            fresh = dict(model.prices)
            for price_type, old in stored.items():
                if price_type not in fresh:
                    fresh[price_type] = Price(None, PriceState.UNKNOWN, old.unit)
            for price_type, price in fresh.items():
                old = stored.get(price_type)
                if (
                    old is not None
                    and _same_amount(old.amount, price.amount)
                    and old.state == price.state
                    and old.unit == price.unit
                    and old.threshold_tokens == price.threshold_tokens
                ):
                    continue
                pricing_rows.append(
                    (model_id, price_type, price.amount, price.state, price.unit, now, price.threshold_tokens)
                )
                history_rows.append(
                    (
                        model_id,
                        price_type,
                        old.amount if old else None,
                        price.amount,
                        old.state if old else None,
                        price.state,
                        price.unit,
                        now,
                        run_id,
                    )
                )
                if old is not None:
                    changes.append(
                        PriceChange(
                            model.provider_model_id,
                            price_type,
                            old.amount,
                            price.amount,
                            old.state,
                            price.state,
                            price.unit,
                        )
                    )
        if pricing_rows:
            for source, parameters in _row_sources(connection, pricing, _PRICING_COLUMNS, pricing_rows):
                statement = _insert(connection, pricing).from_select(_PRICING_COLUMNS, source)
                excluded = statement.excluded
                statement = statement.on_conflict_do_update(
                    index_elements=[pricing.c.model_id, pricing.c.price_type],
                    set_={
                        name: excluded[name] for name in ("amount", "state", "unit", "updated_at", "threshold_tokens")
                    },
                    where=sa.or_(
                        pricing.c.amount.is_distinct_from(excluded.amount),
                        pricing.c.state != excluded.state,
                        pricing.c.unit != excluded.unit,
                        pricing.c.threshold_tokens.is_distinct_from(excluded.threshold_tokens),
                    ),
                )
                connection.execute(statement, parameters)
        if history_rows:
            history = schema.price_history
            if connection.dialect.name == "postgresql":
                _copy_rows(connection, history, _HISTORY_COLUMNS, history_rows)  # append-only: no staging
            else:
                for source, parameters in _row_sources(connection, history, _HISTORY_COLUMNS, history_rows):
                    connection.execute(history.insert().from_select(_HISTORY_COLUMNS, source), parameters)
        return changes

    @staticmethod
    def _deactivate(
        connection: Connection, model_ids: list[int], now: datetime, last_synced_at: datetime | None
    ) -> int:
        # A model still active after the provider's previous successful sync was listed
        # by it, so that sync's time is when the model was last seen.
        table = schema.models
        values: dict[str, Any] = {"is_active": False, "deactivated_at": now, "updated_at": now}
        if last_synced_at is not None:
            values["last_seen_at"] = last_synced_at
        total = 0
        for batch in _batches(model_ids, _IDS_PER_QUERY):
            result = connection.execute(
                table.update().where(table.c.id.in_(batch), table.c.is_active == sa.true()).values(**values)
            )
            total += result.rowcount
        return total

    @staticmethod
    def _replace_rejections(
        connection: Connection, provider_id: int, rejections: Sequence[Rejection], now: datetime, run_id: str | None
    ) -> None:
        table = schema.rejected_models
        stored = sorted(
            (row.reason, row.provider_model_id or "", row.detail)
            for row in connection.execute(
                sa.select(table.c.reason, table.c.provider_model_id, table.c.detail).where(
                    table.c.provider_id == provider_id
                )
            )
        )
        fresh = sorted((r.reason, r.provider_model_id or "", r.detail) for r in rejections)
        if stored == fresh:
            return
        connection.execute(table.delete().where(table.c.provider_id == provider_id))
        if rejections:
            connection.execute(
                table.insert(),
                [
                    {
                        "provider_id": provider_id,
                        "provider_model_id": r.provider_model_id,
                        "reason": r.reason,
                        "detail": r.detail,
                        "excerpt": r.excerpt,
                        "rejected_at": now,
                        "dagster_run_id": run_id,
                    }
                    for r in rejections
                ],
            )

    def store_snapshot(self, spec: ProviderSpec, fetched: FetchResult, run_id: str | None = None) -> None:
        """Keep `fetched` as the provider's newest snapshot, not applied (its models were not written from it)."""
        now = _now()
        with self.engine.begin() as connection:
            provider_id, _ = self._upsert_provider(connection, spec, now)
            self._store_snapshot(connection, provider_id, SnapshotToStore(fetched, run_id), now, None)

    def _store_snapshot(
        self,
        connection: Connection,
        provider_id: int,
        snapshot: SnapshotToStore,
        now: datetime,
        ids_digest: str | None,
    ) -> None:
        table = schema.provider_catalog_snapshots
        applied = ids_digest is not None
        if snapshot.existing_id is not None:
            connection.execute(
                table.update()
                .where(table.c.id == snapshot.existing_id)
                .values(applied=applied, model_ids_digest=ids_digest, confirmed_at=now)
            )
            return
        fetched = snapshot.fetched
        assert fetched is not None
        if fetched.store is not None:
            payload, payload_format = fetched.store.gzip_bytes(), PAGES_FORMAT
        else:
            raw = json.dumps(fetched.entries, default=_json_number).encode()
            payload, payload_format = gzip.compress(raw, compresslevel=5), ENTRIES_FORMAT
        connection.execute(
            table.insert().values(
                provider_id=provider_id,
                fetched_at=now,
                dagster_run_id=snapshot.run_id,
                url=fetched.url,
                live_count=fetched.count,
                pages=fetched.pages,
                bytes=fetched.bytes,
                latency_ms=Decimal(str(fetched.latency_ms)),
                http_status=fetched.http_status,
                payload_format=payload_format,
                payload_gzip=payload,
                payload_sha256=fetched.payload_sha256,
                validators=json.dumps([v.as_json() for v in fetched.validators]) if fetched.validators else None,
                applied=applied,
                model_ids_digest=ids_digest,
                endpoint=fetched.endpoint,
            )
        )
        self._prune_snapshots(connection, provider_id)

    def _prune_snapshots(self, connection: Connection, provider_id: int) -> None:
        """Keep the newest `snapshot_retention` snapshots, and always the newest applied one."""
        table = schema.provider_catalog_snapshots
        mine = table.c.provider_id == provider_id
        newest = sa.select(table.c.id).where(mine).order_by(table.c.id.desc()).limit(max(1, self.snapshot_retention))
        # max() of no applied snapshot is NULL, and `id NOT IN (NULL)` is never true: 0 matches no id instead
        newest_applied = sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)).where(mine, table.c.applied)
        connection.execute(
            table.delete().where(
                mine, table.c.id.not_in(newest.scalar_subquery()), table.c.id != newest_applied.scalar_subquery()
            )
        )

    def latest_snapshot(self, spec: ProviderSpec, applied: bool = True) -> StoredSnapshot | None:
        """The provider's newest snapshot (the newest applied one when `applied`), without its payload."""
        table = schema.provider_catalog_snapshots
        query = (
            sa.select(
                table.c.id,
                table.c.endpoint,
                table.c.live_count,
                table.c.pages,
                table.c.payload_sha256,
                table.c.validators,
                table.c.applied,
                table.c.model_ids_digest,
            )
            .join(schema.providers, schema.providers.c.id == table.c.provider_id)
            .where(schema.providers.c.slug == spec.slug)
            .order_by(table.c.id.desc())
            .limit(1)
        )
        if applied:
            query = query.where(table.c.applied)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return StoredSnapshot(
            id=row.id,
            endpoint=row.endpoint or "primary",
            live_count=row.live_count,
            pages=row.pages,
            payload_sha256=row.payload_sha256,
            validators=tuple(PageValidator.from_json(v) for v in json.loads(row.validators or "[]")),
            applied=row.applied,
            model_ids_digest=row.model_ids_digest,
        )

    def load_snapshot(self, spec: ProviderSpec, snapshot_id: int | None = None) -> FetchResult | None:
        """The provider's newest raw snapshot (or the one with `snapshot_id`), or None if it was never fetched.

        Stored pages come back as a `PageStore` (read one page at a time); older snapshots as entries."""
        table = schema.provider_catalog_snapshots
        query = (
            sa.select(table)
            .join(schema.providers, schema.providers.c.id == table.c.provider_id)
            .where(schema.providers.c.slug == spec.slug)
            .order_by(table.c.id.desc())
            .limit(1)
        )
        if snapshot_id is not None:
            query = query.where(table.c.id == snapshot_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        pages = row.payload_format == PAGES_FORMAT
        return FetchResult(
            provider=spec.slug,
            url=row.url,
            entries=[] if pages else json.loads(gzip.decompress(row.payload_gzip), parse_float=Decimal),
            pages=row.pages,
            bytes=row.bytes,
            latency_ms=float(row.latency_ms),
            http_status=row.http_status,
            attempts=0,
            endpoint=row.endpoint or "primary",
            live_count=row.live_count,
            payload_sha256=row.payload_sha256,
            validators=tuple(PageValidator.from_json(v) for v in json.loads(row.validators or "[]")),
            store=PageStore.from_gzip(row.payload_gzip) if pages else None,
            snapshot_id=row.id,
        )

    def confirm_unchanged(
        self,
        spec: ProviderSpec,
        snapshot: StoredSnapshot,
        fetched: FetchResult,
        change: str,
        started_at: datetime | None = None,
        run_id: str | None = None,
    ) -> tuple[SyncCounts, list[FieldObservation]]:
        """Record that the live list is the applied `snapshot`, byte for byte: nothing is normalized or written.

        The stored rows, rejections and counts stay as they are (they were written from this very
        list), so the counts reported are the stored ones; the snapshot's `confirmed_at`, the
        provider's last sync and every field's `last_seen_at` move to now. With `started_at`, the sync
        log's row goes in the same transaction. Returns the counts and the unknown and vanished fields
        recorded for the snapshot's endpoint (what an unchanged list still shows).
        """
        now = _now()
        providers, models, rejected = schema.providers, schema.models, schema.rejected_models
        with self.engine.begin() as connection:
            provider_id, _ = self._upsert_provider(connection, spec, now)
            active = connection.execute(
                sa.select(sa.func.count()).where(models.c.provider_id == provider_id, models.c.is_active)
            ).scalar_one()
            reasons = dict(
                connection.execute(
                    sa.select(rejected.c.reason, sa.func.count())
                    .where(rejected.c.provider_id == provider_id)
                    .group_by(rejected.c.reason)
                ).all()
            )
            rejections = sum(reasons.values())
            connection.execute(
                schema.provider_catalog_snapshots.update()
                .where(schema.provider_catalog_snapshots.c.id == snapshot.id)
                .values(confirmed_at=now)
            )
            observations = schema.payload_key_observations
            connection.execute(
                observations.update()
                .where(
                    observations.c.provider_id == provider_id,
                    observations.c.endpoint == snapshot.endpoint,
                    observations.c.status != VANISHED,
                )
                .values(last_seen_at=now)
            )
            connection.execute(
                providers.update()
                .where(providers.c.id == provider_id)
                .values(last_synced_at=now, last_sync_status="success", updated_at=now)
            )
            drift = self._stored_drift(connection, providers.c.id == provider_id, fetched.endpoint)
            counts = SyncCounts(
                provider=spec.slug,
                fetched=snapshot.live_count,
                unchanged=active,
                rejected=rejections,
                active_before=active,
                would_deactivate=0,
                catalog_change=change,
                rejection_reasons=reasons,
            )
            if started_at is not None:
                self._log_sync(connection, spec.slug, started_at, "success", counts, None, run_id, fetched.endpoint)
        return counts, drift

    def stored_drift(self, spec: ProviderSpec, endpoint: str) -> list[FieldObservation]:
        """The unknown and vanished fields recorded for `endpoint` (what an unchanged list still shows)."""
        with self.engine.connect() as connection:
            return self._stored_drift(connection, schema.providers.c.slug == spec.slug, endpoint)

    @staticmethod
    def _stored_drift(
        connection: Connection, provider: sa.ColumnElement[bool], endpoint: str
    ) -> list[FieldObservation]:
        table = schema.payload_key_observations
        rows = connection.execute(
            sa.select(table.c.key_path, table.c.status, table.c.entries_with_key, table.c.sample_value)
            .join(schema.providers, schema.providers.c.id == table.c.provider_id)
            .where(provider, table.c.endpoint == endpoint)
            .order_by(table.c.key_path)
        ).all()
        return news([FieldObservation(row[0], row[1], row[2], row[3]) for row in rows])

    def log_sync(
        self,
        provider: str,
        started_at: datetime,
        status: str,
        counts: SyncCounts | None = None,
        error_message: str | None = None,
        run_id: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Append the provider's `pricing_sync_log` row; failures are logged too."""
        with self.engine.begin() as connection:
            self._log_sync(connection, provider, started_at, status, counts, error_message, run_id, endpoint)

    def _log_sync(
        self,
        connection: Connection,
        provider: str,
        started_at: datetime,
        status: str,
        counts: SyncCounts | None,
        error_message: str | None,
        run_id: str | None,
        endpoint: str | None,
    ) -> None:
        counts = counts or SyncCounts(provider=provider)
        connection.execute(
            schema.pricing_sync_log.insert().values(
                provider_slug=provider,
                sync_started_at=started_at,
                sync_finished_at=_now(),
                status=status,
                models_fetched=counts.fetched,
                models_updated=counts.rows_written,
                models_inserted=counts.inserted,
                models_deactivated=counts.deactivated,
                models_unchanged=counts.unchanged,
                models_rejected=counts.rejected,
                price_changes=len(counts.price_changes),
                models_active_before=counts.active_before,
                models_would_deactivate=counts.would_deactivate,
                models_held=counts.models_held,
                error_message=self.scrub(error_message)[:4000] if error_message else None,
                dagster_run_id=run_id,
                endpoint=endpoint,
                catalog_change=counts.catalog_change if status == "success" else None,
            )
        )
        if status != "success":
            connection.execute(
                schema.providers.update().where(schema.providers.c.slug == provider).values(last_sync_status=status)
            )

    def record_field_observations(
        self, spec: ProviderSpec, fetched: FetchResult, observer: FieldObserver | None = None
    ) -> list[FieldObservation]:
        """Compare the live entries' fields with what `spec` reads and ignores, keep every field's first and
        last sighting in `payload_key_observations`, and return the news: unknown and vanished fields.

        Args:
            spec: the spec of the endpoint that answered.
            fetched: its live list.
            observer: the fields already observed page by page (a streamed sync); else `fetched.entries`.
        """
        if observer is None:
            observer = FieldObserver(spec)
            observer.add(fetched.entries)
        with self.engine.begin() as connection:
            provider_id, _ = self._upsert_provider(connection, spec, _now())
            return self._record_field_observations(connection, provider_id, fetched.endpoint, observer)

    @staticmethod
    def _record_field_observations(
        connection: Connection, provider_id: int, endpoint: str, observer: FieldObserver
    ) -> list[FieldObservation]:
        now = _now()
        table = schema.payload_key_observations
        mine = sa.and_(table.c.provider_id == provider_id, table.c.endpoint == endpoint)
        previously_read = [
            row.key_path
            for row in connection.execute(sa.select(table.c.key_path).where(mine, table.c.status.in_([READ, VANISHED])))
        ]
        observations = observer.observations(previously_read)
        # one statement for the fields seen now and one for the vanished ones, which keep their sample
        # and last sighting
        for vanished in (False, True):
            rows = [
                {
                    "provider_id": provider_id,
                    "endpoint": endpoint,
                    "key_path": observation.path[:256],
                    "status": observation.status,
                    "entries_with_key": observation.entries,
                    "sample_value": None if vanished else observation.sample,
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for observation in observations
                if (observation.status == VANISHED) is vanished
            ]
            if not rows:
                continue
            statement = _insert(connection, table)
            updated = ["status", "entries_with_key"] + ([] if vanished else ["sample_value", "last_seen_at"])
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[table.c.provider_id, table.c.endpoint, table.c.key_path],
                    set_={name: statement.excluded[name] for name in updated},
                ),
                rows,  # one row at a time on the connection: a path cut to a repeat just updates its row
            )
        return news(observations)

    def field_first_seen(self, slug: str, endpoint: str) -> dict[str, datetime]:
        """When each field of `slug`'s `endpoint` was first seen."""
        table = schema.payload_key_observations
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table.c.key_path, table.c.first_seen_at)
                .join(schema.providers, schema.providers.c.id == table.c.provider_id)
                .where(schema.providers.c.slug == slug, table.c.endpoint == endpoint)
            )
            return {row.key_path: row.first_seen_at for row in rows}

    def scrub(self, message: str) -> str:
        """`message` without the database password or any provider key, whatever raised it."""
        return mask_secrets(message, os.environ, extra=[self.engine.url.password])


def model_ids_digest(ids: Iterable[str]) -> str:
    """An order-free digest of a set of model ids (the sum of their 64-bit hashes, and their number)."""
    total = count = 0
    for model_id in ids:
        total += int.from_bytes(hashlib.blake2b(model_id.encode(), digest_size=8).digest(), "big")
        count += 1
    return f"{count:x}-{total % 2**64:016x}"


def provider_lock_key(slug: str) -> int:
    """Second key of a provider's advisory lock (a signed 32-bit integer, as PostgreSQL wants)."""
    return zlib.crc32(slug.encode()) - 2**31


def _model_rows(provider_id: int, changed: list[ModelRecord], hashes: dict[str, str], now: datetime) -> list[tuple]:
    """`models` rows (in `_MODEL_COLUMNS` order) for `changed`: active, seen now."""
    return [
        (
            provider_id,
            model.provider_model_id,
            model.canonical_slug,
            model.name,
            model.context_length,
            model.max_output_tokens,
            model.input_modalities,
            model.output_modalities,
            _amount(model.input_price),
            _amount(model.output_price),
            model.input_price.state if model.input_price else PriceState.UNKNOWN,
            True,
            hashes[model.provider_model_id],
            now,
            now,
            now,
            None,
            model.deprecation_date,
            model.provider_status,
        )
        for model in changed
    ]


def _amount(price: Price | None) -> Decimal | None:
    return price.amount if price else None


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _same_amount(stored: Decimal | None, fresh: Decimal | None) -> bool:
    if stored is None or fresh is None:
        return stored is fresh
    return Decimal(stored) == fresh


def _json_number(value: Any) -> Any:
    """A JSON number when a float holds the decimal exactly (every real price), else its exact text,
    so re-reading a snapshot never changes a price."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if value.is_finite() and Decimal(repr(as_float)) == value else str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")
