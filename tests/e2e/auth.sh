#!/usr/bin/env bash
# Keys, roles and workspaces through the real binary: `nexus keys create|list|
# revoke` against the server's database, two workspaces, three roles.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

start_server API_KEY=env-admin-key

declare -A K
for ws in acme globex; do
  for role in admin agent auditor; do
    K[$ws.$role]=$(create_key "$ws" "$role")
    [[ ${K[$ws.$role]} =~ ^nxk_[0-9a-z]{26}_[A-Za-z0-9_-]{43}$ ]] || fail "key format: ${K[$ws.$role]}"
  done
done

# keys list shows ids, workspaces and roles, never key text.
listing=$(NEXUS_DATABASE="$DB" "$NEXUS_BIN" keys list)
[[ $(grep -c ' acme ' <<<"$listing") -eq 3 ]] || fail "keys list: $listing"
for k in "${K[@]}"; do ! grep -qF "${k:30}" <<<"$listing" || fail "keys list shows a secret"; done
! grep -qF env-admin-key <<<"$listing" || fail "keys list shows API_KEY"
[[ $(NEXUS_DATABASE="$DB" "$NEXUS_BIN" keys list --workspace globex | wc -l) -eq 3 ]] \
  || fail "keys list --workspace"

STRIPE='{"name":"stripe","auth_type":"api_key","credential_schema":{"fields":[{"name":"secret_key","label":"Secret Key"}]}}'

# Roles: admin writes, agent reads providers, auditor reads audit.
json POST /v1/providers "${K[acme.agent]}" "$STRIPE"
expect_error 403 forbidden "agent creates"
json POST /v1/providers "${K[acme.auditor]}" "$STRIPE"
expect_error 403 forbidden "auditor creates"
json POST /v1/providers "${K[acme.admin]}" "$STRIPE"
expect_status 201 "admin creates"
for role in admin agent; do
  for path in /v1/providers /v1/providers/stripe /v1/providers/metadata; do
    req GET "$path" "${K[acme.$role]}"
    expect_status 200 "$role GET $path"
  done
done
for path in /v1/providers /v1/providers/stripe /v1/providers/metadata; do
  req GET "$path" "${K[acme.auditor]}"
  expect_error 403 forbidden "auditor GET $path"
done
for role in admin auditor; do
  for path in /v1/audit /v1/audit/verify; do
    req GET "$path" "${K[acme.$role]}"
    expect_status 200 "$role GET $path"
  done
done
for path in /v1/audit /v1/audit/verify; do
  req GET "$path" "${K[acme.agent]}"
  expect_error 403 forbidden "agent GET $path"
done
json PATCH /v1/providers/stripe "${K[acme.agent]}" '{"description":"x"}'
expect_error 403 forbidden "agent patches"
req DELETE /v1/providers/stripe "${K[acme.auditor]}"
expect_error 403 forbidden "auditor deletes"

# Workspaces: globex cannot see, change or delete acme's stripe (404, never 403).
for role in admin agent; do
  req GET /v1/providers/stripe "${K[globex.$role]}"
  expect_error 404 provider_not_found "globex $role reads acme's provider"
done
req DELETE /v1/providers/stripe "${K[globex.admin]}"
expect_error 404 provider_not_found "globex deletes acme's provider"
json PATCH /v1/providers/stripe "${K[globex.admin]}" '{"description":"x"}'
expect_error 404 provider_not_found "globex patches acme's provider"
req GET /v1/providers "${K[globex.agent]}"
expect_eq "$BODY" "[]" "globex list"
req GET /v1/audit "${K[globex.auditor]}"
expect_eq "$(jq '[.[] | select(.event_type | startswith("provider."))] | length' <<<"$BODY")" 0 \
  "globex audit"
# The same name is free in globex and separate from acme's.
json POST /v1/providers "${K[globex.admin]}" "$STRIPE"
expect_status 201 "globex creates its own stripe"
json PATCH /v1/providers/stripe "${K[globex.admin]}" '{"description":"globex"}'
expect_status 200 "globex patches its own"
req GET /v1/providers/stripe "${K[acme.agent]}"
expect_eq "$(jq -r '.description // "none"' <<<"$BODY")" none "acme's stripe untouched"
req GET /v1/providers/stripe env-admin-key
expect_error 404 provider_not_found "default workspace sees neither"

# 401 answers are identical whatever the key claims.
req GET /v1/providers "nxk_00000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
unknown=$BODY
forged="${K[acme.admin]:0:31}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
req GET /v1/providers "$forged"
expect_error 401 unauthorized "forged secret for a real key id"
expect_eq "$BODY" "$unknown" "401 bodies"

# Revocation by another process reaches the server within its key cache time
# (1 s): poll, bounded.
acme_admin_id=$(NEXUS_DATABASE="$DB" "$NEXUS_BIN" keys list --workspace acme | awk '$3 == "admin" {print $1}')
req GET /v1/providers "${K[acme.admin]}"
expect_status 200 "key before revocation"
NEXUS_DATABASE="$DB" "$NEXUS_BIN" keys revoke "$acme_admin_id" >/dev/null
revoked_at=$(date +%s%N)
for _ in $(seq 1 60); do
  req GET /v1/providers "${K[acme.admin]}"
  [[ $STATUS == 401 ]] && break
  sleep 0.05
done
expect_error 401 unauthorized "revoked key"
(( ($(date +%s%N) - revoked_at) < 2500000000 )) || fail "revocation took longer than the cache time"
NEXUS_DATABASE="$DB" "$NEXUS_BIN" keys revoke "$acme_admin_id" >/dev/null 2>&1 \
  && fail "revoking twice succeeded"
listing=$(NEXUS_DATABASE="$DB" "$NEXUS_BIN" keys list --workspace acme)
grep -q "$acme_admin_id .*revoked" <<<"$listing" || fail "list does not show the revocation: $listing"

# Key events are audited in their workspace, without key text.
req GET "/v1/audit?event_type=api_key.revoked" "${K[acme.auditor]}"
expect_eq "$(jq -r '.[0].data.key_id' <<<"$BODY")" "$acme_admin_id" "revocation audited"
for k in "${K[@]}"; do ! grep -qF "$k" "$SEEN" "$SERVER_LOG" || fail "a key appears in output"; done

# Changing API_KEY retires the previous one.
stop_server
start_server API_KEY=env-admin-key-2
req GET /v1/providers env-admin-key
expect_error 401 unauthorized "previous API_KEY"
req GET /v1/providers env-admin-key-2
expect_status 200 "new API_KEY"
stop_server

# Bad keys commands fail with one line and a non-zero exit.
if NEXUS_DATABASE="$DB" "$NEXUS_BIN" keys create --workspace acme --role root 2>"$WORK/err"; then
  fail "bad role accepted"
fi
[[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "error is not one line: $(cat "$WORK/err")"
echo "e2e auth: ok"
