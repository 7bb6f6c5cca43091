//! One libFuzzer binary for every target in `piivault::fuzz_targets`; the target is
//! named by `PIIVAULT_FUZZ_TARGET` (README.md).
#![no_main]

use std::sync::OnceLock;

fn chosen() -> fn(&[u8]) {
    static TARGET: OnceLock<fn(&[u8])> = OnceLock::new();
    *TARGET.get_or_init(|| {
        let name = std::env::var("PIIVAULT_FUZZ_TARGET").unwrap_or_default();
        piivault::fuzz_targets::target(&name).unwrap_or_else(|| {
            let names: Vec<&str> = piivault::fuzz_targets::TARGETS
                .iter()
                .map(|(name, _)| *name)
                .collect();
            panic!("set PIIVAULT_FUZZ_TARGET to one of {names:?}")
        })
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| chosen()(data));
