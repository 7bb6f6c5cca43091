//! The coverage-guided fuzzers in `cargo test`: builds `fuzz/` (libFuzzer, reusing
//! the dependencies this test run built) and runs every target for a bounded time
//! (`PIIVAULT_FUZZ_SECONDS`, default 8) on a copy of its corpus in `fuzz/corpus/`.
//! A crash fails the test with the input that caused it; the corpus itself is also
//! replayed by the unit tests (`src/fuzz_targets.rs`). Longer runs that grow the
//! corpus: `fuzz/run.sh`.

// Tests may panic on the unexpected: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target dir this test binary was built in (`target/debug/deps/fuzz-…`).
fn target_dir() -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    test_binary
        .ancestors()
        .nth(3)
        .map_or_else(|| manifest_dir().join("target"), Path::to_path_buf)
}

fn build_fuzzer(target_dir: &Path) -> PathBuf {
    let fuzz = manifest_dir().join("fuzz");
    let output = Command::new(env!("CARGO"))
        .current_dir(&fuzz)
        .args(["build", "--quiet", "--target-dir"])
        .arg(target_dir)
        .env("RUSTC_WRAPPER", fuzz.join("instrument.sh"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "building fuzz/ failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    target_dir.join("debug/piivault-fuzz")
}

/// Moves the inputs libFuzzer left in `artifacts` (crashes, timeouts) to
/// `fuzz/artifacts/<target>/` (ignored by git), for the developer; returns where.
fn keep_crash_inputs(artifacts: &Path, target: &str) -> Vec<PathBuf> {
    let kept = manifest_dir().join("fuzz/artifacts").join(target);
    std::fs::read_dir(artifacts)
        .unwrap()
        .map(|entry| {
            let from = entry.unwrap().path();
            std::fs::create_dir_all(&kept).unwrap();
            let to = kept.join(from.file_name().unwrap());
            std::fs::copy(&from, &to).unwrap();
            to
        })
        .collect()
}

#[test]
fn every_decoder_survives_a_bounded_coverage_guided_run() {
    let seconds: u64 = std::env::var("PIIVAULT_FUZZ_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(8);
    let binary = build_fuzzer(&target_dir());
    let corpus = manifest_dir().join("fuzz/corpus");
    let mut targets: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    assert_eq!(targets.len(), 11, "one corpus per target: {targets:?}");
    let mut report = Vec::new();
    for target in &targets {
        let work = tempfile::tempdir().unwrap();
        let artifacts = tempfile::tempdir().unwrap();
        let output = Command::new(&binary)
            .env("PIIVAULT_FUZZ_TARGET", target)
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.path().display()))
            .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
            .arg(work.path())
            .arg(corpus.join(target))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        let crash = keep_crash_inputs(artifacts.path(), target);
        assert!(
            output.status.success() && crash.is_empty(),
            "fuzz target {target} failed (input kept in {crash:?}):\n{}",
            log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
        );
        let runs = log
            .lines()
            .find_map(|line| line.strip_prefix("stat::number_of_executed_units:"))
            .map_or("?", str::trim)
            .to_owned();
        report.push(format!("{target}: {runs} runs in {seconds} s"));
    }
    eprintln!("fuzzed:\n  {}", report.join("\n  "));
}
