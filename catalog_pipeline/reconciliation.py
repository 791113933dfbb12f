"""Parity between what providers list live and what the catalog database holds.

For every provider: ``live = db_active + rejected + missing``. `missing` is signed:
negative means the database holds more active models than the provider lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog_pipeline.masking import mask_secrets
from catalog_pipeline.storage import schema

HEALTHY, WARNING, OUT_OF_SYNC = "healthy", "warning", "out_of_sync"
SKIPPED, UNKNOWN = "skipped", "unknown"
_SEVERITY = {HEALTHY: 0, SKIPPED: 0, WARNING: 1, UNKNOWN: 1, OUT_OF_SYNC: 2}


@dataclass(frozen=True)
class ParityThresholds:
    """Missing-model counts at which parity turns `warning` and `out_of_sync`."""

    warn: int = 100
    error: int = 1000

    def classify(self, missing: int) -> str:
        gap = abs(missing)
        if gap > self.error:
            return OUT_OF_SYNC
        if gap > self.warn:
            return WARNING
        return HEALTHY


@dataclass(frozen=True)
class KnownIds:
    """A provider's live ids known by digest only: its list is the applied snapshot, and `digest` is
    `model_ids_digest` of the ids the write stored from it. `load` gives the ids themselves."""

    digest: str
    load: Callable[[], set[str]]


@dataclass
class StoredProvider:
    """What the database holds for one provider."""

    slug: str
    db_active: int = 0
    rejected: int = 0
    last_sync_at: datetime | None = None
    last_sync_status: str | None = None
    last_success_at: datetime | None = None


@dataclass
class ProviderParity:
    """One provider's line of the health report."""

    slug: str
    live: int | None
    db_active: int
    rejected: int
    missing: int | None
    parity_pct: float | None
    status: str
    last_sync_at: str | None = None
    last_sync_status: str | None = None
    detail: str | None = None
    missing_sample: list[str] = field(default_factory=list)
    stale_sample: list[str] = field(default_factory=list)
    #: ids listed live but not stored active plus stored active ids no longer listed; known
    #: only when the live ids were fetched. Catches a swap (one model in, one out) that
    #: leaves the counts equal.
    unmatched: int | None = None

    @property
    def gap(self) -> int:
        """Unexplained models: the larger of the count gap and the id mismatch."""
        return max(abs(self.missing or 0), self.unmatched or 0)


@dataclass
class ParityReport:
    """The whole health report: per provider and in total (configured providers only)."""

    checked_at: str
    providers: list[ProviderParity]
    thresholds: ParityThresholds = field(default_factory=ParityThresholds)

    @property
    def counted(self) -> list[ProviderParity]:
        return [p for p in self.providers if p.status not in (SKIPPED, UNKNOWN) and p.live is not None]

    @property
    def live_models(self) -> int:
        return sum(p.live or 0 for p in self.counted)

    @property
    def db_active_models(self) -> int:
        return sum(p.db_active for p in self.counted)

    @property
    def rejected_models(self) -> int:
        return sum(p.rejected for p in self.counted)

    @property
    def missing(self) -> int:
        return sum(p.missing or 0 for p in self.counted)

    @property
    def unexplained(self) -> int:
        """Models neither stored nor rejected (or stored but gone), without letting surpluses cancel gaps."""
        return sum(p.gap for p in self.counted)

    @property
    def parity_pct(self) -> float:
        return parity_pct(self.live_models, self.unexplained)

    @property
    def status(self) -> str:
        worst = max((_SEVERITY[p.status] for p in self.providers), default=0)
        total = self.thresholds.classify(self.unexplained)
        return max((total, {0: HEALTHY, 1: WARNING, 2: OUT_OF_SYNC}[worst]), key=_SEVERITY.__getitem__)

    def as_json(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at,
            "live_models": self.live_models,
            "db_active_models": self.db_active_models,
            "rejected_models": self.rejected_models,
            "missing": self.missing,
            "parity_pct": self.parity_pct,
            "status": self.status,
            "thresholds": {"warn": self.thresholds.warn, "error": self.thresholds.error},
            "providers": [asdict(p) for p in self.providers],
        }


def parity_pct(live: int, gap: int) -> float:
    if live <= 0:
        return 100.0 if gap == 0 else 0.0
    value = Decimal(max(live - abs(gap), 0) * 100) / Decimal(live)
    return float(value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def stored_state(engine: Engine) -> dict[str, StoredProvider]:
    """Active and rejected counts and the latest sync per provider, in three grouped queries."""
    providers, models, rejected, log = schema.providers, schema.models, schema.rejected_models, schema.pricing_sync_log
    state: dict[str, StoredProvider] = {}
    with engine.connect() as connection:
        for slug, count in connection.execute(
            sa.select(providers.c.slug, sa.func.count(models.c.id))
            .select_from(
                providers.outerjoin(models, sa.and_(models.c.provider_id == providers.c.id, models.c.is_active))
            )
            .group_by(providers.c.slug)
        ):
            state[slug] = StoredProvider(slug=slug, db_active=count)
        for slug, count in connection.execute(
            sa.select(providers.c.slug, sa.func.count(rejected.c.id))
            .join(rejected, rejected.c.provider_id == providers.c.id)
            .group_by(providers.c.slug)
        ):
            state.setdefault(slug, StoredProvider(slug=slug)).rejected = count
        latest = (
            sa.select(log.c.provider_slug, sa.func.max(log.c.id).label("id")).group_by(log.c.provider_slug).subquery()
        )
        for row in connection.execute(
            sa.select(log.c.provider_slug, log.c.sync_started_at, log.c.status).join(latest, latest.c.id == log.c.id)
        ):
            entry = state.setdefault(row.provider_slug, StoredProvider(slug=row.provider_slug))
            entry.last_sync_at, entry.last_sync_status = row.sync_started_at, row.status
        for slug, finished in connection.execute(
            sa.select(log.c.provider_slug, sa.func.max(log.c.sync_finished_at))
            .where(log.c.status == "success")
            .group_by(log.c.provider_slug)
        ):
            state.setdefault(slug, StoredProvider(slug=slug)).last_success_at = finished
    return state


def build_report(
    slugs: Iterable[str],
    live: Mapping[str, int | None],
    stored: Mapping[str, StoredProvider],
    thresholds: ParityThresholds,
    skipped: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    checked_at: datetime | None = None,
) -> ParityReport:
    """Combine live counts with stored counts.

    Args:
        slugs: providers to report on, in display order.
        live: live list length per provider (None when it could not be fetched).
        stored: `stored_state` of the database.
        thresholds: warning / out-of-sync limits.
        skipped: providers left out (not configured), with the reason.
        errors: providers whose live count could not be fetched, with the cause.
    """
    skipped, errors = skipped or {}, errors or {}
    lines = []
    for slug in slugs:
        held = stored.get(slug) or StoredProvider(slug=slug)
        count = live.get(slug)
        if slug in skipped:
            status, missing, pct, detail = SKIPPED, None, None, skipped[slug]
        elif count is None:
            status, missing, pct, detail = UNKNOWN, None, None, errors.get(slug, "live count unavailable")
        else:
            missing = count - held.db_active - held.rejected
            status, pct, detail = thresholds.classify(missing), parity_pct(count, missing), None
        if detail:
            # the detail reaches the history table, check metadata, alerts and the CLI
            detail = mask_secrets(detail)
        lines.append(
            ProviderParity(
                slug=slug,
                live=count if slug not in skipped else None,
                db_active=held.db_active,
                rejected=held.rejected,
                missing=missing,
                parity_pct=pct,
                status=status,
                last_sync_at=_iso(held.last_sync_at),
                last_sync_status=held.last_sync_status,
                detail=detail,
            )
        )
    return ParityReport(checked_at=_iso(checked_at or datetime.now(UTC)) or "", providers=lines, thresholds=thresholds)


def compare_model_ids(
    engine: Engine, report: ParityReport, live_model_ids: Mapping[str, set[str] | KnownIds], sample_size: int = 10
) -> None:
    """Compare live ids with stored active ids for every counted provider whose live ids are known.

    Sets `unmatched` and samples of the ids on each side, and re-grades the provider on
    the larger of its count gap and its id mismatch. One query reads every active id. Ids
    known by digest (`KnownIds`) are compared by digest, and loaded only when it differs.
    """
    from catalog_pipeline.storage.writer import model_ids_digest

    known = {line.slug: line for line in report.counted if line.slug in live_model_ids}
    if not known:
        return
    models, providers = schema.models, schema.providers
    stored: dict[str, set[str]] = {slug: set() for slug in known}
    with engine.connect() as connection:
        for slug, model_id in connection.execute(
            sa.select(providers.c.slug, models.c.provider_model_id)
            .join(providers, providers.c.id == models.c.provider_id)
            .where(providers.c.slug.in_(list(known)), models.c.is_active == sa.true())
        ):
            stored[slug].add(model_id)
    for slug, line in known.items():
        live = live_model_ids[slug]
        if isinstance(live, KnownIds):
            if model_ids_digest(stored[slug]) == live.digest:
                line.unmatched = 0
                line.status = report.thresholds.classify(line.gap)
                line.parity_pct = parity_pct(line.live or 0, line.gap)
                continue
            live = live.load()
        live_ids = live
        not_stored, gone = live_ids - stored[slug], stored[slug] - live_ids
        line.unmatched = len(not_stored) + len(gone)
        line.missing_sample = sorted(not_stored)[:sample_size]
        line.stale_sample = sorted(gone)[:sample_size]
        line.status = report.thresholds.classify(line.gap)
        line.parity_pct = parity_pct(line.live or 0, line.gap)


def record_report(engine: Engine, report: ParityReport, run_id: str | None, source: str = "provider_api") -> None:
    """Append the report (one row per provider plus a total row) to the history table."""
    checked_at = datetime.fromisoformat(report.checked_at)
    rows = [
        {
            "checked_at": checked_at,
            "dagster_run_id": run_id,
            "source": source,
            "provider_slug": p.slug,
            "live_models": p.live,
            "db_active_models": p.db_active,
            "rejected_models": p.rejected,
            "missing": p.missing,
            "parity_pct": p.parity_pct,
            "status": p.status,
            "error_message": p.detail,
        }
        for p in report.providers
    ]
    rows.append(
        {
            "checked_at": checked_at,
            "dagster_run_id": run_id,
            "source": source,
            "provider_slug": None,
            "live_models": report.live_models,
            "db_active_models": report.db_active_models,
            "rejected_models": report.rejected_models,
            "missing": report.missing,
            "parity_pct": report.parity_pct,
            "status": report.status,
            "error_message": None,
        }
    )
    with engine.begin() as connection:
        connection.execute(schema.reconciliation_history.insert(), rows)


def latest_live_counts(
    engine: Engine, source: str = "provider_api"
) -> tuple[datetime | None, dict[str, int | None], dict[str, str], dict[str, str]]:
    """Live counts, skipped and failed providers of the most recent reconciliation."""
    table = schema.reconciliation_history
    with engine.connect() as connection:
        checked_at = connection.execute(
            sa.select(sa.func.max(table.c.checked_at)).where(table.c.source == source)
        ).scalar()
        if checked_at is None:
            return None, {}, {}, {}
        rows = connection.execute(
            sa.select(table.c.provider_slug, table.c.live_models, table.c.status, table.c.error_message).where(
                table.c.checked_at == checked_at, table.c.source == source, table.c.provider_slug.is_not(None)
            )
        ).all()
    live = {row.provider_slug: row.live_models for row in rows}
    skipped = {row.provider_slug: row.error_message or "" for row in rows if row.status == SKIPPED}
    errors = {row.provider_slug: row.error_message or "" for row in rows if row.status == UNKNOWN}
    return checked_at, live, skipped, errors


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
