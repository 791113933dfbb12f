"""Writes one provider's normalized catalog: change-only, transactional, idempotent.

One call of `CatalogWriter.write_provider` is one transaction: the provider's rows
are either all brought in line with the live list or left exactly as they were.
Unchanged models are never sent to the database, and the upsert's ``WHERE`` guard
keeps a row untouched even if a concurrent writer already stored the same content.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.providers.normalize import ModelRecord, NormalizedCatalog, Price, PriceState
from catalog_pipeline.providers.spec import ProviderSpec
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import ensure_schema

_BATCH_ROWS = {"postgresql": 5000, "sqlite": 5000}


class MassDeactivationBlocked(Exception):
    """The live list shrank too much to trust; nothing was written."""

    def __init__(self, provider: str, stored_active: int, live: int, would_deactivate: int, max_share: float):
        self.provider = provider
        self.stored_active = stored_active
        self.live = live
        self.would_deactivate = would_deactivate
        self.max_share = max_share
        share = would_deactivate / stored_active if stored_active else 1.0
        super().__init__(
            f"provider {provider!r}: sync would deactivate {would_deactivate} of {stored_active} active models "
            f"({share:.0%}, limit {max_share:.0%}; live list has {live}); nothing was written. "
            "If the shrink is real, re-run with allow_mass_deactivation: true."
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
    """What one provider's write did."""

    provider: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    rejected: int = 0
    price_changes: list[PriceChange] = field(default_factory=list)

    @property
    def rows_written(self) -> int:
        """Rows of `models` written: the `models_updated` column of `pricing_sync_log`."""
        return self.inserted + self.updated + self.deactivated


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(connection: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)


def _batches(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


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
        with self.engine.begin() as connection:
            self._lock(connection, spec.slug)
            provider_id = self._upsert_provider(connection, spec, now)
            existing = {
                row.provider_model_id: row
                for row in connection.execute(
                    sa.select(
                        schema.models.c.id,
                        schema.models.c.provider_model_id,
                        schema.models.c.content_hash,
                        schema.models.c.is_active,
                    ).where(schema.models.c.provider_id == provider_id)
                )
            }
            live_ids = {model.provider_model_id for model in catalog.models}
            to_deactivate = [row.id for key, row in existing.items() if row.is_active and key not in live_ids]
            stored_active = sum(1 for row in existing.values() if row.is_active)
            self._guard(
                spec,
                stored_active,
                len(catalog.models),
                len(to_deactivate),
                max_deactivation_share,
                allow_mass_deactivation,
            )

            changed: list[ModelRecord] = []
            for model in catalog.models:
                row = existing.get(model.provider_model_id)
                if row is None:
                    counts.inserted += 1
                    changed.append(model)
                elif row.content_hash != model.content_hash or not row.is_active:
                    counts.updated += 1
                    changed.append(model)
                else:
                    counts.unchanged += 1
            if changed:
                self._upsert_models(connection, provider_id, changed, now)
                counts.price_changes = self._write_prices(connection, provider_id, changed, existing, now, run_id)
            if to_deactivate:
                counts.deactivated = self._deactivate(connection, to_deactivate, now)
            self._replace_rejections(connection, provider_id, catalog, now, run_id)
            connection.execute(
                schema.providers.update()
                .where(schema.providers.c.id == provider_id)
                .values(last_synced_at=now, last_sync_status="success", updated_at=now)
            )
        return counts

    @staticmethod
    def _guard(
        spec: ProviderSpec, stored_active: int, live: int, would_deactivate: int, max_share: float, allow: bool
    ) -> None:
        if allow or stored_active == 0 or would_deactivate == 0:
            return
        if live == 0 or would_deactivate / stored_active > max_share:
            raise MassDeactivationBlocked(spec.slug, stored_active, live, would_deactivate, max_share)

    @staticmethod
    def _lock(connection: Connection, slug: str) -> None:
        # SQLite already holds the database's single write lock (BEGIN IMMEDIATE);
        # PostgreSQL serializes two syncs of one provider on a transaction-scoped advisory lock.
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(zlib.crc32(f"catalog:{slug}".encode()))))

    @staticmethod
    def _upsert_provider(connection: Connection, spec: ProviderSpec, now: datetime) -> int:
        table = schema.providers
        statement = _insert(connection, table).values(slug=spec.slug, name=spec.name, created_at=now, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.slug],
            set_={"name": statement.excluded.name, "updated_at": now},
            where=table.c.name != statement.excluded.name,
        )
        connection.execute(statement)
        return connection.execute(sa.select(table.c.id).where(table.c.slug == spec.slug)).scalar_one()

    def _upsert_models(
        self, connection: Connection, provider_id: int, changed: list[ModelRecord], now: datetime
    ) -> None:
        table = schema.models
        rows = [
            {
                "provider_id": provider_id,
                "provider_model_id": model.provider_model_id,
                "canonical_slug": model.canonical_slug,
                "name": model.name,
                "context_length": model.context_length,
                "max_output_tokens": model.max_output_tokens,
                "input_modalities": model.input_modalities,
                "output_modalities": model.output_modalities,
                "input_price_per_million": _amount(model.input_price),
                "output_price_per_million": _amount(model.output_price),
                "price_status": model.input_price.state if model.input_price else PriceState.UNKNOWN,
                "is_active": True,
                "content_hash": model.content_hash,
                "first_seen_at": now,
                "last_seen_at": now,
                "updated_at": now,
                "deactivated_at": None,
            }
            for model in changed
        ]
        statement = _insert(connection, table)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.provider_id, table.c.provider_model_id],
            set_={
                name: excluded[name]
                for name in (
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
                    "last_seen_at",
                    "updated_at",
                    "deactivated_at",
                )
            },
            where=sa.or_(table.c.content_hash != excluded.content_hash, table.c.is_active == sa.false()),
        )
        for batch in _batches(rows, _BATCH_ROWS.get(connection.dialect.name, 500)):
            connection.execute(statement, list(batch))

    def _write_prices(
        self,
        connection: Connection,
        provider_id: int,
        changed: list[ModelRecord],
        existing: dict[str, Any],
        now: datetime,
        run_id: str | None,
    ) -> list[PriceChange]:
        models, pricing = schema.models, schema.model_pricing
        ids = dict(
            connection.execute(
                sa.select(models.c.provider_model_id, models.c.id).where(models.c.provider_id == provider_id)
            ).all()
        )
        changed_ids = [ids[model.provider_model_id] for model in changed if model.provider_model_id in existing]
        current: dict[tuple[int, str], tuple[Decimal | None, str]] = {}
        for batch in _batches(changed_ids, 5000):
            for row in connection.execute(
                sa.select(pricing.c.model_id, pricing.c.price_type, pricing.c.amount, pricing.c.state).where(
                    pricing.c.model_id.in_(batch)
                )
            ):
                current[(row.model_id, row.price_type)] = (row.amount, row.state)

        upserts: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        changes: list[PriceChange] = []
        for model in changed:
            model_id = ids[model.provider_model_id]
            for price_type, price in model.prices.items():
                old = current.get((model_id, price_type))
                if old is not None and _same_amount(old[0], price.amount) and old[1] == price.state:
                    continue
                upserts.append(
                    {
                        "model_id": model_id,
                        "price_type": price_type,
                        "amount": price.amount,
                        "state": price.state,
                        "unit": price.unit,
                        "updated_at": now,
                    }
                )
                history.append(
                    {
                        "model_id": model_id,
                        "price_type": price_type,
                        "old_amount": old[0] if old else None,
                        "new_amount": price.amount,
                        "old_state": old[1] if old else None,
                        "new_state": price.state,
                        "unit": price.unit,
                        "changed_at": now,
                        "dagster_run_id": run_id,
                    }
                )
                if old is not None:
                    changes.append(
                        PriceChange(model.provider_model_id, price_type, old[0], price.amount, old[1], price.state)
                    )
        statement = _insert(connection, pricing)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[pricing.c.model_id, pricing.c.price_type],
            set_={
                "amount": excluded.amount,
                "state": excluded.state,
                "unit": excluded.unit,
                "updated_at": excluded.updated_at,
            },
            where=sa.or_(pricing.c.amount.is_distinct_from(excluded.amount), pricing.c.state != excluded.state),
        )
        for batch in _batches(upserts, _BATCH_ROWS.get(connection.dialect.name, 500)):
            connection.execute(statement, list(batch))
        for batch in _batches(history, _BATCH_ROWS.get(connection.dialect.name, 500)):
            connection.execute(schema.price_history.insert(), list(batch))
        return changes

    @staticmethod
    def _deactivate(connection: Connection, model_ids: list[int], now: datetime) -> int:
        table = schema.models
        total = 0
        for batch in _batches(model_ids, 5000):
            result = connection.execute(
                table.update()
                .where(table.c.id.in_(batch), table.c.is_active == sa.true())
                .values(is_active=False, deactivated_at=now, updated_at=now)
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
        }
        with self.engine.begin() as connection:
            provider_id = self._upsert_provider(connection, spec, now)
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
        )

    def log_sync(
        self,
        provider: str,
        started_at: datetime,
        status: str,
        counts: SyncCounts | None = None,
        error_message: str | None = None,
        run_id: str | None = None,
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
                    error_message=error_message[:4000] if error_message else None,
                    dagster_run_id=run_id,
                )
            )
            if status != "success":
                connection.execute(
                    schema.providers.update().where(schema.providers.c.slug == provider).values(last_sync_status=status)
                )


def _amount(price: Price | None) -> Decimal | None:
    return price.amount if price else None


def _same_amount(stored: Decimal | None, fresh: Decimal | None) -> bool:
    if stored is None or fresh is None:
        return stored is fresh
    return Decimal(stored) == fresh


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")
