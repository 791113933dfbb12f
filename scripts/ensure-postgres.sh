#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) exist; the test suite starts its own server.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
echo "PostgreSQL server binaries missing: installing Debian's postgresql package" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "not root: install postgresql yourself or set CATALOG_TEST_POSTGRES_URL" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
