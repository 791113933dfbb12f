"""The catalog assets: live provider catalogs, the `models` table and their reconciliation."""

from collections import Counter
from collections.abc import Iterator, Sequence

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

from catalog_pipeline import settings
from catalog_pipeline.defs.partitions import PROVIDER_PARTITIONS
from catalog_pipeline.defs.resources import CatalogDatabaseResource, ParitySettingsResource, ProviderApiResource
from catalog_pipeline.masking import mask_secrets
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.reconciliation import (
    HEALTHY,
    OUT_OF_SYNC,
    SKIPPED,
    UNKNOWN,
    WARNING,
    ParityReport,
    ParityThresholds,
    ProviderParity,
    build_report,
    compare_model_ids,
    record_report,
    stored_state,
)
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.queries import open_held_changes
from catalog_pipeline.storage.writer import CHANGED
from catalog_pipeline.sync import (
    BLOCKED,
    FAILED,
    SUCCESS,
    ProviderOutcome,
    SyncOptions,
    fetch_live_counts,
    summary_line,
    sync_providers,
)

PROVIDER_CATALOG = dg.AssetKey("provider_catalog")
MODELS = dg.AssetKey("models")
CATALOG_RECONCILIATION = dg.AssetKey("catalog_reconciliation")
GROUP = "catalog"
CATALOG_DATABASE_POOL = "catalog_database"
# The UI lists an asset's checks by name: the two totals, which name every provider in trouble,
# sort before the 32 per-provider checks.
TOTAL_PARITY_CHECK = "all_providers_parity"
UNEXPLAINED_GAP_CHECK = "all_providers_unexplained_gap"
MASS_DEACTIVATION_CHECK = "mass_deactivation_guard"
OWNERS = ["team:catalog"]
PAYLOAD_DRIFT_CHECK = "payload_drift"
HELD_CHANGES_CHECK = "held_changes"
ACCEPT_HELD_CHANGES = (
    "run config ops.sync_provider_catalogs.config.accept_held_changes: true "
    "(catalog-pipeline sync --provider SLUG --accept-held-changes)"
)


def provider_parity_check_name(slug: str) -> str:
    return "parity_" + slug.replace("-", "_")


def models_column_schema() -> dg.TableSchema:
    """The `models` table's columns, read from the SQLAlchemy schema the migrations follow."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=str(column.type).lower(),
                description=column.comment,
                constraints=dg.TableColumnConstraints(nullable=bool(column.nullable), unique=bool(column.primary_key)),
            )
            for column in schema.models.columns
        ]
    )


class ProviderSyncConfig(dg.Config):
    """Run options for syncing provider partitions."""

    skip_unconfigured: bool = Field(
        default=False,
        description="Report providers without a key as skipped instead of failing them (scheduled syncs do).",
    )
    allow_mass_deactivation: bool = Field(
        default=False,
        description="Accept a live list that shrank beyond max_deactivation_share (a real shrink, checked by a person).",
    )
    max_deactivation_share: float = Field(
        default=0.5, description="Largest share of a provider's active models one sync may deactivate."
    )
    accept_held_changes: bool = Field(
        default=False,
        description="Apply the price and context-length changes the writer would hold for review "
        "(beyond CATALOG_MAX_PRICE_CHANGE_FACTOR, to or from zero, a context shrinking by more than half).",
    )


class ReconciliationConfig(dg.Config):
    """Run options for the reconciliation."""

    not_refetched: dict[str, str] = Field(
        default_factory=dict,
        description="Providers whose live list is not fetched again, with the reason: `catalog-pipeline sync` "
        "names those that just failed their deadline, so the reconciliation does not wait for them twice.",
    )


MASS_DEACTIVATION_DESCRIPTION = (
    "Blocking. Fails when the run held a provider back: its live list was empty, or would deactivate more "
    "than max_deactivation_share (default 0.5) of its stored active models; nothing of that provider is "
    "written. Override for a real shrink: run config ops.sync_provider_catalogs.config.allow_mass_deactivation: "
    "true (catalog-pipeline sync --provider SLUG --allow-mass-deactivation)."
)


@dg.multi_asset(
    name="sync_provider_catalogs",
    specs=[
        dg.AssetSpec(
            PROVIDER_CATALOG,
            description=(
                "The provider's live list-models response: fetched over HTTP (retries on 429/5xx, all pages), "
                "checked to be a list, and kept as a raw snapshot in the catalog database. One partition per "
                "provider. Materialized together with models: one click syncs a provider end to end."
            ),
            group_name=GROUP,
            kinds={"python", "api"},
            owners=OWNERS,
            partitions_def=PROVIDER_PARTITIONS,
            skippable=True,
        ),
        dg.AssetSpec(
            MODELS,
            description=(
                "Normalized models of one provider in the catalog database: upserted in one transaction, "
                "unchanged rows left alone, vanished models marked is_active = false (never deleted), "
                "unreadable entries recorded in rejected_models with a reason. dagster/partition_row_count is "
                "the provider's active models after the write, dagster/row_count those of every provider."
            ),
            deps=[PROVIDER_CATALOG],
            group_name=GROUP,
            kinds={"python", "sql"},
            owners=OWNERS,
            partitions_def=PROVIDER_PARTITIONS,
            skippable=True,
            metadata={"dagster/table_name": "models", "dagster/column_schema": models_column_schema()},
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            PAYLOAD_DRIFT_CHECK,
            asset=PROVIDER_CATALOG,
            description=(
                "WARN when a provider's live entries carry fields its spec neither reads nor ignores on purpose "
                "(a provider started publishing something we would drop), or a field the spec reads is gone from "
                "every entry (threshold: any such field). One row per field: provider, endpoint, field, entries "
                "carrying it, a sample, first seen."
            ),
        ),
        dg.AssetCheckSpec(
            HELD_CHANGES_CHECK,
            asset=MODELS,
            description=(
                "WARN while changes are held for review: a stored model's input or output price moving by more "
                "than CATALOG_MAX_PRICE_CHANGE_FACTOR, a price going to or from zero, or a context length shrinking "
                "by more than half is not written (the model keeps its stored values). Lists each with old and new "
                "value; apply them with accept_held_changes: true."
            ),
        ),
        dg.AssetCheckSpec(
            MASS_DEACTIVATION_CHECK, asset=MODELS, blocking=True, description=MASS_DEACTIVATION_DESCRIPTION
        ),
    ],
    partitions_def=PROVIDER_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # provider_catalog and models are one sync: selecting either (or one partition of either) runs both
    can_subset=False,
    pool=CATALOG_DATABASE_POOL,
)
def sync_provider_catalogs(
    context: dg.AssetExecutionContext,
    config: ProviderSyncConfig,
    provider_api: ProviderApiResource,
    catalog_database: CatalogDatabaseResource,
) -> Iterator[dg.AssetMaterialization | dg.MaterializeResult | dg.AssetCheckResult]:
    """Sync every provider partition of this run in one process: fetches run concurrently,
    each provider is written in its own transaction and materialized on its own, and a
    failing provider fails alone (the run fails at the end, naming it).

    When every provider of the run landed, the step emits its outputs (one materialization
    per partition, with that provider's numbers), so the checks on `models` run right after
    it in the same run. Otherwise only the providers that landed are materialized, and the
    monitor run the after-sync sensor starts evaluates the checks.
    """
    options = SyncOptions(
        skip_unconfigured=config.skip_unconfigured,
        max_deactivation_share=config.max_deactivation_share,
        allow_mass_deactivation=config.allow_mass_deactivation,
        max_price_change_factor=catalog_database.price_change_factor,
        accept_held_changes=config.accept_held_changes,
        max_workers=provider_api.max_concurrent_fetches,
        concurrent_writes=catalog_database.concurrent_writes,
    )
    http = provider_api.http_engine()
    outcomes: list[ProviderOutcome] = []
    try:
        for outcome in sync_providers(context.partition_keys, http, catalog_database.writer, options, context.run_id):
            outcomes.append(outcome)
            if outcome.unchanged:
                continue  # one line for all of them below: each log line is a stored event
            log = context.log.info if outcome.status == SUCCESS else context.log.warning
            if outcome.status in (FAILED, BLOCKED):
                log = context.log.error
            log(outcome.progress_line())
    finally:
        http.close()
    order = {key: index for index, key in enumerate(context.partition_keys)}
    unchanged = sorted((outcome for outcome in outcomes if outcome.unchanged), key=lambda o: order[o.provider])
    if unchanged:
        context.log.info(
            f"{len(unchanged)} provider(s) unchanged since their last sync (nothing normalized or written): "
            + ", ".join(
                f"{outcome.provider} {outcome.counts.fetched if outcome.counts else 0}" for outcome in unchanged
            )
        )
    context.log.info(summary_line(outcomes))
    table_rows = _active_models(catalog_database)

    if all(outcome.status == SUCCESS for outcome in outcomes):
        for outcome in outcomes:
            for asset_key, metadata in _provider_metadata(outcome, table_rows).items():
                context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=outcome.provider)
        yield dg.MaterializeResult(asset_key=PROVIDER_CATALOG)
        yield dg.MaterializeResult(asset_key=MODELS)
    else:
        for outcome in outcomes:
            for asset_key, metadata in _provider_metadata(outcome, table_rows).items():
                yield dg.AssetMaterialization(asset_key=asset_key, partition=outcome.provider, metadata=metadata)

    if dg.AssetCheckKey(PROVIDER_CATALOG, PAYLOAD_DRIFT_CHECK) in context.selected_asset_check_keys:
        yield _payload_drift_result([o for o in outcomes if o.fetched is not None], catalog_database)
    if dg.AssetCheckKey(MODELS, HELD_CHANGES_CHECK) in context.selected_asset_check_keys:
        yield _held_changes_result(catalog_database, options)
    failures = [o for o in outcomes if o.status == FAILED]
    blocked = [o for o in outcomes if o.status == BLOCKED]
    if dg.AssetCheckKey(MODELS, MASS_DEACTIVATION_CHECK) in context.selected_asset_check_keys:
        # Blocking: a failed result fails this step after the other providers have landed.
        yield _mass_deactivation_result(blocked, options)
    else:
        failures.extend(blocked)
    if failures:
        raise dg.Failure(
            description=mask_secrets(
                f"{len(failures)} provider(s) failed; the others were synced: "
                + "; ".join(f"{f.error}" for f in failures)
            ),
            metadata={"failed_providers": ", ".join(f.provider for f in failures)},
        )


def _active_models(catalog_database: CatalogDatabaseResource) -> int:
    models = schema.models
    with catalog_database.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count(models.c.id)).where(models.c.is_active)).scalar_one()


def _provider_metadata(outcome: ProviderOutcome, table_rows: int) -> dict[dg.AssetKey, dict]:
    """The numbers one provider's partitions carry: its snapshot once fetched, its models once written."""
    fetched, catalog, counts = outcome.fetched, outcome.catalog, outcome.counts
    # an unchanged list is not normalized (catalog None): its numbers are the stored ones, in `counts`
    if outcome.status not in (SUCCESS, BLOCKED) or fetched is None or (catalog is None and counts is None):
        return {}
    change = counts.catalog_change if counts else CHANGED
    metadata: dict[dg.AssetKey, dict] = {
        PROVIDER_CATALOG: {
            "live_count": counts.fetched if counts else fetched.count,
            # changed, or why the list was taken as the stored one: not_modified (HTTP 304), same_payload (digest)
            "catalog_change": change,
            "catalog_unchanged": change != CHANGED,
            "pages": fetched.pages,
            "bytes": fetched.bytes,
            "latency_ms": float(fetched.latency_ms),
            "http_status": fetched.http_status,
            "attempts": fetched.attempts,
            "endpoint": fetched.endpoint,
            **({"url": dg.MetadataValue.url(fetched.url)} if fetched.url.startswith("http") else {}),
        }
    }
    if outcome.status == SUCCESS and outcome.counts:
        counts = outcome.counts
        metadata[MODELS] = {
            "dagster/row_count": table_rows,
            "dagster/partition_row_count": catalog.model_count if catalog is not None else counts.unchanged,
            "fetched": counts.fetched,
            "inserted": counts.inserted,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "deactivated": counts.deactivated,
            "rejected": counts.rejected,
            "rows_written": counts.rows_written,
            "price_changes": len(counts.price_changes),
            "held": counts.models_held,
            "held_changes": ", ".join(change.describe() for change in counts.held[:20]) or "none",
            **(
                {"accepted_changes": ", ".join(change.describe() for change in counts.accepted[:20])}
                if counts.accepted
                else {}
            ),
            "rejection_reasons": dg.MetadataValue.json(
                dict(Counter(r.reason for r in catalog.rejections)) if catalog is not None else counts.rejection_reasons
            ),
            "catalog_change": change,
            "catalog_unchanged": change != CHANGED,
            # seconds of this provider's write, by stage (normalizing happens while writing, page by page)
            **{f"{stage}_seconds": round(seconds, 4) for stage, seconds in counts.seconds.items()},
            "preview": dg.MetadataValue.md(
                _preview(catalog.preview) if catalog is not None else "_unchanged: the stored models are this list_"
            ),
            "largest_price_changes": dg.MetadataValue.md(_price_change_preview(counts)),
        }
    return metadata


_DRIFT_COLUMNS = dg.TableSchema(
    columns=[
        dg.TableColumn("provider", "string"),
        dg.TableColumn("endpoint", "string"),
        dg.TableColumn("field", "string"),
        dg.TableColumn("status", "string", description="unknown: neither read nor ignored; vanished: read, now absent"),
        dg.TableColumn("entries", "int", description="live entries carrying the field"),
        dg.TableColumn("sample", "string"),
        dg.TableColumn("first_seen", "string"),
    ]
)


_HELD_COLUMNS = dg.TableSchema(
    columns=[
        dg.TableColumn("provider", "string"),
        dg.TableColumn("model", "string"),
        dg.TableColumn("field", "string", description="input_price, output_price or context_length"),
        dg.TableColumn("rule", "string", description="price_factor, price_to_zero, price_from_zero, context_shrink"),
        dg.TableColumn("stored", "string", description="the value the model keeps"),
        dg.TableColumn("listed", "string", description="the value the provider lists now"),
        dg.TableColumn("held_since", "string"),
        dg.TableColumn("run_id", "string", description="the sync that last held it"),
    ]
)


def _held_changes_result(catalog_database: CatalogDatabaseResource, options: SyncOptions) -> dg.AssetCheckResult:
    """Every change held for review in the catalog (not only this run's providers)."""
    held = open_held_changes(catalog_database.engine)
    by_provider = Counter(row["provider"] for row in held)
    return dg.AssetCheckResult(
        check_name=HELD_CHANGES_CHECK,
        asset_key=MODELS,
        passed=not held,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(held)} change(s) held for review; the models keep their stored values. "
            f"Apply with {ACCEPT_HELD_CHANGES}."
            if held
            else None
        ),
        metadata={
            "held_changes": len(held),
            "providers_with_held_changes": ", ".join(f"{slug} ({n})" for slug, n in sorted(by_provider.items()))
            or "none",
            "max_price_change_factor": float(options.max_price_change_factor),
            "changes": dg.MetadataValue.table(
                [
                    dg.TableRecord(
                        {
                            "provider": row["provider"],
                            "model": row["provider_model_id"],
                            "field": row["field"],
                            "rule": row["rule"],
                            "stored": _plain_value(row["old_value"], row["unit"]),
                            "listed": _plain_value(row["new_value"], row["unit"]),
                            "held_since": _iso_text(row["first_held_at"]),
                            "run_id": row["dagster_run_id"] or "",
                        }
                    )
                    for row in held[:200]
                ],
                schema=_HELD_COLUMNS,
            ),
            "accept": ACCEPT_HELD_CHANGES,
        },
    )


def _plain_value(value, unit: str | None) -> str:  # type: ignore[no-untyped-def]
    if value is None:
        return "unknown"
    text = format(value.normalize(), "f") if hasattr(value, "normalize") else str(value)
    return f"{text} {unit}" if unit else text


def _iso_text(value) -> str:  # type: ignore[no-untyped-def]
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "")


def _payload_drift_result(outcomes: list[ProviderOutcome], catalog_database: CatalogDatabaseResource):
    rows = []
    for outcome in sorted(outcomes, key=lambda o: o.provider):
        if not outcome.drift or outcome.fetched is None:
            continue
        first_seen = catalog_database.writer.field_first_seen(outcome.provider, outcome.fetched.endpoint)
        for observation in outcome.drift:
            seen = first_seen.get(observation.path)
            rows.append(
                dg.TableRecord(
                    {
                        "provider": outcome.provider,
                        "endpoint": outcome.fetched.endpoint,
                        "field": observation.path,
                        "status": observation.status,
                        "entries": observation.entries,
                        "sample": observation.sample or "",
                        "first_seen": seen.isoformat(timespec="seconds") if seen else "",
                    }
                )
            )
    providers = sorted({row.data["provider"] for row in rows})
    summary = "; ".join(
        f"{slug}: " + ", ".join(f"{r.data['field']} ({r.data['status']})" for r in rows if r.data["provider"] == slug)
        for slug in providers
    )
    return dg.AssetCheckResult(
        check_name=PAYLOAD_DRIFT_CHECK,
        asset_key=PROVIDER_CATALOG,
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        description=summary or None,
        metadata={
            "providers_checked": len(outcomes),
            "providers_with_drift": len(providers),
            "fields": dg.MetadataValue.table(rows, schema=_DRIFT_COLUMNS),
        },
    )


def _mass_deactivation_result(blocked: list[ProviderOutcome], options: SyncOptions) -> dg.AssetCheckResult:
    numbers = {}
    for outcome in blocked:
        assert outcome.counts is not None and outcome.catalog is not None
        stored_active, would_deactivate = outcome.counts.active_before or 0, outcome.counts.would_deactivate or 0
        numbers[outcome.provider] = {
            "stored_active": stored_active,
            "live": outcome.catalog.model_count,
            "would_deactivate": would_deactivate,
            "share": round(would_deactivate / stored_active, 4) if stored_active else 1.0,
        }
    limit = (
        "allow_mass_deactivation: true"
        if options.allow_mass_deactivation
        else f"max_deactivation_share {options.max_deactivation_share:g}"
    )
    return dg.AssetCheckResult(
        check_name=MASS_DEACTIVATION_CHECK,
        asset_key=MODELS,
        passed=not blocked,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(o.error or "" for o in blocked) if blocked else f"No provider blocked ({limit}).",
        metadata={
            "providers_blocked": len(blocked),
            "blocked_providers": ", ".join(
                f"{slug} ({n['would_deactivate']} of {n['stored_active']} active, live {n['live']})"
                for slug, n in numbers.items()
            )
            or "none",
            "numbers": dg.MetadataValue.json(numbers),
        },
    )


def _preview(models: list) -> str:
    if not models:
        return "_no models_"
    frame = pd.DataFrame(
        [
            {
                "provider_model_id": m.provider_model_id,
                "canonical_slug": m.canonical_slug,
                "context_length": m.context_length,
                "input $/M": m.input_price.amount if m.input_price else None,
                "output $/M": m.output_price.amount if m.output_price else None,
            }
            for m in models
        ]
    )
    return frame.to_markdown(index=False)


def _price_change_preview(counts) -> str:  # type: ignore[no-untyped-def]
    if not counts.price_changes:
        return "_no price changes_"
    largest = sorted(counts.price_changes, key=lambda c: c.magnitude, reverse=True)[:10]
    frame = pd.DataFrame(
        [
            {"model": c.provider_model_id, "price": c.price_type, "old": c.old_amount, "new": c.new_amount}
            for c in largest
        ]
    )
    return frame.to_markdown(index=False)


def _provider_check_description(slug: str, thresholds: ParityThresholds) -> str:
    return (
        f"{slug}: live list against stored active and rejected models, by id. missing = listed, not stored; "
        f"stale = stored active, no longer listed; gap = missing + stale. WARN when the gap is above "
        f"{thresholds.warn}, ERROR above {thresholds.error} or when nothing matches (parity 0%)."
    )


def build_catalog_reconciliation(thresholds: ParityThresholds) -> dg.AssetsDefinition:
    """The reconciliation asset with its checks; `thresholds` (CATALOG_PARITY_*) go into the check
    descriptions, so the UI says what each check compares against."""

    @dg.asset(
        key=CATALOG_RECONCILIATION,
        deps=[MODELS],
        group_name=GROUP,
        kinds={"python", "sql"},
        owners=OWNERS,
        description=(
            "Parity between live provider catalogs and the catalog database, per provider and in total: "
            "fresh live ids against stored active and rejected models, in both directions (missing: listed, "
            "not stored; stale: stored, no longer listed). by_provider is the table per provider; history in "
            "catalog_reconciliation_history. Unconfigured providers are listed as skipped and left out of totals."
        ),
        metadata={"parity_warn_threshold": thresholds.warn, "parity_error_threshold": thresholds.error},
        check_specs=[
            dg.AssetCheckSpec(
                TOTAL_PARITY_CHECK,
                asset=CATALOG_RECONCILIATION,
                description=(
                    "All counted providers together, and the worst of them: WARN when the total gap (missing + "
                    f"stale) is above {thresholds.warn} or a provider warns or cannot be counted, ERROR above "
                    f"{thresholds.error} or when a provider is out of sync. Names the providers."
                ),
            ),
            dg.AssetCheckSpec(
                UNEXPLAINED_GAP_CHECK,
                asset=CATALOG_RECONCILIATION,
                description=(
                    "ERROR on any gap at all: every live model is stored active or rejected with a reason, and "
                    "every stored active model is still listed (live = stored + rejected + missing - stale with "
                    "missing = stale = 0)."
                ),
            ),
            *[
                dg.AssetCheckSpec(
                    provider_parity_check_name(slug),
                    asset=CATALOG_RECONCILIATION,
                    description=_provider_check_description(slug, thresholds),
                )
                for slug in PROVIDER_SLUGS
            ],
        ],
    )
    def catalog_reconciliation(
        context: dg.AssetExecutionContext,
        config: ReconciliationConfig,
        provider_api: ProviderApiResource,
        catalog_database: CatalogDatabaseResource,
        parity_settings: ParitySettingsResource,
    ) -> dg.MaterializeResult:
        http = provider_api.http_engine()
        try:
            counts = fetch_live_counts(
                PROVIDER_SLUGS,
                http,
                provider_api.max_concurrent_fetches,
                not_refetched=config.not_refetched,
                writer=catalog_database.writer,
            )
        finally:
            http.close()
        report = build_report(
            PROVIDER_SLUGS,
            counts.live,
            stored_state(catalog_database.engine),
            parity_settings.thresholds,
            skipped=counts.skipped,
            errors=counts.errors,
        )
        compare_model_ids(catalog_database.engine, report, counts.model_ids)
        record_report(catalog_database.engine, report, context.run_id)
        for line in report.providers:
            context.log.info(_report_line(line))
        context.log.info(
            f"total: {report.status}, live {report.live_models}, stored {report.db_active_models}, missing "
            f"{report.missing}, stale {report.stale}, parity {report.parity_pct}%"
        )
        not_refetched = ", ".join(f"{slug} ({mask_secrets(why)})" for slug, why in config.not_refetched.items())
        return dg.MaterializeResult(
            metadata={**report_metadata(report), "providers_not_refetched": not_refetched or "none"},
            check_results=[_total_check(report), _gap_check(report), *_provider_checks(report)],
        )

    return catalog_reconciliation


def _report_line(p: ProviderParity) -> str:
    if p.live is None:
        return f"{p.slug}: {p.status} ({p.detail})"
    return (
        f"{p.slug}: {p.status}, live {p.live}, stored {p.db_active}, rejected {p.rejected}, missing {p.missing}, "
        f"stale {p.stale}, parity {p.parity_pct}%"
    )


BY_PROVIDER_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("provider", "string"),
        dg.TableColumn("live", "int", description="models the provider lists now (empty: not counted)"),
        dg.TableColumn("stored", "int", description="active rows in models"),
        dg.TableColumn("rejected", "int", description="listed entries recorded in rejected_models"),
        dg.TableColumn("missing", "int", description="listed, not stored nor rejected"),
        dg.TableColumn("stale", "int", description="stored active, no longer listed"),
        dg.TableColumn("parity %", "float", description="100 only when the id sets are equal"),
        dg.TableColumn("status", "string", description="healthy, warning, out_of_sync, unknown or skipped"),
        dg.TableColumn("last sync", "string", description="start of the last sync and its outcome"),
        dg.TableColumn("last error", "string", description="the last sync's or this count's error"),
    ]
)

_STATUS_ORDER = {OUT_OF_SYNC: 0, UNKNOWN: 1, WARNING: 2, HEALTHY: 3, SKIPPED: 4}


def by_provider_table(report: ParityReport) -> dg.TableMetadataValue:
    """One row per provider, those out of sync first."""
    rows = sorted(report.providers, key=lambda p: (_STATUS_ORDER.get(p.status, 9), -p.gap, p.slug))
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "provider": p.slug,
                    "live": p.live,
                    "stored": p.db_active,
                    "rejected": p.rejected,
                    "missing": p.missing,
                    "stale": p.stale,
                    "parity %": p.parity_pct,
                    "status": p.status,
                    "last sync": f"{p.last_sync_at} ({p.last_sync_status})" if p.last_sync_status else "never",
                    "last error": (p.detail or p.last_sync_error or "")[:300],
                }
            )
            for p in rows
        ],
        schema=BY_PROVIDER_SCHEMA,
    )


def _names(providers: Sequence[ProviderParity]) -> str:
    return ", ".join(p.slug for p in providers) or "none"


def report_metadata(report: ParityReport) -> dict:
    by_status = {status: [p for p in report.providers if p.status == status] for status in _STATUS_ORDER}
    return {
        "status": report.status,
        "parity_pct": report.parity_pct,
        "live_models": report.live_models,
        "db_active_models": report.db_active_models,
        "rejected_models": report.rejected_models,
        "missing": report.missing,
        "stale": report.stale,
        "gap": report.unexplained,
        "providers_out_of_sync": _names(by_status[OUT_OF_SYNC]),
        "providers_warning": _names(by_status[WARNING]),
        "providers_skipped": _names(by_status[SKIPPED]),
        "providers_unreachable": _names(by_status[UNKNOWN]),
        "by_provider": by_provider_table(report),
    }


def _severity(status: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if status == OUT_OF_SYNC else dg.AssetCheckSeverity.WARN


def _total_check(report: ParityReport) -> dg.AssetCheckResult:
    troubled = [p for p in report.providers if p.status in (OUT_OF_SYNC, WARNING, UNKNOWN)]
    return dg.AssetCheckResult(
        check_name=TOTAL_PARITY_CHECK,
        passed=report.status == HEALTHY,
        severity=_severity(report.status),
        metadata={
            "status": report.status,
            "parity_pct": report.parity_pct,
            "live_models": report.live_models,
            "db_active_models": report.db_active_models,
            "rejected_models": report.rejected_models,
            "missing": report.missing,
            "stale": report.stale,
            "gap": report.unexplained,
            "providers_not_healthy": ", ".join(f"{p.slug} ({p.status})" for p in troubled) or "none",
        },
    )


def _gap_text(p: ProviderParity) -> str:
    return f"{p.slug}: {p.missing} missing, {p.stale} stale"


def _gap_check(report: ParityReport) -> dg.AssetCheckResult:
    gaps = [_gap_text(p) for p in sorted(report.counted, key=lambda p: (-p.gap, p.slug)) if p.gap]
    return dg.AssetCheckResult(
        check_name=UNEXPLAINED_GAP_CHECK,
        passed=not gaps,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "unexplained_models": report.unexplained,
            "missing": report.missing,
            "stale": report.stale,
            "providers_with_gap": "; ".join(gaps) or "none",
        },
    )


def _provider_checks(report: ParityReport) -> list[dg.AssetCheckResult]:
    results = []
    for p in report.providers:
        counted = p.live is not None and p.missing is not None
        results.append(
            dg.AssetCheckResult(
                check_name=provider_parity_check_name(p.slug),
                passed=p.status in (HEALTHY, SKIPPED),
                severity=_severity(p.status),
                # numbers only when counted: a key is left out, never filled with text
                metadata={
                    "provider": p.slug,
                    "status": p.status,
                    "db_active": p.db_active,
                    "rejected": p.rejected,
                    **(
                        {
                            "live": p.live,
                            "missing": p.missing,
                            "stale": p.stale or 0,
                            "gap": p.gap,
                            "parity_pct": p.parity_pct,
                        }
                        if counted
                        else {}
                    ),
                    **({"detail": p.detail} if p.detail else {}),
                    # which models, when there is a gap: live but not stored, stored but no longer live
                    **({"missing_sample": ", ".join(p.missing_sample)} if p.missing_sample else {}),
                    **({"stale_sample": ", ".join(p.stale_sample)} if p.stale_sample else {}),
                },
            )
        )
    return results


catalog_reconciliation = build_catalog_reconciliation(
    ParityThresholds(
        warn=settings.env_int(settings.PARITY_WARN, settings.DEFAULT_WARN_THRESHOLD),
        error=settings.env_int(settings.PARITY_ERROR, settings.DEFAULT_ERROR_THRESHOLD),
    )
)
