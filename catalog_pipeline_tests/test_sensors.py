"""The alert and drift remediation sensors, each tick evaluated with `build_sensor_context` on a real
instance; alerts go to loopback Slack and Resend stand-ins that record what they receive."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from catalog_pipeline import definitions
from catalog_pipeline.alerts import AlertChannelsResource
from catalog_pipeline.defs.assets import CATALOG_RECONCILIATION, catalog_reconciliation, sync_provider_catalogs
from catalog_pipeline.defs.checks import MODELS_CHECKS
from catalog_pipeline.defs.resources import (
    CatalogDatabaseResource,
    LifecycleSettingsResource,
    ParitySettingsResource,
    ProviderApiResource,
)
from catalog_pipeline.defs.sensors import (
    ALERT_SENSOR,
    DRIFT_SENSOR,
    DriftRemediationResource,
    build_drift_remediation_sensor,
    catalog_alert_sensor,
)
from catalog_pipeline.defs.sync_settings import SyncScheduleResource
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.reconciliation import ParityThresholds, StoredProvider, build_report, record_report
from catalog_pipeline.storage.writer import SyncCounts
from catalog_pipeline_tests.alert_receivers import RESEND_KEY, SLACK_PATH, RecordingServer, recording_server

UI = "https://dagster.example.com"
CHECKS_LINK = f"{UI}/assets/catalog_reconciliation?view=checks"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def slack() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture
def resend() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture
def database(sqlite_url: str) -> CatalogDatabaseResource:
    resource = CatalogDatabaseResource(url=sqlite_url)
    resource.writer  # noqa: B018 - creates the schema
    return resource


def _channels(slack: RecordingServer, resend: RecordingServer) -> AlertChannelsResource:
    return AlertChannelsResource(
        slack_webhook_url=slack.url + SLACK_PATH,
        resend_api_key=RESEND_KEY,
        alert_email="oncall@example.com, data@example.com",
        alert_from_email="catalog@example.com",
        resend_api_url=resend.url,
        ui_base_url=UI,
        timeout_seconds=2,
    )


class AlertTicks:
    """Evaluates the alert sensor tick after tick, carrying the cursor like the daemon does."""

    def __init__(self, instance: dg.DagsterInstance, resources: dict):
        self.instance, self.resources, self.cursor = instance, resources, None
        self.definitions = dg.Definitions(
            assets=[sync_provider_catalogs, catalog_reconciliation],
            asset_checks=MODELS_CHECKS,
            sensors=[catalog_alert_sensor],
            resources={
                "provider_api": ProviderApiResource(),
                "parity_settings": ParitySettingsResource(),
                "sync_schedule": SyncScheduleResource(),
                "lifecycle_settings": LifecycleSettingsResource(),
                **resources,
            },
        )

    def tick(self) -> str:
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.definitions, resources=self.resources
        ) as context:
            result = self.definitions.resolve_sensor_def(ALERT_SENSOR).evaluate_tick(context)
        assert not result.run_requests
        self.cursor = result.cursor
        return result.skip_message or ""


@pytest.fixture
def ticks(instance, slack, resend, database) -> AlertTicks:
    return AlertTicks(instance, {"alert_channels": _channels(slack, resend), "catalog_database": database})


def _report_check(instance: dg.DagsterInstance, name: str, passed: bool, severity: str = "WARN", **metadata) -> None:
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=CATALOG_RECONCILIATION,
            check_name=name,
            passed=passed,
            severity=dg.AssetCheckSeverity(severity),
            metadata=metadata,
        )
    )


def _slack_texts(slack: RecordingServer) -> list[str]:
    received = slack.take()
    assert all(request.path == SLACK_PATH for request in received)
    return [request.body["text"] for request in received]


def _emails(resend: RecordingServer) -> list[dict]:
    received = resend.take()
    for request in received:
        assert request.path == "/emails"
        assert request.headers["Authorization"] == f"Bearer {RESEND_KEY}"
        assert request.body["from"] == "catalog@example.com"
        assert request.body["to"] == ["oncall@example.com", "data@example.com"]
    return [{"subject": r.body["subject"], "text": r.body["text"]} for r in received]


def test_failing_check_alerts_once_while_broken_and_once_on_recovery(ticks, instance, slack, resend):
    """Passing first sightings are quiet; the turn to failing alerts on both channels with the numbers and a
    link; the same failure seen again (hourly) stays quiet; the recovery alerts once."""
    _report_check(instance, "parity_groq", True, provider="groq", status="healthy", live=100, missing=0)
    assert ticks.tick().startswith("0 state change(s)")
    assert _slack_texts(slack) == [] and _emails(resend) == []

    _report_check(
        instance, "parity_groq", False, provider="groq", status="warning", live=240, db_active=100, missing=140
    )
    assert ticks.tick().startswith("1 state change(s); delivered 1 to slack, 1 to email; channels: slack, email")
    subject = "[catalog_pipeline] FAILING: parity_groq"
    text = (
        "FAILING check parity_groq on catalog_reconciliation (WARN): provider=groq, status=warning, "
        "db_active=100, live=240, missing=140\n"
        f"  {CHECKS_LINK}"
    )
    assert _slack_texts(slack) == [f"*{subject}*\n{text}"]
    assert _emails(resend) == [{"subject": subject, "text": text}]

    _report_check(
        instance, "parity_groq", False, provider="groq", status="warning", live=250, db_active=100, missing=150
    )
    ticks.tick()
    ticks.tick()
    assert _slack_texts(slack) == [] and _emails(resend) == []

    _report_check(instance, "parity_groq", True, provider="groq", status="healthy", live=250, db_active=250, missing=0)
    ticks.tick()
    recovered = (
        "RECOVERED check parity_groq on catalog_reconciliation: provider=groq, status=healthy, "
        f"db_active=250, live=250, missing=0\n  {CHECKS_LINK}"
    )
    assert _slack_texts(slack) == [f"*[catalog_pipeline] RECOVERED: parity_groq*\n{recovered}"]
    assert _emails(resend) == [{"subject": "[catalog_pipeline] RECOVERED: parity_groq", "text": recovered}]


def test_a_failing_check_getting_worse_alerts_again(ticks, instance, slack):
    """WARN turning into ERROR is a new state; ERROR staying ERROR is not."""
    _report_check(instance, "all_providers_parity", False, "WARN", missing=150)
    ticks.tick()
    assert len(_slack_texts(slack)) == 1
    _report_check(instance, "all_providers_parity", False, "ERROR", missing=1500)
    ticks.tick()
    (text,) = _slack_texts(slack)
    assert "FAILING check all_providers_parity on catalog_reconciliation (ERROR): missing=1500" in text
    _report_check(instance, "all_providers_parity", False, "ERROR", missing=1600)
    ticks.tick()
    assert _slack_texts(slack) == []


def test_provider_sync_failures_alert_per_state_change_with_the_error_and_the_run(ticks, database, slack, resend):
    """pricing_sync_log drives one alert when a provider starts failing and one when it syncs again;
    repeated failures and skipped syncs in between say nothing."""
    writer, started = database.writer, datetime.now(UTC)
    writer.log_sync("groq", started, "success", counts=SyncCounts("groq", fetched=10, inserted=10), run_id="run-1")
    ticks.tick()
    assert _slack_texts(slack) == []

    error = "provider 'groq': GET https://api.groq.com/openai/v1/models: HTTP 500 after 4 attempts"
    writer.log_sync("groq", started, "failed", error_message=error, run_id="run-2")
    ticks.tick()
    failing = f"FAILING sync of groq (failed): {error}\n  {UI}/runs/run-2"
    assert _slack_texts(slack) == [f"*[catalog_pipeline] FAILING: sync groq*\n{failing}"]
    assert _emails(resend) == [{"subject": "[catalog_pipeline] FAILING: sync groq", "text": failing}]

    writer.log_sync("groq", started, "failed", error_message=error, run_id="run-3")
    writer.log_sync("groq", started, "skipped", error_message="not configured", run_id="run-4")
    ticks.tick()
    assert _slack_texts(slack) == []

    writer.log_sync(
        "groq", started, "success", counts=SyncCounts("groq", fetched=12, inserted=2, unchanged=10), run_id="run-5"
    )
    ticks.tick()
    recovered = f"RECOVERED sync of groq: fetched 12, rows written 2, rejected 0\n  {UI}/runs/run-5"
    assert _slack_texts(slack) == [f"*[catalog_pipeline] RECOVERED: sync groq*\n{recovered}"]


def _run_job(instance: dg.DagsterInstance, name: str, error: str | None) -> str:
    @dg.op(name="step")
    def step() -> None:
        if error:
            raise RuntimeError(error)

    @dg.job(name=name)
    def job() -> None:
        step()

    return job.execute_in_process(instance=instance, raise_on_error=False).run_id


def test_failed_monitor_run_alerts_with_its_error_and_recovers_when_a_run_succeeds(ticks, instance, slack):
    """A monitor run that dies (so no check could speak) is an alert of its own, with the run's error."""
    failed = _run_job(instance, "catalog_monitor_job", "catalog database unreachable")
    ticks.tick()
    (text,) = _slack_texts(slack)
    assert text.startswith("*[catalog_pipeline] FAILING: run catalog_monitor_job*\nFAILING run of catalog_monitor_job")
    assert "RuntimeError: catalog database unreachable" in text and f"{UI}/runs/{failed}" in text
    ticks.tick()
    assert _slack_texts(slack) == []
    succeeded = _run_job(instance, "catalog_monitor_job", None)
    ticks.tick()
    assert _slack_texts(slack) == [
        "*[catalog_pipeline] RECOVERED: run catalog_monitor_job*\n"
        f"RECOVERED run of catalog_monitor_job completes again: run {succeeded}\n  {UI}/runs/{succeeded}"
    ]


def test_sync_run_failed_by_its_providers_alerts_per_provider_not_per_run(ticks, instance, database, slack):
    """The sync run fails when a provider fails; the provider's own alert covers it. The alert waits
    for the monitor run that follows the sync, so one message carries the sync and its checks."""
    run_id = _run_job(instance, "catalog_sync_job", "1 provider(s) failed")
    database.writer.log_sync("groq", datetime.now(UTC), "failed", error_message="HTTP 500", run_id=run_id)
    waiting = ticks.tick()
    assert waiting.startswith(
        f"waiting up to 180 s for the monitor run after sync run {run_id}; channels: slack, email"
    )
    assert _slack_texts(slack) == []
    _run_job(instance, "catalog_monitor_job", None)
    _report_check(instance, "parity_groq", False, provider="groq", status="unknown", db_active=4)
    ticks.tick()
    (text,) = _slack_texts(slack)
    assert text.startswith("*[catalog_pipeline] FAILING: parity_groq, sync groq*\n")
    assert "run catalog_sync_job" not in text
    assert ticks.tick().endswith(
        "; 2 failing; last sent "
        + json.loads(ticks.cursor)["last_sent"]["at"]
        + (": [catalog_pipeline] FAILING: parity_groq, sync groq")
    )


def test_a_channel_that_is_down_keeps_its_alert_and_delivers_it_on_the_next_tick(ticks, instance, slack, resend, capfd):
    """Slack answering 503 does not fail the tick or hold back e-mail; the alert waits in the cursor and
    goes out exactly once when Slack is back. The webhook URL and the key appear nowhere."""
    slack.fail_with = 503
    _report_check(
        instance, "all_providers_unexplained_gap", False, "ERROR", unexplained_models=7, providers_with_gap="groq (+7)"
    )
    message = ticks.tick()
    logged = capfd.readouterr().err
    assert message.startswith(
        "1 state change(s); delivered 0 to slack, 1 to email; slack: HTTP 503; 1 alert(s) kept, retrying next tick; "
        "channels: slack, email; 1 failing; last sent "
    )
    assert "WARNING - slack: HTTP 503; 1 alert(s) kept, retrying next tick" in logged
    assert slack.attempts >= 1 and _slack_texts(slack) == []
    assert len(_emails(resend)) == 1

    slack.fail_with = None
    assert ticks.tick().startswith("0 state change(s); delivered 1 to slack, 0 to email; ")
    (text,) = _slack_texts(slack)
    assert "(ERROR): providers_with_gap=groq (+7), unexplained_models=7\n" in text
    assert _emails(resend) == []
    ticks.tick()
    assert _slack_texts(slack) == []

    logged += capfd.readouterr().err
    for leaked in (SLACK_PATH, "webhook-secret-token", RESEND_KEY):
        assert leaked not in logged and leaked not in message and leaked not in (ticks.cursor or "")


def test_an_unreachable_channel_is_logged_by_cause_and_retried(instance, resend, database):
    """Nothing listening at the webhook: the cause is logged as the exception type, never with the URL."""
    channels = AlertChannelsResource(slack_webhook_url="http://127.0.0.1:9/services/T1/B1/secret-part", ui_base_url=UI)
    ticks = AlertTicks(instance, {"alert_channels": channels, "catalog_database": database})
    _report_check(instance, "all_providers_parity", False, missing=150)
    message = ticks.tick()
    assert message.endswith(
        "slack: ConnectError (unreachable); 1 alert(s) kept, retrying next tick; channels: slack; 1 failing; "
        "nothing sent yet"
    )
    assert "secret-part" not in message
    assert len(json.loads(ticks.cursor)["outbox"]["slack"]) == 1


def test_without_channels_the_sensor_still_tracks_state_and_says_what_it_would_send(instance, database):
    """No channel configured: state changes are recorded (no flood later) and named in the tick's message."""
    ticks = AlertTicks(instance, {"alert_channels": AlertChannelsResource(), "catalog_database": database})
    _report_check(instance, "all_providers_parity", False, missing=150)
    assert "no alert channel configured" in ticks.tick()
    assert json.loads(ticks.cursor)["failing"] == {"check:catalog_reconciliation:all_providers_parity": "failed:WARN"}
    assert ticks.tick().startswith("0 state change(s)")


def test_the_cursor_keeps_only_what_is_failing(ticks, instance):
    """Forty passing checks leave the cursor as small as none: only failing states are remembered, and a
    cursor of the older form (every state) is read without re-alerting what it knew."""
    for slug in PROVIDER_SLUGS:
        _report_check(instance, f"parity_{slug.replace('-', '_')}", True, provider=slug, status="healthy")
    _report_check(instance, "all_providers_parity", False, missing=150)
    ticks.tick()
    assert json.loads(ticks.cursor) == {
        "failing": {"check:catalog_reconciliation:all_providers_parity": "failed:WARN"},
        "last_sent": json.loads(ticks.cursor)["last_sent"],
        "sync_log_id": 0,
        "change_id": 0,  # the price digest's position in model_changes (none recorded yet)
    }
    assert len(ticks.cursor) < 300
    ticks.cursor = json.dumps(
        {
            "states": {
                "check:catalog_reconciliation:all_providers_parity": "failed:WARN",
                "check:catalog_reconciliation:parity_groq": "passed",
            },
            "sync_log_id": 0,
        }
    )
    assert ticks.tick().startswith("0 state change(s); channels: slack, email; 1 failing")


# ---------------------------------------------------------------- drift remediation


def _record_reconciliation(database: CatalogDatabaseResource, live: dict[str, int], stored: dict[str, int]) -> str:
    """Record a reconciliation (warn 100, error 1000) and return its checked_at as the sensor reads it."""
    checked_at = datetime.now(UTC)
    report = build_report(
        PROVIDER_SLUGS,
        {slug: live.get(slug, 10) for slug in PROVIDER_SLUGS},
        {slug: StoredProvider(slug=slug, db_active=stored.get(slug, 10)) for slug in PROVIDER_SLUGS},
        ParityThresholds(warn=100, error=1000),
        checked_at=checked_at,
    )
    record_report(database.engine, report, run_id="reconciliation")
    return checked_at.isoformat()


class DriftTicks:
    def __init__(self, instance: dg.DagsterInstance, database: CatalogDatabaseResource, providers: str = ""):
        self.instance, self.cursor = instance, None
        self.resources = {
            "catalog_database": database,
            "parity_settings": ParitySettingsResource(warn_threshold=100, error_threshold=1000),
            "sync_schedule": SyncScheduleResource(providers=providers),
            "drift_remediation": DriftRemediationResource(cooldown_minutes=60),
        }
        self.sensor = build_drift_remediation_sensor(enabled=True)

    def tick(self):  # type: ignore[no-untyped-def]
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources) as context:
            result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result


S = PROVIDER_SLUGS


def _ranges(result) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in result.run_requests
    ]


def test_drift_requests_a_sync_of_the_drifted_providers_only_once_per_reconciliation(instance, database):
    """Out of sync, or more new live models than the warning threshold, is drift; a surplus in the database
    below the error threshold and small gaps are not. Neighbouring providers share one run."""
    checked = _record_reconciliation(
        database,
        # S[3]: 60 stored models no longer listed, below the error threshold and below half of its models
        live={S[0]: 2000, S[1]: 160, S[3]: 100},
        stored={S[0]: 0, S[1]: 10, S[3]: 160},
    )
    drift = DriftTicks(instance, database)
    result = drift.tick()
    assert _ranges(result) == [(S[0], S[1])]
    (request,) = result.run_requests
    assert request.job_name == "catalog_sync_job"
    assert request.run_key == f"{S[0]}..{S[1]}@drift@{checked}"
    assert request.run_config == {"ops": {"sync_provider_catalogs": {"config": {"skip_unconfigured": True}}}}
    assert request.tags["catalog_pipeline/trigger"] == DRIFT_SENSOR
    assert request.tags["catalog_pipeline/drifted_providers"] == f"{S[0]},{S[1]}"

    again = drift.tick()
    assert not again.run_requests
    assert again.skip_message == f"the reconciliation of {checked} was already handled"


def test_drift_respects_the_cool_down_per_provider(instance, database):
    """A provider re-synced for drift is not re-synced again within the cool-down, even when the next
    reconciliation still finds it drifted; after the cool-down it is."""
    drift = DriftTicks(instance, database)
    _record_reconciliation(database, live={S[0]: 2000}, stored={S[0]: 0})
    assert _ranges(drift.tick()) == [(S[0], S[0])]
    first_request = json.loads(drift.cursor)["requested"][S[0]]

    later = _record_reconciliation(database, live={S[0]: 2000}, stored={S[0]: 0})
    cooling = drift.tick()
    assert not cooling.run_requests
    assert cooling.skip_message == f"reconciliation of {later}: drifted {S[0]}; in cool-down (60 min): {S[0]}"

    _record_reconciliation(database, live={S[0]: 2000, S[3]: 2000}, stored={S[0]: 0, S[3]: 0})
    assert _ranges(drift.tick()) == [(S[3], S[3])]
    assert json.loads(drift.cursor)["requested"][S[0]] == first_request

    state = json.loads(drift.cursor)
    state["requested"][S[0]] = (datetime.now(UTC) - timedelta(minutes=61)).isoformat()
    state["requested"][S[3]] = datetime.now(UTC).isoformat()
    drift.cursor = json.dumps(state)
    _record_reconciliation(database, live={S[0]: 2000, S[3]: 2000}, stored={S[0]: 0, S[3]: 0})
    assert _ranges(drift.tick()) == [(S[0], S[0])]


def test_drift_skips_providers_already_resynced_and_waits_for_a_running_sync(instance, database):
    """A provider synced after the reconciliation is no longer known to drift; while a sync runs, the
    sensor waits without consuming the reconciliation."""
    _record_reconciliation(database, live={S[0]: 2000, S[1]: 2000}, stored={S[0]: 0, S[1]: 0})
    database.writer.log_sync(S[0], datetime.now(UTC), "success", run_id="manual")
    run_id = str(uuid.uuid4())
    instance.add_run(dg.DagsterRun(job_name="catalog_sync_job", run_id=run_id, status=dg.DagsterRunStatus.STARTED))
    drift = DriftTicks(instance, database)
    waiting = drift.tick()
    assert not waiting.run_requests and drift.cursor is None
    assert waiting.skip_message == f"drift in {S[0]}, {S[1]}; waiting for sync run {run_id}"

    instance.report_run_canceled(instance.get_run_by_id(run_id))
    result = drift.tick()
    assert _ranges(result) == [(S[1], S[1])]


def test_drift_stays_within_the_scheduled_provider_selection(instance, database):
    """Providers left out of PRICING_SYNC_PROVIDERS are never synced automatically."""
    _record_reconciliation(database, live={S[0]: 2000, S[1]: 2000}, stored={S[0]: 0, S[1]: 0})
    assert _ranges(DriftTicks(instance, database, providers=S[1]).tick()) == [(S[1], S[1])]


def test_alert_secrets_are_bound_by_variable_name_never_by_value(monkeypatch):
    """The code location holds `dg.EnvVar`s for the webhook and the key, so the UI shows their names."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T1/B1/real-secret")
    monkeypatch.setenv("RESEND_API_KEY", "re_real_secret")
    channels = definitions.build_resources()["alert_channels"]
    assert isinstance(channels.slack_webhook_url, dg.EnvVar) and channels.slack_webhook_url == "SLACK_WEBHOOK_URL"
    assert isinstance(channels.resend_api_key, dg.EnvVar) and channels.resend_api_key == "RESEND_API_KEY"
    monkeypatch.delenv("SLACK_WEBHOOK_URL")
    assert definitions.build_resources()["alert_channels"].slack_webhook_url is None
