#!/usr/bin/env bash
# Rewrap benchmark for BENCHMARKS.md: seeds N data keys (default 100,000) into a key
# store on a throw-away PostgreSQL, then times `piivault keys rotate-master` (adds
# master key v2 and rewraps every data key under it) in release mode.
# Usage: [FSYNC=off] benches/rewrap/run.sh [count, default 100000] [batch size, default 1000]
# (fsync is on by default, as production runs; FSYNC=off gives the labelled second row)
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-100000}
batch=${2:-1000}
out=benches/rewrap/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

cargo build --release --quiet --bin piivault --example seed_data_keys
bin=target/release/piivault

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u

. benches/lib/postgres.sh
start_postgres "$out/pg"
trap stop_postgres EXIT
port=$PG_PORT
for db in piivault keystore; do psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE $db" >/dev/null; done
main="postgres://postgres@127.0.0.1:$port/piivault"
keystore="postgres://postgres@127.0.0.1:$port/keystore"

"$bin" keys init --keys-dir "$out/keys" >/dev/null
echo "== seeding $count data keys under master key v1"
target/release/examples/seed_data_keys "$out/keys" "$keystore" "$count"
psql "$keystore" -qc 'VACUUM ANALYZE data_keys' >/dev/null

# Twice: the first pass finds a freshly vacuumed table, the second one the dead
# row versions the first left behind (as a real second rotation would).
for pass in 1 2; do
  echo "== piivault keys rotate-master, pass $pass (rewrap, batch $batch)"
  /usr/bin/time -f "wall %es, max RSS %MkB, user %Us, sys %Ss" \
    "$bin" keys rotate-master --batch-size "$batch" --keys-dir "$out/keys" \
    --database-url "$main" --keystore-url "$keystore"
done
"$bin" keys status --keys-dir "$out/keys" --database-url "$main" --keystore-url "$keystore" | head -5
