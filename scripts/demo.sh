#!/usr/bin/env bash
# make demo: serve the generated catalogs locally, sync every provider through Dagster, print the status report.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.catalog/demo/dagster_home}
mkdir -p "$DAGSTER_HOME"
# SQLite allows one writer: the catalog_database pool lets one sync step write at a time.
[ -f "$DAGSTER_HOME/dagster.yaml" ] || printf 'telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n' > "$DAGSTER_HOME/dagster.yaml"
PORT=${CATALOG_DEMO_PORT:-$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
"$VENV/bin/catalog-pipeline" replay-server --port "$PORT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/_providers', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
export CATALOG_REPLAY_URL=http://127.0.0.1:$PORT
"$VENV/bin/catalog-pipeline" sync
echo
"$VENV/bin/catalog-pipeline" status
