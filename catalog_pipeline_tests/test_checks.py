"""Asset checks with their numbers: parity thresholds and severities, freshness, data quality of `models`
and the gateway comparison, against the replay server and real databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipeline import definitions
from catalog_pipeline.defs.assets import catalog_reconciliation
from catalog_pipeline.defs.checks import (
    GATEWAY_PARITY_CHECK,
    gateway_parity,
    models_freshness,
    models_required_fields,
    models_unique_provider_model_id,
    models_valid_prices,
)
from catalog_pipeline.defs.resources import CatalogDatabaseResource, ProviderApiResource
from catalog_pipeline.defs.sync_settings import SyncScheduleResource
from catalog_pipeline.gateway import GatewayResource, fetch_gateway_counts
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider
from catalog_pipeline.replay.demo_models import demo_models
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import reconcile, resources, sync

SMALL = 0.02  # every provider lists a handful of models


def _values(result: dg.AssetCheckResult | dg.AssetCheckEvaluation) -> dict:
    return {name: value.value for name, value in result.metadata.items()}


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _execute(database_url: str, sql: str, **params: object) -> None:
    engine = create_catalog_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text(sql), params)
    engine.dispose()


def _parity(slug: str) -> str:
    return "parity_" + slug.replace("-", "_")


def test_parity_checks_warn_above_the_warning_and_error_above_the_error_threshold(replay_server, sqlite_url):
    """Missing models up to the warning threshold pass; above it WARN; above the error threshold ERROR,
    per provider and in total, with the counts in the metadata."""
    replay_server.state.scale = SMALL
    for slug in ("groq", "together", "anthropic"):
        inject_fault(replay_server, slug, size=10)
    assert sync(sqlite_url, replay_server.url).success
    inject_fault(replay_server, "groq", size=13)  # 3 new live models: above warn (2)
    inject_fault(replay_server, "together", size=16)  # 6: above error (5)
    inject_fault(replay_server, "anthropic", size=12)  # 2: exactly warn, still healthy

    checks = _evaluations(reconcile(sqlite_url, replay_server.url, warn=2, error=5))
    groq, together, anthropic = checks[_parity("groq")], checks[_parity("together")], checks[_parity("anthropic")]
    assert (groq.passed, groq.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert _values(groq) | {"detail": ""} == {
        "provider": "groq",
        "status": "warning",
        "live": 13,
        "db_active": 10,
        "rejected": 0,
        "missing": 3,
        "stale": 0,
        "gap": 3,
        "parity_pct": 76.923,
        "detail": "",
        "missing_sample": ", ".join(sorted(m.model_id for m in demo_models(get_provider("groq"), 13)[10:])),
    }
    assert (together.passed, together.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert _values(together)["missing"] == 6 and _values(together)["status"] == "out_of_sync"
    assert anthropic.passed and _values(anthropic)["missing"] == 2
    total = checks["all_providers_parity"]
    assert (total.passed, total.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert {k: _values(total)[k] for k in ("missing", "stale", "gap", "status")} == {
        "missing": 11,
        "stale": 0,
        "gap": 11,
        "status": "out_of_sync",
    }
    assert "warn_threshold" not in _values(total)  # a constant is no per-run number: it is in the description
    gap = checks["all_providers_unexplained_gap"]
    assert not gap.passed and gap.severity == dg.AssetCheckSeverity.ERROR
    assert _values(gap)["unexplained_models"] == 11
    assert _values(gap)["providers_with_gap"].split("; ") == [
        "together: 6 missing, 0 stale",
        "groq: 3 missing, 0 stale",
        "anthropic: 2 missing, 0 stale",
    ]

    inject_fault(replay_server, "together", size=10)
    inject_fault(replay_server, "anthropic", size=10)
    total = _evaluations(reconcile(sqlite_url, replay_server.url, warn=2, error=5))["all_providers_parity"]
    assert (total.passed, total.severity, _values(total)["missing"]) == (False, dg.AssetCheckSeverity.WARN, 3)


def _success_age(database_url: str, slug: str, age: timedelta) -> None:
    finished = datetime.now(UTC) - age
    _execute(
        database_url,
        "UPDATE pricing_sync_log SET sync_started_at = :at, sync_finished_at = :at WHERE provider_slug = :slug",
        at=finished,
        slug=slug,
    )


def test_freshness_fails_when_a_configured_provider_had_no_success_within_twice_the_interval(replay_server, sqlite_url):
    """Fresh syncs pass; a last success older than 2 x PRICING_SYNC_INTERVAL_HOURS fails with its age."""
    replay_server.state.scale = SMALL
    for slug in ("groq", "anthropic"):
        assert sync(sqlite_url, replay_server.url, slugs=[slug]).success
    database = CatalogDatabaseResource(url=sqlite_url)
    provider_api = ProviderApiResource(replay_url=replay_server.url)
    selection = SyncScheduleResource(interval_hours=1, providers="groq,anthropic")

    fresh = models_freshness(provider_api=provider_api, catalog_database=database, sync_schedule=selection)
    assert fresh.passed
    assert _values(fresh) | {"oldest_success_age_hours": 0} == {
        "providers_checked": 2,
        "stale_count": 0,
        "stale_providers": "none",
        "oldest_success_age_hours": 0,
        "not_configured": "none",
    }

    _success_age(sqlite_url, "groq", timedelta(hours=3))
    stale = models_freshness(provider_api=provider_api, catalog_database=database, sync_schedule=selection)
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.ERROR
    assert _values(stale)["stale_providers"] == "groq (3.0 h)"
    assert _values(stale)["stale_count"] == 1
    assert _values(stale)["oldest_success_age_hours"] == 3.0

    wide = SyncScheduleResource(interval_hours=2, providers="groq,anthropic")
    assert models_freshness(provider_api=provider_api, catalog_database=database, sync_schedule=wide).passed


def test_freshness_ignores_unconfigured_providers_and_counts_never_synced_ones(sqlite_url, monkeypatch):
    """Without a key a provider is not expected to sync; a configured one that never synced is stale."""
    keyless = next((slug for slug in PROVIDER_SLUGS if not get_provider(slug).required_env), None)
    keyed = next(slug for slug in PROVIDER_SLUGS if get_provider(slug).required_env)
    if keyless is None:
        pytest.skip("every provider needs a key")
    for name in get_provider(keyed).required_env:
        monkeypatch.delenv(name, raising=False)
    result = models_freshness(
        provider_api=ProviderApiResource(),
        catalog_database=CatalogDatabaseResource(url=sqlite_url),
        sync_schedule=SyncScheduleResource(providers=f"{keyed},{keyless}"),
    )
    assert not result.passed
    assert _values(result)["stale_providers"] == f"{keyless} (never)"
    assert _values(result)["not_configured"] == keyed
    assert _values(result)["providers_checked"] == 1


def test_data_quality_checks_pass_on_a_clean_sync_and_count_each_kind_of_bad_row(replay_server, sqlite_url):
    """Negative prices, a 'known' price without an amount, blank ids and an unknown price status are
    counted per kind, with the providers affected."""
    replay_server.state.scale = SMALL
    inject_fault(replay_server, "groq", size=6)
    inject_fault(replay_server, "together", size=6)
    assert sync(sqlite_url, replay_server.url, slugs=["together"]).success
    assert sync(sqlite_url, replay_server.url, slugs=["groq"]).success
    database = CatalogDatabaseResource(url=sqlite_url)
    for check in (models_unique_provider_model_id, models_valid_prices, models_required_fields):
        assert check(catalog_database=database).passed, check

    ids = "SELECT m.id FROM models m JOIN providers p ON p.id = m.provider_id WHERE p.slug = '{}' ORDER BY m.id"
    together, groq = ids.format("together"), ids.format("groq")
    _execute(
        sqlite_url,
        f"UPDATE model_pricing SET amount = -1 WHERE price_type = 'input' AND model_id = ({together} LIMIT 1)",
    )
    _execute(
        sqlite_url,
        "UPDATE model_pricing SET amount = NULL, state = 'known' "
        f"WHERE price_type = 'output' AND model_id = ({together} LIMIT 1 OFFSET 1)",
    )
    _execute(sqlite_url, f"UPDATE models SET canonical_slug = '  ' WHERE id = ({groq} LIMIT 1)")
    _execute(sqlite_url, f"UPDATE models SET price_status = 'cheap' WHERE id = ({groq} LIMIT 1 OFFSET 1)")

    prices = models_valid_prices(catalog_database=database)
    assert not prices.passed and prices.severity == dg.AssetCheckSeverity.ERROR
    price_numbers = _values(prices)
    assert {k: v for k, v in price_numbers.items() if k != "examples"} == {
        "prices_checked": 6 * 2 + 6 * 5,  # together: input, output; groq: also cache_read, image, request
        "negative_prices": 1,
        "negative_model_columns": 0,
        "missing_amount_not_marked_unknown": 1,
        "invalid_price_state": 0,
        "providers_affected": "together (2)",
    }
    assert "input=-1" in price_numbers["examples"] and "output=None (known)" in price_numbers["examples"]

    required = models_required_fields(catalog_database=database)
    assert not required.passed
    assert {k: v for k, v in _values(required).items() if k != "examples"} == {
        "models_checked": 12,
        "missing_provider_model_id": 0,
        "missing_canonical_slug": 1,
        "missing_price_status": 1,
        "providers_affected": "groq (2)",
    }


@pytest.mark.postgres
def test_duplicate_provider_model_ids_fail_the_uniqueness_check(replay_server, postgres_url):
    """A database that lost its unique constraint (a legacy copy, a hand-made restore) is caught."""
    replay_server.state.scale = SMALL
    assert sync(postgres_url, replay_server.url, slugs=["groq"]).success
    database = CatalogDatabaseResource(url=postgres_url)
    assert models_unique_provider_model_id(catalog_database=database).passed
    _execute(postgres_url, "ALTER TABLE models DROP CONSTRAINT uq_models_provider_id_provider_model_id")
    _execute(
        postgres_url,
        "INSERT INTO models (provider_id, provider_model_id, canonical_slug, price_status, is_active, content_hash,"
        " first_seen_at, last_seen_at, updated_at) SELECT provider_id, provider_model_id, canonical_slug,"
        " price_status, is_active, content_hash, first_seen_at, last_seen_at, updated_at FROM models"
        " ORDER BY id LIMIT 1",
    )
    result = models_unique_provider_model_id(catalog_database=database)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    numbers = _values(result)
    assert (numbers["duplicated_ids"], numbers["extra_rows"], numbers["providers_affected"]) == (1, 1, "groq (1)")
    assert " x2" in numbers["examples"]


def _gateway_history(database_url: str) -> dict[str | None, tuple]:
    engine = create_catalog_engine(database_url)
    table = schema.reconciliation_history
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.provider_slug, table.c.live_models, table.c.missing, table.c.status).where(
                table.c.source == "gateway"
            )
        ).all()
    engine.dispose()
    return {row.provider_slug: (row.live_models, row.missing, row.status) for row in rows}


def test_gateway_parity_compares_the_database_with_what_the_gateway_serves(replay_server, sqlite_url):
    """Like the old `curl $GATEWAY/models?gateway=<slug>&limit=N | jq '.data | length'`, per provider and in
    total, recorded in catalog_reconciliation_history with source 'gateway'."""
    replay_server.state.scale = SMALL
    inject_fault(replay_server, "groq", size=10)
    assert sync(sqlite_url, replay_server.url).success
    gateway = GatewayResource(models_url=f"{replay_server.url}/gateway/models")

    def run() -> dg.AssetCheckEvaluation:
        result = dg.materialize(
            [catalog_reconciliation, gateway_parity],
            resources={**resources(sqlite_url, replay_server.url, warn=2, error=5), "catalog_gateway": gateway},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        return _evaluations(result)[GATEWAY_PARITY_CHECK]

    healthy = run()
    assert healthy.passed
    history = _gateway_history(sqlite_url)
    assert history["groq"] == (10, 0, "healthy")
    assert history[None][0] == _values(healthy)["gateway_models"] == _values(healthy)["db_active_models"]
    assert len(history) == len(PROVIDER_SLUGS) + 1

    inject_fault(replay_server, "groq", size=7)  # the gateway serves 3 fewer than the database holds
    shrunk = run()
    assert (shrunk.passed, shrunk.severity) == (False, dg.AssetCheckSeverity.WARN)
    numbers = _values(shrunk)
    assert (numbers["status"], numbers["missing"], numbers["stale"]) == ("warning", 0, 3)
    assert numbers["providers_warning"] == "groq: 0 missing, 3 stale"
    assert numbers["providers_out_of_sync"] == "none"


def test_gateway_counts_pass_the_limit_and_report_an_unreachable_gateway(replay_server):
    """`limit` is sent as the old script sent it; a gateway that is down is named, per provider."""
    capped = fetch_gateway_counts(f"{replay_server.url}/gateway/models", ["groq", "together"], limit=1)
    assert capped.live == {"groq": 1, "together": 1} and not capped.errors
    down = fetch_gateway_counts("http://127.0.0.1:9/models", ["groq"], timeout_seconds=2)
    assert down.live == {"groq": None}
    assert down.errors == {"groq": "gateway: GET http://127.0.0.1:9/models?gateway=groq&limit=10000: ConnectError"}


def test_gateway_check_is_registered_only_when_a_gateway_is_configured(monkeypatch):
    """CATALOG_GATEWAY_MODELS_URL switches the comparison on; without it no check pretends to pass."""
    monkeypatch.delenv("CATALOG_GATEWAY_MODELS_URL", raising=False)
    assert GATEWAY_PARITY_CHECK not in {key.name for c in definitions.build_asset_checks() for key in c.check_keys}
    monkeypatch.setenv("CATALOG_GATEWAY_MODELS_URL", "http://127.0.0.1:9/models")
    assert GATEWAY_PARITY_CHECK in {key.name for c in definitions.build_asset_checks() for key in c.check_keys}


def test_a_shrunk_list_fails_parity_with_stale_equal_to_the_shrink(replay_server, sqlite_url):
    """groq lists 100 models, all stored; then its live list shrinks to 10. Before any sync writes the
    shrink, the reconciliation counts the 90 stored models no longer listed as stale: the provider's
    parity check fails (ERROR: the gap of 90 is above the error threshold), status, the totals and
    providers_out_of_sync say so, and parity reads 10%, not 100% nor a healthy 0%."""
    replay_server.state.scale = SMALL
    inject_fault(replay_server, "groq", size=100)
    assert sync(sqlite_url, replay_server.url).success
    inject_fault(replay_server, "groq", size=10)
    result = reconcile(sqlite_url, replay_server.url, warn=20, error=50)

    groq = _evaluations(result)[_parity("groq")]
    numbers = _values(groq)
    assert (groq.passed, groq.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert (numbers["live"], numbers["db_active"], numbers["missing"], numbers["stale"]) == (10, 100, 0, 90)
    assert (numbers["gap"], numbers["status"], numbers["parity_pct"]) == (90, "out_of_sync", 10.0)
    assert numbers["live"] == numbers["db_active"] + numbers["rejected"] + numbers["missing"] - numbers["stale"]
    gone = sorted(m.model_id for m in demo_models(get_provider("groq"), 100)[10:])
    assert numbers["stale_sample"] == ", ".join(gone[:10])

    total = _evaluations(result)["all_providers_parity"]
    assert not total.passed and _values(total)["stale"] == 90
    materialized = result.asset_materializations_for_node("catalog_reconciliation")[0].metadata
    assert materialized["providers_out_of_sync"].value == "groq"
    assert materialized["stale"].value == 90
    table = materialized["by_provider"].value
    first = table.records[0].data
    assert (first["provider"], first["stale"], first["status"]) == ("groq", 90, "out_of_sync")


def test_parity_is_never_healthy_at_zero_percent(replay_server, sqlite_url):
    """A list that has nothing in common with the store (every id changed) is out of sync even when the
    gap is below every threshold: parity 0% never reads healthy."""
    inject_fault(replay_server, "groq", size=3)
    assert sync(sqlite_url, replay_server.url, slugs=["groq"]).success
    _execute(database_url=sqlite_url, sql="UPDATE models SET provider_model_id = 'renamed/' || provider_model_id")
    groq = _values(_evaluations(reconcile(sqlite_url, replay_server.url, warn=100, error=1000))[_parity("groq")])
    assert (groq["missing"], groq["stale"], groq["parity_pct"], groq["status"]) == (3, 3, 0.0, "out_of_sync")


def test_ninety_percent_gone_is_out_of_sync_with_the_default_thresholds(replay_server, sqlite_url):
    """The reported case: groq 100 -> 10 with the default thresholds (warn 100, error 1000). A gap of 90 is
    below both counts, but it is 90% of the provider's models: out of sync (ERROR), never "healthy"."""
    replay_server.state.scale = SMALL
    inject_fault(replay_server, "groq", size=100)
    assert sync(sqlite_url, replay_server.url, slugs=["groq"]).success
    inject_fault(replay_server, "groq", size=10)
    result = reconcile(sqlite_url, replay_server.url, warn=100, error=1000)
    groq = _evaluations(result)[_parity("groq")]
    assert (groq.passed, groq.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert (_values(groq)["stale"], _values(groq)["status"]) == (90, "out_of_sync")
    inject_fault(replay_server, "groq", size=60)  # 40 of 100 gone: below half, graded by the counts
    assert (
        _values(_evaluations(reconcile(sqlite_url, replay_server.url, warn=100, error=1000))[_parity("groq")])["status"]
        == "healthy"
    )
