//! The connection enum over both backends and its r2d2 pool. The backend is picked
//! from the URL scheme here (not by diesel's derived `establish`, which hides libpq's
//! real error), and SQLite connections get their pragmas when they are opened.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = r2d2::Pool<Manager>;
/// A connection checked out of the pool (returned to it on drop).
pub type PooledDb = r2d2::PooledConnection<Manager>;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// SQLite: write-ahead log so readers never block the writer, a busy timeout instead
/// of instant `SQLITE_BUSY`, enforced foreign keys, and `secure_delete` so deleted
/// rows (a shredded user's wrapped key) are overwritten rather than left in free pages.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;";

pub(super) fn establish(backend: Backend, url: &str) -> Result<DbConnection, ConnectionError> {
    match backend {
        Backend::Postgres => PgConnection::establish(url).map(DbConnection::Postgres),
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let mut connection = SqliteConnection::establish(path)?;
            connection
                .batch_execute(SQLITE_PRAGMAS)
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Sqlite(connection))
        }
    }
}

/// Opens connections for the pool and checks them before use, so connections broken
/// while the database was away are replaced and the service recovers by itself.
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    url: String,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConnection, ConnectionError> {
        establish(self.backend, &self.url)
    }

    fn is_valid(&self, connection: &mut DbConnection) -> Result<(), ConnectionError> {
        connection
            .ping()
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, connection: &mut DbConnection) -> bool {
        connection.is_broken()
    }
}

/// Pool sizing and how long a request waits for a connection before it is told the
/// database is unavailable.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// Builds the pool without connecting: start-up checks the database separately
/// (migrations), and a database that goes away later must not stop the service.
pub fn pool(url: &str, settings: &PoolSettings) -> DbPool {
    let backend = Backend::of_url(url);
    r2d2::Pool::builder()
        .max_size(settings.max_connections)
        .min_idle(Some(0))
        .connection_timeout(settings.acquire_timeout)
        .test_on_check_out(true)
        .build_unchecked(Manager {
            backend,
            url: url.to_owned(),
        })
}

/// Runs `work` in a transaction that may read and then write. On SQLite it begins
/// `IMMEDIATE`, taking the write lock up front: a deferred transaction that reads first
/// fails at once with "database is locked" when another writer commits in between
/// (its snapshot is stale), instead of waiting out the busy timeout. PostgreSQL uses
/// an ordinary transaction; its unique constraints settle races.
pub fn write_transaction<T, E>(
    connection: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager as _};

    let DbConnection::Sqlite(sqlite) = connection else {
        return connection.transaction(work);
    };
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    match (work(connection), connection) {
        (Ok(value), DbConnection::Sqlite(sqlite)) => {
            AnsiTransactionManager::commit_transaction(sqlite)?;
            Ok(value)
        }
        (Err(error), DbConnection::Sqlite(sqlite)) => {
            AnsiTransactionManager::rollback_transaction(sqlite)?;
            Err(error)
        }
        // The backend of a connection never changes; this arm only satisfies the match.
        (result, DbConnection::Postgres(_)) => result,
    }
}
