#!/usr/bin/env bash
# Load benchmark for BENCHMARKS.md: POST /users (RSA-OAEP-256 2048, A256GCM) and
# GET /users/{id} with wrk at concurrency 16, on SQLite and on a throw-away
# PostgreSQL, next to `openssl speed rsa2048` measured in the same run.
# Usage: benches/load/run.sh [duration, default 20s]; POOL (db pool, 16) and BLOCKING
# (blocking threads, 8) pass through to `serve`; BACKENDS (default "sqlite postgres")
# picks the backends. Needs wrk (scripts/install-test-deps).
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
duration=${1:-20s}
connections=16
threads=2
out=benches/load/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

cargo build --release --quiet --bin piivault --example jwe_tokens
bin=target/release/piivault

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u
echo "== openssl speed rsa2048 (private ops/s per core = the RSA ceiling)"
openssl speed -seconds 5 rsa2048 2>/dev/null | grep -E '^rsa 2048'

run_backend() {
  local name=$1 url=$2
  local data=$out/$name
  mkdir -p "$data"
  "$bin" keys init --keys-dir "$out/keys" >/dev/null
  local token
  # Limits the load never meets: this measures the work, not the quota.
  token=$("$bin" clients create --name bench --scopes users:write,users:read --json \
    --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 \
    --database-url "$url" --keys-dir "$out/keys" --data-dir "$data" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  RUST_LOG=warn "$bin" serve --bind 127.0.0.1:18080 --public-url http://127.0.0.1:18080 --database-url "$url" --keys-dir "$out/keys" \
    --data-dir "$data" --db-pool-size "${POOL:-16}" --blocking-threads "${BLOCKING:-8}" &
  local server=$!
  trap 'kill $server 2>/dev/null || true' RETURN
  for _ in $(seq 100); do curl -sf localhost:18080/healthz >/dev/null && break; sleep 0.1; done
  target/release/examples/jwe_tokens "$out/keys" 80000 > "$data/tokens.txt"

  echo "== $name: POST /users, RSA-OAEP-256 2048, c=$connections, $duration"
  TOKENS_FILE=$data/tokens.txt TOKEN=$token THREADS=$threads \
    wrk -t$threads -c$connections -d"$duration" -s benches/load/post_users.lua http://127.0.0.1:18080 \
    | grep -vE '^\s+(Latency|Req/Sec)\s' | tee "$data/post.txt"
  # ids to read back: register a few hundred through the API
  for n in $(seq 0 299); do
    sed -n "$((79000 + n + 1))p" "$data/tokens.txt" | curl -s localhost:18080/users \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/jose' --data-binary @- \
      | sed -E 's/.*"id":"([^"]+)".*/\1/'; echo
  done | grep -E '^[0-9a-f-]{36}$' > "$data/ids.txt"
  echo "== $name: GET /users/{id}, c=$connections, $duration ($(wc -l < "$data/ids.txt") ids)"
  IDS_FILE=$data/ids.txt TOKEN=$token wrk -t$threads -c$connections -d"$duration" \
    -s benches/load/get_users.lua http://127.0.0.1:18080 | grep -vE '^\s+(Latency|Req/Sec)\s' | tee "$data/get.txt"
  kill $server; wait $server 2>/dev/null || true
}

backends=${BACKENDS:-sqlite postgres}
if [[ " $backends " == *" sqlite "* ]]; then
  run_backend sqlite "$out/sqlite.sqlite3"
fi
if [[ " $backends " == *" postgres "* ]]; then
  start_postgres "$out/pg"
  trap stop_postgres EXIT
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE piivault' >/dev/null
  run_backend postgres "postgres://postgres@127.0.0.1:$PG_PORT/piivault"
fi
