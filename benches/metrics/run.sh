#!/usr/bin/env bash
# What the metrics cost, in one command: GET /users/{id} with wrk (c=16) on PostgreSQL
# with fsync on, alternating a build without metrics (BASE_COMMIT, default ca8e39c, the
# commit before them) and this checkout, ROUNDS times, on a free port, next to
# pgbench's select-only ceiling measured in the same run; then the metrics' own work
# per request (`cargo bench --bench metrics`). Figures go to BENCHMARKS.md.
# Usage: benches/metrics/run.sh [duration, default 15s]
#   ROUNDS (default 5). BASE / NEW: binaries already built, instead of building
#   BASE_COMMIT (from `git archive`, in this checkout's target dir) and this checkout
#   (with NEW, target/release/examples/jwe_tokens must be built already).
#   CRITERION=0 skips the criterion bench. Needs wrk and pgbench
#   (scripts/install-test-deps).
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
duration=${1:-15s}
rounds=${ROUNDS:-5}
out=benches/metrics/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

# The base first: its build replaces target/release/piivault, so it is copied aside.
base=${BASE:-}
if [ -z "$base" ]; then
  source=$(mktemp -d)
  git archive "${BASE_COMMIT:-ca8e39c}" | tar -x -C "$source"
  (cd "$source" && CARGO_TARGET_DIR="$OLDPWD/target" cargo build --release --quiet --bin piivault)
  cp target/release/piivault "$out/piivault-base"
  rm -rf "$source"
  base=$out/piivault-base
fi
# NEW: a release binary already built (default: build this checkout's, and the
# example that makes the users' JWEs).
if [ -z "${NEW:-}" ]; then cargo build --release --quiet --bin piivault --example jwe_tokens; fi
new=${NEW:-target/release/piivault}

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime
FSYNC=on start_postgres "$out/pg"
trap stop_postgres EXIT
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE piivault' >/dev/null
url="postgres://postgres@127.0.0.1:$PG_PORT/piivault"
"$new" keys init --keys-dir "$out/keys" >/dev/null
# Limits the load never meets (the base commit has no quotas): the work, not the quota.
token=$("$new" clients create --name bench --scopes users:write,users:read --json \
  --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 \
  --database-url "$url" --keys-dir "$out/keys" --data-dir "$out" | sed -E 's/.*"token":"([^"]+)".*/\1/')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

serve() {
  RUST_LOG=warn "$1" serve --bind "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" --database-url "$url" --keys-dir "$out/keys" \
    --data-dir "$out" &
  server=$!
  for _ in $(seq 200); do curl -sf "localhost:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; exit 1
}

serve "$new"
target/release/examples/jwe_tokens "$out/keys" 300 > "$out/tokens.txt"
while read -r jwe; do
  echo "$jwe" | curl -s "localhost:$port/users" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/jose' --data-binary @- | sed -E 's/.*"id":"([^"]+)".*/\1/'; echo
done < "$out/tokens.txt" | grep -E '^[0-9a-f-]{36}$' > "$out/ids.txt"
kill $server; wait $server 2>/dev/null || true
echo "== $(wc -l < "$out/ids.txt") users"

echo "== ceiling: pgbench select-only, c=16, $duration"
"${PG_AS[@]}" "$PG_BINDIR/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -q piivault >/dev/null 2>&1
"${PG_AS[@]}" "$PG_BINDIR/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -S -c 16 -j 2 \
  -T "${duration%s}" piivault 2>/dev/null | grep -E '^tps'

measure() {
  serve "$2"
  local result
  result=$(IDS_FILE=$out/ids.txt TOKEN=$token wrk -t2 -c16 -d"$duration" \
    -s benches/load/get_users.lua "http://127.0.0.1:$port")
  kill $server; wait $server 2>/dev/null || true
  echo "$1 $(echo "$result" | awk '/Requests\/sec/ {print $2}') non200=$(echo "$result" | awk '/non-200/ {print $3}') p99=$(echo "$result" | awk '/latency p99:/ {print $3}')ms load=$(cut -d' ' -f1 /proc/loadavg)"
}

for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    measure base "$base"; measure metrics "$new"
  else
    measure metrics "$new"; measure base "$base"
  fi
done | tee "$out/runs.txt"
awk '{ sum[$1] += $2; n[$1]++ }
  END { for (name in sum) printf "%s mean %.0f req/s over %d runs\n", name, sum[name] / n[name], n[name]
        if (n["base"] && n["metrics"]) printf "metrics / base: %.3f\n", (sum["metrics"] / n["metrics"]) / (sum["base"] / n["base"]) }' \
  "$out/runs.txt"
stop_postgres
rm -rf "$out/pg"

if [ "${CRITERION:-1}" != 0 ]; then
  echo "== the metrics' own work per request (criterion)"
  cargo bench --quiet --bench metrics 2>&1 | grep -E '^metrics|time:'
fi
echo "== $(date -u) $(uptime)"
