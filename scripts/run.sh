#!/usr/bin/env bash
# `make run`: starts the nexus server from the build directory ($1, default
# build) with the defaults: sqlite:var/nexus.db on 127.0.0.1:8090.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
bin="$build_dir/bin/nexus"
if [[ ! -x $bin ]]; then
  echo "run.sh: $bin not found; build first (make build)" >&2
  exit 1
fi
export NEXUS_DATABASE=${NEXUS_DATABASE:-sqlite:var/nexus.db}
export NEXUS_LISTEN=${NEXUS_LISTEN:-127.0.0.1:8090}
if [[ -z ${API_KEY:-} ]]; then
  cat >&2 <<'MSG'
run.sh: API_KEY is not set. Choose the admin key of workspace "default" with
    API_KEY=your-api-key make run
Without it, the first start on a new database generates an admin key and
prints it once (below); later starts reuse the keys already in the database.
MSG
fi
exec "$bin" serve
