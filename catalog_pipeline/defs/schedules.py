"""Schedules: the provider sync every ``PRICING_SYNC_INTERVAL_HOURS`` and the hourly monitor.

They replace the crontab's sync line and its hourly monitor line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from catalog_pipeline.defs.assets import CATALOG_RECONCILIATION, MODELS, PROVIDER_CATALOG
from catalog_pipeline.defs.checks import MODELS_CHECKS
from catalog_pipeline.defs.jobs import catalog_sync_job
from catalog_pipeline.defs.partitions import contiguous_ranges
from catalog_pipeline.defs.sync_settings import SyncScheduleResource

SYNC_SCHEDULE = "catalog_sync_schedule"
MONITOR_SCHEDULE = "catalog_monitor_schedule"
MONITOR_JOB = "catalog_monitor_job"
MONITOR_CRON = "30 * * * *"  # half past, so the monitor never lands on a scheduled sync's start
SCHEDULED_SYNC_RUN_CONFIG: Mapping = {"ops": {"sync_provider_catalogs": {"config": {"skip_unconfigured": True}}}}
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
TRIGGER_TAG = "catalog_pipeline/trigger"
SYNC_ASSET_KEYS = frozenset({PROVIDER_CATALOG, MODELS})
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def sync_cron(interval_hours: int) -> str:
    """The cron line for a sync every `interval_hours`, on the hour, at the same hours every day."""
    if interval_hours in (1, 2, 3, 4, 6, 8, 12):
        return f"0 */{interval_hours} * * *"
    if interval_hours == 24:
        return "0 0 * * *"
    raise ValueError(
        f"PRICING_SYNC_INTERVAL_HOURS must divide a day (1, 2, 3, 4, 6, 8, 12 or 24), got {interval_hours}"
    )


def is_sync_run(run: dg.DagsterRun) -> bool:
    """Whether `run` syncs provider partitions: the sync job, or any run materializing the sync's assets."""
    return run.job_name == catalog_sync_job.name or bool(SYNC_ASSET_KEYS & set(run.asset_selection or ()))


def syncs_in_progress(instance: dg.DagsterInstance) -> list[str]:
    """Ids of queued or running runs that sync provider partitions, however they were launched."""
    records = instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED))
    return [record.dagster_run.run_id for record in records if is_sync_run(record.dagster_run)]


def sync_run_requests(
    slugs: Sequence[str], run_key_suffix: str, tags: Mapping[str, str] | None = None
) -> list[dg.RunRequest]:
    """As few runs as the partition order allows: one per contiguous range of `slugs`.

    Every provider at once is the single full range; unconfigured providers are skipped in the run.
    """
    ranges = contiguous_ranges(slugs)
    return [
        dg.RunRequest(
            run_key=f"{start}..{end}@{run_key_suffix}",
            job_name=catalog_sync_job.name,
            run_config=SCHEDULED_SYNC_RUN_CONFIG,
            tags={RANGE_START_TAG: start, RANGE_END_TAG: end, **(tags or {})},
        )
        for start, end in ranges
    ]


def build_sync_schedule(interval_hours: int, enabled: bool, cron: str | None = None) -> dg.ScheduleDefinition:
    """The sync schedule; `enabled` (``PRICING_SYNC_ENABLED``) only sets whether it starts running,
    so it can still be switched on and off in the UI. `cron` (``PRICING_SYNC_CRON``) replaces the
    cron line derived from `interval_hours`."""
    cadence = f"on cron '{cron}' (PRICING_SYNC_CRON)" if cron else f"every {interval_hours} h"
    schedule_decorator = dg.schedule(
        name=SYNC_SCHEDULE,
        cron_schedule=cron or sync_cron(interval_hours),
        job=catalog_sync_job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED,
        description=(
            f"Sync the providers in PRICING_SYNC_PROVIDERS (all when unset; unconfigured ones are skipped) "
            f"{cadence}, in one run per contiguous range of provider partitions, each followed by the "
            "checks on models. A tick while a sync is still queued or running starts nothing."
        ),
    )

    def catalog_sync_schedule(
        context: dg.ScheduleEvaluationContext, sync_schedule: SyncScheduleResource
    ) -> Iterable[dg.RunRequest] | dg.SkipReason:
        running = syncs_in_progress(context.instance)
        if running:
            return dg.SkipReason(f"a sync is still in progress (run {', '.join(running)}); not starting another")
        tick = context.scheduled_execution_time.isoformat()
        return sync_run_requests(sync_schedule.selected_providers(), tick, {TRIGGER_TAG: SYNC_SCHEDULE})

    try:
        return schedule_decorator(catalog_sync_schedule)
    except dg.DagsterInvalidDefinitionError as error:
        raise ValueError(f"PRICING_SYNC_CRON is not a valid cron line: {cron!r}") from error


# The monitor covers the reconciliation with its parity checks and the standalone checks on
# `models` (freshness, data quality). Not the guard: a check spec of the sync op, it would pull
# the sync in.
catalog_monitor_job = dg.define_asset_job(
    MONITOR_JOB,
    selection=dg.AssetSelection.assets(CATALOG_RECONCILIATION) | dg.AssetSelection.checks(*MODELS_CHECKS),
    executor_def=dg.in_process_executor,
    description="Fresh live counts against stored counts, plus freshness and data-quality checks on models.",
)

catalog_monitor_schedule = dg.ScheduleDefinition(
    name=MONITOR_SCHEDULE,
    cron_schedule=MONITOR_CRON,
    job=catalog_monitor_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: reconcile fresh live counts with the database and run every catalog check.",
)
