"""The code location: every asset, check, job, schedule, sensor and resource, bound to the environment."""

from __future__ import annotations

import os
import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg

from catalog_pipeline import settings
from catalog_pipeline.alerts import AlertChannelsResource
from catalog_pipeline.defs.assets import MODELS, build_catalog_reconciliation, sync_provider_catalogs
from catalog_pipeline.defs.checks import MODELS_CHECKS, gateway_parity
from catalog_pipeline.defs.jobs import catalog_sync_job, reconciliation_job
from catalog_pipeline.defs.resources import (
    CatalogDatabaseResource,
    LifecycleSettingsResource,
    ParitySettingsResource,
    ProviderApiResource,
)
from catalog_pipeline.defs.schedules import build_sync_schedule, catalog_monitor_job, catalog_monitor_schedule
from catalog_pipeline.defs.sensors import (
    DriftRemediationResource,
    build_drift_remediation_sensor,
    catalog_alert_sensor,
    catalog_monitor_after_sync_sensor,
)
from catalog_pipeline.defs.sync_settings import SyncScheduleResource, parse_provider_selection
from catalog_pipeline.gateway import GatewayResource
from catalog_pipeline.reconciliation import ParityThresholds
from catalog_pipeline.storage.database import default_database_url
from catalog_pipeline.storage.writer import DEFAULT_SNAPSHOT_RETENTION

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: README sections that explain each asset: shown beside the code link in the UI
DOCS = {
    "provider_catalog": "Data flow",
    "models": "Production storage",
    "catalog_reconciliation": "Alerts and automation",
}


def _optional(name: str, default: object) -> object:
    """`dg.EnvVar(name)` when the variable is set (resolved at run time, hidden in the UI), else `default`."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _optional_int(name: str, default: int | None) -> object:
    return dg.EnvVar.int(name) if os.environ.get(name) else default


def build_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "provider_api": ProviderApiResource(
            replay_url=_optional(settings.REPLAY_URL, None),
            deadline_seconds=_optional_int(settings.PROVIDER_DEADLINE, settings.DEFAULT_PROVIDER_DEADLINE_SECONDS),
            max_response_mb=_optional_int(settings.MAX_RESPONSE_MB, None),
        ),
        "catalog_database": CatalogDatabaseResource(
            url=_optional(settings.DATABASE_URL, default_database_url(os.environ.get("DAGSTER_HOME"))),
            snapshot_retention=_optional_int(settings.SNAPSHOT_RETENTION, DEFAULT_SNAPSHOT_RETENTION),
            concurrent_writes=_optional_int(settings.CONCURRENT_WRITES, settings.DEFAULT_CONCURRENT_WRITES),
            max_price_change_factor=_optional(
                settings.MAX_PRICE_CHANGE_FACTOR, str(settings.DEFAULT_MAX_PRICE_CHANGE_FACTOR)
            ),
        ),
        "parity_settings": ParitySettingsResource(
            warn_threshold=_optional_int(settings.PARITY_WARN, settings.DEFAULT_WARN_THRESHOLD),
            error_threshold=_optional_int(settings.PARITY_ERROR, settings.DEFAULT_ERROR_THRESHOLD),
        ),
        "sync_schedule": SyncScheduleResource(
            interval_hours=_optional_int(settings.SYNC_INTERVAL_HOURS, settings.DEFAULT_SYNC_INTERVAL_HOURS),
            providers=_optional(settings.SYNC_PROVIDERS, ""),
        ),
        "drift_remediation": DriftRemediationResource(
            cooldown_minutes=_optional_int(settings.REMEDIATION_COOLDOWN_MINUTES, 120)
        ),
        "alert_channels": AlertChannelsResource(
            slack_webhook_url=_optional(settings.SLACK_WEBHOOK_URL, None),
            resend_api_key=_optional(settings.RESEND_API_KEY, None),
            alert_email=_optional(settings.ALERT_EMAIL, None),
            alert_from_email=_optional(settings.ALERT_FROM_EMAIL, None),
            resend_api_url=_optional(settings.RESEND_API_URL, "https://api.resend.com"),
            ui_base_url=_optional(settings.UI_BASE_URL, "http://127.0.0.1:3000"),
            price_change_alert_pct=_optional(settings.PRICE_ALERT_PCT, None),
            api_base_url=_optional(settings.API_BASE_URL, "http://127.0.0.1:8000"),
        ),
        "lifecycle_settings": LifecycleSettingsResource(
            deprecation_warn_days=_optional_int(settings.DEPRECATION_WARN_DAYS, settings.DEFAULT_DEPRECATION_WARN_DAYS)
        ),
        "catalog_gateway": GatewayResource(models_url=_optional(settings.GATEWAY_MODELS_URL, None)),
    }


def _interval_hours() -> int:
    return settings.env_int(settings.SYNC_INTERVAL_HOURS, settings.DEFAULT_SYNC_INTERVAL_HOURS)


def build_schedules() -> list[dg.ScheduleDefinition]:
    """The sync schedule (cadence and initial on/off from PRICING_SYNC_*) and the hourly monitor."""
    parse_provider_selection(os.environ.get(settings.SYNC_PROVIDERS))  # an unknown slug fails at load, not at 3 am
    enabled = settings.env_flag(settings.SYNC_ENABLED, True)
    cron = os.environ.get(settings.SYNC_CRON, "").strip() or None
    return [build_sync_schedule(_interval_hours(), enabled, cron), catalog_monitor_schedule]


def build_sensors() -> list[dg.SensorDefinition]:
    """Alerts and the monitor after each sync always start running; drift remediation launches syncs,
    so PRICING_SYNC_ENABLED decides."""
    return [
        catalog_alert_sensor,
        catalog_monitor_after_sync_sensor,
        build_drift_remediation_sensor(settings.env_flag(settings.SYNC_ENABLED, True)),
    ]


def _docs_reference(asset_key: dg.AssetKey) -> dg.LocalFileCodeReference | dg.UrlCodeReference:
    """A link to the README section about the asset: on the web when CATALOG_DOCS_BASE_URL is set."""
    section = DOCS[asset_key.to_user_string()]
    base = os.environ.get(settings.DOCS_BASE_URL, "").rstrip("/")
    if base:
        anchor = section.lower().replace(" ", "-").replace(":", "")
        return dg.UrlCodeReference(url=f"{base}/README.md#{anchor}", label=f"README: {section}")
    readme = PROJECT_ROOT / "README.md"
    line = (
        next((n for n, text in enumerate(readme.read_text().splitlines(), 1) if text == f"## {section}"), 1)
        if readme.is_file()
        else 1
    )
    return dg.LocalFileCodeReference(file_path=str(readme), line_number=line, label=f"README: {section}")


def _for_the_ui(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Definition metadata bound to the environment: the docs link and, on models, the freshness policy."""
    references = dg.CodeReferencesMetadataValue(code_references=[_docs_reference(spec.key)])
    spec = spec.merge_attributes(metadata={"dagster/code_references": references})
    if spec.key == MODELS:
        interval = timedelta(hours=_interval_hours())
        # fails where models_freshness fails: no successful sync within twice the interval
        spec = spec.replace_attributes(freshness_policy=dg.FreshnessPolicy.time_window(2 * interval, interval))
    return spec


def build_assets() -> list[dg.AssetsDefinition]:
    thresholds = ParityThresholds(
        warn=settings.env_int(settings.PARITY_WARN, settings.DEFAULT_WARN_THRESHOLD),
        error=settings.env_int(settings.PARITY_ERROR, settings.DEFAULT_ERROR_THRESHOLD),
    )
    # Code references are a beta API chosen on purpose: its warning would open every CLI, daemon and
    # webserver output with a dozen lines a user can do nothing about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = dg.map_asset_specs(_for_the_ui, [sync_provider_catalogs, build_catalog_reconciliation(thresholds)])
        # the code link beside the docs link: the file and line of each asset's function
        return list(dg.with_source_code_references(assets))


def build_asset_checks() -> list[dg.AssetChecksDefinition]:
    """Checks on `models`; the gateway comparison only when CATALOG_GATEWAY_MODELS_URL is set."""
    return [*MODELS_CHECKS, *([gateway_parity] if os.environ.get(settings.GATEWAY_MODELS_URL) else [])]


def check_environment() -> None:
    """Refuse to load with a variable the pipeline cannot use, naming each one (shown in the UI as the load error)."""
    problems = settings.environment_problems(os.environ)
    if problems:
        raise settings.ConfigurationError("cannot load catalog_pipeline with these settings: " + "; ".join(problems))


check_environment()
defs = dg.Definitions(
    assets=build_assets(),
    asset_checks=build_asset_checks(),
    jobs=[catalog_sync_job, reconciliation_job, catalog_monitor_job],
    schedules=build_schedules(),
    sensors=build_sensors(),
    resources=build_resources(),
    # every run in one process, the UI's too: a sync is one step that fetches concurrently already
    executor=dg.in_process_executor,
)
