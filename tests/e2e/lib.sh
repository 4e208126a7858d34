# Shared by the end-to-end scripts: start and stop the real `nexus` binary on
# a free port with a temp database, send requests with curl, assert.
# Source it after `set -euo pipefail`; $1 of the script is the binary.

NEXUS_BIN=${1:?usage: $0 path/to/nexus}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nexus-e2e.XXXXXX")
DB="sqlite:$WORK/nexus.db"
# The master key sealing client secrets, the same across restarts of a test.
MASTER_KEY=$(head -c 32 /dev/urandom | base64)
SERVER_PID=""
ALL_SERVER_PIDS=()  # every server started, so that none outlives the script
SERVER_LOG=""
SERVER_ERR=""
BASE=""
RUNS=0
# Every response body and header the tests saw, for secret checks.
SEEN="$WORK/seen.txt"
: >"$SEEN"

cleanup() {
  local rc=$? pid
  for pid in "${ALL_SERVER_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ $rc -ne 0 && -n $SERVER_ERR && -f $SERVER_ERR ]]; then
    echo "--- server stderr ---" >&2
    tail -n 20 "$SERVER_ERR" >&2
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# start_server [VAR=value ...]: runs `nexus serve` on 127.0.0.1:0 against
# $DB with the given extra environment, waits (bounded) until it listens and
# /healthz answers; sets SERVER_PID, BASE, SERVER_LOG, SERVER_ERR.
start_server() {
  RUNS=$((RUNS + 1))
  SERVER_LOG="$WORK/server.$RUNS.log"
  SERVER_ERR="$WORK/server.$RUNS.err"
  env -u API_KEY -u NEXUS_MASTER_KEY_FILE NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE="$DB" \
    ${MASTER_KEY:+NEXUS_MASTER_KEY=$MASTER_KEY} NEXUS_THREADS=4 "$@" \
    "$NEXUS_BIN" serve >"$SERVER_LOG" 2>"$SERVER_ERR" &
  SERVER_PID=$!
  ALL_SERVER_PIDS+=("$SERVER_PID")
  local address=""
  for _ in $(seq 1 200); do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited at start: $(cat "$SERVER_ERR")"
    address=$(jq -r 'select(.msg == "listening") | .address' "$SERVER_LOG" 2>/dev/null | head -n1)
    [[ -n $address ]] && break
    sleep 0.05
  done
  [[ -n $address ]] || fail "server did not listen within 10 s"
  BASE="http://$address"
  for _ in $(seq 1 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz") == 200 ]] && return 0
    sleep 0.05
  done
  fail "/healthz did not answer within 5 s"
}

# stop_server: SIGTERM, then wait; fails unless the exit status is 0.
stop_server() {
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [[ $rc -eq 0 ]] || fail "server exited with $rc after SIGTERM"
}

# req METHOD PATH KEY [curl args...]: sets STATUS, BODY (text) and HEADERS
# (file). KEY "-" sends no X-API-Key.
req() {
  local method=$1 path=$2 key=$3
  shift 3
  local args=(-sS -X "$method" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}')
  [[ $key != "-" ]] && args+=(-H "X-API-Key: $key")
  STATUS=$(curl "${args[@]}" "$@" "$BASE$path")
  BODY=$(cat "$WORK/body")
  HEADERS="$WORK/headers"
  { cat "$WORK/headers"; cat "$WORK/body"; echo; } >>"$SEEN"
}

# json METHOD PATH KEY BODY [curl args...]: req with a JSON body.
json() {
  local method=$1 path=$2 key=$3 body=$4
  shift 4
  req "$method" "$path" "$key" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}

header() { grep -i "^$1:" "$HEADERS" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }

expect_status() {
  [[ $STATUS == "$1" ]] || fail "${2:-request}: expected HTTP $1, got $STATUS: $BODY"
}

# expect_error STATUS CODE what: the status and the error body's code.
expect_error() {
  expect_status "$1" "$3"
  local code
  code=$(jq -r .code <<<"$BODY")
  [[ $code == "$2" ]] || fail "$3: expected code $2, got $code: $BODY"
  [[ -n $(jq -r .message <<<"$BODY") ]] || fail "$3: error without a message"
}

expect_eq() { [[ $1 == "$2" ]] || fail "${3:-value}: expected '$2', got '$1'"; }

# snapshot KEY: everything stored for KEY's workspace (providers with their
# versions, and the audit chain's length), for "nothing changed" checks.
snapshot() {
  curl -sS -H "X-API-Key: $1" "$BASE/v1/providers?limit=1000" | jq -c '[.[] | {name, version, updated_at}]'
  curl -sS -H "X-API-Key: $1" "$BASE/v1/audit?limit=1" | jq -c '.[0].seq // 0'
}

# create_key WORKSPACE ROLE: prints a new key (nexus keys create).
create_key() {
  NEXUS_DATABASE="$DB" "$NEXUS_BIN" keys create --workspace "$1" --role "$2" --label e2e 2>/dev/null
}
