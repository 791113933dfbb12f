"""catalog_reconciliation_history: stale models (stored active, no longer listed) beside missing

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows written before this migration kept a signed `missing` and no `stale`.
    with op.batch_alter_table('catalog_reconciliation_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stale', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('catalog_reconciliation_history', schema=None) as batch_op:
        batch_op.drop_column('stale')
