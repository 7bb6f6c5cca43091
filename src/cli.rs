//! The command line: `serve`, `keys`, `clients`, `users`, `seed`, `audit`. Every subcommand reads the
//! same flags and environment variables (API.md). Running with no arguments at all is
//! the quick start, `serve --dev`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::access::{clients, ApiToken, Scope};
use crate::config::{
    Settings, DEFAULT_BLOCKING_THREADS, DEFAULT_BODY_TIMEOUT_SECS, DEFAULT_MAX_BATCH_BODY_BYTES,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_STATEMENT_LINK_TTL_SECS,
};
use crate::db::{self, PoolSettings, PooledDb};
use crate::files::{FileSettings, StoreLocation, DEFAULT_MAX_FILE_BYTES};
use crate::keys::{self, rotate, KeyMaterial};
use crate::keystore::{DataKeyStore, KEYSTORE_URL_ENV};
use crate::lifecycle::{self, JobOptions, JobReport, KeyStatus, VersionUse};
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "piivault",
    version,
    about = "Keeps personal data encrypted from request to statement"
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// PostgreSQL (`postgres://…`) or SQLite (a file path) URL [default: <data-dir>/piivault.sqlite3]
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// A separate database for the wrapped data keys (PostgreSQL URL or SQLite path) [default: the main database]
    #[arg(long, env = KEYSTORE_URL_ENV, global = true)]
    keystore_url: Option<String>,
    /// Where key files live
    #[arg(long, env = "PIIVAULT_KEYS_DIR", default_value = "keys", global = true)]
    keys_dir: PathBuf,
    /// Where the embedded database and dev token live
    #[arg(long, env = "PIIVAULT_DATA_DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
    /// Where sealed files live: `local` (<data-dir>/files) or `s3://bucket[/prefix]`
    /// (needs the `s3` build feature; endpoint and credentials from AWS_* variables)
    #[arg(long, env = "PIIVAULT_FILE_STORE", default_value = "local", value_parser = StoreLocation::parse, global = true)]
    file_store: StoreLocation,
}

#[derive(Debug, Subcommand)]
enum Command {
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

#[derive(Debug, Args)]
struct SeedArgs {
    /// How many fake users to store
    #[arg(long)]
    users: u64,
    /// Transactions per user (sealed like POST /users/{id}/transactions), over the last 90 days
    #[arg(long, default_value_t = 0)]
    transactions_per_user: u32,
    /// Users per batch (one transaction of multi-row inserts each)
    #[arg(long, default_value_t = 1000)]
    batch_size: u32,
    /// Seed of the fake-data generator (the same seed makes the same people) [default: random]
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
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

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, env = "PIIVAULT_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Quick start: generate missing keys, print a dev token, enable /encrypt-data
    #[arg(long)]
    dev: bool,
    /// Largest accepted request body, in bytes
    #[arg(long, env = "PIIVAULT_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Largest accepted transaction batch body (up to 1,000 transactions), in bytes
    #[arg(long, env = "PIIVAULT_MAX_BATCH_BODY_BYTES", default_value_t = DEFAULT_MAX_BATCH_BODY_BYTES)]
    max_batch_body_bytes: usize,
    /// Seconds a JSON or JWE body may take to arrive, and a file upload may pause
    #[arg(long, env = "PIIVAULT_BODY_TIMEOUT", default_value_t = DEFAULT_BODY_TIMEOUT_SECS)]
    body_timeout: u64,
    /// How long a statement download link works, in seconds
    #[arg(long, env = "PIIVAULT_STATEMENT_LINK_TTL", default_value_t = DEFAULT_STATEMENT_LINK_TTL_SECS)]
    statement_link_ttl: u64,
    /// Most database connections in the pool
    #[arg(long, env = "PIIVAULT_DB_POOL_SIZE", default_value_t = 16)]
    db_pool_size: u32,
    /// HTTP worker threads [default: one per core]
    #[arg(long, env = "PIIVAULT_WORKERS")]
    workers: Option<usize>,
    /// Threads for database and CPU-heavy work (RSA, PDF, file sealing), shared by the workers
    #[arg(long, env = "PIIVAULT_BLOCKING_THREADS", default_value_t = DEFAULT_BLOCKING_THREADS)]
    blocking_threads: usize,
    /// Seconds between reads of the keys dir for rotated keys (SIGHUP reloads at once)
    #[arg(long, env = "PIIVAULT_KEY_RELOAD_SECS", default_value_t = 2)]
    key_reload_secs: u64,
    /// Largest accepted file upload, in bytes
    #[arg(long, env = "PIIVAULT_MAX_FILE_BYTES", default_value_t = DEFAULT_MAX_FILE_BYTES)]
    max_file_bytes: u64,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
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
        #[command(flatten)]
        job: JobArgs,
    },
    /// Recompute the blind indexes of every user not under the active version (resumable)
    Reindex {
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
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum JweKindArg {
    /// RSA-2048 for RSA-OAEP-256 / RSA-OAEP
    Rsa,
    /// P-256 for ECDH-ES+A256KW
    P256,
}

/// How a resumable key job walks the table.
#[derive(Debug, Args)]
struct JobArgs {
    /// Rows per batch (one transaction or statement each)
    #[arg(long, default_value_t = 1000)]
    batch_size: u32,
    /// Stop after this many rows; run again to continue
    #[arg(long)]
    max_rows: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Crypto-shred a user: destroy its data key, then its rows (as DELETE /users/{id})
    Shred { id: String },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Create a client and print its token (shown once)
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: users:write,users:read,statements,files,admin
        #[arg(long)]
        scopes: String,
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

const DEV_CLIENT: &str = "dev";
const DEV_TOKEN_FILE: &str = "dev-token";

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        let command = self.command.unwrap_or(Command::Serve(ServeArgs {
            dev: true,
            ..ServeArgs::parse_defaults()
        }));
        let global = self.global;
        match command {
            Command::Serve(args) => serve(&global, args),
            Command::Keys(command) => run_keys(&global, command),
            Command::Clients(command) => run_clients(&global, command),
            Command::Users(UsersCommand::Shred { id }) => shred(&global, &id),
            Command::Seed(args) => seed(&global, &args),
            Command::Audit(AuditCommand::Tail {
                lines,
                follow,
                json,
            }) => audit_tail(&global, lines, follow, json),
        }
    }
}

impl ServeArgs {
    /// The defaults clap would give `serve` with no flags (environment included).
    fn parse_defaults() -> Self {
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

impl GlobalArgs {
    fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| Settings::default_database_url(&self.data_dir))
    }

    /// The data dir holds the embedded database, the dev token and the local file
    /// store, whichever database is in use: make sure it exists.
    fn prepare_data_dir(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))
    }

    /// The data-key store the flags name, its schema up to date.
    fn keystore(&self) -> anyhow::Result<DataKeyStore> {
        let single = PoolSettings {
            max_connections: 1,
            ..PoolSettings::default()
        };
        match self
            .keystore_url
            .as_deref()
            .filter(|url| *url != self.database_url())
        {
            None => Ok(DataKeyStore::Main),
            Some(url) => DataKeyStore::open_separate(url, &single),
        }
    }

    /// One connection for a command, after bringing the schema up to date.
    fn connect(&self) -> anyhow::Result<PooledDb> {
        self.prepare_data_dir()?;
        let url = self.database_url();
        db::run_migrations(&url)?;
        let pool = db::pool(
            &url,
            &PoolSettings {
                max_connections: 1,
                ..PoolSettings::default()
            },
        );
        pool.get().context("connecting to the database")
    }
}

fn serve(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    global.prepare_data_dir()?;
    if args.dev {
        for path in keys::init(&global.keys_dir)? {
            tracing::warn!(path = %path.display(), "dev mode: generated a missing key");
        }
    }
    let settings = Settings {
        bind: args.bind,
        database_url: global.database_url(),
        keystore_url: global.keystore_url.clone(),
        keys_dir: global.keys_dir.clone(),
        key_reload_interval: Duration::from_secs(args.key_reload_secs.max(1)),
        data_dir: global.data_dir.clone(),
        dev: args.dev,
        max_body_bytes: args.max_body_bytes,
        max_batch_body_bytes: args.max_batch_body_bytes,
        statement_link_ttl: std::time::Duration::from_secs(args.statement_link_ttl),
        body_timeout: Duration::from_secs(args.body_timeout.max(1)),
        pool: PoolSettings {
            max_connections: args.db_pool_size,
            ..PoolSettings::default()
        },
        workers: args.workers,
        blocking_threads: args.blocking_threads,
        files: FileSettings {
            max_file_bytes: args.max_file_bytes,
            location: global.file_store.clone(),
        },
    };
    actix_web::rt::System::new().block_on(async move {
        let application = Application::build(&settings)?;
        if settings.dev {
            let token = dev_token(global)?;
            println!(
                "\npiivault dev mode on http://127.0.0.1:{port}\n  dev token (every scope): {token}\n  try: curl http://127.0.0.1:{port}/.well-known/jwks.json\n",
                port = application.port(),
                token = token.reveal()
            );
        }
        tracing::info!(port = application.port(), dev = settings.dev, "piivault listening");
        application.run_until_stopped().await?;
        Ok(())
    })
}

/// The dev token is kept (0600) in the data dir so it survives restarts.
fn dev_token(global: &GlobalArgs) -> anyhow::Result<ApiToken> {
    let path = global.data_dir.join(DEV_TOKEN_FILE);
    let saved = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| ApiToken::parse(text.trim()));
    let token = if let Some(token) = saved {
        token
    } else {
        let token = ApiToken::generate()?;
        write_private(&path, token.reveal())?;
        token
    };
    let mut connection = global.connect()?;
    clients::ensure_with_token(&mut connection, DEV_CLIENT, &token)?;
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

fn run_clients(global: &GlobalArgs, command: ClientsCommand) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    match command {
        ClientsCommand::Create { name, scopes, json } => {
            let scopes = Scope::parse_list(&scopes).map_err(anyhow::Error::msg)?;
            let created = clients::create(&mut connection, &name, &scopes)?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!(
                    "created client {} ({}) with scopes {}\ntoken (shown once, keep it secret): {}",
                    created.name,
                    created.id,
                    created.scopes.join(","),
                    created.token
                );
            }
        }
        ClientsCommand::List { json } => {
            let list = clients::list(&mut connection)?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for client in list {
                    let state = client
                        .revoked_at
                        .map_or("active".to_owned(), |at| format!("revoked {at}"));
                    println!(
                        "{}\t{}\t{}\t{}",
                        client.name,
                        client.scopes.join(","),
                        client.created_at,
                        state
                    );
                }
            }
        }
        ClientsCommand::Revoke { name } => {
            if !clients::revoke(&mut connection, &name)? {
                bail!("no active client named `{name}`");
            }
            println!("revoked {name}");
        }
    }
    Ok(())
}

fn run_keys(global: &GlobalArgs, command: KeysCommand) -> anyhow::Result<()> {
    let keys_dir = &global.keys_dir;
    match command {
        KeysCommand::Init => {
            let written = keys::init(keys_dir)?;
            if written.is_empty() {
                println!("all keys already present in {}", keys_dir.display());
            }
            for path in written {
                println!("created {}", path.display());
            }
        }
        KeysCommand::Status { json } => {
            let mut connection = global.connect()?;
            let keys = KeyMaterial::load(keys_dir)?;
            let status = lifecycle::status(&mut connection, &global.keystore()?, &keys)?;
            if json {
                println!("{}", serde_json::to_string(&status)?);
            } else {
                print_status(&status);
            }
        }
        KeysCommand::RotateMaster { no_rewrap, job } => {
            let version = rotate::rotate_master(keys_dir)?;
            println!(
                "master key version {version} is now active; new data keys are wrapped under it"
            );
            if !no_rewrap {
                rewrap(global, &job)?;
            }
        }
        KeysCommand::Rewrap { job } => rewrap(global, &job)?,
        KeysCommand::RetireMaster { version } => {
            let mut main = global.connect()?;
            let store = global.keystore()?;
            let mut separate = store.connection()?;
            let keys = separate.as_deref_mut().unwrap_or(&mut main);
            lifecycle::retire_master(keys, keys_dir, version)?;
            println!("master key version {version} retired and destroyed");
        }
        KeysCommand::RotateJwe { kind } => {
            let kind = match kind {
                JweKindArg::Rsa => rotate::JweKind::Rsa,
                JweKindArg::P256 => rotate::JweKind::P256,
            };
            let added = rotate::rotate_jwe(keys_dir, kind)?;
            println!(
                "added JWE key {} ({}); older keys keep decrypting until `piivault keys retire-jwe --kid KID`",
                added.kid,
                added.path.display()
            );
        }
        KeysCommand::RetireJwe { kid } => {
            let moved = rotate::retire_jwe(keys_dir, &kid)?;
            println!(
                "retired JWE key {kid} (moved to {}); tokens naming it are refused",
                moved.display()
            );
        }
        KeysCommand::RotateBlindIndex { no_reindex, job } => {
            let version = rotate::rotate_blind_index(keys_dir)?;
            println!("blind-index key version {version} is now active; look-ups search every live version");
            if !no_reindex {
                reindex(global, &job)?;
            }
        }
        KeysCommand::Reindex { job } => reindex(global, &job)?,
        KeysCommand::RetireBlindIndex { version } => {
            let mut connection = global.connect()?;
            lifecycle::retire_blind_index(&mut connection, keys_dir, version)?;
            println!("blind-index key version {version} retired and destroyed");
        }
        KeysCommand::ExportPublic => {
            let keys = KeyMaterial::load(keys_dir)?;
            println!("{}", serde_json::to_string_pretty(&keys.jwe.jwks())?);
        }
    }
    Ok(())
}

impl JobArgs {
    fn options(&self) -> JobOptions {
        JobOptions {
            batch_size: self.batch_size,
            max_rows: self.max_rows,
        }
    }
}

/// Rows not yet under the active version: the progress bar's length.
fn pending(uses: &[VersionUse], max_rows: Option<u64>) -> u64 {
    let pending: i64 = uses
        .iter()
        .filter(|use_| !use_.active)
        .map(|use_| use_.rows)
        .sum();
    let pending = u64::try_from(pending).unwrap_or(0);
    max_rows.map_or(pending, |max| pending.min(max))
}

fn progress_bar(total: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed_precise}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

fn print_report(what: &str, report: &JobReport, elapsed: Duration, remaining: u64) {
    let rate = report.written as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "{what}: {} written, {} skipped, {} looked at in {:.2}s ({rate:.0}/s); {remaining} left",
        report.written,
        report.skipped,
        report.processed,
        elapsed.as_secs_f64()
    );
}

fn rewrap(global: &GlobalArgs, job: &JobArgs) -> anyhow::Result<()> {
    let keys = KeyMaterial::load(&global.keys_dir)?;
    let mut main = global.connect()?;
    let store = global.keystore()?;
    let before = lifecycle::status(&mut main, &store, &keys)?;
    let bar = progress_bar(
        pending(&before.master, job.max_rows),
        "rewrapping data keys",
    );
    let started = std::time::Instant::now();
    let report = {
        // The key store's one-connection pool: given back before `status` below.
        let mut separate = store.connection()?;
        let connection = separate.as_deref_mut().unwrap_or(&mut main);
        lifecycle::rewrap_data_keys(connection, &keys.master, job.options(), &bar)?
    };
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let after = lifecycle::status(&mut main, &store, &keys)?;
    print_report("rewrap", &report, elapsed, pending(&after.master, None));
    Ok(())
}

fn reindex(global: &GlobalArgs, job: &JobArgs) -> anyhow::Result<()> {
    let keys = KeyMaterial::load(&global.keys_dir)?;
    let mut main = global.connect()?;
    let store = global.keystore()?;
    let before = lifecycle::status(&mut main, &store, &keys)?;
    let bar = progress_bar(
        pending(&before.blind_index, job.max_rows),
        "reindexing users",
    );
    let started = std::time::Instant::now();
    let report = lifecycle::reindex_users(&mut main, &store, &keys, job.options(), &bar)?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let after = lifecycle::status(&mut main, &store, &keys)?;
    print_report(
        "reindex",
        &report,
        elapsed,
        pending(&after.blind_index, None),
    );
    Ok(())
}

fn print_status(status: &KeyStatus) {
    let print_versions = |title: &str, what: &str, uses: &[VersionUse], retired: &[u32]| {
        println!("{title}");
        for use_ in uses {
            let mut notes = Vec::new();
            if use_.active {
                notes.push("active");
            }
            if !use_.loaded {
                notes.push("NO KEY LOADED: these cannot be opened");
            }
            println!(
                "  v{:<4} {:>10} {what}{}",
                use_.version,
                use_.rows,
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", notes.join(", "))
                }
            );
        }
        if !retired.is_empty() {
            let retired: Vec<String> = retired.iter().map(|v| format!("v{v}")).collect();
            println!("  retired: {}", retired.join(" "));
        }
    };
    print_versions(
        "master keys",
        "data keys",
        &status.master,
        &status.master_retired,
    );
    print_versions(
        "blind-index keys",
        "users",
        &status.blind_index,
        &status.blind_index_retired,
    );
    println!("JWE keys (served in the JWKS)");
    for kid in &status.jwe_kids {
        println!("  {kid}");
    }
}

fn shred(global: &GlobalArgs, id: &str) -> anyhow::Result<()> {
    let id = uuid::Uuid::parse_str(id).context("the user id is not a UUID")?;
    let mut connection = global.connect()?;
    let store = global.keystore()?;
    let Some(objects) = crate::users::delete(&mut connection, &store, id)? else {
        bail!("no user {id}")
    };
    // The objects are unreadable already (their key is gone); removing them frees space.
    let files = crate::files::FileStore::open(&global.file_store, &global.data_dir)?;
    actix_web::rt::System::new().block_on(files.delete_quietly(&objects));
    println!(
        "shredded user {id}: its data key is destroyed, its rows and {} file(s) deleted",
        objects.len()
    );
    Ok(())
}

fn seed(global: &GlobalArgs, args: &SeedArgs) -> anyhow::Result<()> {
    let keys = KeyMaterial::load(&global.keys_dir)?;
    let mut connection = global.connect()?;
    let store = global.keystore()?;
    let seed = if let Some(seed) = args.seed {
        seed
    } else {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the random number generator failed"))?;
        u64::from_le_bytes(bytes)
    };
    let bar = ProgressBar::new(args.users);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:40}] {human_pos}/{human_len} {per_sec} (elapsed {elapsed_precise}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("seeding users");
    let started = std::time::Instant::now();
    let stored = crate::seed::seed(
        &mut connection,
        &store,
        &keys,
        crate::seed::SeedOptions {
            users: args.users,
            transactions_per_user: args.transactions_per_user,
            batch_size: args.batch_size,
            seed,
        },
        &bar,
    )?;
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    println!(
        "seeded {stored} users in {elapsed:.2}s ({:.0} users/s), generator seed {seed}",
        stored as f64 / elapsed.max(f64::EPSILON)
    );
    Ok(())
}

fn audit_tail(global: &GlobalArgs, lines: u32, follow: bool, json: bool) -> anyhow::Result<()> {
    use crate::audit::{self, AuditEntry, AuditQuery};
    let mut connection = global.connect()?;
    let print = |entry: &AuditEntry| -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(entry)?);
        } else {
            println!(
                "{}  {:<18} client={} ({})  subject={}  users={}  request={}",
                crate::time::rfc3339(entry.at),
                entry.action,
                entry.client_name,
                entry.client_id,
                entry
                    .subject_user_id
                    .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                entry.users_read,
                entry.request_id
            );
        }
        Ok(())
    };
    let newest = audit::find(
        &mut connection,
        &AuditQuery {
            limit: lines.max(1),
            ..AuditQuery::default()
        },
    )?;
    let mut last = newest.first().map(|entry| entry.id);
    for entry in newest.iter().rev() {
        print(entry)?;
    }
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
        // Everything newer than the last printed record, oldest first.
        let mut fresh = Vec::new();
        let mut before = None;
        loop {
            let page = audit::find(
                &mut connection,
                &AuditQuery {
                    before,
                    limit: 500,
                    ..AuditQuery::default()
                },
            )?;
            let done = page.len() < 500;
            let mut reached = false;
            for entry in page {
                if Some(entry.id) <= last {
                    reached = true;
                    break;
                }
                before = Some(entry.id);
                fresh.push(entry);
            }
            if reached || done {
                break;
            }
        }
        for entry in fresh.iter().rev() {
            print(entry)?;
        }
        if let Some(entry) = fresh.first() {
            last = Some(entry.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
