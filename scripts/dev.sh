#!/usr/bin/env bash
# make dev: the Dagster UI on 127.0.0.1 with the demo catalogs served locally, on the same Dagster
# home and catalog as `make demo`. A home that never synced is synced first, so the UI is never empty.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/replay-env.sh "${CATALOG_DEMO_PORT:-8765}"
status=0
"$VENV/bin/catalog-pipeline" status >/dev/null 2>&1 || status=$?
if [ "$status" -eq 2 ]; then
  echo "nothing synced in $DAGSTER_HOME yet: syncing every provider from the demo catalogs first"
  "$VENV/bin/catalog-pipeline" sync
fi
"$VENV/bin/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}"
