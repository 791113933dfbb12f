"""Alembic migrations of the catalog database: the same scripts upgrade and downgrade
SQLite and PostgreSQL, match the declared schema exactly, and run before the first write."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import (
    create_catalog_engine,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from catalog_pipeline.storage.writer import CatalogWriter, SyncCounts
from catalog_pipeline_tests.storage_helpers import cli_environment, run_cli

HEAD = "0008"
#: Tables and columns that dashboards query directly (DESIGN.md); a migration must never rename them.
DASHBOARD_COLUMNS = {
    "providers": {"id", "slug", "name"},
    "models": {"id", "provider_id", "provider_model_id", "is_active", "first_seen_at", "last_seen_at", "updated_at"},
    "model_pricing": {"model_id", "price_type", "amount"},
    "pricing_sync_log": {
        "provider_slug",
        "sync_started_at",
        "sync_finished_at",
        "status",
        "models_fetched",
        "models_updated",
        "error_message",
        "dagster_run_id",
    },
}


def schema_differences(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), schema.metadata)


def columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table)}


def test_upgrade_downgrade_upgrade_round_trip_keeps_data(database_url):
    """Head matches schema.py exactly; downgrading to 0001 drops only the later columns (rows
    survive), downgrading to base drops every table, and upgrading again restores head."""
    engine = create_catalog_engine(database_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision() == HEAD
    assert schema_differences(engine) == []
    for table, names in DASHBOARD_COLUMNS.items():
        assert names <= columns(engine, table), table
    with engine.begin() as connection:
        connection.execute(
            schema.pricing_sync_log.insert().values(
                provider_slug="groq",
                sync_started_at=datetime.now(UTC),
                status="success",
                models_fetched=7,
                models_updated=7,
                models_inserted=7,
                models_deactivated=0,
                models_unchanged=0,
                models_rejected=0,
                price_changes=0,
                models_active_before=0,
            )
        )

    downgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "models_active_before" not in columns(engine, "pricing_sync_log")
    assert "stale" not in columns(engine, "catalog_reconciliation_history")
    assert "ix_pricing_sync_log_dagster_run_id" not in {
        i["name"] for i in sa.inspect(engine).get_indexes("pricing_sync_log")
    }
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT provider_slug, models_fetched FROM pricing_sync_log").all() == [
            ("groq", 7)
        ]

    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(
            sa.select(schema.pricing_sync_log.c.models_fetched, schema.pricing_sync_log.c.models_active_before)
        ).all() == [(7, None)]

    downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == HEAD
    assert schema_differences(engine) == []
    engine.dispose()


def test_first_write_upgrades_an_older_schema(database_url):
    """A database left at an older revision is brought to head by the first writer, before it writes."""
    engine = create_catalog_engine(database_url)
    upgrade(engine, "0001")
    writer = CatalogWriter(engine)
    assert current_revision(engine) == HEAD
    writer.log_sync("groq", datetime.now(UTC), "success", SyncCounts("groq", active_before=3, would_deactivate=0))
    with engine.connect() as connection:
        assert connection.execute(sa.select(schema.pricing_sync_log.c.models_active_before)).scalar_one() == 3
    engine.dispose()


def test_db_commands_of_the_cli(tmp_path, database_url):
    """`catalog-pipeline db upgrade|downgrade|current` as an operator runs them."""
    environment = cli_environment(tmp_path / "dagster_home", database_url, None)
    upgraded = run_cli(["db", "upgrade"], environment)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"at revision {HEAD} (head {HEAD})" in upgraded.stdout

    downgraded = run_cli(["db", "downgrade", "0001"], environment)
    assert downgraded.returncode == 0, downgraded.stderr
    assert f"at revision 0001 (head {HEAD})" in run_cli(["db", "current"], environment).stdout

    again = run_cli(["db", "upgrade"], environment)
    assert again.returncode == 0 and f"at revision {HEAD}" in again.stdout
    assert schema_differences(create_catalog_engine(database_url)) == []


def test_0003_adds_lifecycle_tiers_endpoint_and_drift_and_reverts_cleanly(database_url):
    """0003 adds models.deprecation_date/provider_status, model_pricing.threshold_tokens, the endpoint
    columns and payload_key_observations; downgrading to 0002 removes exactly those and keeps the rows."""
    engine = create_catalog_engine(database_url)
    upgrade(engine)
    assert {"deprecation_date", "provider_status"} <= columns(engine, "models")
    assert "threshold_tokens" in columns(engine, "model_pricing")
    assert "endpoint" in columns(engine, "pricing_sync_log")
    with engine.begin() as connection:
        connection.execute(
            schema.pricing_sync_log.insert().values(
                provider_slug="xai", sync_started_at=datetime.now(UTC), status="success", endpoint="models"
            )
        )
    downgrade(engine, "0002")
    assert "payload_key_observations" not in sa.inspect(engine).get_table_names()
    assert "deprecation_date" not in columns(engine, "models")
    assert "endpoint" not in columns(engine, "pricing_sync_log")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT provider_slug FROM pricing_sync_log").all() == [("xai",)]
    upgrade(engine)
    assert schema_differences(engine) == []
    engine.dispose()


def test_0004_adds_held_changes_and_reverts_cleanly(database_url):
    """0004 adds held_changes and pricing_sync_log.models_held; downgrading to 0003 removes exactly
    those and keeps the sync log's rows."""
    engine = create_catalog_engine(database_url)
    upgrade(engine)
    assert "held_changes" in sa.inspect(engine).get_table_names()
    assert "models_held" in columns(engine, "pricing_sync_log")
    with engine.begin() as connection:
        connection.execute(
            schema.pricing_sync_log.insert().values(
                provider_slug="groq", sync_started_at=datetime.now(UTC), status="success", models_held=2
            )
        )
    downgrade(engine, "0003")
    assert "held_changes" not in sa.inspect(engine).get_table_names()
    assert "models_held" not in columns(engine, "pricing_sync_log")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT provider_slug FROM pricing_sync_log").all() == [("groq",)]
    upgrade(engine)
    assert schema_differences(engine) == []
    engine.dispose()


def _deprecation_index(connection: sa.Connection) -> str:
    """The stored definition of ix_models_deprecation_date, as the database itself reports it."""
    if connection.dialect.name == "postgresql":
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_models_deprecation_date'"
    else:
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ix_models_deprecation_date'"
    return connection.exec_driver_sql(query).scalar_one()


def _plan_of_dated_models(connection: sa.Connection) -> str:
    """The plan of the lifecycle check's question (active models with a date before a horizon)."""
    models = schema.models
    query = (
        sa.select(models.c.provider_model_id)
        .where(
            models.c.is_active, models.c.deprecation_date.is_not(None), models.c.deprecation_date <= sa.bindparam("h")
        )
        .compile(connection, compile_kwargs={"literal_binds": False})
    )
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {query}", {"h": datetime.now(UTC)}).all()
    else:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}", (datetime.now(UTC).isoformat(),)).all()
    return " ".join(str(value) for row in rows for value in row)


def test_0008_indexes_only_models_with_a_deprecation_date_and_reverts_cleanly(database_url):
    """0008 makes ix_models_deprecation_date partial (rows with a date), and the lifecycle question still
    reads it; downgrading to 0007 restores the index over every row."""
    engine = create_catalog_engine(database_url)
    upgrade(engine)
    with engine.begin() as connection:
        definition = _deprecation_index(connection)
        assert "deprecation_date IS NOT NULL" in definition.replace("(", "").replace(")", ""), definition
        assert "ix_models_deprecation_date" in _plan_of_dated_models(connection)
    downgrade(engine, "0007")
    with engine.connect() as connection:
        assert "WHERE" not in _deprecation_index(connection).upper()
    upgrade(engine)
    assert schema_differences(engine) == []
    engine.dispose()
