#!/usr/bin/env bash
# A database locked by another process: writes wait on the blocking pool
# while reads and /healthz answer at once, and SIGTERM still exits within a
# fixed bound, never a sum over the queued writes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || fail "sqlite3 (Debian sqlite3) is required"

KEY=locked-key
WRITES=8
start_server API_KEY="$KEY"
for i in $(seq 1 "$WRITES"); do
  json POST /v1/providers "$KEY" '{"name":"p'"$i"'","auth_type":"api_key","credential_schema":{"fields":[{"name":"k","label":"K"}]}}'
  expect_status 201 "create p$i"
done
before=$(snapshot "$KEY")
host=${BASE#http://}
PORT=${host##*:}

# Another process takes the write lock and keeps it: sqlite3 reads its
# commands from a fifo held open by this shell.
mkfifo "$WORK/locker.in"
sqlite3 "$WORK/nexus.db" <"$WORK/locker.in" >"$WORK/locker.out" 2>&1 &
LOCKER=$!
exec 7>"$WORK/locker.in"
echo "BEGIN EXCLUSIVE; DELETE FROM providers WHERE 0; SELECT 'locked';" >&7
for _ in $(seq 1 200); do
  grep -q locked "$WORK/locker.out" && break
  kill -0 "$LOCKER" 2>/dev/null || fail "sqlite3 exited: $(cat "$WORK/locker.out")"
  sleep 0.05
done
grep -q locked "$WORK/locker.out" || fail "sqlite3 did not take the lock: $(cat "$WORK/locker.out")"

# Several DELETEs in flight, each waiting for the lock in the server.
DELETERS=()
for i in $(seq 1 "$WRITES"); do
  curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "X-API-Key: $KEY" --max-time 60 \
    "$BASE/v1/providers/p$i" >"$WORK/delete.$i" 2>/dev/null &
  DELETERS+=($!)
done
# Until the server holds every one of them (an external wait: poll with a
# deadline).
for _ in $(seq 1 200); do
  n=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
  [[ $n -ge $WRITES ]] && break
  sleep 0.05
done
[[ $n -ge $WRITES ]] || fail "only $n of $WRITES DELETEs connected"

# Reads and liveness are answered promptly meanwhile, several times over
# (more than the server's 4 I/O threads).
for round in 1 2 3; do
  for path in /healthz /v1/providers /v1/providers/p1; do
    t=$(curl -sS -o "$WORK/read.body" -w '%{http_code} %{time_total}' -H "X-API-Key: $KEY" \
      --max-time 10 "$BASE$path")
    code=${t% *}
    secs=${t#* }
    expect_eq "$code" 200 "GET $path while the database is locked"
    awk -v t="$secs" 'BEGIN { exit !(t < 2.0) }' \
      || fail "GET $path took ${secs}s while writes wait for the lock (round $round)"
  done
done

# SIGTERM with the writes still waiting. The bound: the grace period (10 s)
# for in-flight requests, then at most shutdown_abandon_after (15 s: the
# library's longest bounded wait) for handlers still inside a storage call,
# plus 5 s for a loaded machine. Never a sum over the queued writes.
start_ns=$(date +%s%N)
locked_log=$SERVER_LOG
stop_server  # fails unless the exit status is 0
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
# How it ended: every handler returned ("stopped"), or the server gave up on
# those still waiting inside the storage.
jq -r 'select(.msg == "stopped" or .level == "error") | .msg' "$locked_log" | sort -u
(( elapsed_ms < 30000 )) || fail "shutdown took ${elapsed_ms} ms with $WRITES writes waiting"
for p in "${DELETERS[@]}"; do wait "$p" || true; done
# None was acknowledged: each was refused (503) or cut off (000).
for i in $(seq 1 "$WRITES"); do
  code=$(cat "$WORK/delete.$i")
  [[ $code == 503 || $code == 000 ]] || fail "DELETE p$i answered $code under the lock"
done

# Release the lock; nothing was deleted.
echo "ROLLBACK;" >&7
exec 7>&-
wait "$LOCKER" || true
start_server API_KEY="$KEY"
expect_eq "$(snapshot "$KEY")" "$before" "providers after the locked writes"
stop_server
echo "locked writes: $WRITES; shutdown took ${elapsed_ms} ms"
echo "e2e locked: ok"
