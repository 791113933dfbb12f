"""Sensors: the monitor after every sync, alerts on state changes, and re-syncs of providers that drifted.

`catalog_monitor_after_sync_sensor` runs the reconciliation and every check on `models` right after
any sync run, however it was started; `catalog_alert_sensor` replaces the alert snippets of the old
monitor script and `catalog_drift_remediation_sensor` the CI workflow that re-synced when it failed.
They keep their memory in the sensor cursor, so they need no table of their own.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from catalog_pipeline.alerts import (
    Alert,
    AlertChannelsResource,
    AlertDeliveryError,
    PriceMove,
    StateChange,
    compose_alert,
    compose_price_digest,
)
from catalog_pipeline.defs.jobs import catalog_sync_job, reconciliation_job
from catalog_pipeline.defs.resources import CatalogDatabaseResource, ParitySettingsResource
from catalog_pipeline.defs.schedules import (
    FINISHED,
    MONITOR_JOB,
    TRIGGER_TAG,
    UNFINISHED,
    catalog_monitor_job,
    is_sync_run,
    sync_run_requests,
    syncs_in_progress,
)
from catalog_pipeline.defs.sync_settings import SyncScheduleResource
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.reconciliation import OUT_OF_SYNC
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.changes import ChangeKind
from catalog_pipeline.sync import BLOCKED, FAILED, SUCCESS

ALERT_SENSOR = "catalog_alert_sensor"
DRIFT_SENSOR = "catalog_drift_remediation_sensor"
AFTER_SYNC_SENSOR = "catalog_monitor_after_sync_sensor"
DRIFTED_PROVIDERS_TAG = "catalog_pipeline/drifted_providers"
AFTER_RUNS_TAG = "catalog_pipeline/after_sync_runs"
WATCHED_JOBS = (catalog_sync_job.name, MONITOR_JOB, reconciliation_job.name)
MAX_PENDING_ALERTS = 20
#: how long after a sync the alert sensor waits for the monitor run that follows it
SETTLE_SECONDS = 180
PASSED, OK = "passed", "ok"
_HEALTHY_STATES = (PASSED, OK)
_DETAIL_LIMIT = 500


# ---------------------------------------------------------------- monitor after every sync


@dg.sensor(
    name=AFTER_SYNC_SENSOR,
    job=catalog_monitor_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After any sync run finishes (schedule, sensor, CLI, a click in the UI, a backfill; succeeded or "
        "failed), runs catalog_monitor_job: the reconciliation with fresh live counts and every check on "
        "models. Syncs that finish together get one monitor run; it waits while a sync is still running."
    ),
)
def catalog_monitor_after_sync_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    if context.cursor is None:
        return dg.SensorResult(skip_reason="watching sync runs that finish from now on", cursor=str(time.time()))
    since = float(context.cursor)
    running = syncs_in_progress(context.instance)
    if running:
        return dg.SkipReason(f"waiting for sync run(s) {', '.join(running)} to finish")
    records = context.instance.get_run_records(
        dg.RunsFilter(statuses=FINISHED, updated_after=datetime.fromtimestamp(since, UTC)), limit=200
    )
    newest = max([since, *(record.update_timestamp.timestamp() for record in records)])
    synced = sorted(
        (record for record in records if is_sync_run(record.dagster_run)), key=lambda record: record.update_timestamp
    )
    if not synced:
        return dg.SensorResult(skip_reason="no sync run finished since the last tick", cursor=str(newest))
    run_ids = [record.dagster_run.run_id for record in synced]
    context.log.info(f"sync run(s) {', '.join(run_ids)} finished: starting the monitor")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"after-sync:{run_ids[-1]}",
                tags={TRIGGER_TAG: AFTER_SYNC_SENSOR, AFTER_RUNS_TAG: ",".join(run_ids)[:4000]},
            )
        ],
        cursor=str(newest),
    )


# ---------------------------------------------------------------- alert sensor


@dataclass
class AlertCursor:
    """What the alert sensor remembers between ticks, kept small: only what is failing.

    Attributes:
        failing: state of each check (``check:<asset>:<name>``), provider sync (``sync:<slug>``)
            and job (``run:<job>``) last seen failing; anything not here was healthy or unseen.
        sync_log_id: the last `pricing_sync_log` row already looked at.
        change_id: the last `model_changes` row the price digest looked at (None before the first tick).
        outbox: messages per channel not yet delivered (the channel was down).
        last_sent: subject and time of the last message a channel took.
    """

    failing: dict[str, str] = field(default_factory=dict)
    sync_log_id: int = 0
    change_id: int | None = None
    outbox: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    last_sent: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: str | None) -> AlertCursor:
        data = json.loads(raw) if raw else {}
        # cursors written before the compact form kept every state under "states"
        failing = data.get("failing") or {k: v for k, v in data.get("states", {}).items() if v not in _HEALTHY_STATES}
        return cls(
            failing=failing,
            sync_log_id=data.get("sync_log_id", 0),
            change_id=data.get("change_id"),
            outbox=data.get("outbox", {}),
            last_sent=data.get("last_sent", {}),
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {"failing": self.failing, "sync_log_id": self.sync_log_id}
        if self.change_id is not None:
            data["change_id"] = self.change_id
        if self.outbox:
            data["outbox"] = self.outbox
        if self.last_sent:
            data["last_sent"] = self.last_sent
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


class AlertChanges:
    """Collects state changes: one per key whose state differs from the cursor's."""

    def __init__(self, failing: dict[str, str]):
        self.failing = failing
        self.changes: list[StateChange] = []

    def observe(self, key: str, state: str, healthy: bool, change: StateChange) -> None:
        """Record `state` for `key`; a change to an unhealthy state is a problem, a change back to
        healthy a recovery. A healthy first sighting is not news."""
        previous = self.failing.get(key)
        if healthy:
            self.failing.pop(key, None)
        else:
            self.failing[key] = state
        if previous == state or (previous is None and healthy):
            return
        self.changes.append(change)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_FIRST, _LAST = ("provider", "status"), ("detail",)
_SKIPPED_METADATA = (dg.MarkdownMetadataValue, dg.JsonMetadataValue, dg.TableMetadataValue)


def _metadata_text(metadata: dict[str, dg.MetadataValue]) -> str:
    """The scalar metadata (the numbers and provider lists): provider and status first, free text last."""
    parts = []
    order = {name: rank for rank, name in enumerate(_FIRST)} | {name: 99 for name in _LAST}
    for name, entry in sorted(metadata.items(), key=lambda item: order.get(item[0], len(_FIRST))):
        if isinstance(entry, _SKIPPED_METADATA) or entry.value in ("", None):
            continue
        parts.append(f"{name}={_format_value(entry.value)}")
    return ", ".join(parts)


def _truncate(text: str) -> str:
    """Cut masked `text` to the alert's detail length (mask first: a cut secret is harder to recognise)."""
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def _latest_check_evaluations(
    instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey]
) -> dict[dg.AssetCheckKey, dg.AssetCheckEvaluation]:
    """The latest completed evaluation of each check (a check still running shows its previous one)."""

    def evaluation_of(record: Any) -> dg.AssetCheckEvaluation | None:
        return record.event.asset_check_evaluation if record.event else None

    storage = instance.event_log_storage
    evaluations = {}
    for key, record in storage.get_latest_asset_check_execution_by_key(check_keys).items():
        evaluation = evaluation_of(record)
        if evaluation is None:  # planned in a run still going (or one that died): use the one before
            history = storage.get_asset_check_execution_history(key, limit=5)
            evaluation = next((e for e in map(evaluation_of, history) if e is not None), None)
        if evaluation is not None:
            evaluations[key] = evaluation
    return evaluations


def _observe_checks(
    context: dg.SensorEvaluationContext, changes: AlertChanges, channels: AlertChannelsResource
) -> None:
    check_keys = sorted(context.repository_def.asset_graph.asset_check_keys, key=lambda k: k.to_user_string())
    for key, evaluation in sorted(
        _latest_check_evaluations(context.instance, check_keys).items(), key=lambda item: item[0].to_user_string()
    ):
        severity = evaluation.severity.value
        state = PASSED if evaluation.passed else f"failed:{severity}"
        changes.observe(
            f"check:{key.to_user_string()}",
            state,
            evaluation.passed,
            StateChange(
                failing=not evaluation.passed,
                name=key.name,
                what=f"check {key.name} on {key.asset_key.to_user_string()}"
                + ("" if evaluation.passed else f" ({severity})"),
                details=_truncate(channels.scrub(_metadata_text(dict(evaluation.metadata)))) or "no metadata",
                link=channels.asset_checks_url(key.asset_key),
            ),
        )


def _has_table(engine: Engine, name: str) -> bool:
    return sa.inspect(engine).has_table(name)


def _observe_syncs(engine: Engine, cursor: AlertCursor, changes: AlertChanges, channels: AlertChannelsResource) -> None:
    """The latest new `pricing_sync_log` row per provider; skipped syncs change nothing."""
    log = schema.pricing_sync_log
    if not _has_table(engine, log.name):
        return
    latest = (
        sa.select(sa.func.max(log.c.id).label("id"))
        .where(log.c.id > cursor.sync_log_id)
        .group_by(log.c.provider_slug)
        .subquery()
    )
    with engine.connect() as connection:
        rows = connection.execute(sa.select(log).join(latest, latest.c.id == log.c.id).order_by(log.c.provider_slug))
        rows = rows.mappings().all()
    for row in rows:
        cursor.sync_log_id = max(cursor.sync_log_id, row["id"])
        slug, status, run_id = row["provider_slug"], row["status"], row["dagster_run_id"]
        link = channels.run_url(run_id) if run_id else "pricing_sync_log (no Dagster run)"
        if status == SUCCESS:
            changes.observe(
                f"sync:{slug}",
                OK,
                True,
                StateChange(
                    failing=False,
                    name=f"sync {slug}",
                    what=f"sync of {slug}",
                    details=f"fetched {row['models_fetched']}, rows written {row['models_updated']}, "
                    f"rejected {row['models_rejected']}",
                    link=link,
                ),
            )
        elif status in (FAILED, BLOCKED):
            changes.observe(
                f"sync:{slug}",
                status,
                False,
                StateChange(
                    failing=True,
                    name=f"sync {slug}",
                    what=f"sync of {slug} ({status})",
                    details=_truncate(channels.scrub(row["error_message"] or "no error message")),
                    link=link,
                ),
            )


def _price_digests(
    engine: Engine, instance: dg.DagsterInstance, cursor: AlertCursor, channels: AlertChannelsResource
) -> tuple[list[Alert], str | None]:
    """One digest per finished sync of its price changes above the threshold, from the change feed.

    Waits (reads nothing new) while a run that recorded changes is still going, so each sync
    gets one digest, not one per tick. The first tick, or one with digests off, only moves the
    cursor to the newest change: history is not news.

    Returns:
        The digests, and why the tick waited (or None).
    """
    table, models, providers = schema.model_changes, schema.models, schema.providers
    if not _has_table(engine, table.name):
        return [], None
    threshold = channels.price_change_threshold
    with engine.connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
        if cursor.change_id is None or threshold is None:
            cursor.change_id = newest
            return [], None
        rows = connection.execute(
            sa.select(table.c.id, table.c.dagster_run_id, table.c.details, providers.c.slug, models.c.provider_model_id)
            .join(models, models.c.id == table.c.model_id)
            .join(providers, providers.c.id == table.c.provider_id)
            .where(table.c.id > cursor.change_id, table.c.kind == ChangeKind.PRICE_CHANGED)
            .order_by(table.c.id)
        ).all()
    runs = {row.dagster_run_id for row in rows if row.dagster_run_id}
    going = sorted(run_id for run_id in runs if (run := instance.get_run_by_id(run_id)) and not run.is_finished)
    if going:
        return [], f"price digest waits for run(s) {', '.join(going)} to finish"
    since = cursor.change_id
    cursor.change_id = max([newest, *(row.id for row in rows)])
    moves_by_run: dict[str, list[PriceMove]] = {}
    for row in rows:
        move = PriceMove.from_event(row.slug, row.provider_model_id, json.loads(row.details or "{}"))
        if move.exceeds(threshold):
            moves_by_run.setdefault(row.dagster_run_id or "", []).append(move)
    feed = f"{channels.api_base_url.rstrip('/')}/v1/changes?kind={ChangeKind.PRICE_CHANGED}&since={since}"
    return [
        compose_price_digest(
            moves,
            threshold,
            channels.run_url(run_id) if run_id else "no Dagster run",
            channels.model_history_url,
            feed,
        )
        for run_id, moves in moves_by_run.items()
    ], None


def _run_failure_reason(instance: dg.DagsterInstance, run_id: str) -> str:
    for record in instance.get_records_for_run(
        run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    ).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.is_step_failure and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None:  # the user's exception, not Dagster's wrapper around it
                error = error.cause
            return error.message.strip()
        if record.event_log_entry.message:
            return record.event_log_entry.message
    return "the run failed"


def _providers_explain(engine: Engine, run_id: str) -> bool:
    """Whether `pricing_sync_log` names failed providers for `run_id` (their own alerts cover the run)."""
    log = schema.pricing_sync_log
    try:
        with engine.connect() as connection:
            return bool(
                connection.execute(
                    sa.select(sa.func.count(log.c.id)).where(
                        log.c.dagster_run_id == run_id, log.c.status.in_([FAILED, BLOCKED])
                    )
                ).scalar()
            )
    except sa.exc.SQLAlchemyError:
        return False


def _observe_runs(
    instance: dg.DagsterInstance, engine: Engine, changes: AlertChanges, channels: AlertChannelsResource
) -> None:
    """The latest finished run of each watched job; a sync run failed by its providers counts as complete."""
    for job_name in WATCHED_JOBS:
        records = instance.get_run_records(
            dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]),
            limit=1,
        )
        if not records:
            continue
        run = records[0].dagster_run
        failed = run.status == dg.DagsterRunStatus.FAILURE
        if failed and job_name == catalog_sync_job.name and _providers_explain(engine, run.run_id):
            failed = False
        changes.observe(
            f"run:{job_name}",
            "failed" if failed else OK,
            not failed,
            StateChange(
                failing=failed,
                name=f"run {job_name}",
                what=f"run of {job_name}" + (" failed" if failed else " completes again"),
                details=_truncate(channels.scrub(_run_failure_reason(instance, run.run_id)))
                if failed
                else f"run {run.run_id}",
                link=channels.run_url(run.run_id),
            ),
        )


def _settling(instance: dg.DagsterInstance) -> str | None:
    """Why alerting should wait a little: a catalog run is still going, or a sync finished moments ago
    and the monitor run after it has not started. One alert then covers a sync and its checks."""
    running = [
        record.dagster_run.run_id
        for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED), limit=50)
        if record.dagster_run.job_name in WATCHED_JOBS or is_sync_run(record.dagster_run)
    ]
    if running:
        return f"waiting for run(s) {', '.join(running)} to finish"
    finished = [
        record
        for record in instance.get_run_records(dg.RunsFilter(statuses=FINISHED), limit=20)
        if is_sync_run(record.dagster_run) and record.end_time
    ]
    if not finished:
        return None
    last_sync = max(finished, key=lambda record: record.end_time or 0)
    if time.time() - (last_sync.end_time or 0) > SETTLE_SECONDS:
        return None
    monitors = instance.get_run_records(dg.RunsFilter(job_name=MONITOR_JOB), limit=1)
    if monitors and monitors[0].create_timestamp.timestamp() >= (last_sync.end_time or 0):
        return None
    return f"waiting up to {SETTLE_SECONDS} s for the monitor run after sync run {last_sync.dagster_run.run_id}"


def _status_line(channels: list[str], cursor: AlertCursor) -> str:
    configured = (
        f"channels: {', '.join(channels)}"
        if channels
        else "no alert channel configured (set SLACK_WEBHOOK_URL, or RESEND_API_KEY, ALERT_EMAIL and ALERT_FROM_EMAIL)"
    )
    sent = (
        f"last sent {cursor.last_sent['at']}: {cursor.last_sent['subject']}" if cursor.last_sent else "nothing sent yet"
    )
    return f"{configured}; {len(cursor.failing)} failing; {sent}"


@dg.sensor(
    name=ALERT_SENSOR,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Posts to Slack (SLACK_WEBHOOK_URL) and/or e-mails through Resend (RESEND_API_KEY, ALERT_EMAIL, "
        "ALERT_FROM_EMAIL) when an asset check, a provider's sync or a catalog run changes state: once when it "
        "breaks, once when it recovers, with the numbers, the providers and a link. A channel that is down "
        "keeps its messages for the next tick. It waits while catalog runs are going, and up to "
        f"{SETTLE_SECONDS} s after a sync for the monitor run that follows, so one message covers both. "
        "With CATALOG_ALERT_PRICE_CHANGE_PCT set, also one digest per finished sync of the price changes "
        "larger than that percentage, with links to each model's history. "
        "Each tick's status names the configured channels and the last message sent."
    ),
)
def catalog_alert_sensor(
    context: dg.SensorEvaluationContext,
    alert_channels: AlertChannelsResource,
    catalog_database: CatalogDatabaseResource,
) -> dg.SkipReason:
    cursor = AlertCursor.from_json(context.cursor)
    channels = alert_channels.channels()
    waiting = _settling(context.instance)
    if waiting:
        return dg.SkipReason(alert_channels.scrub(f"{waiting}; {_status_line(channels, cursor)}"))
    changes = AlertChanges(cursor.failing)
    _observe_checks(context, changes, alert_channels)
    engine = catalog_database.engine
    problems: list[str] = []
    try:
        _observe_syncs(engine, cursor, changes, alert_channels)
    except sa.exc.SQLAlchemyError as error:
        # The monitor run fails on the same database and raises its own alert.
        problems.append(f"cannot read pricing_sync_log ({type(error).__name__}); provider syncs checked next tick")
    _observe_runs(context.instance, engine, changes, alert_channels)
    digests: list[Alert] = []
    try:
        digests, waiting = _price_digests(engine, context.instance, cursor, alert_channels)
        if waiting:
            problems.append(waiting)
    except sa.exc.SQLAlchemyError as error:
        problems.append(f"cannot read model_changes ({type(error).__name__}); price digest next tick")
    engine.dispose()  # a tick is short; hold no database connections between ticks

    outbox = {channel: list(cursor.outbox.get(channel, [])) for channel in channels}
    for alert in ([compose_alert(changes.changes)] if changes.changes else []) + digests:
        for pending in outbox.values():
            pending.append(alert.as_json())
        if not channels:
            problems.append(
                "no alert channel configured (SLACK_WEBHOOK_URL, or RESEND_API_KEY with ALERT_EMAIL and "
                "ALERT_FROM_EMAIL): " + alert.subject
            )
    delivered: dict[str, int] = {}
    for channel, pending in outbox.items():
        if len(pending) > MAX_PENDING_ALERTS:
            problems.append(f"{channel}: dropped the {len(pending) - MAX_PENDING_ALERTS} oldest undelivered alerts")
            del pending[: len(pending) - MAX_PENDING_ALERTS]
        delivered[channel] = 0
        for item in list(pending):
            try:
                alert_channels.deliver(channel, Alert.from_json(item))
            except AlertDeliveryError as error:
                problems.append(f"{error}; {len(pending)} alert(s) kept, retrying next tick")
                break
            sent = pending.pop(0)
            delivered[channel] += 1
            cursor.last_sent = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "subject": sent["subject"]}
    cursor.outbox = {channel: pending for channel, pending in outbox.items() if pending}
    context.update_cursor(cursor.to_json())
    for problem in problems:
        context.log.warning(alert_channels.scrub(problem))
    summary = f"{len(changes.changes)} state change(s)" + (f", {len(digests)} price digest(s)" if digests else "")
    if any(delivered.values()):
        summary += "; delivered " + ", ".join(f"{count} to {channel}" for channel, count in delivered.items())
    if problems:
        summary += "; " + "; ".join(problems)
    return dg.SkipReason(alert_channels.scrub(f"{summary}; {_status_line(channels, cursor)}"))


# ---------------------------------------------------------------- drift remediation sensor


class DriftRemediationResource(dg.ConfigurableResource):
    """How often the drift sensor may re-sync the same provider (``CATALOG_REMEDIATION_COOLDOWN_MINUTES``)."""

    cooldown_minutes: int = 120


def _iso(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _latest_reconciliation(engine: Engine) -> tuple[datetime | None, list[Any]]:
    table = schema.reconciliation_history
    if not _has_table(engine, table.name):
        return None, []
    with engine.connect() as connection:
        checked_at = connection.execute(
            sa.select(sa.func.max(table.c.checked_at)).where(table.c.source == "provider_api")
        ).scalar()
        if checked_at is None:
            return None, []
        rows = connection.execute(
            sa.select(table.c.provider_slug, table.c.status, table.c.missing).where(
                table.c.checked_at == checked_at,
                table.c.source == "provider_api",
                table.c.provider_slug.is_not(None),
            )
        ).all()
    return checked_at, rows


def _synced_since(engine: Engine, slugs: list[str], since: datetime) -> set[str]:
    log = schema.pricing_sync_log
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(log.c.provider_slug, log.c.sync_finished_at).where(
                log.c.provider_slug.in_(slugs), log.c.status == SUCCESS, log.c.sync_finished_at.is_not(None)
            )
        ).all()
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return {slug for slug, finished in rows if (finished if finished.tzinfo else finished.replace(tzinfo=UTC)) > since}


def _remediate_drift(
    context: dg.SensorEvaluationContext, engine: Engine, warn: int, selected: set[str], cooldown_minutes: int
) -> dg.SensorResult | dg.SkipReason:
    """One tick of the drift sensor: the providers the newest reconciliation found drifted, minus those
    re-synced since and those in cool-down, as sync run requests."""
    state = json.loads(context.cursor) if context.cursor else {}
    requested: dict[str, str] = state.get("requested", {})
    checked_at, rows = _latest_reconciliation(engine)
    if checked_at is None:
        return dg.SkipReason("no reconciliation recorded yet")
    checked = _iso(checked_at)
    if state.get("checked_at") == checked:
        return dg.SkipReason(f"the reconciliation of {checked} was already handled")
    drifted = sorted(
        (
            row.provider_slug
            for row in rows
            if row.provider_slug in selected
            and (row.status == OUT_OF_SYNC or (row.missing is not None and row.missing > warn))
        ),
        key=PROVIDER_SLUGS.index,
    )
    resynced = _synced_since(engine, drifted, checked_at) if drifted else set()
    running = syncs_in_progress(context.instance)
    if drifted and running:
        return dg.SkipReason(f"drift in {', '.join(drifted)}; waiting for sync run {', '.join(running)}")
    now = datetime.now(UTC)
    cooldown = timedelta(minutes=cooldown_minutes)
    cooling = [
        slug for slug in drifted if slug in requested and now - datetime.fromisoformat(requested[slug]) < cooldown
    ]
    due = [slug for slug in drifted if slug not in resynced and slug not in cooling]
    for slug in due:
        requested[slug] = now.isoformat()
    cursor = json.dumps({"checked_at": checked, "requested": requested}, sort_keys=True)
    notes = [f"reconciliation of {checked}: drifted {', '.join(drifted) or 'none'}"]
    if resynced:
        notes.append(f"already re-synced since: {', '.join(sorted(resynced))}")
    if cooling:
        notes.append(f"in cool-down ({cooldown_minutes} min): {', '.join(cooling)}")
    if not due:
        return dg.SensorResult(skip_reason="; ".join(notes), cursor=cursor)
    context.log.info("; ".join(notes) + f"; requesting a sync of {', '.join(due)}")
    return dg.SensorResult(
        run_requests=sync_run_requests(
            due, f"drift@{checked}", {TRIGGER_TAG: DRIFT_SENSOR, DRIFTED_PROVIDERS_TAG: ",".join(due)}
        ),
        cursor=cursor,
    )


def build_drift_remediation_sensor(enabled: bool) -> dg.SensorDefinition:
    """The drift sensor; `enabled` (``PRICING_SYNC_ENABLED``) sets whether it starts running."""

    @dg.sensor(
        name=DRIFT_SENSOR,
        job=catalog_sync_job,
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED,
        description=(
            "After each reconciliation, re-syncs the providers it found out of sync or with more new live "
            "models than the warning threshold (within PRICING_SYNC_PROVIDERS), at most once per provider per "
            "cool-down, in as few runs as the partition order allows. Run keys name the reconciliation, so "
            "one reconciliation never starts the same sync twice."
        ),
    )
    def catalog_drift_remediation_sensor(
        context: dg.SensorEvaluationContext,
        catalog_database: CatalogDatabaseResource,
        parity_settings: ParitySettingsResource,
        sync_schedule: SyncScheduleResource,
        drift_remediation: DriftRemediationResource,
    ) -> dg.SensorResult | dg.SkipReason:
        engine = catalog_database.engine
        try:
            return _remediate_drift(
                context,
                engine,
                warn=parity_settings.thresholds.warn,
                selected=set(sync_schedule.selected_providers()),
                cooldown_minutes=drift_remediation.cooldown_minutes,
            )
        finally:
            engine.dispose()  # a tick is short; hold no database connections between ticks

    return catalog_drift_remediation_sensor
