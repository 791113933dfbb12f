"""Change events (`model_changes`, the change feed) as the sync records them, on SQLite and PostgreSQL.

Each event is written in the same transaction as the change it describes: a sync that
changes nothing records none, a blocked or failed provider records none, and every
added, deactivated, reactivated, price or limit change is recorded exactly once with
the run that made it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.providers.normalize import ModelRecord, NormalizedCatalog, Price, PriceState
from catalog_pipeline.providers.registry import PROVIDERS
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.changes import ChangeKind, decimal_text, percent_change
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import CatalogWriter, MassDeactivationBlocked
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import sync
from catalog_pipeline_tests.storage_helpers import current_instance, provider_tables  # noqa: F401 - fixture

SLUG = "cerebras"
SIZE = 40
PER_MILLION = "usd_per_million_tokens"
pytestmark = pytest.mark.usefixtures("current_instance")


def change_rows(database_url: str) -> list[dict]:
    """Every stored change event with its provider slug and model id, in feed order."""
    changes, models, providers = schema.model_changes, schema.models, schema.providers
    engine = create_catalog_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                changes.c.id,
                providers.c.slug,
                models.c.provider_model_id,
                changes.c.kind,
                changes.c.dagster_run_id,
                changes.c.details,
            )
            .join(models, models.c.id == changes.c.model_id)
            .join(providers, providers.c.id == changes.c.provider_id)
            .order_by(changes.c.id)
        ).mappings()
        result = [{**row, "details": json.loads(row["details"]) if row["details"] else None} for row in rows]
    engine.dispose()
    return result


@pytest.fixture(autouse=True)
def _catalog_size(replay_server):
    inject_fault(replay_server, SLUG, size=SIZE)


def test_sync_records_each_change_once_and_an_unchanged_resync_none(replay_server, database_url):
    """First sync: one `added` per model. Unchanged re-sync: nothing. Prices x1.5: one
    `price_changed` per priced (model, price type) with exact old/new and +50%. 10 models
    gone: 10 `deactivated`; back: 10 `reactivated`. Every event names its run."""
    first = sync(database_url, replay_server.url, slugs=[SLUG])
    assert first.success
    events = change_rows(database_url)
    assert [e["kind"] for e in events] == [ChangeKind.ADDED] * SIZE
    assert {e["provider_model_id"] for e in events} == {
        m["provider_model_id"] for m in provider_tables(database_url, SLUG)["models"]
    }
    assert {e["dagster_run_id"] for e in events} == {first.run_id}

    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    assert len(change_rows(database_url)) == SIZE

    tables = provider_tables(database_url, SLUG)
    model_ids = {m["id"]: m["provider_model_id"] for m in tables["models"]}
    priced = {(model_ids[p["model_id"]], p["price_type"]): p["amount"] for p in tables["model_pricing"] if p["amount"]}
    inject_fault(replay_server, SLUG, size=SIZE, price_multiplier="1.5")
    repriced = sync(database_url, replay_server.url, slugs=[SLUG])
    assert repriced.success
    price_events = change_rows(database_url)[SIZE:]
    assert {e["kind"] for e in price_events} == {ChangeKind.PRICE_CHANGED}
    assert {e["dagster_run_id"] for e in price_events} == {repriced.run_id}
    assert {(e["provider_model_id"], e["details"]["price_type"]): e["details"] for e in price_events} == {
        key: {
            "price_type": key[1],
            "unit": PER_MILLION,
            "old": {"amount": decimal_text(amount), "state": PriceState.KNOWN},
            "new": {"amount": decimal_text(amount * Decimal("1.5")), "state": PriceState.KNOWN},
            "percent": 50.0,
        }
        for key, amount in priced.items()
    }

    seen = len(change_rows(database_url))
    inject_fault(replay_server, SLUG, size=SIZE - 10, price_multiplier="1.5")
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    gone = change_rows(database_url)[seen:]
    assert [e["kind"] for e in gone] == [ChangeKind.DEACTIVATED] * 10
    inactive = {m["provider_model_id"] for m in provider_tables(database_url, SLUG)["models"] if not m["is_active"]}
    assert {e["provider_model_id"] for e in gone} == inactive

    inject_fault(replay_server, SLUG, size=SIZE, price_multiplier="1.5")
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    back = change_rows(database_url)[seen + 10 :]
    assert [e["kind"] for e in back] == [ChangeKind.REACTIVATED] * 10
    assert {e["provider_model_id"] for e in back} == inactive
    ids = [e["id"] for e in change_rows(database_url)]
    assert ids == sorted(set(ids))


def test_blocked_or_failed_provider_records_no_event(replay_server, database_url):
    """A live list the mass-deactivation guard refuses, or a provider answering HTTP 500,
    changes no row, so the feed gets no event."""
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    before = change_rows(database_url)

    inject_fault(replay_server, SLUG, size=5, price_multiplier="2")
    assert not sync(database_url, replay_server.url, slugs=[SLUG]).success  # guard: 35 of 40 would go
    inject_fault(replay_server, SLUG, status=500)
    assert not sync(database_url, replay_server.url, slugs=[SLUG]).success
    assert change_rows(database_url) == before


def _record(model_id: str, context_length: int | None, max_output: int | None, input_price: str) -> ModelRecord:
    return ModelRecord(
        provider_model_id=model_id,
        name=model_id,
        canonical_slug=model_id,
        context_length=context_length,
        max_output_tokens=max_output,
        input_modalities="text",
        output_modalities="text",
        prices={"input": Price(Decimal(input_price), PriceState.KNOWN, PER_MILLION)},
    )


def _write(writer: CatalogWriter, records: list[ModelRecord], **options: object):  # type: ignore[no-untyped-def]
    spec = replace(PROVIDERS[SLUG], slug="synthetic", name="Synthetic provider")
    fetched = FetchResult("synthetic", "https://synthetic.invalid/models", [{}] * len(records), 1, 0, 0.0, 200, 1)
    return writer.write_provider(spec, fetched, NormalizedCatalog(models=records, rejections=[]), **options)


def test_limits_changes_name_old_and_new_and_a_rename_is_no_event(database_url):
    """A context length or output limit that moves is one `limits_changed` event with old
    and new values; a change of name only rewrites the row and records nothing; a price
    going from 0 has no percent."""
    writer = CatalogWriter(create_catalog_engine(database_url))
    _write(writer, [_record("m1", 8192, None, "0"), _record("m2", 4096, 1024, "1")])
    counts = _write(writer, [_record("m1", 32768, 4096, "0"), replace(_record("m2", 4096, 1024, "1"), name="M2")])
    assert [(c.provider_model_id, c.kind, c.details) for c in counts.changes] == [
        (
            "m1",
            ChangeKind.LIMITS_CHANGED,
            {"context_length": {"old": 8192, "new": 32768}, "max_output_tokens": {"old": None, "new": 4096}},
        )
    ]
    # from 0 is an anomaly the guard holds; accepted, it is a price change without a percent
    counts = _write(
        writer, [_record("m1", 32768, 4096, "0.5"), _record("m2", 4096, 1024, "1")], accept_held_changes=True
    )
    [price] = [c for c in counts.changes if c.kind == ChangeKind.PRICE_CHANGED]
    assert price.details["percent"] is None and price.details["new"]["amount"] == "0.5"
    stored = change_rows(database_url)
    assert [(e["provider_model_id"], e["kind"]) for e in stored] == [
        ("m1", ChangeKind.ADDED),
        ("m2", ChangeKind.ADDED),
        ("m1", ChangeKind.LIMITS_CHANGED),
        ("m1", ChangeKind.PRICE_CHANGED),
    ]
    with pytest.raises(MassDeactivationBlocked):
        _write(writer, [])
    assert len(change_rows(database_url)) == 4
    writer.engine.dispose()


def test_percent_and_decimal_text():
    """Percent is relative to the old amount; decimals print exactly, without exponent or trailing zeros."""
    assert percent_change(Decimal("2"), Decimal("3")) == 50.0
    assert percent_change(Decimal("3"), Decimal("1")) == pytest.approx(-66.6667)
    assert percent_change(None, Decimal("1")) is None
    assert decimal_text(Decimal("3.000000000000")) == "3"
    assert decimal_text(Decimal("1E-12")) == "0.000000000001"
    assert decimal_text(Decimal("150")) == "150"


def test_a_deprecation_date_is_announced_once_and_again_when_it_moves(database_url):
    """A date appearing (or first listed with the model) is one `deprecation_announced` event with the
    date; the same date on the next sync is nothing; a moved date is a new event naming the previous one."""
    writer = CatalogWriter(create_catalog_engine(database_url))
    retiring = datetime(2027, 3, 1, tzinfo=UTC)
    _write(writer, [_record("m1", 8192, None, "1"), replace(_record("m2", 8192, None, "1"), deprecation_date=retiring)])
    counts = _write(
        writer,
        [
            replace(_record("m1", 8192, None, "1"), deprecation_date=retiring),
            replace(_record("m2", 8192, None, "1"), deprecation_date=retiring),
        ],
    )
    assert [(c.provider_model_id, c.kind, c.details) for c in counts.changes] == [
        (
            "m1",
            ChangeKind.DEPRECATION_ANNOUNCED,
            {"deprecation_date": "2027-03-01T00:00:00Z", "previous_deprecation_date": None},
        )
    ]
    later = retiring + timedelta(days=30)
    counts = _write(
        writer,
        [
            replace(_record("m1", 8192, None, "1"), deprecation_date=retiring),
            replace(_record("m2", 8192, None, "1"), deprecation_date=later),
        ],
    )
    assert [(c.provider_model_id, c.details["previous_deprecation_date"]) for c in counts.changes] == [
        ("m2", "2027-03-01T00:00:00Z")
    ]
    kinds = [(e["provider_model_id"], e["kind"]) for e in change_rows(database_url)]
    assert kinds == [
        ("m1", ChangeKind.ADDED),
        ("m2", ChangeKind.ADDED),
        ("m2", ChangeKind.DEPRECATION_ANNOUNCED),
        ("m1", ChangeKind.DEPRECATION_ANNOUNCED),
        ("m2", ChangeKind.DEPRECATION_ANNOUNCED),
    ]
    writer.engine.dispose()


def test_a_held_change_keeps_its_values_exact():
    """The hook for the anomaly guard: a held change names the field, both values (decimals as exact text) and why."""
    from catalog_pipeline.storage.changes import held

    event = held("m1", "input_price", Decimal("3.000000000000"), Decimal("3000"), "price_factor", PER_MILLION)
    assert (event.kind, event.details) == (
        ChangeKind.HELD,
        {"field": "input_price", "old": "3", "new": "3000", "reason": "price_factor", "unit": PER_MILLION},
    )


def test_a_held_change_is_one_event_until_its_proposal_changes_and_accepting_it_is_a_price_change(database_url):
    """The anomaly guard holds a 100x price: one `held` event (and no price_changed); the same proposal on
    the next sync is no news; another proposal is a new `held`; accepted, it is a `price_changed`."""
    writer = CatalogWriter(create_catalog_engine(database_url))
    _write(writer, [_record("m1", 8192, None, "1")])
    counts = _write(writer, [_record("m1", 8192, None, "100")])
    assert [(c.kind, c.details) for c in counts.changes] == [
        (
            ChangeKind.HELD,
            {"field": "input_price", "old": "1", "new": "100", "reason": "price_factor", "unit": PER_MILLION},
        )
    ]
    assert _write(writer, [_record("m1", 8192, None, "100")]).changes == []
    assert [c.details["new"] for c in _write(writer, [_record("m1", 8192, None, "200")]).changes] == ["200"]
    accepted = _write(writer, [_record("m1", 8192, None, "200")], accept_held_changes=True)
    assert [(c.kind, c.details["new"]["amount"]) for c in accepted.changes] == [(ChangeKind.PRICE_CHANGED, "200")]
    assert [e["kind"] for e in change_rows(database_url)] == [
        ChangeKind.ADDED,
        ChangeKind.HELD,
        ChangeKind.HELD,
        ChangeKind.PRICE_CHANGED,
    ]
    writer.engine.dispose()


@pytest.mark.postgres
def test_postgres_writers_hand_out_event_ids_in_commit_order(postgres_url):
    """A writer with events waits for the change-feed lock that another transaction holds until it commits,
    so a lower id can never commit after a higher one (a reader polling `since` would skip it); a write
    with nothing to record does not wait."""
    import threading

    from catalog_pipeline.storage.writer import CHANGE_FEED_LOCK_KEY

    writer = CatalogWriter(create_catalog_engine(postgres_url))
    _write(writer, [_record("m1", 8192, None, "1")])
    holder = create_catalog_engine(postgres_url)
    finished = threading.Event()

    def write(price: str) -> None:
        _write(writer, [_record("m1", 8192, None, price)])
        finished.set()

    with holder.connect() as connection:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(CHANGE_FEED_LOCK_KEY)))
        unchanged = threading.Thread(target=write, args=("1",))
        unchanged.start()
        assert finished.wait(30), "a write without events waited for the feed lock"
        finished.clear()
        changed = threading.Thread(target=write, args=("2",))
        changed.start()
        assert not finished.wait(1.5), "a write with events did not take the feed lock"
        connection.commit()  # releases it
    assert finished.wait(30)
    changed.join()
    assert [e["kind"] for e in change_rows(postgres_url)][-1] == ChangeKind.PRICE_CHANGED
    holder.dispose()
    writer.engine.dispose()
