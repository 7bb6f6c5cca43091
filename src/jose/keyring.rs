//! The ring of JWE keys, addressed by kid: building it from PEM keys, the public JWKS,
//! and encryption for the dev route and tests. Decryption is `decrypt.rs`.

use std::fmt;

use josekit::jwe::{JweContext, JweEncrypter, JweHeader, JweHeaderSet};
use serde_json::{json, Value};

use super::key::JweKey;
use super::profile::Alg;
use super::{JweError, KeyError};

pub struct JweKeyRing {
    pub(super) keys: Vec<JweKey>,
    /// josekit with everything outside the profile unregistered, as a second wall.
    pub(super) context: JweContext,
}

impl fmt::Debug for JweKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JweKeyRing")
            .field("kids", &self.kids())
            .finish()
    }
}

fn hardened_context() -> JweContext {
    let mut context = JweContext::new();
    context.remove_compression("DEF");
    for enc in [
        "A128CBC-HS256",
        "A192CBC-HS384",
        "A256CBC-HS512",
        "A128GCM",
        "A192GCM",
    ] {
        context.remove_content_encryption(enc);
    }
    context
}

impl JweKeyRing {
    /// Keys from PEM private keys (PKCS#8 or traditional): RSA ≥ 2048 bits or P-256.
    /// Each key's kid is its RFC 7638 thumbprint.
    pub fn from_pems(pems: &[&str]) -> Result<Self, KeyError> {
        Self::build(pems.iter().map(|pem| JweKey::from_pem(pem, None)))
    }

    /// Keys with kids chosen by the caller (published test vectors name their own).
    #[cfg(test)]
    pub(super) fn from_pems_with_kids(keys: &[(&str, &str)]) -> Result<Self, KeyError> {
        Self::build(
            keys.iter()
                .map(|(kid, pem)| JweKey::from_pem(pem, Some(kid))),
        )
    }

    fn build(keys: impl Iterator<Item = Result<JweKey, KeyError>>) -> Result<Self, KeyError> {
        let keys = keys.collect::<Result<Vec<_>, _>>()?;
        for (index, key) in keys.iter().enumerate() {
            if keys[..index].iter().any(|other| other.kid == key.kid) {
                return Err(KeyError::DuplicateKid);
            }
        }
        Ok(Self {
            keys,
            context: hardened_context(),
        })
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|key| key.kid.clone()).collect()
    }

    /// The public JWKS: `kty`, `kid`, `use`, `alg` and public parameters only; an RSA
    /// key appears once per algorithm it accepts (RSA-OAEP-256, then RSA-OAEP).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .flat_map(|key| key.public_jwks.iter().cloned())
            .collect();
        json!({ "keys": keys })
    }

    /// Flattened JSON serialization to the first RSA key, RSA-OAEP-256 + A256GCM.
    pub fn encrypt_flattened(&self, plaintext: &[u8]) -> Result<String, JweError> {
        let (key, encrypter) = self.encryption_key(Alg::RsaOaep256)?;
        let mut header = JweHeaderSet::new();
        header.set_content_encryption("A256GCM", true);
        header.set_key_id(&key.kid, true);
        self.context
            .serialize_flattened_json(plaintext, Some(&header), None, None, encrypter)
            .map_err(|_| JweError::EncryptionFailed)
    }

    /// Compact serialization with the given algorithm name, to the first key that fits.
    pub fn encrypt_compact(&self, plaintext: &[u8], alg: &str) -> Result<String, JweError> {
        let alg = Alg::parse(alg).ok_or(JweError::Unsupported("alg"))?;
        let (key, encrypter) = self.encryption_key(alg)?;
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        header.set_key_id(&key.kid);
        self.context
            .serialize_compact(plaintext, &header, encrypter)
            .map_err(|_| JweError::EncryptionFailed)
    }

    fn encryption_key(&self, alg: Alg) -> Result<(&JweKey, &dyn JweEncrypter), JweError> {
        self.keys
            .iter()
            .find_map(|key| key.encrypter(alg).map(|encrypter| (key, encrypter)))
            .ok_or(JweError::UnknownKey)
    }
}
