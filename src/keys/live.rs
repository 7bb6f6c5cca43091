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
//! reads the sources itself, at once, and retries when that brought new keys, so a
//! rotation never fails a request on an instance that has not reached its next
//! interval. Nothing here makes a request wait for another reload: there is no lock
//! to queue on and no pause. Reading the sources is a directory listing and a few
//! small files (tens of microseconds, far less than the RSA operation a JWE with a
//! known kid costs); parsing, the expensive part, happens only when their digest
//! changed, and sources that failed to parse are not parsed again until they change.
//! So a request naming a kid that does not exist costs less than one that names a
//! real kid with a wrong tag (BENCHMARKS.md), and a burst of them holds no thread
//! longer than that.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::anyhow;

use super::{KeyMaterial, KeyPlaces, KeySources};
use crate::jose::{JweError, JweSerialization};

pub struct LiveKeys {
    places: KeyPlaces,
    current: RwLock<Loaded>,
    /// Reads of the sources started so far: each read takes the next number, and a
    /// read swaps its keys in only over keys from an earlier read.
    reads: AtomicU64,
    /// The digest of sources that failed to parse: not parsed again until they change.
    rejected: Mutex<Option<[u8; 32]>>,
}

/// The keys in use and the read they came from.
struct Loaded {
    material: Arc<KeyMaterial>,
    fingerprint: [u8; 32],
    read: u64,
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
            current: RwLock::new(Loaded {
                material: Arc::new(material),
                fingerprint: sources.fingerprint(),
                read: 0,
            }),
            reads: AtomicU64::new(0),
            rejected: Mutex::new(None),
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
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .material,
        )
    }

    /// Reads the sources again and swaps in new keys when they changed. Returns
    /// whether anything changed; an unreadable or malformed source is an error and
    /// leaves the current keys in place. Any number of reloads may run at once (the
    /// interval, SIGHUP, requests that missed a key); none waits for another.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let read = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        let sources = KeySources::read(&self.places)?;
        let fingerprint = sources.fingerprint();
        if self.loaded_fingerprint() == fingerprint {
            return Ok(false);
        }
        if *self.rejected.lock().unwrap_or_else(PoisonError::into_inner) == Some(fingerprint) {
            return Err(anyhow!(
                "the key sources are unchanged since they last failed to parse"
            ));
        }
        let material = match sources.parse(&self.places) {
            Ok(material) => Arc::new(material),
            Err(error) => {
                *self.rejected.lock().unwrap_or_else(PoisonError::into_inner) = Some(fingerprint);
                return Err(error);
            }
        };
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        // A reload that started later already swapped in what it read.
        if current.read > read {
            return Ok(false);
        }
        tracing::info!(
            master_active = material.master.active_version(),
            blind_index_active = material.blind_index.active_version(),
            jwe_kids = material.jwe.kids().len(),
            "reloaded keys"
        );
        *current = Loaded {
            material,
            fingerprint,
            read,
        };
        Ok(true)
    }

    fn loaded_fingerprint(&self) -> [u8; 32] {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .fingerprint
    }

    /// [`reload`](Self::reload), logging instead of returning the error.
    pub fn reload_logged(&self) {
        if let Err(error) = self.reload() {
            tracing::error!(error = %format!("{error:#}"), "key reload failed; keeping the loaded keys");
        }
    }

    /// Runs `work` with the current keys. When it fails for want of a key
    /// (`missing_key`), reads the sources at once and, if the keys are newer than those
    /// `work` had (this read or another brought them), runs it once more with them.
    pub fn with_fresh<T, E>(
        &self,
        mut work: impl FnMut(&KeyMaterial) -> Result<T, E>,
        missing_key: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let keys = self.current();
        match work(&keys) {
            Err(error) if missing_key(&error) => {
                if let Err(reload) = self.reload() {
                    // The interval reload logs it as an error; a request only notes it.
                    tracing::debug!(error = %format!("{reload:#}"), "key reload on a missing key failed");
                }
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

    /// Reloads every `interval` on a thread of its own until the returned
    /// [`KeyWatch`] is dropped (or the last `Arc` to these keys is gone).
    pub fn watch(self: &Arc<Self>, interval: Duration) -> KeyWatch {
        let weak: Weak<Self> = Arc::downgrade(self);
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("piivault-key-reload".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    match weak.upgrade() {
                        Some(keys) => keys.reload_logged(),
                        None => return,
                    }
                }
            });
        let thread = spawned
            .inspect_err(|error| {
                tracing::error!(%error, "could not start the key reload thread; keys reload on SIGHUP only");
            })
            .ok();
        KeyWatch {
            stop: Some(stop),
            thread,
        }
    }
}

/// The interval reload of [`LiveKeys::watch`]. Dropping it stops the reload thread
/// and waits for it, so that a reload under way (which holds the keys, and with them
/// the token's sessions) ends before the owner goes on: a process must not close a
/// PKCS#11 session after its exit handlers have torn the module down.
pub struct KeyWatch {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
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
        assert!(live.reload().is_err(), "still broken, not parsed again");
        assert_eq!(live.current().master.active_version(), 2, "old keys kept");
    }

    /// A compact JWE to the ring's RSA key with its protected header's `kid` replaced
    /// (the header is authenticated, so this one can only fail).
    fn with_kid(token: &str, kid: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let (header, rest) = token.split_once('.').unwrap();
        let mut header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        header["kid"] = kid.into();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
    }

    /// `token` with the first character of its tag changed: the kid is right, the
    /// RSA step runs, and the content fails to authenticate.
    fn with_bad_tag(token: &str) -> String {
        let (front, tag) = token.rsplit_once('.').unwrap();
        let first = if tag.starts_with('A') { 'B' } else { 'A' };
        format!("{front}.{first}{}", &tag[1..])
    }

    fn median(mut samples: Vec<Duration>) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }

    #[test]
    fn an_unknown_kid_costs_no_more_than_a_wrong_tag_even_right_after_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let places = KeyPlaces::key_files(dir.path());
        super::super::init(&places).unwrap();
        let live = LiveKeys::load(places.clone()).unwrap();
        let token = live
            .current()
            .jwe
            .encrypt_compact(b"{}", "RSA-OAEP-256")
            .unwrap();
        let unknown = with_kid(&token, "nobody-has-this-kid");
        let bad_tag = with_bad_tag(&token);
        let time = |body: &str, expected: fn(&JweError) -> bool| {
            let started = std::time::Instant::now();
            let error = live
                .decrypt_jwe(body.as_bytes(), JweSerialization::Compact)
                .unwrap_err();
            assert!(expected(&error), "{error:?}");
            started.elapsed()
        };
        let (mut unknown_times, mut bad_tag_times) = (Vec::new(), Vec::new());
        // Interleaved, so both see the same machine; each miss follows another miss
        // (and its reload) at once.
        for _ in 0..15 {
            unknown_times.push(time(&unknown, |e| matches!(e, JweError::UnknownKey)));
            unknown_times.push(time(&unknown, |e| matches!(e, JweError::UnknownKey)));
            bad_tag_times.push(time(&bad_tag, |e| matches!(e, JweError::DecryptionFailed)));
        }
        let (unknown, bad_tag) = (median(unknown_times), median(bad_tag_times));
        assert!(
            unknown <= bad_tag * 2,
            "an unknown kid took {unknown:?}, a wrong tag {bad_tag:?}"
        );
    }

    #[test]
    fn a_kid_published_after_the_last_reload_decrypts_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let places = KeyPlaces::key_files(dir.path());
        super::super::init(&places).unwrap();
        let live = LiveKeys::load(places.clone()).unwrap();
        let added =
            super::super::rotate::rotate_jwe(dir.path(), super::super::rotate::JweKind::Rsa)
                .unwrap();
        // Encrypted to the new key alone, which this instance has not loaded.
        let pem = std::fs::read_to_string(&added.path).unwrap();
        let ring = crate::jose::JweKeyRing::from_pems(&[pem.as_str()]).unwrap();
        assert!(!live.current().jwe.kids().contains(&added.kid));
        let token = ring.encrypt_compact(b"{\"a\":1}", "RSA-OAEP-256").unwrap();
        let plaintext = live
            .decrypt_jwe(token.as_bytes(), JweSerialization::Compact)
            .unwrap();
        assert_eq!(plaintext.as_slice(), b"{\"a\":1}");
    }
}
