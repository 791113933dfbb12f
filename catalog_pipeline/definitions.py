"""The code location: every asset, check, job, schedule, sensor and resource, bound to the environment."""

from __future__ import annotations

import os

import dagster as dg

from catalog_pipeline import settings
from catalog_pipeline.defs.assets import catalog_reconciliation, sync_provider_catalogs
from catalog_pipeline.defs.jobs import catalog_sync_job, reconciliation_job
from catalog_pipeline.defs.resources import CatalogDatabaseResource, ParitySettingsResource, ProviderApiResource
from catalog_pipeline.storage.database import default_database_url


def _optional(name: str, default: object) -> object:
    """`dg.EnvVar(name)` when the variable is set (resolved at run time, hidden in the UI), else `default`."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _optional_int(name: str, default: int) -> object:
    return dg.EnvVar.int(name) if os.environ.get(name) else default


def build_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "provider_api": ProviderApiResource(replay_url=_optional(settings.REPLAY_URL, None)),
        "catalog_database": CatalogDatabaseResource(
            url=_optional(settings.DATABASE_URL, default_database_url(os.environ.get("DAGSTER_HOME")))
        ),
        "parity_settings": ParitySettingsResource(
            warn_threshold=_optional_int(settings.PARITY_WARN, settings.DEFAULT_WARN_THRESHOLD),
            error_threshold=_optional_int(settings.PARITY_ERROR, settings.DEFAULT_ERROR_THRESHOLD),
        ),
    }


defs = dg.Definitions(
    assets=[sync_provider_catalogs, catalog_reconciliation],
    jobs=[catalog_sync_job, reconciliation_job],
    resources=build_resources(),
)
