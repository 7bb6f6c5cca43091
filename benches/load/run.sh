#!/usr/bin/env bash
# Load benchmark for BENCHMARKS.md: everything the durable-speed figures need, in one
# run, each figure next to the ceiling it is measured against.
#
#   ceilings  `openssl speed rsa2048`: one core's RSA-2048 private-key rate (what
#             POST /users is measured against); pgbench of a one-row durable insert
#             (an audit record) at the same concurrency as wrk, on the same cluster
#             the service then uses (what GET /users/{id} is measured against)
#   service   POST /users (RSA-OAEP-256 2048, A256GCM, a unique user each) and
#             GET /users/{id} (300 users read round-robin), wrk -c16 --latency
#   cases     PostgreSQL with fsync on (as production runs), then the same with
#             fsync off (a labelled second row), then SQLite (the zero-setup default)
#   per case  req/s, ratio to its ceiling, p50/p90/p99/p99.9, non-2xx, database
#             commits and WAL flushes per request, checkpoints, load average
#   seeding   benches/seed/run.sh (`piivault seed` against PostgreSQL COPY)
#
# Usage: benches/load/run.sh [duration, default 20s]
#   CASES (default "postgres postgres-fsync-off sqlite"), SEED_USERS (default
#   100000; 0 skips seeding), POOL (db pool, 16) and BLOCKING (blocking threads, 8)
#   pass through to `serve`; BIN runs another build of piivault (an older commit's,
#   to compare). Needs wrk, pgbench and the PostgreSQL server binaries
#   (scripts/install-test-deps). The service listens on a free port.
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
duration=${1:-20s}
connections=16
threads=2
out=benches/load/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"
results=$out/results.tsv
: > "$results"

cargo build --release --quiet --bin piivault --example jwe_tokens
bin=${BIN:-target/release/piivault}

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime
echo "== openssl speed rsa2048, one process (private ops/s of one core: the POST ceiling)"
openssl speed -seconds 5 rsa2048 2>/dev/null | grep -E '^rsa 2048' | tee "$out/rsa.txt"
rsa_ceiling=$(awk '{print $(NF-1)}' "$out/rsa.txt")

# field NAME FILE: the number after "NAME" in a wrk report.
field() { grep -m1 "$1" "$2" | sed -E "s|.*$1:? *([0-9.]+).*|\1|"; }

# ceiling_insert DB NAME: pgbench of one durable one-row insert per transaction,
# shaped like an audit record (same columns and indexes), c=16, prepared. Sets
# INSERT_CEILING (transactions/s).
ceiling_insert() {
  local db=$1 name=$2
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" -qc \
    'CREATE TABLE one_row_insert (LIKE audit_log INCLUDING ALL)' >/dev/null
  cat > "$out/one_row_insert.sql" <<'SQL'
INSERT INTO one_row_insert VALUES (uuid_send(gen_random_uuid()), now(), 'request-0123456789',
  '\xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd', 'bench', 'user.read', uuid_send(gen_random_uuid()), 1);
SQL
  echo "== $name: ceiling, pgbench one-row durable insert, c=$connections, $duration"
  pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c $connections -j $threads \
    -T "${duration%s}" -f "$out/one_row_insert.sql" "$db" 2>&1 | grep -E '^(tps|latency average)' \
    | tee "$out/$name-pgbench.txt"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" -qc 'DROP TABLE one_row_insert' >/dev/null
  INSERT_CEILING=$(sed -E -n 's/^tps = ([0-9.]+).*/\1/p' "$out/$name-pgbench.txt")
}

# measure NAME KEY WHAT CEILING DB [wrk args...]: one wrk run (its report in
# $out/NAME-KEY.txt) and its row in the results; DB empty for SQLite.
measure() {
  local name=$1 key=$2 what=$3 ceiling=$4 db=$5
  shift 5
  local report=$out/$name-$key.txt before="" after load
  if [ -n "$db" ]; then before=$(pg_counters "$db"); fi
  local service_before database_before
  service_before=$(cpu_ms "$server")
  database_before=$(cpu_ms $(cluster_pids))
  load=$(uptime | sed -E 's/.*load average: ([0-9.]+).*/\1/')
  echo "== $name: $what, c=$connections, $duration (load average $load)"
  wrk -t$threads -c$connections -d"$duration" --latency "$@" | tee "$report" \
    | grep -E 'Requests/sec|non-2|latency p'
  local rate non2xx service_cpu database_cpu
  rate=$(field 'Requests/sec' "$report")
  service_cpu=$(( $(cpu_ms "$server") - service_before ))
  database_cpu=$(( $(cpu_ms $(cluster_pids)) - database_before ))
  non2xx=$(grep -E '^non-20[01] responses' "$report" | sed -E 's/.*: ([0-9]+)/\1/')
  local per_request="- - - -"
  if [ -n "$db" ]; then
    sleep 2 # the backends publish their statistics within a second of going idle
    after=$(pg_counters "$db")
    per_request=$(python3 - "$before" "$after" "$rate" "$duration" <<'PY'
import sys
before, after = (list(map(float, a.split())) for a in sys.argv[1:3])
requests = float(sys.argv[3]) * float(sys.argv[4].rstrip("s"))
delta = [b - a for a, b in zip(before, after)]
flush_ms = delta[2] / delta[1] if delta[1] else 0
print(f"{delta[0] / requests:.3f} {delta[1] / requests:.3f} {flush_ms:.2f} {int(delta[3])}")
PY
)
  fi
  local cpu_per_request
  cpu_per_request=$(python3 -c "r = $rate * ${duration%s}; print(f'{$service_cpu / r * 1000:.0f} {$database_cpu / r * 1000:.0f}')")
  echo "CPU per request: ${cpu_per_request% *} µs service, ${cpu_per_request#* } µs database; transactions, WAL flushes per request, ms per flush, checkpoints: $per_request"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$what" "$rate" "$ceiling" \
    "$(field 'latency p50' "$report")" "$(field 'latency p90' "$report")" \
    "$(field 'latency p99' "$report")" "$(field 'latency p99.9' "$report")" "$non2xx" \
    "${per_request// /$'\t'}" "${cpu_per_request// /$'\t'}" "$load" >> "$results"
}

run_case() {
  local name=$1 url=$2 db=$3 insert_ceiling=$4
  local data=$out/$name
  mkdir -p "$data"
  local token port
  # Limits the load never meets: this measures the work, not the quota.
  token=$("$bin" clients create --name bench --scopes users:write,users:read --json \
    --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 \
    --database-url "$url" --keys-dir "$out/keys" --data-dir "$data" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  port=$(free_port)
  RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" --database-url "$url" --keys-dir "$out/keys" \
    --data-dir "$data" --db-pool-size "${POOL:-16}" --blocking-threads "${BLOCKING:-8}" &
  server=$!
  for _ in $(seq 100); do curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.1; done

  TOKENS_FILE=$out/tokens.txt TOKEN=$token THREADS=$threads \
    measure "$name" post "POST /users" "$rsa_ceiling" "$db" -s benches/load/post_users.lua "http://127.0.0.1:$port"
  # ids to read back: register a few hundred through the API
  for n in $(seq 0 299); do
    sed -n "$((79000 + n + 1))p" "$out/tokens.txt" | curl -s "localhost:$port/users" \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/jose' --data-binary @- \
      | sed -E 's/.*"id":"([^"]+)".*/\1/'; echo
  done | grep -E '^[0-9a-f-]{36}$' > "$data/ids.txt"
  IDS_FILE=$data/ids.txt TOKEN=$token \
    measure "$name" get "GET /users/{id}" "$insert_ceiling" "$db" -s benches/load/get_users.lua "http://127.0.0.1:$port"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=""
}

# postgres_case NAME FSYNC: a fresh cluster, its insert ceiling, then the service on it.
postgres_case() {
  local name=$1
  FSYNC=$2 start_postgres "$out/$name-pg"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE piivault' >/dev/null
  local url="postgres://postgres@127.0.0.1:$PG_PORT/piivault"
  "$bin" keys status --database-url "$url" --keys-dir "$out/keys" >/dev/null # migrates
  ceiling_insert piivault "$name"
  run_case "$name" "$url" piivault "$INSERT_CEILING"
  stop_postgres
}

"$bin" keys init --keys-dir "$out/keys" >/dev/null
target/release/examples/jwe_tokens "$out/keys" 80000 > "$out/tokens.txt"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  stop_postgres
}
trap cleanup EXIT
for case in ${CASES:-postgres postgres-fsync-off sqlite}; do
  case $case in
    postgres) postgres_case postgres on ;;
    postgres-fsync-off) postgres_case postgres-fsync-off off ;;
    sqlite) run_case sqlite "$out/sqlite.sqlite3" "" "-" ;;
    *) echo "unknown case $case" >&2; exit 2 ;;
  esac
done

echo
echo "== summary ($(date -u '+%Y-%m-%d %H:%M UTC'), wrk c=$connections, $duration a case)"
echo "RSA ceiling: $rsa_ceiling private-key ops/s on one core"
python3 - "$results" <<'PY'
import sys
print("| case | req/s | ceiling | ratio | p50 ms | p90 ms | p99 ms | p99.9 ms | non-2xx | transactions/req | WAL flushes/req | ms/flush | checkpoints | CPU µs/req service | CPU µs/req database | load |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    name, what, rate, ceiling, p50, p90, p99, p999, non2xx, commits, flushes, flush_ms, checkpoints, service, database, load = line.rstrip("\n").split("\t")
    try:
        ratio = f"{float(rate) / float(ceiling):.2f}"
        ceiling = f"{float(ceiling):,.0f}"
    except ValueError:
        ratio = "-"
    print(f"| {name} {what} | {float(rate):,.0f} | {ceiling} | {ratio} | {p50} | {p90} | {p99} | {p999} | {non2xx} | {commits} | {flushes} | {flush_ms} | {checkpoints} | {service} | {database} | {load} |")
PY

if [ "${SEED_USERS:-100000}" != 0 ]; then
  echo
  benches/seed/run.sh "${SEED_USERS:-100000}"
fi
