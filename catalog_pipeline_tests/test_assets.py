"""In-process materializations of the three assets against the replay server."""

from __future__ import annotations

import dagster as dg
import pytest

from catalog_pipeline.defs.assets import CATALOG_RECONCILIATION, MODELS, PROVIDER_CATALOG
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.replay.server import expected_live_count
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import materializations, model_rows, reconcile, sync, sync_log


def test_full_sync_materializes_every_provider_partition_and_reconciles_to_full_parity(replay_server, sqlite_url):
    """One run covers every provider partition; each gets its own materialization with its own counts."""
    instance = dg.DagsterInstance.ephemeral()
    result = sync(sqlite_url, replay_server.url, instance=instance)
    assert result.success
    catalogs = materializations(instance, PROVIDER_CATALOG, result.run_id)
    models = materializations(instance, MODELS, result.run_id)
    assert set(catalogs) == set(PROVIDER_SLUGS) == set(models)
    for slug in PROVIDER_SLUGS:
        assert catalogs[slug]["live_count"] == expected_live_count(slug)
        assert catalogs[slug]["http_status"] == 200
        assert models[slug]["inserted"] == expected_live_count(slug)
        assert models[slug]["rejected"] == 0

    check = reconcile(sqlite_url, replay_server.url, instance=instance)
    assert check.success
    metadata = {
        k: v.value for k, v in check.asset_materializations_for_node("catalog_reconciliation")[0].metadata.items()
    }
    assert metadata["status"] == "healthy"
    assert metadata["parity_pct"] == 100.0
    assert metadata["live_models"] == sum(expected_live_count(s) for s in PROVIDER_SLUGS)
    evaluations = {e.check_name: e for e in check.get_asset_check_evaluations()}
    assert evaluations["all_providers_parity"].passed and evaluations["all_providers_unexplained_gap"].passed
    assert all(evaluations[f"parity_{s.replace('-', '_')}"].passed for s in PROVIDER_SLUGS)
    assert [e.asset_key for e in check.get_asset_materialization_events()] == [CATALOG_RECONCILIATION]


@pytest.mark.parametrize(
    ("fault", "cause"),
    [({"status": 500}, "HTTP 500 after 3 attempts"), ({"body": "invalid_json"}, "not valid JSON")],
)
def test_failing_provider_fails_alone_and_keeps_its_rows(replay_server, sqlite_url, fault, cause):
    """A 500 or an HTML error page fails that provider's partition only; its stored rows stay byte for byte."""
    first = sync(sqlite_url, replay_server.url)
    assert first.success
    before = model_rows(sqlite_url, "groq")
    assert len(before) == expected_live_count("groq")

    inject_fault(replay_server, "groq", **fault)
    inject_fault(replay_server, "together", size=expected_live_count("together") - 5)
    instance = dg.DagsterInstance.ephemeral()
    second = sync(sqlite_url, replay_server.url, instance=instance)

    assert not second.success
    failure = second.failure_data_for_node("sync_provider_catalogs").error.message
    assert "'groq'" in failure and "https://api.groq.com/openai/v1/models" in failure and cause in failure
    assert model_rows(sqlite_url, "groq") == before
    landed = materializations(instance, MODELS, second.run_id)
    assert "groq" not in landed
    assert set(landed) == set(PROVIDER_SLUGS) - {"groq"}
    assert landed["together"]["deactivated"] == 5
    groq_log = [row for row in sync_log(sqlite_url) if row["provider_slug"] == "groq"]
    assert groq_log[-1]["status"] == "failed" and cause in groq_log[-1]["error_message"]


def test_rate_limited_provider_retries_and_lands(replay_server, sqlite_url):
    """429 with Retry-After twice, then success: the provider lands and the attempts are recorded."""
    inject_fault(replay_server, "anthropic", status=429, times=2, retry_after="0")
    instance = dg.DagsterInstance.ephemeral()
    result = sync(sqlite_url, replay_server.url, slugs=["anthropic"], instance=instance)
    assert result.success
    catalog = materializations(instance, PROVIDER_CATALOG, result.run_id)["anthropic"]
    assert catalog["attempts"] == 3
    assert len(model_rows(sqlite_url, "anthropic")) == expected_live_count("anthropic")


def test_resync_with_nothing_changed_writes_no_rows(replay_server, sqlite_url):
    """The second identical sync still materializes `models` for every provider (a partition with nothing to
    write is a materialization, not a gap), classifies every model as unchanged and leaves updated_at alone."""
    assert sync(sqlite_url, replay_server.url).success
    before = {slug: model_rows(sqlite_url, slug) for slug in PROVIDER_SLUGS}
    instance = dg.DagsterInstance.ephemeral()
    again = sync(sqlite_url, replay_server.url, instance=instance)
    assert again.success
    recorded = materializations(instance, MODELS, again.run_id)
    assert set(recorded) == set(PROVIDER_SLUGS)
    for slug, metadata in recorded.items():
        assert metadata["rows_written"] == 0, slug
        assert metadata["unchanged"] == expected_live_count(slug)
        assert model_rows(sqlite_url, slug) == before[slug]


def test_same_model_twice_in_one_payload_is_stored_once(replay_server, sqlite_url):
    """Duplicated entries are stored once and explained as duplicate_id rejections."""
    inject_fault(replay_server, "together", duplicates=3)
    instance = dg.DagsterInstance.ephemeral()
    result = sync(sqlite_url, replay_server.url, slugs=["together"], instance=instance)
    assert result.success
    rows = model_rows(sqlite_url, "together")
    ids = [row["provider_model_id"] for row in rows]
    assert len(ids) == len(set(ids)) == expected_live_count("together")
    metadata = materializations(instance, MODELS, result.run_id)["together"]
    assert metadata["rejected"] == 3
    assert metadata["rejection_reasons"] == {"duplicate_id": 3}


def test_one_partition_selected_from_the_ui_syncs_only_that_provider(replay_server, sqlite_url):
    """Materializing a single partition touches only that provider."""
    instance = dg.DagsterInstance.ephemeral()
    result = sync(sqlite_url, replay_server.url, slugs=["groq"], instance=instance)
    assert result.success
    assert set(materializations(instance, MODELS, result.run_id)) == {"groq"}
    assert model_rows(sqlite_url, "together") == []


@pytest.mark.parametrize("selected", [PROVIDER_CATALOG, MODELS])
def test_selecting_either_asset_syncs_the_provider_end_to_end(replay_server, sqlite_url, selected):
    """One click on a partition of provider_catalog or of models fetches the live list, keeps the
    snapshot and writes models: both assets materialize, each with that provider's numbers."""
    instance = dg.DagsterInstance.ephemeral()
    # what the UI launches for a click on one of them: the asset and the multi-asset neighbours it needs
    selection = dg.AssetSelection.assets(selected).required_multi_asset_neighbors()
    result = sync(sqlite_url, replay_server.url, slugs=["groq"], instance=instance, selection=selection)
    assert result.success
    assert replay_server.state.requests.get("groq") == 1
    assert len(model_rows(sqlite_url, "groq")) == expected_live_count("groq")
    assert materializations(instance, PROVIDER_CATALOG, result.run_id)["groq"]["live_count"] == expected_live_count(
        "groq"
    )
    assert materializations(instance, MODELS, result.run_id)["groq"]["inserted"] == expected_live_count("groq")


def test_manual_materialization_of_an_unconfigured_provider_fails_at_once_naming_the_variable(sqlite_url, monkeypatch):
    """Outside replay mode, a provider without its key fails before any request, saying what to set."""
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    result = sync(sqlite_url, replay_url=None, slugs=["groq"])
    assert not result.success
    message = result.failure_data_for_node("sync_provider_catalogs").error.message
    assert "provider 'groq'" in message and "not configured: set GROQ_API_KEY" in message
    assert sync_log(sqlite_url)[-1]["status"] == "failed"


def test_scheduled_style_sync_skips_unconfigured_providers_with_the_variable_name(sqlite_url, monkeypatch):
    for name in ("CLOUDFLARE_WORKERS_AI_API_KEY", "CLOUDFLARE_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    result = sync(
        sqlite_url,
        replay_url=None,
        slugs=["cloudflare-workers-ai"],
        run_config={"ops": {"sync_provider_catalogs": {"config": {"skip_unconfigured": True}}}},
    )
    assert result.success
    [row] = sync_log(sqlite_url)
    assert row["status"] == "skipped"
    assert "CLOUDFLARE_WORKERS_AI_API_KEY" in row["error_message"] and "CLOUDFLARE_ACCOUNT_ID" in row["error_message"]


def test_reconciliation_names_the_missing_and_the_stale_models(replay_server, sqlite_url):
    """Not just counts: the per-provider check lists which live models are not stored and which stored ones left."""
    from catalog_pipeline.providers.registry import get_provider
    from catalog_pipeline.replay.demo_models import demo_models

    inject_fault(replay_server, "groq", size=expected_live_count("groq") - 3)
    assert sync(sqlite_url, replay_server.url, slugs=["groq"]).success
    replay_server.state.faults.clear()
    inject_fault(replay_server, "groq", size=expected_live_count("groq") + 2)  # two new models, not synced yet
    check = reconcile(sqlite_url, replay_server.url)
    evaluation = {e.check_name: e for e in check.get_asset_check_evaluations()}["parity_groq"]
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    demo_ids = [m.model_id for m in demo_models(get_provider("groq"), expected_live_count("groq") + 2)]
    assert metadata["missing"] == 5
    assert metadata["missing_sample"] == ", ".join(sorted(demo_ids[-5:]))
    assert "stale_sample" not in metadata


def test_a_swapped_model_with_equal_counts_is_still_a_gap(replay_server, sqlite_url):
    """One model in, one out: counts match, ids do not. The reconciliation compares ids and says which."""
    import sqlalchemy as sa

    from catalog_pipeline.storage.database import create_catalog_engine

    assert sync(sqlite_url, replay_server.url, slugs=["groq"]).success
    engine = create_catalog_engine(sqlite_url)
    with engine.begin() as connection:
        first = connection.execute(sa.text("SELECT min(id) FROM models")).scalar_one()
        real_id = connection.execute(
            sa.text("SELECT provider_model_id FROM models WHERE id = :i"), {"i": first}
        ).scalar_one()
        connection.execute(sa.text("UPDATE models SET provider_model_id = 'ghost/model' WHERE id = :i"), {"i": first})
    engine.dispose()

    evaluations = {
        e.check_name: e for e in reconcile(sqlite_url, replay_server.url, warn=1).get_asset_check_evaluations()
    }
    groq = {k: v.value for k, v in evaluations["parity_groq"].metadata.items()}
    assert (groq["missing"], groq["stale"], groq["gap"], groq["status"]) == (1, 1, 2, "warning")
    assert groq["live"] == groq["db_active"] + groq["rejected"] + groq["missing"] - groq["stale"]
    assert (groq["missing_sample"], groq["stale_sample"]) == (real_id, "ghost/model")
    gap = {k: v.value for k, v in evaluations["all_providers_unexplained_gap"].metadata.items()}
    assert not evaluations["all_providers_unexplained_gap"].passed
    assert "groq: 1 missing, 1 stale" in gap["providers_with_gap"].split("; ")


def test_an_unforeseen_error_in_one_provider_fails_that_provider_only(replay_server, sqlite_url, monkeypatch):
    """Not every exception is a ProviderError: an odd one still fails its provider alone, and the
    message that reaches the run log carries no key."""
    from catalog_pipeline.http_engine import CatalogHttpEngine

    secret = "sk-unforeseen-0123456789abcdef"
    monkeypatch.setenv("GROQ_API_KEY", secret)
    real_fetch = CatalogHttpEngine.fetch_pages

    def fetch_pages(self, spec, previous=None):
        if spec.slug == "groq":
            raise RuntimeError(f"library bug echoing {secret}")
        return real_fetch(self, spec, previous)

    monkeypatch.setattr(CatalogHttpEngine, "fetch_pages", fetch_pages)
    instance = dg.DagsterInstance.ephemeral()
    result = sync(sqlite_url, replay_server.url, instance=instance)
    assert not result.success
    message = result.failure_data_for_node("sync_provider_catalogs").error.message
    assert "provider 'groq'" in message and "unexpected RuntimeError" in message
    assert secret not in message
    assert set(materializations(instance, MODELS, result.run_id)) == set(PROVIDER_SLUGS) - {"groq"}
