//! Runtime settings, gathered from command-line flags and environment variables
//! (see `cli.rs` for their names). Secrets are not settings: keys live in `keys.rs`.

use std::path::PathBuf;

use crate::db::PoolSettings;

/// The request-body limit for user payloads unless configured otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// The body limit for transaction batches: 1,000 transactions with long details in
/// several scripts, as a JWE, fit.
pub const DEFAULT_MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How long a statement download link works unless configured otherwise (15 minutes).
pub const DEFAULT_STATEMENT_LINK_TTL_SECS: u64 = 15 * 60;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port`; port 0 picks a free port.
    pub bind: String,
    pub database_url: String,
    pub keys_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Quick-start mode: generates missing keys, prints a dev token, enables `/encrypt-data`.
    pub dev: bool,
    pub max_body_bytes: usize,
    pub max_batch_body_bytes: usize,
    pub statement_link_ttl: std::time::Duration,
    pub pool: PoolSettings,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
}

impl Settings {
    /// The embedded default: an SQLite file under the data dir.
    pub fn default_database_url(data_dir: &std::path::Path) -> String {
        data_dir
            .join("piivault.sqlite3")
            .to_string_lossy()
            .into_owned()
    }
}
