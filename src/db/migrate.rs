//! Embedded migrations, one set per backend, run at start-up for the backend in use.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::connection::{establish, Backend, DbConnection};

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const KEYSTORE_POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/keystore/postgres");
const KEYSTORE_SQLITE: EmbeddedMigrations = embed_migrations!("migrations/keystore/sqlite");

/// Brings the database up to date. On PostgreSQL an advisory lock serialises
/// instances that start at the same moment.
pub fn run_migrations(url: &str) -> anyhow::Result<()> {
    migrate(url, POSTGRES, SQLITE)
}

/// Brings a separate key store (`--keystore-url`) up to date: it holds only
/// `data_keys`.
pub fn run_keystore_migrations(url: &str) -> anyhow::Result<()> {
    migrate(url, KEYSTORE_POSTGRES, KEYSTORE_SQLITE)
}

fn migrate(
    url: &str,
    postgres: EmbeddedMigrations,
    sqlite: EmbeddedMigrations,
) -> anyhow::Result<()> {
    let backend = Backend::of_url(url);
    match establish(backend, url)? {
        DbConnection::Postgres(mut connection) => {
            connection.batch_execute("SELECT pg_advisory_lock(7290417)")?;
            let result = connection.run_pending_migrations(postgres).map(drop);
            connection.batch_execute("SELECT pg_advisory_unlock(7290417)")?;
            result.map_err(|error| anyhow::anyhow!("PostgreSQL migrations failed: {error}"))
        }
        DbConnection::Sqlite(mut connection) => connection
            .run_pending_migrations(sqlite)
            .map(drop)
            .map_err(|error| anyhow::anyhow!("SQLite migrations failed: {error}")),
    }
}
