//! Loading and creating the service's long-lived keys: JWE key pairs, the master key
//! ring and the blind-index key. Each comes from an environment variable when set,
//! otherwise from a file in the keys dir. Nothing here ever reads the database.
//!
//! | key | environment variable | file |
//! |---|---|---|
//! | JWE private keys (PEM, one or more blocks) | `PIIVAULT_JWE_KEYS` | `jwe-*.pem` |
//! | master key ring (`version:base64` per line) | `PIIVAULT_MASTER_KEYS` | `master-keys` |
//! | blind-index key (base64) | `PIIVAULT_BLIND_INDEX_KEY` | `blind-index-key` |

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::crypto::{BlindIndexKey, MasterKeyRing, SecretKey};
use crate::jose::{generate_p256_pem, generate_rsa_pem, JweKeyRing};

pub const JWE_KEYS_ENV: &str = "PIIVAULT_JWE_KEYS";
pub const MASTER_KEYS_ENV: &str = "PIIVAULT_MASTER_KEYS";
pub const BLIND_INDEX_KEY_ENV: &str = "PIIVAULT_BLIND_INDEX_KEY";

const MASTER_KEYS_FILE: &str = "master-keys";
const BLIND_INDEX_KEY_FILE: &str = "blind-index-key";
const RSA_FILE: &str = "jwe-rsa-oaep.pem";
const P256_FILE: &str = "jwe-ecdh-es-p256.pem";
const RSA_BITS: u32 = 2048;

/// Every key the running service needs, loaded once at start-up.
#[derive(Debug)]
pub struct KeyMaterial {
    pub jwe: JweKeyRing,
    pub master: MasterKeyRing,
    pub blind_index: BlindIndexKey,
}

impl KeyMaterial {
    /// Loads every key; a missing one is an error naming both places it may come from.
    pub fn load(keys_dir: &Path) -> anyhow::Result<Self> {
        let pems = match std::env::var(JWE_KEYS_ENV) {
            Ok(text) => split_pem_blocks(&text),
            Err(_) => read_jwe_pem_files(keys_dir)?,
        };
        if pems.is_empty() {
            bail!(
                "no JWE keys: set {JWE_KEYS_ENV} or put jwe-*.pem files in {} (`piivault keys init` creates them)",
                keys_dir.display()
            );
        }
        let pem_refs: Vec<&str> = pems.iter().map(String::as_str).collect();
        let jwe = JweKeyRing::from_pems(&pem_refs).context("loading the JWE keys")?;

        let master_text = secret_value(keys_dir, MASTER_KEYS_ENV, MASTER_KEYS_FILE)?;
        let master = MasterKeyRing::parse(&master_text).context("parsing the master key ring")?;
        let index_text = secret_value(keys_dir, BLIND_INDEX_KEY_ENV, BLIND_INDEX_KEY_FILE)?;
        let blind_index = BlindIndexKey::new(
            SecretKey::from_base64(&index_text).context("parsing the blind-index key")?,
        );
        Ok(Self {
            jwe,
            master,
            blind_index,
        })
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
        let key = SecretKey::generate()?;
        written.push(write_secret(
            keys_dir,
            BLIND_INDEX_KEY_FILE,
            &format!("{}\n", key.to_base64().as_str()),
        )?);
    }
    Ok(written)
}

fn secret_value(
    keys_dir: &Path,
    env: &str,
    file: &str,
) -> anyhow::Result<zeroize::Zeroizing<String>> {
    if let Ok(value) = std::env::var(env) {
        return Ok(zeroize::Zeroizing::new(value));
    }
    let path = keys_dir.join(file);
    fs::read_to_string(&path)
        .map(zeroize::Zeroizing::new)
        .with_context(|| {
            format!(
                "reading {} (set {env} or run `piivault keys init`)",
                path.display()
            )
        })
}

fn read_jwe_pem_files(keys_dir: &Path) -> anyhow::Result<Vec<String>> {
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
        .iter()
        .map(|path| fs::read_to_string(path).with_context(|| format!("reading {}", path.display())))
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
