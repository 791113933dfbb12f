"""Environment variable names and defaults, in one place (see DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping

DATABASE_URL = "CATALOG_DATABASE_URL"
REPLAY_URL = "CATALOG_REPLAY_URL"
PARITY_WARN = "CATALOG_PARITY_WARN_THRESHOLD"
PARITY_ERROR = "CATALOG_PARITY_ERROR_THRESHOLD"
SYNC_ENABLED = "PRICING_SYNC_ENABLED"
SYNC_INTERVAL_HOURS = "PRICING_SYNC_INTERVAL_HOURS"
SYNC_PROVIDERS = "PRICING_SYNC_PROVIDERS"
SYNC_CRON = "PRICING_SYNC_CRON"
DOCS_BASE_URL = "CATALOG_DOCS_BASE_URL"
DEFAULT_WARN_THRESHOLD = 100
DEFAULT_ERROR_THRESHOLD = 1000
DEFAULT_SYNC_INTERVAL_HOURS = 6
# Alerts and automation (README: "Alerts and automation").
SLACK_WEBHOOK_URL = "SLACK_WEBHOOK_URL"
RESEND_API_KEY = "RESEND_API_KEY"
RESEND_API_URL = "RESEND_API_URL"
ALERT_EMAIL = "ALERT_EMAIL"
ALERT_FROM_EMAIL = "ALERT_FROM_EMAIL"
UI_BASE_URL = "CATALOG_UI_BASE_URL"
REMEDIATION_COOLDOWN_MINUTES = "CATALOG_REMEDIATION_COOLDOWN_MINUTES"
GATEWAY_MODELS_URL = "CATALOG_GATEWAY_MODELS_URL"
DEPRECATION_WARN_DAYS = "CATALOG_DEPRECATION_WARN_DAYS"
DEFAULT_DEPRECATION_WARN_DAYS = 30


def env_int(name: str, default: int, environment: Mapping[str, str] = os.environ) -> int:
    raw = environment.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def env_flag(name: str, default: bool, environment: Mapping[str, str] = os.environ) -> bool:
    raw = environment.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")
