"""Held changes: price and context-length anomalies kept back for a person to accept

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'held_changes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=32), nullable=False),
        sa.Column('rule', sa.String(length=32), nullable=False),
        sa.Column('old_value', sa.Numeric(precision=30, scale=12), nullable=True),
        sa.Column('new_value', sa.Numeric(precision=30, scale=12), nullable=True),
        sa.Column('unit', sa.String(length=32), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('first_held_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_held_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('dagster_run_id', sa.String(length=64), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_run_id', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name='fk_held_changes_provider_id_providers'),
        sa.ForeignKeyConstraint(['model_id'], ['models.id'], name='fk_held_changes_model_id_models'),
        sa.PrimaryKeyConstraint('id', name='pk_held_changes'),
    )
    with op.batch_alter_table('held_changes', schema=None) as batch_op:
        batch_op.create_index('ix_held_changes_provider_id_status', ['provider_id', 'status'], unique=False)
        batch_op.create_index('ix_held_changes_model_id_field', ['model_id', 'field'], unique=False)
    with op.batch_alter_table('pricing_sync_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('models_held', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pricing_sync_log', schema=None) as batch_op:
        batch_op.drop_column('models_held')
    with op.batch_alter_table('held_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_held_changes_model_id_field')
        batch_op.drop_index('ix_held_changes_provider_id_status')
    op.drop_table('held_changes')
