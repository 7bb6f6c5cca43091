//! Parsing and checking a JWE against the profile, before any key is touched.
//! The output is one [`Candidate`] per recipient that passed every check, carrying
//! the exact text josekit will be given.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{JweError, JweSerialization};

/// Key-management algorithms this profile accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alg {
    RsaOaep256,
    RsaOaep,
    EcdhEsA256Kw,
}

impl Alg {
    /// The name a JWE header (and a JWK's `alg`) gives it.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaOaep256 => "RSA-OAEP-256",
            Self::RsaOaep => "RSA-OAEP",
            Self::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RSA-OAEP-256" => Some(Self::RsaOaep256),
            "RSA-OAEP" => Some(Self::RsaOaep),
            "ECDH-ES+A256KW" => Some(Self::EcdhEsA256Kw),
            _ => None,
        }
    }
}

/// One recipient that passed the profile.
#[derive(Debug)]
pub(super) struct Candidate {
    pub alg: Alg,
    pub kid: Option<String>,
    pub encrypted_key_len: usize,
    pub serialization: JweSerialization,
    /// Compact text, or a flattened JSON object with just this recipient.
    pub input: String,
}

const ENC: &str = "A256GCM";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const MAX_HEADER_BYTES: usize = 4096;
const MAX_RECIPIENTS: usize = 8;
const MAX_KID_LEN: usize = 256;
/// Members a JSON-serialized JWE may have (RFC 7516 §7.2).
const MEMBERS: [&str; 9] = [
    "protected",
    "unprotected",
    "header",
    "encrypted_key",
    "iv",
    "ciphertext",
    "tag",
    "aad",
    "recipients",
];

fn decode(segment: &str, what: &'static str) -> Result<Vec<u8>, JweError> {
    // The engine refuses padding and non-canonical trailing bits.
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JweError::Malformed(what))
}

fn header_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, JweError> {
    if bytes.len() > MAX_HEADER_BYTES {
        return Err(JweError::Malformed("header too large"));
    }
    match crate::json::parse(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JweError::Malformed(what)),
    }
}

/// Splits and checks a compact JWE.
pub(super) fn parse_compact(body: &[u8]) -> Result<Vec<Candidate>, JweError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| JweError::Malformed("not text"))?
        .trim_ascii();
    let segments: Vec<&str> = text.split('.').collect();
    let [protected, encrypted_key, iv, ciphertext, tag] = segments.as_slice() else {
        return Err(JweError::Malformed(
            "compact JWE needs exactly five segments",
        ));
    };
    let header = header_object(&decode(protected, "protected header")?, "protected header")?;
    let encrypted_key = decode(encrypted_key, "encrypted key")?;
    check_content(
        &decode(iv, "iv")?,
        &decode(ciphertext, "ciphertext")?,
        &decode(tag, "tag")?,
    )?;
    let (alg, kid) = check_header(&header)?;
    Ok(vec![Candidate {
        alg,
        kid,
        encrypted_key_len: encrypted_key.len(),
        serialization: JweSerialization::Compact,
        input: text.to_owned(),
    }])
}

/// Parses and checks a flattened or general JSON JWE.
pub(super) fn parse_json(body: &[u8]) -> Result<Vec<Candidate>, JweError> {
    let Ok(Value::Object(mut object)) = crate::json::parse(body) else {
        return Err(JweError::Malformed("not a JSON object"));
    };
    if object.keys().any(|key| !MEMBERS.contains(&key.as_str())) {
        return Err(JweError::Malformed("unknown member"));
    }
    let string =
        |object: &Map<String, Value>, name: &'static str| -> Result<Option<String>, JweError> {
            match object.get(name) {
                None => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(_) => Err(JweError::Malformed(name)),
            }
        };
    let protected_b64 =
        string(&object, "protected")?.ok_or(JweError::Malformed("protected header required"))?;
    let protected = header_object(
        &decode(&protected_b64, "protected header")?,
        "protected header",
    )?;
    let unprotected = match object.get("unprotected") {
        None => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => return Err(JweError::Malformed("unprotected")),
    };
    let iv = decode(
        &string(&object, "iv")?.ok_or(JweError::Malformed("iv"))?,
        "iv",
    )?;
    let ciphertext = decode(
        &string(&object, "ciphertext")?.ok_or(JweError::Malformed("ciphertext"))?,
        "ciphertext",
    )?;
    let tag = decode(
        &string(&object, "tag")?.ok_or(JweError::Malformed("tag"))?,
        "tag",
    )?;
    check_content(&iv, &ciphertext, &tag)?;
    if let Some(aad) = string(&object, "aad")? {
        decode(&aad, "aad")?;
    }

    let recipients: Vec<Map<String, Value>> = match object.remove("recipients") {
        Some(Value::Array(list)) => {
            if object.contains_key("header") || object.contains_key("encrypted_key") {
                return Err(JweError::Malformed(
                    "recipients mixed with a flattened recipient",
                ));
            }
            if list.is_empty() || list.len() > MAX_RECIPIENTS {
                return Err(JweError::Malformed("number of recipients"));
            }
            list.into_iter()
                .map(|recipient| match recipient {
                    Value::Object(map) => Ok(map),
                    _ => Err(JweError::Malformed("recipient")),
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => return Err(JweError::Malformed("recipients")),
        None => {
            let mut flattened = Map::new();
            for member in ["header", "encrypted_key"] {
                if let Some(value) = object.remove(member) {
                    flattened.insert(member.to_owned(), value);
                }
            }
            vec![flattened]
        }
    };

    let mut candidates = Vec::new();
    let mut last_error = JweError::Malformed("no usable recipient");
    for recipient in recipients {
        match recipient_candidate(&object, &protected, unprotected.as_ref(), recipient) {
            Ok(candidate) => candidates.push(candidate),
            Err(error) => last_error = error,
        }
    }
    if candidates.is_empty() {
        return Err(last_error);
    }
    Ok(candidates)
}

fn recipient_candidate(
    shared: &Map<String, Value>,
    protected: &Map<String, Value>,
    unprotected: Option<&Map<String, Value>>,
    recipient: Map<String, Value>,
) -> Result<Candidate, JweError> {
    if recipient
        .keys()
        .any(|key| key != "header" && key != "encrypted_key")
    {
        return Err(JweError::Malformed("unknown recipient member"));
    }
    let header = match recipient.get("header") {
        None => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err(JweError::Malformed("recipient header")),
    };
    let encrypted_key = match recipient.get("encrypted_key") {
        Some(Value::String(text)) => decode(text, "encrypted key")?,
        _ => return Err(JweError::Malformed("encrypted key")),
    };
    // RFC 7516 §7.2.1: the header sets must be disjoint.
    let mut merged = protected.clone();
    for set in [unprotected, header].into_iter().flatten() {
        for (name, value) in set {
            if merged.insert(name.clone(), value.clone()).is_some() {
                return Err(JweError::Malformed("header parameter appears twice"));
            }
        }
    }
    if serde_json::to_vec(&merged).map_or(usize::MAX, |bytes| bytes.len()) > MAX_HEADER_BYTES {
        return Err(JweError::Malformed("header too large"));
    }
    let (alg, kid) = check_header(&merged)?;
    let mut flattened = shared.clone();
    for (name, value) in recipient {
        flattened.insert(name, value);
    }
    Ok(Candidate {
        alg,
        kid,
        encrypted_key_len: encrypted_key.len(),
        serialization: JweSerialization::Json,
        input: Value::Object(flattened).to_string(),
    })
}

fn check_content(iv: &[u8], ciphertext: &[u8], tag: &[u8]) -> Result<(), JweError> {
    if iv.len() != IV_LEN {
        return Err(JweError::Malformed("iv must be 12 bytes"));
    }
    if tag.len() != TAG_LEN {
        return Err(JweError::Malformed("tag must be 16 bytes"));
    }
    if ciphertext.is_empty() {
        return Err(JweError::Malformed("empty ciphertext"));
    }
    Ok(())
}

/// The profile's rules for the (merged) JOSE header.
fn check_header(header: &Map<String, Value>) -> Result<(Alg, Option<String>), JweError> {
    if header.contains_key("zip") {
        return Err(JweError::Unsupported("zip (compression)"));
    }
    if header.contains_key("crit") {
        return Err(JweError::Unsupported("crit (no extensions are understood)"));
    }
    let alg = match header.get("alg") {
        Some(Value::String(name)) => Alg::parse(name).ok_or(JweError::Unsupported("alg"))?,
        _ => return Err(JweError::Malformed("alg missing")),
    };
    match header.get("enc") {
        Some(Value::String(enc)) if enc == ENC => {}
        Some(Value::String(_)) => return Err(JweError::Unsupported("enc")),
        _ => return Err(JweError::Malformed("enc missing")),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => {
            Some(kid.clone())
        }
        Some(_) => return Err(JweError::Malformed("kid")),
    };
    match alg {
        Alg::EcdhEsA256Kw => check_epk(header.get("epk"))?,
        Alg::RsaOaep256 | Alg::RsaOaep => {
            if header.contains_key("epk") {
                return Err(JweError::Malformed("epk with an RSA algorithm"));
            }
        }
    }
    for party in ["apu", "apv"] {
        match header.get(party) {
            None => {}
            Some(Value::String(text)) if decode(text, "apu/apv")?.len() <= 64 => {}
            Some(_) => return Err(JweError::Malformed("apu/apv")),
        }
    }
    Ok((alg, kid))
}

/// The ephemeral key of ECDH-ES must be a public P-256 point.
fn check_epk(epk: Option<&Value>) -> Result<(), JweError> {
    let Some(Value::Object(epk)) = epk else {
        return Err(JweError::Malformed("epk missing"));
    };
    let field = |name: &str| epk.get(name).and_then(Value::as_str);
    if field("kty") != Some("EC") || field("crv") != Some("P-256") || epk.contains_key("d") {
        return Err(JweError::Malformed("epk must be a public P-256 key"));
    }
    for coordinate in ["x", "y"] {
        let bytes = decode(field(coordinate).unwrap_or_default(), "epk coordinate")?;
        if bytes.len() != 32 {
            return Err(JweError::Malformed("epk coordinate must be 32 bytes"));
        }
    }
    Ok(())
}
