"""Environment variable names and defaults, in one place (see DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from catalog_pipeline.masking import SECRET_URL_VARIABLES, mask_secrets

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
PRICE_ALERT_PCT = "CATALOG_ALERT_PRICE_CHANGE_PCT"
API_BASE_URL = "CATALOG_API_BASE_URL"
API_CORS_ORIGINS = "CATALOG_API_CORS_ORIGINS"
DEPRECATION_WARN_DAYS = "CATALOG_DEPRECATION_WARN_DAYS"
SNAPSHOT_RETENTION = "CATALOG_SNAPSHOT_RETENTION"
CONCURRENT_WRITES = "CATALOG_CONCURRENT_WRITES"
DEFAULT_CONCURRENT_WRITES = 2
# Dagster's own: a run's planned and per-partition materialization events are stored in batches of up to
# this many (0: one by one). deploy/ sets it for every Dagster process; `catalog-pipeline sync` and
# `make demo`/`make dev` (scripts/replay-env.sh) default to it.
EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_EVENT_BATCH_SIZE = 100
DEFAULT_DEPRECATION_WARN_DAYS = 30
# Limits (README: "Failure behaviour").
MAX_RESPONSE_MB = "CATALOG_MAX_RESPONSE_MB"
PROVIDER_DEADLINE = "CATALOG_PROVIDER_DEADLINE_S"
MAX_PRICE_CHANGE_FACTOR = "CATALOG_MAX_PRICE_CHANGE_FACTOR"
DEFAULT_PROVIDER_DEADLINE_SECONDS = 90
DEFAULT_MAX_PRICE_CHANGE_FACTOR = Decimal(10)


class ConfigurationError(ValueError):
    """A variable or argument the pipeline cannot work with; the message names it, says why, and hides secrets."""


#: Whole-number variables and the smallest value each accepts.
WHOLE_NUMBERS = {
    PARITY_WARN: 0,
    PARITY_ERROR: 0,
    SYNC_INTERVAL_HOURS: 1,
    REMEDIATION_COOLDOWN_MINUTES: 0,
    MAX_RESPONSE_MB: 1,
    PROVIDER_DEADLINE: 1,
    DEPRECATION_WARN_DAYS: 0,
    SNAPSHOT_RETENTION: 1,
    CONCURRENT_WRITES: 1,
    EVENT_BATCH_SIZE: 0,
}
#: Variables that must be an http(s) URL when set.
HTTP_URLS = (REPLAY_URL, GATEWAY_MODELS_URL, UI_BASE_URL, RESEND_API_URL, SLACK_WEBHOOK_URL)
FLAGS = (SYNC_ENABLED,)
#: Sync intervals that divide a day, so scheduled syncs run at the same hours every day.
SYNC_INTERVALS = (1, 2, 3, 4, 6, 8, 12, 24)


def env_int(name: str, default: int, environment: Mapping[str, str] = os.environ) -> int:
    """A whole-number variable (at least its `WHOLE_NUMBERS` minimum), or `default` when unset."""
    raw = environment.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    minimum = WHOLE_NUMBERS.get(name)
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def max_price_change_factor(environment: Mapping[str, str] = os.environ) -> Decimal:
    """``CATALOG_MAX_PRICE_CHANGE_FACTOR``: a number above 1 (a price may move up to this factor either way)."""
    return parse_price_change_factor(environment.get(MAX_PRICE_CHANGE_FACTOR, "").strip() or None)


def parse_price_change_factor(raw: str | None) -> Decimal:
    if raw is None or raw == "":
        return DEFAULT_MAX_PRICE_CHANGE_FACTOR
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigurationError(f"{MAX_PRICE_CHANGE_FACTOR} must be a number above 1, got {raw!r}") from None
    if not value.is_finite() or value <= 1:
        raise ConfigurationError(f"{MAX_PRICE_CHANGE_FACTOR} must be a number above 1, got {raw!r}")
    return value


def check_http_url(name: str, raw: str, environment: Mapping[str, str] = os.environ) -> str | None:
    """Why `raw` is not a usable http(s) base URL for `name`, or None when it is (the value masked, or
    hidden altogether when the whole URL is a secret)."""
    shown = "(value hidden)" if name in SECRET_URL_VARIABLES else repr(mask_secrets(raw, environment))
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        return f"{name} is not a valid URL ({error}): {shown}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{name} must be an http:// or https:// URL with a host, got {shown}"
    if name == REPLAY_URL and (parts.query or parts.fragment):
        return f"{name} must not carry a query or fragment (requests go to {{URL}}/<slug>/<path>), got {shown}"
    return None


def environment_problems(environment: Mapping[str, str] = os.environ) -> list[str]:
    """Every variable of `environment` the pipeline reads that holds a value it cannot use."""
    problems: list[str] = []
    for name in WHOLE_NUMBERS:
        try:
            env_int(name, 0, environment)
        except ConfigurationError as error:
            problems.append(str(error))
    for name in FLAGS:
        try:
            env_flag(name, True, environment)
        except ValueError as error:
            problems.append(str(error))
    try:
        max_price_change_factor(environment)
    except ConfigurationError as error:
        problems.append(str(error))
    warn, error = environment.get(PARITY_WARN, "").strip(), environment.get(PARITY_ERROR, "").strip()
    if not problems and warn and error and int(warn) > int(error):
        problems.append(f"{PARITY_WARN} ({warn}) must not be above {PARITY_ERROR} ({error})")
    hours = environment.get(SYNC_INTERVAL_HOURS, "").strip()
    if hours.isdigit() and int(hours) not in SYNC_INTERVALS:
        problems.append(
            f"{SYNC_INTERVAL_HOURS} must divide a day ({', '.join(map(str, SYNC_INTERVALS))}), got {int(hours)}"
        )
    from catalog_pipeline.providers.registry import PROVIDER_SLUGS

    named = [slug.strip() for slug in environment.get(SYNC_PROVIDERS, "").split(",") if slug.strip()]
    unknown = sorted(set(named) - set(PROVIDER_SLUGS))
    if unknown:
        problems.append(f"{SYNC_PROVIDERS} names unknown provider(s) {', '.join(unknown)}")
    for name in HTTP_URLS:
        raw = environment.get(name, "").strip()
        problem = check_http_url(name, raw, environment) if raw else None
        if problem:
            problems.append(problem)
    return problems


def env_flag(name: str, default: bool, environment: Mapping[str, str] = os.environ) -> bool:
    raw = environment.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")
