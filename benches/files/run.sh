#!/usr/bin/env bash
# File vault benchmark for BENCHMARKS.md: upload and download of a large file over
# loopback HTTP with curl against a release server (SQLite, local file store), and the
# server's memory: resident set before, and peak (VmHWM) after a small and after a
# large file, to show the peak does not grow with the file size.
# Usage: benches/files/run.sh [size in MiB, default 1024]
# BENCH_DATA_DIR puts the server's data dir (database and sealed objects) elsewhere,
# e.g. on tmpfs (/dev/shm/…) to measure the service rather than the disk.
set -euo pipefail
cd "$(dirname "$0")/../.."
mib=${1:-1024}
small_mib=64
out=benches/files/out
rm -rf "$out" && mkdir -p "$out"
data=${BENCH_DATA_DIR:-$out/data}
rm -rf "$data" && mkdir -p "$data"

cargo build --release --quiet --bin piivault
bin=target/release/piivault

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime
echo "== data dir: $data ($(df --output=fstype "$data" | tail -1))"

RUST_LOG=warn "$bin" serve --dev --bind 127.0.0.1:18090 --keys-dir "$out/keys" \
  --data-dir "$data" >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf localhost:18090/healthz >/dev/null && break; sleep 0.1; done
token=$(cat "$data/dev-token")
# This measures the work, not the dev client's quota: limits the load never meets
# (set before the token's first request, so the server learns these).
"$bin" clients limits dev --rate 2147483647/s --burst 2147483647 --max-concurrent 2147483647 --keys-dir "$out/keys" --data-dir "$data" >/dev/null
auth=(-H "Authorization: Bearer $token")

curl -sf localhost:18090/encrypt-data "${auth[@]}" -H 'Content-Type: application/json' \
  -d '{"first_name":"Bench","last_name":"Mark","email":"bench@example.org"}' >"$out/jwe.json"
user=$(curl -sf localhost:18090/users "${auth[@]}" -H 'Content-Type: application/jose+json' \
  --data-binary @"$out/jwe.json" | sed -E 's/.*"id":"([^"]+)".*/\1/')

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$server/status"; }
echo "== server memory at rest: VmRSS $(kib VmRSS) kB, VmHWM $(kib VmHWM) kB"
rss_before=$(kib VmRSS)

round_trip() {
  local size_mib=$1 file=$out/plain-$1.bin id
  head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$file"
  cat "$file" >/dev/null # into the page cache: measure the service, not the disk
  echo "== $size_mib MiB: upload (raw body streamed from the file: curl -X POST -T)"
  curl -sf -o "$out/meta.json" -w 'upload   %{size_upload} bytes in %{time_total} s = %{speed_upload} B/s\n' \
    "localhost:18090/users/$user/files?name=bench.bin" "${auth[@]}" \
    -H 'Content-Type: application/octet-stream' -X POST -T "$file"
  id=$(sed -E 's/.*"id":"([^"]+)".*/\1/' "$out/meta.json")
  echo "== $size_mib MiB: download to /dev/null"
  curl -sf -o /dev/null -w 'download %{size_download} bytes in %{time_total} s = %{speed_download} B/s\n' \
    "localhost:18090/users/$user/files/$id" "${auth[@]}"
  echo "== $size_mib MiB: server VmHWM $(kib VmHWM) kB (peak since start), VmRSS $(kib VmRSS) kB"
  echo "   peak growth over the resting RSS: $(( ($(kib VmHWM) - rss_before) / 1024 )) MiB"
  echo "== $size_mib MiB: round trip check (second download through sha256sum)"
  local want got
  want=$(sha256sum <"$file" | cut -d' ' -f1)
  got=$(curl -sf "localhost:18090/users/$user/files/$id" "${auth[@]}" | sha256sum | cut -d' ' -f1)
  [ "$want" = "$got" ] && echo "   sha256 matches" || { echo "   SHA-256 MISMATCH"; exit 1; }
  rm -f "$file"
}

round_trip "$small_mib"
round_trip "$mib"
echo "== stored objects"; ls -l "$data/files"
[ -n "${BENCH_DATA_DIR:-}" ] && rm -rf "$data"
