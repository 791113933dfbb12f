"""The reconciliation's arithmetic on a catalog with rejected, missing and stale models at once, every
expected number worked out by hand in the docstrings (nothing restates how the code computes it).

The catalog is written by the real writer from hand-built records on SQLite; the live side is given as
counts and ids, as `fetch_live_counts` hands them over. Fast, so the mutation run uses it for
`reconciliation.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalog_pipeline.reconciliation import (
    HEALTHY,
    OUT_OF_SYNC,
    SKIPPED,
    UNKNOWN,
    WARNING,
    ParityThresholds,
    build_report,
    compare_model_ids,
    latest_reconciliation,
    parity_pct,
    record_report,
    stored_state,
)
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import CatalogWriter
from catalog_pipeline_tests.catalog_builders import model, models, rejected, write

CHECKED_AT = datetime(2026, 9, 1, 12, 30, tzinfo=UTC)
SLUGS = ["groq", "together", "cerebras", "openai", "anthropic"]
THRESHOLDS = ParityThresholds(warn=2, error=4)


@pytest.fixture
def catalog(sqlite_url: str):
    """What the database holds, per provider:

    - groq: g-1..g-6 stored active, bad-1 and bad-2 rejected.
    - together: t-1..t-3 stored active, two rejections (t-bad, and one entry without an id).
    - cerebras: c-1..c-4 stored active, nothing rejected.
    - openai, anthropic: never synced.
    """
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    write(writer, "groq", models("g", 6), [rejected("bad-1"), rejected("bad-2", "duplicate_id")])
    write(writer, "together", models("t", 3), [rejected("t-bad"), rejected(None, "missing_id")])
    write(writer, "cerebras", models("c", 4))
    yield engine
    engine.dispose()


#: The live lists: groq lists g-1..g-4 (g-5, g-6 are gone), three new models g-7..g-9 and its two
#: rejected entries again: 9 entries. together lists exactly what is stored or rejected: 5. cerebras
#: lists c-1..c-4 and c-5: 5. openai could not be fetched; anthropic is not configured.
LIVE = {"groq": 9, "together": 5, "cerebras": 5, "openai": None}
LIVE_IDS = {
    "groq": {"g-1", "g-2", "g-3", "g-4", "g-7", "g-8", "g-9"},
    "together": {"t-1", "t-2", "t-3"},
    "cerebras": {"c-1", "c-2", "c-3", "c-4", "c-5"},
}


def _report(engine, with_ids: bool):  # type: ignore[no-untyped-def]
    report = build_report(
        SLUGS,
        LIVE,
        stored_state(engine),
        THRESHOLDS,
        skipped={"anthropic": "not configured: set ANTHROPIC_API_KEY"},
        errors={"openai": "HTTP 503 after 4 attempts"},
        checked_at=CHECKED_AT,
    )
    if with_ids:
        compare_model_ids(engine, report, LIVE_IDS, sample_size=2)
    return report


def test_stored_state_counts_active_and_rejected_models_per_provider(catalog):
    """6 + 2 for groq, 3 + 2 for together (the id-less rejection counts), 4 + 0 for cerebras; each with a
    successful sync logged nowhere yet (the writer alone logs nothing)."""
    state = stored_state(catalog)
    assert {slug: (held.db_active, held.rejected) for slug, held in state.items()} == {
        "groq": (6, 2),
        "together": (3, 2),
        "cerebras": (4, 0),
    }
    assert all(held.last_sync_status is None and held.last_success_at is None for held in state.values())


def latest_live_counts(catalog, source: str = "provider_api"):  # type: ignore[no-untyped-def]
    latest = latest_reconciliation(catalog, source=source)
    return latest.checked_at, latest.live, latest.skipped, latest.errors


def test_a_recorded_report_reads_back_as_the_latest_live_counts(catalog):
    """The report is stored one row per provider plus a total; the newest one answers `status` without
    fetching: live counts of the counted providers, the skipped and the failed with their reasons."""
    report = _report(catalog, with_ids=True)
    record_report(catalog, report, "run-1")
    older = build_report(
        ["groq"], {"groq": 1}, stored_state(catalog), THRESHOLDS, checked_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    record_report(catalog, older, "run-0")
    checked_at, live, skipped, errors = latest_live_counts(catalog)
    assert checked_at.replace(tzinfo=UTC) == CHECKED_AT
    assert live == {"groq": 9, "together": 5, "cerebras": 5, "openai": None, "anthropic": None}
    assert skipped == {"anthropic": "not configured: set ANTHROPIC_API_KEY"}
    assert errors == {"openai": "HTTP 503 after 4 attempts"}
    assert latest_live_counts(catalog, source="gateway") == (None, {}, {}, {})


def test_report_json_carries_the_totals_and_every_line(catalog):
    """`status --json` prints this: totals as above and one object per provider."""
    document = _report(catalog, with_ids=False).as_json()
    assert {k: document[k] for k in ("live_models", "db_active_models", "rejected_models", "missing", "status")} == {
        "live_models": 19,
        "db_active_models": 13,
        "rejected_models": 4,
        "missing": 2,
        "status": WARNING,
    }
    assert document["thresholds"] == {"warn": 2, "error": 4}
    assert document["checked_at"] == "2026-09-01T12:30:00+00:00"
    assert [line["slug"] for line in document["providers"]] == SLUGS


def test_a_model_stored_then_deactivated_is_not_counted_as_stored(sqlite_url):
    """Deactivated rows stay in `models` but are not stored active: c-4 deactivated leaves 3."""
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    write(writer, "cerebras", models("c", 4))
    write(writer, "cerebras", [model("c-1"), model("c-2"), model("c-3")])
    assert stored_state(engine)["cerebras"].db_active == 3
    engine.dispose()


def test_stored_state_reads_the_latest_sync_and_the_latest_success_per_provider(catalog):
    """groq: success at 06:00, failed at 12:00 -> latest 'failed' at 12:00, last success 06:00 (its finish);
    together: one failed sync, never a success; openai: a failed sync and no model at all still has a line."""
    writer = CatalogWriter(catalog)
    six, noon = datetime(2026, 9, 1, 6, 0, tzinfo=UTC), datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    writer.log_sync("groq", six, "success")
    writer.log_sync("groq", noon, "failed", error_message="HTTP 500")
    writer.log_sync("together", noon, "failed")
    writer.log_sync("openai", six, "failed")
    with catalog.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE pricing_sync_log SET sync_finished_at = '2026-09-01 06:05:00' WHERE status = 'success'"
        )
    state = stored_state(catalog)
    assert {
        slug: (held.db_active, held.rejected, held.last_sync_status, held.last_sync_at, held.last_success_at)
        for slug, held in state.items()
    } == {
        "groq": (6, 2, "failed", datetime(2026, 9, 1, 12, 0), datetime(2026, 9, 1, 6, 5)),
        "together": (3, 2, "failed", datetime(2026, 9, 1, 12, 0), None),
        "cerebras": (4, 0, None, None, None),
        "openai": (0, 0, "failed", datetime(2026, 9, 1, 6, 0), None),
    }
    assert {slug: held.slug for slug, held in state.items()} == {slug: slug for slug in state}
    lines = {line.slug: line for line in _report(catalog, with_ids=False).providers}
    assert (lines["groq"].last_sync_at, lines["groq"].last_sync_status) == ("2026-09-01T12:00:00+00:00", "failed")
    assert (lines["cerebras"].last_sync_at, lines["cerebras"].last_sync_status) == (None, None)
    assert (lines["openai"].db_active, lines["openai"].last_sync_status) == (0, "failed")


def test_every_recorded_column_reads_back_and_another_source_does_not_mix_in(catalog):
    """One history row per provider and a total row, with every number; a later gateway report does not
    hide the provider-API report from `latest_live_counts`."""
    import sqlalchemy as sa

    from catalog_pipeline.storage import schema

    record_report(catalog, _report(catalog, with_ids=True), "run-1")
    gateway = build_report(
        ["groq"], {"groq": 2}, stored_state(catalog), THRESHOLDS, checked_at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    record_report(catalog, gateway, "run-2", source="gateway")
    table = schema.reconciliation_history
    with catalog.connect() as connection:
        rows = connection.execute(sa.select(table).where(table.c.source == "provider_api")).mappings().all()
    columns = ("live_models", "db_active_models", "rejected_models", "missing", "parity_pct", "status", "error_message")
    recorded = {row["provider_slug"]: tuple(row[c] for c in columns) for row in rows}
    assert {k: (v[:4], float(v[4]) if v[4] is not None else None, *v[5:]) for k, v in recorded.items()} == {
        "groq": ((9, 6, 2, 3), 54.545, OUT_OF_SYNC, None),  # 3 missing and 2 stale by id (see above)
        "together": ((5, 3, 2, 0), 100.0, HEALTHY, None),
        "cerebras": ((5, 4, 0, 1), 80.0, HEALTHY, None),
        "openai": ((None, 0, 0, None), None, UNKNOWN, "HTTP 503 after 4 attempts"),
        "anthropic": ((None, 0, 0, None), None, SKIPPED, "not configured: set ANTHROPIC_API_KEY"),
        None: ((19, 13, 4, 4), 71.428, OUT_OF_SYNC, None),
    }
    assert {row["dagster_run_id"] for row in rows} == {"run-1"}
    assert latest_live_counts(catalog)[1]["groq"] == 9
    assert latest_live_counts(catalog, source="gateway")[1] == {"groq": 2}


def test_a_provider_without_a_live_count_or_a_reason_says_so(catalog):
    """No count and no recorded error: 'live count unavailable'; a skipped provider has no live count even
    when one is passed."""
    report = build_report(
        ["groq", "together"],
        {"together": 5},
        stored_state(catalog),
        THRESHOLDS,
        skipped={"together": "not configured"},
        checked_at=CHECKED_AT,
    )
    groq, together = report.providers
    assert (groq.status, groq.live, groq.detail) == (UNKNOWN, None, "live count unavailable")
    assert (together.status, together.live, together.detail) == (SKIPPED, None, "not configured")
    assert report.as_json()["parity_pct"] == 100.0


def test_ids_are_compared_only_for_providers_whose_live_ids_are_known_and_samples_hold_ten(sqlite_url):
    """cerebras' ids are unknown (its stored models are not compared); groq lists g-1..g-12 of which only
    g-1 is stored: 11 missing, a sample of the first ten in order."""
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    write(writer, "groq", [model("g-1")])
    write(writer, "cerebras", models("c", 3))
    report = build_report(["groq", "cerebras"], {"groq": 12, "cerebras": 3}, stored_state(engine), THRESHOLDS)
    live_ids = {"groq": {f"g-{n:02d}" for n in range(2, 13)} | {"g-1"}}
    compare_model_ids(engine, report, live_ids)
    groq, cerebras = report.providers
    assert (groq.unmatched, groq.missing_sample) == (11, [f"g-{n:02d}" for n in range(2, 12)])
    assert (cerebras.unmatched, cerebras.missing_sample, cerebras.stale_sample) == (None, [], [])
    compare_model_ids(engine, report, {})  # nothing known: nothing changes
    assert groq.unmatched == 11
    engine.dispose()


def test_from_counts_rejected_models_explain_listed_entries(catalog):
    """From counts alone (no ids): groq 9 listed - 6 stored - 2 rejected = 1 missing, 0 stale, parity
    (9 - 1) / 9 = 88.888 % rounded down, within warn 2: healthy; together 5 - 3 - 2 = 0 (100 %);
    cerebras 5 - 4 - 0 = 1 missing (80 %). openai is unknown, anthropic skipped; totals count only groq,
    together and cerebras: 19 live, 13 stored active, 4 rejected, 2 missing, parity 17 / 19 = 89.473 %."""
    report = _report(catalog, with_ids=False)
    lines = {line.slug: line for line in report.providers}
    assert [
        (lines[s].live, lines[s].db_active, lines[s].rejected, lines[s].missing, lines[s].stale, lines[s].parity_pct)
        for s in ("groq", "together", "cerebras")
    ] == [(9, 6, 2, 1, 0, 88.888), (5, 3, 2, 0, 0, 100.0), (5, 4, 0, 1, 0, 80.0)]
    assert {lines[s].status for s in ("groq", "together", "cerebras")} == {HEALTHY}
    assert (lines["openai"].status, lines["openai"].missing, lines["openai"].detail) == (
        UNKNOWN,
        None,
        "HTTP 503 after 4 attempts",
    )
    assert (lines["anthropic"].status, lines["anthropic"].live) == (SKIPPED, None)
    assert (report.live_models, report.db_active_models, report.rejected_models, report.missing) == (19, 13, 4, 2)
    assert (report.unexplained, report.parity_pct) == (2, 89.473)
    assert report.status == WARNING  # openai's unknown count is a warning, whatever the totals say


def test_with_live_ids_missing_and_stale_models_are_both_counted(catalog):
    """With the ids: groq lists g-7, g-8, g-9 not stored (3 missing) and no longer lists g-5, g-6 (2 stale):
    9 live = 6 stored + 2 rejected + 3 missing - 2 stale; gap 5 above error 4: out_of_sync; parity
    (9 - 3) / (9 + 2) = 54.545 %. together matches exactly; cerebras misses c-5: 1, healthy, 80 %.
    Totals: 4 missing, 2 stale, gap 6 (out_of_sync), parity (19 - 4) / (19 + 2) = 71.428 %."""
    report = _report(catalog, with_ids=True)
    lines = {line.slug: line for line in report.providers}
    groq = lines["groq"]
    assert (groq.missing, groq.stale, groq.gap, groq.status, groq.parity_pct) == (3, 2, 5, OUT_OF_SYNC, 54.545)
    assert groq.live == groq.db_active + groq.rejected + groq.missing - groq.stale
    assert (groq.missing_sample, groq.stale_sample) == (["g-7", "g-8"], ["g-5", "g-6"])  # first 2 of each
    assert (lines["together"].gap, lines["together"].status, lines["together"].parity_pct) == (0, HEALTHY, 100.0)
    cerebras = lines["cerebras"]
    assert (cerebras.missing, cerebras.stale, cerebras.missing_sample, cerebras.status) == (1, 0, ["c-5"], HEALTHY)
    assert lines["openai"].unmatched is None and lines["anthropic"].unmatched is None
    assert (report.missing, report.stale, report.unexplained) == (4, 2, 6)
    assert (report.parity_pct, report.status) == (71.428, OUT_OF_SYNC)


def test_a_swap_keeps_the_counts_equal_and_is_still_a_gap(sqlite_url):
    """cerebras stores c-1..c-4 and lists c-1..c-3 plus c-9: by count 0 missing; by id c-9 is missing and
    c-4 stale: gap 2 (healthy at warn 2), parity (4 - 1) / (4 + 1) = 60 %."""
    engine = create_catalog_engine(sqlite_url)
    write(CatalogWriter(engine), "cerebras", models("c", 4))
    report = build_report(["cerebras"], {"cerebras": 4}, stored_state(engine), THRESHOLDS, checked_at=CHECKED_AT)
    [line] = report.providers
    assert (line.missing, line.gap, line.parity_pct, line.status) == (0, 0, 100.0, HEALTHY)
    compare_model_ids(engine, report, {"cerebras": {"c-1", "c-2", "c-3", "c-9"}})
    assert (line.missing, line.stale, line.gap, line.parity_pct, line.status) == (1, 1, 2, 60.0, HEALTHY)
    assert (line.missing_sample, line.stale_sample) == (["c-9"], ["c-4"])
    engine.dispose()


def test_a_provider_listing_fewer_than_it_has_stored_and_rejected_is_a_gap_too(sqlite_url):
    """groq stores g-1..g-6 plus 2 rejections and now lists 3 entries: 3 - 6 - 2 = -5, so 5 stale, 0 missing;
    gap 5 above error 4: out_of_sync; parity 3 / (3 + 5) = 37.5 %."""
    engine = create_catalog_engine(sqlite_url)
    write(CatalogWriter(engine), "groq", models("g", 6), [rejected("bad-1"), rejected("bad-2")])
    report = build_report(["groq"], {"groq": 3}, stored_state(engine), THRESHOLDS, checked_at=CHECKED_AT)
    [line] = report.providers
    assert (line.missing, line.stale, line.gap, line.parity_pct, line.status) == (0, 5, 5, 37.5, OUT_OF_SYNC)
    assert (report.missing, report.stale, report.unexplained, report.status) == (0, 5, 5, OUT_OF_SYNC)
    engine.dispose()


@pytest.mark.parametrize(
    ("gap", "union", "status"),
    [
        (0, 100, HEALTHY),
        (2, 100, HEALTHY),
        (3, 100, WARNING),
        (4, 100, WARNING),
        (5, 100, OUT_OF_SYNC),
        (3, 5, OUT_OF_SYNC),
    ],
)
def test_thresholds_grade_a_gap_strictly_above_warn_and_error_or_half_the_models(gap, union, status):
    """warn 2, error 4: 2 is healthy, 3 and 4 warn, 5 is out of sync; 3 of 5 models is more than half: out of sync."""
    assert THRESHOLDS.classify(gap, matched=union - gap, union=union) == status


@pytest.mark.parametrize(
    ("live", "missing", "stale", "pct"),
    [(9, 1, 0, 88.888), (3, 1, 0, 66.666), (3, 0, 3, 50.0), (8, 1, 0, 87.5), (4, 4, 5, 0.0), (0, 0, 0, 100.0)],
)
def test_parity_percent_is_the_share_on_both_sides_rounded_down(live, missing, stale, pct):
    """(live - missing) / (live + stale): 8/9 = 88.888..., 2/3 = 66.666..., 3/6 = 50 %, 7/8 = 87.5 %; nothing in
    common is 0 %; an empty list with nothing stored is 100 %."""
    assert parity_pct(live, missing, stale) == pct


def test_parity_is_never_rounded_to_100_or_to_0():
    """1 of 8,000 on both sides is 0.0125 %: rounded down, but never to 0 while something matches; 7,999 of
    8,000 is 99.987 %, never 100."""
    assert parity_pct(8000, 7999, 0) == 0.012
    assert parity_pct(8000, 1, 0) == 99.987
    assert parity_pct(1, 0, 100000) == 0.001
