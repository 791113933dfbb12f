"""Snapshot history (bounded, one row per changed list), conditional-request validators, payload digests; sync log says whether the list changed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


_COMMON = ('provider_id', 'fetched_at', 'dagster_run_id', 'url', 'live_count', 'pages', 'bytes', 'latency_ms',
           'http_status', 'payload_gzip', 'endpoint')


def upgrade() -> None:
    # One row per provider becomes a history: a new table, the stored snapshots copied over (their payload
    # is the old gzip JSON array of entries, and their models were written from them), the old one dropped.
    op.create_table(
        'provider_catalog_snapshots_0007',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('dagster_run_id', sa.String(length=64), nullable=True),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('live_count', sa.Integer(), nullable=False),
        sa.Column('pages', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('latency_ms', sa.Numeric(precision=12, scale=1), nullable=False),
        sa.Column('http_status', sa.Integer(), nullable=False),
        sa.Column('payload_format', sa.String(length=16), nullable=False),
        sa.Column('payload_gzip', sa.LargeBinary(), nullable=False),
        sa.Column('payload_sha256', sa.String(length=64), nullable=True),
        sa.Column('validators', sa.Text(), nullable=True),
        sa.Column('applied', sa.Boolean(), nullable=False),
        sa.Column('model_ids_digest', sa.String(length=32), nullable=True),
        sa.Column('endpoint', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name='fk_provider_catalog_snapshots_provider_id_providers'),
        sa.PrimaryKeyConstraint('id', name='pk_provider_catalog_snapshots_0007'),
    )
    columns = ', '.join(_COMMON)
    op.execute(
        f"INSERT INTO provider_catalog_snapshots_0007 ({columns}, payload_format, applied) "
        f"SELECT {columns}, 'entries', true FROM provider_catalog_snapshots"
    )
    op.drop_table('provider_catalog_snapshots')
    op.rename_table('provider_catalog_snapshots_0007', 'provider_catalog_snapshots')
    _rename_primary_key('pk_provider_catalog_snapshots_0007')
    op.create_index('ix_provider_catalog_snapshots_provider_id_id', 'provider_catalog_snapshots', ['provider_id', 'id'])
    with op.batch_alter_table('pricing_sync_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('catalog_change', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pricing_sync_log', schema=None) as batch_op:
        batch_op.drop_column('catalog_change')
    # Back to one row per provider: its latest snapshot in the old format. Snapshots stored as raw pages
    # cannot be read by the old code, so only those kept as entries survive.
    op.create_table(
        'provider_catalog_snapshots_0003',
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('dagster_run_id', sa.String(length=64), nullable=True),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('live_count', sa.Integer(), nullable=False),
        sa.Column('pages', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('latency_ms', sa.Numeric(precision=12, scale=1), nullable=False),
        sa.Column('http_status', sa.Integer(), nullable=False),
        sa.Column('payload_gzip', sa.LargeBinary(), nullable=False),
        sa.Column('endpoint', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name='fk_provider_catalog_snapshots_provider_id_providers'),
        sa.PrimaryKeyConstraint('provider_id', name='pk_provider_catalog_snapshots_0003'),
    )
    columns = ', '.join(_COMMON)
    op.execute(
        f"INSERT INTO provider_catalog_snapshots_0003 ({columns}) SELECT {columns} FROM provider_catalog_snapshots s "
        "WHERE s.payload_format = 'entries' AND s.id = (SELECT max(id) FROM provider_catalog_snapshots t "
        "WHERE t.provider_id = s.provider_id AND t.payload_format = 'entries')"
    )
    op.drop_index('ix_provider_catalog_snapshots_provider_id_id', table_name='provider_catalog_snapshots')
    op.drop_table('provider_catalog_snapshots')
    op.rename_table('provider_catalog_snapshots_0003', 'provider_catalog_snapshots')
    _rename_primary_key('pk_provider_catalog_snapshots_0003')


def _rename_primary_key(name: str) -> None:
    # PostgreSQL names the primary key's index, and two tables' indexes cannot share a name while both
    # exist; SQLite keeps constraint names only in the table's text.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'ALTER INDEX {name} RENAME TO pk_provider_catalog_snapshots')
