#!/usr/bin/env bash
# Master keys in a PKCS#11 token, for BENCHMARKS.md, on SoftHSM2 and a throw-away
# PostgreSQL with fsync ON (as production runs):
#   1. the token's ceiling: AES-256-GCM on a data key straight on the token
#      (examples/token_ops.rs), and `openssl speed` AES-256-GCM for the file provider;
#   2. GET /users/{id} with wrk (c=16), alternating ROUNDS times between the file
#      provider, the pkcs11 provider with the data key cache (default settings) and
#      the pkcs11 provider without it (--data-key-cache-size 0: every read is a miss);
#   3. the rewrap rate: N data keys (default 100,000) moved from the key file to the
#      token (`keys migrate-master --to pkcs11`: software unwrap, token wrap), then
#      rotated inside the token (`keys rotate-master`: token unwrap and wrap), next to
#      a file-provider rotation of the same keys (the ceiling of the job without a
#      token).
# Usage: benches/hsm/run.sh [duration, default 15s] [count, default 100000]; ROUNDS
# (default 3). Needs softhsm2, wrk (scripts/install-test-deps). Ports are free ones.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-15s}
count=${2:-100000}
rounds=${ROUNDS:-3}
out=$(pwd)/benches/hsm/out
rm -rf "$out" && mkdir -p "$out/tokens"
chmod 777 "$out"

cargo build --release --quiet --bin piivault --example jwe_tokens --example token_ops --example seed_data_keys
bin=target/release/piivault
module=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so 2>/dev/null | head -1)

export SOFTHSM2_CONF=$out/softhsm2.conf
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$out/tokens" > "$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label bench --so-pin 1111 --pin 2222 >/dev/null
export PIIVAULT_PKCS11_PIN=2222
pkcs11=(--pkcs11-module "$module" --pkcs11-token bench)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
load() { echo "load: $(uptime | sed -E 's/.*load average: //')"; }

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; load
echo "== ceiling: the token (SoftHSM2 $(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null || echo '?'))"
target/release/examples/token_ops "$module" bench 5 2
echo "== ceiling: openssl speed -evp aes-256-gcm (16-byte blocks ≈ one data key)"
openssl speed -seconds 3 -bytes 32 -evp aes-256-gcm 2>/dev/null | tail -1

FSYNC=on
. benches/lib/postgres.sh
start_postgres "$out/pg"
trap stop_postgres EXIT
pg="postgres://postgres@127.0.0.1:$PG_PORT"
for db in file pkcs11 keystore; do psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null; done

# One keys dir: JWE and blind-index keys and master v1 in the file; master v2 in the
# token (active for the pkcs11 provider).
"$bin" keys init --keys-dir "$out/keys" >/dev/null
"$bin" keys rotate-master --no-rewrap --master-key-provider pkcs11 "${pkcs11[@]}" \
  --keys-dir "$out/keys" --database-url "$pg/pkcs11" >/dev/null
target/release/examples/jwe_tokens "$out/keys" 600 > "$out/tokens.txt"

serve() { # name database extra-args...
  local name=$1 database=$2; shift 2
  local port; port=$(free_port)
  mkdir -p "$out/$name"
  RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" --database-url "$pg/$database" \
    --keys-dir "$out/keys" --data-dir "$out/$name" "$@" &
  server=$!
  for _ in $(seq 100); do curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.1; done
  base=http://127.0.0.1:$port
}

prepare() { # name database extra-args...: registers 300 users, writes ids and token
  local name=$1 database=$2; shift 2
  local token
  # Limits the load never meets: this measures the work, not the quota.
  token=$("$bin" clients create --name "bench-$name" --scopes users:write,users:read --json \
    --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 \
    --database-url "$pg/$database" --keys-dir "$out/keys" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  echo "$token" > "$out/$name.token"
  serve "$name" "$database" "$@"
  local first=1; [ "$database" = pkcs11 ] && first=301
  sed -n "${first},$((first + 299))p" "$out/tokens.txt" | while read -r jwe; do
    echo "$jwe" | curl -s "$base/users" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/jose' --data-binary @- | sed -E 's/.*"id":"([^"]+)".*/\1/'; echo
  done | grep -E '^[0-9a-f-]{36}$' > "$out/$name.ids"
  kill "$server"; wait "$server" 2>/dev/null || true
}

prepare file file
prepare pkcs11 pkcs11 --master-key-provider pkcs11 "${pkcs11[@]}"
echo "users: $(wc -l < "$out/file.ids") (file), $(wc -l < "$out/pkcs11.ids") (pkcs11)"

get() { # label database ids extra-args...
  local label=$1 database=$2 ids=$3; shift 3
  serve "$label" "$database" "$@"
  load
  echo "== GET /users/{id}, $label, c=16, $duration"
  IDS_FILE=$out/$ids.ids TOKEN=$(cat "$out/$ids.token") wrk -t2 -c16 -d"$duration" \
    -s benches/load/get_users.lua "$base" | grep -E 'Requests/sec|non-200|p50|p99:'
  kill "$server"; wait "$server" 2>/dev/null || true
}

for round in $(seq "$rounds"); do
  echo "== round $round"
  get file file file
  get pkcs11-cache pkcs11 pkcs11 --master-key-provider pkcs11 "${pkcs11[@]}"
  get pkcs11-no-cache pkcs11 pkcs11 --master-key-provider pkcs11 "${pkcs11[@]}" --data-key-cache-size 0
done

echo "== rewrap: seeding $count data keys under the key file's v1"
target/release/examples/seed_data_keys "$out/keys" "$pg/keystore" "$count"
psql "$pg/keystore" -qc 'VACUUM ANALYZE data_keys' >/dev/null
job() { # label args...
  local label=$1; shift
  load
  echo "== $label"
  /usr/bin/time -f "wall %es, max RSS %MkB, user %Us, sys %Ss" "$bin" keys "$@" \
    --keys-dir "$out/keys" --database-url "$pg/file" --keystore-url "$pg/keystore" | tail -1
}
job "file provider: rotate-master (software unwrap and wrap)" rotate-master "${pkcs11[@]}"
job "migrate-master --to pkcs11 (software unwrap, token wrap)" migrate-master --to pkcs11 "${pkcs11[@]}"
job "pkcs11 provider: rotate-master (token unwrap and wrap)" rotate-master --master-key-provider pkcs11 "${pkcs11[@]}"
