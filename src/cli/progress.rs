//! The progress bar of the long commands (rewrap, reindex, seed): one look, with rate
//! and ETA, advanced by what the vault reports.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` steps labelled `what`.
pub fn bar(total: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:40}] {human_pos}/{human_len} {per_sec} (elapsed {elapsed_precise}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}
