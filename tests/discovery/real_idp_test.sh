#!/usr/bin/env bash
# Discovery against a real OpenID provider: oidc-provider (tests/idp) on
# 127.0.0.1. Starts the IdP on a free port, reads what it publishes with curl
# and jq, and has the discovery test binary's [real-idp] case discover the same
# issuer through the default HttpClient and compare.
# Usage: real_idp_test.sh PATH/TO/nexus_discovery_tests
# Exit 77 (skipped) when Node.js 20+, npm, curl or jq is missing.
set -euo pipefail

tests_bin=${1:?usage: real_idp_test.sh PATH/TO/nexus_discovery_tests}
here=$(cd "$(dirname "$0")" && pwd)
idp_dir=$(cd "$here/../idp" && pwd)
ready_within=60  # seconds: npm-installed node is slow to start on a busy machine

for tool in node npm curl jq; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "SKIP: oidc-provider 9 needs Node.js 20 or later, found $(node --version)"
  exit 77
fi

if [ ! -d "$idp_dir/node_modules/oidc-provider" ]; then
  (cd "$idp_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

work=$(mktemp -d)
idp_pid=""
cleanup() {
  if [ -n "$idp_pid" ]; then
    kill "$idp_pid" 2>/dev/null || true
    # Bounded: a provider that ignores SIGTERM for 5 s gets SIGKILL.
    timeout 5 tail --pid="$idp_pid" -f /dev/null || kill -KILL "$idp_pid" 2>/dev/null || true
    wait "$idp_pid" 2>/dev/null || true
  fi
  exec 3<&- 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/stdout"
node "$idp_dir/server.mjs" 0 >"$work/stdout" 2>"$work/stderr" &
idp_pid=$!
exec 3<"$work/stdout"

issuer=""
deadline=$((SECONDS + ready_within))
while [ "$SECONDS" -lt "$deadline" ]; do
  # read returns on each line, at end of file, or after the remaining time.
  if ! IFS= read -r -t "$((deadline - SECONDS))" -u 3 line; then break; fi
  case $line in
    "nexus-test-idp ready "*) issuer=${line#nexus-test-idp ready }; break ;;
  esac
done
if [ -z "$issuer" ]; then
  echo "FAIL: the IdP did not report ready within ${ready_within}s" >&2
  cat "$work/stderr" >&2
  exit 1
fi
echo "IdP at $issuer"

doc=$(curl -fsS --max-time 10 "$issuer/.well-known/openid-configuration")
member() { jq -er ".$1" <<<"$doc"; }
NEXUS_TEST_IDP_ISSUER=$(member issuer)
NEXUS_TEST_IDP_AUTHORIZATION_ENDPOINT=$(member authorization_endpoint)
NEXUS_TEST_IDP_TOKEN_ENDPOINT=$(member token_endpoint)
NEXUS_TEST_IDP_JWKS_URI=$(member jwks_uri)
NEXUS_TEST_IDP_USERINFO_ENDPOINT=$(member userinfo_endpoint)
export NEXUS_TEST_IDP_ISSUER NEXUS_TEST_IDP_AUTHORIZATION_ENDPOINT NEXUS_TEST_IDP_TOKEN_ENDPOINT \
  NEXUS_TEST_IDP_JWKS_URI NEXUS_TEST_IDP_USERINFO_ENDPOINT
if [ "$NEXUS_TEST_IDP_ISSUER" != "$issuer" ]; then
  echo "FAIL: the IdP publishes issuer $NEXUS_TEST_IDP_ISSUER, expected $issuer" >&2
  exit 1
fi

"$tests_bin" "[real-idp]"
