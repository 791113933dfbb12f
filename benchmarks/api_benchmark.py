"""Speed of the read-only catalog API (`catalog-pipeline serve`) against a live fetch of every provider.

Run with ``python -m benchmarks.api_benchmark`` (``make bench`` runs it after the writer
benchmark). For each database (SQLite, then a throwaway PostgreSQL server):

1. the replay server (in this process) serves all 32 providers, 18,000 models; the real
   ``catalog-pipeline sync`` (a subprocess) stores them;
2. the live fetch the replaced gateway did on a cache miss: every provider's list fetched
   and parsed by the pipeline's HTTP engine, 8 at a time, as a sync fetches them;
3. ``catalog-pipeline serve`` (a subprocess) is asked from this process over loopback:
   ``/models?gateway=all&limit=30000`` (latency until the whole gzip body has arrived: what
   the server delivers; the client's own JSON parse is shown apart) and
   ``/v1/models/{provider}/{id}`` for random models; p50/p99 latency and requests per second,
   sequentially and with 8 concurrent clients. Also the very first request (the list rendered
   on demand) and the first one after a re-sync that changed prices (pre-rendered by the
   server's warmer when the sync committed).

Figures are printed and merged into ``.bench/latest.json`` under ``"api"`` (other keys are
kept). Exit status 1 when ``gateway=all`` is not at least 10x faster than the live fetch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import httpx

from catalog_pipeline.http_engine import CatalogHttpEngine
from catalog_pipeline.providers.registry import PROVIDERS
from catalog_pipeline.replay.server import Fault, ReplayServer
from catalog_pipeline_tests.postgres_server import create_database, postgres_server
from catalog_pipeline_tests.service_helpers import serve
from catalog_pipeline_tests.test_cli_e2e import cli_environment, run_cli

RESULTS = Path(".bench/latest.json")
REQUIRED_SPEEDUP = 10.0
GATEWAY_ALL = "/models?gateway=all&limit=30000"
GATEWAY_REQUESTS = 30
MODEL_REQUESTS = 400
CONCURRENT_CLIENTS = 8
LIVE_FETCH_ROUNDS = 3
#: Longer than the server's warmer interval (2 s) plus one rendering of the catalog.
WARMER_WAIT_SECONDS = 6


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def live_fetch_seconds(replay_url: str) -> tuple[float, int]:
    """Median wall time of fetching and parsing every provider's list, 8 providers at a time."""
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    timings, models = [], 0
    for _ in range(LIVE_FETCH_ROUNDS):
        engine = CatalogHttpEngine(environment, replay_url=replay_url)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(engine.fetch, PROVIDERS.values()))
        timings.append(time.perf_counter() - started)
        engine.close()
        models = sum(len(result.entries) for result in results)
    return statistics.median(timings), models


def timed(requests: int, clients: int, call: Callable[[httpx.Client, int], None]) -> dict[str, float]:
    """Latency percentiles (ms) and throughput of `requests` calls spread over `clients` threads."""
    latencies: list[float] = []

    def worker(offset: int) -> None:
        with httpx.Client(timeout=120) as client:
            for number in range(offset, requests, clients):
                started = time.perf_counter()
                call(client, number)
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "requests/s": round(requests / elapsed, 1),
        "p50 ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99 ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def benchmark(label: str, database_url: str, replay: ReplayServer, folder: Path, live_seconds: float) -> dict:
    environment = cli_environment(folder, database_url, replay.url)
    synced = run_cli(["sync"], environment, timeout=600)
    if synced.returncode != 0:
        raise RuntimeError(f"sync failed: {synced.stdout[-2000:]}{synced.stderr[-2000:]}")
    figures: dict[str, object] = {"database": label}
    with serve(database_url, folder / "serve.log") as base:
        with httpx.Client(timeout=120) as client:
            started = time.perf_counter()
            first = client.get(base + GATEWAY_ALL)
            cold = time.perf_counter() - started
            listed = first.json()["data"]
        figures["models served by gateway=all"] = len(listed)
        figures["gateway=all: first request ever (rendered on demand), ms"] = round(cold * 1000, 1)

        replay.state.faults["together"] = Fault(price_multiplier=Decimal("1.5"))
        resynced = run_cli(["sync", "--provider", "together"], environment, timeout=600)
        replay.state.faults.clear()
        if resynced.returncode != 0:
            raise RuntimeError(f"re-sync failed: {resynced.stdout[-2000:]}")
        time.sleep(WARMER_WAIT_SECONDS)
        with httpx.Client(timeout=120) as client:
            started = time.perf_counter()
            with client.stream("GET", base + GATEWAY_ALL, headers={"Accept-Encoding": "gzip"}) as response:
                b"".join(response.iter_raw())
            figures["gateway=all: first request after a re-sync (pre-rendered), ms"] = round(
                (time.perf_counter() - started) * 1000, 1
            )

        def gateway_all(client: httpx.Client, _number: int) -> None:
            with client.stream("GET", base + GATEWAY_ALL, headers={"Accept-Encoding": "gzip"}) as response:
                body = b"".join(response.iter_raw())
            assert response.status_code == 200 and body

        def gateway_all_parsed(client: httpx.Client, _number: int) -> None:
            response = client.get(base + GATEWAY_ALL, headers={"Accept-Encoding": "gzip"})
            assert len(response.json()["data"]) == len(listed)

        for clients in (1, CONCURRENT_CLIENTS):
            for key, value in timed(GATEWAY_REQUESTS, clients, gateway_all).items():
                figures[f"gateway=all, {clients} client(s): {key}"] = value
        parsed = timed(10, 1, gateway_all_parsed)
        figures["gateway=all, 1 client, gunzipped and JSON-parsed by the client: p50 ms"] = parsed["p50 ms"]
        p50 = figures["gateway=all, 1 client(s): p50 ms"]
        figures["gateway=all speed-up over the live fetch (p50)"] = round(live_seconds * 1000 / p50, 1)
        figures["gateway=all speed-up over the live fetch (first request ever)"] = round(live_seconds / cold, 1)

        picks = random.Random(7).sample(listed, MODEL_REQUESTS)
        paths = [f"{base}/v1/models/{quote(m['provider_slug'], safe='')}/{quote(m['id'], safe='/')}" for m in picks]

        def one_model(client: httpx.Client, number: int) -> None:
            assert client.get(paths[number]).status_code == 200

        for clients in (1, CONCURRENT_CLIENTS):
            for key, value in timed(MODEL_REQUESTS, clients, one_model).items():
                figures[f"/v1/models/{{provider}}/{{id}}, {clients} client(s): {key}"] = value
    return figures


def merge_results(results: dict) -> None:
    """Write ``{"api": results}`` into .bench/latest.json, keeping whatever else is there."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    existing: dict = {}
    if RESULTS.exists():
        try:
            existing = json.loads(RESULTS.read_text())
        except ValueError:
            existing = {}
    existing["api"] = results
    temporary = RESULTS.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    temporary.replace(RESULTS)


def _print(live_seconds: float, live_models: int, runs: list[dict]) -> None:
    print(
        f"live fetch of all {len(PROVIDERS)} providers from the replay server: {live_seconds * 1000:.0f} ms "
        f"(median of {LIVE_FETCH_ROUNDS}, {live_models} models, fetched and parsed 8 at a time)\n"
    )
    keys = list(dict.fromkeys(key for run in runs for key in run))
    width = max(len(key) for key in keys)
    print(f"{'':<{width}}  " + "  ".join(f"{str(run['database']):>12}" for run in runs))
    for key in keys[1:]:
        print(f"{key:<{width}}  " + "  ".join(f"{str(run.get(key, '-')):>12}" for run in runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-postgres", action="store_true", help="only SQLite")
    args = parser.parse_args()
    replay = ReplayServer(port=0)
    replay.start_in_background()
    try:
        live_seconds, live_models = live_fetch_seconds(replay.url)
        runs = []
        with tempfile.TemporaryDirectory(prefix="catalog-api-bench-") as folder:
            runs.append(
                benchmark("sqlite", f"sqlite:///{Path(folder) / 'catalog.db'}", replay, Path(folder), live_seconds)
            )
        if not args.skip_postgres:
            with postgres_server() as server_url, tempfile.TemporaryDirectory(prefix="catalog-api-bench-") as folder:
                url = create_database(server_url, prefix="catalog_api_bench")
                runs.append(benchmark("postgresql", url, replay, Path(folder), live_seconds))
    finally:
        replay.shutdown()
        replay.server_close()
    _print(live_seconds, live_models, runs)
    merge_results(
        {
            "live fetch of all providers, ms": round(live_seconds * 1000, 1),
            "live fetch: models": live_models,
            "runs": runs,
            "measured at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    slowest = min(float(run["gateway=all speed-up over the live fetch (p50)"]) for run in runs)
    print(
        f"\ngateway=all is {slowest:g}x faster than the live fetch (needs {REQUIRED_SPEEDUP:g}x); figures in {RESULTS}"
    )
    return 0 if slowest >= REQUIRED_SPEEDUP else 1


if __name__ == "__main__":
    raise SystemExit(main())
