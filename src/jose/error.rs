//! Errors of the JWE layer. Variants help the operator's log; the client sees only
//! [`JweError::public_message`], the same sentence for every one of them. No variant
//! carries josekit or OpenSSL text or any plaintext.

/// Why a JWE was refused or could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JweError {
    #[error("malformed JWE: {0}")]
    Malformed(&'static str),
    #[error("JWE uses something this profile refuses: {0}")]
    Unsupported(&'static str),
    #[error("no key of ours matches the JWE")]
    UnknownKey,
    #[error("the JWE did not decrypt")]
    DecryptionFailed,
    #[error("encryption failed")]
    EncryptionFailed,
}

impl JweError {
    /// What the client is told, identical for every decryption failure.
    pub fn public_message(&self) -> &'static str {
        "The body is not a JWE this server accepts, or it does not decrypt."
    }
}

/// Why key material was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a PEM private key this service can read")]
    Unreadable,
    #[error("RSA keys must have at least 2048 bits (found {0})")]
    RsaTooSmall(u32),
    #[error("EC keys must be on P-256")]
    WrongCurve,
    #[error("only RSA and P-256 EC keys are supported")]
    UnsupportedType,
    #[error("two keys have the same kid")]
    DuplicateKid,
    #[error("key generation failed")]
    Generation,
}
