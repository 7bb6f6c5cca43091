#!/usr/bin/env bash
# Documents benchmark for BENCHMARKS.md (issue 12), release build, PostgreSQL with
# fsync on (as production runs), on a free port:
#   1. statement of 10,000 rows written alone (examples/statement_bench: CPU, peak
#      process memory), and the same for 100,000;
#   2. GET /users/{id}/statement of ROWS (default 1,000,000) seeded transactions: first
#      byte, total time, server peak RSS growth over its resting RSS;
#   3. POST /exports/users of USERS (default 1,000,000) seeded users: the same figures;
#   4. 8 concurrent 100,000-row statements (--max-concurrent-documents 8): all
#      complete, server peak RSS growth.
# The peak is reset before each measurement (`echo 5 > /proc/PID/clear_refs`, root).
# The ceilings measured in the same run: `openssl speed -evp aes-256-cbc` (what the
# encryption could do) and `dd` of the finished PDF to /dev/null (what copying bytes
# costs). Usage: benches/documents/run.sh [ROWS] [USERS]
# REUSE=1 keeps the seeded cluster of the previous run (seeding takes minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${1:-1000000}
users=${2:-1000000}
out=benches/documents/out
if [ -z "${REUSE:-}" ] || [ ! -d "$out/pg/data" ]; then
  REUSE=""
  rm -rf "$out" && mkdir -p "$out"
  chmod 777 "$out"
fi

cargo build --release --quiet --bin piivault --example statement_bench
bin=target/release/piivault

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime
echo "== ceiling: openssl speed -evp aes-256-cbc (16 KiB blocks)"
openssl speed -seconds 2 -evp aes-256-cbc 2>/dev/null | tail -1

echo "== 1. statement written alone (no database, no HTTP)"
for n in 10000 100000; do target/release/examples/statement_bench "$n"; done

. benches/lib/postgres.sh
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  stop_postgres
}
trap cleanup EXIT
export PIIVAULT_KEYS_DIR="$out/keys" PIIVAULT_DATA_DIR="$out/data"
if [ -n "$REUSE" ]; then
  # The previous run's cluster, on a new free port.
  PG_DIR=$out/pg PG_BINDIR=$(pg_config --bindir) PG_AS=(runuser -u postgres --)
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${PG_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$(cd "$PG_DIR" && pwd) -c fsync=${FSYNC:-on} -c max_connections=200 -c shared_buffers=256MB" \
    start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/piivault"
  echo "== reusing the seeded cluster"
else
  FSYNC=${FSYNC:-on} start_postgres "$out/pg"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE piivault" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/piivault"
  "$bin" keys init >/dev/null
  echo "== seeding (fsync=${FSYNC:-on}): 1 user x $rows transactions, 8 users x 100,000, $users users"
  /usr/bin/time -f "  %es" "$bin" seed --users 1 --transactions-per-user "$rows" --seed 1 >/dev/null
  /usr/bin/time -f "  %es" "$bin" seed --users 8 --transactions-per-user 100000 --seed 2 >/dev/null
  /usr/bin/time -f "  %es" "$bin" seed --users "$users" --seed 3 >/dev/null
  psql "$DATABASE_URL" -qc 'VACUUM ANALYZE' >/dev/null
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=info "$bin" serve --dev --bind "127.0.0.1:$port" --max-concurrent-documents 8 >"$out/serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do [ -s "$out/data/dev-token" ] && curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.1; done
token=$(cat "$out/data/dev-token")
auth="Authorization: Bearer $token"
# This measures the work, not the dev client's quota: limits the load never meets
# (set before the token's first request, so the server learns these).
"$bin" clients limits dev --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 >/dev/null
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$server/status"; }
reset_peak() { echo 5 > "/proc/$server/clear_refs"; }
growth() { echo "server RSS at rest $(( $1 / 1024 )) MiB, peak $(( $(kib VmHWM) / 1024 )) MiB, growth $(( ($(kib VmHWM) - $1) / 1024 )) MiB"; }

# The seeded users with transactions have them over the last 90 days.
to=$(date -u +%F); from=$(date -u -d '-120 days' +%F)
ids=$(psql "$DATABASE_URL" -Atc "SELECT encode(user_id, 'hex') FROM transactions GROUP BY user_id ORDER BY count(*) DESC" \
  | sed -E 's/(.{8})(.{4})(.{4})(.{4})(.{12})/\1-\2-\3-\4-\5/')
big=$(echo "$ids" | head -1)
# Warm-up: the first document of a process loads the fonts it uses.
curl -sf -o /dev/null -H "$auth" "localhost:$port/users/$big/statement?from=$to&to=$to"

echo "== 2. GET statement of $rows rows"
rest=$(kib VmRSS); reset_peak
curl -s -o "$out/statement.pdf" -H "$auth" \
  -w 'status %{http_code}, %{size_download} bytes, first byte %{time_starttransfer}s, total %{time_total}s\n' \
  "localhost:$port/users/$big/statement?from=$from&to=$to"
growth "$rest"
echo "dd of the PDF (copying ceiling):"; dd if="$out/statement.pdf" of=/dev/null bs=64k 2>&1 | tail -1
uptime

echo "== 3. POST /exports/users ($users users + 9)"
jwe=$(curl -sf -H "$auth" -H 'Content-Type: application/json' -d '{"password":"k3Jd9sLq0PzX7vBn2MwR8tYc"}' "localhost:$port/encrypt-data")
rest=$(kib VmRSS); reset_peak
curl -s -o "$out/users.pdf" -H "$auth" -H 'Content-Type: application/jose+json' --data-binary "$jwe" \
  -w 'status %{http_code}, %{size_download} bytes, first byte %{time_starttransfer}s, total %{time_total}s\n' \
  "localhost:$port/exports/users"
growth "$rest"
qpdf --show-npages --password='k3Jd9sLq0PzX7vBn2MwR8tYc' "$out/users.pdf" | sed 's/^/pages: /'
rm -f "$out/users.pdf"
uptime

echo "== 4. 8 concurrent statements of 100,000 rows"
rest=$(kib VmRSS); reset_peak
started=$(date +%s.%N)
# Links with generated passwords: a seeded person may have no national id.
urls=$(for id in $(echo "$ids" | sed -n 2,9p); do
  curl -sf -H "$auth" -H 'Content-Type: application/json' \
    -d "{\"from\":\"$from\",\"to\":\"$to\",\"password\":\"random\"}" \
    "localhost:$port/users/$id/statements" | python3 -c 'import json,sys; print(json.load(sys.stdin)["download_url"])'
done)
for url in $urls; do
  curl -s -o /dev/null -w "  %{http_code} %{size_download} bytes %{time_total}s\n" "$url" &
done
wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
echo "all done after $(echo "$(date +%s.%N) - $started" | bc) s"
growth "$rest"
grep -c '"document written"\|document written' "$out/serve.log" | sed 's/^/documents written: /'
uptime
