#!/usr/bin/env bash
# make demo: serve the generated catalogs locally, sync every provider through Dagster, print the status report.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/replay-env.sh "${CATALOG_DEMO_PORT:-}"
"$VENV/bin/catalog-pipeline" sync
echo
"$VENV/bin/catalog-pipeline" status
