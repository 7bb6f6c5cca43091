//! Versioned key sets, the shape shared by the master key ring and the blind-index
//! key ring: numbered 256-bit keys, one of them active (used for new values), and the
//! numbers of retired versions, kept so that a number is never handed out twice.
//!
//! ```text
//! ring    = *( comment / "active:" version / "retired:" *version / version ":" base64key )
//!           separated by newlines (or commas, for an environment variable)
//! ```
//! Without an `active:` line the highest version is active. A bare base64 key with no
//! version is version 1 (the single-key form the blind-index key had before rotation).

use std::collections::{BTreeMap, BTreeSet};

use super::{CryptoError, SecretKey};

#[derive(Debug, Clone)]
pub struct VersionedKeys {
    keys: BTreeMap<u32, SecretKey>,
    active: u32,
    retired: BTreeSet<u32>,
}

impl VersionedKeys {
    /// A set from `(version, key)` pairs, the highest active; versions start at 1.
    pub fn new(keys: impl IntoIterator<Item = (u32, SecretKey)>) -> Result<Self, CryptoError> {
        let mut map = BTreeMap::new();
        for (version, key) in keys {
            insert_unique(&mut map, version, key)?;
        }
        Self::checked(map, None, BTreeSet::new())
    }

    fn checked(
        keys: BTreeMap<u32, SecretKey>,
        active: Option<u32>,
        retired: BTreeSet<u32>,
    ) -> Result<Self, CryptoError> {
        let highest = keys
            .keys()
            .next_back()
            .copied()
            .ok_or(CryptoError::InvalidKey("the key ring is empty"))?;
        let active = active.unwrap_or(highest);
        if !keys.contains_key(&active) {
            return Err(CryptoError::InvalidKey(
                "the active version has no key in the ring",
            ));
        }
        if keys.keys().any(|version| retired.contains(version)) {
            return Err(CryptoError::InvalidKey(
                "a retired version still has a key in the ring",
            ));
        }
        Ok(Self {
            keys,
            active,
            retired,
        })
    }

    /// Parses the file / environment form (module docs).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let mut keys = BTreeMap::new();
        let mut active = None;
        let mut retired = BTreeSet::new();
        for line in text
            .split(['\n', ','])
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
        {
            match line.split_once(':') {
                Some(("active", version)) => active = Some(parse_version(version)?),
                Some(("retired", versions)) => {
                    for version in versions.split_whitespace() {
                        retired.insert(parse_version(version)?);
                    }
                }
                Some((version, key)) => {
                    insert_unique(
                        &mut keys,
                        parse_version(version)?,
                        SecretKey::from_base64(key)?,
                    )?;
                }
                None => insert_unique(&mut keys, 1, SecretKey::from_base64(line)?)?,
            }
        }
        Self::checked(keys, active, retired)
    }

    /// The form [`parse`](Self::parse) reads, with the active version written out.
    pub fn to_text(&self) -> zeroize::Zeroizing<String> {
        let mut text = zeroize::Zeroizing::new(String::new());
        text.push_str("# version:base64key per line; `active` wraps or indexes new values\n");
        text.push_str("active: ");
        text.push_str(&self.active.to_string());
        text.push('\n');
        if !self.retired.is_empty() {
            let retired: Vec<String> = self.retired.iter().map(u32::to_string).collect();
            text.push_str("retired: ");
            text.push_str(&retired.join(" "));
            text.push('\n');
        }
        for (version, key) in &self.keys {
            text.push_str(&version.to_string());
            text.push(':');
            text.push_str(&key.to_base64());
            text.push('\n');
        }
        text
    }

    pub fn active_version(&self) -> u32 {
        self.active
    }

    /// Every version with a key (the active one included), ascending.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    pub fn retired_versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.retired.iter().copied()
    }

    pub fn key(&self, version: u32) -> Result<&SecretKey, CryptoError> {
        self.keys
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion(version))
    }

    /// Adds a fresh key under the next unused version and makes it active.
    pub fn rotate(&mut self) -> Result<u32, CryptoError> {
        let version = self
            .highest_used()
            .checked_add(1)
            .ok_or(CryptoError::InvalidKey("no key version left"))?;
        self.add_active(version)
    }

    /// Adds a fresh key under `version`, which must be past every version used here
    /// (the caller may know of higher ones held elsewhere), and makes it active.
    pub fn add_active(&mut self, version: u32) -> Result<u32, CryptoError> {
        if version <= self.highest_used() {
            return Err(CryptoError::InvalidKey("a key version is never reused"));
        }
        self.keys.insert(version, SecretKey::generate()?);
        self.active = version;
        Ok(version)
    }

    fn highest_used(&self) -> u32 {
        self.keys
            .keys()
            .chain(self.retired.iter())
            .max()
            .copied()
            .unwrap_or(0)
    }

    /// Destroys a version's key and records the number as retired. The active
    /// version cannot be retired. Whether anything still uses it is the caller's
    /// question (it needs the database).
    pub fn retire(&mut self, version: u32) -> Result<(), CryptoError> {
        if version == self.active {
            return Err(CryptoError::InvalidKey(
                "the active version cannot be retired",
            ));
        }
        if self.keys.remove(&version).is_none() {
            return Err(CryptoError::UnknownKeyVersion(version));
        }
        self.retired.insert(version);
        Ok(())
    }
}

fn parse_version(text: &str) -> Result<u32, CryptoError> {
    match text.trim().parse::<u32>() {
        Ok(0) => Err(CryptoError::InvalidKey("key versions start at 1")),
        Ok(version) => Ok(version),
        Err(_) => Err(CryptoError::InvalidKey("a key version must be a number")),
    }
}

fn insert_unique(
    keys: &mut BTreeMap<u32, SecretKey>,
    version: u32,
    key: SecretKey,
) -> Result<(), CryptoError> {
    if version == 0 {
        return Err(CryptoError::InvalidKey("key versions start at 1"));
    }
    if keys.insert(version, key).is_some() {
        return Err(CryptoError::InvalidKey("a key version appears twice"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        SecretKey::from_bytes([byte; 32]).to_base64().to_string()
    }

    #[test]
    fn highest_is_active_unless_named() {
        let text = format!("1:{}\n2:{}", key(1), key(2));
        assert_eq!(VersionedKeys::parse(&text).unwrap().active_version(), 2);
        let named = format!("active: 1\n1:{}\n2:{}", key(1), key(2));
        assert_eq!(VersionedKeys::parse(&named).unwrap().active_version(), 1);
        let missing = format!("active: 3\n1:{}", key(1));
        assert!(VersionedKeys::parse(&missing).is_err());
    }

    #[test]
    fn a_bare_key_is_version_1() {
        let ring = VersionedKeys::parse(&format!("{}\n", key(7))).unwrap();
        assert_eq!(ring.versions().collect::<Vec<_>>(), vec![1]);
        assert_eq!(ring.key(1).unwrap().expose(), &[7; 32]);
    }

    #[test]
    fn rotate_and_retire_round_trip_through_text() {
        let mut ring = VersionedKeys::parse(&format!("1:{}", key(1))).unwrap();
        assert_eq!(ring.rotate().unwrap(), 2);
        assert!(ring.retire(2).is_err(), "active");
        ring.retire(1).unwrap();
        assert!(ring.retire(1).is_err(), "already gone");
        let reread = VersionedKeys::parse(&ring.to_text()).unwrap();
        assert_eq!(reread.active_version(), 2);
        assert_eq!(reread.versions().collect::<Vec<_>>(), vec![2]);
        assert_eq!(reread.retired_versions().collect::<Vec<_>>(), vec![1]);
        assert!(reread.key(1).is_err());
        // A retired number is never reused.
        let mut again = reread;
        assert_eq!(again.rotate().unwrap(), 3);
    }

    #[test]
    fn refuses_malformed_rings() {
        for text in [
            String::new(),
            "0:AAAA".to_owned(),
            "x:AAAA".to_owned(),
            format!("1:{}\n1:{}", key(1), key(2)),
            format!("retired: 1\n1:{}", key(1)),
            format!("active: x\n1:{}", key(1)),
        ] {
            assert!(VersionedKeys::parse(&text).is_err(), "{text:?}");
        }
    }
}
