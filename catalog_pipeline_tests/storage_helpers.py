"""Helpers for the storage tests: exact snapshots of a provider's rows, and the real CLI as a process."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def current_instance() -> Iterator[None]:
    """Make a live instance the current one while a module's tests run.

    `dg.materialize` loads definitions with the current instance's definitions-state
    storage. A schedule or sensor context built without `with` (elsewhere in the suite)
    keeps its instance entered; when the garbage collector later finalizes it, the
    current storage is reset to a disposed instance's, at whatever moment the collector
    runs, and loading definitions fails. So: collect that garbage first, then enter a
    live instance. Not an ephemeral one: those share one storage, re-pointed at the
    ephemeral instance created last, which may be collected in turn.
    """
    gc.collect()
    with dg.instance_for_test():
        yield


def provider_tables(database_url: str, slug: str) -> dict[str, list[dict]]:
    """Every stored row about `slug`'s models (models, model_pricing, price_history), in a stable order."""
    models, providers = schema.models, schema.providers
    of_provider = sa.select(models.c.id).join(providers, providers.c.id == models.c.provider_id)
    of_provider = of_provider.where(providers.c.slug == slug)
    queries = {
        "models": sa.select(models).where(models.c.id.in_(of_provider)).order_by(models.c.id),
        "model_pricing": sa.select(schema.model_pricing)
        .where(schema.model_pricing.c.model_id.in_(of_provider))
        .order_by(schema.model_pricing.c.model_id, schema.model_pricing.c.price_type),
        "price_history": sa.select(schema.price_history)
        .where(schema.price_history.c.model_id.in_(of_provider))
        .order_by(schema.price_history.c.id),
    }
    engine = create_catalog_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                name: [dict(row) for row in connection.execute(query).mappings()] for name, query in queries.items()
            }
    finally:
        engine.dispose()


def tuple_versions(database_url: str, slug: str) -> dict[int, str]:
    """PostgreSQL only: ``xmin`` of each of `slug`'s model rows; any rewrite of a row changes it."""
    engine = create_catalog_engine(database_url)
    try:
        with engine.connect() as connection:
            return dict(
                connection.execute(
                    sa.text(
                        "SELECT m.id, m.xmin::text FROM models m JOIN providers p ON p.id = m.provider_id "
                        "WHERE p.slug = :slug"
                    ),
                    {"slug": slug},
                ).all()
            )
    finally:
        engine.dispose()


def dagster_postgres_settings(database_url: str | sa.URL) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads, for the Dagster instance database `database_url`."""
    url = sa.make_url(database_url)
    return {
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username or "",
        "DAGSTER_PG_PASSWORD": "not-checked-by-trust-auth",  # the test server trusts loopback
        "DAGSTER_PG_DB": url.database or "",
    }


def cli_environment(dagster_home: Path, database_url: str, replay_url: str | None, **extra: str) -> dict[str, str]:
    """The process environment for `catalog-pipeline`: no provider keys, our database and replay server."""
    environment = {
        k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith(("CATALOG_", "DAGSTER_"))
    }
    environment.update({"DAGSTER_HOME": str(dagster_home), "CATALOG_DATABASE_URL": database_url, **extra})
    if replay_url:
        environment["CATALOG_REPLAY_URL"] = replay_url
    dagster_home.mkdir(parents=True, exist_ok=True)
    return environment


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "catalog_pipeline.cli", *args]


def run_cli(args: list[str], environment: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_command(*args), env=environment, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT
    )


def start_cli(args: list[str], environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        cli_command(*args),
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=PROJECT_ROOT,
    )
