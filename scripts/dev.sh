#!/usr/bin/env bash
# make dev: the Dagster UI on 127.0.0.1 with the demo catalogs served locally.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/replay-env.sh dev "${CATALOG_DEMO_PORT:-8765}"
"$VENV/bin/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}"
