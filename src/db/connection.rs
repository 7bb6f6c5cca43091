//! The connection enum over both backends and its r2d2 pool. The backend is picked
//! from the URL scheme here (not by diesel's derived `establish`, which hides libpq's
//! real error), and SQLite connections get their pragmas when they are opened.
//!
//! Connections are not pinged on every check-out (that would add a round trip to every
//! request). Instead [`run`] pings a connection after a unit of work *failed*; one that
//! no longer answers is marked broken and the pool replaces it, so the service recovers
//! by itself when the database comes back.

use std::ops::{Deref, DerefMut};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

use crate::config::PoolSettings;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = r2d2::Pool<Manager>;
/// A connection checked out of the pool (returned to it on drop).
pub type PooledDb = r2d2::PooledConnection<Manager>;

/// A pool's connection and whether it was found dead after a failure.
pub struct PoolConnection {
    connection: DbConnection,
    broken: bool,
}

impl Deref for PoolConnection {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.connection
    }
}

impl DerefMut for PoolConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.connection
    }
}

/// Runs one unit of work on a pooled connection. When the work fails in a way the
/// connection may be to blame for, the connection is pinged before it goes back to
/// the pool and dropped from it if it is dead (the database went away), so the next
/// request gets a fresh one. A refusal (unknown token, no such user, a bad value) is
/// not the connection's fault and costs no ping.
pub fn run<T, E: WorkError>(
    pool: &DbPool,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    let mut pooled = pool.get().map_err(super::DbError::from)?;
    let result = work(&mut pooled.connection);
    if let Err(error) = &result {
        if error.may_be_connection_failure() && pooled.connection.ping().is_err() {
            pooled.broken = true;
        }
    }
    result
}

/// An error a unit of work passed to [`run`] can end with.
pub trait WorkError: From<super::DbError> {
    /// Whether the connection may be why the work failed (a database error, or one
    /// that is not known to be anything else).
    fn may_be_connection_failure(&self) -> bool;
}

impl WorkError for super::DbError {
    fn may_be_connection_failure(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Query(_))
    }
}

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

/// How a pool's PostgreSQL sessions choose the plan of a prepared statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plans {
    /// PostgreSQL's own choice (`plan_cache_mode = auto`): a plan fitted to the
    /// values of each execution until the generic one looks as cheap.
    Chosen,
    /// The generic plan, made once per statement and session
    /// (`plan_cache_mode = force_generic_plan`).
    Generic,
}

/// Opens connections for the pool and drops the ones [`run`] found dead.
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    url: String,
    plans: Plans,
}

impl ManageConnection for Manager {
    type Connection = PoolConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<PoolConnection, ConnectionError> {
        let mut connection = establish(self.backend, &self.url)?;
        if let (DbConnection::Postgres(postgres), Plans::Generic) = (&mut connection, self.plans) {
            postgres
                .batch_execute("SET plan_cache_mode = force_generic_plan")
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
        }
        Ok(PoolConnection {
            connection,
            broken: false,
        })
    }

    fn is_valid(&self, pooled: &mut PoolConnection) -> Result<(), ConnectionError> {
        pooled
            .connection
            .ping()
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, pooled: &mut PoolConnection) -> bool {
        pooled.broken || pooled.connection.is_broken()
    }
}

/// Builds the pool without connecting: start-up checks the database separately
/// (migrations), and a database that goes away later must not stop the service.
/// Work on it goes through [`run`], which drops connections found dead.
pub fn pool(url: &str, settings: &PoolSettings) -> DbPool {
    build_pool(url, settings, false, None, Plans::Chosen)
}

/// The group committers' pool (`vault::group_commit`), apart from the requests' so
/// that its sessions can plan differently. A committer's statement carries its
/// batch's rows as arrays, and to PostgreSQL a plan fitted to each batch's lengths
/// looks cheaper than the generic one, so left to choose it planned every batch's
/// statement anew: about a sixth of its CPU per registration (BENCHMARKS.md, issue
/// 16). These sessions use the generic plan, made once per statement and connection.
/// The requests' pool keeps PostgreSQL's choice: a range or a limit among its queries
/// may need a plan fitted to its values. Waits and timeouts go to `events`, as the
/// requests' pool's do.
pub fn committer_pool(
    url: &str,
    settings: &PoolSettings,
    events: Box<dyn r2d2::HandleEvent>,
) -> DbPool {
    build_pool(url, settings, false, Some(events), Plans::Generic)
}

/// [`pool`], reporting check-out waits and timeouts to `events` (the server's metrics).
pub fn pool_observed(
    url: &str,
    settings: &PoolSettings,
    events: Box<dyn r2d2::HandleEvent>,
) -> DbPool {
    build_pool(url, settings, false, Some(events), Plans::Chosen)
}

/// A pool whose connections are pinged on every check-out, for a store used through
/// plain `pool.get()` rather than [`run`] (the separate key store): one extra round
/// trip per use buys recovery after that database restarts.
pub fn pool_pinged_on_checkout(url: &str, settings: &PoolSettings) -> DbPool {
    build_pool(url, settings, true, None, Plans::Chosen)
}

fn build_pool(
    url: &str,
    settings: &PoolSettings,
    ping_on_checkout: bool,
    events: Option<Box<dyn r2d2::HandleEvent>>,
    plans: Plans,
) -> DbPool {
    let backend = Backend::of_url(url);
    let mut builder = r2d2::Pool::builder()
        .max_size(settings.max_connections)
        .min_idle(Some(0))
        .connection_timeout(settings.acquire_timeout)
        .test_on_check_out(ping_on_checkout);
    if let Some(events) = events {
        builder = builder.event_handler(events);
    }
    builder.build_unchecked(Manager {
        backend,
        url: url.to_owned(),
        plans,
    })
}

/// Runs `work` in a transaction that may read and then write. On SQLite it begins
/// `IMMEDIATE`, taking the write lock up front: a deferred transaction that reads first
/// fails at once with "database is locked" when another writer commits in between
/// (its snapshot is stale), instead of waiting out the busy timeout. PostgreSQL uses
/// an ordinary transaction; its unique constraints settle races. Inside a transaction
/// already open (which then holds the write lock or will take it) it is a savepoint,
/// as a nested `transaction` is.
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
    let open = AnsiTransactionManager::transaction_manager_status_mut(sqlite)
        .transaction_depth()?
        .is_some();
    if open {
        return connection.transaction(work);
    }
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
