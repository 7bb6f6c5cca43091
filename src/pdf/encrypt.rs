//! Where a PDF is encrypted: AES-256 encryption of a finished PDF with lopdf: PDF 2.0, standard security
//! handler revision 6 (V5, AESV3), a random 256-bit file key per document.

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
/// readers will compare; its length is what counts) or why it cannot be one. The
/// password itself, not this, goes to [`encrypt`]: lopdf prepares it the same way.
pub fn prepare_password(password: &str) -> Result<String, &'static str> {
    stringprep::saslprep(password)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            "contains characters a PDF password cannot hold (control characters, \
             unassigned code points, or right-to-left mixed with left-to-right text)"
        })
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
    let mut out = Vec::with_capacity(pdf.len() + 4096);
    document.save_to(&mut out).map_err(|_| PdfError::Write)?;
    Ok(out)
}
