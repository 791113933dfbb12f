"""Asset checks beside the reconciliation's parity checks: freshness and data quality of `models`,
and parity against a model gateway when one is configured.

Each check queries the catalog database and reports its numbers as metadata, so a
failed check (and the alert it raises) says how much is wrong and where.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from catalog_pipeline import settings
from catalog_pipeline.defs.assets import CATALOG_RECONCILIATION, MODELS, by_provider_table
from catalog_pipeline.defs.resources import (
    CatalogDatabaseResource,
    LifecycleSettingsResource,
    ParitySettingsResource,
    ProviderApiResource,
)
from catalog_pipeline.defs.sync_settings import SyncScheduleResource
from catalog_pipeline.gateway import GATEWAY_SOURCE, GatewayResource
from catalog_pipeline.masking import mask_secrets
from catalog_pipeline.providers.normalize import PriceState
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider
from catalog_pipeline.reconciliation import (
    HEALTHY,
    OUT_OF_SYNC,
    SKIPPED,
    UNKNOWN,
    WARNING,
    build_report,
    record_report,
)
from catalog_pipeline.reconciliation import stored_state as read_stored_state
from catalog_pipeline.storage import schema

FRESHNESS_CHECK = "models_freshness"
UNIQUE_IDS_CHECK = "models_unique_provider_model_id"
VALID_PRICES_CHECK = "models_valid_prices"
REQUIRED_FIELDS_CHECK = "models_required_fields"
GATEWAY_PARITY_CHECK = "gateway_parity"
DEPRECATION_CHECK = "models_deprecation_upcoming"
PRICE_STATES = (PriceState.KNOWN, PriceState.FREE, PriceState.VARIABLE, PriceState.UNKNOWN)
EXAMPLES = 10


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 1)


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _providers_text(counts: Counter) -> str:
    return ", ".join(f"{slug} ({count})" for slug, count in sorted(counts.items())) or "none"


def _examples(lines: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md("\n".join(f"- `{line}`" for line in lines[:EXAMPLES]) or "_none_")


_INTERVAL_HOURS = settings.env_int(settings.SYNC_INTERVAL_HOURS, settings.DEFAULT_SYNC_INTERVAL_HOURS)


def models_freshness(
    provider_api: ProviderApiResource, catalog_database: CatalogDatabaseResource, sync_schedule: SyncScheduleResource
) -> dg.AssetCheckResult:
    """The `models_freshness` check alone, outside a run (`models_checks` evaluates it in runs)."""
    return _models_freshness(provider_api=provider_api, catalog_database=catalog_database, sync_schedule=sync_schedule)


def _models_freshness(
    provider_api: ProviderApiResource, catalog_database: CatalogDatabaseResource, sync_schedule: SyncScheduleResource
) -> dg.AssetCheckResult:
    """The evaluation of `models_freshness`: undecorated, so mutation testing reaches it."""
    unconfigured = [
        slug for slug in sync_schedule.selected_providers() if provider_api.missing_variables(get_provider(slug))
    ]
    checked = [slug for slug in sync_schedule.selected_providers() if slug not in unconfigured]
    stored = read_stored_state(catalog_database.engine)
    window_seconds = 2 * sync_schedule.interval_hours * 3600
    now = datetime.now(UTC)
    ages: dict[str, float | None] = {}
    for slug in checked:
        last = stored[slug].last_success_at if slug in stored else None
        ages[slug] = None if last is None else (now - _as_utc(last)).total_seconds()
    stale = {slug: age for slug, age in ages.items() if age is None or age > window_seconds}
    known_ages = [age for age in ages.values() if age is not None]
    return dg.AssetCheckResult(
        check_name=FRESHNESS_CHECK,
        asset_key=MODELS,
        passed=not stale,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "providers_checked": len(checked),
            "stale_count": len(stale),
            "stale_providers": ", ".join(
                f"{slug} ({'never' if age is None else f'{_hours(age)} h'})" for slug, age in stale.items()
            )
            or "none",
            **({"oldest_success_age_hours": _hours(max(known_ages))} if known_ages else {}),
            "not_configured": ", ".join(unconfigured) or "none",
        },
    )


def models_unique_provider_model_id(catalog_database: CatalogDatabaseResource) -> dg.AssetCheckResult:
    """The `models_unique_provider_model_id` check alone, outside a run (`models_checks` evaluates it in runs)."""
    return _models_unique_provider_model_id(catalog_database=catalog_database)


def _models_unique_provider_model_id(catalog_database: CatalogDatabaseResource) -> dg.AssetCheckResult:
    """The evaluation of `models_unique_provider_model_id`: undecorated, so mutation testing reaches it."""
    models, providers = schema.models, schema.providers
    rows_per_id = sa.func.count(models.c.id)
    with catalog_database.engine.connect() as connection:
        total = connection.execute(sa.select(sa.func.count(models.c.id))).scalar_one()
        duplicates = connection.execute(
            sa.select(providers.c.slug, models.c.provider_model_id, rows_per_id.label("rows"))
            .join(providers, providers.c.id == models.c.provider_id)
            .group_by(providers.c.slug, models.c.provider_model_id)
            .having(rows_per_id > 1)
            .order_by(providers.c.slug, models.c.provider_model_id)
        ).all()
    return dg.AssetCheckResult(
        check_name=UNIQUE_IDS_CHECK,
        asset_key=MODELS,
        passed=not duplicates,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "models_checked": total,
            "duplicated_ids": len(duplicates),
            "extra_rows": sum(row.rows - 1 for row in duplicates),
            "providers_affected": _providers_text(Counter(row.slug for row in duplicates)),
            "examples": _examples([f"{row.slug}/{row.provider_model_id} x{row.rows}" for row in duplicates]),
        },
    )


def models_valid_prices(catalog_database: CatalogDatabaseResource) -> dg.AssetCheckResult:
    """The `models_valid_prices` check alone, outside a run (`models_checks` evaluates it in runs)."""
    return _models_valid_prices(catalog_database=catalog_database)


def _models_valid_prices(catalog_database: CatalogDatabaseResource) -> dg.AssetCheckResult:
    """The evaluation of `models_valid_prices`: undecorated, so mutation testing reaches it."""
    models, providers, pricing = schema.models, schema.providers, schema.model_pricing
    negative_model_price = sa.or_(models.c.input_price_per_million < 0, models.c.output_price_per_million < 0)
    problems = {
        "negative": pricing.c.amount < 0,
        "amount_missing": sa.and_(pricing.c.amount.is_(None), pricing.c.state.in_([PriceState.KNOWN, PriceState.FREE])),
        "invalid_state": pricing.c.state.not_in(PRICE_STATES),
    }
    with catalog_database.engine.connect() as connection:
        checked = connection.execute(
            sa.select(sa.func.count())
            .select_from(pricing.join(models, models.c.id == pricing.c.model_id))
            .where(models.c.is_active)
        ).scalar_one()
        # one scan for every problem: a row carries a flag per problem it has
        rows = connection.execute(
            sa.select(
                providers.c.slug,
                models.c.provider_model_id,
                pricing.c.price_type,
                pricing.c.amount,
                pricing.c.state,
                *(condition.label(name) for name, condition in problems.items()),
            )
            .join(models, models.c.id == pricing.c.model_id)
            .join(providers, providers.c.id == models.c.provider_id)
            .where(models.c.is_active, sa.or_(*problems.values()))
            .order_by(providers.c.slug, models.c.provider_model_id, pricing.c.price_type)
        ).all()
        found: dict[str, list] = {name: [row for row in rows if getattr(row, name)] for name in problems}
        negative_columns = connection.execute(
            sa.select(
                providers.c.slug,
                models.c.provider_model_id,
                models.c.input_price_per_million,
                models.c.output_price_per_million,
            )
            .join(providers, providers.c.id == models.c.provider_id)
            .where(models.c.is_active, negative_model_price)
            .order_by(providers.c.slug, models.c.provider_model_id)
        ).all()
    bad = [row for rows in found.values() for row in rows]
    affected = {(row.slug, row.provider_model_id) for row in [*bad, *negative_columns]}
    return dg.AssetCheckResult(
        check_name=VALID_PRICES_CHECK,
        asset_key=MODELS,
        passed=not bad and not negative_columns,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "prices_checked": checked,
            "negative_prices": len(found["negative"]),
            "negative_model_columns": len(negative_columns),
            "missing_amount_not_marked_unknown": len(found["amount_missing"]),
            "invalid_price_state": len(found["invalid_state"]),
            "providers_affected": _providers_text(Counter(slug for slug, _ in affected)),
            "examples": _examples(
                [f"{r.slug}/{r.provider_model_id} {r.price_type}={r.amount} ({r.state})" for r in bad]
                + [
                    f"{r.slug}/{r.provider_model_id} input={r.input_price_per_million} "
                    f"output={r.output_price_per_million}"
                    for r in negative_columns
                ]
            ),
        },
    )


def models_required_fields(catalog_database: CatalogDatabaseResource) -> dg.AssetCheckResult:
    """The `models_required_fields` check alone, outside a run (`models_checks` evaluates it in runs)."""
    return _models_required_fields(catalog_database=catalog_database)


def _models_required_fields(catalog_database: CatalogDatabaseResource) -> dg.AssetCheckResult:
    """The evaluation of `models_required_fields`: undecorated, so mutation testing reaches it."""
    models, providers = schema.models, schema.providers

    def blank(column: sa.ColumnElement) -> sa.ColumnElement[bool]:
        return sa.or_(column.is_(None), sa.func.trim(column) == "")

    problems = {
        "provider_model_id": blank(models.c.provider_model_id),
        "canonical_slug": blank(models.c.canonical_slug),
        "price_status": sa.or_(models.c.price_status.is_(None), models.c.price_status.not_in(PRICE_STATES)),
    }
    with catalog_database.engine.connect() as connection:
        checked = connection.execute(sa.select(sa.func.count(models.c.id)).where(models.c.is_active)).scalar_one()
        rows = connection.execute(  # one scan for every field: a row carries a flag per field it misses
            sa.select(
                providers.c.slug,
                models.c.id,
                models.c.provider_model_id,
                *(condition.label(f"missing_{name}") for name, condition in problems.items()),
            )
            .join(providers, providers.c.id == models.c.provider_id)
            .where(models.c.is_active, sa.or_(*problems.values()))
            .order_by(providers.c.slug, models.c.id)
        ).all()
        found: dict[str, list] = {name: [row for row in rows if getattr(row, f"missing_{name}")] for name in problems}
    bad = [(field_name, row) for field_name, rows in found.items() for row in rows]
    return dg.AssetCheckResult(
        check_name=REQUIRED_FIELDS_CHECK,
        asset_key=MODELS,
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "models_checked": checked,
            **{f"missing_{field_name}": len(rows) for field_name, rows in found.items()},
            "providers_affected": _providers_text(Counter(slug for slug, _ in {(row.slug, row.id) for _, row in bad})),
            "examples": _examples([f"{row.slug} models.id={row.id} {field_name} missing" for field_name, row in bad]),
        },
    )


@dg.asset_check(
    asset=CATALOG_RECONCILIATION,
    name=GATEWAY_PARITY_CHECK,
    description=(
        "Parity between what the gateway at CATALOG_GATEWAY_MODELS_URL serves per provider and the catalog "
        "database, per provider and in total (missing + stale against CATALOG_PARITY_WARN_THRESHOLD and "
        "CATALOG_PARITY_ERROR_THRESHOLD: WARN, ERROR); recorded in catalog_reconciliation_history with source "
        "'gateway'."
    ),
)
def gateway_parity(
    context: dg.AssetCheckExecutionContext,
    catalog_gateway: GatewayResource,
    provider_api: ProviderApiResource,
    catalog_database: CatalogDatabaseResource,
    parity_settings: ParitySettingsResource,
) -> dg.AssetCheckResult:
    return _gateway_parity(
        context=context,
        catalog_gateway=catalog_gateway,
        provider_api=provider_api,
        catalog_database=catalog_database,
        parity_settings=parity_settings,
    )


def _gateway_parity(
    context: dg.AssetCheckExecutionContext,
    catalog_gateway: GatewayResource,
    provider_api: ProviderApiResource,
    catalog_database: CatalogDatabaseResource,
    parity_settings: ParitySettingsResource,
) -> dg.AssetCheckResult:
    """The evaluation of `gateway_parity`: undecorated, so mutation testing reaches it."""
    if not catalog_gateway.configured:
        return dg.AssetCheckResult(passed=True, description="No gateway configured (CATALOG_GATEWAY_MODELS_URL).")
    missing = {slug: provider_api.missing_variables(get_provider(slug)) for slug in PROVIDER_SLUGS}
    skipped = {slug: f"not configured: set {', '.join(names)}" for slug, names in missing.items() if names}
    counts = catalog_gateway.fetch_counts([slug for slug in PROVIDER_SLUGS if slug not in skipped])
    report = build_report(
        PROVIDER_SLUGS,
        counts.live,
        read_stored_state(catalog_database.engine),
        parity_settings.thresholds,
        skipped=skipped,
        errors=counts.errors,
    )
    record_report(catalog_database.engine, report, context.run.run_id, source=GATEWAY_SOURCE)
    by_status = {
        status: "; ".join(
            p.slug if p.missing is None else f"{p.slug}: {p.missing} missing, {p.stale} stale"
            for p in report.providers
            if p.status == status
        )
        or "none"
        for status in (OUT_OF_SYNC, WARNING, UNKNOWN, SKIPPED)
    }
    return dg.AssetCheckResult(
        passed=report.status == HEALTHY,
        severity=dg.AssetCheckSeverity.ERROR if report.status == OUT_OF_SYNC else dg.AssetCheckSeverity.WARN,
        metadata={
            "status": report.status,
            "parity_pct": report.parity_pct,
            "gateway_models": report.live_models,
            "db_active_models": report.db_active_models,
            "rejected_models": report.rejected_models,
            "missing": report.missing,
            "stale": report.stale,
            "gap": report.unexplained,
            "providers_out_of_sync": by_status[OUT_OF_SYNC],
            "providers_warning": by_status[WARNING],
            "providers_unreachable": by_status[UNKNOWN],
            "providers_skipped": by_status[SKIPPED],
            "by_provider": by_provider_table(report),
        },
    )


def _now() -> datetime:
    return datetime.now(UTC)


_DEPRECATION_COLUMNS = dg.TableSchema(
    columns=[
        dg.TableColumn("provider", "string"),
        dg.TableColumn("model", "string"),
        dg.TableColumn("deprecation_date", "string", description="when the provider stops serving it (UTC)"),
        dg.TableColumn("days_left", "int", description="negative: past its date and still listed"),
        dg.TableColumn("provider_status", "string"),
    ]
)


def models_deprecation_upcoming(
    catalog_database: CatalogDatabaseResource, lifecycle_settings: LifecycleSettingsResource
) -> dg.AssetCheckResult:
    """The `models_deprecation_upcoming` check alone, outside a run (`models_checks` evaluates it in runs)."""
    return _models_deprecation_upcoming(catalog_database=catalog_database, lifecycle_settings=lifecycle_settings)


def _models_deprecation_upcoming(
    catalog_database: CatalogDatabaseResource, lifecycle_settings: LifecycleSettingsResource
) -> dg.AssetCheckResult:
    """The evaluation of `models_deprecation_upcoming`: undecorated, so mutation testing reaches it."""
    models, providers = schema.models, schema.providers
    now = _now()
    horizon = now + timedelta(days=lifecycle_settings.deprecation_warn_days)
    with catalog_database.engine.connect() as connection:
        rows = connection.execute(
            sa.select(providers.c.slug, models.c.provider_model_id, models.c.deprecation_date, models.c.provider_status)
            .join(providers, providers.c.id == models.c.provider_id)
            .where(models.c.is_active, models.c.deprecation_date.is_not(None), models.c.deprecation_date <= horizon)
            .order_by(models.c.deprecation_date, providers.c.slug, models.c.provider_model_id)
        ).all()
        scheduled = connection.execute(
            sa.select(sa.func.count(models.c.id)).where(models.c.is_active, models.c.deprecation_date.is_not(None))
        ).scalar_one()
    records = [
        dg.TableRecord(
            {
                "provider": row.slug,
                "model": row.provider_model_id,
                "deprecation_date": _as_utc(row.deprecation_date).date().isoformat(),
                "days_left": (_as_utc(row.deprecation_date) - now).days,
                "provider_status": row.provider_status or "",
            }
        )
        for row in rows
    ]
    overdue = sum(1 for record in records if record.data["days_left"] < 0)
    return dg.AssetCheckResult(
        check_name=DEPRECATION_CHECK,
        asset_key=MODELS,
        passed=not records,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(records)} active model(s) reach their deprecation date within "
            f"{lifecycle_settings.deprecation_warn_days} days ({overdue} already past)"
            if records
            else None
        ),
        metadata={
            "models_due": len(records),
            "models_past_date": overdue,
            "models_with_deprecation_date": scheduled,
            "providers_affected": _providers_text(Counter(row.slug for row in rows)),
            "models": dg.MetadataValue.table(records[:200], schema=_DEPRECATION_COLUMNS),
        },
    )


MODELS_CHECK_SPECS = [
    dg.AssetCheckSpec(
        FRESHNESS_CHECK,
        asset=MODELS,
        description=(
            f"ERROR when a configured provider that scheduled syncs cover (PRICING_SYNC_PROVIDERS) had no successful "
            f"sync within {2 * _INTERVAL_HOURS} h: twice PRICING_SYNC_INTERVAL_HOURS ({_INTERVAL_HOURS}). Names the "
            "providers and their ages."
        ),
    ),
    dg.AssetCheckSpec(
        UNIQUE_IDS_CHECK,
        asset=MODELS,
        description="ERROR when any (provider, provider_model_id) pair is stored twice (threshold: 0 duplicates).",
    ),
    dg.AssetCheckSpec(
        VALID_PRICES_CHECK,
        asset=MODELS,
        description=(
            "ERROR on any active model's price that is negative, or a 'known' or 'free' price without an amount "
            "(a missing amount must be 'unknown' or 'variable'). Threshold: 0 such prices."
        ),
    ),
    dg.AssetCheckSpec(
        REQUIRED_FIELDS_CHECK,
        asset=MODELS,
        description=(
            "ERROR on any active model with a blank provider_model_id or canonical_slug, or a price_status that is "
            "not known, free, variable or unknown. Threshold: 0 such models."
        ),
    ),
    dg.AssetCheckSpec(
        DEPRECATION_CHECK,
        asset=MODELS,
        description=(
            "Warns about active models whose provider-announced deprecation date (OpenAI shutdown_date, Fireworks "
            "deprecationDate, OpenRouter expiration_date, ...) falls within CATALOG_DEPRECATION_WARN_DAYS "
            "(default 30) days, or has passed while the model is still listed; lists them, soonest first."
        ),
    ),
]


@dg.multi_asset_check(
    name="models_checks",
    specs=MODELS_CHECK_SPECS,
    can_subset=True,
    description="Every check on models in one step (each one can run alone): freshness, data quality, deprecations.",
)
def models_checks(
    context: dg.AssetCheckExecutionContext,
    provider_api: ProviderApiResource,
    catalog_database: CatalogDatabaseResource,
    sync_schedule: SyncScheduleResource,
    lifecycle_settings: LifecycleSettingsResource,
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks on `models`, one after the other in one step: the run looks up the checked
    materialization once for all of them instead of once per check step. A check that raises does not
    keep the others from reporting; the step then fails naming it."""
    evaluations: dict[str, Callable[[], dg.AssetCheckResult]] = {
        FRESHNESS_CHECK: lambda: _models_freshness(provider_api, catalog_database, sync_schedule),
        UNIQUE_IDS_CHECK: lambda: _models_unique_provider_model_id(catalog_database),
        VALID_PRICES_CHECK: lambda: _models_valid_prices(catalog_database),
        REQUIRED_FIELDS_CHECK: lambda: _models_required_fields(catalog_database),
        DEPRECATION_CHECK: lambda: _models_deprecation_upcoming(catalog_database, lifecycle_settings),
    }
    failed = []
    for name, evaluate in evaluations.items():
        if dg.AssetCheckKey(MODELS, name) not in context.selected_asset_check_keys:
            continue
        try:
            result = evaluate()
        except Exception as error:  # reported below, after the other checks
            context.log.error(mask_secrets(f"{name} could not be evaluated: {error!r}"))
            failed.append(f"{name}: {error!r}")
            continue
        yield result
    if failed:
        raise dg.Failure(description=mask_secrets("check(s) on models could not be evaluated: " + "; ".join(failed)))


MODELS_CHECKS = [models_checks]
