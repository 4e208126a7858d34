#!/usr/bin/env bash
# Master key rotation with the real binary: values sealed under key 1,
# `nexus keys rotate-master` to key 2, key 1 dropped, every value still reads;
# then a rotation while a server runs (token reads never fail, the server
# follows the key file on its own and on SIGHUP), the lock against two runs
# at once, and a rotation killed midway that a rerun finishes without making
# a third key.
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

# --- A rotation while a server runs: token reads never fail ---------------
# The server holds $NEW only. rotate-master writes key 3 and re-seals; the
# server meets an envelope under key 3, reads the key file again and from
# then on seals under key 3. SIGHUP makes it forget a dropped key.
wait_log() {  # PATTERN COUNT WHAT: waits (bounded) for COUNT log lines with PATTERN
  for _ in $(seq 1 200); do
    [[ $(grep -c -F -- "$1" "$SERVER_LOG" || true) -ge $2 ]] && return 0
    sleep 0.05
  done
  fail "$3: no log line with $1 after 10 s"
}
read_token() {  # CONN EXPECTED
  req GET "/v1/token/$1" "$KEY"
  expect_status 200 "token $1"
  expect_eq "$(jq -r .credentials.secret_key <<<"$BODY")" "$2" "value of $1"
}
LOOP=""
trap 'rc=$?; [[ -n $LOOP ]] && kill "$LOOP" 2>/dev/null; (exit $rc); cleanup' EXIT

start_server API_KEY="$KEY" NEXUS_MASTER_KEY_FILE="$KEYS"
for i in 2 3 4 5; do
  json POST /v1/connections "$KEY" '{"provider_name":"stripe","user_id":"u-'"$i"'",
    "credentials":{"secret_key":"sk_live_'"$i"'"}}'
  expect_status 201 "connect $i"
done
(
  while [[ ! -e $WORK/stop-loop ]]; do
    curl -s -o /dev/null -w '%{http_code}\n' -H "X-API-Key: $KEY" "$BASE/v1/token/$CONN" \
      >>"$WORK/loop-statuses"
  done
) &
LOOP=$!
keys_cmd rotate-master --batch 1 >"$WORK/live.out" 2>"$WORK/live.err" ||
  fail "rotate-master beside a running server: $(cat "$WORK/live.err")"
THIRD=$(grep -v '^#' "$KEYS" | head -n1 | cut -d' ' -f1)
[[ $THIRD != "$NEW" ]] || fail "no new primary key"
read_token "$CONN" sk_rotation_value
wait_log '"trigger":"unknown key id"' 1 "reload on an unknown key id"
touch "$WORK/stop-loop"
wait "$LOOP"
LOOP=""
[[ -s $WORK/loop-statuses ]] || fail "no token read ran during the rotation"
bad=$(grep -vc '^200$' "$WORK/loop-statuses" || true)
[[ $bad -eq 0 ]] || fail "$bad of $(wc -l <"$WORK/loop-statuses") token reads failed during the rotation"

# Values written now are sealed under key 3: the old key seals nothing.
json POST /v1/connections "$KEY" '{"provider_name":"stripe","user_id":"u-after",
  "credentials":{"secret_key":"sk_after_rotation"}}'
expect_status 201 "connect after the rotation"
AFTER=$(jq -r .connection_id <<<"$BODY")
out=$(keys_cmd check)
grep -q "^$THIRD  primary  7 sealed values" <<<"$out" || fail "check after live rotation: $out"
grep -q "^$NEW  old      0 sealed values" <<<"$out" || fail "old key still used: $out"
keys_cmd drop-master "$NEW" >/dev/null
read_token "$AFTER" sk_after_rotation

# SIGHUP: the file's keys as they are now (the dropped key forgotten).
kill -HUP "$SERVER_PID"
wait_log '"trigger":"SIGHUP"' 1 "reload on SIGHUP"
expect_eq "$(grep -F '"trigger":"SIGHUP"' "$SERVER_LOG" | jq -c .key_ids)" "[\"$THIRD\"]" \
  "keys after SIGHUP"
read_token "$CONN" sk_rotation_value
# A key file that no longer opens the stored values is not taken.
cp "$KEYS" "$WORK/keys.good"
echo "k9 $(head -c 32 /dev/urandom | base64)" >"$KEYS"
kill -HUP "$SERVER_PID"
wait_log 'SIGHUP: kept the current master keys' 1 "refused reload"
read_token "$CONN" sk_rotation_value
cp "$WORK/keys.good" "$KEYS"
req GET "/v1/audit?event_type=master_key.rotated" "$KEY"
expect_eq "$(jq -r '.[0].data.primary_key_id' <<<"$BODY")" "$THIRD" "rotation audited"
! grep -q -F "$(grep -v '^#' "$KEYS" | cut -d' ' -f2)" <<<"$BODY" || fail "audit shows a key"
stop_server

# --- Two runs at once: the second is refused, the key file untouched -----
SUM=$(sha256sum "$KEYS")
rc=0
flock "$KEYS.lock" env NEXUS_DATABASE="$DB" NEXUS_MASTER_KEY_FILE="$KEYS" \
  "$NEXUS_BIN" keys rotate-master >/dev/null 2>"$WORK/locked.err" || rc=$?
[[ $rc -ne 0 ]] || fail "rotate-master ran while another held the lock"
grep -q "another" "$WORK/locked.err" || fail "unclear lock message: $(cat "$WORK/locked.err")"
expect_eq "$(sha256sum "$KEYS")" "$SUM" "key file untouched under the lock"

# --- An interrupted rotation resumes without a third key -----------------
FIELDS=30
USERS=20
schema=$(for f in $(seq 1 $FIELDS); do printf '{"name":"f%d","label":"F%d"},' "$f" "$f"; done)
start_server API_KEY="$KEY" NEXUS_MASTER_KEY_FILE="$KEYS"
json POST /v1/providers "$KEY" '{"name":"bulk","auth_type":"api_key",
  "credential_schema":{"fields":['"${schema%,}"']}}'
expect_status 201 "create bulk"
BULK=()
for u in $(seq 1 $USERS); do
  creds=$(for f in $(seq 1 $FIELDS); do printf '"f%d":"v-%d-%d",' "$f" "$u" "$f"; done)
  json POST /v1/connections "$KEY" '{"provider_name":"bulk","user_id":"b-'"$u"'",
    "credentials":{'"${creds%,}"'}}'
  expect_status 201 "connect bulk $u"
  BULK+=("$(jq -r .connection_id <<<"$BODY")")
done
stop_server

# Started directly (not through a function) so that $! is the nexus process.
env NEXUS_DATABASE="$DB" NEXUS_MASTER_KEY_FILE="$KEYS" "$NEXUS_BIN" keys rotate-master --batch 1 \
  >"$WORK/cut.out" 2>"$WORK/cut.err" &
CUT=$!
for _ in $(seq 1 400); do
  grep -q "re-sealed" "$WORK/cut.err" 2>/dev/null && break
  sleep 0.025
done
kill -KILL "$CUT" 2>/dev/null || true
wait "$CUT" 2>/dev/null || true
grep -q "re-sealed" "$WORK/cut.err" || fail "the cut rotation never re-sealed: $(cat "$WORK/cut.err")"
FOURTH=$(grep -v '^#' "$KEYS" | head -n1 | cut -d' ' -f1)
[[ $(grep -vc '^#' "$KEYS") -eq 2 ]] || fail "expected keys $FOURTH and $THIRD: $(cut -d' ' -f1 "$KEYS")"
out=$(keys_cmd check)
moved=$(awk -v k="$FOURTH" '$1 == k {print $3}' <<<"$out")
left=$(awk -v k="$THIRD" '$1 == k {print $3}' <<<"$out")
[[ $moved -gt 0 && $left -gt 0 ]] || fail "the rotation was not cut midway: $out"

keys_cmd rotate-master >"$WORK/resume.out" 2>"$WORK/resume.err" || fail "rerun: $(cat "$WORK/resume.err")"
grep -q "resuming the rotation to $FOURTH" "$WORK/resume.err" || fail "no resume: $(cat "$WORK/resume.err")"
[[ $(grep -vc '^#' "$KEYS") -eq 2 ]] || fail "the rerun made another key"
expect_eq "$(grep -v '^#' "$KEYS" | head -n1 | cut -d' ' -f1)" "$FOURTH" "primary after resume"
out=$(keys_cmd check)
grep -q "^$THIRD  old      0 sealed values" <<<"$out" || fail "values left behind: $out"
keys_cmd drop-master "$THIRD" >/dev/null

start_server API_KEY="$KEY" NEXUS_MASTER_KEY_FILE="$KEYS"
for u in 1 7 $USERS; do
  req GET "/v1/token/${BULK[$((u - 1))]}" "$KEY"
  expect_status 200 "bulk token $u"
  for f in 1 $FIELDS; do
    expect_eq "$(jq -r ".credentials.f$f" <<<"$BODY")" "v-$u-$f" "bulk $u field $f"
  done
done
read_token "$CONN" sk_rotation_value
read_token "$AFTER" sk_after_rotation
stop_server
echo "rotation: all checks passed"
