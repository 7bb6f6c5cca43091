//! The PDF standard security handler, revision 6 (ISO 32000-2:2020 §7.6.4, "AESV3"):
//! what a document's `/Encrypt` dictionary holds and how every string and stream of
//! the document is encrypted, one object at a time, as it is written.
//!
//! ```text
//! file key    = 32 random bytes (one per document)
//! password    = SASLprep(text), as UTF-8, truncated to 127 bytes       (§7.6.4.3.3, step a)
//! hash(p,s,u) = Algorithm 2.B: SHA-256(p ‖ s ‖ u), then at least 64 rounds of
//!               AES-128-CBC over 64 × (p ‖ K ‖ u) choosing SHA-256/384/512 by the
//!               sum of the first 16 bytes of the output mod 3
//! U  (48)     = hash(user, u_vsalt, "") ‖ u_vsalt(8) ‖ u_ksalt(8)        Algorithm 8
//! UE (32)     = AES-256-CBC(key = hash(user, u_ksalt, ""), iv = 0, no padding)(file key)
//! O  (48)     = hash(owner, o_vsalt, U) ‖ o_vsalt(8) ‖ o_ksalt(8)        Algorithm 9
//! OE (32)     = AES-256-CBC(key = hash(owner, o_ksalt, U), iv = 0, no padding)(file key)
//! Perms (16)  = AES-256-ECB(file key)(P as u32 LE ‖ FF FF FF FF ‖ "T" ‖ "adb" ‖ 4 random)
//!                                                                        Algorithm 10
//! string or stream s  ->  iv(16 random) ‖ AES-256-CBC(file key, iv, PKCS#7)(s)
//!                                                     §7.6.3 with the AESV3 crypt filter
//! ```
//!
//! With AESV3 the same file key encrypts every object (no per-object key, unlike the
//! older revisions), so objects can be encrypted in any order, each on its own. The
//! known-answer test recomputes qpdf's values (`tests/vectors/pdf/`).

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockCipherEncrypt as _, BlockModeEncrypt as _, KeyInit as _, KeyIvInit as _};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::PdfError;

/// `/P`: printing (bits 3 and 12), copying text (bit 5) and accessibility (bit 10)
/// allowed; changing the document not. The reserved bits 7–8 and 13–32 are 1.
pub const PERMISSIONS: i32 = -1324;

/// Whether `password` can open an R6 PDF as typed: readers pass it through SASLprep
/// (RFC 4013) first, which refuses control characters, unassigned code points and
/// text mixing right-to-left with left-to-right. Returns the prepared password (what
/// readers compare, before the cut to 127 bytes) or why it cannot be one.
pub fn prepare_password(password: &str) -> Result<String, &'static str> {
    stringprep::saslprep(password)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            "contains characters a PDF password cannot hold (control characters, \
             unassigned code points, or right-to-left mixed with left-to-right text)"
        })
}

/// A password as R6 uses it (§7.6.4.3.3 a): SASLprep, UTF-8, at most 127 bytes.
pub fn password_bytes(password: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let prepared = Zeroizing::new(prepare_password(password)?);
    let mut bytes = Zeroizing::new(prepared.as_bytes().to_vec());
    // §7.6.4.3.3 a): "truncated to 127 bytes" — bytes, even inside a character; readers
    // cut the password they are given the same way.
    bytes.truncate(127);
    Ok(bytes)
}

/// Algorithm 2.B: the hash of a password with a salt (and, for the owner, the 48-byte
/// `U` string).
fn hash(password: &[u8], salt: &[u8], user_key: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new(
        Sha256::new()
            .chain_update(password)
            .chain_update(salt)
            .chain_update(user_key)
            .finalize()
            .to_vec(),
    );
    let mut round: usize = 0;
    // Every buffer below holds the password or a value derived from it: each is wiped
    // when it is dropped (K is replaced as a whole, so its old value is wiped too).
    loop {
        let unit = Zeroizing::new([password, &k, user_key].concat());
        let mut k1 = Zeroizing::new(unit.repeat(64));
        let key: Zeroizing<[u8; 16]> = Zeroizing::new(k[..16].try_into().unwrap_or_default());
        let iv: Zeroizing<[u8; 16]> = Zeroizing::new(k[16..32].try_into().unwrap_or_default());
        let length = k1.len();
        // K1 is 64 repetitions, so a multiple of 16 bytes: no padding is needed.
        let e = Zeroizing::new(
            cbc::Encryptor::<aes::Aes128>::new((&*key).into(), (&*iv).into())
                .encrypt_padded::<NoPadding>(&mut k1, length)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        );
        let selector: u32 = e.iter().take(16).map(|&byte| u32::from(byte)).sum::<u32>() % 3;
        k = Zeroizing::new(match selector {
            0 => Sha256::digest(&*e).to_vec(),
            1 => Sha384::digest(&*e).to_vec(),
            _ => Sha512::digest(&*e).to_vec(),
        });
        round += 1;
        let last = usize::from(e.last().copied().unwrap_or(0));
        if round >= 64 && last + 32 <= round {
            break;
        }
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&k[..32]);
    out
}

/// AES-256-CBC with a zero IV and no padding over exactly 32 bytes (`UE`, `OE`).
fn wrap_file_key(key: &[u8; 32], file_key: &[u8; 32]) -> [u8; 32] {
    let mut buffer = *file_key;
    let _ = cbc::Encryptor::<aes::Aes256>::new(key.into(), &[0u8; 16].into())
        .encrypt_padded::<NoPadding>(&mut buffer, 32);
    buffer
}

/// The random inputs of one `/Encrypt` dictionary: salts and the tail of `Perms`.
pub struct Salts {
    pub user_validation: [u8; 8],
    pub user_key: [u8; 8],
    pub owner_validation: [u8; 8],
    pub owner_key: [u8; 8],
    pub perms_tail: [u8; 4],
}

impl Salts {
    pub fn random() -> Result<Self, PdfError> {
        let mut bytes = [0u8; 36];
        getrandom::fill(&mut bytes).map_err(|_| PdfError::Random)?;
        let take =
            |from: usize| -> [u8; 8] { bytes[from..from + 8].try_into().unwrap_or_default() };
        Ok(Self {
            user_validation: take(0),
            user_key: take(8),
            owner_validation: take(16),
            owner_key: take(24),
            perms_tail: bytes[32..36].try_into().unwrap_or_default(),
        })
    }
}

/// The values of an R6 `/Encrypt` dictionary.
pub struct EncryptDictionary {
    pub o: [u8; 48],
    pub u: [u8; 48],
    pub oe: [u8; 32],
    pub ue: [u8; 32],
    pub perms: [u8; 16],
}

impl EncryptDictionary {
    /// Algorithms 8, 9 and 10 for prepared passwords (see [`prepare_password`]).
    pub fn compute(file_key: &[u8; 32], user: &[u8], owner: &[u8], salts: &Salts) -> Self {
        let mut u = [0u8; 48];
        u[..32].copy_from_slice(&*hash(user, &salts.user_validation, &[]));
        u[32..40].copy_from_slice(&salts.user_validation);
        u[40..].copy_from_slice(&salts.user_key);
        let ue = wrap_file_key(&hash(user, &salts.user_key, &[]), file_key);

        let mut o = [0u8; 48];
        o[..32].copy_from_slice(&*hash(owner, &salts.owner_validation, &u));
        o[32..40].copy_from_slice(&salts.owner_validation);
        o[40..].copy_from_slice(&salts.owner_key);
        let oe = wrap_file_key(&hash(owner, &salts.owner_key, &u), file_key);

        let mut perms = [0u8; 16];
        perms[..4].copy_from_slice(&PERMISSIONS.to_le_bytes());
        perms[4..8].copy_from_slice(&[0xFF; 4]);
        perms[8] = b'T';
        perms[9..12].copy_from_slice(b"adb");
        perms[12..].copy_from_slice(&salts.perms_tail);
        aes::Aes256::new(file_key.into()).encrypt_block((&mut perms).into());
        Self {
            o,
            u,
            oe,
            ue,
            perms,
        }
    }
}

/// Encrypts a document's strings and streams under its file key.
pub struct Encryptor {
    file_key: Zeroizing<[u8; 32]>,
}

impl Encryptor {
    pub fn new(file_key: Zeroizing<[u8; 32]>) -> Self {
        Self { file_key }
    }

    /// `iv ‖ AES-256-CBC(data)` with PKCS#7 padding and a fresh random IV.
    pub fn encrypt(&self, data: &[u8]) -> Result<Vec<u8>, PdfError> {
        let mut iv = [0u8; 16];
        getrandom::fill(&mut iv).map_err(|_| PdfError::Random)?;
        let mut out = Vec::with_capacity(16 + data.len() + 16);
        out.extend_from_slice(&iv);
        out.extend_from_slice(data);
        out.resize(16 + (data.len() / 16 + 1) * 16, 0);
        cbc::Encryptor::<aes::Aes256>::new((&*self.file_key).into(), &iv.into())
            .encrypt_padded::<Pkcs7>(&mut out[16..], data.len())
            .map_err(|_| PdfError::Encrypt)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use aes::cipher::{BlockCipherDecrypt as _, BlockModeDecrypt as _};
    use serde_json::Value;

    use super::*;

    const VECTORS: &str = include_str!("../../tests/vectors/pdf/r6.json");

    fn hex(value: &Value) -> Vec<u8> {
        let text = value.as_str().unwrap();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn recomputes_qpdfs_encrypt_dictionaries() {
        let vectors: Value = serde_json::from_str(VECTORS).unwrap();
        let cases = vectors["cases"].as_array().unwrap();
        assert!(cases.len() >= 3);
        for case in cases {
            let file_key: [u8; 32] = hex(&case["file_key"]).try_into().unwrap();
            let (o, u) = (hex(&case["o"]), hex(&case["u"]));
            // The random tail of Perms is read back by decrypting qpdf's value.
            let mut perms: [u8; 16] = hex(&case["perms"]).try_into().unwrap();
            aes::Aes256::new((&file_key).into()).decrypt_block((&mut perms).into());
            assert_eq!(&perms[8..12], b"Tadb", "{case}");
            assert_eq!(case["p"].as_i64(), Some(i64::from(PERMISSIONS)));
            let salts = Salts {
                user_validation: u[32..40].try_into().unwrap(),
                user_key: u[40..48].try_into().unwrap(),
                owner_validation: o[32..40].try_into().unwrap(),
                owner_key: o[40..48].try_into().unwrap(),
                perms_tail: perms[12..].try_into().unwrap(),
            };
            let user = password_bytes(case["user_password"].as_str().unwrap()).unwrap();
            let owner = password_bytes(case["owner_password"].as_str().unwrap()).unwrap();
            let computed = EncryptDictionary::compute(&file_key, &user, &owner, &salts);
            assert_eq!(computed.u.to_vec(), u, "U {case}");
            assert_eq!(computed.ue.to_vec(), hex(&case["ue"]), "UE {case}");
            assert_eq!(computed.o.to_vec(), o, "O {case}");
            assert_eq!(computed.oe.to_vec(), hex(&case["oe"]), "OE {case}");
            assert_eq!(computed.perms.to_vec(), hex(&case["perms"]), "Perms {case}");
        }
    }

    #[test]
    fn passwords_are_prepared_then_cut_to_127_bytes() {
        assert_eq!(password_bytes(&"A".repeat(128)).unwrap().len(), 127);
        let accented = password_bytes(&"é".repeat(64)).unwrap();
        assert_eq!(accented.len(), 127, "cut inside the last character");
        assert_eq!(&accented[..2], "é".as_bytes());
        // SASLprep maps non-ASCII spaces to a space and refuses control characters.
        assert_eq!(&*password_bytes("a\u{00A0}b").unwrap(), b"a b");
        assert!(password_bytes("a\u{0007}b").is_err());
    }

    #[test]
    fn strings_decrypt_back_with_the_file_key() {
        let key = Zeroizing::new([7u8; 32]);
        let encryptor = Encryptor::new(key.clone());
        for length in [0, 1, 15, 16, 17, 1000] {
            let data: Vec<u8> = (0..length)
                .map(|i| u8::try_from(i % 251).unwrap())
                .collect();
            let sealed = encryptor.encrypt(&data).unwrap();
            assert_eq!(sealed.len(), 16 + (length / 16 + 1) * 16);
            let (iv, body) = sealed.split_at(16);
            let iv: [u8; 16] = iv.try_into().unwrap();
            let mut body = body.to_vec();
            let opened = cbc::Decryptor::<aes::Aes256>::new((&*key).into(), &iv.into())
                .decrypt_padded::<Pkcs7>(&mut body)
                .unwrap();
            assert_eq!(opened, &data[..]);
        }
        assert_ne!(
            encryptor.encrypt(b"same").unwrap(),
            encryptor.encrypt(b"same").unwrap(),
            "a fresh IV each time"
        );
    }
}
