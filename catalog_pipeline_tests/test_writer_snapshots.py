"""The writer's snapshot history and unchanged-list path (issue 11), called directly on SQLite and PostgreSQL:
what `confirm_unchanged` reports and moves, what `latest_snapshot`/`load_snapshot` read back, how the history
is pruned to `CATALOG_SNAPSHOT_RETENTION`, `stored_drift`, `model_ids_digest`, and the change feed a write
records. Fast (no Dagster run), so `make mutation` uses it for `storage/writer.py`.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from catalog_pipeline.http_engine import FetchResult, PageValidator
from catalog_pipeline.providers.drift import FieldObservation, FieldObserver
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline.storage import schema
from catalog_pipeline.storage import writer as writer_module
from catalog_pipeline.storage.changes import ChangeKind
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import (
    SAME_PAYLOAD,
    CatalogWriter,
    SnapshotToStore,
    StoredSnapshot,
    SyncCounts,
    model_ids_digest,
)
from catalog_pipeline_tests.catalog_builders import PER_MILLION, T1, T2, model, models, rejected, write
from catalog_pipeline_tests.catalog_builders import as_utc as _utc

GROQ_URL = "https://api.groq.com/openai/v1/models"
VALIDATORS = (PageValidator(None, '"etag-1"', "Tue, 01 Sep 2026 10:00:00 GMT"), PageValidator("page-2", '"etag-2"'))


def _rows(writer: CatalogWriter, table: sa.Table) -> list[dict]:
    with writer.engine.connect() as connection:
        return [
            dict(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns)).mappings()
        ]


def _fetched(slug: str, entries: list, endpoint: str = "primary", **fields: object) -> FetchResult:
    return FetchResult(slug, f"https://{slug}.invalid/models", entries, 1, 64, 1.5, 200, 1, endpoint, **fields)


def _write_applied(writer: CatalogWriter, slug: str, records, rejections=(), run_id: str = "run-1") -> SyncCounts:
    """`records` written as the whole list, with its raw list stored as the applied snapshot."""
    raw = _fetched(slug, [{"id": r.provider_model_id} for r in records], payload_sha256=f"sha-{slug}")
    return write(writer, slug, records, list(rejections), snapshot=SnapshotToStore(raw, run_id))


def test_an_unchanged_list_reports_the_stored_counts_and_moves_only_this_providers_sync_times(writer, clock):
    """confirm_unchanged: the counts are groq's stored ones (3 active of 4 stored, 2 rejections by reason,
    the snapshot's live count), never openai's; the confirmed snapshot, groq's provider row (back to
    success) and groq's primary-endpoint fields move to now; a vanished field, another endpoint's field,
    another snapshot and another provider stay where they were; the sync log's row and the endpoint's
    unknown and vanished fields come back from the same transaction."""
    groq = get_provider("groq")
    write(writer, "groq", models("g", 4))
    write(writer, "openai", models("o", 5), [rejected("o-bad", "missing_price")])
    counts = _write_applied(writer, "groq", models("g", 3), [rejected("g-x"), rejected("g-y", "missing_id")])
    assert counts.deactivated == 1
    writer.record_field_observations(groq, _fetched("groq", [{"id": "g-1", "context_window": 1, "sparkle": 1}]))
    writer.record_field_observations(groq, _fetched("groq", [{"id": "g-1"}]))  # context_window vanished
    writer.record_field_observations(groq, _fetched("groq", [{"id": "g-1"}], "other"))
    writer.log_sync("groq", T1, "failed", error_message="HTTP 500")
    applied = writer.latest_snapshot(groq)
    writer.store_snapshot(groq, _fetched("groq", [{"id": "g-9"}]))  # newer, not applied: not the one confirmed
    clock.now = T2

    confirmed, drift = writer.confirm_unchanged(
        groq, applied, _fetched("groq", []), SAME_PAYLOAD, started_at=T2, run_id="run-9"
    )

    assert confirmed == SyncCounts(
        provider="groq",
        fetched=3,
        unchanged=3,
        rejected=2,
        active_before=3,
        would_deactivate=0,
        catalog_change="same_payload",
        rejection_reasons={"invalid_price": 1, "missing_id": 1},
    )
    assert drift == [  # groq's primary endpoint only: not the other endpoint's, not openai's
        FieldObservation("context_window", "vanished", 0, "1"),
        FieldObservation("sparkle", "unknown", 1, "1"),
    ]
    logged = [
        (row["status"], row["catalog_change"], row["models_unchanged"], row["dagster_run_id"])
        for row in _rows(writer, schema.pricing_sync_log)
    ]
    assert logged == [("failed", None, 0, None), ("success", "same_payload", 3, "run-9")]
    snapshots = [(row["id"], _utc(row["confirmed_at"])) for row in _rows(writer, schema.provider_catalog_snapshots)]
    assert snapshots == [(applied.id, T2), (applied.id + 1, None)]
    providers = {row["slug"]: row for row in _rows(writer, schema.providers)}
    assert (providers["groq"]["last_sync_status"], _utc(providers["groq"]["last_synced_at"])) == ("success", T2)
    assert _utc(providers["openai"]["last_synced_at"]) == T1
    seen = {
        (row["endpoint"], row["key_path"]): (row["status"], _utc(row["last_seen_at"]))
        for row in _rows(writer, schema.payload_key_observations)
    }
    assert seen == {
        ("primary", "id"): ("read", T2),
        ("primary", "sparkle"): ("unknown", T2),
        ("primary", "context_window"): ("vanished", T1),
        ("other", "id"): ("read", T1),
    }


def test_the_applied_and_the_newest_snapshot_are_read_back_with_their_validators_digest_and_run(writer, clock):
    """latest_snapshot: the newest applied snapshot of this provider (not openai's newer one) with its id,
    endpoint, live count, pages, payload digest, page validators and model-id digest; with applied=False
    the newest one, unapplied and without a digest. The stored row keeps the Dagster run id."""
    groq = get_provider("groq")
    raw = FetchResult(
        "groq", GROQ_URL, [{"id": "g-1"}], 2, 900, 12.5, 200, 2, "primary", 3, "sha-1", validators=VALIDATORS
    )
    write(writer, "groq", models("g", 3), snapshot=SnapshotToStore(raw, "run-7"))
    writer.store_snapshot(groq, _fetched("groq", [{"id": "g-1"}], "other", payload_sha256="sha-2"), "run-8")
    write(writer, "openai", models("o", 1), snapshot=SnapshotToStore(_fetched("openai", [{}]), "run-9"))

    first_id = _rows(writer, schema.provider_catalog_snapshots)[0]["id"]
    assert writer.latest_snapshot(groq) == StoredSnapshot(
        id=first_id,
        endpoint="primary",
        live_count=3,
        pages=2,
        payload_sha256="sha-1",
        validators=VALIDATORS,
        applied=True,
        model_ids_digest=model_ids_digest(["g-1", "g-2", "g-3"]),
    )
    assert writer.latest_snapshot(groq, applied=False) == StoredSnapshot(
        id=first_id + 1,
        endpoint="other",
        live_count=1,
        pages=1,
        payload_sha256="sha-2",
        validators=(),
        applied=False,
        model_ids_digest=None,
    )
    runs = [
        (row["dagster_run_id"], row["model_ids_digest"]) for row in _rows(writer, schema.provider_catalog_snapshots)
    ]
    assert runs == [
        ("run-7", model_ids_digest(["g-1", "g-2", "g-3"])),
        ("run-8", None),
        ("run-9", model_ids_digest(["o-1"])),
    ]
    assert writer.latest_snapshot(get_provider("cerebras")) is None


def test_a_stored_snapshot_loads_back_by_id_with_its_digest_validators_and_id(writer, clock):
    """load_snapshot: the newest snapshot of this provider, or the one asked for by id, with its payload
    digest, validators and snapshot id (what a replayed sync reads), never another provider's."""
    groq = get_provider("groq")
    older = FetchResult("groq", GROQ_URL, [{"id": "g-1"}], 2, 900, 12.5, 200, 2, payload_sha256="sha-1")
    writer.store_snapshot(groq, replace(older, validators=VALIDATORS))
    writer.store_snapshot(groq, _fetched("groq", [{"id": "g-2"}, {"id": "g-3"}], payload_sha256="sha-2"))
    writer.store_snapshot(get_provider("openai"), _fetched("openai", [{"id": "o-1"}]))
    first_id = _rows(writer, schema.provider_catalog_snapshots)[0]["id"]

    newest = writer.load_snapshot(groq)
    by_id = writer.load_snapshot(groq, first_id)

    assert (newest.entries, newest.payload_sha256, newest.snapshot_id) == (
        [{"id": "g-2"}, {"id": "g-3"}],
        "sha-2",
        first_id + 1,
    )
    assert by_id == replace(older, attempts=0, live_count=1, validators=VALIDATORS, snapshot_id=first_id)


def test_the_history_keeps_the_retention_newest_snapshots_and_always_the_applied_one(database_url, clock):
    """CATALOG_SNAPSHOT_RETENTION=2: after an applied list and three newer unapplied ones, groq keeps the
    two newest and the applied one; openai's snapshot is not groq's to prune."""
    engine = create_catalog_engine(database_url)
    writer = CatalogWriter(engine, snapshot_retention=2)
    groq = get_provider("groq")
    writer.store_snapshot(get_provider("openai"), _fetched("openai", [{"id": "o-1"}]))
    _write_applied(writer, "groq", models("g", 2))
    for number in range(3, 6):
        writer.store_snapshot(groq, _fetched("groq", [{"id": f"g-{number}"}]))
    rows = _rows(writer, schema.provider_catalog_snapshots)
    engine.dispose()
    kept = [(row["id"] - rows[0]["id"], row["live_count"], row["applied"]) for row in rows]
    assert kept == [(0, 1, False), (1, 2, True), (3, 1, False), (4, 1, False)]  # openai's, groq's applied, newest 2


def test_a_provider_never_applied_keeps_its_retention_newest_snapshots(database_url, clock):
    """CATALOG_SNAPSHOT_RETENTION=2 and no list of groq ever applied (each was blocked, say): of four
    snapshots, the two newest are kept."""
    engine = create_catalog_engine(database_url)
    writer = CatalogWriter(engine, snapshot_retention=2)
    groq = get_provider("groq")
    for number in range(1, 5):
        writer.store_snapshot(groq, _fetched("groq", [{"id": f"g-{n}"} for n in range(number)]))
    rows = _rows(writer, schema.provider_catalog_snapshots)
    engine.dispose()
    assert [(row["live_count"], row["applied"]) for row in rows] == [(3, False), (4, False)]


def test_a_write_from_a_stored_snapshot_marks_that_row_applied_and_confirmed(writer, clock):
    """A write made from an existing snapshot row (a replay) marks that row applied, with the written
    ids' digest and confirmed now, and adds no row; a write with held changes keeps its list unapplied."""
    groq = get_provider("groq")
    writer.store_snapshot(groq, _fetched("groq", [{"id": "g-1"}, {"id": "g-2"}]))
    [stored] = _rows(writer, schema.provider_catalog_snapshots)
    clock.now = T2
    write(writer, "groq", models("g", 2), snapshot=SnapshotToStore(existing_id=stored["id"]))
    [row] = _rows(writer, schema.provider_catalog_snapshots)
    assert (row["applied"], row["model_ids_digest"], _utc(row["confirmed_at"])) == (
        True,
        model_ids_digest(["g-2", "g-1"]),
        T2,
    )
    held = write(writer, "groq", [model("g-1", "100"), model("g-2")], snapshot=SnapshotToStore(_fetched("groq", [])))
    assert held.models_held == 1
    assert writer.latest_snapshot(groq, applied=False).applied is False
    assert writer.latest_snapshot(groq).id == stored["id"]


def test_stored_drift_lists_this_providers_unknown_and_vanished_fields_of_one_endpoint(writer, clock):
    """stored_drift: groq's primary endpoint's unknown and vanished fields (path, status, entries, sample),
    by path; neither a read field, nor groq's other endpoint, nor openai's fields."""
    groq, openai = get_provider("groq"), get_provider("openai")
    writer.record_field_observations(groq, _fetched("groq", [{"id": "g", "context_window": 1, "sparkle": 7}]))
    writer.record_field_observations(groq, _fetched("groq", [{"id": "g", "sparkle": 7}, {"id": "h"}]))
    writer.record_field_observations(groq, _fetched("groq", [{"id": "g", "glitter": 1}], "other"))
    writer.record_field_observations(openai, _fetched("openai", [{"id": "o", "shimmer": 1}]))
    assert writer.stored_drift(groq, "primary") == [
        FieldObservation("context_window", "vanished", 0, "1"),
        FieldObservation("sparkle", "unknown", 1, "7"),
    ]


def test_the_model_ids_digest_is_their_count_and_the_sum_of_their_hashes_modulo_2_64():
    """Order-free, duplicates counted, the count in hex then 16 hex digits: the exact values of known ids."""
    ids = [f"model-{number}" for number in range(17)]
    assert model_ids_digest(ids) == model_ids_digest(reversed(ids))
    assert model_ids_digest(ids) == "11-" + format(sum(_blake(i.encode()) for i in ids) % 2**64, "016x")
    assert sum(_blake(i.encode()) for i in ids) > 2**64  # the sum wraps: only its low 64 bits are kept
    assert model_ids_digest(["a", "b"]) == "2-" + format(_blake(b"a") + _blake(b"b") & (2**64 - 1), "016x")
    assert model_ids_digest([]) == "0-0000000000000000"


def _blake(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def test_the_change_feed_names_the_deactivated_model_the_price_unit_and_the_held_unit(writer, clock):
    """The change events of a write: a price change carries its unit, a deprecation date listed again
    unchanged is no new announcement, only the model that left is deactivated, a held price names its unit."""
    dated = datetime(2027, 1, 31, tzinfo=UTC)
    write(writer, "groq", [replace(model("g-1"), deprecation_date=dated), model("g-2"), model("g-3")])
    counts = write(writer, "groq", [replace(model("g-1", "1.5"), deprecation_date=dated), model("g-2")])
    events = [(e.provider_model_id, e.kind, (e.details or {}).get("unit")) for e in counts.changes]
    assert events == [("g-1", ChangeKind.PRICE_CHANGED, PER_MILLION), ("g-3", ChangeKind.DEACTIVATED, None)]
    held = write(writer, "groq", [model("g-1", "150"), model("g-2")])
    assert [(e.provider_model_id, e.kind, e.details["unit"]) for e in held.changes] == [
        ("g-1", ChangeKind.HELD, PER_MILLION)
    ]


def test_the_write_stage_seconds_are_differences_of_the_clock(writer, clock, monkeypatch):
    """With a clock that does not move, every stage of the write reports 0 seconds (the stage timings are
    end minus start, shown as `seconds_*` metadata)."""
    monkeypatch.setattr(writer_module, "time", SimpleNamespace(perf_counter=lambda: 1000.0))
    write(writer, "groq", models("g", 2))
    counts = write(writer, "groq", [model("g-1", "1.5"), model("g-2")])
    assert counts.seconds == {"normalize": 0.0, "hash": 0.0, "models": 0.0, "prices": 0.0, "finish": 0.0}


@pytest.mark.postgres
def test_a_first_listing_on_postgresql_is_copied_and_a_later_one_upserted(postgres_url, clock, monkeypatch):
    """On PostgreSQL a provider with no stored model is COPYed straight into its tables (issue 11), and a
    provider with stored models goes through the upsert; the rows are the same either way."""
    calls: list[str] = []
    for name in ("_copy_new_models", "_upsert_models"):
        original = getattr(CatalogWriter, name)
        spy = staticmethod(lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k))
        monkeypatch.setattr(CatalogWriter, name, spy)
    engine = create_catalog_engine(postgres_url)
    writer = CatalogWriter(engine)
    write(writer, "groq", models("g", 2))
    write(writer, "groq", [model("g-1", "3"), model("g-2")])
    engine.dispose()
    assert calls == ["_copy_new_models", "_upsert_models"]


def test_each_write_records_its_own_change_events_once_in_order(writer, clock, monkeypatch):
    """The change feed after three writes on one engine (one pooled connection): each event once, in the
    order it happened; the PostgreSQL write's temporary tables end with its transaction, so nothing of a
    write is replayed by the next. The staging tables are built fresh, as in a new process."""
    monkeypatch.setattr(writer_module, "_staging_metadata", sa.MetaData())
    write(writer, "groq", models("g", 2))
    write(writer, "groq", [model("g-1", "1.5"), model("g-2")])
    write(writer, "groq", [model("g-1", "1.5"), model("g-2", "1", "3")])
    with writer.engine.connect() as connection:
        feed = connection.execute(
            sa.select(schema.models.c.provider_model_id, schema.model_changes.c.kind)
            .join(schema.models, schema.models.c.id == schema.model_changes.c.model_id)
            .order_by(schema.model_changes.c.id)
        ).all()
    assert [tuple(row) for row in feed] == [
        ("g-1", ChangeKind.ADDED),
        ("g-2", ChangeKind.ADDED),
        ("g-1", ChangeKind.PRICE_CHANGED),
        ("g-2", ChangeKind.PRICE_CHANGED),
    ]


def test_a_write_given_its_observer_and_start_records_its_fields_and_log_row_with_it(writer, clock):
    """write_provider with the fields observed and the sync's start: groq's unknown and vanished fields come
    back as `counts.drift` (this endpoint's only) and are stored, and the sync log's success row carries the
    write's own counts (2 new, 2 kept, 1 of 3 stored deactivated, 1 rejected) and the endpoint."""
    groq = get_provider("groq")
    kept = [model("g-kept-1"), model("g-kept-2")]
    write(writer, "groq", [model("g-old"), *kept])
    writer.record_field_observations(groq, _fetched("groq", [{"id": "g-old", "context_window": 1}]))
    writer.record_field_observations(groq, _fetched("groq", [{"id": "g-old", "gone": 1}], "other"))
    observer = FieldObserver(groq)
    observer.add([{"id": "g-1", "sparkle": True}, {"id": "g-2"}])  # context_window no longer listed
    clock.now = T2

    counts = write(
        writer, "groq", models("g", 2) + kept, [rejected("g-x")], observer=observer, log_started_at=T1, run_id="run-2"
    )

    assert (counts.inserted, counts.unchanged, counts.deactivated, counts.rejected) == (2, 2, 1, 1)
    assert counts.drift == [  # the fields seen now, then the vanished ones
        FieldObservation("sparkle", "unknown", 1, "true"),
        FieldObservation("context_window", "vanished", 0),
    ]
    stored = {
        (row["endpoint"], row["key_path"]): row["status"] for row in _rows(writer, schema.payload_key_observations)
    }
    assert stored == {
        ("primary", "id"): "read",
        ("primary", "context_window"): "vanished",
        ("primary", "sparkle"): "unknown",
        ("other", "id"): "read",
        ("other", "gone"): "unknown",
    }
    logged = [
        (
            row["status"],
            _utc(row["sync_started_at"]),
            row["models_inserted"],
            row["models_unchanged"],
            row["models_deactivated"],
            row["models_rejected"],
            row["endpoint"],
            row["dagster_run_id"],
        )
        for row in _rows(writer, schema.pricing_sync_log)
    ]
    assert logged == [("success", T1, 2, 2, 1, 1, "primary", "run-2")]


@pytest.mark.parametrize("missing", ["pricing_sync_log", "payload_key_observations"])
def test_a_write_whose_log_row_or_fields_cannot_be_stored_stores_nothing(writer, clock, missing):
    """The write, its fields and its log row are one transaction: when the last two cannot be stored (their
    table is gone), the models, prices, snapshot and provider row stay as the previous sync left them."""
    groq = get_provider("groq")
    _write_applied(writer, "groq", models("g", 2))
    before = {table.name: _rows(writer, table) for table in _KEPT_TABLES}
    with writer.engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {missing}"))
    observer = FieldObserver(groq)
    observer.add([{"id": "g-9"}])
    raw = _fetched("groq", [{"id": "g-9"}], payload_sha256="sha-new")
    clock.now = T2

    with pytest.raises(sa.exc.DBAPIError, match=missing):
        write(
            writer,
            "groq",
            [model("g-1", "5"), model("g-2"), model("g-9")],  # a price changed, a model added
            snapshot=SnapshotToStore(raw, "run-2"),
            observer=observer,
            log_started_at=T2,
        )

    assert {table.name: _rows(writer, table) for table in _KEPT_TABLES} == before


_KEPT_TABLES = (
    schema.providers,
    schema.models,
    schema.model_pricing,
    schema.price_history,
    schema.provider_catalog_snapshots,
    schema.model_changes,
)
