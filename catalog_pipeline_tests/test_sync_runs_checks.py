"""Checks on `models` are true after every kind of sync run. A range run of `catalog_sync_job` (what
the schedule, the drift sensor, the CLI and a backfill launch) evaluates every check of both assets in
the run, once every provider landed; a run in which a provider fails materializes only the providers
that landed, and `catalog_monitor_after_sync_sensor` then starts the monitor that evaluates the checks."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from catalog_pipeline.defs import checks
from catalog_pipeline.defs.assets import MODELS, PROVIDER_CATALOG, catalog_reconciliation, sync_provider_catalogs
from catalog_pipeline.defs.checks import MODELS_CHECKS, models_checks
from catalog_pipeline.defs.jobs import catalog_sync_job
from catalog_pipeline.defs.resources import LifecycleSettingsResource
from catalog_pipeline.defs.schedules import MONITOR_JOB, SCHEDULED_SYNC_RUN_CONFIG, catalog_monitor_job
from catalog_pipeline.defs.sensors import AFTER_RUNS_TAG, AFTER_SYNC_SENSOR, catalog_monitor_after_sync_sensor
from catalog_pipeline.defs.sync_settings import SyncScheduleResource
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import materializations, partition_range_tags, resources

SMALL = 0.02
FIRST, LAST = "groq", "cerebras"  # four neighbours in partition order
RANGE = PROVIDER_SLUGS[PROVIDER_SLUGS.index(FIRST) : PROVIDER_SLUGS.index(LAST) + 1]


@pytest.fixture
def definitions(replay_server, sqlite_url) -> dg.Definitions:
    replay_server.state.scale = SMALL
    return dg.Definitions(
        assets=[sync_provider_catalogs, catalog_reconciliation],
        asset_checks=MODELS_CHECKS,
        jobs=[catalog_sync_job, catalog_monitor_job],
        sensors=[catalog_monitor_after_sync_sensor],
        resources={
            **resources(sqlite_url, replay_server.url),
            "sync_schedule": SyncScheduleResource(providers=",".join(RANGE)),
            "lifecycle_settings": LifecycleSettingsResource(),
        },
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _sync_range(definitions: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return definitions.resolve_job_def(catalog_sync_job.name).execute_in_process(
        instance=instance,
        run_config=SCHEDULED_SYNC_RUN_CONFIG,
        tags=partition_range_tags(FIRST, LAST),
        raise_on_error=False,
    )


def _after_sync_tick(definitions: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions) as context:
        return definitions.resolve_sensor_def(AFTER_SYNC_SENSOR).evaluate_tick(context)


def test_a_range_run_evaluates_every_check_of_both_assets_in_the_run(definitions, instance):
    result = _sync_range(definitions, instance)
    assert result.success
    checks = {
        key for key in definitions.resolve_asset_graph().asset_check_keys if key.asset_key in (MODELS, PROVIDER_CATALOG)
    }
    evaluated = {dg.AssetCheckKey(e.asset_key, e.check_name) for e in result.get_asset_check_evaluations()}
    assert evaluated == checks and len(checks) >= 7
    skipped = [e for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
    assert skipped == []
    for key in (PROVIDER_CATALOG, MODELS):
        assert set(materializations(instance, key, result.run_id)) == set(RANGE)
    groq = materializations(instance, MODELS, result.run_id)["groq"]
    assert groq["dagster/partition_row_count"] == groq["inserted"]
    assert groq["dagster/row_count"] == sum(
        m["dagster/partition_row_count"] for m in materializations(instance, MODELS, result.run_id).values()
    )


def test_a_failed_provider_leaves_the_checks_to_the_monitor_the_after_sync_sensor_starts(
    definitions, instance, replay_server
):
    first = _after_sync_tick(definitions, instance, None)
    assert not first.run_requests and first.cursor  # starts watching from now on

    inject_fault(replay_server, "fireworks", body="invalid_json")
    failed = _sync_range(definitions, instance)
    assert not failed.success
    # only the providers that landed are materialized: a failed partition never reads green
    assert set(materializations(instance, MODELS, failed.run_id)) == set(RANGE) - {"fireworks"}

    tick = _after_sync_tick(definitions, instance, first.cursor)
    (request,) = tick.run_requests
    assert request.job_name in (None, MONITOR_JOB)
    assert request.run_key == f"after-sync:{failed.run_id}"
    assert request.tags[AFTER_RUNS_TAG] == failed.run_id
    assert not _after_sync_tick(definitions, instance, tick.cursor).run_requests  # handled once

    monitor = definitions.resolve_job_def(MONITOR_JOB).execute_in_process(instance=instance, tags=request.tags)
    evaluated = {e.check_name for e in monitor.get_asset_check_evaluations()}
    assert {key.name for check in MODELS_CHECKS for key in check.check_keys} <= evaluated
    # the monitor is no sync: it starts nothing more
    assert not _after_sync_tick(definitions, instance, tick.cursor).run_requests


def test_a_check_on_models_that_raises_leaves_the_others_reporting_and_fails_its_step(
    definitions, instance, monkeypatch
):
    """The checks on `models` share one step after the sync step: when one of them cannot be evaluated
    (here valid prices, broken on purpose), the others still report their results in the run, the
    providers stay materialized, and the run fails naming the check that could not run."""

    def broken(catalog_database):  # type: ignore[no-untyped-def]
        raise RuntimeError("the price query broke")

    monkeypatch.setattr(checks, "_models_valid_prices", broken)
    result = _sync_range(definitions, instance)
    assert not result.success
    evaluated = {e.check_name for e in result.get_asset_check_evaluations()}
    assert evaluated >= {key.name for key in models_checks.check_keys} - {checks.VALID_PRICES_CHECK}
    assert checks.VALID_PRICES_CHECK not in evaluated
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "models_checks"
    assert "models_valid_prices" in failure.step_failure_data.error.message
    assert "the price query broke" in failure.step_failure_data.error.message
    assert set(materializations(instance, MODELS, result.run_id)) == set(RANGE)


def test_a_check_on_models_picked_alone_evaluates_only_that_check(definitions, instance):
    """The UI's "Execute" on one check of `models` (a subset of the shared step) evaluates that check
    and no other: the step runs only the selected checks."""
    assert _sync_range(definitions, instance).success
    key = dg.AssetCheckKey(MODELS, checks.UNIQUE_IDS_CHECK)
    job = definitions.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection={key}
    )
    result = job.execute_in_process(instance=instance)
    assert result.success
    assert [e.check_name for e in result.get_asset_check_evaluations()] == [checks.UNIQUE_IDS_CHECK]
    assert result.get_asset_check_evaluations()[0].passed
