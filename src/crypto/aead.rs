//! The one AES-256-GCM envelope every at-rest format shares:
//! `header ‖ nonce(12) ‖ ciphertext ‖ tag(16)`, with a random 96-bit nonce per seal.
//! Callers own the header bytes and the associated data.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};

use super::{random_bytes, CryptoError, SecretKey};

pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// Seals `plaintext` as `header ‖ nonce ‖ ciphertext ‖ tag` under a fresh random nonce.
pub fn seal(
    key: &SecretKey,
    header: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal_with_nonce(key, header, random_bytes::<NONCE_LEN>()?, aad, plaintext)
}

/// Deterministic form of [`seal`]; only the known-answer tests pick the nonce.
pub fn seal_with_nonce(
    key: &SecretKey,
    header: &[u8],
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let ciphertext = encrypt(key, &nonce, aad, plaintext)?;
    let mut sealed = Vec::with_capacity(header.len() + NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(header);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Opens what [`seal`] produced; `header_len` bytes are skipped (the caller has
/// already parsed them).
pub fn open(
    key: &SecretKey,
    header_len: usize,
    aad: &[u8],
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < header_len + NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let (nonce, ciphertext) = split_nonce(&sealed[header_len..])?;
    decrypt(key, nonce, aad, ciphertext)
}

/// Splits `nonce ‖ ciphertext ‖ tag` (too short to hold a nonce and a tag: malformed).
pub fn split_nonce(sealed: &[u8]) -> Result<(&[u8; NONCE_LEN], &[u8]), CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
    Ok((nonce, ciphertext))
}

/// AES-256-GCM alone: `ciphertext ‖ tag` of `plaintext` under `key` and `nonce`.
pub fn encrypt(
    key: &SecretKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    cipher(key)
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Malformed)
}

/// The inverse of [`encrypt`]: a tag that does not verify is `Unauthentic`.
pub fn decrypt(
    key: &SecretKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    cipher(key)
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(zeroize::Zeroizing::new)
        .map_err(|_| CryptoError::Unauthentic)
}

/// The cipher for `key`, which it borrows rather than copies (a `Key` made from the
/// bytes would be a copy left unwiped); the expanded key schedule inside the cipher is
/// wiped when it is dropped (aes-gcm's `zeroize` feature).
fn cipher(key: &SecretKey) -> Aes256Gcm {
    Aes256Gcm::new(key.expose().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only for types that wipe their secrets when dropped.
    fn wipes_itself_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    #[test]
    fn ciphers_and_keys_wipe_themselves_when_dropped() {
        // The expanded key schedules (aes-gcm's and cbc's `zeroize` features).
        wipes_itself_on_drop::<Aes256Gcm>();
        wipes_itself_on_drop::<aes::Aes256>();
        wipes_itself_on_drop::<cbc::Encryptor<aes::Aes128>>();
        wipes_itself_on_drop::<cbc::Encryptor<aes::Aes256>>();
        // Ours.
        wipes_itself_on_drop::<SecretKey>();
    }

    #[test]
    fn a_cipher_borrows_its_key_and_still_seals_and_opens() {
        let key = SecretKey::from_bytes([7; 32]);
        let sealed = seal(&key, b"h", b"aad", b"plain").unwrap();
        let opened = open(&key, 1, b"aad", &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"plain");
    }
}
