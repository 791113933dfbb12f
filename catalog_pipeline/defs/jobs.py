"""Jobs: a provider sync (one run over any range of provider partitions) and the reconciliation."""

import dagster as dg

from catalog_pipeline.defs.assets import (
    CATALOG_RECONCILIATION,
    HELD_CHANGES_CHECK,
    MASS_DEACTIVATION_CHECK,
    MODELS,
    PAYLOAD_DRIFT_CHECK,
    PROVIDER_CATALOG,
)
from catalog_pipeline.defs.partitions import PROVIDER_PARTITIONS

# In-process: a sync is one step that already fetches providers concurrently, so a
# subprocess per step would only add seconds of start-up.
catalog_sync_job = dg.define_asset_job(
    "catalog_sync_job",
    # The standalone checks on `models` read the whole table and run in the monitor job; only
    # the guard, the held changes and the drift check, which the sync step itself evaluates, belong to a sync run.
    selection=dg.AssetSelection.assets(PROVIDER_CATALOG, MODELS).without_checks()
    | dg.AssetSelection.checks(
        dg.AssetCheckKey(MODELS, MASS_DEACTIVATION_CHECK),
        dg.AssetCheckKey(MODELS, HELD_CHANGES_CHECK),
        dg.AssetCheckKey(PROVIDER_CATALOG, PAYLOAD_DRIFT_CHECK),
    ),
    partitions_def=PROVIDER_PARTITIONS,
    executor_def=dg.in_process_executor,
    description="Fetch the selected providers' live catalogs and upsert them into models, one run for the whole range.",
)

reconciliation_job = dg.define_asset_job(
    "catalog_reconciliation_job",
    selection=dg.AssetSelection.assets(CATALOG_RECONCILIATION),
    executor_def=dg.in_process_executor,
    description="Compare fresh live counts with the catalog database and record parity.",
)
