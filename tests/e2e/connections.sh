#!/usr/bin/env bash
# Sealed credentials through the real server: an api_key connection to the
# seed's stripe provider, its credentials read by an agent, the provider
# deleted (410 provider_deleted, status provider_deleted, nothing else
# broken). No secret reaches a response other than /v1/token, the log, the
# audit log, or the database and WAL files. A start with a missing or
# malformed master key (or key file) fails clearly and leaves the database
# byte-identical, at the latest schema or an older one. A malformed envelope
# does not stop the start. The default database's key file is generated
# only for a database without sealed values.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEY=your-api-key
GH_SECRET=gh-secret-e2e-4b1d
STRIPE_SECRET=sk_live_e2e_5f2c9a7d

start_server API_KEY="$KEY"
# The secrets read from the environment are wiped from it.
for s in "$KEY" "$MASTER_KEY"; do
  ! tr '\0' '\n' <"/proc/$SERVER_PID/environ" | grep -q -F -- "$s" ||
    fail "the process environment still holds a secret"
done
AGENT=$(create_key default agent)
AUDITOR=$(create_key default auditor)
OTHER=$(create_key acme admin)

json POST /v1/providers "$KEY" '{"name":"github","auth_type":"oauth2","client_id":"id",
  "client_secret":"'"$GH_SECRET"'","auth_url":"https://github.com/login/oauth/authorize",
  "token_url":"https://github.com/login/oauth/access_token"}'
expect_status 201 "create github"
json POST /v1/providers "$KEY" '{"name":"stripe","auth_type":"api_key",
  "api_base_url":"https://api.stripe.com",
  "credential_schema":{"fields":[{"name":"secret_key","label":"Secret Key","sensitive":true}]}}'
expect_status 201 "create stripe"

# Connect, with the seed's body.
json POST /v1/connections "$KEY" '{"provider_name":"stripe","user_id":"u-42",
  "credentials":{"secret_key":"'"$STRIPE_SECRET"'"}}'
expect_status 201 "create connection"
CONN=$(jq -r .connection_id <<<"$BODY")
expect_eq "$(jq -r .status <<<"$BODY")" active "status"
expect_eq "$(header Location)" "/v1/connections/$CONN" "Location"

# Bad connection input is refused by field, and stores nothing.
json POST /v1/connections "$KEY" '{"provider_name":"stripe","user_id":"u-42","credentials":{}}'
expect_error 400 validation_failed "missing credential"
expect_eq "$(jq -r .field <<<"$BODY")" credentials.secret_key "field"
json POST /v1/connections "$KEY" '{"provider_name":"stripe","user_id":"u-42",
  "credentials":{"secret_key":"x","secret":"y"}}'
expect_eq "$(jq -r .field <<<"$BODY")" credentials.secret "unknown field"
req GET "/v1/connections?provider_name=stripe" "$KEY"
expect_eq "$(jq length <<<"$BODY")" 1 "one connection"

# Reading credentials: agent yes, auditor no, other workspace 404.
req GET "/v1/token/$CONN" "$AGENT"
expect_status 200 "token as agent"
expect_eq "$(jq -r .credentials.secret_key <<<"$BODY")" "$STRIPE_SECRET" "credential value"
expect_eq "$(jq -r '.api_base_url, .auth_type' <<<"$BODY" | tr '\n' ' ')" \
  "https://api.stripe.com api_key " "token metadata"
expect_eq "$(header Cache-Control)" no-store "Cache-Control"
TOKEN_BODY=$BODY
req GET "/v1/token/$CONN" "$AUDITOR"
expect_error 403 forbidden "token as auditor"
req GET "/v1/token/$CONN" "$OTHER"
expect_error 404 not_found "token from another workspace"
req GET "/v1/connections/$CONN" "$AGENT"
expect_status 200 "connection as agent"

# Delete the provider: retrieval fails clearly, the connection says why.
req DELETE /v1/providers/stripe "$KEY"
expect_status 204 "delete stripe"
req GET "/v1/token/$CONN" "$AGENT"
expect_error 410 provider_deleted "token after delete"
grep -q "deleted" <<<"$(jq -r .message <<<"$BODY")" || fail "message does not say why"
req GET "/v1/connections/$CONN" "$KEY"
expect_eq "$(jq -r .status <<<"$BODY")" provider_deleted "status after delete"
# Nothing else broke.
req GET /v1/providers/github "$AGENT"
expect_status 200 "github still readable"
req GET /v1/providers/metadata "$AGENT"
expect_status 200 "metadata"

# The audit log records reads and failures, never values; the chain holds.
req GET "/v1/audit?limit=1000" "$AUDITOR"
AUDIT=$BODY
for t in connection.created token_retrieved token_retrieval_failed provider.deleted; do
  jq -e --arg t "$t" 'any(.[]; .event_type == $t)' <<<"$AUDIT" >/dev/null || fail "no $t event"
done
req GET /v1/audit/verify "$AUDITOR"
expect_eq "$(jq -r .ok <<<"$BODY")" true "audit verifies"

# Secrets: nowhere but the one token response.
grep -v -F "$TOKEN_BODY" "$SEEN" >"$WORK/seen-others" || true
for s in "$GH_SECRET" "$STRIPE_SECRET"; do
  ! grep -q -F "$s" "$WORK/seen-others" || fail "a response other than /v1/token carried a secret"
  ! grep -q -F "$s" <<<"$AUDIT" || fail "the audit log carries a secret"
  ! grep -q -F "$s" "$SERVER_LOG" "$SERVER_ERR" || fail "the log carries a secret"
  for f in "$WORK/nexus.db" "$WORK/nexus.db-wal"; do
    [[ -f $f ]] || continue
    ! grep -q -a -F "$s" "$f" || fail "$(basename "$f") holds a secret in clear"
  done
done
stop_server
for s in "$GH_SECRET" "$STRIPE_SECRET"; do
  ! grep -q -a -F "$s" "$WORK/nexus.db" || fail "the database holds a secret in clear"
done

# A start with a key the database does not know, or a malformed key, is
# refused with one clear line and changes nothing.
BEFORE=$(sha256sum "$WORK/nexus.db" | cut -d' ' -f1)
expect_refused() {
  local what=$1 rc=0
  shift
  env -u API_KEY -u NEXUS_MASTER_KEY_FILE NEXUS_LISTEN=127.0.0.1:0 NEXUS_DATABASE="$DB" "$@" \
    "$NEXUS_BIN" serve >"$WORK/refused.log" 2>"$WORK/refused.err" || rc=$?
  [[ $rc -ne 0 ]] || fail "$what: the server started"
  grep -q "master" "$WORK/refused.err" || fail "$what: unclear message: $(cat "$WORK/refused.err")"
  ! grep -q -F "$MASTER_KEY" "$WORK/refused.err" || fail "$what: the message echoes a key"
  expect_eq "$(sha256sum "$WORK/nexus.db" | cut -d' ' -f1)" "$BEFORE" "$what: database unchanged"
  [[ ! -e $WORK/nexus.db-wal && ! -e $WORK/nexus.db-shm ]] || fail "$what: left -wal/-shm files"
}
expect_refused "unknown key" NEXUS_MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
expect_refused "malformed key" NEXUS_MASTER_KEY="not-a-key"
expect_refused "short key" NEXUS_MASTER_KEY="$(head -c 16 /dev/urandom | base64)"
printf 'k1 not-a-key\n' >"$WORK/bad.keys"
expect_refused "malformed key file" NEXUS_MASTER_KEY_FILE="$WORK/bad.keys"
grep -q "line 1" "$WORK/refused.err" || fail "the key file error does not name the line"

# A database left at an older schema (3) by an earlier version is refused
# just the same: no migration runs, not a byte changes.
cp "$WORK/nexus.db" "$WORK/latest.db"
sqlite3 "$WORK/nexus.db" "DELETE FROM schema_migrations WHERE version > 3;
  DROP TABLE IF EXISTS provider_discovery;"
BEFORE=$(sha256sum "$WORK/nexus.db" | cut -d' ' -f1)
expect_refused "unknown key, schema 3" NEXUS_MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
expect_eq "$(sqlite3 "$WORK/nexus.db" 'SELECT MAX(version) FROM schema_migrations')" 3 \
  "schema version after a refused start"
mv "$WORK/latest.db" "$WORK/nexus.db"

# With the right key everything still reads.
start_server API_KEY="$KEY"
req GET /v1/providers/github "$KEY"
expect_eq "$(jq -r .client_secret_set <<<"$BODY")" true "client secret kept"
json POST /v1/providers "$KEY" '{"name":"openai","auth_type":"api_key",
  "credential_schema":{"fields":[{"name":"api_key","label":"API Key"}]}}'
expect_status 201 "create openai"
for u in broken fine; do
  json POST /v1/connections "$KEY" '{"provider_name":"openai","user_id":"'"$u"'",
    "credentials":{"api_key":"sk-'"$u"'-value"}}'
  expect_status 201 "connect $u"
  declare "CONN_${u^^}=$(jq -r .connection_id <<<"$BODY")"
done
stop_server

# A malformed envelope (its version byte changed) does not stop the start:
# it is logged by place (ids only) and reads of it answer 500
# credential_unreadable; everything else works.
sqlite3 "$WORK/nexus.db" "UPDATE connection_credentials SET envelope = X'02' || substr(envelope, 2)
  WHERE connection_id = '$CONN_BROKEN'"
start_server API_KEY="$KEY"
jq -s -e --arg id "$CONN_BROKEN" 'any(.[]; .owner_id == $id and .level == "warn")' \
  "$SERVER_LOG" >/dev/null || fail "the malformed value was not reported: $(cat "$SERVER_LOG")"
req GET "/v1/token/$CONN_BROKEN" "$KEY"
expect_error 500 credential_unreadable "token of a malformed value"
req GET "/v1/token/$CONN_FINE" "$KEY"
expect_status 200 "token beside a malformed value"
expect_eq "$(jq -r .credentials.api_key <<<"$BODY")" sk-fine-value "value beside a malformed one"
! grep -q -F "sk-broken-value" "$SERVER_LOG" "$SERVER_ERR" || fail "the log carries a secret"
stop_server

# The default database without any key: the first start generates
# var/master.key (0600) and warns; once the database holds sealed values, a
# start without that file is refused and writes nothing (no new key file).
NEXUS_BIN=$(realpath "$NEXUS_BIN")
mkdir "$WORK/default"
cd "$WORK/default"
DB="sqlite:var/nexus.db"
MASTER_KEY=""
start_server API_KEY="$KEY"
[[ -f var/master.key ]] || fail "var/master.key was not created"
expect_eq "$(stat -c %a var/master.key)" 600 "mode of var/master.key"
grep -q "WARNING: created the master key file var/master.key" "$SERVER_ERR" ||
  fail "no warning about the generated key: $(cat "$SERVER_ERR")"
json POST /v1/providers "$KEY" '{"name":"github","auth_type":"oauth2","client_id":"id",
  "client_secret":"'"$GH_SECRET"'","auth_url":"https://github.com/login/oauth/authorize",
  "token_url":"https://github.com/login/oauth/access_token"}'
expect_status 201 "create github (default database)"
stop_server
start_server API_KEY="$KEY"
! grep -q "created the master key file" "$SERVER_ERR" || fail "the key file was created again"
stop_server
mv var/master.key "$WORK/saved.key"
SUM=$(sha256sum var/nexus.db | cut -d' ' -f1)
rc=0
env -u API_KEY -u NEXUS_MASTER_KEY -u NEXUS_MASTER_KEY_FILE -u NEXUS_DATABASE \
  NEXUS_LISTEN=127.0.0.1:0 "$NEXUS_BIN" serve >"$WORK/nokey.log" 2>"$WORK/nokey.err" || rc=$?
[[ $rc -eq 2 ]] || fail "a start without the key file: exit $rc, $(cat "$WORK/nokey.err")"
grep -q "var/master.key does not exist" "$WORK/nokey.err" ||
  fail "unclear message: $(cat "$WORK/nokey.err")"
[[ ! -e var/master.key ]] || fail "a refused start wrote a key file"
expect_eq "$(sha256sum var/nexus.db | cut -d' ' -f1)" "$SUM" "database after a refused start"
mv "$WORK/saved.key" var/master.key
start_server API_KEY="$KEY"
req GET /v1/providers/github "$KEY"
expect_eq "$(jq -r .client_secret_set <<<"$BODY")" true "secret readable with the key back"
stop_server
echo "connections: all checks passed"
