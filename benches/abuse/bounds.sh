#!/usr/bin/env bash
# Bounded work per request, for README and BENCHMARKS.md: time and server memory of
# the largest request of each kind, one at a time on a fresh server each, release
# build, PostgreSQL with fsync on:
#   GET /users?limit=200 (the largest page), GET /users/{id}/transactions?limit=1000,
#   GET /audit?limit=1000, GET /users/{id}/statement over all time (capped at 100,000
#   rows), POST /exports/users (every user).
# Usage: benches/abuse/bounds.sh [users, default 20000] [transactions of one user,
# default 100000]. Listens on a free port.
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
users=${1:-20000}
transactions=${2:-100000}
out=benches/abuse/out-bounds
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

# The same artifacts as run.sh, so that neither rebuilds what the other built.
cargo build --release --quiet --bin piivault --example jwe_tokens
bin=target/release/piivault
echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime

FSYNC=on start_postgres "$out/pg"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; stop_postgres; }
trap cleanup EXIT
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE piivault' >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/piivault"
export PIIVAULT_KEYS_DIR="$out/keys" PIIVAULT_DATA_DIR="$out/data"
"$bin" keys init >/dev/null
echo "== seed: $users users, then one user with $transactions transactions"
"$bin" seed --users "$users" >/dev/null
"$bin" seed --users 1 --transactions-per-user "$transactions" >/dev/null
token=$("$bin" clients create --name bounds --scopes users:read,statements,admin,users:write --json \
  --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 | sed -E 's/.*"token":"([^"]+)".*/\1/')
auth="Authorization: Bearer $token"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

start() {
  RUST_LOG=error "$bin" serve --bind "127.0.0.1:$port" --dev >"$out/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf -o /dev/null -H "$auth" "$base/users?limit=1"  # warm: pools, keys, token learned
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$server/status"; }

start
sid=$(curl -sf -H "$auth" "$base/users?limit=1&order=newest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["users"][0]["id"])')
# Audit records to page through: every listing above writes one.
for _ in $(seq 1100); do curl -sf -o /dev/null -H "$auth" "$base/users/$sid"; done
stop
jwe=""

measure() {  # $1 = label, then curl arguments
  local label=$1; shift
  start
  local before; before=$(kib VmRSS)
  for run in 1 2 3; do
    curl -s -o "$out/body" -w "$label run $run: status %{http_code}, %{size_download} bytes, %{time_total}s\n" \
      -H "$auth" "$@"
  done
  echo "$label: server VmRSS before ${before} kB, peak (VmHWM) $(kib VmHWM) kB"
  stop
}

measure "GET /users?limit=200" "$base/users?limit=200"
measure "GET /users/{id}/transactions?limit=1000" "$base/users/$sid/transactions?limit=1000&from=1970-01-01&to=2999-12-31"
measure "GET /audit?limit=1000" "$base/audit?limit=1000"
measure "GET /users/{id}/statement (all time: $transactions rows)" "$base/users/$sid/statement?from=0000-01-01&to=9999-12-31"
start
jwe=$(curl -sf -H "$auth" -H 'Content-Type: application/json' -d '{"password":"k3Jd9sLq0PzX7vBn2MwR8tYc"}' "$base/encrypt-data")
stop
measure "POST /exports/users ($((users + 1)) users)" -H 'Content-Type: application/jose+json' --data-binary "$jwe" "$base/exports/users"
