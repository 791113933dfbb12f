"""The code location: every asset, check, job, schedule, sensor and resource, bound to the environment."""

from __future__ import annotations

import os

import dagster as dg

from catalog_pipeline import settings
from catalog_pipeline.alerts import AlertChannelsResource
from catalog_pipeline.defs.assets import catalog_reconciliation, sync_provider_catalogs
from catalog_pipeline.defs.checks import MODELS_CHECKS, gateway_parity
from catalog_pipeline.defs.jobs import catalog_sync_job, reconciliation_job
from catalog_pipeline.defs.resources import (
    CatalogDatabaseResource,
    LifecycleSettingsResource,
    ParitySettingsResource,
    ProviderApiResource,
)
from catalog_pipeline.defs.schedules import build_sync_schedule, catalog_monitor_job, catalog_monitor_schedule
from catalog_pipeline.defs.sensors import DriftRemediationResource, build_drift_remediation_sensor, catalog_alert_sensor
from catalog_pipeline.defs.sync_settings import SyncScheduleResource, parse_provider_selection
from catalog_pipeline.gateway import GatewayResource
from catalog_pipeline.storage.database import default_database_url
from catalog_pipeline.storage.writer import DEFAULT_SNAPSHOT_RETENTION


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


def build_schedules() -> list[dg.ScheduleDefinition]:
    """The sync schedule (cadence and initial on/off from PRICING_SYNC_*) and the hourly monitor."""
    parse_provider_selection(os.environ.get(settings.SYNC_PROVIDERS))  # an unknown slug fails at load, not at 3 am
    interval = settings.env_int(settings.SYNC_INTERVAL_HOURS, settings.DEFAULT_SYNC_INTERVAL_HOURS)
    enabled = settings.env_flag(settings.SYNC_ENABLED, True)
    return [build_sync_schedule(interval, enabled), catalog_monitor_schedule]


def build_sensors() -> list[dg.SensorDefinition]:
    """Alerts always start running; drift remediation launches syncs, so PRICING_SYNC_ENABLED decides."""
    return [catalog_alert_sensor, build_drift_remediation_sensor(settings.env_flag(settings.SYNC_ENABLED, True))]


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
    assets=[sync_provider_catalogs, catalog_reconciliation],
    asset_checks=build_asset_checks(),
    jobs=[catalog_sync_job, reconciliation_job, catalog_monitor_job],
    schedules=build_schedules(),
    sensors=build_sensors(),
    resources=build_resources(),
)
