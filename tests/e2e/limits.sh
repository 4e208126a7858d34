#!/usr/bin/env bash
# The server's limits and connection handling: body and header limits, JSON
# depth, keep-alive, malformed HTTP, and slow clients that must not stall
# anyone else.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KEY=limits-key
start_server API_KEY="$KEY"
before=$(snapshot "$KEY")
host=${BASE#http://}
HOST=${host%:*}
PORT=${host##*:}

# Body: 64 KiB is accepted by the limit (and then refused as JSON); one byte
# more is 413, with or without Expect: 100-continue.
head -c 65536 /dev/zero | tr '\0' ' ' >"$WORK/64k"
req POST /v1/providers "$KEY" -H 'Content-Type: application/json' --data-binary "@$WORK/64k"
expect_error 400 invalid_json "64 KiB of spaces"
printf ' ' >>"$WORK/64k"
req POST /v1/providers "$KEY" -H 'Content-Type: application/json' --data-binary "@$WORK/64k"
expect_error 413 payload_too_large "64 KiB + 1"
req POST /v1/providers "$KEY" -H 'Content-Type: application/json' -H 'Expect: 100-continue' \
  --data-binary "@$WORK/64k"
expect_error 413 payload_too_large "64 KiB + 1 with Expect"
# A large valid body goes through the 100-continue handshake without delay.
start_ns=$(date +%s%N)
req POST /v1/providers "$KEY" -H 'Content-Type: application/json' -H 'Expect: 100-continue' \
  --data-binary '{"name":"expect","auth_type":"api_key","credential_schema":{"fields":[{"name":"k","label":"K"}]},"description":"'"$(head -c 3000 /dev/zero | tr '\0' d)"'"}'
expect_status 201 "POST with Expect: 100-continue"
(( ($(date +%s%N) - start_ns) < 900000000 )) || fail "100-continue was not answered"
req DELETE /v1/providers/expect "$KEY"
expect_status 204 "cleanup"
before=$(snapshot "$KEY")

# Headers over 8 KiB: 413.
req GET /v1/providers "$KEY" -H "X-Padding: $(head -c 9000 /dev/zero | tr '\0' p)"
expect_error 413 payload_too_large "9 KiB of headers"

# JSON nesting: 32 levels parse, 33 do not.
deep() { printf "%.0s[" $(seq 1 "$1"); printf "%.0s]" $(seq 1 "$1"); }
json POST /v1/providers "$KEY" "$(deep 32)"
expect_error 400 validation_failed "32 levels (parsed, then refused as not an object)"
json POST /v1/providers "$KEY" "$(deep 33)"
expect_error 400 invalid_json "33 levels"

# Keep-alive: two requests on one connection.
connects=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "$BASE/healthz" "$BASE/healthz")
expect_eq "$connects" "1 0 " "connections opened for two requests"

# Malformed HTTP: the server closes the connection (EOF, no hang) and lives on.
for junk in 'GARBAGE\r\n\r\n' 'GET / HTTP/9.9\r\n\r\n' 'GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n' \
            'POST /v1/providers HTTP/1.1\r\nContent-Length: -5\r\n\r\n' '\x00\x01\x02\r\n\r\n'; do
  exec 3<>"/dev/tcp/$HOST/$PORT"
  printf "$junk" >&3
  if ! timeout 5 cat <&3 >"$WORK/junk.out"; then fail "connection not closed after: $junk"; fi
  exec 3<&-
  ! grep -q '^HTTP/1.1 [25]' "$WORK/junk.out" || fail "malformed request answered: $(head -1 "$WORK/junk.out")"
  req GET /healthz -
  expect_status 200 "alive after: $junk"
done

# Slow clients: 16 connections (more than the server's 4 threads) each stuck
# in the middle of a request; other requests are still answered at once.
for fd in $(seq 10 25); do
  eval "exec $fd<>/dev/tcp/$HOST/$PORT"
  printf 'POST /v1/providers HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"na' "$KEY" >&"$fd"
done
for path in /healthz /v1/providers; do
  t=$(curl -sS -o /dev/null -w '%{time_total}' -H "X-API-Key: $KEY" --max-time 5 "$BASE$path")
  awk -v t="$t" 'BEGIN { exit !(t < 0.5) }' || fail "$path took ${t}s while slow clients wait"
done
for fd in $(seq 10 25); do eval "exec $fd>&-"; done

# Pipelined requests on one connection are answered in order.
exec 3<>"/dev/tcp/$HOST/$PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nX-Request-Id: two\r\nConnection: close\r\n\r\n' >&3
timeout 5 cat <&3 >"$WORK/pipe.out" || fail "pipelined connection not closed"
exec 3<&-
expect_eq "$(grep -ci '^X-Request-Id:' "$WORK/pipe.out")" 2 "pipelined answers"
grep -q '"ready"' "$WORK/pipe.out" || fail "second pipelined answer missing"

expect_eq "$(snapshot "$KEY")" "$before" "stored data after the limits"
stop_server
echo "e2e limits: ok"
