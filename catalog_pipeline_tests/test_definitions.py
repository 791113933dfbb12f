"""The code location loads and exposes what the UI should show."""

from __future__ import annotations

import dagster as dg

from catalog_pipeline.definitions import defs
from catalog_pipeline.defs.assets import CATALOG_RECONCILIATION, MODELS, PROVIDER_CATALOG, sync_provider_catalogs
from catalog_pipeline.defs.checks import models_checks
from catalog_pipeline.providers.registry import PROVIDER_SLUGS


def test_every_job_schedule_and_sensor_resolves():
    """The UI lists exactly these jobs, schedules and sensors, and each schedule and sensor targets a job
    that exists (a renamed job would leave its schedule pointing nowhere)."""
    repository = defs.get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs()} - {"__ASSET_JOB"}
    assert jobs == {"catalog_sync_job", "catalog_reconciliation_job", "catalog_monitor_job"}
    assert {schedule.name: schedule.job_name for schedule in repository.schedule_defs} == {
        "catalog_sync_schedule": "catalog_sync_job",
        "catalog_monitor_schedule": "catalog_monitor_job",
    }
    sensors = {sensor.name: sensor for sensor in repository.sensor_defs}
    assert set(sensors) == {
        "catalog_alert_sensor",
        "catalog_drift_remediation_sensor",
        "catalog_monitor_after_sync_sensor",
    }
    assert [t.job_name for t in sensors["catalog_monitor_after_sync_sensor"].targets] == ["catalog_monitor_job"]
    assert [target.job_name for target in sensors["catalog_drift_remediation_sensor"].targets] == ["catalog_sync_job"]
    assert not sensors["catalog_alert_sensor"].has_jobs  # it sends messages, it launches nothing


def test_assets_carry_group_kinds_descriptions_and_provider_partitions():
    graph = defs.resolve_asset_graph()
    for key in (PROVIDER_CATALOG, MODELS, CATALOG_RECONCILIATION):
        node = graph.get(key)
        assert node.group_name == "catalog"
        assert node.description and len(node.description) > 40
        assert node.kinds
    for key in (PROVIDER_CATALOG, MODELS):
        assert graph.get(key).partitions_def.get_partition_keys() == list(PROVIDER_SLUGS)
    assert graph.get(CATALOG_RECONCILIATION).partitions_def is None
    assert graph.get(MODELS).parent_keys == {PROVIDER_CATALOG}


def test_reconciliation_declares_total_gap_and_per_provider_parity_checks():
    check_names = {
        key.name for key in defs.resolve_asset_graph().asset_check_keys if key.asset_key == CATALOG_RECONCILIATION
    }
    expected = {"all_providers_parity", "all_providers_unexplained_gap"} | {
        f"parity_{s.replace('-', '_')}" for s in PROVIDER_SLUGS
    }
    assert expected <= check_names


def test_every_run_runs_in_process_the_ui_asset_runs_too():
    """A sync is one step that fetches concurrently: a subprocess per step would only add seconds,
    so the sync job and the implicit asset job the UI launches both execute in process."""
    assert defs.resolve_job_def("catalog_sync_job").executor_def is dg.in_process_executor
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor


def test_sync_job_runs_every_check_on_models_and_the_monitor_job_never_syncs():
    """A sync run evaluates every check on `models` (as a UI "Materialize" does): the sync step's own
    and, in one step after it, the standalone ones; the monitor re-evaluates those without syncing."""
    sync_job = defs.resolve_job_def("catalog_sync_job")
    # the sync step, then one step for every standalone check on models
    assert {node.name for node in sync_job.graph.node_defs} == {"sync_provider_catalogs", "models_checks"}
    on_models = {key for key in defs.resolve_asset_graph().asset_check_keys if key.asset_key == MODELS}
    assert on_models == set(sync_job.asset_layer.asset_graph.asset_check_keys) & on_models
    assert on_models - set(sync_provider_catalogs.check_keys) == set(models_checks.check_keys)
    monitor_nodes = {node.name for node in defs.resolve_job_def("catalog_monitor_job").graph.node_defs}
    assert "sync_provider_catalogs" not in monitor_nodes
    assert "catalog_reconciliation" in monitor_nodes
