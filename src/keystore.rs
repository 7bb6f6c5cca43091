//! Where wrapped data keys live. By default in the main database, next to the users
//! they open (one transaction writes both). With `--keystore-url` they live in a
//! second database, so that a backup, replica or stolen copy of the data database
//! holds nothing that opens it: destroying a user's key there crypto-shreds the user
//! in every copy of the data.

use crate::config::Settings;
use crate::db::{self, DbError, DbPool, PoolSettings, PooledDb};

pub const KEYSTORE_URL_ENV: &str = "PIIVAULT_KEYSTORE_URL";

#[derive(Debug, Clone)]
pub enum DataKeyStore {
    /// `data_keys` in the main database.
    Main,
    /// `data_keys` in a database of their own.
    Separate(DbPool),
}

impl DataKeyStore {
    /// The store the settings name, its schema brought up to date. A key store URL
    /// equal to the main database's is the default, not a second store.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        match settings
            .keystore_url
            .as_deref()
            .filter(|url| *url != settings.database_url)
        {
            None => Ok(Self::Main),
            Some(url) => Self::open_separate(url, &settings.pool),
        }
    }

    pub fn open_separate(url: &str, pool: &PoolSettings) -> anyhow::Result<Self> {
        db::run_keystore_migrations(url)
            .map_err(|error| error.context("preparing the key store"))?;
        Ok(Self::Separate(db::pool_pinged_on_checkout(url, pool)))
    }

    /// A connection to the database holding `data_keys`: the key store's own, or
    /// `None` meaning "use the main connection you already have".
    pub fn connection(&self) -> Result<Option<PooledDb>, DbError> {
        match self {
            Self::Main => Ok(None),
            Self::Separate(pool) => Ok(Some(pool.get()?)),
        }
    }
}
