"""Hand-built catalogs written through the real writer, for fast tests that need exact numbers.

A test states its models and rejections literally; nothing is rendered from a provider spec, so
the numbers it expects are the ones it wrote down.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.providers.normalize import ModelRecord, NormalizedCatalog, Price, PriceState, Rejection
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline.storage import writer as writer_module
from catalog_pipeline.storage.writer import CatalogWriter, SyncCounts

PER_MILLION = "usd_per_million_tokens"


def model(model_id: str, input_price: str | None = "1", output_price: str | None = "2", **prices: str) -> ModelRecord:
    """A model with known input and output prices (USD per million tokens) unless given as None."""
    amounts = {"input": input_price, "output": output_price, **prices}
    return ModelRecord(
        provider_model_id=model_id,
        name=model_id,
        canonical_slug=model_id.lower(),
        context_length=8192,
        max_output_tokens=None,
        input_modalities="text",
        output_modalities="text",
        prices={
            kind: Price(Decimal(amount), PriceState.KNOWN, PER_MILLION) for kind, amount in amounts.items() if amount
        },
    )


def models(prefix: str, count: int) -> list[ModelRecord]:
    return [model(f"{prefix}-{number}") for number in range(1, count + 1)]


def rejected(model_id: str | None, reason: str = "invalid_price") -> Rejection:
    return Rejection(reason=reason, detail=f"hand-made rejection of {model_id!r}", provider_model_id=model_id)


def write(
    writer: CatalogWriter,
    slug: str,
    records: list[ModelRecord],
    rejections: list[Rejection] = (),  # type: ignore[assignment]
    **options: object,
) -> SyncCounts:
    """Write `records` and `rejections` as `slug`'s whole live list (one entry per record and rejection)."""
    spec = get_provider(slug) if slug != "synthetic" else replace(get_provider("cerebras"), slug="synthetic")
    listed = len(records) + len(rejections)
    fetched = FetchResult(slug, f"https://{slug}.invalid/models", [{}] * listed, 1, 0, 0.0, 200, 1)
    catalog = NormalizedCatalog(models=list(records), rejections=list(rejections))
    return writer.write_provider(spec, fetched, catalog, **options)  # type: ignore[arg-type]


def execute(writer: CatalogWriter, sql: str, **parameters: object) -> None:
    with writer.engine.begin() as connection:
        connection.execute(sa.text(sql), parameters)


#: The writer tests' fixed clock: syncs six hours apart (the `clock` fixture of conftest starts at T1).
T1 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=6)
T3 = T2 + timedelta(hours=6)
T4 = T3 + timedelta(hours=6)


class Clock:
    """The writer's clock, moved by the test (`clock.now = T2`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.now = T1
        monkeypatch.setattr(writer_module, "_now", lambda: self.now)


def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp read back, as UTC (SQLite hands back naive UTC)."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
