"""The catalog database's tables (SQLAlchemy Core).

`providers`, `models`, `model_pricing` and `pricing_sync_log` keep the names and
columns that existing dashboards query; the rest sit beside them. Alembic
migrations in `catalog_pipeline/storage/migrations` create and change them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Exact decimals: 12 fractional digits hold USD per million tokens down to 1e-12.
PRICE = Numeric(24, 12, asdecimal=True)
TIMESTAMP = DateTime(timezone=True)

providers = Table(
    "providers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    Column("last_synced_at", TIMESTAMP),
    Column("last_sync_status", String(16)),
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_id", Integer, ForeignKey("providers.id"), nullable=False),
    Column("provider_model_id", String(512), nullable=False),
    Column("canonical_slug", String(512), nullable=False),
    Column("name", String(512)),
    Column("context_length", BigInteger),
    Column("max_output_tokens", BigInteger),
    Column("input_modalities", String(256)),
    Column("output_modalities", String(256)),
    Column("input_price_per_million", PRICE),
    Column("output_price_per_million", PRICE),
    Column("price_status", String(16), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("first_seen_at", TIMESTAMP, nullable=False),
    Column("last_seen_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    Column("deactivated_at", TIMESTAMP),
    # Lifecycle (migration 0003): the date the provider says it stops serving the model, and
    # the provider's own state flag (Groq `active`, NEAR `is_ready`, Fireworks `state`).
    Column("deprecation_date", TIMESTAMP),
    Column("provider_status", String(32)),
    UniqueConstraint("provider_id", "provider_model_id"),
    Index("ix_models_provider_id_is_active", "provider_id", "is_active"),
    Index("ix_models_canonical_slug", "canonical_slug"),
    # only the models that have a date (migration 0008): every query on it asks for those
    Index(
        "ix_models_deprecation_date",
        "deprecation_date",
        postgresql_where=text("deprecation_date IS NOT NULL"),
        sqlite_where=text("deprecation_date IS NOT NULL"),
    ),
)

model_pricing = Table(
    "model_pricing",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("price_type", String(32), primary_key=True),
    Column("amount", PRICE),
    Column("state", String(16), nullable=False),
    Column("unit", String(32), nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    # A tier price (`<kind>_long_context`) applies to prompts above this many tokens (migration 0003).
    Column("threshold_tokens", BigInteger),
)

price_history = Table(
    "price_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("price_type", String(32), nullable=False),
    Column("old_amount", PRICE),
    Column("new_amount", PRICE),
    Column("old_state", String(16)),
    Column("new_state", String(16), nullable=False),
    Column("unit", String(32), nullable=False),
    Column("changed_at", TIMESTAMP, nullable=False),
    Column("dagster_run_id", String(64)),
    Index("ix_price_history_model_id_price_type_changed_at", "model_id", "price_type", "changed_at"),
    Index("ix_price_history_changed_at", "changed_at"),
)

rejected_models = Table(
    "rejected_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_id", Integer, ForeignKey("providers.id"), nullable=False),
    Column("provider_model_id", String(512)),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("excerpt", Text, nullable=False),
    Column("rejected_at", TIMESTAMP, nullable=False),
    Column("dagster_run_id", String(64)),
    Index("ix_rejected_models_provider_id", "provider_id"),
)

#: Raw live lists, a bounded history per provider (migration 0007; `CATALOG_SNAPSHOT_RETENTION`). A new row
#: is stored only when the list changed; `applied` says the models were written from it, and only an
#: applied snapshot's digest lets a later identical list skip normalizing and writing.
provider_catalog_snapshots = Table(
    "provider_catalog_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_id", Integer, ForeignKey("providers.id"), nullable=False),
    Column("fetched_at", TIMESTAMP, nullable=False),
    # the last sync that found the live list identical to this one
    Column("confirmed_at", TIMESTAMP),
    Column("dagster_run_id", String(64)),
    Column("url", Text, nullable=False),
    Column("live_count", Integer, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("latency_ms", Numeric(12, 1), nullable=False),
    Column("http_status", Integer, nullable=False),
    # `pages`: the raw page bodies, length-framed, gzip (catalog_pipeline.pages); `entries`: a gzip JSON
    # array of the entries (snapshots stored before migration 0007)
    Column("payload_format", String(16), nullable=False),
    Column("payload_gzip", LargeBinary, nullable=False),
    Column("payload_sha256", String(64)),
    # JSON list of every page's cursor, ETag and Last-Modified, for conditional requests
    Column("validators", Text),
    Column("applied", Boolean, nullable=False),
    # digest of the ids stored active by the write (order-free), so a reconciliation that finds the list
    # unchanged can prove stored = live without normalizing it again
    Column("model_ids_digest", String(32)),
    Column("endpoint", String(64)),  # which of the provider's endpoints answered (migration 0003)
    Index("ix_provider_catalog_snapshots_provider_id_id", "provider_id", "id"),
)

pricing_sync_log = Table(
    "pricing_sync_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_slug", String(64), nullable=False),
    Column("sync_started_at", TIMESTAMP, nullable=False),
    Column("sync_finished_at", TIMESTAMP),
    Column("status", String(16), nullable=False),
    Column("models_fetched", Integer, nullable=False, default=0),
    Column("models_updated", Integer, nullable=False, default=0),
    Column("models_inserted", Integer, nullable=False, default=0),
    Column("models_deactivated", Integer, nullable=False, default=0),
    Column("models_unchanged", Integer, nullable=False, default=0),
    Column("models_rejected", Integer, nullable=False, default=0),
    Column("price_changes", Integer, nullable=False, default=0),
    Column("error_message", Text),
    Column("dagster_run_id", String(64)),
    # The mass-deactivation guard's inputs (migration 0002): active rows stored when the
    # write began, and how many of them the live list would deactivate. A blocked sync
    # keeps models_deactivated at 0 and says here what it refused to do.
    Column("models_active_before", Integer),
    Column("models_would_deactivate", Integer),
    Column("endpoint", String(64)),  # which of the provider's endpoints answered (migration 0003)
    Column("models_held", Integer),  # models whose changes were held for review (migration 0004)
    # `changed`, or why nothing was normalized or written: `not_modified` (every page answered 304) or
    # `same_payload` (the pages hash to the applied snapshot's digest); migration 0007
    Column("catalog_change", String(16)),
    Index("ix_pricing_sync_log_provider_slug_sync_started_at", "provider_slug", "sync_started_at"),
    Index("ix_pricing_sync_log_dagster_run_id", "dagster_run_id"),
)

reconciliation_history = Table(
    "catalog_reconciliation_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("checked_at", TIMESTAMP, nullable=False),
    Column("dagster_run_id", String(64)),
    Column("source", String(16), nullable=False),
    Column("provider_slug", String(64)),
    Column("live_models", Integer),
    Column("db_active_models", Integer, nullable=False),
    Column("rejected_models", Integer, nullable=False),
    # listed live but not stored (nor rejected); `stale` (migration 0006): stored active but no
    # longer listed. live_models = db_active_models + rejected_models + missing - stale.
    Column("missing", Integer),
    Column("stale", Integer),
    Column("parity_pct", Numeric(7, 3)),
    Column("status", String(16), nullable=False),
    Column("error_message", Text),
    Index("ix_catalog_reconciliation_history_checked_at", "checked_at"),
)

#: Every field path seen in a provider's live entries, per endpoint, with what the spec does with it
#: (read, ignored, unknown, vanished) and when it was first and last seen (migration 0003). The
#: `payload_drift` check reads it; the UI shows when a provider started sending a field.
payload_key_observations = Table(
    "payload_key_observations",
    metadata,
    Column("provider_id", Integer, ForeignKey("providers.id"), primary_key=True),
    Column("endpoint", String(64), primary_key=True),
    Column("key_path", String(256), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("entries_with_key", Integer, nullable=False),
    Column("sample_value", Text),
    Column("first_seen_at", TIMESTAMP, nullable=False),
    Column("last_seen_at", TIMESTAMP, nullable=False),
)

#: Changes of a model's input or output price, or of its context length, too large to apply
#: without a person looking (migration 0004): a price moving by more than
#: CATALOG_MAX_PRICE_CHANGE_FACTOR, a price going to or from zero, a context length shrinking
#: by more than half. While `held`, the model keeps its stored values; `applied` when a sync
#: with accept_held_changes wrote it, `withdrawn` when the provider stopped listing the new value.
held_changes = Table(
    "held_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_id", Integer, ForeignKey("providers.id"), nullable=False),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("field", String(32), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("old_value", Numeric(30, 12, asdecimal=True)),
    Column("new_value", Numeric(30, 12, asdecimal=True)),
    Column("unit", String(32)),
    Column("status", String(16), nullable=False),
    Column("first_held_at", TIMESTAMP, nullable=False),
    Column("last_held_at", TIMESTAMP, nullable=False),
    Column("dagster_run_id", String(64)),
    Column("resolved_at", TIMESTAMP),
    Column("resolved_run_id", String(64)),
    Index("ix_held_changes_provider_id_status", "provider_id", "status"),
    Index("ix_held_changes_model_id_field", "model_id", "field"),
)

#: What the sync changed, one row per event, written in the same transaction as the
#: change itself (migration 0005); the change feed of the catalog API reads it. `id` is
#: the feed's cursor: a writer takes the change-feed lock before inserting, so ids are
#: handed out in commit order and a reader polling ``id > cursor`` never skips one.
model_changes = Table(
    "model_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_id", Integer, ForeignKey("providers.id"), nullable=False),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("recorded_at", TIMESTAMP, nullable=False),
    Column("dagster_run_id", String(64)),
    # JSON text: old and new values (price_changed: price_type, amounts, states, unit, percent).
    Column("details", Text),
    Index("ix_model_changes_provider_id_id", "provider_id", "id"),
    Index("ix_model_changes_model_id_id", "model_id", "id"),
)
