"""Jobs: a provider sync (one run over any range of provider partitions) and the reconciliation."""

import dagster as dg

from catalog_pipeline.defs.assets import CATALOG_RECONCILIATION, MODELS, PROVIDER_CATALOG
from catalog_pipeline.defs.partitions import PROVIDER_PARTITIONS

# In-process: a sync is one step that already fetches providers concurrently, so a
# subprocess per step would only add seconds of start-up.
catalog_sync_job = dg.define_asset_job(
    "catalog_sync_job",
    # Every check of both assets too, as "Materialize" in the UI selects them: the sync step's own
    # (the guard, payload drift) and the ones on `models`, which run right after the sync step in
    # the same run once every provider of the run has landed.
    selection=dg.AssetSelection.assets(PROVIDER_CATALOG, MODELS),
    partitions_def=PROVIDER_PARTITIONS,
    executor_def=dg.in_process_executor,
    description=(
        "Fetch the selected providers' live catalogs and upsert them into models, one run for the whole range, "
        "then every check on models."
    ),
)

reconciliation_job = dg.define_asset_job(
    "catalog_reconciliation_job",
    selection=dg.AssetSelection.assets(CATALOG_RECONCILIATION),
    executor_def=dg.in_process_executor,
    description="Compare fresh live counts with the catalog database and record parity.",
)
