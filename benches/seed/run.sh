#!/usr/bin/env bash
# Seeding benchmark for BENCHMARKS.md: `piivault seed --users N` against the
# ceiling measured in the same run, PostgreSQL's own `COPY` of the very rows the
# seed stored (dumped in binary and copied into an empty database with the same
# schema, through psql like any client, in one transaction).
#
#   cases   fsync on (as production runs), then fsync off (a labelled second row)
#   per case  users/s of the seed, users/s of the COPY, their ratio, the seed's CPU
#             time and peak memory, the load average
#
# Usage: benches/seed/run.sh [users, default 100000]; CASES (default "on off").
# Needs the PostgreSQL server binaries (scripts/install-test-deps).
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
count=${1:-100000}
out=benches/seed/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"
results=$out/results.tsv
: > "$results"

# the same build as benches/load/run.sh (an example brings in other features: a
# build of the binary alone would rebuild the library)
cargo build --release --quiet --bin piivault --example jwe_tokens
bin=target/release/piivault
"$bin" keys init --keys-dir "$out/keys" >/dev/null

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime

# seconds COMMAND...: runs it, prints its wall-clock seconds.
seconds() {
  local started ended
  started=$(date +%s.%N)
  "$@" >/dev/null
  ended=$(date +%s.%N)
  python3 -c "print(f'{$ended - $started:.3f}')"
}

trap stop_postgres EXIT
for fsync in ${CASES:-on off}; do
  FSYNC=$fsync start_postgres "$out/pg-$fsync"
  psql=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -XqAt -v ON_ERROR_STOP=1)
  for db in piivault ceiling; do "${psql[@]}" -c "CREATE DATABASE $db"; done
  url="postgres://postgres@127.0.0.1:$PG_PORT"
  for db in piivault ceiling; do
    "$bin" keys status --database-url "$url/$db" --keys-dir "$out/keys" >/dev/null # migrates
  done

  load=$(uptime | sed -E 's/.*load average: ([0-9.]+).*/\1/')
  echo "== fsync $fsync: piivault seed --users $count (load average $load)"
  database_before=$(cpu_ms $(cluster_pids))
  /usr/bin/time -f "%e %U %S %M" -o "$out/seed-$fsync.time" \
    "$bin" seed --users "$count" --database-url "$url/piivault" --keys-dir "$out/keys" \
    | tee "$out/seed-$fsync.txt"
  read -r seed_wall seed_user seed_sys seed_rss < "$out/seed-$fsync.time"
  seed_database=$(( $(cpu_ms $(cluster_pids)) - database_before ))
  echo "wall ${seed_wall}s, CPU ${seed_user}s user + ${seed_sys}s system, peak RSS ${seed_rss} kB; PostgreSQL CPU ${seed_database} ms"

  # The ceiling: the same rows, dumped and copied in again by PostgreSQL alone.
  for table in users data_keys; do
    "${psql[@]}" -d piivault -c "\\copy $table TO '$out/$table.bin' (FORMAT binary)"
  done
  database_before=$(cpu_ms $(cluster_pids))
  copy_wall=$(seconds "${psql[@]}" -d ceiling -1 \
    -c "\\copy users FROM '$out/users.bin' (FORMAT binary)" \
    -c "\\copy data_keys FROM '$out/data_keys.bin' (FORMAT binary)")
  copied=$("${psql[@]}" -d ceiling -c 'SELECT count(*) FROM users')
  copy_database=$(( $(cpu_ms $(cluster_pids)) - database_before ))
  echo "== fsync $fsync: ceiling, COPY of the same $copied users and keys: ${copy_wall}s; PostgreSQL CPU ${copy_database} ms"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fsync" "$count" "$seed_wall" "$copy_wall" \
    "$(python3 -c "print(f'{$seed_user + $seed_sys:.2f}')")" "$seed_database" "$copy_database" \
    "$seed_rss" "$load" >> "$results"
  rm -f "$out"/*.bin
  stop_postgres
done

echo
echo "== seeding summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $count users)"
python3 - "$results" <<'PY'
import sys
print("| fsync | users | seed | seed users/s | COPY | COPY users/s | ratio | seed CPU | PostgreSQL CPU: seed / COPY | seed peak RSS | load |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    fsync, count, seed, copy, cpu, seed_db, copy_db, rss, load = line.split("\t")
    count, seed, copy = int(count), float(seed), float(copy)
    print(f"| {fsync} | {count:,} | {seed:.2f} s | {count / seed:,.0f} | {copy:.2f} s | "
          f"{count / copy:,.0f} | {copy / seed:.2f} | {cpu} s | "
          f"{int(seed_db) / 1000:.2f} s / {int(copy_db) / 1000:.2f} s | "
          f"{int(rss) // 1024} MiB | {load.strip()} |")
PY
