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
import json
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.masking import mask_secrets
from catalog_pipeline.providers.drift import READ, VANISHED, FieldObservation, news, observe_fields
from catalog_pipeline.providers.normalize import ModelRecord, NormalizedCatalog, Price, PriceState
from catalog_pipeline.providers.spec import ProviderSpec
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import ensure_schema

#: Rows per statement on SQLite, where a batch travels as one JSON parameter. PostgreSQL
#: streams all of a write's rows with COPY and upserts them in one statement.
BATCH_ROWS = 5000
#: Ids per ``IN (...)`` list, well below SQLite's and PostgreSQL's bind parameter limits.
_IDS_PER_QUERY = 5000
#: Namespace of the per-provider advisory locks (PostgreSQL two-key form: namespace, provider).
PROVIDER_LOCK_NAMESPACE = int.from_bytes(b"CATG")
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


@dataclass
class PriceChange:
    provider_model_id: str
    price_type: str
    old_amount: Decimal | None
    new_amount: Decimal | None
    old_state: str
    new_state: str

    @property
    def magnitude(self) -> Decimal:
        return abs((self.new_amount or Decimal(0)) - (self.old_amount or Decimal(0)))


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
    active_before: int | None = None
    would_deactivate: int | None = None

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
        stage.create(connection)
        _copy_rows(connection, stage, columns, rows)
        yield sa.select(*stage.c), {}
        return
    dialect = connection.dialect
    encoders = [_memoized(table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in columns]
    document = sa.func.json_each(sa.bindparam("rows", type_=sa.Text)).table_valued("value")
    # The WHERE lets SQLite tell a following ON CONFLICT from a join constraint.
    select = sa.select(
        *(sa.func.json_extract(document.c.value, sa.literal_column(f"'$[{i}]'")) for i in range(len(columns)))
    ).where(sa.true())
    for batch in _batches(rows, BATCH_ROWS):
        encoded = [
            [
                value if encode is None or value is None else encode(value)
                for value, encode in zip(row, encoders, strict=True)
            ]
            for row in batch
        ]
        yield select, {"rows": json.dumps(encoded)}


_staging_metadata = sa.MetaData()


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


class CatalogWriter:
    """Writes providers' catalogs into the catalog database at `engine`."""

    def __init__(self, engine: Engine):
        self.engine = engine
        ensure_schema(engine)

    def write_provider(
        self,
        spec: ProviderSpec,
        fetched: FetchResult,
        catalog: NormalizedCatalog,
        run_id: str | None = None,
        max_deactivation_share: float = 0.5,
        allow_mass_deactivation: bool = False,
    ) -> SyncCounts:
        """Bring `spec`'s stored rows in line with `catalog`, in one transaction.

        Raises:
            MassDeactivationBlocked: the live list is empty or would deactivate more
                than `max_deactivation_share` of the stored active models.
        """
        now = _now()
        counts = SyncCounts(provider=spec.slug, fetched=len(fetched.entries), rejected=len(catalog.rejections))
        hashes = {model.provider_model_id: model.content_hash for model in catalog.models}
        with self.engine.begin() as connection:
            self._lock(connection, spec.slug)
            provider_id, last_synced_at = self._upsert_provider(connection, spec, now)
            models = schema.models
            existing = {
                row.provider_model_id: row
                for row in connection.execute(
                    sa.select(models.c.id, models.c.provider_model_id, models.c.content_hash, models.c.is_active).where(
                        models.c.provider_id == provider_id
                    )
                )
            }
            to_deactivate = [row.id for key, row in existing.items() if row.is_active and key not in hashes]
            counts.active_before = sum(1 for row in existing.values() if row.is_active)
            counts.would_deactivate = len(to_deactivate)
            self._guard(counts, len(catalog.models), max_deactivation_share, allow_mass_deactivation)

            changed: list[ModelRecord] = []
            for model in catalog.models:
                row = existing.get(model.provider_model_id)
                if row is None:
                    counts.inserted += 1
                    changed.append(model)
                elif row.content_hash != hashes[model.provider_model_id] or not row.is_active:
                    counts.updated += 1
                    changed.append(model)
                else:
                    counts.unchanged += 1
            if changed:
                ids = self._upsert_models(connection, provider_id, changed, hashes, existing, now)
                counts.price_changes = self._write_prices(connection, changed, ids, existing, now, run_id)
            if to_deactivate:
                counts.deactivated = self._deactivate(connection, to_deactivate, now, last_synced_at)
            self._replace_rejections(connection, provider_id, catalog, now, run_id)
            connection.execute(
                schema.providers.update()
                .where(schema.providers.c.id == provider_id)
                .values(last_synced_at=now, last_sync_status="success", updated_at=now)
            )
        return counts

    @staticmethod
    def _guard(counts: SyncCounts, live: int, max_share: float, allow: bool) -> None:
        stored_active, would_deactivate = counts.active_before or 0, counts.would_deactivate or 0
        if allow or stored_active == 0 or would_deactivate == 0:
            return
        # Counting deactivations, not just the shrink, also stops a mass rename
        # (every id changed) from retiring the whole catalog.
        if live == 0 or would_deactivate / stored_active > max_share:
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
        connection.execute(
            _insert(connection, table)
            .values(slug=spec.slug, name=spec.name, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=[table.c.slug])
        )
        row = connection.execute(
            sa.select(table.c.id, table.c.name, table.c.last_synced_at).where(table.c.slug == spec.slug)
        ).one()
        if row.name != spec.name:
            connection.execute(table.update().where(table.c.id == row.id).values(name=spec.name, updated_at=now))
        return row.id, row.last_synced_at

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
        rows = [
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
        ids = {key: row.id for key, row in existing.items()}
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
                            model.provider_model_id, price_type, old.amount, price.amount, old.state, price.state
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
        connection: Connection, provider_id: int, catalog: NormalizedCatalog, now: datetime, run_id: str | None
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
        fresh = sorted((r.reason, r.provider_model_id or "", r.detail) for r in catalog.rejections)
        if stored == fresh:
            return
        connection.execute(table.delete().where(table.c.provider_id == provider_id))
        if catalog.rejections:
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
                    for r in catalog.rejections
                ],
            )

    def store_snapshot(self, spec: ProviderSpec, fetched: FetchResult, run_id: str | None = None) -> None:
        """Keep `fetched` as the provider's latest raw snapshot (replacing the previous one)."""
        now = _now()
        table = schema.provider_catalog_snapshots
        payload = gzip.compress(json.dumps(fetched.entries, default=_json_number).encode(), compresslevel=5)
        values = {
            "fetched_at": now,
            "dagster_run_id": run_id,
            "url": fetched.url,
            "live_count": len(fetched.entries),
            "pages": fetched.pages,
            "bytes": fetched.bytes,
            "latency_ms": Decimal(str(fetched.latency_ms)),
            "http_status": fetched.http_status,
            "payload_gzip": payload,
            "endpoint": fetched.endpoint,
        }
        with self.engine.begin() as connection:
            provider_id, _ = self._upsert_provider(connection, spec, now)
            statement = _insert(connection, table).values(provider_id=provider_id, **values)
            connection.execute(statement.on_conflict_do_update(index_elements=[table.c.provider_id], set_=values))

    def load_snapshot(self, spec: ProviderSpec) -> FetchResult | None:
        """The provider's latest raw snapshot, or None if it was never fetched."""
        table = schema.provider_catalog_snapshots
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(table)
                .join(schema.providers, schema.providers.c.id == table.c.provider_id)
                .where(schema.providers.c.slug == spec.slug)
            ).first()
        if row is None:
            return None
        return FetchResult(
            provider=spec.slug,
            url=row.url,
            entries=json.loads(gzip.decompress(row.payload_gzip), parse_float=Decimal),
            pages=row.pages,
            bytes=row.bytes,
            latency_ms=float(row.latency_ms),
            http_status=row.http_status,
            attempts=0,
            endpoint=row.endpoint or "primary",
        )

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
        counts = counts or SyncCounts(provider=provider)
        with self.engine.begin() as connection:
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
                    error_message=self.scrub(error_message)[:4000] if error_message else None,
                    dagster_run_id=run_id,
                    endpoint=endpoint,
                )
            )
            if status != "success":
                connection.execute(
                    schema.providers.update().where(schema.providers.c.slug == provider).values(last_sync_status=status)
                )

    def record_field_observations(self, spec: ProviderSpec, fetched: FetchResult) -> list[FieldObservation]:
        """Compare the live entries' fields with what `spec` reads and ignores, keep every field's first and
        last sighting in `payload_key_observations`, and return the news: unknown and vanished fields.

        Args:
            spec: the spec of the endpoint that answered.
            fetched: its live list.
        """
        now = _now()
        table = schema.payload_key_observations
        with self.engine.begin() as connection:
            provider_id, _ = self._upsert_provider(connection, spec, now)
            mine = sa.and_(table.c.provider_id == provider_id, table.c.endpoint == fetched.endpoint)
            previously_read = [
                row.key_path
                for row in connection.execute(
                    sa.select(table.c.key_path).where(mine, table.c.status.in_([READ, VANISHED]))
                )
            ]
            observations = observe_fields(spec, fetched.entries, previously_read)
            for observation in observations:
                values: dict[str, Any] = {"status": observation.status, "entries_with_key": observation.entries}
                if observation.status != VANISHED:
                    values |= {"sample_value": observation.sample, "last_seen_at": now}
                statement = _insert(connection, table).values(
                    provider_id=provider_id,
                    endpoint=fetched.endpoint,
                    key_path=observation.path[:256],
                    first_seen_at=now,
                    last_seen_at=now,
                    **{k: v for k, v in values.items() if k != "last_seen_at"},
                )
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[table.c.provider_id, table.c.endpoint, table.c.key_path], set_=values
                    )
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


def provider_lock_key(slug: str) -> int:
    """Second key of a provider's advisory lock (a signed 32-bit integer, as PostgreSQL wants)."""
    return zlib.crc32(slug.encode()) - 2**31


def _amount(price: Price | None) -> Decimal | None:
    return price.amount if price else None


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
