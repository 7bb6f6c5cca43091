//! Where a PDF is encrypted: AES-256 encryption of a finished PDF with lopdf: PDF 2.0, standard security
//! handler revision 6 (V5, AESV3), a random 256-bit file key per document.
//!
//! The password a reader checks is not the text typed but [`reader_password_bytes`]:
//! SASLprep'ed UTF-8 cut to 127 bytes (ISO 32000-2, 7.6.4.3.3, Algorithm 2.A step a),
//! possibly in the middle of a character, as qpdf and poppler cut it. lopdf's writer
//! takes the password as text and does not cut it, so the entries that depend on the
//! passwords (`/U`, `/UE`, `/O`, `/OE`: Algorithms 8 and 9 over the hash of Algorithm
//! 2.B) are computed here from those bytes and written over the ones lopdf made.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use lopdf::encryption::crypt_filters::{Aes256CryptFilter, CryptFilter};
use lopdf::{Document, EncryptionState, EncryptionVersion, Object, Permissions};
use zeroize::Zeroizing;

use super::PdfError;

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, PdfError> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut()).map_err(|_| PdfError::Random)?;
    Ok(bytes)
}

/// Level 1 of 9: page content (repetitive text operators) still shrinks about 5×, at a
/// fraction of the time of the best level.
const COMPRESSION_LEVEL: u32 = 1;

/// Flate-compresses every stream that is not compressed yet (page contents, the font
/// subsets' companions). Runs before encryption: encrypted data does not compress.
fn compress_streams(document: &mut Document) -> Result<(), PdfError> {
    for object in document.objects.values_mut() {
        let Object::Stream(stream) = object else {
            continue;
        };
        if stream.dict.has(b"Filter") || !stream.allows_compression {
            continue;
        }
        let mut encoder = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(stream.content.len() / 4),
            flate2::Compression::new(COMPRESSION_LEVEL),
        );
        encoder
            .write_all(&stream.content)
            .map_err(|_| PdfError::Write)?;
        let compressed = encoder.finish().map_err(|_| PdfError::Write)?;
        if compressed.len() < stream.content.len() {
            stream.dict.set("Filter", "FlateDecode");
            stream.set_content(compressed);
        }
    }
    Ok(())
}

/// Whether `password` can open an R6 PDF as typed: readers pass it through SASLprep
/// (RFC 4013) first, which refuses control characters, unassigned code points and
/// text mixing right-to-left with left-to-right. Returns the prepared password (what
/// readers will compare, before they cut it to 127 bytes; its length is what counts)
/// or why it cannot be one. The password itself, not this, goes to [`encrypt`], which
/// prepares it the same way.
pub fn prepare_password(password: &str) -> Result<String, &'static str> {
    stringprep::saslprep(password)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            "contains characters a PDF password cannot hold (control characters, \
             unassigned code points, or right-to-left mixed with left-to-right text)"
        })
}

/// The longest password a PDF reader compares, in bytes.
const MAX_PASSWORD_BYTES: usize = 127;

/// The bytes of `password` that readers hash: the SASLprep'ed password's UTF-8, cut to
/// 127 bytes wherever that falls (a character cut in half stays half: readers cut
/// bytes, not characters). Every password handed to the encryptor goes through here.
pub fn reader_password_bytes(password: &str) -> Result<Zeroizing<Vec<u8>>, PdfError> {
    let prepared = Zeroizing::new(prepare_password(password).map_err(|_| PdfError::Encrypt)?);
    let bytes = prepared.as_bytes();
    Ok(Zeroizing::new(
        bytes[..bytes.len().min(MAX_PASSWORD_BYTES)].to_vec(),
    ))
}

/// Algorithm 2.B (ISO 32000-2, 7.6.4.3.4): the revision 6 hash of `password` with an
/// 8-byte `salt` and `user_entry` (the 48-byte `/U` for the owner's entries, else
/// empty).
fn hash_2b(password: &[u8], salt: &[u8], user_entry: &[u8]) -> Result<[u8; 32], PdfError> {
    use openssl::sha::{sha256, sha384, sha512};
    use openssl::symm::{Cipher, Crypter, Mode};
    let failed = |_| PdfError::Encrypt;
    let mut k: Zeroizing<Vec<u8>> =
        Zeroizing::new(sha256(&[password, salt, user_entry].concat()).to_vec());
    let mut round: u32 = 1;
    loop {
        let k1 = Zeroizing::new([password, &k[..], user_entry].concat().repeat(64));
        let mut crypter = Crypter::new(
            Cipher::aes_128_cbc(),
            Mode::Encrypt,
            &k[..16],
            Some(&k[16..32]),
        )
        .map_err(failed)?;
        crypter.pad(false);
        // 64 repetitions make K1 a whole number of blocks.
        let mut e = Zeroizing::new(vec![0u8; k1.len() + 16]);
        let written = crypter.update(&k1, &mut e).map_err(failed)?;
        e.truncate(written);
        let selector: u32 = e[..16].iter().map(|byte| u32::from(*byte)).sum::<u32>() % 3;
        k = Zeroizing::new(match selector {
            0 => sha256(&e).to_vec(),
            1 => sha384(&e).to_vec(),
            _ => sha512(&e).to_vec(),
        });
        let last = u32::from(e.last().copied().unwrap_or(0));
        if round >= 64 && last <= round - 32 {
            break;
        }
        round += 1;
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&k[..32]);
    Ok(hash)
}

/// `/U` and `/UE` (Algorithm 8), or `/O` and `/OE` (Algorithm 9, with the 48-byte
/// `/U` as `user_entry`): the hash of the password with a fresh validation salt,
/// followed by both salts, and the file key encrypted under the hash of the password
/// with the key salt (AES-256-CBC, zero IV, no padding).
fn password_entries(
    password: &[u8],
    user_entry: &[u8],
    file_key: &[u8; 32],
) -> Result<([u8; 48], [u8; 32]), PdfError> {
    use openssl::symm::{Cipher, Crypter, Mode};
    let salts = random::<16>()?;
    let (validation_salt, key_salt) = salts.split_at(8);
    let mut entry = [0u8; 48];
    entry[..32].copy_from_slice(&hash_2b(password, validation_salt, user_entry)?);
    entry[32..].copy_from_slice(salts.as_slice());
    let intermediate = Zeroizing::new(hash_2b(password, key_salt, user_entry)?);
    let failed = |_| PdfError::Encrypt;
    let mut crypter = Crypter::new(
        Cipher::aes_256_cbc(),
        Mode::Encrypt,
        intermediate.as_slice(),
        Some(&[0u8; 16]),
    )
    .map_err(failed)?;
    crypter.pad(false);
    let mut encrypted = [0u8; 48];
    let written = crypter.update(file_key, &mut encrypted).map_err(failed)?;
    if written != 32 {
        return Err(PdfError::Encrypt);
    }
    let mut key_entry = [0u8; 32];
    key_entry.copy_from_slice(&encrypted[..32]);
    Ok((entry, key_entry))
}

/// Writes `/U`, `/UE`, `/O` and `/OE` for these passwords into the document's
/// encryption dictionary (which is itself never encrypted).
fn write_password_entries(
    document: &mut Document,
    user_password: &str,
    owner_password: &str,
    file_key: &[u8; 32],
) -> Result<(), PdfError> {
    let user = reader_password_bytes(user_password)?;
    let owner = reader_password_bytes(owner_password)?;
    let (u, ue) = password_entries(&user, &[], file_key)?;
    let (o, oe) = password_entries(&owner, &u, file_key)?;
    let id = document
        .trailer
        .get(b"Encrypt")
        .and_then(Object::as_reference)
        .map_err(|_| PdfError::Encrypt)?;
    let dictionary = document
        .get_object_mut(id)
        .and_then(Object::as_dict_mut)
        .map_err(|_| PdfError::Encrypt)?;
    for (name, value) in [
        ("U", &u[..]),
        ("UE", &ue[..]),
        ("O", &o[..]),
        ("OE", &oe[..]),
    ] {
        dictionary.set(name, Object::string_literal(value.to_vec()));
    }
    Ok(())
}

/// Encrypts `pdf` so that `user_password` opens it. The owner password is random (256
/// bits) and known to nobody. Printing and copying text stay allowed (it is the
/// person's own document); changing it does not.
pub fn encrypt(pdf: &[u8], user_password: &str) -> Result<Vec<u8>, PdfError> {
    let owner_password = Zeroizing::new(URL_SAFE_NO_PAD.encode(random::<32>()?.as_slice()));
    encrypt_with_owner(pdf, user_password, &owner_password)
}

/// [`encrypt`] with a chosen owner password (tests open documents with it).
pub(super) fn encrypt_with_owner(
    pdf: &[u8],
    user_password: &str,
    owner_password: &str,
) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::load_mem(pdf).map_err(|_| PdfError::Parse)?;
    compress_streams(&mut document)?;
    "2.0".clone_into(&mut document.version);
    let id = random::<16>()?;
    document.trailer.set(
        "ID",
        Object::Array(vec![
            Object::string_literal(id.to_vec()),
            Object::string_literal(id.to_vec()),
        ]),
    );
    let now = chrono::Utc::now();
    let mut info = lopdf::Dictionary::new();
    info.set("Producer", Object::string_literal("piivault"));
    info.set("CreationDate", Object::from(now));
    info.set("ModDate", Object::from(now));
    let info_id = document.add_object(info);
    document.trailer.set("Info", info_id);

    let file_key = random::<32>()?;
    let filter: Arc<dyn CryptFilter> = Arc::new(Aes256CryptFilter);
    let state = EncryptionState::try_from(EncryptionVersion::V5 {
        encrypt_metadata: true,
        crypt_filters: BTreeMap::from([(b"StdCF".to_vec(), filter)]),
        file_encryption_key: file_key.as_slice(),
        stream_filter: b"StdCF".to_vec(),
        string_filter: b"StdCF".to_vec(),
        owner_password,
        user_password,
        permissions: Permissions::PRINTABLE
            | Permissions::PRINTABLE_IN_HIGH_QUALITY
            | Permissions::COPYABLE
            | Permissions::COPYABLE_FOR_ACCESSIBILITY,
    })
    .map_err(|_| PdfError::Encrypt)?;
    document.encrypt(&state).map_err(|_| PdfError::Encrypt)?;
    write_password_entries(&mut document, user_password, owner_password, &file_key)?;
    let mut out = Vec::with_capacity(pdf.len() + 4096);
    document.save_to(&mut out).map_err(|_| PdfError::Write)?;
    Ok(out)
}
