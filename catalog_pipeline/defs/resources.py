"""Resources: the provider APIs and the catalog database, configured at the Definitions boundary."""

from __future__ import annotations

import os
from decimal import Decimal

import dagster as dg
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Engine

from catalog_pipeline.http_engine import DEFAULT_MAX_RESPONSE_MB, CatalogHttpEngine, missing_variables
from catalog_pipeline.providers.spec import ProviderSpec
from catalog_pipeline.reconciliation import ParityThresholds
from catalog_pipeline.settings import (
    DEFAULT_CONCURRENT_WRITES,
    DEFAULT_MAX_PRICE_CHANGE_FACTOR,
    DEFAULT_PROVIDER_DEADLINE_SECONDS,
    parse_price_change_factor,
)
from catalog_pipeline.storage.database import create_catalog_engine, ensure_schema
from catalog_pipeline.storage.writer import DEFAULT_SNAPSHOT_RETENTION, CatalogWriter


class ProviderApiResource(dg.ConfigurableResource):
    """HTTP access to every provider's list-models endpoint.

    Provider keys (``<SLUG>_API_KEY``) and extra ids are read from the run's process
    environment when a request is made and are never part of the resource's config,
    so they cannot show up in the UI, in run config or in event logs.
    """

    replay_url: str | None = None
    timeout_seconds: float = 30.0
    max_attempts: int = 4
    max_retry_wait_seconds: float = 30.0
    max_concurrent_fetches: int = 8
    deadline_seconds: int = Field(
        default=DEFAULT_PROVIDER_DEADLINE_SECONDS,
        description="Wall-clock budget of one provider's fetch, retries and waits included (CATALOG_PROVIDER_DEADLINE_S).",
    )
    max_response_mb: int | None = Field(
        default=None,
        description="Largest decompressed response from any provider, in MiB (CATALOG_MAX_RESPONSE_MB); "
        f"unset: the provider's own limit, else {DEFAULT_MAX_RESPONSE_MB}.",
    )

    def missing_variables(self, spec: ProviderSpec) -> list[str]:
        """Variables a live sync of `spec` still needs (none in replay mode), without building an HTTP client."""
        return missing_variables(spec, os.environ, self.replay_url or None)

    def http_engine(self) -> CatalogHttpEngine:
        return CatalogHttpEngine(
            environment=os.environ,
            replay_url=self.replay_url,
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            max_retry_wait_seconds=self.max_retry_wait_seconds,
            deadline_seconds=self.deadline_seconds,
            max_response_mb=self.max_response_mb,
        )


class CatalogDatabaseResource(dg.ConfigurableResource):
    """The catalog database (SQLite file or PostgreSQL), at a SQLAlchemy URL, and the writer's limits."""

    url: str
    snapshot_retention: int = Field(
        default=DEFAULT_SNAPSHOT_RETENTION,
        description="Raw snapshots kept per provider (CATALOG_SNAPSHOT_RETENTION); a new one is stored only when "
        "the live list changed, and the one the stored models were written from is always kept.",
    )
    max_price_change_factor: str = Field(
        default=str(DEFAULT_MAX_PRICE_CHANGE_FACTOR),
        description="A price moving by more than this factor (up or down) in one sync is held for review "
        "(CATALOG_MAX_PRICE_CHANGE_FACTOR, a number above 1).",
    )
    concurrent_writes: int = Field(
        default=DEFAULT_CONCURRENT_WRITES,
        description="Providers a sync writes at the same time on PostgreSQL, each in its own transaction "
        "(CATALOG_CONCURRENT_WRITES); SQLite has one writer and always writes one provider at a time.",
    )
    _engine: Engine | None = PrivateAttr(default=None)
    _writer: CatalogWriter | None = PrivateAttr(default=None)

    @property
    def engine(self) -> Engine:
        """The engine, with the schema brought to the latest migration on first use."""
        if self._engine is None:
            engine = create_catalog_engine(self.url)
            ensure_schema(engine)
            self._engine = engine
        return self._engine

    @property
    def price_change_factor(self) -> Decimal:
        return parse_price_change_factor(self.max_price_change_factor)

    @property
    def writer(self) -> CatalogWriter:
        if self._writer is None:
            self._writer = CatalogWriter(self.engine, snapshot_retention=max(1, self.snapshot_retention))
        return self._writer


class LifecycleSettingsResource(dg.ConfigurableResource):
    """How far ahead the deprecation check looks (``CATALOG_DEPRECATION_WARN_DAYS``)."""

    deprecation_warn_days: int = 30


class ParitySettingsResource(dg.ConfigurableResource):
    """Gaps (missing + stale models) above which parity turns `warning` and `out_of_sync`."""

    warn_threshold: int = 100
    error_threshold: int = 1000

    @property
    def thresholds(self) -> ParityThresholds:
        return ParityThresholds(warn=self.warn_threshold, error=self.error_threshold)
