//! Runtime settings, gathered from command-line flags and environment variables
//! (see `cli.rs` for their names). Secrets are not settings: keys live in `keys.rs`.

use std::path::PathBuf;
use std::time::Duration;

use crate::db::PoolSettings;

/// The request-body limit for user payloads unless configured otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// The body limit for transaction batches: 1,000 transactions with long details in
/// several scripts, as a JWE, fit.
pub const DEFAULT_MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How long a statement download link works unless configured otherwise (15 minutes).
pub const DEFAULT_STATEMENT_LINK_TTL_SECS: u64 = 15 * 60;
/// How long a request body may take unless configured otherwise: a 64 KiB body needs
/// 2 KB/s, a full 4 MiB transaction batch 140 KB/s; stalled clients do not pile up.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;

/// Blocking threads for the whole instance unless configured otherwise (see
/// `Settings::blocking_threads` and BENCHMARKS.md).
pub const DEFAULT_BLOCKING_THREADS: usize = 8;

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
    pub max_batch_body_bytes: usize,
    pub statement_link_ttl: Duration,
    /// How long a request body may take: all of a JSON or JWE body, or any pause
    /// between chunks of a file upload.
    pub body_timeout: Duration,
    pub pool: PoolSettings,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// Threads for blocking work (database calls, RSA, PDFs, file sealing), for the
    /// whole instance. Few enough that CPU-heavy work queues in order instead of
    /// time-slicing the cores into long tail latencies; enough that threads waiting on
    /// the database leave the cores busy.
    pub blocking_threads: usize,
    /// The file vault: upload limit and where the sealed objects live.
    pub files: crate::files::FileSettings,
}

impl Settings {
    /// Production settings with every default (loopback port 8080, no key store of its
    /// own, the default limits and pool): what `serve` runs with when given no flags
    /// beyond these three.
    pub fn new(database_url: String, keys_dir: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            database_url,
            keystore_url: None,
            keys_dir,
            key_reload_interval: DEFAULT_KEY_RELOAD_INTERVAL,
            data_dir,
            dev: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_body_bytes: DEFAULT_MAX_BATCH_BODY_BYTES,
            statement_link_ttl: Duration::from_secs(DEFAULT_STATEMENT_LINK_TTL_SECS),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            pool: PoolSettings::default(),
            workers: None,
            blocking_threads: DEFAULT_BLOCKING_THREADS,
            files: crate::files::FileSettings::default(),
        }
    }

    /// The embedded default: an SQLite file under the data dir.
    pub fn default_database_url(data_dir: &std::path::Path) -> String {
        data_dir
            .join("piivault.sqlite3")
            .to_string_lossy()
            .into_owned()
    }
}
