"""The catalog assets: live provider catalogs, the `models` table and their reconciliation."""

from collections import Counter
from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from catalog_pipeline.defs.partitions import PROVIDER_PARTITIONS
from catalog_pipeline.defs.resources import CatalogDatabaseResource, ParitySettingsResource, ProviderApiResource
from catalog_pipeline.masking import mask_secrets
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.reconciliation import (
    HEALTHY,
    OUT_OF_SYNC,
    SKIPPED,
    UNKNOWN,
    ParityReport,
    build_report,
    compare_model_ids,
    record_report,
    stored_state,
)
from catalog_pipeline.storage.queries import open_held_changes
from catalog_pipeline.storage.writer import CHANGED
from catalog_pipeline.sync import BLOCKED, SUCCESS, ProviderOutcome, SyncOptions, fetch_live_counts, sync_providers

PROVIDER_CATALOG = dg.AssetKey("provider_catalog")
MODELS = dg.AssetKey("models")
CATALOG_RECONCILIATION = dg.AssetKey("catalog_reconciliation")
GROUP = "catalog"
CATALOG_DATABASE_POOL = "catalog_database"
TOTAL_PARITY_CHECK = "total_parity"
UNEXPLAINED_GAP_CHECK = "unexplained_gap"
MASS_DEACTIVATION_CHECK = "mass_deactivation_guard"
PAYLOAD_DRIFT_CHECK = "payload_drift"
HELD_CHANGES_CHECK = "held_changes"
ACCEPT_HELD_CHANGES = (
    "run config ops.sync_provider_catalogs.config.accept_held_changes: true "
    "(catalog-pipeline sync --provider SLUG --accept-held-changes)"
)


def provider_parity_check_name(slug: str) -> str:
    return "parity_" + slug.replace("-", "_")


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


@dg.multi_asset(
    name="sync_provider_catalogs",
    specs=[
        dg.AssetSpec(
            PROVIDER_CATALOG,
            description=(
                "The provider's live list-models response: fetched over HTTP (retries on 429/5xx, all pages), "
                "checked to be a list, and kept as a raw snapshot in the catalog database. "
                "One partition per provider."
            ),
            group_name=GROUP,
            kinds={"python", "api"},
            partitions_def=PROVIDER_PARTITIONS,
            skippable=True,
        ),
        dg.AssetSpec(
            MODELS,
            description=(
                "Normalized models of one provider in the catalog database: upserted in one transaction, "
                "unchanged rows left alone, vanished models marked is_active = false (never deleted), "
                "unreadable entries recorded in rejected_models with a reason."
            ),
            deps=[PROVIDER_CATALOG],
            group_name=GROUP,
            kinds={"python", "sql"},
            partitions_def=PROVIDER_PARTITIONS,
            skippable=True,
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            PAYLOAD_DRIFT_CHECK,
            asset=PROVIDER_CATALOG,
            description=(
                "Warns when a provider's live entries carry fields its spec neither reads nor ignores on purpose "
                "(a provider started publishing something we would drop), or a field the spec reads is gone from "
                "every entry. One row per field: provider, endpoint, field, entries carrying it, a sample, first seen."
            ),
        ),
        dg.AssetCheckSpec(
            HELD_CHANGES_CHECK,
            asset=MODELS,
            description=(
                "Warns while changes are held for review: a stored model's input or output price moving by more "
                "than CATALOG_MAX_PRICE_CHANGE_FACTOR, a price going to or from zero, or a context length shrinking "
                "by more than half is not written (the model keeps its stored values). Lists each with old and new "
                "value; apply them with accept_held_changes: true."
            ),
        ),
        dg.AssetCheckSpec(
            MASS_DEACTIVATION_CHECK,
            asset=MODELS,
            blocking=True,
            description=(
                "No provider of the run was held back by the mass-deactivation guard: a live list that is empty, "
                "or would deactivate more than max_deactivation_share of the stored active models, writes "
                "nothing. Fails with the numbers; override with allow_mass_deactivation: true."
            ),
        ),
    ],
    partitions_def=PROVIDER_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
    pool=CATALOG_DATABASE_POOL,
)
def sync_provider_catalogs(
    context: dg.AssetExecutionContext,
    config: ProviderSyncConfig,
    provider_api: ProviderApiResource,
    catalog_database: CatalogDatabaseResource,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    """Sync every provider partition of this run in one process: fetches run concurrently,
    each provider is written in its own transaction and materialized on its own, and a
    failing provider fails alone (the run fails at the end, naming it)."""
    selected = context.selected_asset_keys
    options = SyncOptions(
        fetch_live=PROVIDER_CATALOG in selected,
        write_models=MODELS in selected,
        skip_unconfigured=config.skip_unconfigured,
        max_deactivation_share=config.max_deactivation_share,
        allow_mass_deactivation=config.allow_mass_deactivation,
        max_price_change_factor=catalog_database.price_change_factor,
        accept_held_changes=config.accept_held_changes,
        max_workers=provider_api.max_concurrent_fetches,
    )
    http = provider_api.http_engine()
    failures: list[ProviderOutcome] = []
    blocked: list[ProviderOutcome] = []
    fetched_outcomes: list[ProviderOutcome] = []
    try:
        for outcome in sync_providers(context.partition_keys, http, catalog_database.writer, options, context.run_id):
            if outcome.fetched is not None and options.fetch_live:
                fetched_outcomes.append(outcome)
            if outcome.status in (SUCCESS, BLOCKED):
                yield from _materializations(outcome, options)
            if outcome.status == SUCCESS:
                continue
            if outcome.status == BLOCKED:
                context.log.error(outcome.error)
                blocked.append(outcome)
            elif outcome.status == SKIPPED:
                context.log.warning(outcome.error)
            else:
                context.log.error(outcome.error)
                failures.append(outcome)
    finally:
        http.close()
    if dg.AssetCheckKey(PROVIDER_CATALOG, PAYLOAD_DRIFT_CHECK) in context.selected_asset_check_keys:
        yield _payload_drift_result(fetched_outcomes, catalog_database)
    if options.write_models and dg.AssetCheckKey(MODELS, HELD_CHANGES_CHECK) in context.selected_asset_check_keys:
        yield _held_changes_result(catalog_database, options)
    guard_check = dg.AssetCheckKey(MODELS, MASS_DEACTIVATION_CHECK)
    if guard_check in context.selected_asset_check_keys:
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


def _materializations(outcome: ProviderOutcome, options: SyncOptions) -> Iterator[dg.AssetMaterialization]:
    fetched, catalog, counts = outcome.fetched, outcome.catalog, outcome.counts
    assert fetched is not None
    change = counts.catalog_change if counts else CHANGED
    live_count = counts.fetched if counts else fetched.count
    if options.fetch_live:
        yield dg.AssetMaterialization(
            asset_key=PROVIDER_CATALOG,
            partition=outcome.provider,
            metadata={
                "live_count": live_count,
                # changed, or why the list was taken as the stored one: not_modified (HTTP 304), same_payload (digest)
                "catalog_change": change,
                "catalog_unchanged": change != CHANGED,
                "pages": fetched.pages,
                "bytes": fetched.bytes,
                "latency_ms": fetched.latency_ms,
                "http_status": fetched.http_status,
                "attempts": fetched.attempts,
                "endpoint": fetched.endpoint,
                "url": dg.MetadataValue.url(fetched.url) if fetched.url.startswith("http") else fetched.url,
            },
        )
    if options.write_models and outcome.status == SUCCESS and counts:
        reasons = Counter(r.reason for r in catalog.rejections) if catalog is not None else counts.rejection_reasons
        yield dg.AssetMaterialization(
            asset_key=MODELS,
            partition=outcome.provider,
            metadata={
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
                "rejection_reasons": dict(reasons) or "none",
                "catalog_change": change,
                "catalog_unchanged": change != CHANGED,
                # seconds of this provider's write, by stage (normalizing happens while writing, page by page)
                **{f"{stage}_seconds": round(seconds, 4) for stage, seconds in counts.seconds.items()},
                "preview": dg.MetadataValue.md(
                    _preview(catalog.preview) if catalog is not None else "_unchanged: the stored models are this list_"
                ),
                "largest_price_changes": dg.MetadataValue.md(_price_change_preview(counts)),
            },
        )


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
    return dg.AssetCheckResult(
        check_name=MASS_DEACTIVATION_CHECK,
        asset_key=MODELS,
        passed=not blocked,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(o.error or "" for o in blocked) or None,
        metadata={
            "providers_blocked": len(blocked),
            "blocked_providers": ", ".join(
                f"{slug} ({n['would_deactivate']} of {n['stored_active']} active, live {n['live']})"
                for slug, n in numbers.items()
            )
            or "none",
            "max_deactivation_share": options.max_deactivation_share,
            "allow_mass_deactivation": options.allow_mass_deactivation,
            "numbers": dg.MetadataValue.json(numbers),
            "override": "run config ops.sync_provider_catalogs.config.allow_mass_deactivation: true "
            "(catalog-pipeline sync --allow-mass-deactivation)",
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


@dg.asset(
    key=CATALOG_RECONCILIATION,
    deps=[MODELS],
    group_name=GROUP,
    kinds={"python", "sql"},
    description=(
        "Parity between live provider catalogs and the catalog database, per provider and in total: "
        "fresh live counts against stored active plus rejected models. History kept in "
        "catalog_reconciliation_history. Unconfigured providers are listed as skipped and left out of totals."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            TOTAL_PARITY_CHECK, asset=CATALOG_RECONCILIATION, description="Total missing models within thresholds."
        ),
        dg.AssetCheckSpec(
            UNEXPLAINED_GAP_CHECK,
            asset=CATALOG_RECONCILIATION,
            description="Every live model is stored active or rejected with a reason (live = stored + rejected).",
        ),
        *[
            dg.AssetCheckSpec(
                provider_parity_check_name(slug), asset=CATALOG_RECONCILIATION, description=f"Parity of {slug}."
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
    not_refetched = {
        "providers_not_refetched": ", ".join(
            f"{slug} ({mask_secrets(why)})" for slug, why in config.not_refetched.items()
        )
        or "none"
    }
    return dg.MaterializeResult(
        metadata={**_report_metadata(report), **not_refetched},
        check_results=[_total_check(report), _gap_check(report), *_provider_checks(report)],
    )


def _report_metadata(report: ParityReport) -> dict:
    frame = pd.DataFrame(
        [
            {
                "provider": p.slug,
                "live": p.live,
                "db_active": p.db_active,
                "rejected": p.rejected,
                "missing": p.missing,
                "parity %": p.parity_pct,
                "status": p.status,
            }
            for p in report.providers
        ]
    )
    return {
        "status": report.status,
        "parity_pct": report.parity_pct,
        "live_models": report.live_models,
        "db_active_models": report.db_active_models,
        "rejected_models": report.rejected_models,
        "missing": report.missing,
        "providers_out_of_sync": ", ".join(p.slug for p in report.providers if p.status == OUT_OF_SYNC) or "none",
        "providers_skipped": ", ".join(p.slug for p in report.providers if p.status == SKIPPED) or "none",
        "providers_unreachable": ", ".join(p.slug for p in report.providers if p.status == UNKNOWN) or "none",
        "by_provider": dg.MetadataValue.md(frame.to_markdown(index=False)),
    }


def _severity(status: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if status == OUT_OF_SYNC else dg.AssetCheckSeverity.WARN


def _total_check(report: ParityReport) -> dg.AssetCheckResult:
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
            "warn_threshold": report.thresholds.warn,
            "error_threshold": report.thresholds.error,
        },
    )


def _gap_check(report: ParityReport) -> dg.AssetCheckResult:
    gaps = [
        f"{p.slug} ({p.missing:+d})" if p.missing else f"{p.slug} ({p.unmatched} ids differ)"
        for p in report.counted
        if p.gap
    ]
    return dg.AssetCheckResult(
        check_name=UNEXPLAINED_GAP_CHECK,
        passed=not gaps,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"unexplained_models": report.unexplained, "providers_with_gap": ", ".join(gaps) or "none"},
    )


def _provider_checks(report: ParityReport) -> list[dg.AssetCheckResult]:
    results = []
    for p in report.providers:
        results.append(
            dg.AssetCheckResult(
                check_name=provider_parity_check_name(p.slug),
                passed=p.status in (HEALTHY, SKIPPED),
                severity=_severity(p.status),
                metadata={
                    "provider": p.slug,
                    "status": p.status,
                    "live": p.live if p.live is not None else "n/a",
                    "db_active": p.db_active,
                    "rejected": p.rejected,
                    "missing": p.missing if p.missing is not None else "n/a",
                    # ids that differ beyond what the counts show (a model swapped for another)
                    **({"unmatched_ids": p.unmatched} if p.unmatched and p.unmatched != abs(p.missing or 0) else {}),
                    "parity_pct": p.parity_pct if p.parity_pct is not None else "n/a",
                    "detail": p.detail or "",
                    # which models, when there is a gap: live but not stored, stored but no longer live
                    **({"missing_sample": ", ".join(p.missing_sample)} if p.missing_sample else {}),
                    **({"stale_sample": ", ".join(p.stale_sample)} if p.stale_sample else {}),
                },
            )
        )
    return results
