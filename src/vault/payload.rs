//! Request payloads that arrive as JWE: the body as read and how it is serialized, and
//! the one function that decrypts it with the live keys into the JSON object every
//! JWE operation expects. The JWE profile itself (what is accepted) is `jose`.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{Core, Vault, VaultError};
use crate::jose::{JweError, JweSerialization};

/// A JWE request body, not yet decrypted.
pub struct JweBody {
    pub bytes: Bytes,
    pub serialization: JweSerialization,
}

/// `body` decrypted and read as a JSON object (JSON that names a key twice is refused,
/// like any other malformed JSON). A refusal is counted by its kind. CPU work: call it
/// on a blocking thread.
pub fn decrypt_object(core: &Core, body: &JweBody) -> Result<Map<String, Value>, VaultError> {
    let plaintext = core
        .keys
        .decrypt_jwe(&body.bytes, body.serialization)
        .map_err(|error| {
            core.metrics.jwe_refused(reason_class(&error));
            VaultError::InvalidJwe(error)
        })?;
    match crate::json::parse(&plaintext) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(VaultError::InvalidJson("the payload must be a JSON object")),
        Err(error) => Err(VaultError::InvalidJson(
            error.message("the decrypted payload is not valid JSON"),
        )),
    }
}

/// The metrics label of a refusal: its kind, never its details.
fn reason_class(error: &JweError) -> &'static str {
    match error {
        JweError::Malformed(_) => "malformed",
        JweError::Unsupported(_) => "unsupported",
        JweError::UnknownKey => "unknown_key",
        JweError::DecryptionFailed | JweError::EncryptionFailed => "decryption_failed",
    }
}

impl Vault {
    /// POST /encrypt-data (dev mode only): `value` as a flattened JSON JWE to the
    /// server's own RSA key, for a Postman user without JOSE tooling.
    pub async fn encrypt_to_self(&self, value: Value) -> Result<String, VaultError> {
        self.blocking(move |core| {
            let plaintext = serde_json::to_vec(&value).map_err(VaultError::internal)?;
            core.keys
                .current()
                .jwe
                .encrypt_flattened(&plaintext)
                .map_err(VaultError::internal)
        })
        .await
    }
}
