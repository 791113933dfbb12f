#!/usr/bin/env bash
# make dev: the Dagster UI on 127.0.0.1 with the demo catalogs served locally.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.catalog/dev/dagster_home}
mkdir -p "$DAGSTER_HOME"
# SQLite allows one writer: the catalog_database pool lets one sync step write at a time.
[ -f "$DAGSTER_HOME/dagster.yaml" ] || printf 'telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n' > "$DAGSTER_HOME/dagster.yaml"
PORT=${CATALOG_DEMO_PORT:-8765}
"$VENV/bin/catalog-pipeline" replay-server --port "$PORT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
export CATALOG_REPLAY_URL=${CATALOG_REPLAY_URL:-http://127.0.0.1:$PORT}
"$VENV/bin/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}"
