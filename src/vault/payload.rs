//! Request payloads that arrive as JWE: the body as read and how it is serialized, how
//! many are decrypted at once, and the one function that decrypts one with the live
//! keys into the JSON object every JWE operation expects. The JWE profile itself (what
//! is accepted) is `jose`.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroize as _;

use super::{Core, Vault, VaultError};
use crate::jose::{JweError, JweSerialization};

/// A JWE request body, not yet decrypted.
pub struct JweBody {
    pub bytes: Bytes,
    pub serialization: JweSerialization,
}

/// A decrypted payload as a JSON object: personal data, so every string value in it
/// (at any depth) is wiped from memory when it is dropped. Member names are the API's
/// field names and are left as they are.
pub struct DecryptedObject(Map<String, Value>);

impl std::ops::Deref for DecryptedObject {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for DecryptedObject {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for DecryptedObject {
    fn drop(&mut self) {
        self.0.values_mut().for_each(wipe);
    }
}

fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(members) => members.values_mut().for_each(wipe),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The slots of JWE decryptions: two per core. A decryption (RSA above all) is pure
/// CPU, so many at once only share the cores, each taking several times its own
/// length. The requests beyond the slots wait in the order they came, in one queue for
/// the whole instance, holding no blocking thread, so database work and documents
/// still find one. Two per core, not one: a freed slot passes to the next request
/// through a wake of its HTTP worker and then of a blocking thread, and with one per
/// core registrations were 13–25 % slower (POST /users, BENCHMARKS.md, issue 16).
pub(crate) fn decryption_slots() -> Arc<Semaphore> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    Arc::new(Semaphore::new(SLOTS_PER_CORE * cores))
}

/// See [`decryption_slots`].
const SLOTS_PER_CORE: usize = 2;

/// Leave to decrypt one JWE body: [`decrypt_object`] takes it, and gives it back once
/// the decryption is done.
pub struct DecryptionSlot {
    _permit: OwnedSemaphorePermit,
}

/// `body` decrypted and read as a JSON object (JSON that names a key twice is refused,
/// like any other malformed JSON). A refusal is counted by its kind. CPU work: call it
/// on a blocking thread, with a slot from [`Vault::decryption_slot`].
pub fn decrypt_object(
    core: &Core,
    body: &JweBody,
    slot: DecryptionSlot,
) -> Result<DecryptedObject, VaultError> {
    let decrypted = core.keys.decrypt_jwe(&body.bytes, body.serialization);
    drop(slot);
    let plaintext = decrypted.map_err(|error| {
        core.metrics.jwe_refused(reason_class(&error));
        VaultError::InvalidJwe(error)
    })?;
    match crate::json::parse(&plaintext) {
        Ok(Value::Object(object)) => Ok(DecryptedObject(object)),
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
    /// A decryption slot, once one is free; requests get them in the order they
    /// asked. Dropping the future while it waits leaves the queue.
    pub(super) async fn decryption_slot(&self) -> Result<DecryptionSlot, VaultError> {
        let _waiting = self.core.metrics.decryption_waiting();
        let permit = Arc::clone(&self.core.decryptions)
            .acquire_owned()
            .await
            .map_err(|_| VaultError::Internal(anyhow::anyhow!("the decryption queue is closed")))?;
        Ok(DecryptionSlot { _permit: permit })
    }

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Compiles only for types that wipe what they hold when dropped.
    fn wipes_itself_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    #[test]
    fn opened_people_wipe_themselves_when_dropped() {
        wipes_itself_on_drop::<super::super::UserRecord>();
        wipes_itself_on_drop::<crate::pdf::RosterRow>();
    }

    #[test]
    fn wiping_a_payload_empties_every_string_at_any_depth() {
        let mut value = json!({
            "first_name": "Jack",
            "transactions": [{"details": "Paid to Mama Mboga", "amount": "-1250.00"}],
            "count": 2,
        });
        wipe(&mut value);
        assert_eq!(
            value,
            json!({"first_name": "", "transactions": [{"details": "", "amount": ""}], "count": 2})
        );
    }
}
