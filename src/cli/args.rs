//! The command line's flags and subcommands (clap), and the [`Settings`] they make.
//! Every subcommand reads the same global flags and environment variables.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    DataKeyCacheSettings, FileSettings, MasterKeyProvider, MasterKeySettings, Pkcs11Settings,
    PoolSettings, PublicUrl, Settings, StoreLocation, DEFAULT_BLOCKING_THREADS,
    DEFAULT_BODY_TIMEOUT_SECS, DEFAULT_DATA_KEY_CACHE_SIZE, DEFAULT_DATA_KEY_CACHE_TTL_SECS,
    DEFAULT_DRAIN_TIMEOUT_SECS, DEFAULT_MAX_BATCH_BODY_BYTES, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONCURRENT_DOCUMENTS, DEFAULT_MAX_FILE_BYTES, DEFAULT_PKCS11_LABEL_PREFIX,
    DEFAULT_POOL_SIZE, DEFAULT_STATEMENT_LINK_TTL_SECS,
};
use crate::telemetry::LogFormat;
use crate::vault::key_jobs::JobOptions;

#[derive(Debug, Parser)]
#[command(
    name = "piivault",
    version,
    about = "Keeps personal data encrypted from request to statement"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// PostgreSQL (`postgres://…`) or SQLite (a file path) URL [default: <data-dir>/piivault.sqlite3]
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// A separate database for the wrapped data keys (PostgreSQL URL or SQLite path) [default: the main database]
    #[arg(long, env = "PIIVAULT_KEYSTORE_URL", global = true)]
    pub keystore_url: Option<String>,
    /// Where key files live
    #[arg(long, env = "PIIVAULT_KEYS_DIR", default_value = "keys", global = true)]
    pub keys_dir: PathBuf,
    /// Where the embedded database and dev token live
    #[arg(long, env = "PIIVAULT_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// Where sealed files live: `local` (<data-dir>/files) or `s3://bucket[/prefix]`
    /// (needs the `s3` build feature; endpoint and credentials from AWS_* variables)
    #[arg(long, env = "PIIVAULT_FILE_STORE", default_value = "local", value_parser = StoreLocation::parse, global = true)]
    pub file_store: StoreLocation,
    /// Which provider holds the active master key: `file` (the keys dir or
    /// PIIVAULT_MASTER_KEYS) or `pkcs11` (a token; its user PIN from PIIVAULT_PKCS11_PIN)
    #[arg(long, env = "PIIVAULT_MASTER_KEY_PROVIDER", value_enum, default_value_t = ProviderArg::File, global = true)]
    pub master_key_provider: ProviderArg,
    /// The PKCS#11 module (the HSM vendor's shared library)
    #[arg(long, env = "PIIVAULT_PKCS11_MODULE", global = true)]
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the PKCS#11 token that holds the master keys
    #[arg(long, env = "PIIVAULT_PKCS11_TOKEN", global = true)]
    pub pkcs11_token: Option<String>,
    /// Prefix of piivault's object labels in the token (`<prefix>-master-v<N>`)
    #[arg(long, env = "PIIVAULT_PKCS11_LABEL_PREFIX", default_value = DEFAULT_PKCS11_LABEL_PREFIX, global = true)]
    pub pkcs11_label_prefix: String,
    /// Log lines as `text` (for people) or `json` (one object per line, for collectors)
    #[arg(long, env = "PIIVAULT_LOG_FORMAT", default_value = "text", value_parser = LogFormat::parse, global = true)]
    pub log_format: LogFormat,
}

/// A master key provider, as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// The `master-keys` file in the keys dir (or PIIVAULT_MASTER_KEYS)
    File,
    /// AES-256 key objects in a PKCS#11 token
    Pkcs11,
}

impl From<ProviderArg> for MasterKeyProvider {
    fn from(provider: ProviderArg) -> Self {
        match provider {
            ProviderArg::File => Self::File,
            ProviderArg::Pkcs11 => Self::Pkcs11,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API
    Serve(ServeArgs),
    /// Manage keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage API clients and their tokens
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage users
    #[command(subcommand)]
    Users(UsersCommand),
    /// Store fake people (demo data, benchmarks) through the same sealing as the API
    Seed(SeedArgs),
    /// Read the audit log of personal-data reads
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, env = "PIIVAULT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Quick start: generate missing keys, print a dev token, enable /encrypt-data
    #[arg(long)]
    pub dev: bool,
    /// The service's URL as clients reach it (e.g. https://vault.example); statement
    /// download links are built from it. Required unless --dev [default with --dev:
    /// the bound address]
    #[arg(long, env = "PIIVAULT_PUBLIC_URL", value_parser = PublicUrl::parse)]
    pub public_url: Option<PublicUrl>,
    /// Largest accepted request body, in bytes
    #[arg(long, env = "PIIVAULT_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Largest accepted transaction batch body (up to 1,000 transactions), in bytes
    #[arg(long, env = "PIIVAULT_MAX_BATCH_BODY_BYTES", default_value_t = DEFAULT_MAX_BATCH_BODY_BYTES)]
    pub max_batch_body_bytes: usize,
    /// Seconds a JSON or JWE body may take to arrive, and a file upload may pause
    #[arg(long, env = "PIIVAULT_BODY_TIMEOUT", default_value_t = DEFAULT_BODY_TIMEOUT_SECS)]
    pub body_timeout: u64,
    /// How long a statement download link works, in seconds
    #[arg(long, env = "PIIVAULT_STATEMENT_LINK_TTL", default_value_t = DEFAULT_STATEMENT_LINK_TTL_SECS)]
    pub statement_link_ttl: u64,
    /// Most database connections in the pool
    #[arg(long, env = "PIIVAULT_DB_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZE)]
    pub db_pool_size: u32,
    /// HTTP worker threads [default: one per core]
    #[arg(long, env = "PIIVAULT_WORKERS")]
    pub workers: Option<usize>,
    /// Threads for database and CPU-heavy work (RSA, PDF, file sealing), shared by the workers
    #[arg(long, env = "PIIVAULT_BLOCKING_THREADS", default_value_t = DEFAULT_BLOCKING_THREADS)]
    pub blocking_threads: usize,
    /// Seconds between reads of the keys dir for rotated keys (SIGHUP reloads at once)
    #[arg(long, env = "PIIVAULT_KEY_RELOAD_SECS", default_value_t = 2)]
    pub key_reload_secs: u64,
    /// Largest accepted file upload, in bytes
    #[arg(long, env = "PIIVAULT_MAX_FILE_BYTES", default_value_t = DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    /// Data keys unwrapped by a token kept in memory per instance (0: none)
    #[arg(long, env = "PIIVAULT_DATA_KEY_CACHE_SIZE", default_value_t = DEFAULT_DATA_KEY_CACHE_SIZE)]
    pub data_key_cache_size: usize,
    /// Seconds (at least 1) a data key unwrapped by a token stays cached
    #[arg(long, env = "PIIVAULT_DATA_KEY_CACHE_TTL", default_value_t = DEFAULT_DATA_KEY_CACHE_TTL_SECS)]
    pub data_key_cache_ttl: u64,
    /// A directory of fonts (TrueType/OpenType, collections too) for characters the
    /// bundled fonts lack; searched before the system's font directories
    #[arg(long, env = "PIIVAULT_FONTS_DIR")]
    pub fonts_dir: Option<PathBuf>,
    /// Statements and exports written at once; more wait their turn
    #[arg(long, env = "PIIVAULT_MAX_CONCURRENT_DOCUMENTS", default_value_t = DEFAULT_MAX_CONCURRENT_DOCUMENTS, value_parser = at_least_one)]
    pub max_concurrent_documents: usize,
    /// Seconds to keep serving after SIGTERM (with /readyz at 503) before new connections are refused and what is in flight is cut off
    #[arg(long, env = "PIIVAULT_DRAIN_TIMEOUT", default_value_t = DEFAULT_DRAIN_TIMEOUT_SECS)]
    pub drain_timeout: u64,
    /// How many instances serve behind the load balancer: each enforces 1/N of every
    /// client's quota
    #[arg(long, env = "PIIVAULT_INSTANCES", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub instances: u32,
}

/// A count of one or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err("must be a whole number of at least 1".to_owned()),
    }
}

impl ServeArgs {
    /// The defaults clap would give `serve` with no flags (environment included): what
    /// running `piivault` with no arguments at all serves with.
    pub fn parse_defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::try_parse_from(["piivault"])
            .map(|only| only.serve)
            .unwrap_or_default()
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create whichever keys are missing in the keys dir (never overwrites)
    Init,
    /// Key versions, kids, and how many data keys / users each version covers
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Add master key version N+1 as the active one, then rewrap every data key
    RotateMaster {
        /// Only add the key (rewrap later with `keys rewrap`), e.g. to let instances
        /// with their own keys dirs receive it first
        #[arg(long)]
        no_rewrap: bool,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Rewrap every data key not under the active master key (resumable)
    Rewrap {
        #[command(flatten)]
        job: JobArgs,
    },
    /// Move every data key to a master key held by another provider (resumable)
    MigrateMaster {
        /// The provider to move to: a version there past every other one is used, or made
        #[arg(long, value_enum)]
        to: ProviderArg,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Destroy master key VERSION; refused while any data key is wrapped under it
    RetireMaster {
        #[arg(long)]
        version: u32,
    },
    /// Add a new JWE key pair (new kid), served in the JWKS at the next reload
    RotateJwe {
        #[arg(long, value_enum, default_value_t = JweKindArg::Rsa)]
        kind: JweKindArg,
    },
    /// Retire the JWE key KID: no longer served, tokens naming it are refused
    RetireJwe {
        /// A kid is base64url and may start with `-`
        #[arg(long, allow_hyphen_values = true)]
        kid: String,
    },
    /// Add blind-index key version N+1 as the active one, then reindex every user
    RotateBlindIndex {
        /// Only add the key (reindex later with `keys reindex`)
        #[arg(long)]
        no_reindex: bool,
        /// Truncate the new version's phone and national-id indexes for about this many
        /// users, so that about four share each index value (bits = floor(log2 N) - 2,
        /// at least 4); without it they stay full 256-bit indexes
        #[arg(long, value_name = "USERS")]
        population: Option<u64>,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Recompute the blind indexes of every user not under the active version (resumable)
    Reindex {
        #[command(flatten)]
        job: JobArgs,
    },
    /// Rewrite users, transactions and files still sealed in an older byte format to the
    /// current one (resumable)
    Reseal {
        #[command(flatten)]
        job: JobArgs,
    },
    /// Destroy blind-index key VERSION; refused while any user is indexed under it
    RetireBlindIndex {
        #[arg(long)]
        version: u32,
    },
    /// Print the public JWKS (what /.well-known/jwks.json serves)
    ExportPublic,
    /// Seal the API clients and statement links an older version wrote (keyed token
    /// digest and MAC under the metadata key), so their tokens keep working; run once
    /// after upgrading, resumable
    SealMetadata,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum JweKindArg {
    /// RSA-2048 for RSA-OAEP-256 / RSA-OAEP
    Rsa,
    /// P-256 for ECDH-ES+A256KW
    P256,
}

/// How a resumable key job walks the table.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// Rows per batch (one transaction or statement each)
    #[arg(long, default_value_t = 1000)]
    pub batch_size: u32,
    /// Stop after this many rows; run again to continue
    #[arg(long)]
    pub max_rows: Option<u64>,
}

impl JobArgs {
    pub fn options(&self) -> JobOptions {
        JobOptions {
            batch_size: self.batch_size,
            max_rows: self.max_rows,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Crypto-shred a user: destroy its data key, then its rows (as DELETE /users/{id})
    Shred { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client and print its token (shown once)
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: users:write,users:read,statements,files,admin,metrics
        #[arg(long)]
        scopes: String,
        #[command(flatten)]
        limits: LimitArgs,
        #[arg(long)]
        json: bool,
    },
    /// Show a client's quota, or change it (running instances apply it within seconds)
    Limits {
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
        #[arg(long)]
        json: bool,
    },
    /// List clients (never their tokens)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a client's token
    Revoke { name: String },
}

/// A client's quota (README: per-client quotas); each one left out keeps its value
/// (or the default, for a new client).
#[derive(Debug, Args, Clone, Copy)]
pub struct LimitArgs {
    /// Cost units per second, e.g. `100/s` (a plain request costs 1, a JWE body 5, a
    /// PDF or upload 10, a transaction batch 20, the export 100) [default: 100/s]
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<u32>,
    /// Cost units a client may spend at once above its rate [default: 200]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(i32::MAX)))]
    pub burst: Option<u32>,
    /// Requests of the client in flight at once [default: 16]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(i32::MAX)))]
    pub max_concurrent: Option<u32>,
}

/// `N/s` or `N`: a whole number of cost units per second, at least 1.
fn parse_rate(text: &str) -> Result<u32, String> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    number
        .parse::<u32>()
        .ok()
        .filter(|rate| (1..=crate::access::ClientLimits::MAX).contains(rate))
        .ok_or_else(|| format!("`{text}` is not a rate like `100/s` (1 to 2147483647 per second)"))
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// How many fake users to store
    #[arg(long)]
    pub users: u64,
    /// Transactions per user (sealed like POST /users/{id}/transactions), over the last 90 days
    #[arg(long, default_value_t = 0)]
    pub transactions_per_user: u32,
    /// Users per batch (one transaction of multi-row inserts each)
    #[arg(long, default_value_t = 1000)]
    pub batch_size: u32,
    /// Seed of the fake-data generator (the same seed makes the same people) [default: random]
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the newest records, oldest of them first; `--follow` keeps printing new ones
    Tail {
        /// How many records to print first
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u32,
        /// Keep polling for new records (every second) until interrupted
        #[arg(long)]
        follow: bool,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
}

impl GlobalArgs {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| Settings::default_database_url(&self.data_dir))
    }

    /// Where master keys live, as these flags say.
    pub fn master_key_settings(&self) -> MasterKeySettings {
        let configured = self.pkcs11_module.is_some() || self.pkcs11_token.is_some();
        MasterKeySettings {
            provider: self.master_key_provider.into(),
            pkcs11: configured.then(|| Pkcs11Settings {
                module: self.pkcs11_module.clone().unwrap_or_default(),
                token_label: self.pkcs11_token.clone().unwrap_or_default(),
                label_prefix: self.pkcs11_label_prefix.clone(),
            }),
        }
    }

    /// What a command other than `serve` runs with: these flags, one connection.
    pub fn settings(&self) -> Settings {
        Settings {
            keystore_url: self.keystore_url.clone(),
            master_keys: self.master_key_settings(),
            pool: PoolSettings::single(),
            files: FileSettings {
                location: self.file_store.clone(),
                ..FileSettings::default()
            },
            ..Settings::new(
                self.database_url(),
                self.keys_dir.clone(),
                self.data_dir.clone(),
            )
        }
    }

    /// What `serve` runs with: these flags and the server's own.
    pub fn serve_settings(&self, args: ServeArgs) -> Settings {
        Settings {
            bind: args.bind,
            key_reload_interval: Duration::from_secs(args.key_reload_secs.max(1)),
            dev: args.dev,
            public_url: args.public_url,
            max_body_bytes: args.max_body_bytes,
            max_batch_body_bytes: args.max_batch_body_bytes,
            statement_link_ttl: Duration::from_secs(args.statement_link_ttl),
            body_timeout: Duration::from_secs(args.body_timeout.max(1)),
            pool: PoolSettings {
                max_connections: args.db_pool_size,
                ..PoolSettings::default()
            },
            workers: args.workers,
            blocking_threads: args.blocking_threads,
            files: FileSettings {
                max_file_bytes: args.max_file_bytes,
                location: self.file_store.clone(),
                ..FileSettings::default()
            },
            data_key_cache: DataKeyCacheSettings {
                capacity: args.data_key_cache_size,
                ttl: Duration::from_secs(args.data_key_cache_ttl.max(1)),
            },
            fonts_dir: args.fonts_dir,
            max_concurrent_documents: args.max_concurrent_documents,
            drain_timeout: Duration::from_secs(args.drain_timeout),
            instances: args.instances,
            ..self.settings()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_written_per_second() {
        assert_eq!(parse_rate("100/s"), Ok(100));
        assert_eq!(parse_rate("7"), Ok(7));
        for bad in ["0/s", "-1/s", "1.5/s", "10/min", "", "/s", "2147483648/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_kid_starting_with_a_hyphen_is_a_value_not_a_flag() {
        // RFC 7638 thumbprints are base64url: about one kid in 64 starts with `-`.
        let cli =
            Cli::try_parse_from(["piivault", "keys", "retire-jwe", "--kid", "-rbpFro"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Keys(KeysCommand::RetireJwe { kid })) if kid == "-rbpFro"
        ));
    }
}
