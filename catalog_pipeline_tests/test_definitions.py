"""The code location loads and exposes what the UI should show."""

from __future__ import annotations

import dagster as dg

from catalog_pipeline.definitions import defs
from catalog_pipeline.defs.assets import CATALOG_RECONCILIATION, MODELS, PROVIDER_CATALOG
from catalog_pipeline.providers.registry import PROVIDER_SLUGS


def test_every_job_schedule_and_sensor_resolves():
    repository = defs.get_repository_def()
    for job in repository.get_all_jobs():
        assert job.name
    assert {"catalog_sync_job", "catalog_reconciliation_job"} <= {job.name for job in repository.get_all_jobs()}
    for schedule in repository.schedule_defs:
        assert schedule.job_name or schedule.target
    for sensor in repository.sensor_defs:
        assert sensor.name


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
    """A sync run evaluates every check on `models` after the sync step (as a UI "Materialize" does);
    the monitor re-evaluates the standalone ones without syncing."""
    sync_job = defs.resolve_job_def("catalog_sync_job")
    assert {node.name for node in sync_job.graph.node_defs} == {"sync_provider_catalogs"} | {
        f"models_{key.name}" for key in defs.resolve_asset_graph().asset_check_keys if key.asset_key.path == ["models"]
    } - {"models_mass_deactivation_guard"}
    monitor_nodes = {node.name for node in defs.resolve_job_def("catalog_monitor_job").graph.node_defs}
    assert "sync_provider_catalogs" not in monitor_nodes
    assert "catalog_reconciliation" in monitor_nodes
