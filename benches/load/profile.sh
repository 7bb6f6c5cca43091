#!/usr/bin/env bash
# Where the CPU goes under load: `perf record` (cpu-clock sampling: this VM has no
# hardware counters) of the service and of the PostgreSQL backends while wrk runs
# GET /users/{id} or POST /users as benches/load/run.sh does (PostgreSQL, fsync on).
# Prints the hottest functions of each, and the database's time with its callees
# (the planner, the WAL flush); folded stacks of both go to
# benches/load/out/profile-*.folded for a flame graph (inferno-flamegraph or
# flamegraph.pl, if installed, turn them into an SVG).
# Usage: benches/load/profile.sh [get|post] [duration, default 15s]
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
what=${1:-get}
duration=${2:-15s}
out=benches/load/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

cargo build --release --quiet --bin piivault --example jwe_tokens
bin=${BIN:-target/release/piivault}
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  stop_postgres
}
trap cleanup EXIT

start_postgres "$out/pg"
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE piivault' >/dev/null
url="postgres://postgres@127.0.0.1:$PG_PORT/piivault"
"$bin" keys init --keys-dir "$out/keys" >/dev/null
# Limits the load never meets: this profiles the work, not the quota.
token=$("$bin" clients create --name bench --scopes users:write,users:read --json \
  --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 \
  --database-url "$url" --keys-dir "$out/keys" --data-dir "$out/data" | sed -E 's/.*"token":"([^"]+)".*/\1/')
port=$(free_port)
RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" --database-url "$url" --keys-dir "$out/keys" \
  --data-dir "$out/data" &
server=$!
for _ in $(seq 100); do curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.1; done
target/release/examples/jwe_tokens "$out/keys" 40000 > "$out/tokens.txt"
for n in $(seq 1 300); do
  sed -n "${n}p" "$out/tokens.txt" | curl -s "localhost:$port/users" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/jose' --data-binary @- \
    | sed -E 's/.*"id":"([^"]+)".*/\1/'; echo
done | grep -E '^[0-9a-f-]{36}$' > "$out/ids.txt"
sed -i '1,300d' "$out/tokens.txt"

case $what in
  get) script=benches/load/get_users.lua ;;
  post) script=benches/load/post_users.lua ;;
  *) echo "get or post" >&2; exit 2 ;;
esac
postmaster=$(head -1 "$out/pg/data/postmaster.pid")
backends=$(pgrep -P "$postmaster" | paste -sd, -)
seconds=${duration%s}
perf record -q -F 499 -g --call-graph dwarf,16384 -o "$out/service.perf" -p "$server" -- sleep "$seconds" &
service_perf=$!
perf record -q -F 499 --call-graph dwarf,16384 -o "$out/database.perf" -p "$postmaster,$backends" -- sleep "$seconds" &
database_perf=$!
IDS_FILE=$out/ids.txt TOKENS_FILE=$out/tokens.txt TOKEN=$token THREADS=2 \
  wrk -t2 -c16 -d"$duration" -s "$script" "http://127.0.0.1:$port" | grep -E 'Requests/sec|latency p'
wait $service_perf $database_perf

echo "== service: hottest functions (self time)"
perf report -i "$out/service.perf" --no-children --stdio --percent-limit 1.5 -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | head -40
echo "== service: by thread"
perf report -i "$out/service.perf" --no-children --stdio --sort comm -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | head -12
echo "== database: hottest functions (self time)"
perf report -i "$out/database.perf" --no-children --stdio --percent-limit 1.5 -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | head -30
echo "== database: where the time goes (self and callees)"
# (sed, not head: head would stop reading early, and pipefail would end the script)
perf report -i "$out/database.perf" --children --stdio --percent-limit 5 -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | sed -n '1,30p'
perf script -i "$out/service.perf" 2>/dev/null | python3 benches/load/fold.py > "$out/profile-$what.folded"
perf script -i "$out/database.perf" 2>/dev/null | python3 benches/load/fold.py \
  > "$out/profile-$what-database.folded"
echo "folded stacks: $out/profile-$what.folded, $out/profile-$what-database.folded"
