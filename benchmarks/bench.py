"""`make bench`: what a sync costs on this machine, in one run, printed and written to `.bench/latest.json`.

Every figure comes from whole processes run the way users run them: a replay server on
127.0.0.1 serves the catalogs, and each measured process imports the code location and runs
one job in process against a fresh Dagster instance (``DAGSTER_HOME``, the default SQLite kind):

- **floor**: one trivial asset materialized, in a process run just before each measured sync (each home's
  very first process, which creates the instance's tables, is not measured);
- **sync**: `catalog_sync_job` over all 32 provider partitions at ``--scale 1`` (18,000 models),
  first into an empty catalog, then unchanged (the replay server's ETags: every page 304), then
  unchanged without ETags (the digest of the pages decides); on SQLite and on a throwaway
  PostgreSQL server; seconds, ratio to the floor, time per stage, Dagster overhead, rows/s and
  the rows an unchanged re-sync writes;
- **reconcile**: `catalog_reconciliation_job` after the unchanged sync;
- **scale**: 10k, 100k and 1M models, one large paginated provider (featherless) and all
  providers scaled; wall time, per-model cost, peak RSS, catalog bytes per model; plotted to
  `benchmarks/results/scale.png`;
- **writer**: the writer alone (`benchmarks.sync_benchmark`), 18,000 synthetic models.

``--quick`` runs one repeat and a 10k/30k series (minutes instead of a quarter hour). Other
sections of `.bench/latest.json` (the catalog API's, written by its own module) are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".bench" / "latest.json"
PLOT = ROOT / "benchmarks" / "results" / "scale.png"
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 30_000)
SCALE_ONE_MODELS = 18_000
LARGE_PROVIDER = "featherless"
TARGETS = {
    "rss_1m_mib": 1024,
    "per_model_cost_ratio": 1.5,
    "unchanged_share_1m": 0.10,
    "first_sync_floors": 2.0,
    "unchanged_sync_floors": 1.3,
    "postgres_models_rows_per_second": 50_000,
}


# --- processes ---------------------------------------------------------------------------------


def measure(mode: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run one `bench_child` process; its figures plus wall seconds and peak RSS (MiB) of the whole process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_child", mode, *args], env=env, stdout=out, stderr=err, cwd=ROOT
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = [line for line in out.read().decode().splitlines() if line.startswith("BENCH ")]
        if process.returncode != 0 or not lines:
            raise RuntimeError(f"bench_child {mode} failed ({process.returncode}): {err.read().decode()[-3000:]}")
    figures = json.loads(lines[-1][len("BENCH ") :])
    figures.update(wall_seconds=wall, peak_rss_mib=usage.ru_maxrss / 1024, cpu_seconds=usage.ru_utime + usage.ru_stime)
    if "run_id" in figures:
        figures["step_seconds"] = step_seconds(env, figures.pop("run_id"))
    if not figures.get("ok", True):
        print(f"  warning: {mode} run did not succeed", file=sys.stderr)
    return figures


def schema_upgrade(env: dict[str, str]) -> float:
    """`catalog-pipeline db upgrade` on a new catalog, as a deployment runs it before its code server starts;
    its wall seconds (the whole process)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "catalog_pipeline.cli", "db", "upgrade"], env=env, cwd=ROOT, capture_output=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"catalog-pipeline db upgrade failed ({done.returncode}): {done.stderr.decode()[-3000:]}")
    return time.perf_counter() - started


def step_seconds(env: dict[str, str], run_id: str) -> float:
    """Wall time of a measured run's op steps (first STEP_START to last STEP_SUCCESS/FAILURE), read from
    its instance after the process ended, so the reading is not part of what is measured."""
    import dagster as dg

    saved = dict(os.environ)
    os.environ.update({key: value for key, value in env.items() if key.startswith("DAGSTER_")})
    try:
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
        try:
            starts, ends = [], []
            for entry in instance.all_logs(run_id):
                kind = entry.dagster_event.event_type_value if entry.dagster_event else None
                if kind == "STEP_START":
                    starts.append(entry.timestamp)
                elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                    ends.append(entry.timestamp)
        finally:
            instance.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return (max(ends) - min(starts)) if starts and ends else 0.0


@contextmanager
def replay_server(scale: float = 1.0):  # type: ignore[no-untyped-def]
    """A replay server process on a free port; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "catalog_pipeline.cli", "replay-server", "--port", "0", "--scale", str(scale)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def fault(url: str, slug: str, **settings: Any) -> None:
    httpx.post(f"{url}/_faults/{slug}", json=settings, timeout=30).raise_for_status()


def warm(url: str, slugs: list[str]) -> None:
    """Let the replay server generate its catalogs before anything is timed (a real provider has them ready)."""
    from catalog_pipeline.http_engine import CatalogHttpEngine
    from catalog_pipeline.providers.registry import get_provider

    engine = CatalogHttpEngine({}, replay_url=url, deadline_seconds=3600, max_response_mb=4096)
    try:
        for slug in slugs:
            engine.fetch_pages(get_provider(slug)).close()
    finally:
        engine.close()


def deployment_event_batch_size() -> str:
    """DAGSTER_EVENT_BATCH_SIZE as deploy/docker-compose.yaml sets it for the Dagster processes."""
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yaml").read_text())
    return str(compose["x-dagster-postgres"]["DAGSTER_EVENT_BATCH_SIZE"])


def environment(home: Path, replay_url: str, database_url: str, dagster_pg_url: str | None = None) -> dict[str, str]:
    """The measured processes' environment: a fresh DAGSTER_HOME with the local instance of
    deploy/dagster-local.yaml (SQLite) and the DAGSTER_EVENT_BATCH_SIZE `catalog-pipeline sync` and
    `make dev` set, or with `dagster_pg_url` the production instance of deploy/dagster.yaml on that
    PostgreSQL database, with the deployment's DAGSTER_EVENT_BATCH_SIZE."""
    home.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CATALOG_", "PRICING_", "DAGSTER_"))}
    if dagster_pg_url:
        (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
        parsed = sa.make_url(dagster_pg_url)
        env.update(
            DAGSTER_PG_HOST=parsed.host or "127.0.0.1",
            DAGSTER_PG_PORT=str(parsed.port or 5432),
            DAGSTER_PG_USER=parsed.username or "",
            DAGSTER_PG_PASSWORD=parsed.password or "",
            DAGSTER_PG_DB=parsed.database or "",
        )
        # as the deployment runs (deploy/docker-compose.yaml): per-partition materializations in one batch per asset
        env["DAGSTER_EVENT_BATCH_SIZE"] = deployment_event_batch_size()
    else:
        from catalog_pipeline import settings

        (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster-local.yaml").read_text())
        env[settings.EVENT_BATCH_SIZE] = str(settings.DEFAULT_EVENT_BATCH_SIZE)
    env.update(DAGSTER_HOME=str(home), CATALOG_REPLAY_URL=replay_url, CATALOG_DATABASE_URL=database_url)
    env["CATALOG_PROVIDER_DEADLINE_S"] = "3600"  # the 1M case lists a provider of a million models
    env["CATALOG_MAX_RESPONSE_MB"] = "4096"
    return env


# --- the catalog database ----------------------------------------------------------------------


def table_state(url: str, with_xmin: bool = False) -> dict[str, Any]:
    from catalog_pipeline.storage import schema
    from catalog_pipeline.storage.database import create_catalog_engine

    engine = create_catalog_engine(url)
    try:
        with engine.connect() as connection:
            state: dict[str, Any] = {
                "models": connection.execute(sa.select(sa.func.count()).select_from(schema.models)).scalar_one(),
                "active": connection.execute(sa.select(sa.func.count()).where(schema.models.c.is_active)).scalar_one(),
                "model_pricing": connection.execute(
                    sa.select(sa.func.count()).select_from(schema.model_pricing)
                ).scalar_one(),
                "price_history": connection.execute(
                    sa.select(sa.func.count()).select_from(schema.price_history)
                ).scalar_one(),
                "rejected_models": connection.execute(
                    sa.select(sa.func.count()).select_from(schema.rejected_models)
                ).scalar_one(),
                "models_updated_at": connection.execute(sa.select(sa.func.max(schema.models.c.updated_at))).scalar(),
                "pricing_updated_at": connection.execute(
                    sa.select(sa.func.max(schema.model_pricing.c.updated_at))
                ).scalar(),
                "rejected_at": connection.execute(
                    sa.select(sa.func.max(schema.rejected_models.c.rejected_at))
                ).scalar(),
            }
            snapshots = schema.provider_catalog_snapshots
            per_provider = (
                sa.select(snapshots.c.provider_id, sa.func.count().label("n"))
                .group_by(snapshots.c.provider_id)
                .subquery()
            )
            state["snapshots_max_per_provider"] = connection.execute(sa.select(sa.func.max(per_provider.c.n))).scalar()
            state["snapshot_bytes"] = connection.execute(
                sa.select(sa.func.coalesce(sa.func.sum(sa.func.length(snapshots.c.payload_gzip)), 0))
            ).scalar_one()
            if with_xmin and engine.dialect.name == "postgresql":
                state["xmin"] = dict(connection.execute(sa.text("SELECT id, xmin::text FROM models")).all())
            if engine.dialect.name == "postgresql":
                state["database_bytes"] = connection.execute(
                    sa.text("SELECT pg_database_size(current_database())")
                ).scalar_one()
        if engine.dialect.name == "sqlite":
            path = Path(engine.url.database or "")
            state["database_bytes"] = sum(
                p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
            )
    finally:
        engine.dispose()
    return state


def rows_written_between(url: str, before: dict[str, Any]) -> dict[str, int]:
    """Rows of every catalog table a sync wrote, counted from the database's own columns (and xmin)."""
    from catalog_pipeline.storage import schema
    from catalog_pipeline.storage.database import create_catalog_engine

    engine = create_catalog_engine(url)
    try:
        with engine.connect() as connection:

            def newer(column: sa.Column, since: Any) -> int:
                if since is None:
                    return connection.execute(sa.select(sa.func.count()).select_from(column.table)).scalar_one()
                return connection.execute(sa.select(sa.func.count()).where(column > since)).scalar_one()

            written = {
                "models": newer(schema.models.c.updated_at, before["models_updated_at"]),
                "model_pricing": newer(schema.model_pricing.c.updated_at, before["pricing_updated_at"]),
                "price_history": connection.execute(
                    sa.select(sa.func.count()).select_from(schema.price_history)
                ).scalar_one()
                - before["price_history"],
                "rejected_models": newer(schema.rejected_models.c.rejected_at, before["rejected_at"]),
            }
            if "xmin" in before:
                now = dict(connection.execute(sa.text("SELECT id, xmin::text FROM models")).all())
                written["models_new_tuple_versions"] = sum(
                    1 for key, value in now.items() if before["xmin"].get(key) != value
                )
    finally:
        engine.dispose()
    written["total"] = sum(v for k, v in written.items() if k != "models_new_tuple_versions")
    return written


# --- sections ----------------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def floor_section(env: dict[str, str], repeats: int) -> dict[str, Any]:
    runs = [measure("floor", env) for _ in range(repeats)]
    return {
        "wall_seconds": round(median_of(runs, "wall_seconds"), 3),
        "run_seconds": round(median_of(runs, "run_seconds"), 3),
        "peak_rss_mib": round(median_of(runs, "peak_rss_mib"), 1),
        "runs": len(runs),
    }


def sync_section(
    label: str, database_url_for, replay_url: str, work: Path, repeats: int, dagster_pg_for=None, one_writer=False
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """First, unchanged (ETag) and unchanged (digest) syncs of all providers at --scale 1, `repeats` times each;
    with `dagster_pg_for`, the Dagster instance is PostgreSQL too (deploy/dagster.yaml). With `one_writer`, each
    repeat also makes a first sync that writes one provider at a time (CATALOG_CONCURRENT_WRITES=1) on a fresh
    catalog: its models stage is the write path alone, with no second writer's work in its wall time.

    Every measured sync is paired with a floor process run just before it, and its ratio to the floor is the
    median of those pairs: the machine is shared, and its speed moves within one run (a whole process here
    varies by 10 % or more between one minute and the next)."""
    first_runs, unchanged_runs, digest_runs, reconcile_runs, floors = [], [], [], [], []
    one_writer_runs: list[dict[str, Any]] = []
    one_writer_models = 0
    migrations: list[float] = []
    written_unchanged: dict[str, int] = {}
    state: dict[str, Any] = {}

    def warm_up(env: dict[str, str]) -> None:
        # As a deployment does before its code server starts (deploy/: the `migrate` service, the Helm init
        # container), the catalog is migrated once; and the first process on a fresh Dagster home creates
        # the instance's tables (on PostgreSQL, a second or more). Neither is a floor nor a sync: the
        # migration is timed on its own, the instance's tables not at all.
        migrations.append(schema_upgrade(env))
        measure("floor", env)

    def after_floor(runs: list[dict[str, Any]], env: dict[str, str]) -> None:
        floor = floor_section(env, 1)
        floors.append(floor)
        runs.append(measure("sync", env) | {"floor_seconds": floor["wall_seconds"]})

    for repeat in range(repeats):
        url = database_url_for(f"{label}_{repeat}")
        env = environment(
            work / f"{label}-home-{repeat}", replay_url, url, dagster_pg_for(repeat) if dagster_pg_for else None
        )
        warm_up(env)
        after_floor(first_runs, env)
        state = table_state(url, with_xmin=True)
        after_floor(unchanged_runs, env)
        written_unchanged = rows_written_between(url, state)
        reconcile_runs.append(measure("reconcile", env))
        for slug in _slugs():
            fault(replay_url, slug, etag=False)
        try:
            after_floor(digest_runs, env)
        finally:
            httpx.delete(f"{replay_url}/_faults", timeout=30)
        if one_writer:
            alone = database_url_for(f"{label}_one_writer_{repeat}")
            home = work / f"{label}-one-writer-home-{repeat}"
            single = environment(home, replay_url, alone, dagster_pg_for(repeat) if dagster_pg_for else None)
            warm_up(single)
            after_floor(one_writer_runs, single | {"CATALOG_CONCURRENT_WRITES": "1"})
            one_writer_models = table_state(alone)["models"]
    floor = statistics.median(f["wall_seconds"] for f in floors)
    first = _summary(first_runs, floor)
    first["rows"] = _write_rates(state, first["stages_summed"])
    extra = {}
    if one_writer_runs:
        extra["first_sync_one_writer"] = _summary(one_writer_runs, floor)
        extra["first_sync_one_writer"]["rows"] = {
            "models": one_writer_models,
            "models_rows_per_second_models_stage": _rate(
                one_writer_models, extra["first_sync_one_writer"]["stages_summed"].get("models")
            ),
        }
    return {
        "floor": {
            "wall_seconds": round(floor, 3),
            "run_seconds": round(statistics.median(f["run_seconds"] for f in floors), 3),
            "peak_rss_mib": round(statistics.median(f["peak_rss_mib"] for f in floors), 1),
            "runs": len(floors),
        },
        "first_sync": first,
        **extra,
        "unchanged_sync_etag": _summary(unchanged_runs, floor) | {"rows_written": written_unchanged},
        "unchanged_sync_digest": _summary(digest_runs, floor),
        "reconcile": {
            "wall_seconds": round(median_of(reconcile_runs, "wall_seconds"), 3),
            "run_seconds": round(median_of(reconcile_runs, "run_seconds"), 3),
        },
        "schema_migration_seconds": round(statistics.median(migrations), 3),
        "catalog_bytes": state.get("database_bytes"),
        "catalog_bytes_per_model": round(state["database_bytes"] / max(1, state["active"])),
        "snapshot_bytes": state["snapshot_bytes"],
        "snapshots_max_per_provider": state["snapshots_max_per_provider"],
        "dagster_instance": "postgresql (deploy/dagster.yaml)"
        if dagster_pg_for
        else "sqlite (deploy/dagster-local.yaml)",
        "repeats": repeats,
    }


def _rate(rows: int, seconds: float | None) -> int | None:
    return round(rows / seconds) if seconds else None


def _write_rates(state: dict[str, Any], stages: dict[str, float]) -> dict[str, Any]:
    all_rows = state["models"] + state["model_pricing"] + state["price_history"] + state["rejected_models"]
    return {
        "models": state["models"],
        "all_tables": all_rows,
        "models_rows_per_second_models_stage": _rate(state["models"], stages.get("models")),
        "all_rows_per_second_write_stages": _rate(
            all_rows, sum(stages.get(k, 0.0) for k in ("hash", "models", "prices", "finish"))
        ),
    }


def _summary(runs: list[dict[str, Any]], floor: float) -> dict[str, Any]:
    wall = median_of(runs, "wall_seconds")
    run = median_of(runs, "run_seconds")
    step = median_of(runs, "step_seconds")
    stages: dict[str, float] = {}
    for key in runs[0]["stages_summed"]:
        stages[key] = round(statistics.median(r["stages_summed"].get(key, 0.0) for r in runs), 3)
    return {
        "wall_seconds": round(wall, 3),
        # each run against the floor process run just before it (`sync_section`), median of the pairs
        "floors": round(statistics.median(r["wall_seconds"] / r["floor_seconds"] for r in runs), 2),
        "floors_unpaired": round(wall / floor, 2),
        "run_seconds": round(run, 3),
        "op_seconds": round(step, 3),
        # everything but the op itself: Python start-up, imports, the run's creation and its events
        "dagster_and_startup_seconds": round(wall - step, 3),
        "dagster_run_overhead_seconds": round(run - step, 3),
        "fetch_seconds_summed": round(median_of(runs, "fetch_seconds_summed"), 3),
        "stages_summed": stages,
        "peak_rss_mib": round(median_of(runs, "peak_rss_mib"), 1),
        "cpu_seconds": round(median_of(runs, "cpu_seconds"), 3),
        "models_written": runs[-1]["models_written"],
        "catalog_change": runs[-1]["catalog_change"],
    }


def scale_section(sizes: tuple[int, ...], work: Path, sqlite_url_for) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    series: dict[str, list[dict[str, Any]]] = {"one_provider": [], "all_providers": []}
    for size in sizes:
        with replay_server(1.0) as url:
            fault(url, LARGE_PROVIDER, size=size)
            warm(url, [LARGE_PROVIDER])
            series["one_provider"].append(_scale_point(size, url, work, sqlite_url_for, [LARGE_PROVIDER]))
        scale = size / SCALE_ONE_MODELS
        with replay_server(scale) as url:
            warm(url, _slugs())
            series["all_providers"].append(_scale_point(size, url, work, sqlite_url_for, []))
    return series


def _scale_point(size: int, url: str, work: Path, sqlite_url_for, providers: list[str]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    label = f"{'one' if providers else 'all'}_{size}"
    database_url = sqlite_url_for(label)
    env = environment(work / f"home-{label}", url, database_url)
    first = measure("sync", env, *providers)
    state = table_state(database_url)
    unchanged = measure("sync", env, *providers)
    models = max(1, state["active"])
    point = {
        "models": state["active"],
        "first_wall_seconds": round(first["wall_seconds"], 2),
        "first_op_seconds": round(first["step_seconds"], 2),
        "first_us_per_model": round(first["wall_seconds"] / models * 1e6, 1),
        "first_op_us_per_model": round(first["step_seconds"] / models * 1e6, 1),
        "first_peak_rss_mib": round(first["peak_rss_mib"], 1),
        "unchanged_wall_seconds": round(unchanged["wall_seconds"], 2),
        "unchanged_peak_rss_mib": round(unchanged["peak_rss_mib"], 1),
        "unchanged_share_of_first": round(unchanged["wall_seconds"] / first["wall_seconds"], 3),
        "catalog_bytes": state["database_bytes"],
        "catalog_bytes_per_model": round(state["database_bytes"] / models),
        "snapshot_bytes": state["snapshot_bytes"],
        "stages_summed": {k: round(v, 2) for k, v in first["stages_summed"].items()},
    }
    print(
        f"  {label:>18}: {state['active']:>8} models  first {point['first_wall_seconds']:>7.1f} s "
        f"({point['first_us_per_model']:.0f} us/model, {point['first_peak_rss_mib']:.0f} MiB)  "
        f"unchanged {point['unchanged_wall_seconds']:.1f} s  {point['catalog_bytes_per_model']} B/model",
        flush=True,
    )
    return point


def writer_section(include_postgres: bool) -> dict[str, Any]:
    from benchmarks.sync_benchmark import benchmark
    from catalog_pipeline_tests.postgres_server import create_database, postgres_server

    results = {}
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as folder:
        results["sqlite"] = benchmark("sqlite", f"sqlite:///{Path(folder) / 'catalog.db'}")
    if include_postgres:
        with postgres_server() as server_url:
            results["postgresql"] = benchmark("postgresql", create_database(server_url, prefix="catalog_bench"))
    return results


def _slugs() -> list[str]:
    from catalog_pipeline.providers.registry import PROVIDER_SLUGS

    return list(PROVIDER_SLUGS)


# --- report --------------------------------------------------------------------------------------


def verdicts(figures: dict[str, Any]) -> dict[str, Any]:
    """Each target of issue 11 with the measured number and whether it is met."""
    found: dict[str, Any] = {}
    for database, section in figures.get("sync", {}).items():
        found[f"{database}: full 18k sync <= {TARGETS['first_sync_floors']}x floor"] = _verdict(
            section["first_sync"]["floors"], TARGETS["first_sync_floors"]
        )
        found[f"{database}: unchanged 18k re-sync <= {TARGETS['unchanged_sync_floors']}x floor"] = _verdict(
            section["unchanged_sync_etag"]["floors"], TARGETS["unchanged_sync_floors"]
        )
        found[f"{database}: rows written by an unchanged re-sync == 0"] = {
            "value": section["unchanged_sync_etag"]["rows_written"]["total"],
            "met": section["unchanged_sync_etag"]["rows_written"]["total"] == 0,
        }
    postgres = figures.get("sync", {}).get("postgresql")
    writer = figures.get("writer", {}).get("postgresql")
    minimum = TARGETS["postgres_models_rows_per_second"]
    # the server's own speed for these rows in `models` (sync_benchmark._server_ceiling): what no writer can beat
    ceiling = (writer or {}).get("server ceiling: models/s, the same rows pre-encoded into models")

    def share(rate: int | None) -> float | None:
        return round(rate / ceiling, 2) if rate and ceiling else None

    if postgres:
        # Two providers are written at once in the full sync, so its models stage's wall time holds the other
        # writer's work too; the write path's own rate is read from the same sync written one provider at a time.
        single = postgres.get("first_sync_one_writer", postgres["first_sync"])
        rate = single["rows"]["models_rows_per_second_models_stage"]
        found[
            "postgresql: first write in the full sync, one writer (32 providers, 560 models each on average), "
            "models rows/s >= 50,000"
        ] = {
            "value": rate,
            "met": rate is not None and rate >= minimum,
            "share_of_server_ceiling": share(rate),
            "two_writers_models_stage_rows_per_second": postgres["first_sync"]["rows"][
                "models_rows_per_second_models_stage"
            ],
        }
    if writer:
        rate = writer["first sync: models/s, models table alone"]
        found["postgresql: first write, writer benchmark (6 providers of 3,000), models rows/s >= 50,000"] = {
            "value": rate,
            "met": rate >= minimum,
            "share_of_server_ceiling": share(rate),
            "server_ceiling_models_table": ceiling,
            "server_ceiling_plain_copy": writer.get("server ceiling: models/s, plain COPY of the same rows"),
        }
    scale = figures.get("scale", {}).get("all_providers", [])
    largest = max(scale, key=lambda p: p["models"], default=None)
    reference = figures.get("sync", {}).get("sqlite", {}).get("first_sync")
    if largest and largest["models"] >= 900_000:
        found["1M models: peak RSS < 1 GiB (MiB)"] = _verdict(
            largest["first_peak_rss_mib"], TARGETS["rss_1m_mib"], strict=True
        )
        found["1M models: unchanged re-sync < 10% of first sync"] = _verdict(
            largest["unchanged_share_of_first"], TARGETS["unchanged_share_1m"], strict=True
        )
        if reference:
            per_model_18k = reference["wall_seconds"] / SCALE_ONE_MODELS
            ratio = round(largest["first_wall_seconds"] / largest["models"] / per_model_18k, 2)
            found["1M models: per-model cost <= 1.5x the 18k case"] = _verdict(ratio, TARGETS["per_model_cost_ratio"])
    return found


def _verdict(value: float, limit: float, strict: bool = False) -> dict[str, Any]:
    return {"value": value, "limit": limit, "met": value < limit if strict else value <= limit}


def plot(figures: dict[str, Any]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: pip install -e '.[bench]' for the plot)")
        return None
    scale = figures["scale"]
    fig, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, style in (("all_providers", "o-"), ("one_provider", "s--")):
        points = scale.get(name, [])
        models = [p["models"] for p in points]
        label = "all 32 providers scaled" if name == "all_providers" else f"{LARGE_PROVIDER} alone"
        time_axis.plot(models, [p["first_wall_seconds"] for p in points], style, label=f"first sync, {label}")
        time_axis.plot(
            models, [p["unchanged_wall_seconds"] for p in points], style, alpha=0.5, label=f"unchanged, {label}"
        )
        memory_axis.plot(models, [p["first_peak_rss_mib"] for p in points], style, label=label)
    memory_axis.axhline(1024, color="red", linewidth=0.8, linestyle=":", label="1 GiB")
    for axis, title, unit in (
        (time_axis, "wall time of the sync process", "seconds"),
        (memory_axis, "peak RSS of the sync process", "MiB"),
    ):
        axis.set_xscale("log")
        axis.set_xlabel("models in the catalog")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    time_axis.set_yscale("log")
    machine = figures["machine"]
    fig.suptitle(
        f"catalog-pipeline sync, {figures['date'][:10]}, {machine['cpus']} CPUs, {machine['python']}", fontsize=9
    )
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    return PLOT


def print_report(figures: dict[str, Any]) -> None:
    machine = figures["machine"]
    print(
        f"\n== make bench, {figures['date']}, {machine['cpus']} CPUs, load {machine['load_average']}, {machine['platform']}"
    )
    for database, section in figures.get("sync", {}).items():
        print(f"\n-- {database}: all 32 providers at --scale 1 (median of {section['repeats']})")
        print(f"  floor (trivial run, whole process)        {section['floor']['wall_seconds']:>7.2f} s")
        print(
            f"  catalog db upgrade at deploy (whole process, not in the syncs) "
            f"{section['schema_migration_seconds']:.2f} s"
        )
        for key, title in (
            ("first_sync", "first sync"),
            ("first_sync_one_writer", "first sync, one provider written at a time"),
            ("unchanged_sync_etag", "unchanged re-sync (ETag, 304)"),
            ("unchanged_sync_digest", "unchanged re-sync (no ETag, digest)"),
        ):
            if key not in section:
                continue
            run = section[key]
            print(
                f"  {title:<40} {run['wall_seconds']:>7.2f} s  {run['floors']:.2f}x floor  op {run['op_seconds']:.2f} s  "
                f"peak {run['peak_rss_mib']:.0f} MiB  cpu {run['cpu_seconds']:.1f} s"
            )
        first = section["first_sync"]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in first["stages_summed"].items())
        print(f"  first sync stages (s, summed over providers): fetch {first['fetch_seconds_summed']:.2f}, {stages}")
        print(
            f"  Dagster run overhead (run - op) {first['dagster_run_overhead_seconds']:.2f} s; start-up + Dagster "
            f"{first['dagster_and_startup_seconds']:.2f} s; reconcile {section['reconcile']['wall_seconds']:.2f} s"
        )
        rows = first["rows"]
        print(
            f"  first write: {rows['models']} models, {rows['all_tables']} rows in all tables; models "
            f"{rows['models_rows_per_second_models_stage']} rows/s (models stage), all tables "
            f"{rows['all_rows_per_second_write_stages']} rows/s (write stages)"
        )
        if "first_sync_one_writer" in section:
            single = section["first_sync_one_writer"]
            print(
                f"  first write, one provider at a time: models {single['rows']['models_rows_per_second_models_stage']}"
                f" rows/s (models stage); stages {', '.join(f'{k} {v:.2f}' for k, v in single['stages_summed'].items())}"
            )
        print(f"  rows written by the unchanged re-sync: {section['unchanged_sync_etag']['rows_written']}")
        print(
            f"  catalog: {section['catalog_bytes']} bytes, {section['catalog_bytes_per_model']} bytes/model; snapshots "
            f"{section['snapshot_bytes']} bytes, at most {section['snapshots_max_per_provider']} per provider; "
            f"Dagster instance: {section['dagster_instance']}"
        )
    if figures.get("writer"):
        print("\n-- writer alone (18,000 synthetic models)")
        for database, result in figures["writer"].items():
            print(f"  {database}: " + ", ".join(f"{k} {v}" for k, v in result.items() if k != "database"))
    print("\n-- targets")
    for name, verdict in figures.get("targets", {}).items():
        print(f"  {'MET ' if verdict['met'] else 'MISS'}  {name}: {verdict['value']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")), help="one repeat, 10k/30k series"
    )
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--skip-scale", action="store_true", help="no scale series (the stored one is kept)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    figures: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
            "python": platform.python_version(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        },
        "sync": {},
    }
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as folder:
        work = Path(folder)

        def sqlite_url_for(label: str) -> str:
            return f"sqlite:///{work / (label + '.db')}"

        with replay_server(1.0) as url:
            warm(url, _slugs())
            print("sync, SQLite ...", flush=True)
            figures["sync"]["sqlite"] = sync_section("sqlite", sqlite_url_for, url, work, repeats)
            if not args.skip_postgres:
                from catalog_pipeline_tests.postgres_server import create_database, postgres_server

                print("sync, PostgreSQL ...", flush=True)
                with postgres_server() as server_url:
                    figures["sync"]["postgresql"] = sync_section(
                        "postgresql",
                        lambda label: create_database(server_url, prefix="bench"),
                        url,
                        work,
                        repeats,
                        dagster_pg_for=lambda repeat: create_database(server_url, prefix="dagster"),
                        one_writer=True,
                    )
        if not args.skip_scale:
            print(f"scale series {sizes} ...", flush=True)
            figures["scale"] = scale_section(sizes, work, sqlite_url_for)
    print("writer alone ...", flush=True)
    figures["writer"] = writer_section(not args.skip_postgres)
    figures["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if "scale" in figures:
        figures["plot"] = str(plot(figures) or "")
        figures["scale_date"] = figures["date"]
    elif "scale" in merged:
        # --skip-scale keeps the last scale series (and its plot), labelled with the date it was measured
        figures["scale"] = merged["scale"]
        figures["scale_date"] = merged.get("scale_date", merged.get("date"))
    figures["targets"] = verdicts(figures)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged.update(figures)  # other modules' sections (the API's) stay
    RESULTS.write_text(json.dumps(merged, indent=2, default=str) + "\n")
    print_report(figures)
    if "scale" in figures and figures.get("scale_date") != figures["date"]:
        print(f"(scale series and its 1M targets: kept from the run of {figures.get('scale_date')})")
    print(f"load average before {figures['machine']['load_average']}, after {figures['machine']['load_average_after']}")
    plotted = figures.get("scale_date") == figures["date"]
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}" + (f" and {PLOT.relative_to(ROOT)}" if plotted else ""))


if __name__ == "__main__":
    main()
