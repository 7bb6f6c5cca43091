//! Persistence: one connection type over PostgreSQL and SQLite, the pool, the schema,
//! and the rows with the queries that belong to them. Nothing here sees plaintext
//! personal data: rows hold sealed fields and blind indexes only.

mod connection;
mod error;
mod migrate;
pub mod schema;

pub mod audit;
pub mod audited_read;
pub mod clients;
pub mod data_keys;
pub mod files;
pub mod statement_links;
pub mod transactions;
pub mod users;
pub mod wrap_floor;

mod ids;

pub use connection::{
    committer_pool, pool, pool_observed, pool_pinged_on_checkout, run, write_transaction, Backend,
    DbConnection, DbPool, PooledDb, WorkError,
};
pub use error::DbError;
pub use migrate::{run_keystore_migrations, run_migrations};

/// A key version as stored (an `INTEGER` column); versions never come near `i32::MAX`.
pub fn version_column(version: u32) -> i32 {
    i32::try_from(version).unwrap_or(i32::MAX)
}
