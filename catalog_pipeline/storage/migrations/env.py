"""Alembic environment: runs on the connection the caller passes in `config.attributes`
(`catalog_pipeline.storage.database` does, holding the migration lock), or on
``sqlalchemy.url`` when Alembic is run by hand."""

from alembic import context
from sqlalchemy import create_engine

from catalog_pipeline.storage.schema import metadata

config = context.config


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
    if given.in_transaction():
        given.commit()
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).connect() as connection:
        run_migrations(connection)
        connection.commit()
