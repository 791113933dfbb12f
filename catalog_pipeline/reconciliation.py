"""Parity between what providers list live and what the catalog database holds.

Both directions count. For every provider:

- ``missing``: listed live but neither stored active nor rejected;
- ``stale``: stored active but no longer listed;
- ``gap = missing + stale``, graded against the thresholds;
- ``live = db_active + rejected + missing - stale`` holds exactly;
- ``parity_pct = 100 * (live - missing) / (live + stale)``: the share of models listed or
  stored that are on both sides. 100 only when the two id sets are equal, 0 when they have
  nothing in common (which is never healthy).

With the live ids known (a reconciliation), missing and stale compare ids, so a model
swapped for another counts once on each side; from counts alone they are what the counts show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
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
    """Gaps (missing + stale models) above which parity turns `warning` and `out_of_sync`."""

    warn: int = 100
    error: int = 1000
    #: a gap larger than this share of the provider's models (listed or stored) is out of sync whatever
    #: the counts: 90 of 100 models gone is never healthy, however small 90 is against the thresholds
    max_gap_share: float = 0.5

    def classify(self, gap: int, matched: int | None = None, union: int | None = None) -> str:
        """The status of a gap; `matched` (models on both sides) of 0 with a gap is out of sync
        whatever the thresholds: a list with nothing in common with the store is never healthy.
        So is a gap above `max_gap_share` of `union` (every model listed or stored)."""
        if gap > self.error or (gap > 0 and matched == 0):
            return OUT_OF_SYNC
        if union and gap > self.max_gap_share * union:
            return OUT_OF_SYNC
        if gap > self.warn:
            return WARNING
        return HEALTHY

    def describe(self) -> str:
        return (
            f"warning above {self.warn} missing + stale models, out_of_sync above {self.error} "
            f"or above {self.max_gap_share:.0%} of the provider's models"
        )


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
    last_sync_error: str | None = None
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
    #: stored active, no longer listed (None when the live list is unknown)
    stale: int | None = None
    last_sync_at: str | None = None
    last_sync_status: str | None = None
    last_sync_error: str | None = None
    detail: str | None = None
    missing_sample: list[str] = field(default_factory=list)
    stale_sample: list[str] = field(default_factory=list)
    #: ids listed live but not stored active plus stored active ids no longer listed; known
    #: only when the live ids were fetched.
    unmatched: int | None = None

    @property
    def gap(self) -> int:
        """Unexplained models in both directions: missing + stale."""
        return (self.missing or 0) + (self.stale or 0)

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"gap": self.gap}


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
    def stale(self) -> int:
        return sum(p.stale or 0 for p in self.counted)

    @property
    def unexplained(self) -> int:
        """Models missing or stale over every counted provider (the total gap)."""
        return sum(p.gap for p in self.counted)

    @property
    def parity_pct(self) -> float:
        return parity_pct(self.live_models, self.missing, self.stale)

    @property
    def status(self) -> str:
        worst = max((_SEVERITY[p.status] for p in self.providers), default=0)
        total = self.thresholds.classify(
            self.unexplained, self.live_models - self.missing, self.live_models + self.stale
        )
        return max((total, {0: HEALTHY, 1: WARNING, 2: OUT_OF_SYNC}[worst]), key=_SEVERITY.__getitem__)

    def as_json(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at,
            "live_models": self.live_models,
            "db_active_models": self.db_active_models,
            "rejected_models": self.rejected_models,
            "missing": self.missing,
            "stale": self.stale,
            "gap": self.unexplained,
            "parity_pct": self.parity_pct,
            "status": self.status,
            "thresholds": {"warn": self.thresholds.warn, "error": self.thresholds.error},
            "providers": [p.as_json() for p in self.providers],
        }


def split_gap(live: int, db_active: int, rejected: int, stale_ids: int | None = None) -> tuple[int, int]:
    """`(missing, stale)` of one provider, both non-negative, with live = db_active + rejected + missing - stale.

    Args:
        stale_ids: stored active ids the live list no longer has, when the live ids are known;
            without them the counts decide (a swap is then invisible).
    """
    surplus = live - db_active - rejected
    if stale_ids is None:
        return max(surplus, 0), max(-surplus, 0)
    missing = surplus + stale_ids
    # fewer listed than stored even after the stale ids: stored rejections the list no longer has
    return (missing, stale_ids) if missing >= 0 else (0, stale_ids - missing)


def parity_pct(live: int, missing: int, stale: int) -> float:
    """Models on both sides as a share of every model listed or stored: 100 only without a gap."""
    union, matched = live + stale, max(live - missing, 0)
    # no gap, nothing listed and nothing stored included (a gap means union > 0: missing <= live)
    if missing == 0 and stale == 0:
        return 100.0
    # rounded down, and never to 0 while something matches: 100 and 0 mean exactly that
    value = (Decimal(matched * 100) / Decimal(union)).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    return float(max(value, Decimal("0.001")) if matched else value)


def _grade(line: ProviderParity, thresholds: ParityThresholds) -> None:
    live, missing, stale = line.live or 0, line.missing or 0, line.stale or 0
    line.status = thresholds.classify(missing + stale, live - missing, live + stale)
    line.parity_pct = parity_pct(live, missing, stale)


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
            sa.select(log.c.provider_slug, log.c.sync_started_at, log.c.status, log.c.error_message).join(
                latest, latest.c.id == log.c.id
            )
        ):
            entry = state.setdefault(row.provider_slug, StoredProvider(slug=row.provider_slug))
            entry.last_sync_at, entry.last_sync_status = row.sync_started_at, row.status
            entry.last_sync_error = row.error_message
        for slug, finished in connection.execute(
            sa.select(log.c.provider_slug, sa.func.max(log.c.sync_finished_at))
            .where(log.c.status == "success")
            .group_by(log.c.provider_slug)
        ):
            state.setdefault(slug, StoredProvider(slug=slug)).last_success_at = finished
    return state


@dataclass(frozen=True)
class RecordedParity:
    """One provider's row of a recorded reconciliation."""

    live: int | None
    db_active: int
    rejected: int
    missing: int | None
    stale: int | None


def build_report(
    slugs: Iterable[str],
    live: Mapping[str, int | None],
    stored: Mapping[str, StoredProvider],
    thresholds: ParityThresholds,
    skipped: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    checked_at: datetime | None = None,
    recorded: Mapping[str, RecordedParity] | None = None,
) -> ParityReport:
    """Combine live counts with stored counts.

    Args:
        slugs: providers to report on, in display order.
        live: live list length per provider (None when it could not be fetched).
        stored: `stored_state` of the database.
        thresholds: warning / out-of-sync limits.
        skipped: providers left out (not configured), with the reason.
        errors: providers whose live count could not be fetched, with the cause.
        recorded: the reconciliation the live counts come from; where the stored counts are
            still the ones it saw, its id-based missing and stale are kept.
    """
    skipped, errors, recorded = skipped or {}, errors or {}, recorded or {}
    lines = []
    for slug in slugs:
        held = stored.get(slug) or StoredProvider(slug=slug)
        count = live.get(slug)
        line = ProviderParity(
            slug=slug,
            live=count if slug not in skipped else None,
            db_active=held.db_active,
            rejected=held.rejected,
            missing=None,
            parity_pct=None,
            status=UNKNOWN,
            last_sync_at=_iso(held.last_sync_at),
            last_sync_status=held.last_sync_status,
            last_sync_error=held.last_sync_error,
        )
        # the detail reaches the history table, check metadata, alerts and the CLI
        if slug in skipped:
            line.status, line.detail = SKIPPED, mask_secrets(skipped[slug])
        elif count is None:
            line.detail = mask_secrets(errors.get(slug, "live count unavailable"))
        else:
            line.missing, line.stale = split_gap(count, held.db_active, held.rejected)
            seen = recorded.get(slug)
            if (
                seen is not None
                and (seen.live, seen.db_active, seen.rejected) == (count, held.db_active, held.rejected)
                and seen.missing is not None
                and seen.stale is not None
            ):
                line.missing, line.stale = seen.missing, seen.stale
            _grade(line, thresholds)
        lines.append(line)
    return ParityReport(checked_at=_iso(checked_at or datetime.now(UTC)) or "", providers=lines, thresholds=thresholds)


def compare_model_ids(
    engine: Engine, report: ParityReport, live_model_ids: Mapping[str, set[str] | KnownIds], sample_size: int = 10
) -> None:
    """Compare live ids with stored active ids for every counted provider whose live ids are known.

    Sets `missing` and `stale` from the ids (a swap counts on both sides), `unmatched`, samples
    of the ids on each side, and re-grades the provider. One query reads every active id. Ids
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
                line.missing, line.stale = split_gap(line.live or 0, line.db_active, line.rejected, 0)
                _grade(line, report.thresholds)
                continue
            live = live.load()
        live_ids = live
        not_stored, gone = live_ids - stored[slug], stored[slug] - live_ids
        line.unmatched = len(not_stored) + len(gone)
        line.missing, line.stale = split_gap(line.live or 0, line.db_active, line.rejected, len(gone))
        line.missing_sample = sorted(not_stored)[:sample_size]
        line.stale_sample = sorted(gone)[:sample_size]
        _grade(line, report.thresholds)


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
            "stale": p.stale,
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
            "stale": report.stale,
            "parity_pct": report.parity_pct,
            "status": report.status,
            "error_message": None,
        }
    )
    with engine.begin() as connection:
        connection.execute(schema.reconciliation_history.insert(), rows)


@dataclass
class LatestReconciliation:
    """The most recent recorded reconciliation: live counts, skipped and failed providers, per-provider rows."""

    checked_at: datetime | None
    live: dict[str, int | None] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    recorded: dict[str, RecordedParity] = field(default_factory=dict)


def latest_reconciliation(engine: Engine, source: str = "provider_api") -> LatestReconciliation:
    table = schema.reconciliation_history
    with engine.connect() as connection:
        checked_at = connection.execute(
            sa.select(sa.func.max(table.c.checked_at)).where(table.c.source == source)
        ).scalar()
        if checked_at is None:
            return LatestReconciliation(checked_at=None)
        rows = connection.execute(
            sa.select(table).where(
                table.c.checked_at == checked_at, table.c.source == source, table.c.provider_slug.is_not(None)
            )
        ).all()
    return LatestReconciliation(
        checked_at=checked_at,
        live={row.provider_slug: row.live_models for row in rows},
        skipped={row.provider_slug: row.error_message or "" for row in rows if row.status == SKIPPED},
        errors={row.provider_slug: row.error_message or "" for row in rows if row.status == UNKNOWN},
        recorded={
            row.provider_slug: RecordedParity(
                row.live_models, row.db_active_models, row.rejected_models, row.missing, row.stale
            )
            for row in rows
        },
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
