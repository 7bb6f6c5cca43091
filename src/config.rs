//! Runtime settings, gathered from command-line flags and environment variables
//! (see `cli.rs` for their names). Secrets are not settings: keys live in `keys.rs`.

use std::path::PathBuf;
use std::time::Duration;

use crate::db::PoolSettings;

/// The request-body limit for user payloads unless configured otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// How often a running service reads its keys again unless configured otherwise.
pub const DEFAULT_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port`; port 0 picks a free port.
    pub bind: String,
    pub database_url: String,
    /// A separate database for the wrapped data keys; `None`: the main database.
    pub keystore_url: Option<String>,
    pub keys_dir: PathBuf,
    /// How often the keys dir (or environment) is read again for rotated keys.
    pub key_reload_interval: Duration,
    pub data_dir: PathBuf,
    /// Quick-start mode: generates missing keys, prints a dev token, enables `/encrypt-data`.
    pub dev: bool,
    pub max_body_bytes: usize,
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
