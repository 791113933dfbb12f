"""Helpers that run the real assets in process against a replay server and a database."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import sqlalchemy as sa

from catalog_pipeline.defs.assets import catalog_reconciliation, sync_provider_catalogs
from catalog_pipeline.defs.resources import (
    CatalogDatabaseResource,
    LifecycleSettingsResource,
    ParitySettingsResource,
    ProviderApiResource,
)
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine


def resources(database_url: str, replay_url: str, warn: int = 100, error: int = 1000) -> dict:
    return {
        "provider_api": ProviderApiResource(replay_url=replay_url, max_retry_wait_seconds=0.2, max_attempts=3),
        "catalog_database": CatalogDatabaseResource(url=database_url),
        "parity_settings": ParitySettingsResource(warn_threshold=warn, error_threshold=error),
        "lifecycle_settings": LifecycleSettingsResource(),
    }


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def sync(
    database_url: str,
    replay_url: str,
    slugs: Sequence[str] = PROVIDER_SLUGS,
    instance: dg.DagsterInstance | None = None,
    selection: Sequence[dg.AssetKey] | dg.AssetSelection | None = None,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize provider_catalog and models over the range first..last of `slugs`, in one run."""
    ordered = sorted(slugs, key=PROVIDER_SLUGS.index)
    instance = instance or dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [sync_provider_catalogs],
        selection=selection,
        resources=resources(database_url, replay_url),
        instance=instance,
        tags=partition_range_tags(ordered[0], ordered[-1]),
        run_config=run_config or {},
        raise_on_error=False,
    )
    return _keep_instance_alive(result, instance)


def _keep_instance_alive(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    # The result holds its instance by weak reference; an instance made here would be
    # collected before the caller reads the result's events.
    result.instance_for_test = instance  # type: ignore[attr-defined]
    return result


def reconcile(
    database_url: str, replay_url: str, instance: dg.DagsterInstance | None = None, **thresholds: int
) -> dg.ExecuteInProcessResult:
    instance = instance or dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [catalog_reconciliation],
        resources=resources(database_url, replay_url, **thresholds),
        instance=instance,
        raise_on_error=False,
    )
    return _keep_instance_alive(result, instance)


def model_rows(database_url: str, slug: str) -> list[dict]:
    """Every stored row of `slug`'s models, ordered, for exact before/after comparisons."""
    engine = create_catalog_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(schema.models)
            .join(schema.providers, schema.providers.c.id == schema.models.c.provider_id)
            .where(schema.providers.c.slug == slug)
            .order_by(schema.models.c.id)
        ).mappings()
        result = [dict(row) for row in rows]
    engine.dispose()
    return result


def sync_log(database_url: str) -> list[dict]:
    engine = create_catalog_engine(database_url)
    with engine.connect() as connection:
        rows = [
            dict(r)
            for r in connection.execute(
                sa.select(schema.pricing_sync_log).order_by(schema.pricing_sync_log.c.id)
            ).mappings()
        ]
    engine.dispose()
    return rows


def materializations(instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str) -> dict[str, dict]:
    """Partition -> metadata of the materializations `run_id` recorded for `key`."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1000).records
    result = {}
    for record in records:
        if record.run_id != run_id:
            continue
        materialization = record.asset_materialization
        result[materialization.partition] = {k: v.value for k, v in materialization.metadata.items()}
    return result
