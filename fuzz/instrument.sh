#!/usr/bin/env bash
# RUSTC_WRAPPER for the fuzz build: adds libFuzzer's coverage instrumentation
# (SanitizerCoverage, stable rustc flags) to piivault's own crates only. The
# dependencies compile exactly as for `cargo test`, so the fuzz build reuses them
# from target/debug instead of building the whole tree again.
rustc=$1
shift
case " $* " in
  *" --crate-name piivault "*|*" --crate-name piivault_fuzz "*)
    exec "$rustc" "$@" --cfg fuzzing -Cpasses=sancov-module \
      -Cllvm-args=-sanitizer-coverage-level=4 \
      -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
      -Cllvm-args=-sanitizer-coverage-pc-table \
      -Cllvm-args=-sanitizer-coverage-trace-compares ;;
  *) exec "$rustc" "$@" ;;
esac
