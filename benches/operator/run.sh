#!/usr/bin/env bash
# Operator tools benchmark for BENCHMARKS.md, in release mode on a throw-away
# PostgreSQL: `piivault seed --users N` (rate), GET /users page latency at N users
# (first page, a deep page, an exact search), and POST /exports/users of all N
# (time and the server's peak RSS).
# Usage: [FSYNC=off] benches/operator/run.sh [users, default 100000] [wrk duration, default 10s]
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-100000}
duration=${2:-10s}
out=benches/operator/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

cargo build --release --quiet --bin piivault
bin=target/release/piivault

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u

. benches/lib/postgres.sh
start_postgres "$out/pg"
port=$PG_PORT
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  stop_postgres
}
trap cleanup EXIT
psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE piivault" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$port/piivault"
export PIIVAULT_KEYS_DIR="$out/keys" PIIVAULT_DATA_DIR="$out/data"
"$bin" keys init >/dev/null

echo "== piivault seed --users $count (fsync=${FSYNC:-on})"
/usr/bin/time -f "wall %es, max RSS %MkB, user %Us, sys %Ss" "$bin" seed --users "$count"
psql "$DATABASE_URL" -qc 'VACUUM ANALYZE users' >/dev/null

# Dev mode: its token has every scope and /encrypt-data makes the export's JWE.
"$bin" serve --dev --bind 127.0.0.1:18090 >"$out/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -s "$out/data/dev-token" ] && curl -sf localhost:18090/healthz >/dev/null && break; sleep 0.1; done
token=$(cat "$out/data/dev-token")
auth="Authorization: Bearer $token"
# This measures the work, not the dev client's quota: limits the load never meets
# (set before the token's first request, so the server learns these).
"$bin" clients limits dev --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 >/dev/null

deep=$(curl -sf -H "$auth" "localhost:18090/users?limit=200&order=oldest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["users"][100]["id"])')
email=$(curl -sf -H "$auth" "localhost:18090/users?limit=1&after=$deep" | python3 -c 'import json,sys; print(json.load(sys.stdin)["users"][0]["email"])')
for name in "first page:/users?limit=50" "deep page (after a cursor):/users?limit=50&after=$deep" "exact email search:/users?email=$email"; do
  echo "== GET ${name%%:*}, wrk -t1 -c4 -d$duration"
  wrk -t1 -c4 -d"$duration" --latency -H "$auth" "http://127.0.0.1:18090${name#*:}" | grep -E 'Latency|50%|99%|Requests/sec|Non-2xx'
done

echo "== POST /exports/users ($count users)"
jwe=$(curl -sf -H "$auth" -H 'Content-Type: application/json' -d '{"password":"k3Jd9sLq0PzX7vBn2MwR8tYc"}' localhost:18090/encrypt-data)
grep VmHWM /proc/$server/status | sed 's/^/server before export: /'
curl -s -o "$out/users.pdf" -w 'status %{http_code}, %{size_download} bytes, total %{time_total}s, first byte %{time_starttransfer}s\n' \
  -H "$auth" -H 'Content-Type: application/jose+json' --data-binary "$jwe" localhost:18090/exports/users
grep VmHWM /proc/$server/status | sed 's/^/server peak after export: /'
qpdf --show-npages --password='k3Jd9sLq0PzX7vBn2MwR8tYc' "$out/users.pdf" | sed 's/^/pages: /'
pdftotext -upw 'k3Jd9sLq0PzX7vBn2MwR8tYc' -l 1 "$out/users.pdf" - | grep -m1 -o 'Page 1 of [0-9]*'
rm -f "$out/users.pdf"
