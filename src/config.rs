//! Runtime settings, gathered from command-line flags and environment variables
//! (see `cli.rs` for their names). Secrets are not settings: keys live in `keys.rs`.

use std::path::PathBuf;

use crate::db::PoolSettings;

/// The request-body limit for user payloads unless configured otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

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
    pub pool: PoolSettings,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// The file vault: upload limit and where the sealed objects live.
    pub files: crate::files::FileSettings,
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
