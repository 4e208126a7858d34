#!/usr/bin/env bash
# OIDC discovery end to end: the real `nexus serve` (one I/O thread, insecure
# discovery for loopback) against the real OpenID provider oidc-provider
# (tests/idp) on 127.0.0.1.
# - corp-sso registered with enable_discovery stores and shows exactly the
#   endpoints the IdP publishes;
# - an unreachable issuer answers 502 discovery_failed and stores nothing;
# - POST /v1/providers/{name}/discover refreshes (admin only), and when the IdP
#   is gone keeps the last good endpoints and reports last_error;
# - an issuer that accepts and never answers stalls only its own request:
#   /healthz and GET /v1/providers answer while that POST is still pending.
# Exit 77 (skipped) when Node.js 20+ or npm is missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)
idp_dir=$(cd "$here/../idp" && pwd)
ready_within=60  # seconds: npm-installed node is slow to start on a busy machine

for tool in node npm curl jq; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
if [[ $(node -p 'process.versions.node.split(".")[0]') -lt 20 ]]; then
  echo "SKIP: oidc-provider 9 needs Node.js 20 or later, found $(node --version)"
  exit 77
fi
if [[ ! -d $idp_dir/node_modules/oidc-provider ]]; then
  (cd "$idp_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

IDP_PID=""
STALL_PID=""
stop_helper() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  timeout 5 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
discovery_cleanup() {
  local rc=$?
  stop_helper "$IDP_PID"
  stop_helper "$STALL_PID"
  exec 3<&- 4<&- 2>/dev/null || true
  (exit "$rc")
  cleanup
}
trap discovery_cleanup EXIT

# read_line FD PREFIX: prints the rest of the first line on FD starting with
# PREFIX, waiting at most ready_within seconds; fails when none came.
read_line() {
  local fd=$1 prefix=$2 line deadline=$((SECONDS + ready_within))
  while ((SECONDS < deadline)); do
    IFS= read -r -t "$((deadline - SECONDS))" -u "$fd" line || return 1
    if [[ $line == "$prefix"* ]]; then
      echo "${line#"$prefix"}"
      return 0
    fi
  done
  return 1
}

# The OpenID provider, on a free port.
mkfifo "$WORK/idp.out"
node "$idp_dir/server.mjs" 0 >"$WORK/idp.out" 2>"$WORK/idp.err" &
IDP_PID=$!
exec 3<"$WORK/idp.out"
ISSUER=$(read_line 3 "nexus-test-idp ready ") || true
[[ -n $ISSUER ]] || fail "the IdP did not report ready within ${ready_within}s: $(cat "$WORK/idp.err")"

# A listener that accepts connections and never answers; it reports each
# accept, so the test knows when a discovery request is in flight.
mkfifo "$WORK/stall.out"
node -e '
  const net = require("node:net");
  const held = [];
  const server = net.createServer((c) => { held.push(c); console.log("accepted"); });
  server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
' >"$WORK/stall.out" 2>"$WORK/stall.err" &
STALL_PID=$!
exec 4<"$WORK/stall.out"
STALL_PORT=$(read_line 4 "port ") || true
[[ -n $STALL_PORT ]] || fail "the stalling listener did not start: $(cat "$WORK/stall.err")"

# A loopback port nobody listens on: bound, then closed.
DOWN_PORT=$(node -e '
  const s = require("node:net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });
')

KEY=discovery-e2e-admin-key
start_server API_KEY="$KEY" NEXUS_DISCOVERY_ALLOW_INSECURE=1 NEXUS_THREADS=1
grep -q NEXUS_DISCOVERY_ALLOW_INSECURE "$SERVER_LOG" "$SERVER_ERR" ||
  fail "no warning about NEXUS_DISCOVERY_ALLOW_INSECURE at start"

# What the IdP publishes.
DOC=$(curl -fsS --max-time 10 "$ISSUER/.well-known/openid-configuration")
published() { jq -er ".$1" <<<"$DOC"; }

# Register with discovery: the view shows the published endpoints.
json POST /v1/providers "$KEY" '{"name":"corp-sso","auth_type":"oauth2","client_id":"x",
  "client_secret":"y","issuer":"'"$ISSUER"'","enable_discovery":true}'
expect_status 201 "create corp-sso with discovery"
check_endpoints() {
  expect_eq "$(jq -r .auth_url <<<"$BODY")" "$(published authorization_endpoint)" "$1 auth_url"
  expect_eq "$(jq -r .token_url <<<"$BODY")" "$(published token_endpoint)" "$1 token_url"
  expect_eq "$(jq -r .jwks_uri <<<"$BODY")" "$(published jwks_uri)" "$1 jwks_uri"
  expect_eq "$(jq -r .user_info_endpoint <<<"$BODY")" "$(published userinfo_endpoint)" \
    "$1 user_info_endpoint"
}
check_endpoints "created"
expect_eq "$(jq -r .discovery.metadata_url <<<"$BODY")" \
  "$ISSUER/.well-known/openid-configuration" "metadata_url"
expect_eq "$(jq -r '.discovery.last_error' <<<"$BODY")" null "no last_error"
expect_eq "$(jq -r '.discovery.issuer_template' <<<"$BODY")" false "issuer_template"
FETCHED_1=$(jq -r .discovery.fetched_at <<<"$BODY")
[[ $(jq -r '.discovery.expires_at > .discovery.fetched_at' <<<"$BODY") == true ]] ||
  fail "expires_at is not after fetched_at: $BODY"
expect_eq "$(jq -r 'has("client_secret")' <<<"$BODY")" false "view hides client_secret"

req GET /v1/providers/corp-sso "$KEY"
expect_status 200 "get corp-sso"
check_endpoints "stored"

# An unreachable issuer: 502 discovery_failed, nothing stored.
before=$(snapshot "$KEY")
json POST /v1/providers "$KEY" '{"name":"corp-down","auth_type":"oauth2","client_id":"x",
  "client_secret":"y","issuer":"http://127.0.0.1:'"$DOWN_PORT"'","enable_discovery":true}'
expect_error 502 discovery_failed "unreachable issuer"
expect_eq "$(jq -r .field <<<"$BODY")" issuer "field of discovery_failed"
[[ $(jq -r .message <<<"$BODY") == unreachable:* ]] || fail "reason not first: $BODY"
expect_eq "$(snapshot "$KEY")" "$before" "nothing stored after discovery_failed"
req GET /v1/providers/corp-down "$KEY"
expect_error 404 provider_not_found "corp-down was not stored"

# Refresh: admin only; a new fetch, a new version, audited.
AGENT=$(create_key default agent)
req POST /v1/providers/corp-sso/discover "$AGENT"
expect_error 403 forbidden "agent refresh"
req POST /v1/providers/corp-sso/discover "$KEY"
expect_status 200 "refresh"
check_endpoints "refreshed"
expect_eq "$(jq -r .version <<<"$BODY")" 2 "version after refresh"
expect_eq "$(header ETag)" '"v2"' "ETag after refresh"
[[ $(jq -r --arg t "$FETCHED_1" '.discovery.fetched_at >= $t' <<<"$BODY") == true ]] ||
  fail "fetched_at went back: $BODY"
req GET "/v1/audit?provider=corp-sso&limit=1" "$KEY"
expect_eq "$(jq -r '.[0].event_type' <<<"$BODY")" provider.discovered "refresh audited"

# A stalling issuer holds only its own request. One I/O thread: if discovery
# ran on it, the GETs below would wait for the POST's 10 s timeout, and the
# POST would no longer be pending when they answer.
curl -sS -o "$WORK/stall.body" -w '%{http_code}' --max-time 60 -H "X-API-Key: $KEY" \
  -H 'Content-Type: application/json' --data-binary '{"name":"corp-stall","auth_type":"oauth2",
  "client_id":"x","client_secret":"y","issuer":"http://127.0.0.1:'"$STALL_PORT"'",
  "enable_discovery":true}' "$BASE/v1/providers" >"$WORK/stall.status" 2>"$WORK/stall.curl" &
STALL_POST=$!
read_line 4 "accepted" >/dev/null ||
  fail "the stalled discovery never reached the issuer: $(cat "$WORK/stall.curl")"
req GET /healthz -
expect_status 200 "healthz during a stalled discovery"
req GET /v1/providers "$KEY"
expect_status 200 "list during a stalled discovery"
expect_eq "$(jq -r '[.[].name] | join(",")' <<<"$BODY")" corp-sso "list during the stall"
kill -0 "$STALL_POST" 2>/dev/null || fail "the stalled POST finished before the GETs answered"
wait "$STALL_POST" || fail "curl of the stalled POST failed: $(cat "$WORK/stall.curl")"
expect_eq "$(cat "$WORK/stall.status")" 502 "stalled POST"
expect_eq "$(jq -r .code "$WORK/stall.body")" discovery_failed "stalled POST code"
[[ $(jq -r .message "$WORK/stall.body") == timeout:* ]] ||
  fail "stalled POST reason: $(cat "$WORK/stall.body")"

# The IdP goes away: the refresh fails, the last good endpoints stay.
stop_helper "$IDP_PID"
IDP_PID=""
req POST /v1/providers/corp-sso/discover "$KEY"
expect_error 502 discovery_failed "refresh without the IdP"
req GET /v1/providers/corp-sso "$KEY"
expect_status 200 "get after a failed refresh"
check_endpoints "kept"
expect_eq "$(jq -r .discovery.last_error.reason <<<"$BODY")" unreachable "last_error.reason"
[[ -n $(jq -r '.discovery.last_error.at // empty' <<<"$BODY") ]] || fail "no last_error.at"
req GET "/v1/audit?provider=corp-sso&limit=1" "$KEY"
expect_eq "$(jq -r '.[0].event_type' <<<"$BODY")" provider.discovery_failed "failure audited"

stop_server
echo "PASS: discovery end to end"
