"""Write throughput of the catalog writer on SQLite and PostgreSQL.

Run with ``python -m benchmarks.sync_benchmark`` (``make bench``). It generates
18,000 synthetic models spread over a few synthetic providers (independent of how
many providers the registry holds), and for each database:

1. first sync: every model is new; prints models per second and rows per second
   over all the rows it writes (each model also gets its current prices in
   `model_pricing` and their first `price_history` rows);
2. unchanged re-sync: prints rows written (must be 0) and, on PostgreSQL, proves
   it from the server side: no row of `models` got a new tuple version (``xmin``);
3. price change: 5% of the models change price; prints models written and the
   price_history rows it added.

PostgreSQL is a throwaway server started from the installed binaries (as the
test suite does), or ``CATALOG_TEST_POSTGRES_URL``. Timings are wall clock around
`CatalogWriter.write_provider`, after migrations, on whatever machine runs this.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.providers.normalize import ModelRecord, NormalizedCatalog, Price, PriceState
from catalog_pipeline.providers.registry import PROVIDERS
from catalog_pipeline.providers.spec import ProviderSpec
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import CatalogWriter
from catalog_pipeline_tests.postgres_server import create_database, postgres_server

TOTAL_MODELS = 18_000
PROVIDER_COUNT = 6
PRICE_CHANGE_SHARE = 0.05
PER_MILLION = "usd_per_million_tokens"


@dataclass(frozen=True)
class SyntheticProvider:
    spec: ProviderSpec
    fetched: FetchResult
    catalog: NormalizedCatalog


def synthetic_providers(
    total: int = TOTAL_MODELS, providers: int = PROVIDER_COUNT, changed_every: int | None = None
) -> list[SyntheticProvider]:
    """`total` models over `providers` synthetic providers; every `changed_every`-th model costs 1.5x."""
    template = next(iter(PROVIDERS.values()))
    result = []
    per_provider = total // providers
    for number in range(providers):
        spec = replace(template, slug=f"benchmark-{number}", name=f"Benchmark provider {number}")
        models = []
        for index in range(per_provider):
            factor = Decimal("1.5") if changed_every and index % changed_every == 0 else Decimal(1)
            models.append(_model(number, index, factor))
        fetched = FetchResult(
            provider=spec.slug,
            url=f"https://benchmark.invalid/{spec.slug}/models",
            entries=[{"id": m.provider_model_id} for m in models],
            pages=1,
            bytes=0,
            latency_ms=0.0,
            http_status=200,
            attempts=1,
        )
        result.append(SyntheticProvider(spec, fetched, NormalizedCatalog(models=models, rejections=[])))
    return result


def _model(provider: int, index: int, factor: Decimal) -> ModelRecord:
    input_price = (Decimal(index % 97 + 1) / Decimal(20) * factor).quantize(Decimal("0.000001"))
    prices = {
        "input": Price(input_price, PriceState.KNOWN, PER_MILLION),
        "output": Price(input_price * 3, PriceState.KNOWN, PER_MILLION),
    }
    if index % 10 == 0:
        prices["cache_read"] = Price(input_price / 10, PriceState.KNOWN, PER_MILLION)
    return ModelRecord(
        provider_model_id=f"org-{index % 50}/model-{provider}-{index:06d}",
        name=f"Model {provider}-{index}",
        canonical_slug=f"org-{index % 50}/model-{index:06d}",
        context_length=4096 * (1 + index % 32),
        max_output_tokens=4096,
        input_modalities="text",
        output_modalities="text",
        prices=prices,
    )


def _sync(writer: CatalogWriter, providers: list[SyntheticProvider]) -> tuple[float, int, int, float]:
    """Write every provider; returns (seconds, models rows written, price changes, seconds of the models statements)."""
    started = time.perf_counter()
    written = changes = 0
    models_seconds = 0.0
    for provider in providers:
        counts = writer.write_provider(provider.spec, provider.fetched, provider.catalog, run_id="benchmark")
        written += counts.rows_written
        changes += len(counts.price_changes)
        models_seconds += counts.seconds["models"]
    return time.perf_counter() - started, written, changes, models_seconds


def _copy_ceiling(engine: sa.Engine) -> int:
    """A gauge of the machine's speed across runs: one text COPY of every stored model into a temporary
    table with the same columns and indexes (no write-ahead log, no foreign key, no ids read back), in one
    transaction, rolled back. Faster than `models` itself can be written: see `_server_ceiling`."""
    from catalog_pipeline.storage.writer import _MODEL_COLUMNS

    columns = ", ".join(_MODEL_COLUMNS)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT {columns} FROM models")).all()
        connection.exec_driver_sql("CREATE TEMP TABLE models_ceiling (LIKE models INCLUDING ALL)")
        cursor = connection.connection.cursor()
        started = time.perf_counter()
        with cursor.copy(f"COPY models_ceiling ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        seconds = time.perf_counter() - started
        connection.rollback()
    return round(len(rows) / seconds)


def _server_ceiling(engine: sa.Engine) -> int:
    """The server's own speed for these rows in `models` itself, with its unique and secondary indexes,
    its foreign key and its write-ahead log: the stored rows are encoded once beforehand (a binary
    ``COPY TO``), so no client work is timed, then loaded into the emptied table by one binary ``COPY``,
    in one transaction, rolled back. What the writer's `models` stage cannot beat on this server."""
    from catalog_pipeline.storage.writer import _MODEL_COLUMNS

    columns = ", ".join(_MODEL_COLUMNS)
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        payload = bytearray()
        with cursor.copy(f"COPY models ({columns}) TO STDOUT (FORMAT BINARY)") as copy:
            for chunk in copy:
                payload += chunk
        rows = connection.execute(sa.select(sa.func.count()).select_from(schema.models)).scalar_one()
        connection.exec_driver_sql("TRUNCATE models CASCADE")
        started = time.perf_counter()
        with cursor.copy(f"COPY models ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(bytes(payload))
        seconds = time.perf_counter() - started
        connection.rollback()
    return round(rows / seconds)


def _tuple_versions(engine: sa.Engine) -> dict[int, str]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.text("SELECT id, xmin::text FROM models")).all())


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _all_rows(engine: sa.Engine) -> int:
    return sum(_count(engine, table) for table in (schema.models, schema.model_pricing, schema.price_history))


def benchmark(label: str, url: str) -> dict[str, object]:
    engine = create_catalog_engine(url)
    writer = CatalogWriter(engine)  # migrations run here, outside the timings
    seconds, written, _, models_seconds = _sync(writer, synthetic_providers())
    all_rows = _all_rows(engine)
    figures: dict[str, object] = {
        "database": label,
        "first sync: seconds": round(seconds, 3),
        "first sync: models written": written,
        "first sync: models/s": round(written / seconds),
        "first sync: models/s, models table alone": round(written / models_seconds),
        "first sync: rows written, all tables": all_rows,
        "first sync: rows/s, all tables": round(all_rows / seconds),
    }
    if engine.dialect.name == "postgresql":
        figures["server ceiling: models/s, plain COPY of the same rows"] = _copy_ceiling(engine)
        figures["server ceiling: models/s, the same rows pre-encoded into models"] = _server_ceiling(engine)
    versions = _tuple_versions(engine) if engine.dialect.name == "postgresql" else None
    seconds, written, _, _ = _sync(writer, synthetic_providers())
    figures["re-sync: seconds"] = round(seconds, 3)
    figures["re-sync: models written"] = written
    figures["re-sync: rows written, all tables"] = _all_rows(engine) - all_rows + written
    if versions is not None:
        figures["re-sync: model rows rewritten (xmin)"] = sum(
            1 for key, value in _tuple_versions(engine).items() if versions.get(key) != value
        )
    history_before = _count(engine, schema.price_history)
    changed_every = round(1 / PRICE_CHANGE_SHARE)
    seconds, written, changes, _ = _sync(writer, synthetic_providers(changed_every=changed_every))
    figures[f"{PRICE_CHANGE_SHARE:.0%} price change: seconds"] = round(seconds, 3)
    figures[f"{PRICE_CHANGE_SHARE:.0%} price change: models written"] = written
    figures[f"{PRICE_CHANGE_SHARE:.0%} price change: price_history rows"] = (
        _count(engine, schema.price_history) - history_before
    )
    engine.dispose()
    return figures


def _print(results: list[dict[str, object]]) -> None:
    keys = list(dict.fromkeys(key for result in results for key in result))
    width = max(len(key) for key in keys)
    print(f"{'':<{width}}  " + "  ".join(f"{str(r['database']):>12}" for r in results))
    for key in keys[1:]:
        print(f"{key:<{width}}  " + "  ".join(f"{str(r.get(key, '-')):>12}" for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-postgres", action="store_true", help="only SQLite")
    args = parser.parse_args()
    print(f"{TOTAL_MODELS} synthetic models over {PROVIDER_COUNT} providers\n")
    results = []
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as folder:
        results.append(benchmark("sqlite", f"sqlite:///{Path(folder) / 'catalog.db'}"))
    if not args.skip_postgres:
        with postgres_server() as server_url:
            results.append(benchmark("postgresql", create_database(server_url, prefix="catalog_bench")))
    _print(results)


if __name__ == "__main__":
    main()
