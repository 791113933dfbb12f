"""The checks on `models`, called directly on a SQLite catalog written by the real writer from hand-built
records, with every kind of bad row planted on purpose and every number written out by hand.

Fast (no Dagster run, no replay server), so the mutation run uses them for `defs/checks.py`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from catalog_pipeline.defs import checks
from catalog_pipeline.defs.resources import CatalogDatabaseResource, LifecycleSettingsResource, ProviderApiResource
from catalog_pipeline.defs.sync_settings import SyncScheduleResource
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import CatalogWriter
from catalog_pipeline_tests.catalog_builders import execute, model, models, write


def _values(result: dg.AssetCheckResult) -> dict:
    return {name: value.value for name, value in result.metadata.items()}


@pytest.fixture
def catalog(sqlite_url: str):
    """groq: g-1..g-3, together: t-1..t-2 active plus t-3 deactivated; every price input 1, output 2."""
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    write(writer, "groq", models("g", 3))
    write(writer, "together", models("t", 3))
    write(writer, "together", models("t", 2))  # t-3 leaves the list: deactivated (1 of 3 is within the guard)
    yield writer, CatalogDatabaseResource(url=sqlite_url)
    engine.dispose()


def _model_id(slug: str, provider_model_id: str) -> str:
    return (
        "(SELECT m.id FROM models m JOIN providers p ON p.id = m.provider_id "
        f"WHERE p.slug = '{slug}' AND m.provider_model_id = '{provider_model_id}')"
    )


def test_clean_catalog_passes_every_data_quality_check_with_its_counts(catalog):
    """A catalog as the writer leaves it passes; the counts cover active models only (t-3 is inactive)."""
    _, database = catalog
    prices = checks.models_valid_prices(catalog_database=database)
    assert prices.passed
    assert {k: v for k, v in _values(prices).items()} == {
        "prices_checked": 10,  # 5 active models x (input, output); t-3's two prices are not checked
        "negative_prices": 0,
        "negative_model_columns": 0,
        "missing_amount_not_marked_unknown": 0,
        "invalid_price_state": 0,
        "providers_affected": "none",
        "examples": "_none_",
    }
    required = checks.models_required_fields(catalog_database=database)
    assert required.passed
    assert _values(required) == {
        "models_checked": 5,
        "missing_provider_model_id": 0,
        "missing_canonical_slug": 0,
        "missing_price_status": 0,
        "providers_affected": "none",
        "examples": "_none_",
    }
    unique = checks.models_unique_provider_model_id(catalog_database=database)
    assert unique.passed
    assert _values(unique) == {
        "models_checked": 6,  # the inactive t-3 counts: a duplicate is a duplicate either way
        "duplicated_ids": 0,
        "extra_rows": 0,
        "providers_affected": "none",
        "examples": "_none_",
    }


def test_the_same_id_at_two_providers_is_not_a_duplicate(catalog):
    """groq and together may both list 'shared': the uniqueness is per provider."""
    writer, database = catalog
    write(writer, "openai", [model("g-1")])  # the id groq has too
    result = checks.models_unique_provider_model_id(catalog_database=database)
    assert result.passed and _values(result)["duplicated_ids"] == 0


@pytest.mark.postgres
def test_duplicated_ids_are_counted_with_their_extra_rows_on_a_database_without_the_constraint(postgres_url):
    """A copy that lost its unique constraint: g-1 stored three times, g-2 twice: 2 duplicated ids, 3 extra
    rows, each named with its count."""
    engine = create_catalog_engine(postgres_url)
    writer = CatalogWriter(engine)
    write(writer, "groq", models("g", 3))
    execute(writer, "ALTER TABLE models DROP CONSTRAINT uq_models_provider_id_provider_model_id")
    copy = (
        "INSERT INTO models (provider_id, provider_model_id, canonical_slug, price_status, is_active, content_hash,"
        " first_seen_at, last_seen_at, updated_at) SELECT provider_id, provider_model_id, canonical_slug,"
        " price_status, is_active, content_hash, first_seen_at, last_seen_at, updated_at FROM models"
        " WHERE provider_model_id = :model_id"
    )
    execute(writer, copy + " LIMIT 1", model_id="g-1")
    execute(writer, copy + " LIMIT 1", model_id="g-1")
    execute(writer, copy + " LIMIT 1", model_id="g-2")
    result = checks.models_unique_provider_model_id(catalog_database=CatalogDatabaseResource(url=postgres_url))
    engine.dispose()
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert _values(result) == {
        "models_checked": 6,
        "duplicated_ids": 2,
        "extra_rows": 3,
        "providers_affected": "groq (2)",
        "examples": "- `groq/g-1 x3`\n- `groq/g-2 x2`",
    }


def test_each_kind_of_bad_price_is_counted_on_its_own_and_inactive_models_are_ignored(catalog):
    """A negative price, a 'known' price without an amount, a state no one defined and a negative price
    column on `models` are each counted once, with the providers and examples (by provider, then model);
    the same damage on an inactive model counts nothing; free (0) and small (0.5) prices are no problem."""
    writer, database = catalog
    execute(
        writer,
        f"UPDATE model_pricing SET amount = -1 WHERE price_type = 'input' AND model_id = {_model_id('groq', 'g-1')}",
    )
    execute(
        writer,
        "UPDATE model_pricing SET amount = NULL, state = 'known' "
        f"WHERE price_type = 'output' AND model_id = {_model_id('groq', 'g-2')}",
    )
    execute(
        writer,
        f"UPDATE model_pricing SET state = 'cheap' WHERE price_type = 'input' AND model_id = {_model_id('groq', 'g-3')}",
    )
    execute(writer, f"UPDATE models SET input_price_per_million = -2 WHERE id = {_model_id('together', 't-1')}")
    execute(writer, f"UPDATE models SET output_price_per_million = -3 WHERE id = {_model_id('together', 't-2')}")
    write(writer, "openai", [model("a-1"), model("a-free", "0", "0.5")])  # a free and a half price are valid
    execute(
        writer,
        f"UPDATE model_pricing SET amount = -4 WHERE price_type = 'input' AND model_id = {_model_id('openai', 'a-1')}",
    )
    inactive = _model_id("together", "t-3")
    execute(writer, f"UPDATE model_pricing SET amount = -5, state = 'cheap' WHERE model_id = {inactive}")
    execute(writer, f"UPDATE models SET input_price_per_million = -5 WHERE id = {inactive}")

    result = checks.models_valid_prices(catalog_database=database)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    numbers = _values(result)
    assert {k: v for k, v in numbers.items() if k != "examples"} == {
        "prices_checked": 14,  # 7 active models x (input, output)
        "negative_prices": 2,
        "negative_model_columns": 2,
        "missing_amount_not_marked_unknown": 1,
        "invalid_price_state": 1,
        "providers_affected": "groq (3), openai (1), together (2)",
    }
    assert numbers["examples"].splitlines() == [
        "- `groq/g-1 input=-1.000000000000 (known)`",
        "- `openai/a-1 input=-4.000000000000 (known)`",  # by provider, then model: openai after groq
        "- `groq/g-2 output=None (known)`",
        "- `groq/g-3 input=1.000000000000 (cheap)`",
        "- `together/t-1 input=-2.000000000000 output=2.000000000000`",
        "- `together/t-2 input=1.000000000000 output=-3.000000000000`",
    ]


@pytest.mark.parametrize(
    ("column", "values", "counted"),
    [
        ("provider_model_id", ("   ", "    "), "missing_provider_model_id"),
        ("provider_model_id", ("", " "), "missing_provider_model_id"),
        ("canonical_slug", (" ", ""), "missing_canonical_slug"),
        ("price_status", ("cheap", "cheaper"), "missing_price_status"),
    ],
)
def test_a_blank_or_undefined_required_field_is_counted_under_its_own_name(catalog, column, values, counted):
    """Blank ids, blank canonical slugs and undefined price statuses of active models each fail the check
    under their own key, naming the provider and the row; the inactive t-3 damaged the same way is ignored."""
    writer, database = catalog
    for target, value in zip((_model_id("together", "t-2"), _model_id("together", "t-3")), values, strict=True):
        execute(writer, f"UPDATE models SET {column} = :value WHERE id = {target}", value=value)
    result = checks.models_required_fields(catalog_database=database)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    numbers = _values(result)
    expected = {"missing_provider_model_id": 0, "missing_canonical_slug": 0, "missing_price_status": 0} | {counted: 1}
    assert {k: v for k, v in numbers.items() if k != "examples"} == {
        "models_checked": 5,
        **expected,
        "providers_affected": "together (1)",
    }
    field_name = counted.removeprefix("missing_")
    assert numbers["examples"].startswith("- `together models.id=") and f"{field_name} missing" in numbers["examples"]


def test_freshness_counts_stale_and_never_synced_providers_within_twice_the_interval(catalog, monkeypatch):
    """With a 3 h interval (window 6 h): groq synced 5 h ago is fresh; together 1000 h 1 min ago, anthropic
    6 h 3 s ago and cerebras (never synced) are stale; their ages are in the metadata, in hours to one place."""
    writer, database = catalog
    now = datetime.now(UTC)
    ages = (
        ("groq", timedelta(hours=5)),
        ("together", timedelta(hours=1000, minutes=1)),
        ("anthropic", timedelta(hours=6, seconds=3)),
    )
    for slug, age in ages:
        writer.log_sync(slug, now - age, "success")
        execute(
            writer,
            "UPDATE pricing_sync_log SET sync_finished_at = :at WHERE provider_slug = :slug",
            at=now - age,
            slug=slug,
        )
    writer.log_sync("groq", now, "failed", error_message="a failure does not make it fresher")
    for name in ("GROQ_API_KEY", "TOGETHER_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, "k")
    result = checks.models_freshness(
        provider_api=ProviderApiResource(),
        catalog_database=database,
        sync_schedule=SyncScheduleResource(interval_hours=3, providers="groq,together,cerebras,anthropic"),
    )
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    numbers = _values(result)
    assert "window_hours" not in numbers  # a constant (2 x interval): in the description, not per-run metadata
    assert numbers["providers_checked"] == 4
    assert numbers["stale_count"] == 3
    # partition order; 6 h 3 s is past the 6 h window (by 3 s); 1000 h 1 min shows as 1000.0 h
    assert numbers["stale_providers"] == "together (1000.0 h), cerebras (never), anthropic (6.0 h)"
    assert numbers["oldest_success_age_hours"] == 1000.0
    assert numbers["not_configured"] == "none"

    fresh = checks.models_freshness(
        provider_api=ProviderApiResource(),
        catalog_database=database,
        sync_schedule=SyncScheduleResource(interval_hours=4, providers="groq,anthropic"),
    )
    assert fresh.passed and _values(fresh)["stale_count"] == 0


def test_deprecation_check_lists_models_due_within_the_window_soonest_first(sqlite_url, monkeypatch):
    """On a fixed clock (2026-09-01, window 30 days): a date 10 days ahead and one 5 days past are due
    (the past one first, days_left -5), one 40 days ahead is not, nor an inactive model that is due."""
    clock = datetime(2026, 9, 1, tzinfo=UTC)
    monkeypatch.setattr(checks, "_now", lambda: clock)
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    dated = {
        "soon": clock + timedelta(days=10),
        "past": clock - timedelta(days=5),
        "later": clock + timedelta(days=40),
        "gone": clock + timedelta(days=3),
    }
    records = [replace(model(name), deprecation_date=when, provider_status="active") for name, when in dated.items()]
    write(writer, "openai", [*records, model("undated")])
    write(writer, "openai", [r for r in records if r.provider_model_id != "gone"] + [model("undated")])
    result = checks.models_deprecation_upcoming(
        catalog_database=CatalogDatabaseResource(url=sqlite_url),
        lifecycle_settings=LifecycleSettingsResource(deprecation_warn_days=30),
    )
    engine.dispose()
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == "2 active model(s) reach their deprecation date within 30 days (1 already past)"
    numbers = _values(result)
    assert (numbers["models_due"], numbers["models_past_date"], numbers["models_with_deprecation_date"]) == (2, 1, 3)
    assert numbers["providers_affected"] == "openai (2)"
    assert [record.data for record in numbers["models"].records] == [
        {
            "provider": "openai",
            "model": "past",
            "deprecation_date": "2026-08-27",
            "days_left": -5,
            "provider_status": "active",
        },
        {
            "provider": "openai",
            "model": "soon",
            "deprecation_date": "2026-09-11",
            "days_left": 10,
            "provider_status": "active",
        },
    ]


def test_deprecation_check_passes_when_nothing_is_due(sqlite_url, monkeypatch):
    """Only dates beyond the window: the check passes and says nothing."""
    clock = datetime(2026, 9, 1, tzinfo=UTC)
    monkeypatch.setattr(checks, "_now", lambda: clock)
    engine = create_catalog_engine(sqlite_url)
    write(CatalogWriter(engine), "openai", [replace(model("later"), deprecation_date=clock + timedelta(days=31))])
    result = checks.models_deprecation_upcoming(
        catalog_database=CatalogDatabaseResource(url=sqlite_url),
        lifecycle_settings=LifecycleSettingsResource(deprecation_warn_days=30),
    )
    engine.dispose()
    assert result.passed and result.description is None
    assert (_values(result)["models_due"], _values(result)["models_with_deprecation_date"]) == (0, 1)


def test_deprecation_check_counts_a_date_later_today_as_due_not_past_and_sorts_by_date_provider_and_id(
    sqlite_url, monkeypatch
):
    """At 12:00 UTC: a model retiring at 18:00 today is due with 0 days left, not past; one that retired at
    06:00 today is past (-1 days left, the day has begun without it). Rows on the same date sort by provider
    (groq before openai), then by model id (a-... before b-...). A model without a provider status shows an
    empty one, and a model the provider no longer lists is not counted, whatever its date. Due: 4 (past 1);
    with a date: 4 active (the deactivated one is not)."""
    clock = datetime(2026, 9, 1, 12, tzinfo=UTC)
    monkeypatch.setattr(checks, "_now", lambda: clock)
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    evening, morning = clock + timedelta(hours=6), clock - timedelta(hours=6)
    write(writer, "groq", [replace(model("z-today"), deprecation_date=evening)])
    openai = [
        replace(model("b-today"), deprecation_date=evening, provider_status="active"),
        replace(model("a-today"), deprecation_date=evening, provider_status="active"),
        replace(model("retired"), deprecation_date=morning, provider_status="deprecated"),
        replace(model("dropped"), deprecation_date=evening),
    ]
    write(writer, "openai", openai)
    write(writer, "openai", openai[:3])  # "dropped" leaves the list (1 of 4, within the guard)
    result = checks.models_deprecation_upcoming(
        catalog_database=CatalogDatabaseResource(url=sqlite_url),
        lifecycle_settings=LifecycleSettingsResource(deprecation_warn_days=30),
    )
    engine.dispose()
    numbers = _values(result)
    assert (numbers["models_due"], numbers["models_past_date"], numbers["models_with_deprecation_date"]) == (4, 1, 4)
    assert [
        (r.data["provider"], r.data["model"], r.data["days_left"], r.data["provider_status"])
        for r in numbers["models"].records
    ] == [
        ("openai", "retired", -1, "deprecated"),
        ("groq", "z-today", 0, ""),
        ("openai", "a-today", 0, "active"),
        ("openai", "b-today", 0, "active"),
    ]
    assert result.description == "4 active model(s) reach their deprecation date within 30 days (1 already past)"


#: The providers whose list takes no key (the README table's "none" and "(optional)" auth): only these are
#: compared with the gateway when no key is set.
KEYLESS = [
    "openrouter",
    "featherless",
    "deepinfra",
    "cerebras",
    "chutes",
    "aimo",
    "near",
    "fal",
    "helicone",
    "aihubmix",
    "vercel-ai-gateway",
    "onerouter",
    "morpheus",
    "modelz",
    "huggingface",
]


def test_gateway_parity_counts_each_keyless_provider_against_what_the_gateway_serves(catalog, monkeypatch):
    """A gateway answering 3 models for every provider: cerebras holds 5 active (2 more than the gateway:
    2 stale, healthy at warn 2), the other 14 keyless providers hold none (3 missing each, nothing in common:
    out of sync); the 17 keyed providers are skipped. Total: 45 live, 5 stored, 42 missing, 2 stale; recorded
    with source 'gateway'."""
    import json
    from types import SimpleNamespace

    import sqlalchemy as sa

    from catalog_pipeline.defs.resources import ParitySettingsResource
    from catalog_pipeline.gateway import GatewayResource
    from catalog_pipeline.storage import schema
    from catalog_pipeline_tests.capture_server import capture_server

    writer, database = catalog
    write(writer, "cerebras", models("c", 5))
    for name in [name for name in __import__("os").environ if name.endswith("_API_KEY")]:
        monkeypatch.delenv(name)
    with capture_server() as (url, routes):
        routes.serve("/models", json.dumps({"data": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}).encode())
        result = checks._gateway_parity(
            context=SimpleNamespace(run=SimpleNamespace(run_id="run-g")),
            catalog_gateway=GatewayResource(models_url=f"{url}/models", limit=50),
            provider_api=ProviderApiResource(),
            catalog_database=database,
            parity_settings=ParitySettingsResource(warn_threshold=2, error_threshold=100),
        )
        asked = sorted(routes.requests)
    assert asked == sorted(f"/models?gateway={slug}&limit=50" for slug in KEYLESS)
    numbers = _values(result)
    # 14 keyless providers: 3 listed, none stored, nothing in common -> out_of_sync; cerebras: 5 stored,
    # 3 listed -> 2 stale, healthy. gap 42 + 2 = 44; parity (45 - 42) / (45 + 2) = 6.382 %.
    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert {k: numbers[k] for k in ("status", "gateway_models", "db_active_models", "missing", "stale", "gap")} == {
        "status": "out_of_sync",
        "gateway_models": 45,
        "db_active_models": 5,
        "missing": 42,
        "stale": 2,
        "gap": 44,
    }
    assert numbers["parity_pct"] == 6.382
    assert numbers["providers_out_of_sync"].split("; ") == [
        f"{slug}: 3 missing, 0 stale" for slug in KEYLESS if slug != "cerebras"
    ]
    assert len(numbers["providers_skipped"].split("; ")) == 32 - len(KEYLESS)
    # every number the UI shows for the check, by name; cerebras is healthy, nothing is rejected or unreachable
    assert set(numbers) == {
        "status",
        "parity_pct",
        "gateway_models",
        "db_active_models",
        "rejected_models",
        "missing",
        "stale",
        "gap",
        "providers_out_of_sync",
        "providers_warning",
        "providers_unreachable",
        "providers_skipped",
        "by_provider",
    }
    assert (numbers["rejected_models"], numbers["providers_warning"], numbers["providers_unreachable"]) == (
        0,
        "none",
        "none",
    )
    assert "cerebras" in {row.data["provider"] for row in result.metadata["by_provider"].records}
    table = schema.reconciliation_history
    with writer.engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.provider_slug, table.c.missing, table.c.stale, table.c.dagster_run_id).where(
                table.c.source == "gateway"
            )
        ).all()
    recorded = {row.provider_slug: (row.missing, row.stale, row.dagster_run_id) for row in rows}
    assert recorded["cerebras"] == (0, 2, "run-g") and recorded[None] == (42, 2, "run-g")


def test_gateway_parity_without_a_gateway_passes_saying_so(catalog):
    """CATALOG_GATEWAY_MODELS_URL unset: the check passes with 'not configured' and asks nothing."""
    from types import SimpleNamespace

    from catalog_pipeline.defs.resources import ParitySettingsResource
    from catalog_pipeline.gateway import GatewayResource

    _, database = catalog
    result = checks._gateway_parity(
        context=SimpleNamespace(run=SimpleNamespace(run_id="r")),
        catalog_gateway=GatewayResource(),
        provider_api=ProviderApiResource(),
        catalog_database=database,
        parity_settings=ParitySettingsResource(),
    )
    assert result.passed and _values(result) == {}
    assert "No gateway configured" in result.description


def test_each_check_names_itself_its_asset_and_its_severity_in_its_result(catalog, sqlite_url):
    """The five checks share one step in a run (`models_checks`), so each result must say which check it is:
    a result naming another check, or none, would be shown under the wrong name in the UI, or rejected by
    Dagster. The names are the ones the README and the UI list; the data-quality checks and freshness fail
    as errors, the deprecation warning is a warning (README "Asset checks")."""
    _, database = catalog
    results = {
        "freshness": checks.models_freshness(
            provider_api=ProviderApiResource(),
            catalog_database=database,
            sync_schedule=SyncScheduleResource(interval_hours=3, providers="groq,together"),
        ),
        "unique": checks.models_unique_provider_model_id(catalog_database=database),
        "prices": checks.models_valid_prices(catalog_database=database),
        "required": checks.models_required_fields(catalog_database=database),
        "deprecation": checks.models_deprecation_upcoming(
            catalog_database=database, lifecycle_settings=LifecycleSettingsResource(deprecation_warn_days=30)
        ),
    }
    named = {key: (result.check_name, result.asset_key, result.severity) for key, result in results.items()}
    models_key = dg.AssetKey(["models"])
    error, warn = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
    assert named == {
        "freshness": ("models_freshness", models_key, error),
        "unique": ("models_unique_provider_model_id", models_key, error),
        "prices": ("models_valid_prices", models_key, error),
        "required": ("models_required_fields", models_key, error),
        "deprecation": ("models_deprecation_upcoming", models_key, warn),
    }
