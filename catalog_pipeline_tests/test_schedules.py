"""The sync and monitor schedules, evaluated the way the daemon does: `build_schedule_context` on a real
instance, with resources and defaults bound from the environment by `catalog_pipeline.definitions`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pytest

from catalog_pipeline import definitions
from catalog_pipeline.defs.assets import CATALOG_RECONCILIATION, MODELS
from catalog_pipeline.defs.checks import FRESHNESS_CHECK, REQUIRED_FIELDS_CHECK, UNIQUE_IDS_CHECK, VALID_PRICES_CHECK
from catalog_pipeline.defs.schedules import MONITOR_SCHEDULE, SYNC_SCHEDULE, sync_cron
from catalog_pipeline.defs.sensors import DRIFT_SENSOR
from catalog_pipeline.providers.registry import PROVIDER_SLUGS

TICK = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEDULED_CONFIG = {"ops": {"sync_provider_catalogs": {"config": {"skip_unconfigured": True}}}}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    for name in ("PRICING_SYNC_ENABLED", "PRICING_SYNC_INTERVAL_HOURS", "PRICING_SYNC_PROVIDERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CATALOG_DATABASE_URL", sqlite_url)


def _schedule(name: str) -> dg.ScheduleDefinition:
    return next(schedule for schedule in definitions.build_schedules() if schedule.name == name)


def _evaluate(instance: dg.DagsterInstance, schedule: dg.ScheduleDefinition):  # type: ignore[no-untyped-def]
    # Closed after the tick: the context opens its own instance from `instance`'s reference.
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, resources=definitions.build_resources()
    ) as context:
        return schedule.evaluate_tick(context)


def _ranges(run_requests: list[dg.RunRequest]) -> list[tuple[str, str]]:
    return [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in run_requests
    ]


def test_default_tick_syncs_every_provider_in_one_scheduled_run(instance):
    """Without PRICING_SYNC_PROVIDERS one run covers the whole partition range and skips unconfigured providers."""
    schedule = _schedule(SYNC_SCHEDULE)
    assert schedule.cron_schedule == "0 */6 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    result = _evaluate(instance, schedule)
    assert _ranges(result.run_requests) == [(PROVIDER_SLUGS[0], PROVIDER_SLUGS[-1])]
    (request,) = result.run_requests
    assert request.job_name == "catalog_sync_job"
    assert request.run_config == SCHEDULED_CONFIG
    assert request.run_key == f"{PROVIDER_SLUGS[0]}..{PROVIDER_SLUGS[-1]}@{TICK.isoformat()}"
    assert request.tags["catalog_pipeline/trigger"] == SYNC_SCHEDULE


def test_provider_selection_from_the_environment_uses_as_few_runs_as_partition_order_allows(instance, monkeypatch):
    """PRICING_SYNC_PROVIDERS in any order: neighbours in partition order share a run, the rest get their own."""
    first, second, last = PROVIDER_SLUGS[1], PROVIDER_SLUGS[2], PROVIDER_SLUGS[-1]
    monkeypatch.setenv("PRICING_SYNC_PROVIDERS", f"{last}, {second},{first}")
    result = _evaluate(instance, _schedule(SYNC_SCHEDULE))
    assert _ranges(result.run_requests) == [(first, second), (last, last)]
    assert all(r.run_config == SCHEDULED_CONFIG for r in result.run_requests)
    assert len({r.run_key for r in result.run_requests}) == 2


def test_unknown_provider_in_the_environment_fails_at_load(monkeypatch):
    """A typo in PRICING_SYNC_PROVIDERS stops the code location from loading instead of silently syncing less."""
    monkeypatch.setenv("PRICING_SYNC_PROVIDERS", f"{PROVIDER_SLUGS[0]},no-such-provider")
    with pytest.raises(ValueError, match="no-such-provider"):
        definitions.build_schedules()


@pytest.mark.parametrize(("raw", "status"), [("false", "STOPPED"), ("0", "STOPPED"), ("true", "RUNNING")])
def test_pricing_sync_enabled_decides_whether_sync_automation_starts_running(monkeypatch, raw, status):
    """PRICING_SYNC_ENABLED sets the default status of the sync schedule and the drift sensor (both launch
    syncs); the monitor and the alerts run regardless."""
    monkeypatch.setenv("PRICING_SYNC_ENABLED", raw)
    schedules = {s.name: s for s in definitions.build_schedules()}
    sensors = {s.name: s for s in definitions.build_sensors()}
    assert schedules[SYNC_SCHEDULE].default_status == getattr(dg.DefaultScheduleStatus, status)
    assert sensors[DRIFT_SENSOR].default_status == getattr(dg.DefaultSensorStatus, status)
    assert schedules[MONITOR_SCHEDULE].default_status == dg.DefaultScheduleStatus.RUNNING
    assert sensors["catalog_alert_sensor"].default_status == dg.DefaultSensorStatus.RUNNING


def test_interval_from_the_environment_sets_the_cron_line(monkeypatch):
    """PRICING_SYNC_INTERVAL_HOURS must divide a day, so syncs land at the same hours every day."""
    monkeypatch.setenv("PRICING_SYNC_INTERVAL_HOURS", "4")
    assert _schedule(SYNC_SCHEDULE).cron_schedule == "0 */4 * * *"
    assert sync_cron(24) == "0 0 * * *"
    monkeypatch.setenv("PRICING_SYNC_INTERVAL_HOURS", "5")
    with pytest.raises(ValueError, match="must divide a day"):
        definitions.build_schedules()


@pytest.mark.parametrize(
    ("job_name", "asset_selection"),
    [("catalog_sync_job", None), ("__ASSET_JOB", frozenset({MODELS}))],
    ids=["scheduled-or-cli-sync", "ui-materialization"],
)
def test_tick_while_a_sync_is_running_starts_nothing(instance, job_name, asset_selection):
    """A running sync (from the schedule, the CLI, a sensor or a click in the UI) makes the tick skip;
    once it has finished the next tick syncs again."""
    run_id = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(
            job_name=job_name, run_id=run_id, status=dg.DagsterRunStatus.STARTED, asset_selection=asset_selection
        )
    )
    schedule = _schedule(SYNC_SCHEDULE)
    skipped = _evaluate(instance, schedule)
    assert skipped.run_requests == [] or skipped.run_requests is None
    assert skipped.skip_message == f"a sync is still in progress (run {run_id}); not starting another"

    instance.report_run_canceled(instance.get_run_by_id(run_id))
    assert len(_evaluate(instance, schedule).run_requests) == 1


def test_reconciliation_running_does_not_block_a_sync(instance):
    """Only runs that write provider partitions count as a sync in progress."""
    instance.add_run(
        dg.DagsterRun(
            job_name="catalog_monitor_job",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            asset_selection=frozenset({CATALOG_RECONCILIATION}),
        )
    )
    assert len(_evaluate(instance, _schedule(SYNC_SCHEDULE)).run_requests) == 1


def test_monitor_schedule_runs_the_reconciliation_and_every_models_check_hourly(instance):
    """The hourly monitor (the old crontab's monitor line) reconciles and evaluates freshness and data quality."""
    schedule = _schedule(MONITOR_SCHEDULE)
    assert schedule.cron_schedule == "30 * * * *"
    assert schedule.job_name == "catalog_monitor_job"
    (request,) = _evaluate(instance, schedule).run_requests
    assert request.job_name in (None, "catalog_monitor_job")
    job = definitions.defs.resolve_job_def("catalog_monitor_job")
    selected_checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys if key.asset_key == MODELS}
    assert {FRESHNESS_CHECK, UNIQUE_IDS_CHECK, VALID_PRICES_CHECK, REQUIRED_FIELDS_CHECK} <= selected_checks
    assert set(job.graph.node_dict) >= {"catalog_reconciliation", "models_checks"}  # every check on models: one step
    assert "sync_provider_catalogs" not in job.graph.node_dict  # the monitor never syncs
