//! The hardened JWE profile: how requests encrypted to piivault are accepted.
//!
//! josekit does the cryptography; this module decides what reaches it. Accepted:
//! `alg` RSA-OAEP-256, RSA-OAEP (RSA ≥ 2048) or ECDH-ES+A256KW (P-256), `enc` A256GCM,
//! compact or JSON (flattened, general) serialization. Refused before josekit is
//! called: `zip` (an unbounded inflate), `crit`, any other algorithm, a `kid` we do not
//! hold, non-canonical base64url, and segments of the wrong length (a short ECDH-ES key
//! makes josekit panic). Every refusal looks the same to the client.

mod decrypt;
mod error;
mod key;
mod keyring;
mod profile;

pub use error::{JweError, KeyError};
pub use key::{generate_p256_pem, generate_rsa_pem};
pub use keyring::JweKeyRing;

/// How a request body serializes its JWE (chosen by the Content-Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JweSerialization {
    Compact,
    /// Flattened or general JSON serialization.
    Json,
}

#[cfg(test)]
mod tests;
