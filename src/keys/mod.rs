//! Loading and creating the service's long-lived keys: JWE key pairs, the master key
//! ring and the blind-index key ring. Each comes from an environment variable when
//! set, otherwise from a file in the keys dir; master key versions may instead (or as
//! well, during a migration) live in a PKCS#11 token ([`token`], [`master`]). Nothing
//! here ever reads the database. [`live`] keeps a running service's copy fresh;
//! [`rotate`] edits the key files and the token.
//!
//! | key | environment variable | file |
//! |---|---|---|
//! | JWE private keys (PEM, one or more blocks) | `PIIVAULT_JWE_KEYS` | `jwe-*.pem` (retired ones in `retired/`) |
//! | master key ring (`version:base64` per line, `active:`, `retired:`) | `PIIVAULT_MASTER_KEYS` | `master-keys` (or token objects `<prefix>-master-v<N>`) |
//! | blind-index key ring (same form; a bare key is version 1) | `PIIVAULT_BLIND_INDEX_KEY` | `blind-index-key` |
//! | metadata key (one base64 key: token digests, row MACs) | `PIIVAULT_METADATA_KEY` | `metadata-key` |

pub mod live;
pub mod master;
pub mod rotate;
pub mod token;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::config::{MasterKeyProvider, MasterKeySettings};
use crate::crypto::{BlindIndexKeyRing, MasterKeyRing, MetadataKey, SecretKey, VersionedKeys};
use crate::jose::{generate_p256_pem, generate_rsa_pem, JweKeyRing};

pub use live::{KeyWatch, LiveKeys};
pub use master::MasterKeyToken;

pub const JWE_KEYS_ENV: &str = "PIIVAULT_JWE_KEYS";
pub const MASTER_KEYS_ENV: &str = "PIIVAULT_MASTER_KEYS";
pub const BLIND_INDEX_KEY_ENV: &str = "PIIVAULT_BLIND_INDEX_KEY";
pub const METADATA_KEY_ENV: &str = "PIIVAULT_METADATA_KEY";

const MASTER_KEYS_FILE: &str = "master-keys";
const BLIND_INDEX_KEY_FILE: &str = "blind-index-key";
const METADATA_KEY_FILE: &str = "metadata-key";
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
    /// Authenticates token digests and the rows that decide access.
    pub metadata: MetadataKey,
}

/// Where this process's keys are: the keys dir (or the environment), which provider
/// holds the active master key, and the token, when one is configured.
#[derive(Debug, Clone)]
pub struct KeyPlaces {
    keys_dir: PathBuf,
    provider: MasterKeyProvider,
    token: Option<MasterKeyToken>,
}

impl KeyPlaces {
    /// The keys dir and, when the settings name one, the token, opened and logged in.
    /// A token that cannot be opened (no module, no such token, a wrong PIN) is an
    /// error, and so is `pkcs11` without a token.
    pub fn open(keys_dir: &Path, settings: &MasterKeySettings) -> anyhow::Result<Self> {
        let token = match &settings.pkcs11 {
            Some(pkcs11) if pkcs11.module.as_os_str().is_empty() => {
                bail!("--pkcs11-token needs --pkcs11-module (the PKCS#11 library)")
            }
            Some(pkcs11) if pkcs11.token_label.is_empty() => {
                bail!("--pkcs11-module needs --pkcs11-token (the token's label)")
            }
            Some(pkcs11) => Some(MasterKeyToken {
                token: token::Token::open(pkcs11)?,
                label_prefix: pkcs11.label_prefix.clone(),
            }),
            None if settings.provider == MasterKeyProvider::Pkcs11 => {
                bail!("--master-key-provider pkcs11 needs --pkcs11-module and --pkcs11-token")
            }
            None => None,
        };
        Ok(Self {
            keys_dir: keys_dir.to_path_buf(),
            provider: settings.provider,
            token,
        })
    }

    /// Key files (or environment variables) only: the `file` provider, no token.
    pub fn key_files(keys_dir: &Path) -> Self {
        Self {
            keys_dir: keys_dir.to_path_buf(),
            provider: MasterKeyProvider::File,
            token: None,
        }
    }

    pub fn keys_dir(&self) -> &Path {
        &self.keys_dir
    }

    /// The provider that holds the active master key version.
    pub fn provider(&self) -> MasterKeyProvider {
        self.provider
    }

    /// The token holding master keys, when one is configured.
    pub fn token(&self) -> Option<&MasterKeyToken> {
        self.token.as_ref()
    }

    /// The token, for an operation that needs one.
    pub fn require_token(&self) -> anyhow::Result<&MasterKeyToken> {
        self.token
            .as_ref()
            .context("no PKCS#11 token is configured: give --pkcs11-module and --pkcs11-token")
    }
}

/// The raw text of every key, as read from the environment or the keys dir, and the
/// token's master key versions: what [`KeyMaterial`] is made of, and what a reload
/// compares to see a change.
struct KeySources {
    jwe_pems: Vec<Zeroizing<String>>,
    /// The master key file; `None` when it is absent and a token is configured.
    master: Option<Zeroizing<String>>,
    blind_index: Zeroizing<String>,
    metadata: Zeroizing<String>,
    /// The token's master key versions, when a token is configured.
    token_versions: Option<master::TokenVersions>,
}

impl KeySources {
    fn read(places: &KeyPlaces) -> anyhow::Result<Self> {
        let keys_dir = places.keys_dir();
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
        let master = if places.token.is_some() && !master_file_in_use(keys_dir) {
            None
        } else {
            Some(secret_value(keys_dir, MASTER_KEYS_ENV, MASTER_KEYS_FILE)?)
        };
        Ok(Self {
            jwe_pems,
            master,
            blind_index: secret_value(keys_dir, BLIND_INDEX_KEY_ENV, BLIND_INDEX_KEY_FILE)?,
            metadata: secret_value(keys_dir, METADATA_KEY_ENV, METADATA_KEY_FILE)?,
            token_versions: places
                .token
                .as_ref()
                .map(MasterKeyToken::versions)
                .transpose()?,
        })
    }

    /// A digest of every source, so unchanged keys are not parsed again.
    fn fingerprint(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        let no_file = Zeroizing::new(String::new());
        for text in self.jwe_pems.iter().chain([
            self.master.as_ref().unwrap_or(&no_file),
            &self.blind_index,
            &self.metadata,
        ]) {
            digest.update((text.len() as u64).to_be_bytes());
            digest.update(text.as_bytes());
        }
        digest.update([u8::from(self.master.is_some())]);
        if let Some(versions) = &self.token_versions {
            digest.update(versions.fingerprint_bytes());
        }
        digest.finalize().into()
    }

    fn parse(&self, places: &KeyPlaces) -> anyhow::Result<KeyMaterial> {
        if self.jwe_pems.is_empty() {
            bail!(
                "no JWE keys: set {JWE_KEYS_ENV} or put jwe-*.pem files in {} (`piivault keys init` creates them)",
                places.keys_dir().display()
            );
        }
        let pem_refs: Vec<&str> = self.jwe_pems.iter().map(|pem| pem.as_str()).collect();
        let jwe = JweKeyRing::from_pems(&pem_refs).context("loading the JWE keys")?;
        let file = self
            .master
            .as_ref()
            .map(|text| VersionedKeys::parse(text))
            .transpose()
            .context("parsing the master key ring")?;
        let token = places.token.as_ref().zip(self.token_versions.as_ref());
        let master = master::combine(places.provider(), file.as_ref(), token)?;
        let blind_index = BlindIndexKeyRing::parse(&self.blind_index)
            .context("parsing the blind-index key ring")?;
        let metadata = parse_metadata_key(&self.metadata)?;
        Ok(KeyMaterial {
            jwe,
            master,
            blind_index,
            metadata,
        })
    }
}

/// Whether master keys come from the key file or its environment variable.
fn master_file_in_use(keys_dir: &Path) -> bool {
    std::env::var_os(MASTER_KEYS_ENV).is_some() || keys_dir.join(MASTER_KEYS_FILE).exists()
}

impl KeyMaterial {
    /// Loads every key; a missing one is an error naming where it may come from.
    pub fn load(places: &KeyPlaces) -> anyhow::Result<Self> {
        KeySources::read(places)?.parse(places)
    }
}

/// The metadata key alone, for commands that write client rows and need no other key.
pub fn load_metadata_key(keys_dir: &Path) -> anyhow::Result<MetadataKey> {
    parse_metadata_key(&secret_value(
        keys_dir,
        METADATA_KEY_ENV,
        METADATA_KEY_FILE,
    )?)
}

fn parse_metadata_key(text: &str) -> anyhow::Result<MetadataKey> {
    SecretKey::from_base64(text)
        .map(MetadataKey::new)
        .context("parsing the metadata key (one base64 key of 32 bytes)")
}

/// What [`init`] created.
#[derive(Debug, Default)]
pub struct Initialized {
    /// Key files written.
    pub files: Vec<PathBuf>,
    /// Labels of objects generated in the token.
    pub token_objects: Vec<String>,
}

/// Creates whichever keys are missing (never overwriting one): files with mode 0600 in
/// a 0700 keys dir, and with the `pkcs11` provider master key version 1 in the token
/// instead of a `master-keys` file. Keys supplied through the environment are left
/// alone, and no master key is made when either provider already holds one.
pub fn init(places: &KeyPlaces) -> anyhow::Result<Initialized> {
    let keys_dir = places.keys_dir();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(keys_dir)
        .with_context(|| format!("creating {}", keys_dir.display()))?;
    let mut created = Initialized::default();
    let written = &mut created.files;
    if std::env::var(JWE_KEYS_ENV).is_err() && read_jwe_pem_files(keys_dir)?.is_empty() {
        written.push(write_secret(
            keys_dir,
            RSA_FILE,
            &generate_rsa_pem(RSA_BITS)?,
        )?);
        written.push(write_secret(keys_dir, P256_FILE, &generate_p256_pem()?)?);
    }
    let in_token = match places.token() {
        Some(token) => token.versions()?.highest().is_some(),
        None => false,
    };
    if !master_file_in_use(keys_dir) && !in_token {
        match places.provider() {
            MasterKeyProvider::File => {
                let ring = VersionedKeys::new([(1, SecretKey::generate()?)])?;
                written.push(write_secret(keys_dir, MASTER_KEYS_FILE, &ring.to_text())?);
            }
            MasterKeyProvider::Pkcs11 => {
                let token = places.require_token()?;
                token.create(1)?;
                created.token_objects.push(token.label(1));
            }
        }
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
    if std::env::var(METADATA_KEY_ENV).is_err() && !keys_dir.join(METADATA_KEY_FILE).exists() {
        let key = SecretKey::generate()?;
        let mut text = key.to_base64();
        text.push('\n');
        written.push(write_secret(keys_dir, METADATA_KEY_FILE, &text)?);
    }
    Ok(created)
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
        let places = KeyPlaces::key_files(&keys_dir);
        let written = init(&places).unwrap().files;
        assert_eq!(written.len(), 5);
        for path in &written {
            let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        assert!(
            init(&places).unwrap().files.is_empty(),
            "a second init must not overwrite"
        );
        let keys = KeyMaterial::load(&places).unwrap();
        assert_eq!(keys.jwe.kids().len(), 2);
        assert_eq!(keys.master.active_version(), 1);
    }

    #[test]
    fn missing_keys_are_an_error_not_generated() {
        let dir = tempfile::tempdir().unwrap();
        let error = KeyMaterial::load(&KeyPlaces::key_files(dir.path())).unwrap_err();
        assert!(format!("{error:#}").contains("keys init"));
        assert!(
            fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing written"
        );
    }

    #[test]
    fn a_keys_dir_of_an_older_version_needs_init_for_its_metadata_key() {
        let dir = tempfile::tempdir().unwrap();
        let places = KeyPlaces::key_files(dir.path());
        init(&places).unwrap();
        let before = KeyMaterial::load(&places).unwrap();
        fs::remove_file(dir.path().join(METADATA_KEY_FILE)).unwrap();
        let error = KeyMaterial::load(&places).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains(METADATA_KEY_FILE) && message.contains("keys init"),
            "{message}"
        );
        assert!(load_metadata_key(dir.path()).is_err());
        let created = init(&places).unwrap().files;
        assert_eq!(
            created,
            [dir.path().join(METADATA_KEY_FILE)],
            "only the missing key"
        );
        let after = KeyMaterial::load(&places).unwrap();
        assert_eq!(
            after.master.active_version(),
            before.master.active_version()
        );
        let sha256 = [7; 32];
        assert_eq!(
            load_metadata_key(dir.path())
                .unwrap()
                .token_digest("l", &sha256),
            after.metadata.token_digest("l", &sha256)
        );
        fs::write(dir.path().join(METADATA_KEY_FILE), "c2hvcnQ=\n").unwrap();
        assert!(format!("{:#}", KeyMaterial::load(&places).unwrap_err()).contains("metadata key"));
    }

    #[test]
    fn splits_pem_blocks() {
        let text =
            "-----BEGIN A-----\nAAA\n-----END A-----\n\n-----BEGIN B-----\nBBB\n-----END B-----";
        assert_eq!(split_pem_blocks(text).len(), 2);
    }
}
