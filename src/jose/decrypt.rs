//! Where a request's JWE is decrypted: the profile's checks (`profile.rs`) pick the
//! candidate recipients before any key is touched, then the key the `kid` names (or
//! every key of the right type) is tried through josekit. Every failure, a panic
//! inside josekit included, ends as one of the coarse [`JweError`]s the client sees as
//! the same sentence.

use std::panic::{catch_unwind, AssertUnwindSafe};

use zeroize::Zeroizing;

use super::key::{JweKey, KeyKind};
use super::profile::{parse_compact, parse_json, Alg, Candidate};
use super::{JweError, JweKeyRing, JweSerialization};

impl JweKeyRing {
    /// Decrypts a request body under the profile (see the module docs).
    pub fn decrypt(
        &self,
        body: &[u8],
        serialization: JweSerialization,
    ) -> Result<Zeroizing<Vec<u8>>, JweError> {
        let candidates = match serialization {
            JweSerialization::Compact => parse_compact(body)?,
            JweSerialization::Json => parse_json(body)?,
        };
        // A recipient for another party's key (a general JSON JWE addressed to several
        // parties) is passed over: only when none is ours does the kid count against it.
        let mut last_error = JweError::UnknownKey;
        for candidate in &candidates {
            for key in self.keys_for(candidate) {
                match self.decrypt_with(candidate, key) {
                    Ok(plaintext) => return Ok(plaintext),
                    Err(error) => last_error = error,
                }
            }
        }
        Err(last_error)
    }

    /// The keys a candidate may be for: the one its kid names, else every key of
    /// the right type.
    fn keys_for(&self, candidate: &Candidate) -> Vec<&JweKey> {
        let right_type = |key: &&JweKey| match candidate.alg {
            Alg::RsaOaep256 | Alg::RsaOaep => matches!(key.kind, KeyKind::Rsa { .. }),
            Alg::EcdhEsA256Kw => key.kind == KeyKind::P256,
        };
        match &candidate.kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|key| &key.kid == kid)
                .filter(right_type)
                .collect(),
            None => self.keys.iter().filter(right_type).collect(),
        }
    }

    fn decrypt_with(
        &self,
        candidate: &Candidate,
        key: &JweKey,
    ) -> Result<Zeroizing<Vec<u8>>, JweError> {
        if candidate.encrypted_key_len != key.encrypted_key_len(candidate.alg) {
            return Err(JweError::Malformed(
                "encrypted key has the wrong length for the key",
            ));
        }
        let decrypter = key.decrypter(candidate.alg).ok_or(JweError::UnknownKey)?;
        // josekit has panicked on hostile input before: a panic is a failed decryption.
        let result = catch_unwind(AssertUnwindSafe(|| match candidate.serialization {
            JweSerialization::Compact => self
                .context
                .deserialize_compact(&candidate.input, decrypter),
            JweSerialization::Json => self.context.deserialize_json(&candidate.input, decrypter),
        }));
        match result {
            Ok(Ok((plaintext, _header))) => Ok(Zeroizing::new(plaintext)),
            Ok(Err(_)) | Err(_) => Err(JweError::DecryptionFailed),
        }
    }
}
