//! The command line: `serve`, `keys`, `clients`. Every subcommand reads the same
//! flags and environment variables (API.md). Running with no arguments at all is the
//! quick start, `serve --dev`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};

use crate::access::{clients, ApiToken, Scope};
use crate::config::{Settings, DEFAULT_MAX_BODY_BYTES};
use crate::db::{self, PoolSettings, PooledDb};
use crate::files::{FileSettings, StoreLocation, DEFAULT_MAX_FILE_BYTES};
use crate::keys;
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
    /// Where key files live
    #[arg(long, env = "PIIVAULT_KEYS_DIR", default_value = "keys", global = true)]
    keys_dir: PathBuf,
    /// Where the embedded database and dev token live
    #[arg(long, env = "PIIVAULT_DATA_DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
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
    /// Most database connections in the pool
    #[arg(long, env = "PIIVAULT_DB_POOL_SIZE", default_value_t = 16)]
    db_pool_size: u32,
    /// HTTP worker threads [default: one per core]
    #[arg(long, env = "PIIVAULT_WORKERS")]
    workers: Option<usize>,
    /// Largest accepted file upload, in bytes
    #[arg(long, env = "PIIVAULT_MAX_FILE_BYTES", default_value_t = DEFAULT_MAX_FILE_BYTES)]
    max_file_bytes: u64,
    /// Where sealed files live: `local` (<data-dir>/files) or `s3://bucket[/prefix]`
    /// (needs the `s3` build feature; endpoint and credentials from AWS_* variables)
    #[arg(long, env = "PIIVAULT_FILE_STORE", default_value = "local", value_parser = StoreLocation::parse)]
    file_store: StoreLocation,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create whichever keys are missing in the keys dir (never overwrites)
    Init,
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
            Command::Keys(KeysCommand::Init) => {
                let written = keys::init(&global.keys_dir)?;
                if written.is_empty() {
                    println!("all keys already present in {}", global.keys_dir.display());
                }
                for path in written {
                    println!("created {}", path.display());
                }
                Ok(())
            }
            Command::Clients(command) => run_clients(&global, command),
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

    /// The embedded database lives in the data dir: make sure it exists.
    fn prepare_data_dir(&self) -> anyhow::Result<()> {
        if db::Backend::of_url(&self.database_url()) == db::Backend::Sqlite {
            std::fs::create_dir_all(&self.data_dir)
                .with_context(|| format!("creating {}", self.data_dir.display()))?;
        }
        Ok(())
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
        keys_dir: global.keys_dir.clone(),
        data_dir: global.data_dir.clone(),
        dev: args.dev,
        max_body_bytes: args.max_body_bytes,
        pool: PoolSettings {
            max_connections: args.db_pool_size,
            ..PoolSettings::default()
        },
        workers: args.workers,
        files: FileSettings {
            max_file_bytes: args.max_file_bytes,
            location: args.file_store,
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
