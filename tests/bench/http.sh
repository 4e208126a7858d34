#!/usr/bin/env bash
# HTTP benchmark (not a test): wrk for 10 s each, in turn, ROUNDS times, against GET /healthz,
# GET /v1/providers/github and GET /v1/token/{id} (an api_key connection; each
# read commits a durable audit event), 64 connections, on a server holding
# 1,000 providers; then the idle RSS with 10,000 providers.
#
#   tests/bench/http.sh [build-dir]      (default: build)
#
# Environment: DURATION (10s), CONNECTIONS (64), WRK_THREADS (2),
# NEXUS_THREADS (the server's default when unset), DATABASE (sqlite in a temp
# dir; "memory:" to leave the disk out), ROUTES (all three; e.g. "healthz
# token"), ROUNDS (3: the routes are run in turn this many times, and each
# ratio is reported per round and as the median of the rounds), IDLE_RSS (1;
# 0 skips the idle RSS measurement).
# Targets: provider route >= 60% of /healthz throughput, p99 < 10 ms; token
# route >= 50% of /healthz throughput; idle RSS < 30 MB with 10,000 providers.
# Each run also prints the server's CPU time (user + system) per request over
# the run, which a shared machine disturbs less than requests per second.
# Record results in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
bin="$build/bin/nexus"
[[ -x $bin ]] || { echo "http.sh: $bin not found; build first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "http.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
ROUTES=${ROUTES:-healthz provider token}
ROUNDS=${ROUNDS:-3}
IDLE_RSS=${IDLE_RSS:-1}
KEY=bench-admin-key
MASTER_KEY=$(head -c 32 /dev/urandom | base64)
work=$(mktemp -d "${TMPDIR:-/tmp}/nexus-bench.XXXXXX")
DATABASE=${DATABASE:-sqlite:$work/bench.db}
pid=""
trap '[[ -n $pid ]] && kill -TERM $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$work"' EXIT

start() {
  local env_threads=()
  [[ -n ${NEXUS_THREADS:-} ]] && env_threads=(NEXUS_THREADS="$NEXUS_THREADS")
  # The access log goes to a file: one line per request is part of the cost.
  env API_KEY=$KEY NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE="$DATABASE" \
    NEXUS_MASTER_KEY="$MASTER_KEY" "${env_threads[@]}" \
    "$bin" serve >"$work/server.log" 2>"$work/server.err" &
  pid=$!
  local address=""
  for _ in $(seq 1 200); do
    address=$(jq -r 'select(.msg == "listening") | .address' "$work/server.log" 2>/dev/null | head -n1)
    [[ -n $address ]] && break
    sleep 0.05
  done
  [[ -n $address ]] || { cat "$work/server.err" >&2; exit 1; }
  base="http://$address"
  threads=$(jq -r 'select(.msg == "listening") | .threads' "$work/server.log" | head -n1)
}

# seed FROM TO: providers p-FROM .. p-TO through one keep-alive curl.
seed() {
  local cfg="$work/seed.cfg"
  : >"$cfg"
  for i in $(seq "$1" "$2"); do
    [[ $i == "$1" ]] || echo next >>"$cfg"
    cat >>"$cfg" <<EOF
url = "$base/v1/providers"
header = "X-API-Key: $KEY"
header = "Content-Type: application/json"
data-binary = "{\"name\":\"p-$i\",\"auth_type\":\"oauth2\",\"client_id\":\"id-$i\",\"client_secret\":\"secret-$i\",\"auth_url\":\"https://auth.example.com/authorize\",\"token_url\":\"https://auth.example.com/token\",\"api_base_url\":\"https://api.example.com\",\"scopes\":[\"read\",\"write\"],\"category\":\"bench\"}"
output = "/dev/null"
EOF
  done
  curl -sS -K "$cfg"
}

rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }

start
curl -sS -o /dev/null -H "X-API-Key: $KEY" -H 'Content-Type: application/json' --data-binary '{
  "name": "github", "auth_type": "oauth2", "client_id": "your-github-client-id",
  "client_secret": "your-github-client-secret",
  "auth_url": "https://github.com/login/oauth/authorize",
  "token_url": "https://github.com/login/oauth/access_token",
  "api_base_url": "https://api.github.com", "user_info_endpoint": "https://api.github.com/user",
  "scopes": ["repo", "read:user"], "description": "GitHub OAuth App", "category": "developer"}' \
  "$base/v1/providers"
seed 1 999
# An api_key provider and one connection, for the token route.
curl -sS -o /dev/null -H "X-API-Key: $KEY" -H 'Content-Type: application/json' --data-binary '{
  "name": "stripe", "auth_type": "api_key", "api_base_url": "https://api.stripe.com",
  "credential_schema": {"fields": [{"name": "secret_key", "label": "Secret Key"}]}}' \
  "$base/v1/providers"
connection=$(curl -sS -H "X-API-Key: $KEY" -H 'Content-Type: application/json' --data-binary '{
  "provider_name": "stripe", "user_id": "bench-user",
  "credentials": {"secret_key": "sk_test_bench"}}' "$base/v1/connections" | jq -r .connection_id)
[[ $connection == con_* ]] || { echo "http.sh: could not create a connection" >&2; exit 1; }
count=$(curl -sS -H "X-API-Key: $KEY" "$base/metrics" | awk '/^nexus_providers\{workspace="default"\}/ {print $2}')
echo "server: $threads threads, $DATABASE, $count providers; wrk: $WRK_THREADS threads, $CONNECTIONS connections, $DURATION"
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# The server's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

run_wrk() {  # name, url, extra wrk args
  local name=$1 url=$2
  shift 2
  local cpu_before cpu_after
  cpu_before=$(cpu_ticks)
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$work/$name.wrk"
  cpu_after=$(cpu_ticks)
  local rps p50 p99 non2xx requests cpu_us
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$name.wrk")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$name.wrk")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name.wrk")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$name.wrk")
  requests=$(awk '/ requests in / {print $1}' "$work/$name.wrk")
  # Server CPU per request: less noisy than req/s when the machine is shared.
  cpu_us=$(awk -v t="$((cpu_after - cpu_before))" -v hz="$(getconf CLK_TCK)" -v n="$requests" \
    'BEGIN { printf "%.1f", (n > 0) ? t / hz * 1e6 / n : 0 }')
  printf '%-28s %10s req/s   p50 %-9s p99 %-9s server CPU %6s us/req %s\n' "$name" "$rps" \
    "$p50" "$p99" "$cpu_us" "${non2xx:+non-2xx: $non2xx}"
  eval "${name//[^a-z]/_}_rps=$rps"
}
wants() { [[ " $ROUTES " == *" $1 "* ]]; }
# ratio NAME: NAME's throughput over /healthz's in this round, in percent.
ratio() { awk -v a="$1" -v b="$healthz_rps" 'BEGIN { printf "%.0f", 100 * a / b }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
provider_ratios="" token_ratios=""
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS"
  wants healthz && run_wrk healthz "$base/healthz"
  wants provider && run_wrk provider "$base/v1/providers/github" -H "X-API-Key: $KEY"
  wants token && run_wrk token "$base/v1/token/$connection" -H "X-API-Key: $KEY"
  if wants healthz && wants provider; then
    provider_ratios+=" $(ratio "$provider_rps")"
    echo "  provider / healthz throughput: $(ratio "$provider_rps")%"
  fi
  if wants healthz && wants token; then
    token_ratios+=" $(ratio "$token_rps")"
    echo "  token / healthz throughput: $(ratio "$token_rps")%"
  fi
done
if [[ -n $provider_ratios ]]; then
  echo "provider / healthz throughput, median of $ROUNDS rounds: $(median <<<"$provider_ratios")%" \
    "(rounds:$provider_ratios; target >= 60%; p99 < 10 ms)"
fi
if [[ -n $token_ratios ]]; then
  echo "token / healthz throughput, median of $ROUNDS rounds: $(median <<<"$token_ratios")%" \
    "(rounds:$token_ratios; target >= 50%)"
fi
# Every acknowledged token read left its event, and the chain still links.
curl -sS -H "X-API-Key: $KEY" "$base/v1/audit/verify" |
  jq -r '"audit chain after the runs: \(.events_checked) events, verified: \(.ok)"'
echo "RSS after the runs (1,000 providers): $(rss_mb) MB"

# Idle RSS with 10,000 providers, after a fresh start (what an idle server
# holds, not what the load above left in the allocator).
[[ $IDLE_RSS == 0 ]] && exit 0
seed 1000 9999
kill -TERM "$pid"; wait "$pid"; pid=""
start
curl -sS -o /dev/null -H "X-API-Key: $KEY" "$base/v1/providers/github"
count=$(curl -sS -H "X-API-Key: $KEY" "$base/metrics" | awk '/^nexus_providers\{workspace="default"\}/ {print $2}')
echo "idle RSS with $count providers: $(rss_mb) MB (target < 30 MB)"
