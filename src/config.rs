//! Runtime settings, gathered from command-line flags and environment variables
//! (`cli::args` names them). Secrets are not settings: keys live in `keys`. This
//! module depends on nothing of ours: every other module may read settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// How long an instance keeps serving after SIGTERM (with `/readyz` at 503) unless
/// configured otherwise: long enough for a load balancer to see it unready, short
/// enough to end before an orchestrator's usual 30 s kill.
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 15;

/// Blocking threads for the whole instance unless configured otherwise (see
/// `Settings::blocking_threads` and BENCHMARKS.md).
pub const DEFAULT_BLOCKING_THREADS: usize = 8;

/// Documents (statements, exports) written at once per instance unless configured
/// otherwise: one per core of the machine this was measured on (BENCHMARKS.md); more
/// wait their turn.
pub const DEFAULT_MAX_CONCURRENT_DOCUMENTS: usize = 2;

/// How often a running service reads its keys again unless configured otherwise.
pub const DEFAULT_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Unwrapped data keys an instance keeps unless configured otherwise (about 2 MiB).
pub const DEFAULT_DATA_KEY_CACHE_SIZE: usize = 10_000;
/// How long an unwrapped data key stays cached unless configured otherwise.
pub const DEFAULT_DATA_KEY_CACHE_TTL_SECS: u64 = 60;
/// The label prefix of piivault's objects in a PKCS#11 token unless configured otherwise.
pub const DEFAULT_PKCS11_LABEL_PREFIX: &str = "piivault";

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
    /// Where master keys live: the key file, or a PKCS#11 token.
    pub master_keys: MasterKeySettings,
    /// The per-instance cache of data keys unwrapped by a token.
    pub data_key_cache: DataKeyCacheSettings,
    pub data_dir: PathBuf,
    /// Quick-start mode: generates missing keys, prints a dev token, enables `/encrypt-data`.
    pub dev: bool,
    /// Where clients reach this service: statement download links are built from it,
    /// never from request headers. Required outside dev mode; in dev mode, when unset,
    /// the bound address.
    pub public_url: Option<PublicUrl>,
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
    pub files: FileSettings,
    /// Fonts for characters the bundled ones lack (searched before the system's).
    pub fonts_dir: Option<PathBuf>,
    /// Documents written at once; each holds a blocking thread and a database
    /// connection while it streams, so keep it below both.
    pub max_concurrent_documents: usize,
    /// After SIGTERM, how long the instance keeps serving (unready) before it closes
    /// its listener and cuts off what is still in flight.
    pub drain_timeout: Duration,
    /// How many instances share each client's quota: each enforces this share of it.
    pub instances: u32,
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
            master_keys: MasterKeySettings::default(),
            data_key_cache: DataKeyCacheSettings::default(),
            data_dir,
            dev: false,
            public_url: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_body_bytes: DEFAULT_MAX_BATCH_BODY_BYTES,
            statement_link_ttl: Duration::from_secs(DEFAULT_STATEMENT_LINK_TTL_SECS),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            pool: PoolSettings::default(),
            workers: None,
            blocking_threads: DEFAULT_BLOCKING_THREADS,
            files: FileSettings::default(),
            fonts_dir: None,
            max_concurrent_documents: DEFAULT_MAX_CONCURRENT_DOCUMENTS,
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_TIMEOUT_SECS),
            instances: 1,
        }
    }

    /// The embedded default: an SQLite file under the data dir.
    pub fn default_database_url(data_dir: &Path) -> String {
        data_dir
            .join("piivault.sqlite3")
            .to_string_lossy()
            .into_owned()
    }

    /// The key store's URL when it is a database of its own: `None` when unset or
    /// when it names the main database (then it is the default, not a second store).
    pub fn separate_keystore_url(&self) -> Option<&str> {
        self.keystore_url
            .as_deref()
            .filter(|url| *url != self.database_url)
    }
}

/// Which provider holds the master key versions new data keys are wrapped under (and
/// where `keys init` and `keys rotate-master` create versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MasterKeyProvider {
    /// The `master-keys` file in the keys dir, or `PIIVAULT_MASTER_KEYS`.
    #[default]
    File,
    /// AES-256 secret key objects inside a PKCS#11 token.
    Pkcs11,
}

impl MasterKeyProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Pkcs11 => "pkcs11",
        }
    }
}

impl std::fmt::Display for MasterKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where master keys live. The token's user PIN is a secret, not a setting: it is read
/// from `PIIVAULT_PKCS11_PIN` when the token is opened (`keys::token`).
#[derive(Debug, Clone, Default)]
pub struct MasterKeySettings {
    pub provider: MasterKeyProvider,
    /// The token, when one is configured (needed by `pkcs11`; with `file`, a
    /// configured token's versions still unwrap, as during a migration).
    pub pkcs11: Option<Pkcs11Settings>,
}

/// One PKCS#11 token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Settings {
    /// The vendor's PKCS#11 module (a shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// Prefix of piivault's object labels (`<prefix>-master-v<N>`), so that several
    /// services can share one token.
    pub label_prefix: String,
}

/// The bounded cache of data keys unwrapped by a token, per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataKeyCacheSettings {
    /// Most keys held; 0 turns the cache off.
    pub capacity: usize,
    /// How long a key stays after it was unwrapped.
    pub ttl: Duration,
}

impl Default for DataKeyCacheSettings {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_DATA_KEY_CACHE_SIZE,
            ttl: Duration::from_secs(DEFAULT_DATA_KEY_CACHE_TTL_SECS),
        }
    }
}

/// The service's address as its clients see it: an absolute `http` or `https` URL with
/// a host and optionally a path prefix (behind a proxy that mounts the service under
/// one), no query, fragment or credentials. Kept without a trailing slash, so a path
/// is appended as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|error| format!("not an absolute URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the scheme must be http or https".to_owned());
        }
        if url.host().is_none() {
            return Err("the URL names no host".to_owned());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("the URL must have no query or fragment".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL must carry no credentials".to_owned());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The address a listener is bound to, as a URL (dev mode): an unspecified
    /// address (`0.0.0.0`, `::`) becomes loopback, which is where it is reached from
    /// this machine.
    pub fn bound(address: std::net::SocketAddr) -> Self {
        let mut address = address;
        if address.ip().is_unspecified() {
            address.set_ip(match address {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        Self(format!("http://{address}"))
    }

    /// `path` (which starts with `/`) under this URL.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Pool sizing and how long a request waits for a connection before it is told the
/// database is unavailable.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// Database connections per instance unless configured otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 16;

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_POOL_SIZE,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

impl PoolSettings {
    /// One connection: what a command-line tool needs.
    pub fn single() -> Self {
        Self {
            max_connections: 1,
            ..Self::default()
        }
    }
}

/// Largest accepted file unless configured otherwise: 1 GiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Largest accepted file (plaintext bytes); larger uploads get 413 and leave nothing.
    pub max_file_bytes: u64,
    pub location: StoreLocation,
    /// S3 client options (`object_store` configuration keys such as `aws_endpoint`)
    /// applied over the `AWS_*` environment: how the tests point a store at their own
    /// S3 server without touching the process environment.
    pub s3_options: Vec<(String, String)>,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            location: StoreLocation::DataDir,
            s3_options: Vec::new(),
        }
    }
}

/// Where sealed files are stored, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreLocation {
    /// `<data dir>/files`.
    #[default]
    DataDir,
    /// A bucket (and optional key prefix) of an S3-compatible service; endpoint and
    /// credentials come from the usual `AWS_*` environment variables.
    S3 { bucket: String, prefix: String },
}

impl StoreLocation {
    /// `local` (the default) or `s3://bucket[/prefix]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text == "local" {
            return Ok(Self::DataDir);
        }
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err("expected `local` or `s3://bucket[/prefix]`".to_owned());
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("the s3:// location names no bucket".to_owned());
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_locations() {
        assert_eq!(StoreLocation::parse("local"), Ok(StoreLocation::DataDir));
        assert_eq!(StoreLocation::parse(""), Ok(StoreLocation::DataDir));
        assert_eq!(
            StoreLocation::parse("s3://vault/files/eu/"),
            Ok(StoreLocation::S3 {
                bucket: "vault".to_owned(),
                prefix: "files/eu".to_owned()
            })
        );
        assert_eq!(
            StoreLocation::parse("s3://vault"),
            Ok(StoreLocation::S3 {
                bucket: "vault".to_owned(),
                prefix: String::new()
            })
        );
        assert!(StoreLocation::parse("s3://").is_err());
        assert!(StoreLocation::parse("/var/lib/files").is_err());
    }

    #[test]
    fn public_urls_are_absolute_http_urls_kept_without_a_trailing_slash() {
        let joined = |text: &str| PublicUrl::parse(text).map(|url| url.join("/statements"));
        assert_eq!(
            joined("https://vault.example"),
            Ok("https://vault.example/statements".to_owned())
        );
        assert_eq!(
            joined("https://vault.example/pii/"),
            Ok("https://vault.example/pii/statements".to_owned())
        );
        assert_eq!(
            joined("http://10.0.0.5:8080"),
            Ok("http://10.0.0.5:8080/statements".to_owned())
        );
        for bad in [
            "",
            "vault.example",
            "/statements",
            "ftp://vault.example",
            "https://vault.example/?a=b",
            "https://vault.example/#top",
            "https://user:secret@vault.example",
            "file:///srv/vault",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            PublicUrl::bound("0.0.0.0:8080".parse().unwrap()).to_string(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            PublicUrl::bound("[::]:8080".parse().unwrap()).to_string(),
            "http://[::1]:8080"
        );
    }

    #[test]
    fn a_keystore_url_equal_to_the_main_database_is_no_second_store() {
        let mut settings = Settings::new("main.db".into(), "keys".into(), "data".into());
        assert_eq!(settings.separate_keystore_url(), None);
        settings.keystore_url = Some("main.db".into());
        assert_eq!(settings.separate_keystore_url(), None);
        settings.keystore_url = Some("keys.db".into());
        assert_eq!(settings.separate_keystore_url(), Some("keys.db"));
    }
}
