"""pricing_sync_log: the mass-deactivation guard's numbers, and an index on the run id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows written before this migration did not record the numbers.
    with op.batch_alter_table('pricing_sync_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('models_active_before', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('models_would_deactivate', sa.Integer(), nullable=True))
        batch_op.create_index('ix_pricing_sync_log_dagster_run_id', ['dagster_run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pricing_sync_log', schema=None) as batch_op:
        batch_op.drop_index('ix_pricing_sync_log_dagster_run_id')
        batch_op.drop_column('models_would_deactivate')
        batch_op.drop_column('models_active_before')
