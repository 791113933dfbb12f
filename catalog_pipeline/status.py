"""The operator's health report behind ``catalog-pipeline status``."""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from catalog_pipeline import settings
from catalog_pipeline.http_engine import CatalogHttpEngine
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.reconciliation import (
    ParityReport,
    ParityThresholds,
    build_report,
    compare_model_ids,
    latest_reconciliation,
    stored_state,
)
from catalog_pipeline.storage.database import create_catalog_engine, ensure_schema
from catalog_pipeline.sync import fetch_live_counts


def status_report(database_url: str, live: bool, environment: Mapping[str, str]) -> tuple[ParityReport | None, str]:
    """Build the report from the last reconciliation's live counts (or fresh ones with `live`).

    Returns:
        The report, or None and the reason it cannot be told.
    """
    engine = create_catalog_engine(database_url)
    ensure_schema(engine)
    try:
        return report_from_engine(engine, live, environment)
    finally:
        engine.dispose()


def report_from_engine(engine: Engine, live: bool, environment: Mapping[str, str]) -> tuple[ParityReport | None, str]:
    """`status_report` on an open engine; only reads, so the read-only catalog API uses it too."""
    thresholds = ParityThresholds(
        warn=settings.env_int(settings.PARITY_WARN, settings.DEFAULT_WARN_THRESHOLD, environment),
        error=settings.env_int(settings.PARITY_ERROR, settings.DEFAULT_ERROR_THRESHOLD, environment),
    )
    if live:
        limit = environment.get(settings.MAX_RESPONSE_MB, "").strip()
        http = CatalogHttpEngine(
            environment,
            replay_url=environment.get(settings.REPLAY_URL),
            deadline_seconds=settings.env_int(
                settings.PROVIDER_DEADLINE, settings.DEFAULT_PROVIDER_DEADLINE_SECONDS, environment
            ),
            max_response_mb=settings.env_int(settings.MAX_RESPONSE_MB, 0, environment) if limit else None,
        )
        try:
            counts = fetch_live_counts(PROVIDER_SLUGS, http)
        finally:
            http.close()
        checked_at, live_counts, skipped, errors = None, counts.live, counts.skipped, counts.errors
        model_ids, recorded = counts.model_ids, {}
    else:
        latest = latest_reconciliation(engine)
        if latest.checked_at is None:
            return None, "no reconciliation recorded yet: run `catalog-pipeline sync` (or `status --live`)"
        checked_at, live_counts, skipped, errors = latest.checked_at, latest.live, latest.skipped, latest.errors
        model_ids, recorded = {}, latest.recorded
    report = build_report(
        PROVIDER_SLUGS,
        live_counts,
        stored_state(engine),
        thresholds,
        skipped=skipped,
        errors=errors,
        checked_at=checked_at,
        recorded=recorded,
    )
    compare_model_ids(engine, report, model_ids)
    if not report.counted:
        return None, "no provider could be counted: none is configured or reachable"
    return report, ""


def format_report(report: ParityReport) -> str:
    """A fixed-width table an operator can read at a glance."""
    header = f"{'provider':<24} {'live':>7} {'stored':>7} {'rejected':>8} {'missing':>7} {'stale':>7} {'parity':>8}  {'status':<11} last sync"
    lines = [f"catalog status at {report.checked_at}", "", header, "-" * (len(header) + 20)]
    for p in report.providers:
        parity = _percent(p.parity_pct) if p.parity_pct is not None else "-"
        last = f"{p.last_sync_at or 'never'} ({p.last_sync_status})" if p.last_sync_status else "never"
        lines.append(
            f"{p.slug:<24} {_n(p.live):>7} {p.db_active:>7} {p.rejected:>8} {_n(p.missing):>7} {_n(p.stale):>7} "
            f"{parity:>8}  {p.status:<11} {last}"
        )
    lines += [
        "-" * (len(header) + 20),
        f"{'total':<24} {report.live_models:>7} {report.db_active_models:>7} {report.rejected_models:>8} "
        f"{report.missing:>7} {report.stale:>7} {_percent(report.parity_pct):>8}  {report.status}",
        "",
        f"thresholds: {report.thresholds.describe()} (per provider and in total); "
        "live = stored + rejected + missing - stale",
    ]
    for p in report.providers:
        if p.missing_sample:
            lines.append(f"{p.slug}: listed live but not stored, e.g. {', '.join(p.missing_sample[:5])}")
        if p.stale_sample:
            lines.append(f"{p.slug}: stored active but no longer listed, e.g. {', '.join(p.stale_sample[:5])}")
    skipped = [p.slug for p in report.providers if p.status == "skipped"]
    if skipped:
        lines.append(f"skipped (not configured): {', '.join(skipped)}")
    return "\n".join(lines)


def _percent(value: float) -> str:
    """One decimal, rounded down: 99.96 reads 99.9%, only an exact match reads 100.0%."""
    return f"{math.floor(value * 10) / 10:.1f}%"


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
