"""models.deprecation_date is indexed only where a model has one

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:20:00

Almost every model has no deprecation date, and every query on the column asks for models that have
one (the lifecycle check, the service): the index keeps only those rows, so a first sync no longer
maintains an index entry per model for nothing, and the catalog is smaller.
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_HAS_DATE = 'deprecation_date IS NOT NULL'


def upgrade() -> None:
    op.drop_index('ix_models_deprecation_date', table_name='models')
    op.create_index(
        'ix_models_deprecation_date', 'models', ['deprecation_date'],
        postgresql_where=sa.text(_HAS_DATE), sqlite_where=sa.text(_HAS_DATE),
    )


def downgrade() -> None:
    op.drop_index('ix_models_deprecation_date', table_name='models')
    op.create_index('ix_models_deprecation_date', 'models', ['deprecation_date'])
