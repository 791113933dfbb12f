"""One measured process of `make bench`: a trivial Dagster run (the floor) or a sync, as a user runs it.

Run by `benchmarks.bench` as ``python -m benchmarks.bench_child floor|sync|reconcile [--provider SLUG]``
with ``DAGSTER_HOME``, ``CATALOG_REPLAY_URL`` and ``CATALOG_DATABASE_URL`` set. It imports what the
CLI imports, runs one job in process against the instance of ``DAGSTER_HOME`` (the path the schedule
takes: `catalog_sync_job` over a partition range) and prints one JSON line with its figures; the
parent measures the whole process (wall clock and peak RSS).
"""

from __future__ import annotations

import json
import sys
import time

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def floor() -> dict:
    import dagster as dg

    import catalog_pipeline.definitions  # noqa: F401 - the same imports as a sync, so the floor is comparable

    @dg.asset
    def trivial() -> None:
        return None

    job = dg.Definitions(
        assets=[trivial],
        jobs=[dg.define_asset_job("trivial_job", selection=[trivial], executor_def=dg.in_process_executor)],
    ).resolve_job_def("trivial_job")
    instance = dg.DagsterInstance.get()
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, run_config=QUIET)
    return {"ok": result.success, "run_seconds": time.perf_counter() - started}


def sync(providers: list[str]) -> dict:
    import dagster as dg

    from catalog_pipeline.definitions import defs
    from catalog_pipeline.providers.registry import PROVIDER_SLUGS

    first, last = (providers[0], providers[-1]) if providers else (PROVIDER_SLUGS[0], PROVIDER_SLUGS[-1])
    instance = dg.DagsterInstance.get()
    job = defs.resolve_job_def("catalog_sync_job")
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        run_config={**QUIET, "ops": {"sync_provider_catalogs": {"config": {"skip_unconfigured": True}}}},
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        raise_on_error=False,
    )
    run_seconds = time.perf_counter() - started
    stages: dict[str, float] = {}
    fetch_ms = 0.0
    models_written = unchanged = 0
    changes: dict[str, int] = {}
    for event in result.all_events:
        if event.event_type_value != "ASSET_MATERIALIZATION":
            continue
        materialization = event.event_specific_data.materialization
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        if materialization.asset_key.path == ["provider_catalog"]:
            fetch_ms += float(metadata.get("latency_ms", 0.0))
            change = str(metadata.get("catalog_change", "changed"))
            changes[change] = changes.get(change, 0) + 1
        else:
            for key, value in metadata.items():
                if key.endswith("_seconds"):
                    stages[key[: -len("_seconds")]] = stages.get(key[: -len("_seconds")], 0.0) + float(value)
            models_written += int(metadata.get("inserted", 0)) + int(metadata.get("updated", 0))
            unchanged += int(metadata.get("unchanged", 0))
    return {
        "ok": result.success,
        "run_seconds": run_seconds,
        "run_id": result.run_id,  # the parent reads the step's time from the instance, outside the measurement
        "fetch_seconds_summed": fetch_ms / 1000,
        "stages_summed": stages,
        "models_written": models_written,
        "models_unchanged": unchanged,
        "catalog_change": changes,
    }


def reconcile() -> dict:
    import dagster as dg

    from catalog_pipeline.definitions import defs

    instance = dg.DagsterInstance.get()
    job = defs.resolve_job_def("catalog_reconciliation_job")
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False)
    run_seconds = time.perf_counter() - started
    return {"ok": result.success, "run_seconds": run_seconds, "run_id": result.run_id}


def main() -> None:
    mode, providers = sys.argv[1], [a for a in sys.argv[2:] if not a.startswith("-")]
    figures = {"floor": floor, "reconcile": reconcile}[mode]() if mode != "sync" else sync(providers)
    print("BENCH " + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
