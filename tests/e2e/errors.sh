#!/usr/bin/env bash
# Every error code of the API through the real server, each followed by a
# check that the stored providers (and the audit chain) did not change.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEY=admin-key-for-errors
start_server API_KEY="$KEY"
AGENT=$(create_key default agent)

GITHUB='{"name":"github","auth_type":"oauth2","client_id":"id","client_secret":"errors-secret-1",
  "auth_url":"https://github.com/login/oauth/authorize","token_url":"https://github.com/login/oauth/access_token"}'
json POST /v1/providers "$KEY" "$GITHUB"
expect_status 201 "setup"
before=$(snapshot "$KEY")

# check STATUS CODE WHAT: the last request failed as expected and changed nothing.
check() {
  expect_error "$1" "$2" "$3"
  expect_eq "$(snapshot "$KEY")" "$before" "stored data after: $3"
}

json POST /v1/providers "$KEY" '{"name": github}'
check 400 invalid_json "not JSON"
json POST /v1/providers "$KEY" "$(printf '%.0s[' {1..40})$(printf '%.0s]' {1..40})"
check 400 invalid_json "nested 40 deep"
json POST /v1/providers "$KEY" '{"name":"x","auth_type":"oauth2","scope":"repo"}'
check 400 validation_failed "unknown member"
expect_eq "$(jq -r .field <<<"$BODY")" scope "field of unknown member"
json POST /v1/providers "$KEY" '{"name":"Bad Name","auth_type":"oauth2"}'
check 400 validation_failed "bad name"
json PATCH /v1/providers/github "$KEY" '{"token_url":"ftp://example.com"}'
check 400 validation_failed "patch to an invalid URL"
req GET "/v1/providers?limit=zero" "$KEY"
check 400 validation_failed "bad limit"

req DELETE /v1/providers/github -
check 401 unauthorized "no key"
req DELETE /v1/providers/github "wrong-key"
check 401 unauthorized "wrong key"
[[ $(jq -c 'has("field")' <<<"$BODY") == false ]] || fail "401 names a field"

req DELETE /v1/providers/github "$AGENT"
check 403 forbidden "agent deletes"

req GET /v1/providers/nope "$KEY"
check 404 provider_not_found "unknown provider"
req GET /v1/nothing "$KEY"
check 404 not_found "unknown route"

req PUT /v1/providers/github "$KEY" -H 'Content-Type: application/json' --data-binary "$GITHUB"
check 405 method_not_allowed "PUT"
expect_eq "$(header Allow)" "GET, HEAD, PATCH, DELETE" "Allow"

json POST /v1/providers "$KEY" "$GITHUB"
check 409 provider_exists "duplicate"

json PATCH /v1/providers/github "$KEY" '{"description":"x"}' -H 'If-Match: "v5"'
check 412 version_conflict "stale If-Match on PATCH"
req DELETE /v1/providers/github "$KEY" -H 'If-Match: "v2"'
check 412 version_conflict "stale If-Match on DELETE"

head -c 70000 /dev/zero | tr '\0' 'a' >"$WORK/big.json"
req POST /v1/providers "$KEY" -H 'Content-Type: application/json' --data-binary "@$WORK/big.json"
check 413 payload_too_large "body over 64 KiB"

req POST /v1/providers "$KEY" -H 'Content-Type: text/plain' --data-binary "$GITHUB"
check 415 unsupported_media_type "text/plain"
req POST /v1/providers "$KEY" --data-binary "$GITHUB"  # curl's default form type
check 415 unsupported_media_type "form content type"

# 503: another process holds the database's write lock longer than the busy
# timeout. The server stays up and recovers when the lock goes.
dbfile="$WORK/nexus.db"
mkfifo "$WORK/lock.fifo"
sqlite3 "$dbfile" <"$WORK/lock.fifo" >/dev/null &
LOCKER=$!
exec 7>"$WORK/lock.fifo"
echo "PRAGMA busy_timeout=10000; BEGIN EXCLUSIVE; SELECT 'locked';" >&7
for _ in $(seq 1 100); do  # until the lock is held: a write from here must fail
  sqlite3 "$dbfile" "PRAGMA busy_timeout=0; BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 || break
  sleep 0.05
done
json POST /v1/providers "$KEY" '{"name":"locked","auth_type":"api_key","credential_schema":{"fields":[{"name":"k","label":"K"}]}}'
echo "ROLLBACK;" >&7
exec 7>&-
wait "$LOCKER" || true
expect_error 503 unavailable "database locked"
expect_eq "$(snapshot "$KEY")" "$before" "stored data after: database locked"
req GET /readyz -
expect_status 200 "ready again"

# 500: the database loses a table behind the server's back. The answer leaks
# no internals; the details go to the log.
sqlite3 "$dbfile" "PRAGMA busy_timeout=5000; ALTER TABLE providers RENAME TO providers_gone;" >/dev/null
req GET /v1/providers/github "$KEY"
expect_error 500 internal "storage failure"
! grep -qiE 'sqlite|providers_gone|no such table' <<<"$BODY" || fail "500 leaks internals: $BODY"
sqlite3 "$dbfile" "PRAGMA busy_timeout=5000; ALTER TABLE providers_gone RENAME TO providers;" >/dev/null
req GET /v1/providers/github "$KEY"
expect_status 200 "recovered"
expect_eq "$(snapshot "$KEY")" "$before" "stored data at the end"

! grep -qF "errors-secret-1" "$SEEN" || fail "a response contains the client secret"
stop_server
echo "e2e errors: ok"
