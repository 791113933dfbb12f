"""Real captured payloads synced end to end: served on a loopback socket at the provider's real path, fetched
by the real engine inside a Dagster run, written to SQLite and PostgreSQL, and read back from the database.

Pins: endpoint fallback (404/410 only), which endpoint answered (metadata and sync log), prices and lifecycle
fields stored by value, the wire-format drift check, and the deprecation check on a fixed clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipeline.defs import checks
from catalog_pipeline.defs.assets import MODELS, PAYLOAD_DRIFT_CHECK, PROVIDER_CATALOG
from catalog_pipeline.defs.resources import CatalogDatabaseResource, LifecycleSettingsResource
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline_tests.capture_server import capture_server
from catalog_pipeline_tests.helpers import materializations, model_rows, sync, sync_log

D = Decimal


def _capture(shared: Path, name: str) -> Any:
    return json.loads((shared / name).read_text())


def _prices(database_url: str, slug: str, model_id: str) -> dict[str, tuple[Decimal | None, str, int | None]]:
    engine = create_catalog_engine(database_url)
    pricing, models, providers = schema.model_pricing, schema.models, schema.providers
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(pricing.c.price_type, pricing.c.amount, pricing.c.unit, pricing.c.threshold_tokens)
            .join(models, models.c.id == pricing.c.model_id)
            .join(providers, providers.c.id == models.c.provider_id)
            .where(providers.c.slug == slug, models.c.provider_model_id == model_id)
        ).all()
    engine.dispose()
    return {
        row.price_type: (None if row.amount is None else D(row.amount).normalize(), row.unit, row.threshold_tokens)
        for row in rows
    }


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def test_groq_capture_stores_its_prices_and_the_drift_check_names_a_new_and_a_vanished_field(
    database_url, shared_snapshots
):
    """Groq's 2026 list is stored with its per-token prices; served again with a field added to every entry
    and a read field (context_window) removed from every entry, payload_drift warns naming both."""
    body = _capture(shared_snapshots, "groq.2026-08.json")
    with capture_server() as (url, routes):
        routes.serve("/groq/openai/v1/models", json.dumps(body).encode())
        first = sync(database_url, url, slugs=["groq"])
        assert first.success
        assert _check(first, PAYLOAD_DRIFT_CHECK).passed

        gpt = _prices(database_url, "groq", "openai/gpt-oss-120b")
        assert gpt["input"] == (D("0.15"), "usd_per_million_tokens", None)
        assert gpt["output"] == (D("0.6"), "usd_per_million_tokens", None)
        assert gpt["cache_read"] == (D("0.075"), "usd_per_million_tokens", None)
        stored = {row["provider_model_id"]: row for row in model_rows(database_url, "groq")}
        assert {row["provider_status"] for row in stored.values()} == {"active"}
        assert stored["openai/gpt-oss-120b"]["context_length"] == 131072

        for entry in body["data"]:
            entry["reasoning_effort_levels"] = ["low", "high"]
            del entry["context_window"]
        routes.serve("/groq/openai/v1/models", json.dumps(body).encode())
        second = sync(database_url, url, slugs=["groq"])

    drift = _check(second, PAYLOAD_DRIFT_CHECK)
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    rows = {row.data["field"]: row.data for row in drift.metadata["fields"].value.records}
    assert rows["reasoning_effort_levels"]["status"] == "unknown"
    assert rows["reasoning_effort_levels"]["entries"] == len(body["data"]) == 14
    assert rows["reasoning_effort_levels"]["sample"] == '["low", "high"]'
    assert rows["context_window"]["status"] == "vanished"
    assert set(rows) == {"reasoning_effort_levels", "context_window"}
    assert "reasoning_effort_levels" in drift.description and "context_window" in drift.description


def test_a_primary_that_answers_404_falls_back_to_the_next_endpoint_and_says_which_answered(
    database_url, shared_snapshots
):
    """DeepInfra's /models/list gone (404): its OpenAI-compatible list is read instead, every id stored, and
    the provider_catalog materialization and the sync log name the endpoint that answered."""
    with capture_server() as (url, routes):
        routes.serve(
            "/deepinfra/v1/openai/models",
            (shared_snapshots / "deepinfra.openai-v1-models.2026-04-17.json").read_bytes(),
        )
        result = sync(database_url, url, slugs=["deepinfra"])
        assert result.success
        assert [path.split("?")[0] for path in routes.requests] == [
            "/deepinfra/models/list",
            "/deepinfra/v1/openai/models",
        ]

    catalog = materializations(result.instance_for_test, PROVIDER_CATALOG, result.run_id)["deepinfra"]
    assert catalog["endpoint"] == "openai-v1" and catalog["live_count"] == 154
    assert materializations(result.instance_for_test, MODELS, result.run_id)["deepinfra"]["inserted"] == 154
    assert sync_log(database_url)[-1]["endpoint"] == "openai-v1"
    assert _prices(database_url, "deepinfra", "Qwen/Qwen3.5-27B")["input"] == (
        D("0.26"),
        "usd_per_million_tokens",
        None,
    )


@pytest.mark.parametrize("status", [401, 403, 429, 500])
def test_no_fallback_on_refusals_limits_or_server_errors(sqlite_url, shared_snapshots, status):
    """401/403 (the key), 429 and 5xx (the server) say nothing about where the list moved: the provider fails
    at its primary endpoint, the variant is never asked, and nothing is stored."""
    with capture_server() as (url, routes):
        routes.serve("/deepinfra/models/list", b'{"error": "no"}', status=status)
        routes.serve(
            "/deepinfra/v1/openai/models",
            (shared_snapshots / "deepinfra.openai-v1-models.2026-04-17.json").read_bytes(),
        )
        result = sync(sqlite_url, url, slugs=["deepinfra"])
        assert not result.success
        assert {path.split("?")[0] for path in routes.requests} == {"/deepinfra/models/list"}
    assert model_rows(sqlite_url, "deepinfra") == []
    assert f"HTTP {status}" in sync_log(sqlite_url)[-1]["error_message"]


def test_google_vertex_api_gemini_selects_the_gemini_list(sqlite_url, shared_snapshots, monkeypatch):
    """GOOGLE_VERTEX_API=gemini reads generativelanguage.googleapis.com/v1beta/models (no location needed):
    ids models/..., inputTokenLimit as the context; an unknown value fails naming the variable."""
    body = _capture(shared_snapshots, "google-vertex.gemini-api.2026-08-05.json")
    body.pop("nextPageToken")  # the capture is page 1 of several; served here as the whole list
    monkeypatch.setenv("GOOGLE_VERTEX_API", "gemini")
    with capture_server() as (url, routes):
        routes.serve("/google-vertex/v1beta/models", json.dumps(body).encode())
        result = sync(sqlite_url, url, slugs=["google-vertex"])
        assert result.success
    rows = {row["provider_model_id"]: row for row in model_rows(sqlite_url, "google-vertex")}
    assert len(rows) == 50
    assert rows["models/gemini-2.5-flash"]["context_length"] == 1048576
    assert sync_log(sqlite_url)[-1]["endpoint"] == "gemini"

    monkeypatch.setenv("GOOGLE_VERTEX_API", "bard")
    with capture_server() as (url, _):
        failed = sync(sqlite_url, url, slugs=["google-vertex"])
    assert not failed.success
    message = sync_log(sqlite_url)[-1]["error_message"]
    assert "GOOGLE_VERTEX_API='bard'" in message and "vertex, gemini" in message


def test_openai_shutdown_dates_are_stored_and_the_deprecation_check_lists_the_ones_due(
    database_url, shared_snapshots, monkeypatch
):
    """Every OpenAI model with a shutdown_date has it as models.deprecation_date; on a fixed clock
    (2026-09-01) the check warns about exactly the active models due by 2026-10-01, past ones included."""
    body = _capture(shared_snapshots, "openai.2026-08-17.json")
    with capture_server() as (url, routes):
        routes.serve("/openai/v1/models", json.dumps(body).encode())
        assert sync(database_url, url, slugs=["openai"]).success
    stored = {row["provider_model_id"]: row["deprecation_date"] for row in model_rows(database_url, "openai")}
    announced = {entry["id"]: entry["shutdown_date"] for entry in body["data"] if entry["shutdown_date"]}
    assert announced and {m: d.date().isoformat() for m, d in stored.items() if d} == announced

    clock = datetime(2026, 9, 1, tzinfo=UTC)
    monkeypatch.setattr(checks, "_now", lambda: clock)
    result = checks.models_deprecation_upcoming(
        catalog_database=CatalogDatabaseResource(url=database_url),
        lifecycle_settings=LifecycleSettingsResource(deprecation_warn_days=30),
    )
    due = {m for m, d in announced.items() if d <= (clock + timedelta(days=30)).date().isoformat()}
    assert due, "the capture has models due in that window"
    listed = {record.data["model"] for record in result.metadata["models"].value.records}
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert listed == due
    assert result.metadata["models_past_date"].value == sum(1 for m in due if announced[m] < "2026-09-01")
    assert result.metadata["models_with_deprecation_date"].value == len(announced)
