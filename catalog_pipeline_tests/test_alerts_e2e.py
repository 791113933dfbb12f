"""End to end: the sync schedule's runs and the monitor's checks against the replay server, the alert
sensor on the same instance, and real Slack and Resend stand-ins on 127.0.0.1. A provider is driven
into failure by fault injection, stays broken for another round, and is healed; the exact messages
received are asserted at every step."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipeline.alerts import AlertChannelsResource
from catalog_pipeline.defs.assets import catalog_reconciliation, sync_provider_catalogs
from catalog_pipeline.defs.checks import MODELS_CHECKS
from catalog_pipeline.defs.jobs import catalog_sync_job
from catalog_pipeline.defs.resources import LifecycleSettingsResource
from catalog_pipeline.defs.schedules import (
    MONITOR_SCHEDULE,
    SYNC_SCHEDULE,
    build_sync_schedule,
    catalog_monitor_job,
    catalog_monitor_schedule,
)
from catalog_pipeline.defs.sensors import ALERT_SENSOR, catalog_alert_sensor
from catalog_pipeline.defs.sync_settings import SyncScheduleResource
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider
from catalog_pipeline.reconciliation import parity_pct
from catalog_pipeline.replay.demo_models import demo_models
from catalog_pipeline.replay.server import expected_live_count
from catalog_pipeline.storage import schema
from catalog_pipeline_tests.alert_receivers import RESEND_KEY, SLACK_PATH, RecordingServer, recording_server
from catalog_pipeline_tests.conftest import heal, inject_fault
from catalog_pipeline_tests.helpers import resources, sync_log

SMALL = 0.02
UI = "http://dagster.internal:3000"
CHECKS = f"{UI}/assets/catalog_reconciliation?view=checks"


@dataclass
class Pipeline:
    """The schedules, jobs and alert sensor of one Dagster instance, driven tick by tick.

    Contexts are used as context managers, as the daemon does: a context built on a persistent
    instance opens its own instance from the instance's reference and must close it again."""

    instance: dg.DagsterInstance
    definitions: dg.Definitions
    resources: dict
    slack: RecordingServer
    resend: RecordingServer
    database_url: str
    cursor: str | None = None

    def scheduled_sync(self) -> list[dg.ExecuteInProcessResult]:
        """What the daemon does on a sync tick: evaluate the schedule, launch its run requests."""
        with dg.build_schedule_context(
            instance=self.instance, scheduled_execution_time=datetime.now(UTC), resources=self.resources
        ) as context:
            requests = self.definitions.resolve_schedule_def(SYNC_SCHEDULE).evaluate_tick(context).run_requests
        assert len(requests) == 1  # every provider, one run
        job = self.definitions.resolve_job_def(catalog_sync_job.name)
        return [
            job.execute_in_process(instance=self.instance, run_config=r.run_config, tags=r.tags, raise_on_error=False)
            for r in requests
        ]

    def monitor(self) -> dg.ExecuteInProcessResult:
        with dg.build_schedule_context(
            instance=self.instance, scheduled_execution_time=datetime.now(UTC), resources=self.resources
        ) as context:
            (request,) = self.definitions.resolve_schedule_def(MONITOR_SCHEDULE).evaluate_tick(context).run_requests
        job = self.definitions.resolve_job_def(catalog_monitor_job.name)
        return job.execute_in_process(instance=self.instance, run_config=request.run_config, raise_on_error=False)

    def alert_tick(self) -> list[tuple[str, str]]:
        """One sensor tick; the (subject, text) pairs that reached Slack, checked to equal those e-mailed."""
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.definitions, resources=self.resources
        ) as context:
            result = self.definitions.resolve_sensor_def(ALERT_SENSOR).evaluate_tick(context)
        self.cursor = result.cursor
        slack = [request.body["text"] for request in self.slack.take()]
        emails = [(request.body["subject"], request.body["text"]) for request in self.resend.take()]
        assert slack == [f"*{subject}*\n{text}" for subject, text in emails]
        return emails


@pytest.fixture
def pipeline(replay_server, sqlite_url) -> Iterator[Pipeline]:
    replay_server.state.scale = SMALL
    with dg.instance_for_test() as instance, recording_server() as slack, recording_server() as resend:
        bound = {
            **resources(sqlite_url, replay_server.url, warn=0, error=10),
            "sync_schedule": SyncScheduleResource(),
            "lifecycle_settings": LifecycleSettingsResource(),
            "alert_channels": AlertChannelsResource(
                slack_webhook_url=slack.url + SLACK_PATH,
                resend_api_key=RESEND_KEY,
                alert_email="oncall@example.com",
                alert_from_email="catalog@example.com",
                resend_api_url=resend.url,
                ui_base_url=UI,
            ),
        }
        definitions = dg.Definitions(
            assets=[sync_provider_catalogs, catalog_reconciliation],
            asset_checks=MODELS_CHECKS,
            jobs=[catalog_sync_job, catalog_monitor_job],
            schedules=[build_sync_schedule(6, enabled=True), catalog_monitor_schedule],
            sensors=[catalog_alert_sensor],
            resources=bound,
        )
        yield Pipeline(instance, definitions, bound, slack, resend, sqlite_url)


def _healthy_round(pipeline: Pipeline) -> None:
    (synced,) = pipeline.scheduled_sync()
    assert synced.success
    assert pipeline.monitor().success


def _total_live() -> int:
    return sum(expected_live_count(slug, SMALL) for slug in PROVIDER_SLUGS)


def _last_error(pipeline: Pipeline, slug: str) -> str:
    return [row for row in sync_log(pipeline.database_url) if row["provider_slug"] == slug][-1]["error_message"]


def test_failing_providers_alert_once_and_their_recovery_alerts_once(pipeline, replay_server, capfd):
    """groq answers 503, anthropic answers slowly with a truncated body: one Slack post and one e-mail name
    their checks and their syncs with the numbers, the causes and links; a second failing round sends
    nothing; healing them sends exactly the recovery. No key or webhook URL reaches any output."""
    _healthy_round(pipeline)
    assert pipeline.alert_tick() == []

    inject_fault(replay_server, "groq", status=503)
    inject_fault(replay_server, "anthropic", body="truncated", delay=0.2)
    (failed,) = pipeline.scheduled_sync()
    assert not failed.success
    assert pipeline.monitor().success
    groq, anthropic = expected_live_count("groq", SMALL), expected_live_count("anthropic", SMALL)
    groq_error, anthropic_error = _last_error(pipeline, "groq"), _last_error(pipeline, "anthropic")
    assert groq_error == "provider 'groq': GET https://api.groq.com/openai/v1/models: HTTP 503 after 3 attempts"
    assert anthropic_error.startswith("provider 'anthropic': GET https://api.anthropic.com/v1/models")
    assert "response is not valid JSON" in anthropic_error
    counted = _total_live() - groq - anthropic
    assert pipeline.alert_tick() == [
        (
            "[catalog_pipeline] FAILING: all_providers_parity, parity_anthropic, parity_groq, sync anthropic, sync groq",
            f"FAILING check all_providers_parity on catalog_reconciliation (WARN): status=warning, "
            f"db_active_models={counted}, gap=0, live_models={counted}, missing=0, parity_pct=100, "
            "providers_not_healthy=groq (unknown), anthropic (unknown), rejected_models=0, stale=0\n"
            f"  {CHECKS}\n"
            f"FAILING check parity_anthropic on catalog_reconciliation (WARN): provider=anthropic, status=unknown, "
            f"db_active={anthropic}, rejected=0, detail={anthropic_error}\n"
            f"  {CHECKS}\n"
            f"FAILING check parity_groq on catalog_reconciliation (WARN): provider=groq, status=unknown, "
            f"db_active={groq}, rejected=0, detail={groq_error}\n"
            f"  {CHECKS}\n"
            f"FAILING sync of anthropic (failed): {anthropic_error}\n"
            f"  {UI}/runs/{failed.run_id}\n"
            f"FAILING sync of groq (failed): {groq_error}\n"
            f"  {UI}/runs/{failed.run_id}",
        )
    ]

    (still_failing,) = pipeline.scheduled_sync()
    assert not still_failing.success
    pipeline.monitor()
    assert pipeline.alert_tick() == []

    heal(replay_server, "groq")
    heal(replay_server, "anthropic")
    (healed,) = pipeline.scheduled_sync()
    assert healed.success
    pipeline.monitor()
    assert pipeline.alert_tick() == [
        (
            "[catalog_pipeline] RECOVERED: all_providers_parity, parity_anthropic, parity_groq, sync anthropic, "
            "sync groq",
            f"RECOVERED check all_providers_parity on catalog_reconciliation: status=healthy, "
            f"db_active_models={_total_live()}, gap=0, live_models={_total_live()}, missing=0, parity_pct=100, "
            "providers_not_healthy=none, rejected_models=0, stale=0\n"
            f"  {CHECKS}\n"
            f"RECOVERED check parity_anthropic on catalog_reconciliation: provider=anthropic, status=healthy, "
            f"db_active={anthropic}, gap=0, live={anthropic}, missing=0, parity_pct=100, rejected=0, stale=0\n"
            f"  {CHECKS}\n"
            f"RECOVERED check parity_groq on catalog_reconciliation: provider=groq, status=healthy, "
            f"db_active={groq}, gap=0, live={groq}, missing=0, parity_pct=100, rejected=0, stale=0\n"
            f"  {CHECKS}\n"
            f"RECOVERED sync of anthropic: fetched {anthropic}, rows written 0, rejected 0\n"
            f"  {UI}/runs/{healed.run_id}\n"
            f"RECOVERED sync of groq: fetched {groq}, rows written 0, rejected 0\n"
            f"  {UI}/runs/{healed.run_id}",
        )
    ]
    output = capfd.readouterr()
    for secret in (RESEND_KEY, SLACK_PATH):
        assert secret not in output.out + output.err


def test_shrinking_catalog_is_blocked_and_alerts_with_the_gap_until_it_grows_back(pipeline, replay_server):
    """together suddenly lists 4 of its 16 models: the mass-deactivation guard blocks the sync and parity is
    out of sync (ERROR) with the 12 stale models; when the catalog is back, everything recovers."""
    _healthy_round(pipeline)
    assert pipeline.alert_tick() == []
    stored = expected_live_count("together", SMALL)
    inject_fault(replay_server, "together", size=4)
    (blocked,) = pipeline.scheduled_sync()
    assert not blocked.success
    pipeline.monitor()
    gap = 4 - stored
    (alert,) = pipeline.alert_tick()
    subject, text = alert
    assert subject == (
        "[catalog_pipeline] FAILING: all_providers_parity, all_providers_unexplained_gap, parity_together, "
        "mass_deactivation_guard, sync together"
    )
    lines = text.split("\n")
    stale = -gap
    total_stored, total_live = _total_live(), _total_live() + gap
    gone = sorted(m.model_id for m in demo_models(get_provider("together"), stored)[4:])[:10]
    assert lines[:6] == [
        f"FAILING check all_providers_parity on catalog_reconciliation (ERROR): status=out_of_sync, "
        f"db_active_models={total_stored}, gap={stale}, live_models={total_live}, missing=0, "
        f"parity_pct={parity_pct(total_live, 0, stale):g}, providers_not_healthy=together (out_of_sync), "
        f"rejected_models=0, stale={stale}",
        f"  {CHECKS}",
        f"FAILING check all_providers_unexplained_gap on catalog_reconciliation (ERROR): missing=0, "
        f"providers_with_gap=together: 0 missing, {stale} stale, stale={stale}, unexplained_models={stale}",
        f"  {CHECKS}",
        f"FAILING check parity_together on catalog_reconciliation (ERROR): provider=together, status=out_of_sync, "
        f"db_active={stored}, gap={stale}, live=4, missing=0, parity_pct={parity_pct(4, 0, stale):g}, rejected=0, "
        f"stale={stale}, stale_sample={', '.join(gone)}",
        f"  {CHECKS}",
    ]
    # The storage guard's own check (its wording is the guard's), then the provider's blocked sync.
    assert lines[6].startswith("FAILING check mass_deactivation_guard on models (ERROR): ")
    assert f"together ({-gap} of {stored} active, live 4)" in lines[6]
    assert lines[7] == f"  {UI}/assets/models?view=checks"
    assert lines[8] == (
        f"FAILING sync of together (blocked): provider 'together': sync would deactivate {-gap} of {stored} "
        "active models (75%, limit 50%; live list has 4); nothing was written. If the shrink is real, re-run "
        "with allow_mass_deactivation: true."
    )
    assert lines[9:] == [f"  {UI}/runs/{blocked.run_id}"]

    heal(replay_server, "together")
    (healed,) = pipeline.scheduled_sync()
    assert healed.success
    pipeline.monitor()
    (recovery,) = pipeline.alert_tick()
    assert recovery[0] == (
        "[catalog_pipeline] RECOVERED: all_providers_parity, all_providers_unexplained_gap, parity_together, "
        "mass_deactivation_guard, sync together"
    )
    assert recovery[1].endswith(
        f"RECOVERED sync of together: fetched {stored}, rows written 0, rejected 0\n  {UI}/runs/{healed.run_id}"
    )


def _priced(database_url: str, slug: str) -> dict[tuple[str, str], object]:
    """(model id, price type) -> amount of `slug`'s stored known prices."""
    engine = sa.create_engine(database_url)
    models, pricing, providers = schema.models, schema.model_pricing, schema.providers
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(models.c.provider_model_id, pricing.c.price_type, pricing.c.amount)
            .join(models, models.c.id == pricing.c.model_id)
            .join(providers, providers.c.id == models.c.provider_id)
            .where(providers.c.slug == slug, pricing.c.amount > 0)
        ).all()
    engine.dispose()
    return {(row.provider_model_id, row.price_type): row.amount for row in rows}


def test_price_moves_above_the_threshold_are_one_digest_per_sync_with_history_links(pipeline, replay_server):
    """CATALOG_ALERT_PRICE_CHANGE_PCT=10: together's prices x1.5 and openrouter's x1.05 in one sync give one
    digest naming every together price (+50%) with a link to the model's history at the API, and none of
    openrouter's; an unchanged sync sends nothing; with the variable unset, no digest at all."""
    api = "http://catalog-api.internal:8000"
    channels = pipeline.resources["alert_channels"]
    pipeline.resources["alert_channels"] = AlertChannelsResource(
        **{**channels.model_dump(), "price_change_alert_pct": "10", "api_base_url": api}
    )
    _healthy_round(pipeline)
    assert pipeline.alert_tick() == []
    moved = _priced(pipeline.database_url, "together")
    assert moved

    inject_fault(replay_server, "together", price_multiplier="1.5")
    inject_fault(replay_server, "openrouter", price_multiplier="1.05")
    (repriced,) = pipeline.scheduled_sync()
    assert repriced.success
    assert pipeline.monitor().success  # the alert sensor waits for the monitor run that follows a sync
    (digest,) = pipeline.alert_tick()
    subject, text = digest
    assert subject == f"[catalog_pipeline] PRICES: {len(moved)} change(s) above 10% (together)"
    lines = text.split("\n")
    assert lines[0] == f"{len(moved)} price change(s) above 10% in one sync (together): {UI}/runs/{repriced.run_id}"
    shown = set()
    for line, link in zip(lines[1::2], lines[2::2], strict=True):
        provider_model, price_type, old, _, new, unit, moved_by = line.split(" ")
        model_id = provider_model.removeprefix("together/")
        assert (unit, moved_by) == ("usd_per_million_tokens", "(+50%)")
        assert Decimal(new) == Decimal(old) * Decimal("1.5") == moved[(model_id, price_type)] * Decimal("1.5")
        assert link == f"  {api}/v1/models/together/{model_id}"
        shown.add((model_id, price_type))
    assert shown == set(moved)
    assert "openrouter" not in text

    (unchanged,) = pipeline.scheduled_sync()
    assert unchanged.success
    assert pipeline.alert_tick() == []

    pipeline.resources["alert_channels"] = channels  # CATALOG_ALERT_PRICE_CHANGE_PCT unset
    inject_fault(replay_server, "together", price_multiplier="3")
    assert pipeline.scheduled_sync()[0].success
    assert pipeline.alert_tick() == []
