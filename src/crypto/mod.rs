//! Field-level cryptography at rest: the master key ring (KEK) that wraps per-user data
//! keys (DEK), sealing and opening of single fields under a DEK, per-file keys derived
//! from a DEK for streamed files, and blind indexes for exact look-ups. The byte formats
//! are specified in `docs/formats.md` and pinned by the known-answer vectors in
//! `tests/vectors/crypto/`.

mod aead;
mod blind_index;
mod data_key;
mod field;
mod file_key;
mod kek;
mod master_key;
mod metadata_key;
pub mod passphrase;
mod secret;
mod versioned;

pub use aead::NONCE_LEN;
pub use blind_index::{bits_for_population, BlindIndex, BlindIndexKey, BlindIndexKeyRing};
pub use data_key::{DataKey, WrappedDataKey};
pub use field::{FieldContext, SealedField};
pub use file_key::{new_file_randomness, FileKey, FileStream, FILE_SALT_LEN, NONCE_PREFIX_LEN};
pub use kek::{Custody, KeyEncryptionKey};
pub use master_key::MasterKeyRing;
pub use metadata_key::MetadataKey;
pub use secret::{random_bytes, SecretKey};
pub use versioned::VersionedKeys;

/// Why a cryptographic operation failed. Deliberately coarse: it names the kind of
/// failure and nothing an attacker could use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("sealed value is malformed or of an unknown format version")]
    Malformed,
    #[error("sealed value does not authenticate under this key and context")]
    Unauthentic,
    #[error("no master key with version {0} is loaded")]
    UnknownKeyVersion(u32),
    #[error("invalid key material: {0}")]
    InvalidKey(&'static str),
    #[error("the operating system's random number generator failed")]
    Random,
    /// The token (HSM) holding a master key did not answer: a refusal of the service,
    /// not of the data (the caller may try again).
    #[error("the token holding the master key is unavailable")]
    Unavailable,
}

#[cfg(test)]
mod known_answers;
