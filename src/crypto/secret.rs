//! 256-bit secret keys as a type: zeroized on drop, never printed, compared in
//! constant time only where needed by callers (never here).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;

/// A 256-bit symmetric key. `Debug` prints nothing secret.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("a key must be exactly 32 bytes"))?;
        Ok(Self(array))
    }

    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
        Ok(Self(bytes))
    }

    /// Parses standard base64 (as written in key files and environment variables).
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let mut decoded = STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError::InvalidKey("a key must be standard base64"))?;
        let key = Self::from_slice(&decoded);
        decoded.zeroize();
        key
    }

    pub fn to_base64(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(STANDARD.encode(self.0))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_key_bytes() {
        let key = SecretKey::from_bytes([0xAB; 32]);
        let printed = format!("{key:?}");
        assert!(!printed.contains("171") && !printed.to_lowercase().contains("ab"));
    }

    #[test]
    fn base64_round_trip_and_length_check() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.expose(), again.expose());
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
        assert!(SecretKey::from_base64("not base64!").is_err());
    }
}
