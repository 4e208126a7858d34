#!/usr/bin/env bash
# The seed's curl session against the real server: register github (oauth2,
# explicit URLs) and stripe (api_key), list, metadata, patch client_secret,
# delete. Asserts statuses and bodies, and that no client_secret ever appears
# in a response, an audit event or the log.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEY=your-api-key
SECRET=your-github-client-secret
NEW_SECRET=rotated-github-client-secret-7f3a

start_server API_KEY="$KEY"

# Register GitHub.
json POST /v1/providers "$KEY" '{
  "name": "github",
  "auth_type": "oauth2",
  "client_id": "your-github-client-id",
  "client_secret": "'"$SECRET"'",
  "auth_url": "https://github.com/login/oauth/authorize",
  "token_url": "https://github.com/login/oauth/access_token",
  "api_base_url": "https://api.github.com",
  "user_info_endpoint": "https://api.github.com/user",
  "scopes": ["repo", "read:user"],
  "description": "GitHub OAuth App",
  "category": "developer"
}'
expect_status 201 "create github"
expect_eq "$(header Location)" "/v1/providers/github" "Location"
expect_eq "$(header ETag)" '"v1"' "ETag"
expect_eq "$(jq -r '.name, .auth_type, .version, .client_secret_set' <<<"$BODY" | tr '\n' ' ')" \
  "github oauth2 1 true " "github view"
expect_eq "$(jq -r 'has("client_secret")' <<<"$BODY")" false "view hides client_secret"
expect_eq "$(jq -r '.scopes | join(",")' <<<"$BODY")" "repo,read:user" "scopes"
expect_eq "$(jq -r '.id | startswith("prv_")' <<<"$BODY")" true "id"
[[ -n $(header X-Request-Id) ]] || fail "no X-Request-Id"

# Register Stripe.
json POST /v1/providers "$KEY" '{
  "name": "stripe",
  "auth_type": "api_key",
  "api_base_url": "https://api.stripe.com",
  "credential_schema": {"fields": [{"name": "secret_key", "label": "Secret Key", "sensitive": true}]},
  "description": "Stripe payments API",
  "category": "payments"
}'
expect_status 201 "create stripe"
expect_eq "$(jq -c '.credential_schema' <<<"$BODY")" \
  '{"fields":[{"name":"secret_key","label":"Secret Key","sensitive":true}]}' "credential_schema"

# List.
req GET /v1/providers "$KEY"
expect_status 200 "list"
expect_eq "$(jq -r '[.[].name] | join(",")' <<<"$BODY")" "github,stripe" "list names"
expect_eq "$(jq -r '[.[] | has("client_secret")] | any' <<<"$BODY")" false "list hides secrets"

# Paging: one per page, the next page in Link.
req GET "/v1/providers?limit=1" "$KEY"
expect_eq "$(jq -r '.[0].name' <<<"$BODY")" github "first page"
next=$(header Link | sed -E 's/^<([^>]*)>; rel="next"$/\1/')
[[ $next == /v1/providers\?* ]] || fail "no next link: $(header Link)"
req GET "$next" "$KEY"
expect_eq "$(jq -r '.[0].name' <<<"$BODY")" stripe "second page"
[[ -z $(header Link) ]] || fail "last page has a Link"

# Metadata, grouped by auth_type.
req GET /v1/providers/metadata "$KEY"
expect_status 200 "metadata"
expect_eq "$(jq -c '.oauth2.github' <<<"$BODY")" \
  '{"api_base_url":"https://api.github.com","user_info_endpoint":"https://api.github.com/user","scopes":["repo","read:user"]}' \
  "github metadata"
expect_eq "$(jq -c '.api_key.stripe.credential_fields' <<<"$BODY")" \
  '[{"name":"secret_key","label":"Secret Key","sensitive":true}]' "stripe metadata"

# Read one, with its ETag.
req GET /v1/providers/github "$KEY"
expect_status 200 "get github"
expect_eq "$(header ETag)" '"v1"' "ETag of get"

# Patch the client secret: only that field changes.
json PATCH /v1/providers/github "$KEY" '{"client_secret": "'"$NEW_SECRET"'"}' -H 'If-Match: "v1"'
expect_status 200 "patch client_secret"
expect_eq "$(jq -r '.version, .client_secret_set, .client_id' <<<"$BODY" | tr '\n' ' ')" \
  "2 true your-github-client-id " "patched view"
expect_eq "$(header ETag)" '"v2"' "ETag after patch"

# Delete.
req DELETE /v1/providers/github "$KEY"
expect_status 204 "delete github"
[[ -z $BODY ]] || fail "204 with a body"
req GET /v1/providers/github "$KEY"
expect_error 404 provider_not_found "github after delete"
req GET /v1/providers "$KEY"
expect_eq "$(jq -r '[.[].name] | join(",")' <<<"$BODY")" "stripe" "list after delete"

# The audit log: who, from where, when; never a secret.
req GET "/v1/audit?limit=100" "$KEY"
expect_status 200 "audit"
audit=$BODY
expect_eq "$(jq -r '[.[] | select(.event_type | startswith("provider.")) | .event_type] | join(",")' <<<"$audit")" \
  "provider.deleted,provider.updated,provider.created,provider.created" "audit events"
provider_events='[.[] | select(.event_type | startswith("provider."))]'
expect_eq "$(jq -r "$provider_events"' | map(.caller_ip) | unique | join(",")' <<<"$audit")" "127.0.0.1" \
  "caller ip"
expect_eq "$(jq -r "$provider_events"' | map(.actor | startswith("key_")) | all' <<<"$audit")" true \
  "actor is a key id"
expect_eq "$(jq -r '.[0].at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$")' <<<"$audit")" true \
  "timestamp"
expect_eq "$(jq -r '.[] | select(.event_type == "provider.updated") | .data.changed.client_secret.to' <<<"$audit")" \
  "[REDACTED]" "redacted patch"
req GET "/v1/audit?event_type=provider.deleted&provider=github" "$KEY"
expect_eq "$(jq length <<<"$BODY")" 1 "audit filter"
req GET /v1/audit/verify "$KEY"
expect_status 200 "verify"
expect_eq "$(jq -r .ok <<<"$BODY")" true "chain intact"

# Metrics count what happened; they need a key like every other route.
req GET /metrics -
expect_error 401 unauthorized "metrics without a key"
metrics=$(curl -sS -H "X-API-Key: $KEY" "$BASE/metrics")
grep -q 'nexus_http_requests_total{method="POST",route="/v1/providers",status="201"} 2' <<<"$metrics" \
  || fail "metrics: $metrics"
grep -q 'nexus_providers{workspace="default"} 1' <<<"$metrics" || fail "provider gauge: $metrics"

# No secret and no API key anywhere: responses, audit, logs.
for s in "$SECRET" "$NEW_SECRET"; do
  ! grep -qF "$s" "$SEEN" || fail "a response contains $s"
  ! grep -qF "$s" "$SERVER_LOG" "$SERVER_ERR" || fail "the log contains $s"
done
! grep -qF "$KEY" "$SERVER_LOG" "$SERVER_ERR" || fail "the log contains the API key"
[[ $(grep -c '"msg":"request"' "$SERVER_LOG") -ge 15 ]] || fail "one log line per request"
jq -e 'select(.msg == "request") | .method and .route and .status and (.duration_us >= 0) and .request_id' \
  "$SERVER_LOG" >/dev/null || fail "access log fields"

# Restart on the same database: the data and the key survive.
stop_server
grep -q '"msg":"stopped"' "$SERVER_LOG" || fail "no stopped line"
start_server API_KEY="$KEY"
req GET /v1/providers/stripe "$KEY"
expect_status 200 "stripe after restart"
req GET /v1/audit/verify "$KEY"
expect_eq "$(jq -r .ok <<<"$BODY")" true "chain intact after restart"
stop_server

# Without API_KEY, a fresh database gets a generated admin key, printed once.
DB="sqlite:$WORK/fresh.db"
start_server
generated=$(grep -oE 'nxk_[0-9a-z]{26}_[A-Za-z0-9_-]{43}' "$SERVER_ERR" | head -n1)
[[ -n $generated ]] || fail "no generated key printed: $(cat "$SERVER_ERR")"
! grep -qF "$generated" "$SERVER_LOG" || fail "the generated key is in the JSON log"
req GET /v1/providers "$generated"
expect_status 200 "generated key works"
req GET /v1/providers "$KEY"
expect_error 401 unauthorized "API_KEY of another database"
stop_server
start_server
! grep -q 'nxk_' "$SERVER_ERR" || fail "a key was printed twice"
req GET /v1/providers "$generated"
expect_status 200 "generated key after restart"
stop_server
echo "e2e seed: ok"
