"""model_changes: the change feed (added, deactivated, reactivated, price and limit changes, ...)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dagster_run_id', sa.String(length=64), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_model_changes_model_id_models')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_model_changes_provider_id_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_changes'))
    )
    with op.batch_alter_table('model_changes', schema=None) as batch_op:
        batch_op.create_index('ix_model_changes_provider_id_id', ['provider_id', 'id'], unique=False)
        batch_op.create_index('ix_model_changes_model_id_id', ['model_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('model_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_model_changes_model_id_id')
        batch_op.drop_index('ix_model_changes_provider_id_id')
    op.drop_table('model_changes')
