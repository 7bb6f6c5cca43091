//! The metadata key: authenticates what the service trusts from a database row that
//! decides access (who holds a token, which scopes a client has, whether it is
//! revoked, which user and period a statement link opens), so that a database writer
//! cannot forge or edit such a row. The key is never in the database: it lives in the
//! keys dir (or its environment variable) like the other keys (`keys`).
//!
//! ```text
//! part(x)      = u32_be(len(x)) ‖ x
//! TokenDigest  = HMAC-SHA256(K, part(label) ‖ SHA-256(token))            (32 bytes)
//! RowMac       = HMAC-SHA256(K, part(label) ‖ part(field_1) ‖ … ‖ part(field_n))
//! ```
//! Every use names its own label (`piivault/v1/<table>.<column>`), so a value made
//! for one purpose never verifies for another. A token digest is keyed over the
//! token's SHA-256 rather than the token itself so that a plain SHA-256 stored by an
//! older version can be upgraded in place (`vault::metadata`). The fields of each row
//! MAC and their order are given in `docs/formats.md`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::SecretKey;

/// The server's metadata MAC key. `Debug` prints nothing secret.
#[derive(Debug, Clone)]
pub struct MetadataKey(SecretKey);

impl MetadataKey {
    pub fn new(secret: SecretKey) -> Self {
        Self(secret)
    }

    fn keyed(&self, label: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        update_part(&mut mac, label.as_bytes());
        mac
    }

    /// The stored look-up digest of a secret whose SHA-256 is `sha256`.
    pub fn token_digest(&self, label: &str, sha256: &[u8; 32]) -> [u8; 32] {
        let mut mac = self.keyed(label);
        mac.update(sha256);
        mac.finalize().into_bytes().into()
    }

    /// The MAC of a row's fields, in order.
    pub fn row_mac(&self, label: &str, fields: &[&[u8]]) -> [u8; 32] {
        self.row(label, fields).finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of these fields (compared in constant time).
    pub fn verify_row(&self, label: &str, fields: &[&[u8]], tag: &[u8]) -> bool {
        self.row(label, fields).verify_slice(tag).is_ok()
    }

    fn row(&self, label: &str, fields: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = self.keyed(label);
        for field in fields {
            update_part(&mut mac, field);
        }
        mac
    }
}

fn update_part(mac: &mut Hmac<Sha256>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len())
        .unwrap_or_else(|_| unreachable!("row fields are far shorter than 4 GiB"));
    mac.update(&length.to_be_bytes());
    mac.update(bytes);
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    fn key(byte: u8) -> MetadataKey {
        MetadataKey::new(SecretKey::from_bytes([byte; 32]))
    }

    #[test]
    fn digests_and_macs_follow_the_documented_bytes() {
        let mut expected = <Hmac<Sha256> as Mac>::new_from_slice(&[7; 32]).unwrap();
        expected.update(b"\x00\x00\x00\x05label");
        expected.update(&[9; 32]);
        let expected: [u8; 32] = expected.finalize().into_bytes().into();
        assert_eq!(key(7).token_digest("label", &[9; 32]), expected);

        let mut expected = <Hmac<Sha256> as Mac>::new_from_slice(&[7; 32]).unwrap();
        expected.update(b"\x00\x00\x00\x05label\x00\x00\x00\x02ab\x00\x00\x00\x00");
        let expected: [u8; 32] = expected.finalize().into_bytes().into();
        assert_eq!(key(7).row_mac("label", &[b"ab", b""]), expected);
    }

    #[test]
    fn labels_keys_and_field_boundaries_all_count() {
        let tag = key(7).row_mac("a", &[b"xy", b"z"]);
        assert!(key(7).verify_row("a", &[b"xy", b"z"], &tag));
        assert!(!key(7).verify_row("b", &[b"xy", b"z"], &tag), "other label");
        assert!(!key(8).verify_row("a", &[b"xy", b"z"], &tag), "other key");
        assert!(
            !key(7).verify_row("a", &[b"x", b"yz"], &tag),
            "moved boundary"
        );
        assert!(
            !key(7).verify_row("a", &[b"xy", b"z"], &tag[..31]),
            "short tag"
        );
        assert_ne!(
            key(7).token_digest("a", &[1; 32]),
            key(7).token_digest("b", &[1; 32])
        );
    }
}
