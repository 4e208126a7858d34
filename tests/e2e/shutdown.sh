#!/usr/bin/env bash
# Graceful shutdown: SIGTERM during a burst of writes loses no acknowledged
# write, lets an in-flight request finish, and exits 0; bad configuration
# stops the start with one line and a non-zero exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEY=shutdown-key
start_server API_KEY="$KEY"

# A request in flight when SIGTERM arrives: its body trickles in over ~3.5 s.
body='{"name":"slow","auth_type":"api_key","credential_schema":{"fields":[{"name":"k","label":"K"}]},"description":"'"$(head -c 3500 /dev/zero | tr '\0' s)"'"}'
curl -sS -o "$WORK/slow.body" -w '%{http_code}' --limit-rate 1000 -H "X-API-Key: $KEY" \
  -H 'Content-Type: application/json' --data-binary "$body" "$BASE/v1/providers" \
  >"$WORK/slow.status" 2>"$WORK/slow.err" &
SLOW=$!

# Writers: each creates providers one after another and records every name
# the server acknowledged with 201.
writer() {
  local w=$1 i=0 code
  while :; do
    i=$((i + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H "X-API-Key: $KEY" \
      -H 'Content-Type: application/json' \
      --data-binary '{"name":"w'"$w"'-'"$i"'","auth_type":"api_key","credential_schema":{"fields":[{"name":"k","label":"K"}]}}' \
      "$BASE/v1/providers") || true
    case $code in
      201) echo "w$w-$i" >>"$WORK/acked.$w" ;;
      000) return 0 ;;  # refused: the server has stopped accepting
    esac
  done
}
WRITERS=()
for w in 1 2 3 4 5 6; do
  : >"$WORK/acked.$w"
  writer "$w" &
  WRITERS+=($!)
done

# Let the burst run until writes are being acknowledged, then SIGTERM.
for _ in $(seq 1 200); do
  [[ $(cat "$WORK"/acked.* | wc -l) -ge 30 ]] && break
  sleep 0.05
done
[[ $(cat "$WORK"/acked.* | wc -l) -ge 30 ]] || fail "writes were not acknowledged"
kill -0 "$SLOW" 2>/dev/null || fail "the slow request finished before SIGTERM"
start_ns=$(date +%s%N)
pid=$SERVER_PID
stop_server  # SIGTERM; fails unless the exit status is 0
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
(( elapsed_ms < 12000 )) || fail "shutdown took ${elapsed_ms} ms"
kill -0 "$pid" 2>/dev/null && fail "server still running"
for p in "${WRITERS[@]}"; do wait "$p"; done
wait "$SLOW" || true
expect_eq "$(cat "$WORK/slow.status")" 201 "in-flight request finished during shutdown"
grep -q '"msg":"shutting down"' "$SERVER_LOG" || fail "no shutdown line"
grep -q '"msg":"stopped"' "$SERVER_LOG" || fail "no stopped line"

# Restart: every acknowledged write is there.
cat "$WORK"/acked.* | sort >"$WORK/acked"
acked=$(wc -l <"$WORK/acked")
start_server API_KEY="$KEY"
curl -sS -H "X-API-Key: $KEY" "$BASE/v1/providers?limit=1000" | jq -r '.[].name' | sort >"$WORK/stored"
missing=$(comm -23 "$WORK/acked" "$WORK/stored" | wc -l)
expect_eq "$missing" 0 "acknowledged writes missing after restart ($acked acknowledged)"
grep -qx slow "$WORK/stored" || fail "the in-flight write is missing"
req GET /v1/audit/verify "$KEY"
expect_eq "$(jq -r .ok <<<"$BODY")" true "audit chain after shutdown"
echo "acknowledged before SIGTERM: $acked; shutdown took ${elapsed_ms} ms"

# A sealed client secret, for the master key checks below.
json POST /v1/providers "$KEY" '{"name":"github","auth_type":"oauth2","client_id":"id",
  "client_secret":"sealed-secret","auth_url":"https://github.com/login/oauth/authorize",
  "token_url":"https://github.com/login/oauth/access_token"}'
expect_status 201 "create a provider with a secret"

# SIGINT works the same way.
kill -INT "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
expect_eq "$rc" 0 "exit status after SIGINT"

# Bad configuration: one clear line on stderr, a non-zero exit, no listener.
bad_start() {
  local rc=0
  env -u API_KEY -u NEXUS_MASTER_KEY -u NEXUS_MASTER_KEY_FILE "$@" "$NEXUS_BIN" serve \
    >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
  [[ $rc -ne 0 ]] || fail "started with: $*"
  [[ $(wc -l <"$WORK/bad.err") -eq 1 ]] || fail "not one line for $*: $(cat "$WORK/bad.err")"
  BAD_RC=$rc
}
bad_start NEXUS_LISTEN=not-an-address NEXUS_DATABASE=memory:
grep -q NEXUS_LISTEN "$WORK/bad.err" || fail "message does not name NEXUS_LISTEN"
bad_start NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE=sqlite:/proc/nexus/cannot.db \
  NEXUS_MASTER_KEY="$MASTER_KEY"
grep -q database "$WORK/bad.err" || fail "message does not name the database"
bad_start NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE="sqlite:$WORK/other.db"
grep -q NEXUS_MASTER_KEY "$WORK/bad.err" || fail "a database without a master key: $(cat "$WORK/bad.err")"
bad_start NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE="$DB" NEXUS_MASTER_KEY=not-base64
# The database seals with the test's key: another key cannot open it.
bad_start NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE="$DB" NEXUS_MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
grep -q "master key" "$WORK/bad.err" || fail "wrong master key: $(cat "$WORK/bad.err")"
# A database URL nexus cannot use is named as such (before any master key is
# looked for), without its password.
bad_start NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE=postgres://nexus:Hunter2Secret@nowhere/nexus
grep -q 'NEXUS_DATABASE "postgres://nexus:\*\*\*@nowhere/nexus" is not supported' "$WORK/bad.err" \
  || fail "bad database URL: $(cat "$WORK/bad.err")"
! grep -q "master key" "$WORK/bad.err" || fail "a bad URL reported as a master key problem"
expect_eq "$BAD_RC" 2 "exit status for a bad database URL"
bad_start NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE="$WORK/plain-path.db"
grep -q "NEXUS_DATABASE" "$WORK/bad.err" || fail "a path without sqlite: $(cat "$WORK/bad.err")"
[[ ! -e "$WORK/plain-path.db" ]] || fail "a database was created for a bad URL"
# Neither do the keys commands print a database password.
rc=0
NEXUS_DATABASE=postgresql://nexus:Hunter2Secret@db/nexus "$NEXUS_BIN" keys list \
  >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
[[ $rc -ne 0 ]] || fail "keys list with a postgresql URL succeeded"
[[ $(wc -l <"$WORK/bad.err") -eq 1 ]] || fail "keys list: not one line: $(cat "$WORK/bad.err")"
grep -q 'postgresql://nexus:\*\*\*@db/nexus' "$WORK/bad.err" || fail "keys list: $(cat "$WORK/bad.err")"
! grep -q Hunter2Secret "$WORK/bad.err" "$WORK/bad.out" || fail "keys list printed the password"
bad_start NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE=memory: NEXUS_THREADS=0
bad_start NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE=memory: NEXUS_TRUSTED_PROXIES=10.0.0.0/40
# A port already taken.
start_server API_KEY="$KEY"
bad_start NEXUS_LISTEN="${BASE#http://}" NEXUS_DATABASE=memory: API_KEY=x
grep -q "cannot listen" "$WORK/bad.err" || fail "port in use: $(cat "$WORK/bad.err")"
# A first start without API_KEY binds before it creates the database or an
# admin key: a failed bind prints one line, no key, and leaves no database.
bad_start NEXUS_LISTEN="${BASE#http://}" NEXUS_DATABASE="sqlite:$WORK/first/start.db" \
  NEXUS_MASTER_KEY="$MASTER_KEY"
grep -q "cannot listen" "$WORK/bad.err" || fail "first start, port in use: $(cat "$WORK/bad.err")"
expect_eq "$BAD_RC" 1 "exit status when the port is taken"
! grep -q "nxk_" "$WORK/bad.err" "$WORK/bad.out" || fail "a key was printed by a failed start"
[[ ! -e "$WORK/first" ]] || fail "a failed start created the database: $(ls -R "$WORK/first")"
# The same on an existing database without an admin key (a start would
# generate one): not a byte changes.
rc=0
NEXUS_DATABASE="sqlite:$WORK/existing.db" "$NEXUS_BIN" keys list >/dev/null 2>&1 || rc=$?
[[ $rc -eq 0 ]] || fail "could not create $WORK/existing.db"
sum_existing=$(sha256sum "$WORK/existing.db" | cut -d' ' -f1)
bad_start NEXUS_LISTEN="${BASE#http://}" NEXUS_DATABASE="sqlite:$WORK/existing.db" \
  NEXUS_MASTER_KEY="$MASTER_KEY"
grep -q "cannot listen" "$WORK/bad.err" || fail "existing database, port in use: $(cat "$WORK/bad.err")"
expect_eq "$(sha256sum "$WORK/existing.db" | cut -d' ' -f1)" "$sum_existing" \
  "database after a failed bind"
! grep -q "nxk_" "$WORK/bad.err" "$WORK/bad.out" || fail "a key was printed by a failed start"
stop_server
echo "e2e shutdown: ok"
