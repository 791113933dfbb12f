"""Read-only questions about the catalog database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog_pipeline.storage import schema


def sync_log_for_runs(engine: Engine, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """`pricing_sync_log` rows written by the given Dagster runs, oldest first."""
    log = schema.pricing_sync_log
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(log).where(log.c.dagster_run_id.in_(list(run_ids))).order_by(log.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def price_changes_since(engine: Engine, since: datetime) -> list[dict[str, Any]]:
    """Every price change (not first listings) since `since`, newest first."""
    history, models, providers = schema.price_history, schema.models, schema.providers
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                providers.c.slug.label("provider"),
                models.c.provider_model_id,
                history.c.price_type,
                history.c.old_amount,
                history.c.new_amount,
                history.c.old_state,
                history.c.new_state,
                history.c.unit,
                history.c.changed_at,
            )
            .join(models, models.c.id == history.c.model_id)
            .join(providers, providers.c.id == models.c.provider_id)
            .where(history.c.changed_at >= since, history.c.old_state.is_not(None))
            .order_by(history.c.changed_at.desc(), history.c.id.desc())
        ).mappings()
        return [_in_utc(row) for row in rows]


def price_changes_in_last_days(engine: Engine, days: float, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every price change of the last `days` days (before `now`, default the current time), newest first."""
    return price_changes_since(engine, (now or datetime.now(UTC)) - timedelta(days=days))


def price_at(
    engine: Engine, provider: str, provider_model_id: str, price_type: str, at: datetime
) -> dict[str, Any] | None:
    """The price of one model at time `at` (the last change at or before it), or None before its first listing."""
    history, models, providers = schema.price_history, schema.models, schema.providers
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.select(
                    history.c.new_amount.label("amount"),
                    history.c.new_state.label("state"),
                    history.c.unit,
                    history.c.changed_at,
                )
                .join(models, models.c.id == history.c.model_id)
                .join(providers, providers.c.id == models.c.provider_id)
                .where(
                    providers.c.slug == provider,
                    models.c.provider_model_id == provider_model_id,
                    history.c.price_type == price_type,
                    history.c.changed_at <= at,
                )
                .order_by(history.c.changed_at.desc(), history.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return _in_utc(row) if row else None


def who_serves(engine: Engine, canonical_slug: str) -> list[dict[str, Any]]:
    """Active listings of one canonical model across providers, cheapest input price first."""
    models, providers = schema.models, schema.providers
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                providers.c.slug.label("provider"),
                models.c.provider_model_id,
                models.c.context_length,
                models.c.input_price_per_million,
                models.c.output_price_per_million,
                models.c.price_status,
            )
            .join(providers, providers.c.id == models.c.provider_id)
            .where(models.c.canonical_slug == canonical_slug, models.c.is_active == sa.true())
            .order_by(models.c.input_price_per_million.is_(None), models.c.input_price_per_million, providers.c.slug)
        ).mappings()
        return [dict(row) for row in rows]


def _in_utc(row: Any) -> dict[str, Any]:
    """The row as a dict with aware UTC timestamps (SQLite hands back naive ones; everything is stored in UTC)."""
    return {
        key: value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
        for key, value in dict(row).items()
    }


def open_held_changes(engine: Engine) -> list[dict[str, Any]]:
    """Every change still held for review (status ``held``), by provider and model."""
    held, models, providers = schema.held_changes, schema.models, schema.providers
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                providers.c.slug.label("provider"),
                models.c.provider_model_id,
                held.c.field,
                held.c.rule,
                held.c.old_value,
                held.c.new_value,
                held.c.unit,
                held.c.first_held_at,
                held.c.dagster_run_id,
            )
            .join(models, models.c.id == held.c.model_id)
            .join(providers, providers.c.id == held.c.provider_id)
            .where(held.c.status == "held")
            .order_by(providers.c.slug, models.c.provider_model_id, held.c.field)
        ).mappings()
        return [dict(row) for row in rows]
