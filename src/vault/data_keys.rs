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
//!
//! A master key held by a PKCS#11 token unwraps by a round trip to the token, so keys
//! it unwrapped are kept in a [`DataKeyCache`]: bounded, for a fixed time after the
//! unwrap, and only for the very wrapped bytes the database still holds (every read
//! fetches them first), so a key deleted on any instance is never used again and is
//! gone from every instance's memory within the time to live plus a second.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::{Core, VaultError};
use crate::config::{DataKeyCacheSettings, PoolSettings, Settings};
use crate::crypto::{CryptoError, Custody, DataKey, WrappedDataKey};
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

/// Unwraps `wrapped`, the data key of `user`, with the live keys: a key wrapped under
/// a master key version not loaded yet makes the instance reload its keys once and
/// retry. Every data key a request opens is unwrapped here or in [`unwrap_with`].
pub(crate) fn unwrap(
    keys: &LiveKeys,
    cache: &DataKeyCache,
    user: UserId,
    wrapped: &WrappedDataKey,
) -> Result<DataKey, VaultError> {
    with_live_keys(keys, |keys| Ok(unwrap_with(keys, cache, user, wrapped)?))
}

/// Unwraps `wrapped`, the data key of `user`, with `keys`: from `cache` when a token
/// unwrapped these very bytes within the time to live, else by the master key that
/// wrapped it (and into the cache when that is a token's).
pub(crate) fn unwrap_with(
    keys: &KeyMaterial,
    cache: &DataKeyCache,
    user: UserId,
    wrapped: &WrappedDataKey,
) -> Result<DataKey, CryptoError> {
    let in_token = wrapped
        .kek_version()
        .is_ok_and(|version| keys.master.custody(version) == Some(Custody::Token));
    if !in_token {
        return keys.master.unwrap(user.uuid(), wrapped);
    }
    if let Some(key) = cache.get(user, wrapped) {
        return Ok(key);
    }
    let key = keys.master.unwrap(user.uuid(), wrapped)?;
    cache.put(user, wrapped, &key);
    Ok(key)
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
            .map(|wrapped| self.unwrap_data_key(user, &WrappedDataKey::from_bytes(wrapped)))
            .transpose()
    }

    /// Unwraps `wrapped`, the data key of `user`, with the live keys and this
    /// instance's cache ([`unwrap`]).
    pub(crate) fn unwrap_data_key(
        &self,
        user: UserId,
        wrapped: &WrappedDataKey,
    ) -> Result<DataKey, VaultError> {
        unwrap(&self.keys, &self.data_key_cache, user, wrapped)
    }

    /// Unwraps `wrapped`, the data key of `user`, with `keys` and this instance's
    /// cache ([`unwrap_with`]).
    pub(crate) fn unwrap_with(
        &self,
        keys: &KeyMaterial,
        user: UserId,
        wrapped: &WrappedDataKey,
    ) -> Result<DataKey, CryptoError> {
        unwrap_with(keys, &self.data_key_cache, user, wrapped)
    }

    /// Drops a user's cached data key (the user was just shredded here).
    pub(crate) fn forget_data_key(&self, user: UserId) {
        self.data_key_cache.forget(user);
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

/// Data keys a token unwrapped, by user, each with the wrapped bytes it came from: at
/// most `capacity` of them (the oldest go first), none older than `ttl`. Keys are
/// boxed, so that the map's growth moves pointers, never key bytes, and zeroized when
/// they leave ([`DataKey`] wipes itself on drop).
pub struct DataKeyCache {
    settings: DataKeyCacheSettings,
    entries: Mutex<CacheEntries>,
}

#[derive(Default)]
struct CacheEntries {
    by_user: HashMap<UserId, Cached>,
    /// Users in the order they were cached, so in order of expiry too. An entry whose
    /// user was cached again or forgotten since is skipped when it comes up.
    order: VecDeque<(UserId, Instant)>,
}

struct Cached {
    wrapped: Vec<u8>,
    key: Box<DataKey>,
    expires: Instant,
}

/// How often expired keys are swept out when nothing else touches the cache.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

impl DataKeyCache {
    pub fn new(settings: DataKeyCacheSettings) -> Arc<Self> {
        let cache = Arc::new(Self {
            settings,
            entries: Mutex::new(CacheEntries::default()),
        });
        if settings.capacity > 0 {
            cache.sweep_periodically();
        }
        cache
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, CacheEntries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key of `user` when it was cached from exactly these wrapped bytes and has
    /// not expired.
    fn get(&self, user: UserId, wrapped: &WrappedDataKey) -> Option<DataKey> {
        let entries = self.entries();
        let cached = entries.by_user.get(&user)?;
        (cached.wrapped == wrapped.as_bytes() && cached.expires > Instant::now())
            .then(|| DataKey::clone(&cached.key))
    }

    fn put(&self, user: UserId, wrapped: &WrappedDataKey, key: &DataKey) {
        if self.settings.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let expires = now + self.settings.ttl;
        let mut entries = self.entries();
        entries.drop_expired(now);
        while entries.by_user.len() >= self.settings.capacity && entries.drop_oldest() {}
        entries.by_user.insert(
            user,
            Cached {
                wrapped: wrapped.as_bytes().to_vec(),
                key: Box::new(key.clone()),
                expires,
            },
        );
        entries.order.push_back((user, expires));
    }

    fn forget(&self, user: UserId) {
        self.entries().by_user.remove(&user);
    }

    /// How many keys are cached now.
    pub fn len(&self) -> usize {
        self.entries().by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sweeps expired keys out every [`SWEEP_INTERVAL`] on a thread of its own, until
    /// the cache is dropped (the vault is gone).
    fn sweep_periodically(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("piivault-data-key-cache".to_owned())
            .spawn(move || loop {
                std::thread::sleep(SWEEP_INTERVAL);
                match weak.upgrade() {
                    Some(cache) => cache.entries().drop_expired(Instant::now()),
                    None => return,
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the data key cache sweeper; expired keys leave when new ones arrive");
        }
    }
}

impl CacheEntries {
    fn drop_expired(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(_, expires)| *expires <= now)
        {
            self.drop_oldest();
        }
    }

    /// Drops the entry cached longest ago; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        let Some((user, expires)) = self.order.pop_front() else {
            return false;
        };
        if self
            .by_user
            .get(&user)
            .is_some_and(|cached| cached.expires == expires)
        {
            self.by_user.remove(&user);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize, ttl: Duration) -> Arc<DataKeyCache> {
        DataKeyCache::new(DataKeyCacheSettings { capacity, ttl })
    }

    fn wrapped(byte: u8) -> WrappedDataKey {
        WrappedDataKey::from_bytes(vec![byte; 65])
    }

    #[test]
    fn a_key_is_served_only_for_the_same_wrapped_bytes() {
        let cache = cache(10, Duration::from_secs(60));
        let user = UserId::generate();
        cache.put(user, &wrapped(1), &DataKey::generate().unwrap());
        assert!(cache.get(user, &wrapped(1)).is_some());
        assert!(
            cache.get(user, &wrapped(2)).is_none(),
            "rewrapped or replaced"
        );
        assert!(cache.get(UserId::generate(), &wrapped(1)).is_none());
        cache.forget(user);
        assert!(cache.get(user, &wrapped(1)).is_none(), "forgotten");
        assert!(cache.is_empty());
    }

    #[test]
    fn the_oldest_key_leaves_when_full() {
        let cache = cache(2, Duration::from_secs(60));
        let users: Vec<UserId> = (0..3).map(|_| UserId::generate()).collect();
        for user in &users {
            cache.put(*user, &wrapped(1), &DataKey::generate().unwrap());
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(users[0], &wrapped(1)).is_none());
        assert!(cache.get(users[2], &wrapped(1)).is_some());
        // Caching a user again moves it to the back of the line.
        cache.put(users[1], &wrapped(1), &DataKey::generate().unwrap());
        cache.put(users[0], &wrapped(1), &DataKey::generate().unwrap());
        assert!(cache.get(users[2], &wrapped(1)).is_none());
        assert!(cache.get(users[1], &wrapped(1)).is_some());
    }

    #[test]
    fn expired_keys_are_not_served_and_are_swept_out() {
        // A time to live of zero: expired as soon as cached.
        let cache = cache(10, Duration::ZERO);
        let user = UserId::generate();
        cache.put(user, &wrapped(1), &DataKey::generate().unwrap());
        assert_eq!(cache.len(), 1);
        assert!(cache.get(user, &wrapped(1)).is_none());
        cache.entries().drop_expired(Instant::now());
        assert!(cache.is_empty());
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = cache(0, Duration::from_secs(60));
        let user = UserId::generate();
        cache.put(user, &wrapped(1), &DataKey::generate().unwrap());
        assert!(cache.get(user, &wrapped(1)).is_none());
    }
}
