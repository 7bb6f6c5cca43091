//! Loading and creating the service's long-lived keys: JWE key pairs, the master key
//! ring and the blind-index key ring. Each comes from an environment variable when
//! set, otherwise from a file in the keys dir. Nothing here ever reads the database.
//! [`live`] keeps a running service's copy fresh; [`rotate`] edits the key files.
//!
//! | key | environment variable | file |
//! |---|---|---|
//! | JWE private keys (PEM, one or more blocks) | `PIIVAULT_JWE_KEYS` | `jwe-*.pem` (retired ones in `retired/`) |
//! | master key ring (`version:base64` per line, `active:`, `retired:`) | `PIIVAULT_MASTER_KEYS` | `master-keys` |
//! | blind-index key ring (same form; a bare key is version 1) | `PIIVAULT_BLIND_INDEX_KEY` | `blind-index-key` |

pub mod live;
pub mod rotate;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{BlindIndexKeyRing, MasterKeyRing, SecretKey, VersionedKeys};
use crate::jose::{generate_p256_pem, generate_rsa_pem, JweKeyRing};

pub use live::LiveKeys;

pub const JWE_KEYS_ENV: &str = "PIIVAULT_JWE_KEYS";
pub const MASTER_KEYS_ENV: &str = "PIIVAULT_MASTER_KEYS";
pub const BLIND_INDEX_KEY_ENV: &str = "PIIVAULT_BLIND_INDEX_KEY";

const MASTER_KEYS_FILE: &str = "master-keys";
const BLIND_INDEX_KEY_FILE: &str = "blind-index-key";
const RETIRED_DIR: &str = "retired";
const RSA_FILE: &str = "jwe-rsa-oaep.pem";
const P256_FILE: &str = "jwe-ecdh-es-p256.pem";
const RSA_BITS: u32 = 2048;

/// Every key the running service needs.
#[derive(Debug)]
pub struct KeyMaterial {
    pub jwe: JweKeyRing,
    pub master: MasterKeyRing,
    pub blind_index: BlindIndexKeyRing,
}

/// The raw text of every key, as read from the environment or the keys dir: what
/// [`KeyMaterial`] is parsed from, and what a reload compares to see a change.
struct KeySources {
    jwe_pems: Vec<Zeroizing<String>>,
    master: Zeroizing<String>,
    blind_index: Zeroizing<String>,
}

impl KeySources {
    fn read(keys_dir: &Path) -> anyhow::Result<Self> {
        let jwe_pems = match std::env::var(JWE_KEYS_ENV) {
            Ok(text) => split_pem_blocks(&text)
                .into_iter()
                .map(Zeroizing::new)
                .collect(),
            Err(_) => read_jwe_pem_files(keys_dir)?
                .into_iter()
                .map(|(_, pem)| pem)
                .collect(),
        };
        Ok(Self {
            jwe_pems,
            master: secret_value(keys_dir, MASTER_KEYS_ENV, MASTER_KEYS_FILE)?,
            blind_index: secret_value(keys_dir, BLIND_INDEX_KEY_ENV, BLIND_INDEX_KEY_FILE)?,
        })
    }

    /// A digest of every source, so an unchanged keys dir is not parsed again.
    fn fingerprint(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        for text in self
            .jwe_pems
            .iter()
            .chain([&self.master, &self.blind_index])
        {
            digest.update((text.len() as u64).to_be_bytes());
            digest.update(text.as_bytes());
        }
        digest.finalize().into()
    }

    fn parse(&self, keys_dir: &Path) -> anyhow::Result<KeyMaterial> {
        if self.jwe_pems.is_empty() {
            bail!(
                "no JWE keys: set {JWE_KEYS_ENV} or put jwe-*.pem files in {} (`piivault keys init` creates them)",
                keys_dir.display()
            );
        }
        let pem_refs: Vec<&str> = self.jwe_pems.iter().map(|pem| pem.as_str()).collect();
        let jwe = JweKeyRing::from_pems(&pem_refs).context("loading the JWE keys")?;
        let master = MasterKeyRing::parse(&self.master).context("parsing the master key ring")?;
        let blind_index = BlindIndexKeyRing::parse(&self.blind_index)
            .context("parsing the blind-index key ring")?;
        Ok(KeyMaterial {
            jwe,
            master,
            blind_index,
        })
    }
}

impl KeyMaterial {
    /// Loads every key; a missing one is an error naming both places it may come from.
    pub fn load(keys_dir: &Path) -> anyhow::Result<Self> {
        KeySources::read(keys_dir)?.parse(keys_dir)
    }
}

/// Creates whichever keys are missing in `keys_dir` (never overwriting one) with
/// mode 0600 in a 0700 directory. Returns the files it wrote. Keys supplied through
/// the environment are left alone.
pub fn init(keys_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(keys_dir)
        .with_context(|| format!("creating {}", keys_dir.display()))?;
    let mut written = Vec::new();
    if std::env::var(JWE_KEYS_ENV).is_err() && read_jwe_pem_files(keys_dir)?.is_empty() {
        written.push(write_secret(
            keys_dir,
            RSA_FILE,
            &generate_rsa_pem(RSA_BITS)?,
        )?);
        written.push(write_secret(keys_dir, P256_FILE, &generate_p256_pem()?)?);
    }
    if std::env::var(MASTER_KEYS_ENV).is_err() && !keys_dir.join(MASTER_KEYS_FILE).exists() {
        let ring = MasterKeyRing::new([(1, SecretKey::generate()?)])?;
        written.push(write_secret(keys_dir, MASTER_KEYS_FILE, &ring.to_text())?);
    }
    if std::env::var(BLIND_INDEX_KEY_ENV).is_err() && !keys_dir.join(BLIND_INDEX_KEY_FILE).exists()
    {
        let ring = VersionedKeys::new([(1, SecretKey::generate()?)])?;
        written.push(write_secret(
            keys_dir,
            BLIND_INDEX_KEY_FILE,
            &ring.to_text(),
        )?);
    }
    Ok(written)
}

fn secret_value(keys_dir: &Path, env: &str, file: &str) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(value) = std::env::var(env) {
        return Ok(Zeroizing::new(value));
    }
    let path = keys_dir.join(file);
    fs::read_to_string(&path)
        .map(Zeroizing::new)
        .with_context(|| {
            format!(
                "reading {} (set {env} or run `piivault keys init`)",
                path.display()
            )
        })
}

/// The `jwe-*.pem` files directly in the keys dir (not `retired/`), sorted by name.
fn read_jwe_pem_files(keys_dir: &Path) -> anyhow::Result<Vec<(PathBuf, Zeroizing<String>)>> {
    let Ok(entries) = fs::read_dir(keys_dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.starts_with("jwe-") && name.to_ascii_lowercase().ends_with(".pem")
                })
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let pem = fs::read_to_string(&path)
                .map(Zeroizing::new)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok((path, pem))
        })
        .collect()
}

/// Splits text holding several PEM blocks (as in one environment variable).
fn split_pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END ") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

/// Writes a new key file (mode 0600), refusing to overwrite one.
fn write_secret(dir: &Path, name: &str, contents: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(path)
}

/// Replaces a key file atomically (a private temporary file renamed over it), so a
/// service reloading at that moment reads the old ring or the new one, never half.
fn replace_secret(dir: &Path, name: &str, contents: &str) -> anyhow::Result<PathBuf> {
    let temporary = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&temporary);
    write_secret(dir, &format!(".{name}.tmp"), contents)?;
    let path = dir.join(name);
    fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn init_creates_private_files_once_and_they_load() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let written = init(&keys_dir).unwrap();
        assert_eq!(written.len(), 4);
        for path in &written {
            let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        assert!(
            init(&keys_dir).unwrap().is_empty(),
            "a second init must not overwrite"
        );
        let keys = KeyMaterial::load(&keys_dir).unwrap();
        assert_eq!(keys.jwe.kids().len(), 2);
        assert_eq!(keys.master.active_version(), 1);
    }

    #[test]
    fn missing_keys_are_an_error_not_generated() {
        let dir = tempfile::tempdir().unwrap();
        let error = KeyMaterial::load(dir.path()).unwrap_err();
        assert!(format!("{error:#}").contains("keys init"));
        assert!(
            fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing written"
        );
    }

    #[test]
    fn splits_pem_blocks() {
        let text =
            "-----BEGIN A-----\nAAA\n-----END A-----\n\n-----BEGIN B-----\nBBB\n-----END B-----";
        assert_eq!(split_pem_blocks(text).len(), 2);
    }
}
