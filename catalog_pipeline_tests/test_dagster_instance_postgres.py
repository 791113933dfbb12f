"""deploy/dagster.yaml: a real sync through the CLI on a Dagster instance whose runs, event
logs and schedules live in PostgreSQL, read back from that instance afterwards; the deployment's
event batching keeps every partition's materialization."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from catalog_pipeline.defs.assets import MASS_DEACTIVATION_CHECK, MODELS
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import materializations, sync, sync_log
from catalog_pipeline_tests.postgres_server import create_database
from catalog_pipeline_tests.storage_helpers import PROJECT_ROOT, cli_environment, dagster_postgres_settings, run_cli

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

DEPLOY_CONFIG = PROJECT_ROOT / "deploy" / "dagster.yaml"
SLUG = "cerebras"
SIZE = 25


def test_sync_on_the_postgres_backed_instance_of_deploy_dagster_yaml(
    tmp_path, replay_server, postgres_server_url, postgres_url, monkeypatch
):
    """`catalog-pipeline sync` with DAGSTER_HOME holding deploy/dagster.yaml stores its runs,
    materializations and check results in PostgreSQL (nothing in SQLite beside the yaml),
    and the catalog's sync log points at those runs."""
    dagster_database = sa.make_url(create_database(postgres_server_url, prefix="dagster"))
    connection_settings = dagster_postgres_settings(dagster_database)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_CONFIG, home / "dagster.yaml")
    inject_fault(replay_server, SLUG, size=SIZE)

    result = run_cli(
        ["sync", "--provider", SLUG], cli_environment(home, postgres_url, replay_server.url, **connection_settings)
    )
    assert result.returncode == 0, result.stdout + result.stderr

    for name, value in connection_settings.items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

        runs = {run.job_name: run for run in instance.get_runs()}
        assert set(runs) == {"catalog_sync_job", "catalog_reconciliation_job"}
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs.values())
        sync_run = runs["catalog_sync_job"]

        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=MODELS, asset_partitions=[SLUG]), limit=10
        ).records
        assert [record.run_id for record in records] == [sync_run.run_id]
        assert records[0].asset_materialization.metadata["inserted"].value == SIZE

        [check] = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(MODELS, MASS_DEACTIVATION_CHECK), limit=10
        )
        assert (check.run_id, check.status.value) == (sync_run.run_id, "SUCCEEDED")
    finally:
        instance.dispose()

    engine = sa.create_engine(dagster_database)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM runs").scalar_one() == 2
        assert (
            connection.exec_driver_sql(
                "SELECT count(*) FROM event_logs WHERE run_id = %(run_id)s", {"run_id": sync_run.run_id}
            ).scalar_one()
            > 0
        )
    engine.dispose()
    assert not (home / "history").exists() and not (home / "schedules").exists()

    [log] = [row for row in sync_log(postgres_url) if row["provider_slug"] == SLUG]
    assert (log["status"], log["models_inserted"], log["dagster_run_id"]) == ("success", SIZE, sync_run.run_id)


def test_the_deployment_stores_a_runs_partition_materializations_in_one_batch_per_asset(
    tmp_path, replay_server, postgres_server_url, postgres_url, monkeypatch
):
    """With the DAGSTER_EVENT_BATCH_SIZE the deployment sets (deploy/docker-compose.yaml), a sync run
    over three provider partitions on the instance of deploy/dagster.yaml stores each asset's three
    materializations in one batch, and each partition still has its own materialization with its own
    numbers, as the UI's partition view reads them."""
    compose = yaml.safe_load((PROJECT_ROOT / "deploy" / "docker-compose.yaml").read_text())
    dagster_database = create_database(postgres_server_url, prefix="dagster")
    for name, value in {
        **dagster_postgres_settings(dagster_database),
        "DAGSTER_EVENT_BATCH_SIZE": str(compose["x-dagster-postgres"]["DAGSTER_EVENT_BATCH_SIZE"]),
    }.items():
        monkeypatch.setenv(name, value)
    sizes = {"cerebras": 7, "nebius": 11, "xai": 13}
    assert list(sizes) == list(PROVIDER_SLUGS[PROVIDER_SLUGS.index("cerebras") :][:3])  # one partition range
    for slug, size in sizes.items():
        inject_fault(replay_server, slug, size=size)
    batches: list[list[tuple[str, str, str | None]]] = []
    store_batch = PostgresEventLogStorage.store_event_batch

    def recording(storage, events):  # type: ignore[no-untyped-def]
        batches.append(
            [
                (
                    e.get_dagster_event().event_type_value,
                    e.get_dagster_event().asset_key.to_user_string(),
                    e.get_dagster_event().partition,
                )
                for e in events
            ]
        )
        return store_batch(storage, events)

    monkeypatch.setattr(PostgresEventLogStorage, "store_event_batch", recording)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_CONFIG, home / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        result = sync(postgres_url, replay_server.url, list(sizes), instance=instance)
        assert result.success

        materialized = [batch for batch in batches if batch[0][0] == "ASSET_MATERIALIZATION"]
        assert sorted(sorted(batch) for batch in materialized) == [
            [("ASSET_MATERIALIZATION", "models", slug) for slug in sizes],
            [("ASSET_MATERIALIZATION", "provider_catalog", slug) for slug in sizes],
        ]
        models = materializations(instance, MODELS, result.run_id)
        assert {slug: numbers["inserted"] for slug, numbers in models.items()} == sizes
        catalogs = materializations(instance, dg.AssetKey("provider_catalog"), result.run_id)
        assert {slug: numbers["live_count"] for slug, numbers in catalogs.items()} == sizes
        assert instance.get_materialized_partitions(MODELS) == set(sizes)
    finally:
        instance.dispose()
