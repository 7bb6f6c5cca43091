#!/usr/bin/env bash
# What the metrics cost: GET /users/{id} with wrk (c=16) on PostgreSQL with fsync on,
# alternating a build without metrics (BASE, e.g. the commit before them) and this
# build, ROUNDS times, on a free port, next to pgbench's select-only ceiling measured
# in the same run. Figures go to BENCHMARKS.md.
# Usage: BASE=/path/to/old/piivault benches/metrics/run.sh [duration, default 15s]
#   ROUNDS (default 5), NEW (a built binary instead of building this checkout).
#   Without BASE only this build is measured. Needs wrk and
#   pgbench (scripts/install-test-deps). The per-request cost of the metrics alone:
#   `cargo bench --bench metrics`.
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
duration=${1:-15s}
rounds=${ROUNDS:-5}
base=${BASE:-}
out=benches/metrics/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

# NEW: a release binary already built (default: build this checkout's).
if [ -z "${NEW:-}" ]; then cargo build --release --quiet --bin piivault --example jwe_tokens; fi
new=${NEW:-target/release/piivault}

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime
FSYNC=on start_postgres "$out/pg"
trap stop_postgres EXIT
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE piivault' >/dev/null
url="postgres://postgres@127.0.0.1:$PG_PORT/piivault"
"$new" keys init --keys-dir "$out/keys" >/dev/null
token=$("$new" clients create --name bench --scopes users:write,users:read --json \
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
  if [ -z "$base" ]; then
    measure metrics "$new"
  elif [ $((round % 2)) = 1 ]; then
    measure base "$base"; measure metrics "$new"
  else
    measure metrics "$new"; measure base "$base"
  fi
done | tee "$out/runs.txt"
for name in base metrics; do
  awk -v name=$name '$1 == name { sum += $2; n++ } END { if (n) printf "%s mean %.0f req/s over %d runs\n", name, sum / n, n }' "$out/runs.txt"
done
