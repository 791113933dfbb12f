"""Lifecycle (deprecation date, provider status), price tiers, the answering endpoint, wire-format drift

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # All nullable: rows written before this migration did not know these facts. Existing models
    # get them on their next sync (their content hash covers the new fields, so they are rewritten once).
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deprecation_date', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('provider_status', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_models_deprecation_date', ['deprecation_date'], unique=False)
    with op.batch_alter_table('model_pricing', schema=None) as batch_op:
        batch_op.add_column(sa.Column('threshold_tokens', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('pricing_sync_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('endpoint', sa.String(length=64), nullable=True))
    with op.batch_alter_table('provider_catalog_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('endpoint', sa.String(length=64), nullable=True))
    op.create_table(
        'payload_key_observations',
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('key_path', sa.String(length=256), nullable=False),
        sa.Column('endpoint', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('entries_with_key', sa.Integer(), nullable=False),
        sa.Column('sample_value', sa.Text(), nullable=True),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name='fk_payload_key_observations_provider_id_providers'),
        sa.PrimaryKeyConstraint('provider_id', 'endpoint', 'key_path', name='pk_payload_key_observations'),
    )


def downgrade() -> None:
    op.drop_table('payload_key_observations')
    with op.batch_alter_table('provider_catalog_snapshots', schema=None) as batch_op:
        batch_op.drop_column('endpoint')
    with op.batch_alter_table('pricing_sync_log', schema=None) as batch_op:
        batch_op.drop_column('endpoint')
    with op.batch_alter_table('model_pricing', schema=None) as batch_op:
        batch_op.drop_column('threshold_tokens')
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_index('ix_models_deprecation_date')
        batch_op.drop_column('provider_status')
        batch_op.drop_column('deprecation_date')
