#!/usr/bin/env bash
# Master key rotation with the real binary: values sealed under key 1,
# `nexus keys rotate-master` to key 2, key 1 dropped, every value still reads.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEY=your-api-key
KEYS="$WORK/master.keys"
MASTER_KEY=""  # this test uses a key file
echo "k1 $(head -c 32 /dev/urandom | base64)" >"$KEYS"
chmod 600 "$KEYS"
keys_cmd() { NEXUS_DATABASE="$DB" NEXUS_MASTER_KEY_FILE="$KEYS" "$NEXUS_BIN" keys "$@"; }

start_server API_KEY="$KEY" NEXUS_MASTER_KEY_FILE="$KEYS"
json POST /v1/providers "$KEY" '{"name":"github","auth_type":"oauth2","client_id":"id",
  "client_secret":"gh-rotation-secret","auth_url":"https://github.com/login/oauth/authorize",
  "token_url":"https://github.com/login/oauth/access_token"}'
expect_status 201 "create github"
json POST /v1/providers "$KEY" '{"name":"stripe","auth_type":"api_key",
  "credential_schema":{"fields":[{"name":"secret_key","label":"Secret Key"}]}}'
expect_status 201 "create stripe"
json POST /v1/connections "$KEY" '{"provider_name":"stripe","user_id":"u-1",
  "credentials":{"secret_key":"sk_rotation_value"}}'
expect_status 201 "connect"
CONN=$(jq -r .connection_id <<<"$BODY")
stop_server

out=$(keys_cmd check)
grep -q "^k1  primary  2 sealed values" <<<"$out" || fail "check before: $out"

out=$(keys_cmd rotate-master 2>"$WORK/rotate.err")
grep -q "re-sealed 2 values" <<<"$out" || fail "rotate: $out $(cat "$WORK/rotate.err")"
[[ $(grep -vc '^#' "$KEYS") -eq 2 ]] || fail "the key file should hold two keys"
[[ $(stat -c %a "$KEYS") == 600 ]] || fail "the key file lost mode 0600"
NEW=$(grep -v '^#' "$KEYS" | head -n1 | cut -d' ' -f1)
out=$(keys_cmd check)
grep -q "^$NEW  primary  2 sealed values" <<<"$out" || fail "check after: $out"
grep -q "^k1  old      0 sealed values" <<<"$out" || fail "check after (k1): $out"

# A rerun with nothing left under old keys makes a new key again; dropping
# the primary is refused; dropping k1 works.
! keys_cmd drop-master "$NEW" 2>/dev/null || fail "dropping the primary was allowed"
keys_cmd drop-master k1 >/dev/null
[[ $(grep -vc '^#' "$KEYS") -eq 1 ]] || fail "k1 was not dropped"

start_server API_KEY="$KEY" NEXUS_MASTER_KEY_FILE="$KEYS"
req GET "/v1/token/$CONN" "$KEY"
expect_status 200 "token after rotation"
expect_eq "$(jq -r .credentials.secret_key <<<"$BODY")" sk_rotation_value "value after rotation"
stop_server
echo "rotation: all checks passed"
