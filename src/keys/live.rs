//! The running service's keys, kept fresh without a restart. Keys are never in the
//! database, so each instance reads them from its keys dir (or environment) and its
//! token (the master key versions it holds): every
//! `reload_interval` (and on SIGHUP, see `startup.rs`) the sources are read again and,
//! when their digest changed, parsed and swapped in atomically behind an `Arc`. A
//! request holds the `Arc` it started with. A malformed edit is logged and the old
//! keys stay in use, so a typo in a key file never takes the service down.
//!
//! When a request needs a key this instance has not loaded yet (a data key rewrapped
//! or a JWE kid published by another instance moments ago), [`LiveKeys::with_fresh`]
//! reloads at once (at most every [`FORCED_RELOAD_GAP`]) and retries, so a rotation
//! never fails a request on an instance that has not reached its next interval.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use super::{KeyMaterial, KeyPlaces, KeySources};
use crate::jose::{JweError, JweSerialization};

/// The least time between two reloads forced by requests: an unknown kid in a
/// hostile request must not turn into a file read per request.
pub const FORCED_RELOAD_GAP: Duration = Duration::from_millis(250);

pub struct LiveKeys {
    places: KeyPlaces,
    current: RwLock<Arc<KeyMaterial>>,
    reload: Mutex<ReloadState>,
    /// Reloads started so far: a request that waited for the lock while another
    /// reload read the sources need not read them again.
    reloads_started: AtomicU64,
}

struct ReloadState {
    fingerprint: [u8; 32],
    last_attempt: Instant,
}

impl std::fmt::Debug for LiveKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKeys")
            .field("places", &self.places)
            .finish_non_exhaustive()
    }
}

impl LiveKeys {
    /// Loads the keys once; fails like [`KeyMaterial::load`].
    pub fn load(places: KeyPlaces) -> anyhow::Result<Self> {
        let sources = KeySources::read(&places)?;
        let material = sources.parse(&places)?;
        Ok(Self {
            places,
            current: RwLock::new(Arc::new(material)),
            reload: Mutex::new(ReloadState {
                fingerprint: sources.fingerprint(),
                last_attempt: Instant::now(),
            }),
            reloads_started: AtomicU64::new(0),
        })
    }

    /// Where the key files are read from.
    pub fn keys_dir(&self) -> &Path {
        self.places.keys_dir()
    }

    /// Where the keys are read from: the keys dir and the token.
    pub fn places(&self) -> &KeyPlaces {
        &self.places
    }

    /// The keys as of now; hold the `Arc` for the whole of one piece of work.
    pub fn current(&self) -> Arc<KeyMaterial> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reads the sources again and swaps in new keys when they changed. Returns
    /// whether anything changed; an unreadable or malformed source is an error and
    /// leaves the current keys in place.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let mut state = self.reload.lock().unwrap_or_else(PoisonError::into_inner);
        self.reload_locked(&mut state)
    }

    fn reload_locked(&self, state: &mut ReloadState) -> anyhow::Result<bool> {
        self.reloads_started.fetch_add(1, Ordering::SeqCst);
        state.last_attempt = Instant::now();
        let sources = KeySources::read(&self.places)?;
        let fingerprint = sources.fingerprint();
        if fingerprint == state.fingerprint {
            return Ok(false);
        }
        let material = Arc::new(sources.parse(&self.places)?);
        tracing::info!(
            master_active = material.master.active_version(),
            blind_index_active = material.blind_index.active_version(),
            jwe_kids = material.jwe.kids().len(),
            "reloaded keys"
        );
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = material;
        state.fingerprint = fingerprint;
        Ok(true)
    }

    /// [`reload`](Self::reload), logging instead of returning the error.
    pub fn reload_logged(&self) {
        if let Err(error) = self.reload() {
            tracing::error!(error = %format!("{error:#}"), "key reload failed; keeping the loaded keys");
        }
    }

    /// Runs `work` with the current keys. When it fails for want of a key
    /// (`missing_key`), reloads (throttled) and, if that brought new keys, runs it once
    /// more with them.
    pub fn with_fresh<T, E>(
        &self,
        mut work: impl FnMut(&KeyMaterial) -> Result<T, E>,
        missing_key: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let keys = self.current();
        match work(&keys) {
            Err(error) if missing_key(&error) => {
                self.reload_throttled();
                let fresh = self.current();
                if Arc::ptr_eq(&fresh, &keys) {
                    Err(error)
                } else {
                    work(&fresh)
                }
            }
            other => other,
        }
    }

    /// Decrypts a request's JWE. A `kid` published moments ago by another instance
    /// makes this one reload its keys once and try again.
    pub fn decrypt_jwe(
        &self,
        body: &[u8],
        serialization: JweSerialization,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, JweError> {
        self.with_fresh(
            |keys| keys.jwe.decrypt(body, serialization),
            |error| matches!(error, JweError::UnknownKey),
        )
    }

    /// Reloads on behalf of a request that just missed a key: at most one reload per
    /// [`FORCED_RELOAD_GAP`] (a request arriving sooner waits out the gap, on its
    /// blocking thread), and none when another reload began after the miss.
    fn reload_throttled(&self) {
        let seen = self.reloads_started.load(Ordering::SeqCst);
        let mut state = self.reload.lock().unwrap_or_else(PoisonError::into_inner);
        if self.reloads_started.load(Ordering::SeqCst) != seen {
            return;
        }
        if let Some(wait) = FORCED_RELOAD_GAP.checked_sub(state.last_attempt.elapsed()) {
            std::thread::sleep(wait);
        }
        if let Err(error) = self.reload_locked(&mut state) {
            tracing::error!(error = %format!("{error:#}"), "key reload failed; keeping the loaded keys");
        }
    }

    /// Reloads every `interval` on a thread of its own until the last `Arc` to
    /// these keys is gone (the server stopped).
    pub fn watch(self: &Arc<Self>, interval: Duration) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("piivault-key-reload".to_owned())
            .spawn(move || loop {
                std::thread::sleep(interval);
                match weak.upgrade() {
                    Some(keys) => keys.reload_logged(),
                    None => return,
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the key reload thread; keys reload on SIGHUP only");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_swaps_only_on_change_and_survives_a_broken_file() {
        let dir = tempfile::tempdir().unwrap();
        let places = KeyPlaces::key_files(dir.path());
        super::super::init(&places).unwrap();
        let live = LiveKeys::load(places.clone()).unwrap();
        let before = live.current();
        assert!(!live.reload().unwrap(), "nothing changed");
        assert!(Arc::ptr_eq(&before, &live.current()));

        super::super::rotate::rotate_master(&places).unwrap();
        assert!(live.reload().unwrap());
        assert_eq!(live.current().master.active_version(), 2);

        std::fs::write(dir.path().join("master-keys"), "not a ring").unwrap();
        assert!(live.reload().is_err());
        assert_eq!(live.current().master.active_version(), 2, "old keys kept");
    }
}
