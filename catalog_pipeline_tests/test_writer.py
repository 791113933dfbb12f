"""The catalog writer called directly with hand-built records, on SQLite and PostgreSQL, on a fixed clock:
what each write inserts, rewrites, leaves alone and deactivates, the counts it returns, the
mass-deactivation guard's rules one by one, rejections, snapshots, the sync log and field observations.

Fast (no Dagster run), so the mutation run uses these for `storage/writer.py`; `test_storage.py` proves
the same rules end to end through the assets.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.providers.normalize import Price, PriceState
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import CatalogWriter, MassDeactivationBlocked, PriceChange, provider_lock_key
from catalog_pipeline_tests.catalog_builders import PER_MILLION, T1, T2, T3, T4, model, models, rejected, write
from catalog_pipeline_tests.catalog_builders import as_utc as _utc
from catalog_pipeline_tests.storage_helpers import provider_tables


def _models(writer: CatalogWriter, slug: str = "groq") -> dict[str, dict]:
    url = writer.engine.url.render_as_string(hide_password=False)
    return {row["provider_model_id"]: row for row in provider_tables(url, slug)["models"]}


def _prices(writer: CatalogWriter, slug: str = "groq") -> dict[tuple[str, str], tuple]:
    url = writer.engine.url.render_as_string(hide_password=False)
    tables = provider_tables(url, slug)
    names = {row["id"]: row["provider_model_id"] for row in tables["models"]}
    return {
        (names[row["model_id"]], row["price_type"]): (row["amount"], row["state"], row["unit"], row["threshold_tokens"])
        for row in tables["model_pricing"]
    }


def _history(writer: CatalogWriter, slug: str = "groq") -> list[tuple]:
    url = writer.engine.url.render_as_string(hide_password=False)
    tables = provider_tables(url, slug)
    names = {row["id"]: row["provider_model_id"] for row in tables["models"]}
    return [
        (names[r["model_id"]], r["price_type"], r["old_amount"], r["new_amount"], r["old_state"], r["new_state"])
        for r in tables["price_history"]
    ]


def _rows(writer: CatalogWriter, table: sa.Table) -> list[dict]:
    with writer.engine.connect() as connection:
        return [
            dict(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns)).mappings()
        ]


def test_first_write_stores_every_model_its_prices_history_and_rejections(writer, clock):
    """Three models and one rejection: three inserts, their prices (known, free, unknown kept apart),
    one history row per price with no old state, the rejection with its reason, the provider row."""
    free = replace(model("g-free"), prices={"input": Price(Decimal(0), PriceState.FREE, PER_MILLION)})
    tiered = model("g-tier", "1.5", "3", input_long_context="3")
    tiered = replace(
        tiered,
        prices={**tiered.prices, "input_long_context": Price(Decimal(3), PriceState.KNOWN, PER_MILLION, 128000)},
        deprecation_date=datetime(2027, 1, 1, tzinfo=UTC),
        provider_status="active",
    )
    counts = write(writer, "groq", [model("g-1"), free, tiered], [rejected("g-bad")], run_id="run-1")

    assert (counts.fetched, counts.inserted, counts.updated, counts.unchanged, counts.deactivated) == (4, 3, 0, 0, 0)
    assert (counts.rejected, counts.rows_written, counts.active_before, counts.would_deactivate) == (1, 3, 0, 0)
    assert counts.price_changes == []  # a first listing is history, not a change
    rows = _models(writer)
    assert set(rows) == {"g-1", "g-free", "g-tier"}
    first = rows["g-1"]
    assert (first["name"], first["canonical_slug"], first["context_length"], first["max_output_tokens"]) == (
        "g-1",
        "g-1",
        8192,
        None,
    )
    assert (first["input_modalities"], first["output_modalities"]) == ("text", "text")
    assert (first["input_price_per_million"], first["output_price_per_million"]) == (Decimal(1), Decimal(2))
    assert (first["price_status"], first["is_active"], first["deactivated_at"]) == ("known", True, None)
    assert {_utc(first[c]) for c in ("first_seen_at", "last_seen_at", "updated_at")} == {T1}
    assert (rows["g-free"]["price_status"], rows["g-free"]["output_price_per_million"]) == ("free", None)
    assert (_utc(rows["g-tier"]["deprecation_date"]), rows["g-tier"]["provider_status"]) == (
        datetime(2027, 1, 1, tzinfo=UTC),
        "active",
    )
    assert _prices(writer) == {
        ("g-1", "input"): (Decimal(1), "known", PER_MILLION, None),
        ("g-1", "output"): (Decimal(2), "known", PER_MILLION, None),
        ("g-free", "input"): (Decimal(0), "free", PER_MILLION, None),
        ("g-tier", "input"): (Decimal("1.5"), "known", PER_MILLION, None),
        ("g-tier", "output"): (Decimal(3), "known", PER_MILLION, None),
        ("g-tier", "input_long_context"): (Decimal(3), "known", PER_MILLION, 128000),
    }
    assert sorted(_history(writer)) == sorted(
        (name, kind, None, amount, None, state) for (name, kind), (amount, state, _, _) in _prices(writer).items()
    )
    url = writer.engine.url.render_as_string(hide_password=False)
    assert {row["dagster_run_id"] for row in provider_tables(url, "groq")["price_history"]} == {"run-1"}
    [rejection] = _rows(writer, schema.rejected_models)
    assert (rejection["provider_model_id"], rejection["reason"], rejection["dagster_run_id"]) == (
        "g-bad",
        "invalid_price",
        "run-1",
    )
    assert (rejection["detail"], _utc(rejection["rejected_at"])) == ("hand-made rejection of 'g-bad'", T1)
    [provider] = _rows(writer, schema.providers)
    assert (provider["slug"], provider["name"], provider["last_sync_status"]) == ("groq", "Groq", "success")
    assert _utc(provider["last_synced_at"]) == T1


def test_a_first_write_in_several_batches_stores_each_price_and_its_history_once(writer, clock):
    """Seven models in batches of three (a provider larger than one write batch): each batch's rows go in
    by bulk insert and each batch's prices get their one first-listing history row, not one per batch so far."""
    other = write(writer, "cerebras", models("c", 2), run_id="run-0")  # another provider's ids come first
    assert other.inserted == 2
    listed = [model(f"g-{index}", str(index), str(2 * index)) for index in range(1, 8)]
    counts = write(writer, "groq", listed, run_id="run-1", batch_size=3)

    assert (counts.inserted, counts.updated, counts.models_written) == (7, 0, 7)
    assert set(_models(writer)) == {f"g-{index}" for index in range(1, 8)}
    expected = {
        (f"g-{i}", kind): (Decimal(i * n), "known", PER_MILLION, None)
        for i in range(1, 8)
        for kind, n in (("input", 1), ("output", 2))
    }
    assert _prices(writer) == expected
    history = _history(writer)
    assert len(history) == len(expected) == 14
    assert sorted(history) == sorted(
        (name, kind, None, amount, None, "known") for (name, kind), (amount, *_) in expected.items()
    )
    assert len(_history(writer, "cerebras")) == 4  # the other provider's history is its own


@pytest.mark.parametrize("held_in_memory", [1, 10_000], ids=["spilled", "in-memory"])
def test_change_events_reach_the_feed_in_the_order_they_happened(writer, clock, monkeypatch, held_in_memory):
    """Change rows waiting for the end of a PostgreSQL write (in memory, or spilled to a temporary table once
    more than `PENDING_CHANGES_IN_MEMORY` wait) reach `model_changes` complete and in the order they happened,
    batch by batch, the deactivations of the write's end last."""
    from catalog_pipeline.storage import writer as writer_module

    monkeypatch.setattr(writer_module, "PENDING_CHANGES_IN_MEMORY", held_in_memory)
    write(writer, "groq", models("g", 5), run_id="run-1", batch_size=2)
    clock.now = T2
    write(writer, "groq", [model(f"g-{i}", "9") for i in (3, 1, 4, 2)], run_id="run-2", batch_size=2)

    names = {row["id"]: name for name, row in _models(writer).items()}
    feed = [(names[row["model_id"]], row["kind"], row["dagster_run_id"]) for row in _rows(writer, schema.model_changes)]
    assert feed == [(f"g-{i}", "added", "run-1") for i in range(1, 6)] + [
        *((f"g-{i}", "price_changed", "run-2") for i in (3, 1, 4, 2)),
        ("g-5", "deactivated", "run-2"),
    ]


def test_a_postgres_write_holds_at_most_its_limit_of_change_events_in_memory(postgres_url, clock, monkeypatch):
    """Past `PENDING_CHANGES_IN_MEMORY` waiting events a write moves them into the temporary table batch by
    batch (memory stays bounded); within the limit they never touch it and are COPYed into the feed once."""
    from catalog_pipeline.storage import writer as writer_module

    copied: list[tuple[str, int]] = []
    real_copy = writer_module._copy_rows

    def recording_copy(connection, table, columns, rows):  # type: ignore[no-untyped-def]
        rows = list(rows)
        copied.append((table.name, len(rows)))
        real_copy(connection, table, columns, rows)

    monkeypatch.setattr(writer_module, "_copy_rows", recording_copy)
    writer = CatalogWriter(create_catalog_engine(postgres_url))
    monkeypatch.setattr(writer_module, "PENDING_CHANGES_IN_MEMORY", 3)
    write(writer, "groq", models("g", 8), batch_size=4)
    assert [entry for entry in copied if entry[0] in ("pending_model_changes", "model_changes")] == [
        ("pending_model_changes", 4),
        ("pending_model_changes", 4),
    ]
    copied.clear()
    monkeypatch.setattr(writer_module, "PENDING_CHANGES_IN_MEMORY", 100)
    write(writer, "cerebras", models("c", 8), batch_size=4)
    assert [entry for entry in copied if entry[0] in ("pending_model_changes", "model_changes")] == [
        ("model_changes", 8)
    ]
    assert len(_rows(writer, schema.model_changes)) == 16
    writer.engine.dispose()


def test_a_later_write_inserts_updates_leaves_alone_and_deactivates_exactly_what_changed(writer, clock):
    """Of g-1..g-4: g-1 unchanged (its row untouched), g-2's input price 1 -> 1.25 (a price change with its
    history row), g-3 renamed (content, not price), g-4 gone (deactivated, last seen at the sync before),
    g-5 new."""
    write(writer, "groq", models("g", 4))
    before = _models(writer)
    clock.now = T2
    renamed = replace(model("g-3"), name="Groq Three")
    counts = write(writer, "groq", [model("g-1"), model("g-2", "1.25"), renamed, model("g-5")], run_id="run-2")

    assert (counts.inserted, counts.updated, counts.unchanged, counts.deactivated) == (1, 2, 1, 1)
    assert (counts.rows_written, counts.active_before, counts.would_deactivate) == (4, 4, 1)
    assert counts.price_changes == [
        PriceChange(
            "g-2", "input", Decimal(1), Decimal("1.25"), PriceState.KNOWN, PriceState.KNOWN, "usd_per_million_tokens"
        )
    ]
    assert counts.price_changes[0].magnitude == Decimal("0.25")
    after = _models(writer)
    assert after["g-1"] == before["g-1"]
    assert (_utc(after["g-2"]["updated_at"]), after["g-2"]["input_price_per_million"]) == (T2, Decimal("1.25"))
    assert (after["g-3"]["name"], _utc(after["g-3"]["updated_at"])) == ("Groq Three", T2)
    assert (after["g-3"]["id"], _utc(after["g-3"]["first_seen_at"])) == (before["g-3"]["id"], T1)
    gone = after["g-4"]
    assert (gone["is_active"], _utc(gone["deactivated_at"]), _utc(gone["updated_at"])) == (False, T2, T2)
    assert _utc(gone["last_seen_at"]) == T1  # the previous sync, the last that listed it
    assert (after["g-5"]["is_active"], _utc(after["g-5"]["first_seen_at"])) == (True, T2)
    assert [h for h in _history(writer) if h[0] == "g-2"] == [
        ("g-2", "input", None, Decimal(1), None, "known"),
        ("g-2", "output", None, Decimal(2), None, "known"),
        ("g-2", "input", Decimal(1), Decimal("1.25"), "known", "known"),
    ]
    assert len(_history(writer)) == 4 * 2 + 1 + 2  # first listing, g-2's change, g-5's first listing

    clock.now = T3
    back = write(writer, "groq", [model("g-1"), model("g-2", "1.25"), renamed, model("g-4"), model("g-5")])
    assert (back.inserted, back.updated, back.unchanged, back.deactivated) == (0, 1, 4, 0)
    returned = _models(writer)["g-4"]
    assert (returned["is_active"], returned["deactivated_at"], _utc(returned["updated_at"])) == (True, None, T3)
    assert (returned["id"], _utc(returned["first_seen_at"])) == (before["g-4"]["id"], T1)


def test_an_unchanged_write_sends_nothing_and_moves_no_timestamp(writer, clock):
    """The same list twice: every model unchanged, zero rows written, rows and history as they were."""
    write(writer, "groq", models("g", 3), [rejected("g-bad")])
    url = writer.engine.url.render_as_string(hide_password=False)
    before, rejections = provider_tables(url, "groq"), _rows(writer, schema.rejected_models)
    clock.now = T2
    counts = write(writer, "groq", models("g", 3), [rejected("g-bad")])
    assert (counts.inserted, counts.updated, counts.unchanged, counts.rows_written, counts.price_changes) == (
        0,
        0,
        3,
        0,
        [],
    )
    assert provider_tables(url, "groq") == before
    assert _rows(writer, schema.rejected_models) == rejections  # same rejections: not rewritten


def test_a_price_that_stops_being_listed_becomes_unknown_and_a_new_tier_threshold_is_a_change(writer, clock):
    """cache_read dropped: stored as unknown (amount NULL, never 0), a change and a history row; the tier
    threshold moving from 128000 to 200000 alone rewrites that price."""
    tier = Price(Decimal(3), PriceState.KNOWN, PER_MILLION, 128000)
    base = model("g-1", cache_read="0.5")
    write(writer, "groq", [replace(base, prices={**base.prices, "input_long_context": tier})])
    clock.now = T2
    moved = replace(tier, threshold_tokens=200000)
    counts = write(writer, "groq", [replace(model("g-1"), prices={**model("g-1").prices, "input_long_context": moved})])
    assert sorted((c.price_type, c.old_amount, c.new_amount, c.new_state) for c in counts.price_changes) == [
        ("cache_read", Decimal("0.5"), None, PriceState.UNKNOWN),
        ("input_long_context", Decimal(3), Decimal(3), PriceState.KNOWN),
    ]
    prices = _prices(writer)
    assert prices[("g-1", "cache_read")] == (None, "unknown", PER_MILLION, None)
    assert prices[("g-1", "input_long_context")] == (Decimal(3), "known", PER_MILLION, 200000)
    assert prices[("g-1", "input")] == (Decimal(1), "known", PER_MILLION, None)
    assert sorted(_history(writer)[-2:]) == [
        ("g-1", "cache_read", Decimal("0.5"), None, "known", "unknown"),
        ("g-1", "input_long_context", Decimal(3), Decimal(3), "known", "known"),
    ]


def test_a_price_unit_or_state_change_is_a_change_too(writer, clock):
    """Same amount, another unit; same amount, another state: both rewrite the price and are changes."""
    write(writer, "groq", [model("g-1")])
    clock.now = T2
    base = model("g-1")
    counts = write(
        writer,
        "groq",
        [
            replace(
                base,
                prices={
                    "input": Price(Decimal(1), PriceState.KNOWN, "usd_per_request"),
                    "output": Price(Decimal(2), PriceState.VARIABLE, PER_MILLION),
                },
            )
        ],
    )
    assert sorted((c.price_type, c.old_state, c.new_state) for c in counts.price_changes) == [
        ("input", "known", "known"),
        ("output", "known", "variable"),
    ]
    assert _prices(writer)[("g-1", "input")] == (Decimal(1), "known", "usd_per_request", None)
    assert _prices(writer)[("g-1", "output")] == (Decimal(2), "variable", PER_MILLION, None)


def test_changed_rejections_replace_the_stored_ones_and_none_clear_them(writer, clock):
    """Rejections are the provider's current list of unstored entries: replaced when they change, removed
    when there are none."""
    write(writer, "groq", models("g", 2), [rejected("a"), rejected("b", "duplicate_id")])
    clock.now = T2
    write(writer, "groq", models("g", 2), [rejected("c", "missing_id")])
    assert [
        (r["provider_model_id"], r["reason"], _utc(r["rejected_at"])) for r in _rows(writer, schema.rejected_models)
    ] == [("c", "missing_id", T2)]
    write(writer, "groq", models("g", 2))
    assert _rows(writer, schema.rejected_models) == []


@pytest.mark.parametrize(
    ("live", "options", "blocked"),
    [
        ([], {}, True),
        ([], {"max_deactivation_share": 1.0}, True),  # an empty list is refused whatever the share allows
        (models("g", 2), {}, False),  # 2 of 4 deactivated: exactly the default share (50%) is allowed
        (models("g", 1), {}, True),  # 3 of 4: more than half
        (models("g", 1), {"max_deactivation_share": 0.75}, False),
        ([model("x-1"), model("x-2"), model("x-3"), model("x-4")], {}, True),  # a mass rename: 4 of 4 gone
        ([], {"allow_mass_deactivation": True}, False),
        (models("g", 1), {"allow_mass_deactivation": True}, False),
    ],
    ids=[
        "empty",
        "empty-at-share-1",
        "half",
        "three-quarters",
        "three-quarters-allowed-by-share",
        "rename",
        "empty-allowed",
        "shrink-allowed",
    ],
)
def test_mass_deactivation_guard_rules(writer, clock, live, options, blocked):
    """Four stored models: an empty list, a shrink beyond the share or a mass rename is refused with the
    numbers and writes nothing; within the share, or with allow_mass_deactivation, the write happens."""
    write(writer, "groq", models("g", 4))
    url = writer.engine.url.render_as_string(hide_password=False)
    before = provider_tables(url, "groq")
    clock.now = T2
    if not blocked:
        counts = write(writer, "groq", live, **options)
        still_listed = {record.provider_model_id for record in live}
        assert counts.deactivated == len({"g-1", "g-2", "g-3", "g-4"} - still_listed)
        return
    with pytest.raises(MassDeactivationBlocked) as raised:
        write(writer, "groq", live, **options)
    error = raised.value
    gone = len({"g-1", "g-2", "g-3", "g-4"} - {record.provider_model_id for record in live})
    assert (error.provider, error.stored_active, error.live, error.would_deactivate) == ("groq", 4, len(live), gone)
    assert error.share == gone / 4
    assert (error.counts.active_before, error.counts.would_deactivate) == (4, gone)
    share = options.get("max_deactivation_share", 0.5)
    assert str(error) == (
        f"provider 'groq': sync would deactivate {gone} of 4 active models ({gone / 4:.0%}, limit {share:.0%}; "
        f"live list has {len(live)}); nothing was written. If the shrink is real, re-run with "
        "allow_mass_deactivation: true."
    )
    assert provider_tables(url, "groq") == before


def test_the_guard_lets_a_first_sync_and_a_provider_with_no_active_model_through(writer, clock):
    """Nothing stored active: an empty list or any list is written, there is nothing to protect."""
    assert write(writer, "groq", []).inserted == 0
    assert write(writer, "groq", models("g", 2)).inserted == 2
    write(writer, "groq", [], allow_mass_deactivation=True)
    assert write(writer, "groq", []).deactivated == 0


def test_snapshot_round_trip_keeps_every_decimal_exactly_and_replaces_the_previous_one(writer, clock):
    """A price no float can hold survives as exact text; the latest snapshot is the one read back, and the
    history keeps every changed list up to the retention (issue 11: snapshots are a bounded history)."""
    spec = get_provider("groq")
    entries = [{"id": "g-1", "price": Decimal("0.1")}, {"id": "g-2", "price": Decimal("0.1000000000000000000000001")}]
    writer.store_snapshot(
        spec,
        FetchResult("groq", "https://api.groq.com/openai/v1/models", entries, 2, 512, 12.5, 200, 3, "primary"),
        "run-1",
    )
    writer.store_snapshot(spec, FetchResult("groq", "https://x.invalid/v2", entries[:1], 1, 100, 3.5, 203, 1, "other"))
    loaded = writer.load_snapshot(spec)
    assert replace(loaded, snapshot_id=None, live_count=None) == FetchResult(
        "groq", "https://x.invalid/v2", entries[:1], 1, 100, 3.5, 203, 0, "other"
    )
    assert loaded.count == 1
    writer.store_snapshot(
        spec, FetchResult("groq", "https://api.groq.com/openai/v1/models", entries, 2, 512, 12.5, 200, 3)
    )
    reread = writer.load_snapshot(spec).entries
    assert reread[0] == {"id": "g-1", "price": Decimal("0.1")}
    assert reread[1] == {"id": "g-2", "price": "0.1000000000000000000000001"}  # its exact text, never a float
    assert len(_rows(writer, schema.provider_catalog_snapshots)) == 3  # within the default retention of 5
    assert writer.load_snapshot(get_provider("openai")) is None


def test_the_sync_log_row_carries_the_counts_and_a_scrubbed_error(writer, clock, monkeypatch):
    """A success row has the write's numbers; a failed row marks the provider failed and never carries a
    key value, whatever raised it, cut to 4000 characters."""
    counts = write(writer, "groq", models("g", 3), [rejected("g-bad")])
    writer.log_sync("groq", T1 - timedelta(seconds=5), "success", counts, run_id="run-1", endpoint="primary")
    secret = "gsk-live-0123456789abcdef"
    monkeypatch.setenv("GROQ_API_KEY", secret)
    writer.log_sync("groq", T1, "failed", error_message=f"HTTP 401 for key {secret} " + "x" * 5000, run_id="run-2")
    success, failure = _rows(writer, schema.pricing_sync_log)
    assert {k: success[k] for k in success if k.startswith("models_") or k in ("status", "price_changes")} == {
        "status": "success",
        "models_fetched": 4,
        "models_updated": 3,
        "models_inserted": 3,
        "models_deactivated": 0,
        "models_unchanged": 0,
        "models_rejected": 1,
        "price_changes": 0,
        "models_active_before": 0,
        "models_would_deactivate": 0,
        "models_held": 0,
    }
    assert (success["dagster_run_id"], success["endpoint"], success["error_message"]) == ("run-1", "primary", None)
    assert (_utc(success["sync_started_at"]), _utc(success["sync_finished_at"])) == (T1 - timedelta(seconds=5), T1)
    assert failure["status"] == "failed" and failure["models_fetched"] == 0
    assert failure["error_message"].startswith("HTTP 401 for key *** xxx") and secret not in failure["error_message"]
    assert len(failure["error_message"]) == 4000
    [provider] = _rows(writer, schema.providers)
    assert provider["last_sync_status"] == "failed"
    writer.log_sync("groq", T1, "success", counts)
    assert _rows(writer, schema.providers)[0]["last_sync_status"] == "failed"  # only write_provider sets success


def test_a_renamed_provider_gets_its_new_display_name(writer, clock):
    """The display name follows the spec; the slug (and so the rows) stay."""
    write(writer, "groq", models("g", 1))
    spec = replace(get_provider("groq"), name="GroqCloud")
    fetched = FetchResult("groq", "https://api.groq.com/openai/v1/models", [{}], 1, 0, 0.0, 200, 1)
    from catalog_pipeline.providers.normalize import NormalizedCatalog

    writer.write_provider(spec, fetched, NormalizedCatalog(models=models("g", 1), rejections=[]))
    [provider] = _rows(writer, schema.providers)
    assert (provider["slug"], provider["name"]) == ("groq", "GroqCloud")


def test_field_observations_keep_the_first_sighting_and_report_new_and_vanished_fields(writer, clock):
    """First sync: an unknown field is news. Later: a read field absent from every entry is news (vanished),
    and a field's first_seen_at stays the first sync's."""
    spec = get_provider("groq")

    def fetched(entries: list[dict]) -> FetchResult:
        return FetchResult("groq", "https://api.groq.com/openai/v1/models", entries, 1, 0, 0.0, 200, 1)

    first = writer.record_field_observations(spec, fetched([{"id": "g-1", "context_window": 8192, "sparkle": 1}]))
    assert [(o.path, o.status, o.entries, o.sample) for o in first] == [("sparkle", "unknown", 1, "1")]
    clock.now = T2
    later = writer.record_field_observations(spec, fetched([{"id": "g-1", "sparkle": 2}]))
    assert [(o.path, o.status) for o in later] == [("sparkle", "unknown"), ("context_window", "vanished")]
    seen = writer.field_first_seen("groq", "primary")
    assert {path: _utc(when) for path, when in seen.items()} == {"id": T1, "context_window": T1, "sparkle": T1}
    rows = {row["key_path"]: row for row in _rows(writer, schema.payload_key_observations)}
    assert (rows["context_window"]["status"], rows["context_window"]["entries_with_key"]) == ("vanished", 0)
    assert _utc(rows["context_window"]["last_seen_at"]) == T1  # vanished: last seen where it was
    assert (rows["sparkle"]["sample_value"], _utc(rows["sparkle"]["last_seen_at"])) == ("2", T2)


def test_fields_are_remembered_per_provider_and_a_list_with_no_field_left_records_the_vanished_ones(writer, clock):
    """Groq's `name` seen is no news for Cerebras, whose first list has no `name` (both specs read it, on the
    same endpoint name); a later Groq list of entries without any field stores every read field as vanished."""
    groq, cerebras = get_provider("groq"), get_provider("cerebras")

    def fetched(slug: str, entries: list[dict]) -> FetchResult:
        return FetchResult(slug, f"https://{slug}.invalid/models", entries, 1, 0, 0.0, 200, 1)

    writer.record_field_observations(groq, fetched("groq", [{"id": "g-1", "name": "G", "context_window": 8}]))
    news = writer.record_field_observations(cerebras, fetched("cerebras", [{"id": "c-1"}]))
    assert news == []
    clock.now = T2
    news = writer.record_field_observations(groq, fetched("groq", [{}]))
    assert sorted((o.path, o.status) for o in news) == [
        ("context_window", "vanished"),
        ("id", "vanished"),
        ("name", "vanished"),
    ]
    rows = _rows(writer, schema.payload_key_observations)
    groq_id = next(row["id"] for row in _rows(writer, schema.providers) if row["slug"] == "groq")
    assert sorted((r["key_path"], r["status"]) for r in rows if r["provider_id"] == groq_id) == [
        ("context_window", "vanished"),
        ("id", "vanished"),
        ("name", "vanished"),
    ]


def test_field_names_longer_than_the_stored_path_are_kept_once(writer, clock):
    """Two unknown fields whose names share their first 256 characters (the stored path's length) are one
    stored row, not a failed write; a third field next to them is stored as usual."""
    spec = get_provider("groq")
    long_a, long_b = "k" * 256 + "a", "k" * 256 + "b"
    entries = [{"id": "g-1", long_a: 1, long_b: 2, "sparkle": 3}]
    fetched = FetchResult("groq", "https://api.groq.com/openai/v1/models", entries, 1, 0, 0.0, 200, 1)

    news = writer.record_field_observations(spec, fetched)

    assert {o.path for o in news} == {long_a, long_b, "sparkle"}
    rows = {row["key_path"]: row for row in _rows(writer, schema.payload_key_observations)}
    assert set(rows) == {"id", "k" * 256, "sparkle"}
    assert (rows["k" * 256]["status"], rows["sparkle"]["sample_value"]) == ("unknown", "3")


def test_provider_lock_keys_are_stable_signed_32_bit_integers():
    """Two versions of the code must take the same lock for a provider: the keys are pinned."""
    assert provider_lock_key("groq") == -1784178086
    assert provider_lock_key("cloudflare-workers-ai") == 1371682796
    assert all(-(2**31) <= provider_lock_key(slug) < 2**31 for slug in ("a", "zzzzzzzz", "openrouter"))


def test_a_model_gone_after_unchanged_syncs_was_last_seen_at_the_sync_before_and_the_provider_row_moves(writer, clock):
    """Listed at T1 and T2 (unchanged), gone at T3: last_seen_at is T2, the last sync that listed it; the
    provider's updated_at and last_synced_at follow every successful write."""
    write(writer, "groq", models("g", 3))
    clock.now = T2
    write(writer, "groq", models("g", 3))
    assert _utc(_rows(writer, schema.providers)[0]["updated_at"]) == T2
    clock.now = T3
    counts = write(writer, "groq", models("g", 2))
    writer.log_sync("groq", T3, "success", counts)
    gone = _models(writer)["g-3"]
    assert (_utc(gone["last_seen_at"]), _utc(gone["deactivated_at"])) == (T2, T3)
    [provider] = _rows(writer, schema.providers)
    assert (_utc(provider["updated_at"]), _utc(provider["last_synced_at"])) == (T3, T3)
    log = _rows(writer, schema.pricing_sync_log)[-1]
    assert (log["models_deactivated"], log["models_unchanged"], log["models_updated"]) == (1, 2, 1)


def test_a_price_change_is_counted_in_the_sync_log(writer, clock):
    """Two prices move: price_changes 2 in the log row."""
    write(writer, "groq", models("g", 2))
    clock.now = T2
    counts = write(writer, "groq", [model("g-1", "5"), model("g-2", "1", "7")])
    writer.log_sync("groq", T2, "success", counts)
    assert _rows(writer, schema.pricing_sync_log)[-1]["price_changes"] == 2


@pytest.mark.parametrize("live", [[], [model("x-1")]], ids=["empty", "renamed"])
def test_the_guard_protects_a_single_stored_model_too(writer, clock, live):
    """One stored model: an empty list or its rename would deactivate 100 % of it: refused."""
    write(writer, "groq", models("g", 1))
    with pytest.raises(MassDeactivationBlocked) as raised:
        write(writer, "groq", live)
    assert (raised.value.stored_active, raised.value.would_deactivate, raised.value.max_share) == (1, 1, 0.5)


def test_an_unknown_price_stays_unknown_without_a_change_and_its_return_is_one(writer, clock):
    """A price unknown at two syncs is no change when the model's name changes; becoming known is."""
    unknown = replace(model("g-1"), prices={"input": Price(None, PriceState.UNKNOWN, PER_MILLION)})
    write(writer, "groq", [unknown])
    clock.now = T2
    counts = write(writer, "groq", [replace(unknown, name="renamed")])
    assert (counts.updated, counts.price_changes) == (1, [])
    clock.now = T3
    counts = write(writer, "groq", [replace(model("g-1", output_price=None), name="renamed")])
    assert [(c.price_type, c.old_state, c.new_amount) for c in counts.price_changes] == [
        ("input", PriceState.UNKNOWN, Decimal(1))
    ]


def test_an_unchanged_id_less_rejection_is_not_rewritten(writer, clock):
    """A rejection without an id (missing_id) compares equal to itself: the second write keeps its row."""
    write(writer, "groq", models("g", 1), [rejected(None, "missing_id")])
    before = _rows(writer, schema.rejected_models)
    clock.now = T2
    write(writer, "groq", models("g", 1), [rejected(None, "missing_id")])
    assert _rows(writer, schema.rejected_models) == before


def test_snapshots_and_field_observations_are_kept_per_provider_and_endpoint(writer, clock):
    """Two providers' snapshots do not mix; observations of another provider or endpoint neither count as
    previously read nor show up in first-seen times."""
    groq, openai = get_provider("groq"), get_provider("openai")
    writer.store_snapshot(groq, FetchResult("groq", "https://g.invalid", [{"id": "g"}], 1, 1, 1.0, 200, 1))
    writer.store_snapshot(openai, FetchResult("openai", "https://o.invalid", [{"id": "o"}], 1, 1, 1.0, 200, 1))
    assert writer.load_snapshot(groq).entries == [{"id": "g"}]
    assert writer.load_snapshot(openai).entries == [{"id": "o"}]

    def fetched(slug: str, entries: list[dict], endpoint: str = "primary") -> FetchResult:
        return FetchResult(slug, "https://x.invalid", entries, 1, 0, 0.0, 200, 1, endpoint)

    writer.record_field_observations(openai, fetched("openai", [{"id": "o", "context_window": 1}]))
    writer.record_field_observations(groq, fetched("groq", [{"id": "g", "context_window": 1}], "other"))
    clock.now = T2
    news = writer.record_field_observations(groq, fetched("groq", [{"id": "g"}]))
    assert news == []  # context_window was read by openai and by groq's other endpoint, never here
    assert set(writer.field_first_seen("groq", "primary")) == {"id"}
    assert set(writer.field_first_seen("groq", "other")) == {"id", "context_window"}


@pytest.mark.postgres
def test_a_write_waits_for_the_providers_advisory_lock(postgres_url, clock):
    """While another session holds groq's lock (namespace 'CATG', crc32 of the slug), a groq write waits on
    it; released, the write completes. Another provider's write does not wait."""
    import threading

    engine = create_catalog_engine(postgres_url)
    writer = CatalogWriter(engine)
    holder = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with holder.connect() as connection:
        connection.execute(sa.select(sa.func.pg_advisory_lock(int.from_bytes(b"CATG"), provider_lock_key("groq"))))
        write(writer, "openai", models("o", 1))  # not blocked
        done = threading.Event()
        worker = threading.Thread(target=lambda: (write(writer, "groq", models("g", 1)), done.set()), daemon=True)
        worker.start()
        assert not done.wait(1.5), "the write went ahead while the provider's lock was held"
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
        ).scalar_one()
        assert waiting == 1
        connection.execute(sa.select(sa.func.pg_advisory_unlock(int.from_bytes(b"CATG"), provider_lock_key("groq"))))
        assert done.wait(30)
    worker.join(5)
    assert set(_models(writer)) == {"g-1"}
    holder.dispose()
    engine.dispose()


def test_price_and_context_anomalies_are_held_with_their_rule_and_applied_only_when_accepted(writer, clock):
    """Stored: input 1, output 2, context 8192. Then: h-up input x11 (beyond 10x: price_factor), h-down
    output /11 (price_factor), h-zero input to 0 (price_to_zero), h-ctx context to 4095 (shrinks by more
    than half); ok-10x moves exactly 10x and ok-ctx to 4096 (exactly half): applied. Held models keep every
    stored value; accept_held_changes applies them."""
    base = ["h-up", "h-down", "h-zero", "h-ctx", "ok-10x", "ok-ctx", "from-zero"]
    write(writer, "groq", [model(name) for name in base[:-1]] + [model("from-zero", "0")])
    before = _models(writer)
    clock.now = T2
    fresh = [
        model("h-up", "11"),
        model("h-down", "1", "0.18"),
        model("h-zero", "0"),
        replace(model("h-ctx"), context_length=4095),
        model("ok-10x", "10"),
        replace(model("ok-ctx"), context_length=4096),
        model("from-zero", "3"),
    ]
    counts = write(writer, "groq", fresh)
    assert sorted((c.provider_model_id, c.field, c.rule, c.old_value, c.new_value) for c in counts.held) == [
        ("from-zero", "input_price", "price_from_zero", Decimal(0), Decimal(3)),
        ("h-ctx", "context_length", "context_shrink", 8192, 4095),
        ("h-down", "output_price", "price_factor", Decimal(2), Decimal("0.18")),
        ("h-up", "input_price", "price_factor", Decimal(1), Decimal(11)),
        ("h-zero", "input_price", "price_to_zero", Decimal(1), Decimal(0)),
    ]
    assert counts.models_held == 5
    assert sorted(c.describe() for c in counts.held)[:2] == [
        "from-zero input_price 0 -> 3 (price_from_zero)",
        "h-ctx context_length 8192 -> 4095 (context_shrink)",
    ]
    after = _models(writer)
    for name in ("h-up", "h-down", "h-zero", "h-ctx", "from-zero"):
        assert after[name] == before[name], name
    assert (after["ok-10x"]["input_price_per_million"], after["ok-ctx"]["context_length"]) == (Decimal(10), 4096)
    assert _prices(writer)[("h-up", "input")][0] == Decimal(1)

    clock.now = T3
    accepted = write(writer, "groq", fresh, accept_held_changes=True)
    assert accepted.held == []
    final = _models(writer)
    assert (final["h-up"]["input_price_per_million"], final["h-ctx"]["context_length"]) == (Decimal(11), 4095)
    assert final["h-zero"]["input_price_per_million"] == Decimal(0)


def test_a_price_that_becomes_unknown_or_changes_unit_is_never_held(writer, clock):
    """Nothing is claimed when a price turns unknown, and a unit change is a different price: both apply."""
    write(writer, "groq", [model("u-1"), model("u-2")])
    clock.now = T2
    unit_changed = replace(model("u-2"), prices={"input": Price(Decimal(500), PriceState.KNOWN, "usd_per_request")})
    counts = write(writer, "groq", [model("u-1", None), unit_changed])
    assert counts.held == []
    assert _prices(writer)[("u-1", "input")][1] == "unknown"
    assert _prices(writer)[("u-2", "input")][:3] == (Decimal(500), "known", "usd_per_request")


def _held_rows(writer: CatalogWriter) -> list[tuple]:
    names = {row["id"]: row["provider_model_id"] for row in _rows(writer, schema.models)}
    return [
        (
            names[row["model_id"]],
            row["field"],
            row["rule"],
            row["old_value"],
            row["new_value"],
            row["unit"],
            row["status"],
            _utc(row["first_held_at"]),
            _utc(row["last_held_at"]),
            row["dagster_run_id"],
            _utc(row["resolved_at"]),
            row["resolved_run_id"],
        )
        for row in _rows(writer, schema.held_changes)
    ]


def _held_events(counts) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [(event.provider_model_id, event.details["new"]) for event in counts.changes if event.kind == "held"]


def test_a_held_change_is_one_open_row_until_the_provider_withdraws_it_or_it_is_accepted(writer, clock):
    """held_changes over four syncs of groq (stored input 1, output 2, context 8192 at T1):

    - T2 (run-2): a-1 input 1 -> 11 (price_factor), a-2 context 8192 -> 4095 (context_shrink), a-3 input
      1 -> 0 (price_to_zero): three rows `held`, first and last held at T2, run-2; three `held` events.
    - T3 (run-3): a-1 still 11 (the same row, last held T3, no new event), a-2 now 4000 (the same row with the
      new proposal, one event), a-3 back at 1: `withdrawn`, resolved at T3 by run-3.
    - T4 (run-4), accepted: a-1 and a-2 `applied`, resolved at T4 by run-4; a-3 to 0 again is accepted at once:
      a new row, `applied`, first and last held T4, run-4. No `held` events.
    - cerebras' own held row is never touched by groq's syncs.
    """
    write(writer, "groq", [model("a-1"), model("a-2"), model("a-3")], run_id="run-1")
    write(writer, "cerebras", [model("c-1")], run_id="run-1")
    clock.now = T2
    counts = write(
        writer,
        "groq",
        [model("a-1", "11"), replace(model("a-2"), context_length=4095), model("a-3", "0")],
        run_id="run-2",
    )
    write(writer, "cerebras", [model("c-1", "0")], run_id="run-2")
    assert _held_events(counts) == [("a-1", "11"), ("a-2", 4095), ("a-3", "0")]
    held_at_t2 = [
        (
            "a-1",
            "input_price",
            "price_factor",
            Decimal(1),
            Decimal(11),
            PER_MILLION,
            "held",
            T2,
            T2,
            "run-2",
            None,
            None,
        ),
        ("a-2", "context_length", "context_shrink", 8192, 4095, None, "held", T2, T2, "run-2", None, None),
        (
            "a-3",
            "input_price",
            "price_to_zero",
            Decimal(1),
            Decimal(0),
            PER_MILLION,
            "held",
            T2,
            T2,
            "run-2",
            None,
            None,
        ),
        (
            "c-1",
            "input_price",
            "price_to_zero",
            Decimal(1),
            Decimal(0),
            PER_MILLION,
            "held",
            T2,
            T2,
            "run-2",
            None,
            None,
        ),
    ]
    assert _held_rows(writer) == held_at_t2

    clock.now = T3
    counts = write(
        writer, "groq", [model("a-1", "11"), replace(model("a-2"), context_length=4000), model("a-3")], run_id="run-3"
    )
    assert _held_events(counts) == [("a-2", 4000)]
    assert _held_rows(writer) == [
        (
            "a-1",
            "input_price",
            "price_factor",
            Decimal(1),
            Decimal(11),
            PER_MILLION,
            "held",
            T2,
            T3,
            "run-3",
            None,
            None,
        ),
        ("a-2", "context_length", "context_shrink", 8192, 4000, None, "held", T2, T3, "run-3", None, None),
        (
            "a-3",
            "input_price",
            "price_to_zero",
            Decimal(1),
            Decimal(0),
            PER_MILLION,
            "withdrawn",
            T2,
            T2,
            "run-2",
            T3,
            "run-3",
        ),
        held_at_t2[3],
    ]

    clock.now = T4
    fresh = [model("a-1", "11"), replace(model("a-2"), context_length=4000), model("a-3", "0")]
    counts = write(writer, "groq", fresh, run_id="run-4", accept_held_changes=True)
    assert (_held_events(counts), counts.held, len(counts.accepted)) == ([], [], 3)
    assert _held_rows(writer) == [
        (
            "a-1",
            "input_price",
            "price_factor",
            Decimal(1),
            Decimal(11),
            PER_MILLION,
            "applied",
            T2,
            T4,
            "run-3",
            T4,
            "run-4",
        ),
        ("a-2", "context_length", "context_shrink", 8192, 4000, None, "applied", T2, T4, "run-3", T4, "run-4"),
        (
            "a-3",
            "input_price",
            "price_to_zero",
            Decimal(1),
            Decimal(0),
            PER_MILLION,
            "withdrawn",
            T2,
            T2,
            "run-2",
            T3,
            "run-3",
        ),
        held_at_t2[3],
        (
            "a-3",
            "input_price",
            "price_to_zero",
            Decimal(1),
            Decimal(0),
            PER_MILLION,
            "applied",
            T4,
            T4,
            "run-4",
            T4,
            "run-4",
        ),
    ]
