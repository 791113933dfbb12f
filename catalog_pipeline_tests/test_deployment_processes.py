"""The deployment of deploy/ (docker-compose, Helm) run on one machine without containers: a gRPC
code-location server (`dagster code-server start`), `dagster-webserver` and `dagster-daemon run` as
separate processes on a PostgreSQL-backed instance (deploy/dagster.yaml), the catalog in PostgreSQL.
The daemon itself ticks the sync schedule (PRICING_SYNC_CRON every minute): its run syncs through the
code server, the monitor run follows, and the provider that fails produces exactly one alert at a
loopback Slack webhook."""

from __future__ import annotations

import shutil
import time

import pytest
import sqlalchemy as sa
import yaml

from catalog_pipeline.defs.schedules import SYNC_SCHEDULE
from catalog_pipeline.defs.sensors import AFTER_SYNC_SENSOR
from catalog_pipeline_tests.alert_receivers import SLACK_PATH, recording_server
from catalog_pipeline_tests.conftest import PROJECT_ROOT, inject_fault
from catalog_pipeline_tests.dagster_processes import (
    BIN,
    free_port,
    graphql,
    process_environment,
    running,
    runs,
    wait_for_run,
    wait_for_webserver,
)
from catalog_pipeline_tests.helpers import sync_log
from catalog_pipeline_tests.postgres_server import create_database
from catalog_pipeline_tests.storage_helpers import dagster_postgres_settings, run_cli

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

DEPLOY = PROJECT_ROOT / "deploy"
SYNCED, FAILING = "groq", "fireworks"  # neighbours in partition order: one scheduled run

SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { sensorState { ticks(limit: 5) { timestamp status skipReason } } } } }
"""


def _alert_sensor_ticks(port: int) -> list[dict]:
    selector = {
        "repositoryLocationName": "catalog_pipeline",
        "repositoryName": "__repository__",
        "sensorName": "catalog_alert_sensor",
    }
    return graphql(port, SENSOR_TICKS, {"selector": selector})["data"]["sensorOrError"]["sensorState"]["ticks"]


_STARTED = [time.monotonic()]


def _phase(name: str) -> None:
    print(f"[{time.monotonic() - _STARTED[0]:6.1f} s] {name}", flush=True)


def test_the_daemon_ticks_the_sync_schedule_and_one_failing_provider_alerts_once(
    tmp_path, replay_server, postgres_server_url
):
    dagster_url = sa.make_url(create_database(postgres_server_url, prefix="dagster"))
    catalog_url = create_database(postgres_server_url)
    replay_server.state.scale = 0.02
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    code_port, web_port = free_port(), free_port()
    (tmp_path / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {"grpc_server": {"host": "127.0.0.1", "port": code_port, "location_name": "catalog_pipeline"}}
                ]
            }
        )
    )
    with recording_server() as slack:
        environment = process_environment(
            DAGSTER_HOME=str(home),
            **dagster_postgres_settings(dagster_url),
            CATALOG_DATABASE_URL=catalog_url,
            CATALOG_REPLAY_URL=replay_server.url,
            CATALOG_UI_BASE_URL=f"http://127.0.0.1:{web_port}",
            PRICING_SYNC_CRON="* * * * *",
            PRICING_SYNC_PROVIDERS=f"{SYNCED},{FAILING}",
            SLACK_WEBHOOK_URL=slack.url + SLACK_PATH,
        )
        # as the deployment does (deploy/docker-compose.yaml's `migrate`): the schema first, then the rest
        migrated = run_cli(["db", "upgrade"], environment)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert "catalog database at revision" in migrated.stdout and "(head " in migrated.stdout
        # every provider synced once, so the only news later is the one that breaks
        _STARTED[0] = time.monotonic()
        synced = run_cli(["sync"], environment)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        inject_fault(replay_server, FAILING, body="invalid_json")  # fails at once: no retries to wait out
        _phase("pre-synced")

        workspace = str(tmp_path / "workspace.yaml")
        code_server = [
            str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(code_port),
            "-m", "catalog_pipeline.definitions", "--location-name", "catalog_pipeline",
        ]  # fmt: skip
        webserver = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", workspace]
        daemon = [str(BIN / "dagster-daemon"), "run", "-w", workspace]
        with (
            running(code_server, environment, tmp_path / "code_server.log"),
            running(webserver, environment, tmp_path / "webserver.log"),
            running(daemon, environment, tmp_path / "daemon.log"),
        ):
            wait_for_webserver(web_port, tmp_path / "webserver.log")
            _phase("webserver up")
            scheduled = wait_for_run(
                web_port, lambda r: r["tags"].get("dagster/schedule_name") == SYNC_SCHEDULE, 150, "the schedule's sync"
            )
            _phase("scheduled sync finished")
            # the provider that fails fails the run; the other one landed, through the code server
            assert scheduled["status"] == "FAILURE", scheduled
            assert (scheduled["tags"]["dagster/asset_partition_range_start"], scheduled["tags"]["dagster/asset_partition_range_end"]) == (SYNCED, FAILING)  # fmt: skip
            rows = {
                row["provider_slug"]: row
                for row in sync_log(catalog_url)
                if row["dagster_run_id"] == scheduled["runId"]
            }
            assert (rows[SYNCED]["status"], rows[FAILING]["status"]) == ("success", "failed"), rows
            assert "not valid JSON" in rows[FAILING]["error_message"]

            monitor = wait_for_run(
                web_port,
                lambda r: (
                    r["tags"].get("catalog_pipeline/trigger") == AFTER_SYNC_SENSOR
                    and scheduled["runId"] in r["tags"].get("catalog_pipeline/after_sync_runs", "")
                ),
                60,
                "the monitor after the scheduled sync",
            )
            assert monitor["status"] == "SUCCESS", monitor
            _phase("monitor finished")

            deadline = time.monotonic() + 90
            while not slack.received and time.monotonic() < deadline:
                time.sleep(1)
            assert len(slack.received) == 1, (tmp_path / "daemon.log").read_text()[-3000:]
            alerted_at = time.time()
            _phase("alert received")
            # the next tick of the alert sensor (the provider still failing) sends nothing more
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline:
                if [t for t in _alert_sensor_ticks(web_port) if t["timestamp"] > alerted_at + 1]:
                    break
                time.sleep(2)
            else:
                raise AssertionError("the alert sensor did not tick again")
            _phase("next alert tick")
            (alert,) = slack.take()
            scheduled_runs = {
                r["runId"] for r in runs(web_port) if r["tags"].get("dagster/schedule_name") == SYNC_SCHEDULE
            }
    text = alert.body["text"]
    assert text.startswith("*[catalog_pipeline] FAILING: ")
    assert f"sync {FAILING}" in text.split("\n")[0] and f"parity_{FAILING}" in text.split("\n")[0]
    assert f"FAILING sync of {FAILING} (failed): provider '{FAILING}'" in text and "not valid JSON" in text
    # the link is the scheduled sync that failed last when the alert went out
    assert any(f"http://127.0.0.1:{web_port}/runs/{run_id}" in text for run_id in scheduled_runs), text
    assert SYNCED not in text.split("\n")[0]
