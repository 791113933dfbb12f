# Sourced by demo.sh and dev.sh: the project's one local Dagster home and a replay server in the background.
# Usage: source scripts/replay-env.sh [port]   (sets DAGSTER_HOME, CATALOG_REPLAY_URL, REPLAY_PID)
# The home is the one `catalog-pipeline` uses from this folder without any variable set, so
# `make demo`, `make dev` and `catalog-pipeline status` all see the same runs and the same catalog.
VENV=${VENV:-.venv}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.catalog/dagster_home}
mkdir -p "$DAGSTER_HOME"
# The local instance (SQLite, one writer at a time, connections kept): deploy/dagster-local.yaml.
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp deploy/dagster-local.yaml "$DAGSTER_HOME/dagster.yaml"
# As the deployment and `catalog-pipeline sync`: a run's planned and per-partition materialization events
# stored in batches (settings.DEFAULT_EVENT_BATCH_SIZE), for the runs `make dev` launches too.
export DAGSTER_EVENT_BATCH_SIZE=${DAGSTER_EVENT_BATCH_SIZE:-100}
REPLAY_PORT=${1:-$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
"$VENV/bin/catalog-pipeline" replay-server --port "$REPLAY_PORT" &
REPLAY_PID=$!
trap 'kill $REPLAY_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$REPLAY_PORT/_providers', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
export CATALOG_REPLAY_URL=${CATALOG_REPLAY_URL:-http://127.0.0.1:$REPLAY_PORT}
