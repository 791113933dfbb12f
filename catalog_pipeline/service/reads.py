"""The catalog API's queries: models, prices, price history and change events, read-only.

Every function takes a connection, so one request's statements share one snapshot
(`create_readonly_engine` opens REPEATABLE READ transactions on PostgreSQL and a
deferred read transaction on SQLite). Lists are ordered by (provider slug, model id),
which is unique, so keyset pagination never shows a model twice or skips one.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from catalog_pipeline.storage import schema
from catalog_pipeline.storage.changes import decimal_text

_IDS_PER_QUERY = 5000
models, providers, pricing, history, changes = (
    schema.models,
    schema.providers,
    schema.model_pricing,
    schema.price_history,
    schema.model_changes,
)


def utc(value: datetime | None) -> datetime | None:
    """An aware UTC timestamp (SQLite hands back naive ones; everything is stored in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``; memoized, as a sync stamps thousands of rows with one time."""
    value = utc(value)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=4096)
def unix_seconds(value: datetime | None) -> int:
    value = utc(value)
    return int(value.timestamp()) if value else 0


#: Prices repeat across models: each distinct stored amount is printed once.
amount_text = functools.lru_cache(maxsize=65536)(decimal_text)


def modality_list(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


# ---------------------------------------------------------------- data version


def data_version(connection: Connection) -> str:
    """A token that changes whenever any provider's write commits.

    Every write of a provider updates its `providers` row (last sync time and status), so
    hashing those 32-odd rows, plus the newest change event, identifies the data a list
    was rendered from: cached renderings are reused until it moves.
    """
    rows = connection.execute(
        sa.select(
            providers.c.id,
            providers.c.name,
            providers.c.updated_at,
            providers.c.last_synced_at,
            providers.c.last_sync_status,
        ).order_by(providers.c.id)
    ).all()
    newest_change = connection.execute(sa.select(sa.func.max(changes.c.id))).scalar()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([[str(v) for v in row] for row in rows] + [newest_change]).encode())
    return digest.hexdigest()


def latest_sync(connection: Connection) -> datetime | None:
    """When the catalog was last written by a successful sync of any provider."""
    return utc(connection.execute(sa.select(sa.func.max(providers.c.last_synced_at))).scalar())


# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelFilter:
    """Filters of a model list; None means no filter."""

    provider: str | None = None
    canonical_slug: str | None = None
    active: bool | None = None
    modality: str | None = None

    def clauses(self) -> list[sa.ColumnElement[bool]]:
        where: list[sa.ColumnElement[bool]] = []
        if self.provider is not None:
            where.append(providers.c.slug == self.provider)
        if self.canonical_slug is not None:
            where.append(models.c.canonical_slug == self.canonical_slug)
        if self.active is not None:
            where.append(models.c.is_active == sa.true() if self.active else models.c.is_active == sa.false())
        if self.modality is not None:
            needle = f",{self.modality},"
            where.append(
                sa.or_(
                    *(
                        (sa.literal(",") + sa.func.coalesce(column, "") + sa.literal(",")).contains(
                            needle, autoescape=True
                        )
                        for column in (models.c.input_modalities, models.c.output_modalities)
                    )
                )
            )
        return where


_MODEL_COLUMNS = (
    models.c.id,
    providers.c.slug.label("provider"),
    models.c.provider_model_id,
    models.c.canonical_slug,
    models.c.name,
    models.c.context_length,
    models.c.max_output_tokens,
    models.c.input_modalities,
    models.c.output_modalities,
    models.c.price_status,
    models.c.is_active,
    models.c.first_seen_at,
    models.c.updated_at,
    models.c.deactivated_at,
    models.c.deprecation_date,
    models.c.provider_status,
)


def _models_select(where: Sequence[sa.ColumnElement[bool]]) -> sa.Select:
    return (
        sa.select(*_MODEL_COLUMNS)
        .join(providers, providers.c.id == models.c.provider_id)
        .where(*where)
        .order_by(providers.c.slug, models.c.provider_model_id)
    )


def model_page(
    connection: Connection, model_filter: ModelFilter, limit: int, after: tuple[str, str] | None = None
) -> tuple[list[Any], bool]:
    """Up to `limit` models after the (provider, model id) key `after`, and whether more follow."""
    where = model_filter.clauses()
    if after is not None:
        where.append(sa.tuple_(providers.c.slug, models.c.provider_model_id) > sa.tuple_(*after))
    rows = connection.execute(_models_select(where).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit


def model_slice(connection: Connection, model_filter: ModelFilter, offset: int, limit: int) -> tuple[list[Any], int]:
    """Models `offset` .. `offset + limit` in list order, and how many match in total."""
    where = model_filter.clauses()
    total = connection.execute(
        sa.select(sa.func.count(models.c.id)).join(providers, providers.c.id == models.c.provider_id).where(*where)
    ).scalar_one()
    rows = connection.execute(_models_select(where).offset(offset).limit(limit)).all() if offset < total else []
    return rows, total


def one_model(connection: Connection, provider: str, provider_model_id: str) -> Any | None:
    return connection.execute(
        _models_select([providers.c.slug == provider, models.c.provider_model_id == provider_model_id])
    ).first()


def provider_exists(connection: Connection, provider: str) -> bool:
    return connection.execute(sa.select(providers.c.id).where(providers.c.slug == provider)).first() is not None


def prices_of(connection: Connection, model_ids: Iterable[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Current prices per model: price type -> amount (exact text), state, unit, tier threshold."""
    result: dict[int, dict[str, dict[str, Any]]] = {}
    ids = list(model_ids)
    for start in range(0, len(ids), _IDS_PER_QUERY):
        batch = ids[start : start + _IDS_PER_QUERY]
        for row in connection.execute(
            sa.select(
                pricing.c.model_id,
                pricing.c.price_type,
                pricing.c.amount,
                pricing.c.state,
                pricing.c.unit,
                pricing.c.threshold_tokens,
            )
            .where(pricing.c.model_id.in_(batch))
            .order_by(pricing.c.model_id, pricing.c.price_type)
        ):
            result.setdefault(row.model_id, {})[row.price_type] = {
                "amount": amount_text(row.amount),
                "state": row.state,
                "unit": row.unit,
                "threshold_tokens": row.threshold_tokens,
            }
    return result


def price_history_of(connection: Connection, model_id: int) -> list[dict[str, Any]]:
    """Every recorded price of one model, oldest first (a first listing has no old state)."""
    rows = connection.execute(
        sa.select(history).where(history.c.model_id == model_id).order_by(history.c.changed_at, history.c.id)
    ).all()
    return [
        {
            "price_type": row.price_type,
            "unit": row.unit,
            "old": None if row.old_state is None else {"amount": decimal_text(row.old_amount), "state": row.old_state},
            "new": {"amount": decimal_text(row.new_amount), "state": row.new_state},
            "changed_at": iso(row.changed_at),
            "dagster_run_id": row.dagster_run_id,
        }
        for row in rows
    ]


def prices_at(price_history: list[dict[str, Any]], at: datetime) -> dict[str, dict[str, Any]]:
    """The prices in force at `at`: per price type, the last recorded value at or before it."""
    in_force: dict[str, dict[str, Any]] = {}
    for entry in price_history:  # oldest first
        if datetime.fromisoformat(entry["changed_at"]) > at:
            break
        in_force[entry["price_type"]] = {**entry["new"], "unit": entry["unit"], "since": entry["changed_at"]}
    return dict(sorted(in_force.items()))


# ---------------------------------------------------------------- change feed


_CHANGE_COLUMNS = (
    changes.c.id,
    changes.c.kind,
    changes.c.recorded_at,
    changes.c.dagster_run_id,
    changes.c.details,
    providers.c.slug.label("provider"),
    models.c.provider_model_id,
)


def _changes_select(where: Sequence[sa.ColumnElement[bool]]) -> sa.Select:
    return (
        sa.select(*_CHANGE_COLUMNS)
        .join(providers, providers.c.id == changes.c.provider_id)
        .join(models, models.c.id == changes.c.model_id)
        .where(*where)
    )


def _change_filter(since: int, provider: str | None, kind: str | None) -> list[sa.ColumnElement[bool]]:
    where = [changes.c.id > since]
    if provider is not None:
        where.append(providers.c.slug == provider)
    if kind is not None:
        where.append(changes.c.kind == kind)
    return where


def change_page(
    connection: Connection, since: int, limit: int, provider: str | None = None, kind: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Change events after the cursor `since`, oldest first, and whether more follow."""
    rows = connection.execute(
        _changes_select(_change_filter(since, provider, kind)).order_by(changes.c.id).limit(limit + 1)
    ).all()
    return [change_entry(row) for row in rows[:limit]], len(rows) > limit


def newest_changes(
    connection: Connection, since: int, limit: int, provider: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """The newest `limit` change events after `since`, newest first (a feed reader's view)."""
    rows = connection.execute(
        _changes_select(_change_filter(since, provider, kind)).order_by(changes.c.id.desc()).limit(limit)
    ).all()
    return [change_entry(row) for row in rows]


def changes_of_model(connection: Connection, model_id: int) -> list[dict[str, Any]]:
    rows = connection.execute(_changes_select([changes.c.model_id == model_id]).order_by(changes.c.id)).all()
    return [change_entry(row) for row in rows]


def change_entry(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "time": iso(row.recorded_at),
        "provider": row.provider,
        "model": row.provider_model_id,
        "kind": row.kind,
        "details": json.loads(row.details) if row.details else None,
        "dagster_run_id": row.dagster_run_id,
    }
