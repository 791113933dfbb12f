"""Price and limit anomalies are held, not applied: which changes, what is kept, how to accept them.

The rules (README "Failure behaviour"): a stored model's input or output price moving by more
than CATALOG_MAX_PRICE_CHANGE_FACTOR (10x) up or down, a price going to or from zero, or its
context length shrinking by more than half, is not written; the model keeps its stored values,
the change is recorded in `held_changes` with old and new value and the run id, and the
`held_changes` check on `models` warns with the list. `accept_held_changes: true` applies them.
A first listing is never held.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipeline.defs.assets import HELD_CHANGES_CHECK, MODELS
from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.providers.normalize import ModelRecord, NormalizedCatalog, Price, PriceState
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import (
    CONTEXT_SHRINK,
    PRICE_FACTOR,
    PRICE_FROM_ZERO,
    PRICE_TO_ZERO,
    CatalogWriter,
    find_anomalies,
)
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import materializations, sync
from catalog_pipeline_tests.storage_helpers import (  # noqa: F401 - current_instance is a fixture
    cli_environment,
    current_instance,
    provider_tables,
    run_cli,
)

UNIT = "usd_per_million_tokens"


def price(amount: str | None, state: str = PriceState.KNOWN) -> Price:
    return Price(None if amount is None else Decimal(amount), state, UNIT)


def model(
    input_amount: str | None = "1", output_amount: str | None = "2", context: int | None = 128_000
) -> ModelRecord:
    return ModelRecord(
        provider_model_id="org/model",
        name="Model",
        canonical_slug="org/model",
        context_length=context,
        max_output_tokens=None,
        input_modalities="text",
        output_modalities="text",
        prices={"input": price(input_amount), "output": price(output_amount)},
    )


STORED = {"input": price("1"), "output": price("2")}


@pytest.mark.parametrize(
    ("fresh", "rule"),
    [
        (model(input_amount="10.5"), PRICE_FACTOR),  # 10.5x up
        (model(input_amount="0.09"), PRICE_FACTOR),  # 11x down
        (model(output_amount="0"), PRICE_TO_ZERO),
        (model(context=63_999), CONTEXT_SHRINK),
    ],
)
def test_changes_beyond_the_limits_are_anomalies(fresh, rule):
    assert [change.rule for change in find_anomalies(fresh, 128_000, STORED)] == [rule]


def test_a_price_from_zero_is_an_anomaly():
    stored = {"input": price("0", PriceState.FREE), "output": price("0", PriceState.FREE)}
    changes = find_anomalies(model(input_amount="0.2", output_amount="0"), 128_000, stored)
    assert [(c.field, c.rule, c.old_value, c.new_value) for c in changes] == [
        ("input_price", PRICE_FROM_ZERO, Decimal(0), Decimal("0.2"))
    ]


@pytest.mark.parametrize(
    "fresh",
    [
        model(input_amount="10", output_amount="0.2"),  # exactly 10x either way is allowed
        model(context=64_000),  # exactly half is allowed
        model(context=1_000_000),  # growing is never held
        model(input_amount=None),  # becoming unknown claims nothing
        model(context=None),
    ],
)
def test_changes_within_the_limits_are_not(fresh):
    assert find_anomalies(fresh, 128_000, STORED) == []


def test_the_factor_is_configurable():
    assert find_anomalies(model(input_amount="3"), 128_000, STORED, max_factor=Decimal(2))[0].rule == PRICE_FACTOR
    assert find_anomalies(model(input_amount="3"), 128_000, STORED, max_factor=Decimal(4)) == []


def fetched(slug: str, models: list[ModelRecord]) -> FetchResult:
    return FetchResult(slug, "https://example", [{}] * len(models), 1, 0, 0.0, 200, 1)


def held_rows(database_url: str) -> list[dict]:
    engine = create_catalog_engine(database_url)
    try:
        with engine.connect() as connection:
            return [
                dict(row)
                for row in connection.execute(
                    sa.select(schema.held_changes).order_by(schema.held_changes.c.id)
                ).mappings()
            ]
    finally:
        engine.dispose()


def test_the_writer_keeps_a_held_model_as_stored_and_records_the_change(database_url):
    """A context collapse and a 100x price on one model, a normal change on another: only the normal one is written."""
    spec = get_provider("groq")
    writer = CatalogWriter(create_catalog_engine(database_url))
    other = dataclasses.replace(model(), provider_model_id="org/other", canonical_slug="org/other")
    first = [model(), other]
    writer.write_provider(spec, fetched("groq", first), NormalizedCatalog(first, []), run_id="run-1")
    before = provider_tables(database_url, "groq")

    second = [model(input_amount="100", context=8_000), dataclasses.replace(other, name="Renamed")]
    counts = writer.write_provider(spec, fetched("groq", second), NormalizedCatalog(second, []), run_id="run-2")
    assert counts.models_held == 1 and counts.updated == 1
    after = provider_tables(database_url, "groq")
    kept = [row for row in after["models"] if row["provider_model_id"] == "org/model"]
    assert kept == [row for row in before["models"] if row["provider_model_id"] == "org/model"]
    assert after["model_pricing"] == before["model_pricing"]
    assert {row["name"] for row in after["models"]} == {"Model", "Renamed"}
    rows = held_rows(database_url)
    assert [
        (r["field"], r["rule"], r["old_value"], r["new_value"], r["status"], r["dagster_run_id"]) for r in rows
    ] == [
        ("input_price", PRICE_FACTOR, Decimal(1), Decimal(100), "held", "run-2"),
        ("context_length", CONTEXT_SHRINK, Decimal(128_000), Decimal(8_000), "held", "run-2"),
    ]

    # still listed the same way: the same two rows, not two more
    writer.write_provider(spec, fetched("groq", second), NormalizedCatalog(second, []), run_id="run-3")
    assert [(r["status"], r["dagster_run_id"]) for r in held_rows(database_url)] == [("held", "run-3")] * 2

    # accepted: written, and the rows say so
    counts = writer.write_provider(
        spec, fetched("groq", second), NormalizedCatalog(second, []), run_id="run-4", accept_held_changes=True
    )
    assert counts.models_held == 0 and len(counts.accepted) == 2
    stored = {row["provider_model_id"]: row for row in provider_tables(database_url, "groq")["models"]}
    assert stored["org/model"]["context_length"] == 8_000
    assert stored["org/model"]["input_price_per_million"] == Decimal(100)
    assert [(r["status"], r["resolved_run_id"]) for r in held_rows(database_url)] == [("applied", "run-4")] * 2


def test_a_held_change_the_provider_takes_back_is_withdrawn(sqlite_url):
    spec = get_provider("groq")
    writer = CatalogWriter(create_catalog_engine(sqlite_url))
    writer.write_provider(spec, fetched("groq", [model()]), NormalizedCatalog([model()], []), run_id="run-1")
    typo = [model(output_amount="2000")]
    writer.write_provider(spec, fetched("groq", typo), NormalizedCatalog(typo, []), run_id="run-2")
    assert held_rows(sqlite_url)[0]["status"] == "held"
    writer.write_provider(spec, fetched("groq", [model()]), NormalizedCatalog([model()], []), run_id="run-3")
    assert [(r["status"], r["resolved_run_id"]) for r in held_rows(sqlite_url)] == [("withdrawn", "run-3")]


def check_result(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == HELD_CHANGES_CHECK]
    return evaluation


def test_a_1000x_price_typo_is_held_the_check_warns_and_accepting_applies_it(
    replay_server,
    database_url,
    current_instance,  # noqa: F811 - fixture
):
    """Through the real assets: the provider lists every price 1000x; nothing of it is written until accepted."""
    slug = "together"
    first = sync(database_url, replay_server.url, [slug])
    assert first.success
    assert check_result(first).passed
    before = provider_tables(database_url, slug)
    priced = [r for r in before["model_pricing"] if r["price_type"] == "input" and r["amount"]]
    assert priced, "the demo catalog lists input prices"

    inject_fault(replay_server, slug, price_multiplier="1000")
    typo = sync(database_url, replay_server.url, [slug])
    assert typo.success  # held changes warn; they do not fail the sync
    assert provider_tables(database_url, slug) == before
    evaluation = check_result(typo)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    held = held_rows(database_url)
    assert len(held) >= len(priced)
    assert all(r["rule"] == PRICE_FACTOR and r["new_value"] == r["old_value"] * 1000 for r in held)
    assert {r["dagster_run_id"] for r in held} == {typo.run_id}
    assert evaluation.metadata["held_changes"].value == len(held)
    listed = evaluation.metadata["changes"].value.records
    assert {record.data["field"] for record in listed} <= {"input_price", "output_price"}
    assert "accept_held_changes: true" in evaluation.metadata["accept"].value
    metadata = materializations(typo.instance_for_test, MODELS, typo.run_id)[slug]
    assert metadata["held"] > 0 and metadata["updated"] == 0

    accepted = sync(
        database_url,
        replay_server.url,
        [slug],
        run_config={"ops": {"sync_provider_catalogs": {"config": {"accept_held_changes": True}}}},
    )
    assert accepted.success
    assert check_result(accepted).passed
    after = {
        (r["model_id"], r["price_type"]): r["amount"] for r in provider_tables(database_url, slug)["model_pricing"]
    }
    for row in priced:
        assert after[(row["model_id"], "input")] == row["amount"] * 1000
    assert {r["status"] for r in held_rows(database_url)} == {"applied"}


def test_a_first_listing_is_never_held(replay_server, database_url, current_instance):  # noqa: F811 - fixture
    inject_fault(replay_server, "together", price_multiplier="1000")
    result = sync(database_url, replay_server.url, ["together"])
    assert result.success
    assert held_rows(database_url) == []
    assert check_result(result).passed


@pytest.mark.e2e
def test_the_cli_says_what_it_held_and_accept_held_changes_applies_it(tmp_path, replay_server, sqlite_url):
    environment = cli_environment(tmp_path / "dagster_home", sqlite_url, replay_server.url)
    assert run_cli(["sync", "--provider", "together"], environment).returncode == 0
    inject_fault(replay_server, "together", price_multiplier="1000")
    held = run_cli(["sync", "--provider", "together"], environment)
    assert held.returncode == 0, held.stdout[-3000:]
    assert "HELD for review (models keep their stored values): together (" in held.stdout
    assert {row["status"] for row in held_rows(sqlite_url)} == {"held"}
    accepted = run_cli(["sync", "--provider", "together", "--accept-held-changes"], environment)
    assert accepted.returncode == 0, accepted.stdout[-3000:]
    assert "HELD" not in accepted.stdout
    assert {row["status"] for row in held_rows(sqlite_url)} == {"applied"}
