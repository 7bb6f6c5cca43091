#!/usr/bin/env bash
# Abuse benchmark for BENCHMARKS.md: the latency of a well-behaved client A (GET
# /users/{id} and POST /users, wrk with 2 connections each) alone and while client B
# floods the same instance (wrk, 16 connections) with (a) JWEs naming unknown kids
# (B's quota set out of reach, so only the kid path is measured), (a') the same within
# B's default quota (as in production: most are 429s) and (b) valid POST /users far
# above B's default quota (429s). A's load runs in slices, alternately alone (B's
# generator paused) and during the flood, PAIRS (default 6) of each per case and
# kind; benches/abuse/pool.py pools each side's slices into one distribution, so that
# PostgreSQL's autovacuum and checkpoints and the machine's other tenants weigh on
# both sides alike. PostgreSQL with fsync on, a release build, `openssl speed
# rsa2048` and `uptime` in the same run. Then benches/abuse/bounds.sh (the largest
# request of each kind, time and memory), so that this one command reproduces the
# whole section of BENCHMARKS.md.
# Usage: benches/abuse/run.sh [seconds per slice, default 5s]. Needs wrk
# (scripts/install-test-deps). Listens on a free port.
# PIN=1 puts the service and PostgreSQL on CPU 0 and both load generators on CPU 1
# (taskset), so that B's generator, which would run on B's own machine, does not take
# the service's CPU: what A then loses is what the service spends on B.
# SKIP_BOUNDS=1 leaves bounds.sh out.
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
duration=${1:-5s}
out=benches/abuse/out
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

cargo build --release --quiet --bin piivault --example jwe_tokens
bin=target/release/piivault

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime
echo "== openssl speed rsa2048 (private ops/s per core = the RSA ceiling)"
openssl speed -seconds 5 rsa2048 2>/dev/null | grep -E '^rsa 2048'

FSYNC=on start_postgres "$out/pg"
trap stop_postgres EXIT
service_cpus=() generator_cpus=()
if [ -n "${PIN:-}" ]; then
  service_cpus=(taskset -c 0) generator_cpus=(taskset -c 1)
  # The postmaster and the backends it forks from now on.
  for pid in $(cluster_pids); do taskset -a -p -c 0 "$pid" >/dev/null; done
  echo "pinned: service and PostgreSQL on CPU 0, load generators on CPU 1"
fi
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE piivault' >/dev/null
url="postgres://postgres@127.0.0.1:$PG_PORT/piivault"
psql "$url" -Atc 'SHOW fsync' | sed 's/^/fsync: /'
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
"$bin" keys init --keys-dir "$out/keys" >/dev/null
create() {
  "$bin" clients create --name "$1" --scopes users:write,users:read --json "${@:2}" \
    --database-url "$url" --keys-dir "$out/keys" --data-dir "$out" | sed -E 's/.*"token":"([^"]+)".*/\1/'
}
unlimited=(--rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647)
token_a=$(create client-a "${unlimited[@]}")
token_kids=$(create client-b-kids "${unlimited[@]}")
token_quota=$(create client-b-quota)  # the default quota: 100/s, burst 200, 16 in flight
PIIVAULT_DRAIN_TIMEOUT=1 RUST_LOG=error "${service_cpus[@]}" "$bin" serve --bind "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" --database-url "$url" --keys-dir "$out/keys" \
  --data-dir "$out" &
server=$!
flood_pid=""
# A paused generator would keep a TERM pending: continue it first.
trap 'kill -CONT $flood_pid 2>/dev/null; kill $flood_pid $server 2>/dev/null || true; stop_postgres' EXIT
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

# A's slices alternate: alone (B's generator paused with SIGSTOP, its connections
# left open) and during B's flood (SIGCONT), PAIRS of each per case and kind, in
# alternating order, so that whatever else the machine and PostgreSQL do (autovacuum,
# checkpoints, other tenants) falls on both sides alike; pool.py pools each side.
# A: fresh JWEs for each POST slice, 800 per second of it; B: 24,000 (300 of them
# register the users A reads).
pairs=${PAIRS:-6}
slice_secs=${duration%s}
slice=$((slice_secs * 800))
a_count=$((3 * pairs * 2 * slice))
target/release/examples/jwe_tokens "$out/keys" $((a_count + 24000)) > "$out/tokens.txt"
sed -n "1,${a_count}p" "$out/tokens.txt" > "$out/a.txt"
sed -n "$((a_count + 1)),\$p" "$out/tokens.txt" > "$out/b.txt"
# B's unknown kids: the same JWEs with the protected header naming a kid nobody has.
python3 - "$out/b.txt" > "$out/kids.txt" <<'PY'
import base64, json, sys
for n, line in enumerate(open(sys.argv[1])):
    header, rest = line.strip().split(".", 1)
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    decoded["kid"] = f"unknown-{n}"
    encoded = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    print(f"{encoded}.{rest}")
PY
for n in $(seq 1 300); do
  sed -n "${n}p" "$out/b.txt" | curl -s "$base/users" -H "Authorization: Bearer $token_a" \
    -H 'Content-Type: application/jose' --data-binary @- | sed -E 's/.*"id":"([^"]+)".*/\1/'; echo
done | grep -E '^[0-9a-f-]{36}$' > "$out/ids.txt"
sed -i '1,300d' "$out/b.txt"
a_offset=0

a_run() {  # $1 = GET or POST: one slice of A's load (2 connections)
  if [ "$1" = POST ]; then
    # A fresh slice of A's tokens each time, so every POST registers a new user
    # (here, not in the pipeline below: a_offset must outlive this call).
    sed -n "$((a_offset + 1)),$((a_offset + slice))p" "$out/a.txt" > "$out/a-now.txt"
    a_offset=$((a_offset + slice))
  fi
  if [ "$1" = GET ]; then
    QUANTILES=1 IDS_FILE=$out/ids.txt TOKEN=$token_a "${generator_cpus[@]}" wrk -t1 -c2 \
      -d"$duration" -s benches/load/get_users.lua "$base"
  else
    QUANTILES=1 TOKENS_FILE=$out/a-now.txt TOKEN=$token_a THREADS=1 "${generator_cpus[@]}" \
      wrk -t1 -c2 -d"$duration" -s benches/load/post_users.lua "$base"
  fi | grep -E 'Requests/sec|non-|latency p99:|quantiles'
  echo "seconds: $slice_secs"
}
flood() {  # $1 = tokens file, $2 = bearer, $3 = name; runs until stopped
  # A session of its own: were its process group this script's, the group would get
  # SIGHUP while B is paused should the shell that started the script exit.
  TOKENS_FILE=$1 TOKEN=$2 THREADS=1 setsid "${generator_cpus[@]}" wrk -t1 -c16 -d3600s -s benches/load/post_users.lua "$base" \
    > "$out/flood-$3.txt" &
  flood_pid=$!
  sleep 2
}
pause_flood() {  # B's requests in flight, delayed refusals included (<= 1 s), end first
  kill -STOP "$flood_pid"; sleep 1.2
}
resume_flood() {
  kill -CONT "$flood_pid"; sleep 0.3
}
stop_flood() {  # $1 = name, $2 = seconds B was flooding
  kill -CONT "$flood_pid" 2>/dev/null || true
  kill -INT "$flood_pid" 2>/dev/null || true
  wait "$flood_pid" 2>/dev/null || true
  grep -E 'non-' "$out/flood-$1.txt" | sed 's/^/  B: /'
  awk -v secs="$2" '/requests in/ { printf "  B: %d answers in %d s of flooding: %.0f/s\n", $1, secs, $1 / secs }' \
    "$out/flood-$1.txt"
}

for case in kids kids-quota quota; do
  case $case in
    kids) tokens=$out/kids.txt bearer=$token_kids
      echo "== (a) B floods unknown kids (c=16, quota out of reach)" ;;
    kids-quota) tokens=$out/kids.txt bearer=$token_quota
      echo "== (a') B floods unknown kids within its default quota (c=16)" ;;
    quota) tokens=$out/b.txt bearer=$token_quota
      echo "== (b) B floods valid POST /users above its default quota (c=16)" ;;
  esac
  uptime
  flood "$tokens" "$bearer" "$case"; pause_flood
  flooding=2
  for kind in GET POST; do
    for pair in $(seq "$pairs"); do
      order="alone flood"; [ $((pair % 2)) -eq 0 ] && order="flood alone"
      for mode in $order; do
        [ "$mode" = flood ] && resume_flood
        echo "slice $case $kind $mode from $(date -u +%T)" | tee -a "$out/slices.txt"
        a_run "$kind" > "$out/slice-now.txt"
        tee -a "$out/slices.txt" < "$out/slice-now.txt" | grep -v '^quantiles'
        if [ "$mode" = flood ]; then pause_flood; flooding=$((flooding + slice_secs)); fi
      done
    done
  done
  stop_flood "$case" "$flooding"
done
echo "== pooled (benches/abuse/pool.py)"
python3 benches/abuse/pool.py "$out/slices.txt"

kill "$server"; wait "$server" 2>/dev/null || true; server=""
stop_postgres; trap - EXIT
cp "$out/pg/log" "$out/postgres.log"  # checkpoints and autovacuum runs, with their times
rm -rf "$out/pg"
if [ -z "${SKIP_BOUNDS:-}" ]; then
  echo "== bounded work per request"
  benches/abuse/bounds.sh
fi
