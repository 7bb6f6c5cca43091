#!/usr/bin/env bash
# Coverage-guided fuzzing of piivault's decoders (README.md here): builds the libFuzzer
# binary (debug profile, reusing the dependencies `cargo test` built in ../target),
# then runs every target, or those named, for SECONDS each (default 60) on a copy of
# its corpus. New inputs that add coverage are merged into fuzz/corpus/<target>; a
# crash stops the run and leaves its input in fuzz/artifacts/<target>/.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
target_dir=${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}
RUSTC_WRAPPER=$PWD/instrument.sh cargo build --quiet --target-dir "$target_dir"
binary=$target_dir/debug/piivault-fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls corpus)
fi
for target in "${targets[@]}"; do
  work=$(mktemp -d)
  mkdir -p "artifacts/$target"
  PIIVAULT_FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" -timeout=10 -rss_limit_mb=2048 \
    "$work" "corpus/$target" 2>"$work.log" || { tail -40 "$work.log"; exit 1; }
  runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$work.log" | tail -1)
  # Keep what added coverage, minimised against what is already there.
  PIIVAULT_FUZZ_TARGET=$target "$binary" -merge=1 "corpus/$target" "$work" 2>/dev/null
  echo "$target: $runs; corpus $(ls "corpus/$target" | wc -l) inputs"
  rm -rf "$work" "$work.log"
  rmdir "artifacts/$target" 2>/dev/null || true
done
rmdir artifacts 2>/dev/null || true
