"""The catalog database as production uses it, on SQLite and on a real PostgreSQL server.

Change-only upserts, reactivation, price history, the mass-deactivation guard and its
blocking check, and the sync log, driven through the real Dagster assets against the
replay server (faults change prices and shrink catalogs) or, where a payload cannot
express the case, through the writer with hand-built records.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipeline.defs.assets import MASS_DEACTIVATION_CHECK, MODELS, PROVIDER_CATALOG
from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.providers.normalize import ModelRecord, NormalizedCatalog, Price, PriceState
from catalog_pipeline.providers.registry import PROVIDERS
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.queries import price_at, price_changes_in_last_days, price_changes_since
from catalog_pipeline.storage.writer import CatalogWriter, MassDeactivationBlocked
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import materializations, sync, sync_log
from catalog_pipeline_tests.storage_helpers import current_instance, provider_tables, tuple_versions  # noqa: F401 - fixture

#: A small provider with input and output prices: 40 models unless a fault resizes it.
SLUG = "cerebras"
SIZE = 40
ALLOW_MASS_DEACTIVATION = {"ops": {"sync_provider_catalogs": {"config": {"allow_mass_deactivation": True}}}}
PER_MILLION = "usd_per_million_tokens"
pytestmark = pytest.mark.usefixtures("current_instance")


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def by_model(rows: list[dict]) -> dict[str, dict]:
    return {row["provider_model_id"]: row for row in rows}


def guard_evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == MASS_DEACTIVATION_CHECK]
    return evaluation


@pytest.fixture(autouse=True)
def _catalog_size(replay_server):
    inject_fault(replay_server, SLUG, size=SIZE)


def test_unchanged_resync_rewrites_no_row(replay_server, database_url):
    """A re-sync of an unchanged catalog writes nothing: same rows, same updated_at, and on
    PostgreSQL not even a new tuple version (xmin) for any model."""
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    before = provider_tables(database_url, SLUG)
    versions = tuple_versions(database_url, SLUG) if is_postgres(database_url) else None

    instance = dg.DagsterInstance.ephemeral()
    again = sync(database_url, replay_server.url, slugs=[SLUG], instance=instance)

    assert again.success
    metadata = materializations(instance, MODELS, again.run_id)[SLUG]
    assert (metadata["rows_written"], metadata["unchanged"], metadata["price_changes"]) == (0, SIZE, 0)
    assert provider_tables(database_url, SLUG) == before
    if versions is not None:
        assert tuple_versions(database_url, SLUG) == versions
    log = sync_log(database_url)[-1]
    assert (log["status"], log["models_updated"], log["models_unchanged"]) == ("success", 0, SIZE)
    assert (log["models_active_before"], log["models_would_deactivate"]) == (SIZE, 0)
    assert log["dagster_run_id"] == again.run_id


def test_only_changed_rows_move_and_a_returning_model_is_reactivated(replay_server, database_url):
    """Deactivating 10 of 40 models rewrites those 10 only; when they come back they are
    reactivated in place (same id, same first_seen_at) and the other 30 stay untouched."""
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    first = by_model(provider_tables(database_url, SLUG)["models"])
    first_synced_at = next(iter(first.values()))["updated_at"]

    inject_fault(replay_server, SLUG, size=SIZE - 10)
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    shrunk = by_model(provider_tables(database_url, SLUG)["models"])
    gone = {key for key, row in shrunk.items() if not row["is_active"]}
    assert len(gone) == 10
    for key, row in shrunk.items():
        if key in gone:
            assert row["updated_at"] > first[key]["updated_at"]
            assert row["deactivated_at"] == row["updated_at"]
            assert row["last_seen_at"] == first_synced_at  # the last sync that listed it
            assert (row["id"], row["first_seen_at"]) == (first[key]["id"], first[key]["first_seen_at"])
        else:
            assert row == first[key]

    inject_fault(replay_server, SLUG, size=SIZE)
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    back = by_model(provider_tables(database_url, SLUG)["models"])
    assert len(back) == SIZE
    for key, row in back.items():
        if key in gone:
            assert row["is_active"] and row["deactivated_at"] is None
            assert row["updated_at"] > shrunk[key]["updated_at"]
            assert (row["id"], row["first_seen_at"]) == (first[key]["id"], first[key]["first_seen_at"])
        else:
            assert row == shrunk[key]
    log = sync_log(database_url)[-1]
    assert (log["models_inserted"], log["models_updated"], log["models_unchanged"]) == (0, 10, SIZE - 10)


def test_price_change_is_recorded_exactly_and_price_at_answers_for_any_time(replay_server, database_url):
    """Every price that moves is recorded with its exact old and new decimal and the time;
    price_at returns the old price between the syncs and the new one after, and the models
    materialization counts the changes and previews the largest."""
    before_first_sync = datetime.now(UTC)
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    old = {
        (model["provider_model_id"], price["price_type"]): price["amount"]
        for model in provider_tables(database_url, SLUG)["models"]
        for price in provider_tables(database_url, SLUG)["model_pricing"]
        if price["model_id"] == model["id"]
    }
    priced = {key: amount for key, amount in old.items() if amount}  # 0 and unknown stay as they are
    assert len(priced) > SIZE  # input and output of most models
    between = datetime.now(UTC)

    inject_fault(replay_server, SLUG, size=SIZE, price_multiplier="1.5")
    instance = dg.DagsterInstance.ephemeral()
    result = sync(database_url, replay_server.url, slugs=[SLUG], instance=instance)
    assert result.success

    engine = create_catalog_engine(database_url)
    changes = price_changes_in_last_days(engine, 1)
    assert {(c["provider_model_id"], c["price_type"]): (c["old_amount"], c["new_amount"]) for c in changes} == {
        key: (amount, amount * Decimal("1.5")) for key, amount in priced.items()
    }
    assert all(c["changed_at"] > between and c["provider"] == SLUG for c in changes)
    assert price_changes_since(engine, datetime.now(UTC) + timedelta(seconds=1)) == []

    (model_id, price_type), amount = max(priced.items(), key=lambda item: item[1])
    assert price_at(engine, SLUG, model_id, price_type, before_first_sync) is None
    assert price_at(engine, SLUG, model_id, price_type, between)["amount"] == amount
    assert price_at(engine, SLUG, model_id, price_type, datetime.now(UTC))["amount"] == amount * Decimal("1.5")
    engine.dispose()

    metadata = materializations(instance, MODELS, result.run_id)[SLUG]
    assert metadata["price_changes"] == len(priced)
    assert model_id in metadata["largest_price_changes"].splitlines()[2]  # first row under the header
    assert sync_log(database_url)[-1]["price_changes"] == len(priced)
    current = provider_tables(database_url, SLUG)
    for model in current["models"]:
        if (model["provider_model_id"], "input") in priced:
            assert model["input_price_per_million"] == priced[(model["provider_model_id"], "input")] * Decimal("1.5")


def _record(model_id: str, prices: dict[str, str]) -> ModelRecord:
    return ModelRecord(
        provider_model_id=model_id,
        name=model_id,
        canonical_slug=model_id,
        context_length=8192,
        max_output_tokens=None,
        input_modalities="text",
        output_modalities="text",
        prices={kind: Price(Decimal(amount), PriceState.KNOWN, PER_MILLION) for kind, amount in prices.items()},
    )


def _write(writer: CatalogWriter, records: list[ModelRecord], **options: object):  # type: ignore[no-untyped-def]
    spec = replace(PROVIDERS[SLUG], slug="synthetic", name="Synthetic provider")
    fetched = FetchResult("synthetic", "https://synthetic.invalid/models", [{}] * len(records), 1, 0, 0.0, 200, 1)
    return writer.write_provider(spec, fetched, NormalizedCatalog(models=records, rejections=[]), **options)


def test_a_price_type_that_disappears_becomes_unknown_and_is_history_too(database_url):
    """A model that stops listing a price type keeps no stale amount: the price turns
    'unknown' (never 0), and both its disappearance and its return are recorded."""
    engine = create_catalog_engine(database_url)
    writer = CatalogWriter(engine)
    _write(writer, [_record("m1", {"input": "1", "output": "2", "cache_read": "0.1"})])
    counts = _write(writer, [_record("m1", {"input": "1.2", "output": "2"})])
    without_cache = datetime.now(UTC)
    assert {(c.price_type, c.old_amount, c.new_amount, c.new_state) for c in counts.price_changes} == {
        ("input", Decimal(1), Decimal("1.2"), PriceState.KNOWN),
        ("cache_read", Decimal("0.1"), None, PriceState.UNKNOWN),
    }
    pricing = {row["price_type"]: row for row in provider_tables(database_url, "synthetic")["model_pricing"]}
    assert (pricing["cache_read"]["amount"], pricing["cache_read"]["state"]) == (None, PriceState.UNKNOWN)

    counts = _write(writer, [_record("m1", {"input": "1.2", "output": "2", "cache_read": "0.1"})])
    assert [(c.price_type, c.old_state, c.new_amount) for c in counts.price_changes] == [
        ("cache_read", PriceState.UNKNOWN, Decimal("0.1"))
    ]
    assert price_at(engine, "synthetic", "m1", "cache_read", without_cache)["state"] == PriceState.UNKNOWN
    assert price_at(engine, "synthetic", "m1", "cache_read", datetime.now(UTC))["amount"] == Decimal("0.1")
    assert len(provider_tables(database_url, "synthetic")["price_history"]) == 3 + 2 + 1
    engine.dispose()


@pytest.mark.parametrize(
    ("size_after", "config", "blocked"),
    [
        (SIZE // 2, {}, False),  # exactly the limit (50%) is allowed
        (SIZE // 2 - 1, {}, True),
        (0, {}, True),  # an empty list never deactivates anything
        (SIZE // 4, {"max_deactivation_share": 0.8}, False),
    ],
    ids=["half", "more-than-half", "empty", "configured-share"],
)
def test_mass_deactivation_guard(replay_server, database_url, size_after, config, blocked):
    """A live list that would deactivate more than the allowed share (or is empty) writes
    nothing: the blocking check fails with the numbers, the rows stay byte for byte, the
    sync log says what was refused; allow_mass_deactivation then accepts the shrink."""
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    before = provider_tables(database_url, SLUG)

    inject_fault(replay_server, SLUG, size=size_after)
    run_config = {"ops": {"sync_provider_catalogs": {"config": config}}} if config else None
    instance = dg.DagsterInstance.ephemeral()
    result = sync(database_url, replay_server.url, slugs=[SLUG], instance=instance, run_config=run_config)
    evaluation = guard_evaluation(result)
    log = sync_log(database_url)[-1]
    if not blocked:
        assert result.success and evaluation.passed
        assert materializations(instance, MODELS, result.run_id)[SLUG]["deactivated"] == SIZE - size_after
        assert (log["status"], log["models_deactivated"]) == ("success", SIZE - size_after)
        return

    assert not result.success
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["numbers"].value == {
        SLUG: {
            "stored_active": SIZE,
            "live": size_after,
            "would_deactivate": SIZE - size_after,
            "share": round((SIZE - size_after) / SIZE, 4),
        }
    }
    failure = result.failure_data_for_node("sync_provider_catalogs").error
    assert "blocking asset check" in failure.message and MASS_DEACTIVATION_CHECK in failure.message
    assert provider_tables(database_url, SLUG) == before
    assert SLUG not in materializations(instance, MODELS, result.run_id)
    assert SLUG in materializations(instance, PROVIDER_CATALOG, result.run_id)  # the fetch itself landed
    assert (log["status"], log["models_updated"], log["models_deactivated"]) == ("blocked", 0, 0)
    assert (log["models_active_before"], log["models_would_deactivate"]) == (SIZE, SIZE - size_after)
    assert log["dagster_run_id"] == result.run_id and "allow_mass_deactivation" in log["error_message"]

    overridden = sync(database_url, replay_server.url, slugs=[SLUG], run_config=ALLOW_MASS_DEACTIVATION)
    assert overridden.success and guard_evaluation(overridden).passed
    rows = provider_tables(database_url, SLUG)["models"]
    assert sum(row["is_active"] for row in rows) == size_after
    assert sync_log(database_url)[-1]["models_deactivated"] == SIZE - size_after


def test_the_upsert_statement_itself_skips_rows_whose_content_is_stored(database_url):
    """Sent rows that are already stored (as a writer outside the provider lock, or a replayed
    batch, would send them) are left alone by the ON CONFLICT ... WHERE guard: same
    updated_at, and on PostgreSQL no new tuple version; their ids are still resolved."""
    engine = create_catalog_engine(database_url)
    writer = CatalogWriter(engine)
    records = [_record(f"m{i}", {"input": "1"}) for i in range(5)]
    _write(writer, records)
    before = provider_tables(database_url, "synthetic")
    versions = tuple_versions(database_url, "synthetic") if is_postgres(database_url) else None

    later = datetime.now(UTC) + timedelta(hours=1)
    hashes = {record.provider_model_id: record.content_hash for record in records}
    with engine.begin() as connection:
        provider_id = before["models"][0]["provider_id"]
        ids = CatalogWriter._upsert_models(connection, provider_id, records, hashes, {}, later)

    assert ids == {row["provider_model_id"]: row["id"] for row in before["models"]}
    assert provider_tables(database_url, "synthetic") == before
    if versions is not None:
        assert tuple_versions(database_url, "synthetic") == versions
    engine.dispose()


def test_guard_also_stops_a_mass_rename(database_url):
    """Same number of models, but every id changed: that would retire the whole catalog, so it is blocked."""
    writer = CatalogWriter(create_catalog_engine(database_url))
    _write(writer, [_record(f"old-{i}", {"input": "1"}) for i in range(10)])
    before = provider_tables(database_url, "synthetic")
    with pytest.raises(MassDeactivationBlocked) as blocked:
        _write(writer, [_record(f"new-{i}", {"input": "1"}) for i in range(10)])
    assert (blocked.value.stored_active, blocked.value.live, blocked.value.would_deactivate) == (10, 10, 10)
    assert provider_tables(database_url, "synthetic") == before
    counts = _write(writer, [_record(f"new-{i}", {"input": "1"}) for i in range(10)], allow_mass_deactivation=True)
    assert (counts.inserted, counts.deactivated) == (10, 10)
    writer.engine.dispose()


def _refuse_price_writes(database_url: str) -> None:
    """Make every write to model_pricing fail inside the database, as a full disk or a revoked grant would."""
    engine = create_catalog_engine(database_url)
    with engine.begin() as connection:
        if is_postgres(database_url):
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'simulated storage failure'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_write BEFORE INSERT OR UPDATE ON model_pricing "
                "FOR EACH ROW EXECUTE FUNCTION refuse_write()"
            )
        else:
            for event in ("INSERT", "UPDATE"):
                connection.exec_driver_sql(
                    f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON model_pricing "
                    "BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END"
                )
    engine.dispose()


def test_a_write_failing_half_way_leaves_the_rows_and_logs_the_failure(replay_server, database_url):
    """The database refuses the price writes after the models were already upserted in the
    same transaction: everything rolls back, and the failure is logged with its cause and run id."""
    assert sync(database_url, replay_server.url, slugs=[SLUG]).success
    before = provider_tables(database_url, SLUG)
    _refuse_price_writes(database_url)

    inject_fault(replay_server, SLUG, size=SIZE, price_multiplier="2")
    result = sync(database_url, replay_server.url, slugs=[SLUG])

    assert not result.success
    assert provider_tables(database_url, SLUG) == before
    log = sync_log(database_url)[-1]
    assert (log["status"], log["models_fetched"], log["models_updated"]) == ("failed", SIZE, 0)
    assert "simulated storage failure" in log["error_message"]
    assert log["dagster_run_id"] == result.run_id


def test_sync_log_messages_never_carry_secrets(postgres_url, monkeypatch):
    """Whatever an error says, the logged message has neither the database password nor a provider key."""
    monkeypatch.setenv("CEREBRAS_API_KEY", "csk-test-secret-7f3a9")
    url = sa.make_url(postgres_url).set(password="pg-secret-8d1f").render_as_string(hide_password=False)
    writer = CatalogWriter(create_catalog_engine(url))
    message = f"connection to {url} failed; request with Authorization: Bearer csk-test-secret-7f3a9 refused"
    writer.log_sync(SLUG, datetime.now(UTC), "failed", error_message=message, run_id="run-1")
    [row] = sync_log(postgres_url)
    assert "pg-secret-8d1f" not in row["error_message"] and "csk-test-secret-7f3a9" not in row["error_message"]
    assert row["error_message"].count("***") == 2
    writer.engine.dispose()


def test_snapshot_round_trip_keeps_every_decimal_exact(sqlite_url):
    """A models-only materialization re-reads the snapshot: a price with more digits than a float
    holds must come back unchanged, or a re-sync would invent a price change."""
    from decimal import Decimal

    from catalog_pipeline.http_engine import FetchResult
    from catalog_pipeline.providers.registry import get_provider
    from catalog_pipeline.storage.database import create_catalog_engine
    from catalog_pipeline.storage.writer import CatalogWriter

    spec = get_provider("together")
    entries = [{"id": "a", "pricing": {"input": Decimal("0.88"), "output": Decimal("0.12345678901234567890")}}]
    fetched = FetchResult("together", "https://api.together.xyz/v1/models", entries, 1, 100, 1.0, 200, 1)
    writer = CatalogWriter(create_catalog_engine(sqlite_url))
    writer.store_snapshot(spec, fetched)
    reread = writer.load_snapshot(spec).entries
    assert Decimal(str(reread[0]["pricing"]["output"])) == Decimal("0.12345678901234567890")
    assert reread[0]["pricing"]["input"] == Decimal("0.88")
