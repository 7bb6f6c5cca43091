//! The command line: `serve`, `keys`, `clients`, `users`, `seed`, `audit`. Every
//! subcommand reads the same flags and environment variables (`args`); running with no
//! arguments at all is the quick start, `serve --dev`. Each command group has a file;
//! they call the vault like the HTTP routes do.

mod args;
mod audit;
mod clients;
mod keys;
mod progress;
mod seed;
mod serve;
mod users;

use anyhow::Context as _;

pub use args::Cli;
use args::{Command, GlobalArgs, ServeArgs};

use crate::config::PoolSettings;
use crate::db::{self, PooledDb};
use crate::keys::KeyPlaces;
use crate::vault::Vault;

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        let command = self.command.unwrap_or(Command::Serve(ServeArgs {
            dev: true,
            ..ServeArgs::parse_defaults()
        }));
        let global = self.global;
        match command {
            Command::Serve(args) => serve::run(&global, args),
            Command::Keys(command) => keys::run(&global, command),
            Command::Clients(command) => clients::run(&global, command),
            Command::Users(command) => users::run(&global, command),
            Command::Seed(args) => seed::run(&global, &args),
            Command::Audit(command) => audit::run(&global, &command),
        }
    }
}

impl GlobalArgs {
    /// The data dir holds the embedded database, the dev token and the local file
    /// store, whichever database is in use: make sure it exists.
    fn prepare_data_dir(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))
    }

    /// Where the keys are, the token (when configured) opened and logged in.
    fn key_places(&self) -> anyhow::Result<KeyPlaces> {
        KeyPlaces::open(&self.keys_dir, &self.master_key_settings())
    }

    /// The vault for a command that works on users or keys: keys loaded, databases
    /// migrated, one connection.
    fn vault(&self) -> anyhow::Result<Vault> {
        self.prepare_data_dir()?;
        Vault::open(&self.settings())
    }

    /// One connection to the main database, its schema up to date, for commands that
    /// need no keys (clients, the audit log).
    fn connect(&self) -> anyhow::Result<PooledDb> {
        self.prepare_data_dir()?;
        let url = self.database_url();
        db::run_migrations(&url)?;
        db::pool(&url, &PoolSettings::single())
            .get()
            .context("connecting to the database")
    }
}

/// Runs one of the vault's asynchronous operations to completion on this thread.
fn block_on<T>(work: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    Ok(runtime.block_on(work))
}
