//! Users' data keys: where the wrapped keys live, and the one place a data key is
//! unwrapped for use.
//!
//! By default wrapped keys live in the main database, next to the users they open (one
//! transaction writes both). With `--keystore-url` they live in a second database, so
//! that a backup, replica or stolen copy of the data database holds nothing that opens
//! it: destroying a user's key there crypto-shreds the user in every copy of the data.
//!
//! A key is unwrapped with the live master keys. One wrapped under a master key version
//! this instance has not loaded yet (rotated moments ago on another machine) makes it
//! reload its keys once and try again: only the unwrap is repeated, never a read.

use std::collections::HashMap;

use super::{Core, VaultError};
use crate::config::{PoolSettings, Settings};
use crate::crypto::{CryptoError, DataKey, WrappedDataKey};
use crate::db::{self, data_keys, DbConnection, DbPool, PooledDb};
use crate::id::UserId;
use crate::keys::{KeyMaterial, LiveKeys};

#[derive(Debug, Clone)]
pub enum DataKeyStore {
    /// `data_keys` in the main database.
    Main,
    /// `data_keys` in a database of their own.
    Separate(DbPool),
}

impl DataKeyStore {
    /// The store the settings name, its schema brought up to date.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        match settings.separate_keystore_url() {
            None => Ok(Self::Main),
            Some(url) => Self::open_separate(url, &settings.pool),
        }
    }

    fn open_separate(url: &str, pool: &PoolSettings) -> anyhow::Result<Self> {
        db::run_keystore_migrations(url)
            .map_err(|error| error.context("preparing the key store"))?;
        Ok(Self::Separate(db::pool_pinged_on_checkout(url, pool)))
    }

    /// A connection to the database holding `data_keys`: the key store's own, or
    /// `None` meaning "use the main connection you already have".
    pub fn connection(&self) -> Result<Option<PooledDb>, VaultError> {
        match self {
            Self::Main => Ok(None),
            Self::Separate(pool) => Ok(Some(pool.get().map_err(db::DbError::from)?)),
        }
    }

    /// Runs `work` on the database holding `data_keys`: `main` itself, or a
    /// connection of the separate store.
    pub fn with_connection<T>(
        &self,
        main: &mut DbConnection,
        work: impl FnOnce(&mut DbConnection) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        match self.connection()? {
            None => work(main),
            Some(mut separate) => work(&mut separate),
        }
    }
}

/// Unwraps `wrapped`, the data key of `user`. A key wrapped under a master key version
/// not loaded yet makes the instance reload its keys once and retry.
pub fn unwrap(
    keys: &LiveKeys,
    user: UserId,
    wrapped: &WrappedDataKey,
) -> Result<DataKey, VaultError> {
    with_live_keys(keys, |keys| Ok(keys.master.unwrap(user.uuid(), wrapped)?))
}

/// Runs `work` with the live keys: a data key wrapped under a master key version this
/// instance has not loaded yet makes it reload its keys once and try again.
pub fn with_live_keys<T>(
    keys: &LiveKeys,
    work: impl FnMut(&KeyMaterial) -> Result<T, VaultError>,
) -> Result<T, VaultError> {
    keys.with_fresh(work, |error| {
        matches!(error, VaultError::Crypto(CryptoError::UnknownKeyVersion(_)))
    })
}

impl Core {
    /// A user's data key, unwrapped; `None` when the user has none (never registered,
    /// or shredded). Everything sealed under a user's key gets the key here.
    pub(crate) fn data_key(
        &self,
        connection: &mut DbConnection,
        user: UserId,
    ) -> Result<Option<DataKey>, VaultError> {
        let wrapped = self
            .data_keys
            .with_connection(connection, |keys| Ok(data_keys::find(keys, user)?))?;
        wrapped
            .map(|wrapped| unwrap(&self.keys, user, &WrappedDataKey::from_bytes(wrapped)))
            .transpose()
    }

    /// The wrapped keys of several users, fetched in one query.
    pub(crate) fn wrapped_keys(
        &self,
        connection: &mut DbConnection,
        users: &[UserId],
    ) -> Result<HashMap<UserId, WrappedDataKey>, VaultError> {
        let found = self
            .data_keys
            .with_connection(connection, |keys| Ok(data_keys::find_many(keys, users)?))?;
        Ok(found
            .into_iter()
            .map(|(user, wrapped)| (user, WrappedDataKey::from_bytes(wrapped)))
            .collect())
    }
}
