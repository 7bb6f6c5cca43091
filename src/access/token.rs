//! Bearer tokens: `pv_` followed by 256 random bits in base64url. Only a digest is
//! stored: HMAC-SHA256 under the metadata key of the token's SHA-256
//! (`crypto::MetadataKey`), so a database writer cannot make a row that a token of
//! its choosing matches. A token with that much entropy needs no slow hash.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{random_bytes, CryptoError, MetadataKey};

const PREFIX: &str = "pv_";
/// The label of a token's stored digest.
const DIGEST_LABEL: &str = "piivault/v1/api_clients.token_hash";

/// Cloned only to hold a claim until a registration is committed; each copy is zeroed
/// when dropped.
#[derive(Clone)]
pub struct ApiToken(Zeroizing<String>);

impl ApiToken {
    pub fn generate() -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(random_bytes::<32>()?);
        Ok(Self(Zeroizing::new(format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes.as_slice())
        ))))
    }

    /// Accepts a presented token; anything that cannot be one of ours is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(PREFIX)?;
        let well_formed = body.len() == 43
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(Zeroizing::new(text.to_owned())))
    }

    /// The token's SHA-256: how this instance tells tokens apart in memory (quotas).
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// What `api_clients.token_hash` holds for this token.
    pub fn digest(&self, key: &MetadataKey) -> [u8; 32] {
        stored_digest(key, &self.hash())
    }

    /// The token itself, to show once to whoever created it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

/// The stored digest of a token whose SHA-256 is `sha256`: also how a SHA-256 stored
/// by an older version is upgraded in place.
pub fn stored_digest(key: &MetadataKey, sha256: &[u8; 32]) -> [u8; 32] {
    key.token_digest(DIGEST_LABEL, sha256)
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_hash_stably() {
        let token = ApiToken::generate().unwrap();
        let parsed = ApiToken::parse(token.reveal()).unwrap();
        assert_eq!(parsed.hash(), token.hash());
        assert_ne!(ApiToken::generate().unwrap().hash(), token.hash());
        assert!(ApiToken::parse("pv_short").is_none());
        assert!(ApiToken::parse(&token.reveal().replace("pv_", "xx_")).is_none());
        assert!(!format!("{token:?}").contains(&token.reveal()[3..]));
    }

    #[test]
    fn the_stored_digest_is_keyed_and_upgrades_a_plain_hash() {
        let token = ApiToken::generate().unwrap();
        let key = MetadataKey::new(crate::crypto::SecretKey::from_bytes([5; 32]));
        let other = MetadataKey::new(crate::crypto::SecretKey::from_bytes([6; 32]));
        assert_eq!(token.digest(&key), stored_digest(&key, &token.hash()));
        assert_ne!(token.digest(&key), token.digest(&other));
        assert_ne!(token.digest(&key), token.hash());
    }
}
