//! Persistence: one connection type over PostgreSQL and SQLite, the pool, the schema,
//! and the rows with the queries that belong to them. Nothing here sees plaintext
//! personal data: rows hold sealed fields and blind indexes only.

mod connection;
mod error;
mod migrate;
pub mod schema;

pub mod clients;
pub mod files;
pub mod users;

pub use connection::{pool, Backend, DbConnection, DbPool, PoolSettings, PooledDb};
pub use error::DbError;
pub use migrate::run_migrations;
