//! Edits to the keys that rotation needs: a new master or blind-index version, a
//! retired one, a new JWE key pair, a retired kid, and the target version of a master
//! key migration between providers. Files are edited, and, for master keys held by a
//! token, token objects generated or destroyed (keys supplied through the environment
//! are rotated in the secret manager that supplies them). Whether the database still
//! uses a version is checked by `vault::key_jobs` before it asks for a retirement
//! here.

use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use super::master::next_version;
use super::{
    master_file_in_use, read_jwe_pem_files, replace_secret, write_secret, KeyMaterial, KeyPlaces,
    BLIND_INDEX_KEY_ENV, BLIND_INDEX_KEY_FILE, JWE_KEYS_ENV, MASTER_KEYS_ENV, MASTER_KEYS_FILE,
    P256_FILE, RETIRED_DIR, RSA_BITS, RSA_FILE,
};
use crate::config::MasterKeyProvider;
use crate::crypto::{BlindIndexKeyRing, CryptoError, Custody, SecretKey, VersionedKeys};
use crate::jose::{generate_p256_pem, generate_rsa_pem, JweKeyRing};

/// Which kind of JWE key pair to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JweKind {
    /// RSA-2048 for RSA-OAEP-256 / RSA-OAEP.
    Rsa,
    /// P-256 for ECDH-ES+A256KW.
    P256,
}

/// A JWE key pair written by [`rotate_jwe`].
#[derive(Debug)]
pub struct NewJweKey {
    pub kid: String,
    pub path: PathBuf,
}

/// Adds master key version N+1 (past every version either provider holds) to the
/// configured provider: a line of the key file made active, or a new token object,
/// active as the token's highest. Returns N+1.
pub fn rotate_master(places: &KeyPlaces) -> anyhow::Result<u32> {
    let version = next_version(&KeyMaterial::load(places)?.master)?;
    add_master_version(places, places.provider(), version)?;
    Ok(version)
}

/// Destroys master key `version` where it is held: its line of the key file (the
/// number is kept as retired), or its token object. Never the active version.
pub fn retire_master(places: &KeyPlaces, version: u32) -> anyhow::Result<()> {
    let ring = KeyMaterial::load(places)?.master;
    if version == ring.active_version() {
        bail!("master key version {version} is the active one and cannot be retired");
    }
    match ring.custody(version) {
        None => bail!("no master key version {version} is loaded"),
        Some(Custody::Process) => edit_ring(
            places.keys_dir(),
            MASTER_KEYS_ENV,
            MASTER_KEYS_FILE,
            |ring: &mut VersionedKeys| ring.retire(version),
        ),
        Some(Custody::Token) => places.require_token()?.destroy(version),
    }
}

/// The version a migration of every data key to `to` wraps under: the newest version
/// `to` holds when it is past every version of the other provider (a migration that
/// is resumed), else a new one made there now. Returns it.
pub fn migration_target(places: &KeyPlaces, to: MasterKeyProvider) -> anyhow::Result<u32> {
    let ring = KeyMaterial::load(places)?.master;
    let wanted = match to {
        MasterKeyProvider::File => Custody::Process,
        MasterKeyProvider::Pkcs11 => Custody::Token,
    };
    let newest = ring.versions().max();
    if let Some(newest) = newest.filter(|version| ring.custody(*version) == Some(wanted)) {
        return Ok(newest);
    }
    let version = next_version(&ring)?;
    add_master_version(places, to, version)?;
    Ok(version)
}

/// Creates master key `version` in `provider`: a token object, or a line of the key
/// file (the file is created when there is none, as after a migration to the token).
fn add_master_version(
    places: &KeyPlaces,
    provider: MasterKeyProvider,
    version: u32,
) -> anyhow::Result<()> {
    match provider {
        MasterKeyProvider::Pkcs11 => places.require_token()?.create(version),
        MasterKeyProvider::File if master_file_in_use(places.keys_dir()) => edit_ring(
            places.keys_dir(),
            MASTER_KEYS_ENV,
            MASTER_KEYS_FILE,
            |ring: &mut VersionedKeys| ring.add_active(version),
        )
        .map(drop),
        MasterKeyProvider::File => {
            let ring = VersionedKeys::new([(version, SecretKey::generate()?)])?;
            write_secret(places.keys_dir(), MASTER_KEYS_FILE, &ring.to_text()).map(drop)
        }
    }
}

/// Adds blind-index key version N+1 and makes it the active one, keeping `truncated`
/// (column, bits) of its indexes. Returns N+1.
pub fn rotate_blind_index(keys_dir: &Path, truncated: &[(&str, u16)]) -> anyhow::Result<u32> {
    edit_ring(
        keys_dir,
        BLIND_INDEX_KEY_ENV,
        BLIND_INDEX_KEY_FILE,
        |ring: &mut BlindIndexKeyRing| ring.rotate(truncated),
    )
}

/// Destroys blind-index key `version` (never the active one).
pub fn retire_blind_index(keys_dir: &Path, version: u32) -> anyhow::Result<()> {
    edit_ring(
        keys_dir,
        BLIND_INDEX_KEY_ENV,
        BLIND_INDEX_KEY_FILE,
        |ring: &mut BlindIndexKeyRing| ring.retire(version),
    )
}

/// A key ring kept as a text file in the keys dir.
trait RingFile: Sized {
    fn parse(text: &str) -> Result<Self, CryptoError>;
    fn to_text(&self) -> zeroize::Zeroizing<String>;
}

impl RingFile for VersionedKeys {
    fn parse(text: &str) -> Result<Self, CryptoError> {
        Self::parse(text)
    }
    fn to_text(&self) -> zeroize::Zeroizing<String> {
        self.to_text()
    }
}

impl RingFile for BlindIndexKeyRing {
    fn parse(text: &str) -> Result<Self, CryptoError> {
        Self::parse(text)
    }
    fn to_text(&self) -> zeroize::Zeroizing<String> {
        self.to_text()
    }
}

/// Reads the ring in `file`, edits it and writes it back (atomically, see
/// `replace_secret`). Refused when the ring comes from `env` instead.
fn edit_ring<R: RingFile, T>(
    keys_dir: &Path,
    env: &str,
    file: &str,
    edit: impl FnOnce(&mut R) -> Result<T, CryptoError>,
) -> anyhow::Result<T> {
    refuse_env(env)?;
    let path = keys_dir.join(file);
    let text = fs::read_to_string(&path)
        .map(zeroize::Zeroizing::new)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut ring = R::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    let result = edit(&mut ring)?;
    replace_secret(keys_dir, file, &ring.to_text())?;
    Ok(result)
}

fn refuse_env(env: &str) -> anyhow::Result<()> {
    if std::env::var_os(env).is_some() {
        bail!("{env} is set: these keys come from the environment; rotate them where they are kept, not in the keys dir");
    }
    Ok(())
}

/// Adds a new JWE key pair of `kind` (a new file, so a new kid). The service
/// publishes it in the JWKS at its next reload; the older keys keep decrypting.
pub fn rotate_jwe(keys_dir: &Path, kind: JweKind) -> anyhow::Result<NewJweKey> {
    refuse_env(JWE_KEYS_ENV)?;
    let (pem, base) = match kind {
        JweKind::Rsa => (generate_rsa_pem(RSA_BITS)?, RSA_FILE),
        JweKind::P256 => (generate_p256_pem()?, P256_FILE),
    };
    let new_kid = kid_of(&pem)?;
    let stem = base.trim_end_matches(".pem");
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    let mut name = format!("{stem}-{stamp}.pem");
    let mut counter = 1;
    while keys_dir.join(&name).exists() {
        counter += 1;
        name = format!("{stem}-{stamp}-{counter}.pem");
    }
    let path = write_secret(keys_dir, &name, &pem)?;
    Ok(NewJweKey { kid: new_kid, path })
}

/// Retires the JWE key `kid`: its file moves to `retired/`, so the service stops
/// publishing it and refuses tokens that name it. Refused when it is the last key.
/// Returns where the file went.
pub fn retire_jwe(keys_dir: &Path, kid: &str) -> anyhow::Result<PathBuf> {
    refuse_env(JWE_KEYS_ENV)?;
    let files = read_jwe_pem_files(keys_dir)?;
    let mut found = None;
    for (path, pem) in &files {
        if kid_of(pem)? == kid {
            found = Some(path.clone());
        }
    }
    let Some(path) = found else {
        bail!("no JWE key with kid `{kid}` in {}", keys_dir.display());
    };
    if files.len() == 1 {
        bail!("`{kid}` is the only JWE key: add another (`piivault keys rotate-jwe`) first");
    }
    let retired = keys_dir.join(RETIRED_DIR);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&retired)
        .with_context(|| format!("creating {}", retired.display()))?;
    let name = path
        .file_name()
        .context("a key file has a name")?
        .to_os_string();
    let target = retired.join(name);
    fs::rename(&path, &target).with_context(|| format!("moving {}", path.display()))?;
    Ok(target)
}

fn kid_of(pem: &str) -> anyhow::Result<String> {
    JweKeyRing::from_pems(&[pem])
        .context("reading a JWE key")?
        .kids()
        .into_iter()
        .next()
        .context("a JWE key has a kid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwe_rotation_adds_a_kid_and_retirement_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let places = KeyPlaces::key_files(dir.path());
        crate::keys::init(&places).unwrap();
        let before = KeyMaterial::load(&places).unwrap().jwe.kids();
        let added = rotate_jwe(dir.path(), JweKind::P256).unwrap();
        let during = KeyMaterial::load(&places).unwrap().jwe.kids();
        assert_eq!(during.len(), 3);
        assert!(during.contains(&added.kid));

        let moved = retire_jwe(dir.path(), &before[0]).unwrap();
        assert!(moved.starts_with(dir.path().join("retired")));
        let after = KeyMaterial::load(&places).unwrap().jwe.kids();
        assert_eq!(after.len(), 2);
        assert!(!after.contains(&before[0]));
        assert!(
            retire_jwe(dir.path(), &before[0]).is_err(),
            "already retired"
        );
    }

    #[test]
    fn the_last_jwe_key_is_not_retired() {
        let dir = tempfile::tempdir().unwrap();
        let places = KeyPlaces::key_files(dir.path());
        crate::keys::init(&places).unwrap();
        let kids = KeyMaterial::load(&places).unwrap().jwe.kids();
        retire_jwe(dir.path(), &kids[0]).unwrap();
        assert!(retire_jwe(dir.path(), &kids[1]).is_err());
    }

    #[test]
    fn master_rotation_keeps_old_versions_until_retired() {
        let dir = tempfile::tempdir().unwrap();
        let places = KeyPlaces::key_files(dir.path());
        crate::keys::init(&places).unwrap();
        assert_eq!(rotate_master(&places).unwrap(), 2);
        let ring = KeyMaterial::load(&places).unwrap().master;
        assert_eq!(ring.versions().collect::<Vec<_>>(), vec![1, 2]);
        assert!(retire_master(&places, 2).is_err(), "active");
        retire_master(&places, 1).unwrap();
        assert!(retire_master(&places, 1).is_err(), "already retired");
        let ring = KeyMaterial::load(&places).unwrap().master;
        assert_eq!(ring.versions().collect::<Vec<_>>(), vec![2]);
        assert_eq!(rotate_master(&places).unwrap(), 3, "1 is never reused");
        assert_eq!(rotate_blind_index(dir.path(), &[]).unwrap(), 2);
    }

    #[test]
    fn a_migration_target_in_the_key_file_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let places = KeyPlaces::key_files(dir.path());
        crate::keys::init(&places).unwrap();
        // The file already holds the newest version: a migration to it resumes there.
        assert_eq!(
            migration_target(&places, MasterKeyProvider::File).unwrap(),
            1
        );
        assert!(
            migration_target(&places, MasterKeyProvider::Pkcs11).is_err(),
            "no token configured"
        );
    }
}
