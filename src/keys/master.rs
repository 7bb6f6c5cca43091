//! The master key ring as the two providers hold it, and how one ring is made of
//! both. The `file` provider keeps versions in the `master-keys` file (or
//! `PIIVAULT_MASTER_KEYS`); the `pkcs11` provider keeps each version as an AES-256 key
//! object in a token, labelled `<prefix>-master-v<N>` and with `CKA_ID`
//! `<prefix>-master` (so one search finds them all).
//!
//! Retired token versions are listed in a data object `<prefix>-master-retired`
//! (space-separated numbers), as the key file lists them on its `retired:` line.
//!
//! Both may hold versions at once (while data keys move from one to the other): every
//! loaded version unwraps, and version numbers are one sequence across both, never
//! reused. The active version is the configured provider's (the file's `active:`, or
//! the token's highest); a provider that holds no version yet leaves the other's
//! active until `keys migrate-master` creates one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use cryptoki::object::ObjectHandle;

use super::token::{Token, TokenKey};
use crate::config::MasterKeyProvider;
use crate::crypto::{KeyEncryptionKey, MasterKeyRing, VersionedKeys};

/// A token's master key versions, the objects that hold them, and the versions it
/// held once and destroyed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenVersions {
    keys: BTreeMap<u32, ObjectHandle>,
    retired: BTreeSet<u32>,
}

/// The token that holds master keys, with the label prefix of this service's objects.
#[derive(Debug, Clone)]
pub struct MasterKeyToken {
    pub token: Arc<Token>,
    pub label_prefix: String,
}

impl MasterKeyToken {
    fn id(&self) -> Vec<u8> {
        format!("{}-master", self.label_prefix).into_bytes()
    }

    /// The label of version `version`'s object.
    pub fn label(&self, version: u32) -> String {
        format!("{}-master-v{version}", self.label_prefix)
    }

    fn retired_label(&self) -> String {
        format!("{}-master-retired", self.label_prefix)
    }

    /// The version numbers listed as retired, and the objects listing them.
    fn retired(&self) -> anyhow::Result<(BTreeSet<u32>, Vec<ObjectHandle>)> {
        let objects = self
            .token
            .data_objects(&self.retired_label())
            .context("reading the retired master key versions")?;
        let mut retired = BTreeSet::new();
        let mut handles = Vec::new();
        for (handle, value) in objects {
            retired.extend(
                String::from_utf8_lossy(&value)
                    .split_whitespace()
                    .filter_map(|number| number.parse::<u32>().ok()),
            );
            handles.push(handle);
        }
        Ok((retired, handles))
    }

    /// Every master key version in the token. An object with this service's id but
    /// a label that names no version is ignored.
    pub fn versions(&self) -> anyhow::Result<TokenVersions> {
        let found = self
            .token
            .aes_keys_with_id(&self.id())
            .with_context(|| format!("listing master keys in token `{}`", self.token.label()))?;
        let prefix = format!("{}-master-v", self.label_prefix);
        let mut versions = BTreeMap::new();
        for (label, handle) in found {
            let Some(version) = label
                .strip_prefix(&prefix)
                .and_then(|number| number.parse::<u32>().ok())
                .filter(|version| *version > 0)
            else {
                continue;
            };
            if versions.insert(version, handle).is_some() {
                bail!(
                    "token `{}` holds two objects labelled `{label}`",
                    self.token.label()
                );
            }
        }
        let (retired, _) = self.retired()?;
        Ok(TokenVersions {
            keys: versions,
            retired,
        })
    }

    /// Generates version `version` inside the token.
    pub fn create(&self, version: u32) -> anyhow::Result<()> {
        let label = self.label(version);
        self.token
            .generate_aes_key(&self.id(), &label)
            .with_context(|| format!("generating `{label}` in token `{}`", self.token.label()))?;
        Ok(())
    }

    /// Destroys version `version`'s object, then lists the number as retired (a new
    /// list first, the old ones destroyed after it, so a failure leaves one or two
    /// lists, never none).
    pub fn destroy(&self, version: u32) -> anyhow::Result<()> {
        let Some(handle) = self.versions()?.keys.get(&version).copied() else {
            bail!(
                "token `{}` holds no master key version {version}",
                self.token.label()
            );
        };
        self.token
            .destroy(handle)
            .with_context(|| format!("destroying `{}`", self.label(version)))?;
        let (mut retired, old_lists) = self.retired()?;
        retired.insert(version);
        let list: Vec<String> = retired.iter().map(u32::to_string).collect();
        self.token
            .create_data_object(&self.retired_label(), list.join(" ").as_bytes())
            .context("listing the retired master key version")?;
        for old in old_lists {
            self.token
                .destroy(old)
                .context("replacing the list of retired master key versions")?;
        }
        Ok(())
    }
}

impl TokenVersions {
    pub fn highest(&self) -> Option<u32> {
        self.keys.keys().next_back().copied()
    }

    /// Versions, handles and retired numbers, for the digest a reload compares.
    pub fn fingerprint_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (version, handle) in &self.keys {
            bytes.extend_from_slice(&version.to_be_bytes());
            bytes.extend_from_slice(handle.to_string().as_bytes());
            bytes.push(b';');
        }
        bytes.push(b'/');
        for version in &self.retired {
            bytes.extend_from_slice(&version.to_be_bytes());
        }
        bytes
    }
}

/// One ring of the versions in the key file (`file`) and in the token (`token`), the
/// active version chosen as the module docs say.
pub fn combine(
    provider: MasterKeyProvider,
    file: Option<&VersionedKeys>,
    token: Option<(&MasterKeyToken, &TokenVersions)>,
) -> anyhow::Result<MasterKeyRing> {
    let mut keys: Vec<(u32, Arc<dyn KeyEncryptionKey>)> = Vec::new();
    let mut retired = Vec::new();
    if let Some(file) = file {
        for version in file.versions() {
            keys.push((version, Arc::new(file.key(version)?.clone())));
        }
        retired.extend(file.retired_versions());
    }
    if let Some((holder, versions)) = token {
        retired.extend(versions.retired.iter().copied());
        for (version, handle) in &versions.keys {
            if file.is_some_and(|file| file.versions().any(|known| known == *version)) {
                bail!("master key version {version} is both in the key file and in the token");
            }
            keys.push((
                *version,
                Arc::new(TokenKey::new(
                    Arc::clone(&holder.token),
                    holder.id(),
                    holder.label(*version),
                    *handle,
                )),
            ));
        }
    }
    let file_active = file.map(VersionedKeys::active_version);
    let token_active = token.and_then(|(_, versions)| versions.highest());
    let active = match provider {
        MasterKeyProvider::File => file_active.or(token_active),
        MasterKeyProvider::Pkcs11 => token_active.or(file_active),
    };
    if active.is_none() {
        match provider {
            MasterKeyProvider::File => bail!(
                "no master key: the key file is missing and no token holds one (run `piivault keys init`)"
            ),
            MasterKeyProvider::Pkcs11 => bail!(
                "no master key: the token holds none and there is no key file (run `piivault keys init --master-key-provider pkcs11`)"
            ),
        }
    }
    Ok(MasterKeyRing::new(keys, active, retired)?)
}

/// The next unused version number: past every version either provider holds or the
/// key file lists as retired.
pub fn next_version(ring: &MasterKeyRing) -> anyhow::Result<u32> {
    ring.versions()
        .chain(ring.retired_versions())
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .context("no master key version number left")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Custody, SecretKey};

    fn file_ring(text: &str) -> VersionedKeys {
        let key = SecretKey::from_bytes([9; 32]).to_base64();
        VersionedKeys::parse(&text.replace("KEY", &key)).unwrap()
    }

    #[test]
    fn the_key_file_alone_is_a_ring_for_either_provider() {
        let file = file_ring("active: 1\nretired: 3\n1:KEY\n2:KEY");
        for provider in [MasterKeyProvider::File, MasterKeyProvider::Pkcs11] {
            let ring = combine(provider, Some(&file), None).unwrap();
            // The token holds nothing yet: the file's active version stays active.
            assert_eq!(ring.active_version(), 1, "{provider}");
            assert_eq!(ring.custody(2), Some(Custody::Process));
            assert_eq!(next_version(&ring).unwrap(), 4, "past the retired 3");
        }
    }

    #[test]
    fn no_master_key_anywhere_is_an_error_that_says_what_to_run() {
        let file = combine(MasterKeyProvider::File, None, None).unwrap_err();
        assert!(file.to_string().contains("piivault keys init"), "{file}");
        let token = combine(MasterKeyProvider::Pkcs11, None, None).unwrap_err();
        assert!(
            token.to_string().contains("--master-key-provider pkcs11"),
            "{token}"
        );
    }
}
