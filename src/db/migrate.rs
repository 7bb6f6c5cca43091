//! Embedded migrations, one set per backend, run at start-up for the backend in use.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::connection::{establish, Backend, DbConnection};

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Brings the database up to date. On PostgreSQL an advisory lock serialises
/// instances that start at the same moment.
pub fn run_migrations(url: &str) -> anyhow::Result<()> {
    let backend = Backend::of_url(url);
    match establish(backend, url)? {
        DbConnection::Postgres(mut connection) => {
            connection.batch_execute("SELECT pg_advisory_lock(7290417)")?;
            let result = connection.run_pending_migrations(POSTGRES).map(drop);
            connection.batch_execute("SELECT pg_advisory_unlock(7290417)")?;
            result.map_err(|error| anyhow::anyhow!("PostgreSQL migrations failed: {error}"))
        }
        DbConnection::Sqlite(mut connection) => connection
            .run_pending_migrations(SQLITE)
            .map(drop)
            .map_err(|error| anyhow::anyhow!("SQLite migrations failed: {error}")),
    }
}
