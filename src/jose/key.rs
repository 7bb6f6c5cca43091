//! One JWE key pair: its kid (RFC 7638 thumbprint), public JWK, and the josekit
//! decrypters and encrypter built once at load.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwe::{JweDecrypter, JweEncrypter, ECDH_ES_A256KW, RSA_OAEP, RSA_OAEP_256};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::profile::Alg;
use super::KeyError;

const MIN_RSA_BITS: u32 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa { modulus_len: usize },
    P256,
}

pub(super) struct JweKey {
    pub kid: String,
    pub kind: KeyKind,
    /// The public key as JWKs, one per algorithm it accepts: a JWK's `alg` names one
    /// algorithm, and libraries that honour it (josekit) refuse to use a key for any
    /// other, so an RSA key is published twice (same `kid`, same key), RSA-OAEP-256
    /// first.
    pub public_jwks: Vec<Value>,
    decrypters: Vec<(Alg, Box<dyn JweDecrypter>)>,
    encrypters: Vec<(Alg, Box<dyn JweEncrypter>)>,
}

impl fmt::Debug for JweKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JweKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl JweKey {
    /// Reads a PEM private key; `kid` defaults to the RFC 7638 thumbprint.
    pub fn from_pem(pem: &str, chosen_kid: Option<&str>) -> Result<Self, KeyError> {
        let private_key =
            PKey::private_key_from_pem(pem.as_bytes()).map_err(|_| KeyError::Unreadable)?;
        let public_pem = private_key
            .public_key_to_pem()
            .map_err(|_| KeyError::Unreadable)?;
        let (key_kind, members, algs) = match private_key.id() {
            Id::RSA => {
                let rsa = private_key.rsa().map_err(|_| KeyError::Unreadable)?;
                let bits = rsa.size() * 8;
                if bits < MIN_RSA_BITS {
                    return Err(KeyError::RsaTooSmall(bits));
                }
                let members =
                    json!({"e": b64(&rsa.e().to_vec()), "kty": "RSA", "n": b64(&rsa.n().to_vec())});
                let rsa_kind = KeyKind::Rsa {
                    modulus_len: rsa.size() as usize,
                };
                (rsa_kind, members, vec![Alg::RsaOaep256, Alg::RsaOaep])
            }
            Id::EC => {
                let ec = private_key.ec_key().map_err(|_| KeyError::Unreadable)?;
                if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
                    return Err(KeyError::WrongCurve);
                }
                let (x, y) = affine_coordinates(&ec)?;
                let members = json!({"crv": "P-256", "kty": "EC", "x": b64(&x), "y": b64(&y)});
                (KeyKind::P256, members, vec![Alg::EcdhEsA256Kw])
            }
            _ => return Err(KeyError::UnsupportedType),
        };
        let kid = chosen_kid.map_or_else(|| thumbprint(&members), str::to_owned);
        let public_jwks = algs
            .iter()
            .map(|alg| {
                let mut jwk = members.clone();
                jwk["kid"] = json!(kid);
                jwk["use"] = json!("enc");
                jwk["alg"] = json!(alg.name());
                jwk
            })
            .collect();

        let mut decrypters: Vec<(Alg, Box<dyn JweDecrypter>)> = Vec::new();
        let mut encrypters: Vec<(Alg, Box<dyn JweEncrypter>)> = Vec::new();
        for alg in algs {
            let (decrypter, encrypter): (Box<dyn JweDecrypter>, Box<dyn JweEncrypter>) = match alg {
                Alg::RsaOaep256 => (
                    Box::new(
                        RSA_OAEP_256
                            .decrypter_from_pem(pem)
                            .map_err(|_| KeyError::Unreadable)?,
                    ),
                    Box::new(
                        RSA_OAEP_256
                            .encrypter_from_pem(&public_pem)
                            .map_err(|_| KeyError::Unreadable)?,
                    ),
                ),
                Alg::RsaOaep => (
                    Box::new(
                        RSA_OAEP
                            .decrypter_from_pem(pem)
                            .map_err(|_| KeyError::Unreadable)?,
                    ),
                    Box::new(
                        RSA_OAEP
                            .encrypter_from_pem(&public_pem)
                            .map_err(|_| KeyError::Unreadable)?,
                    ),
                ),
                Alg::EcdhEsA256Kw => (
                    Box::new(
                        ECDH_ES_A256KW
                            .decrypter_from_pem(pem)
                            .map_err(|_| KeyError::Unreadable)?,
                    ),
                    Box::new(
                        ECDH_ES_A256KW
                            .encrypter_from_pem(&public_pem)
                            .map_err(|_| KeyError::Unreadable)?,
                    ),
                ),
            };
            decrypters.push((alg, decrypter));
            encrypters.push((alg, encrypter));
        }
        Ok(Self {
            kid,
            kind: key_kind,
            public_jwks,
            decrypters,
            encrypters,
        })
    }

    pub fn decrypter(&self, alg: Alg) -> Option<&dyn JweDecrypter> {
        self.decrypters
            .iter()
            .find(|(candidate, _)| *candidate == alg)
            .map(|(_, decrypter)| decrypter.as_ref())
    }

    pub fn encrypter(&self, alg: Alg) -> Option<&dyn JweEncrypter> {
        self.encrypters
            .iter()
            .find(|(candidate, _)| *candidate == alg)
            .map(|(_, encrypter)| encrypter.as_ref())
    }

    /// The exact length a wrapped content key must have for this key and algorithm.
    pub fn encrypted_key_len(&self, alg: Alg) -> usize {
        match (self.kind, alg) {
            (KeyKind::Rsa { modulus_len }, _) => modulus_len,
            // AES key wrap of a 32-byte content key: 32 + 8 bytes.
            (KeyKind::P256, _) => 40,
        }
    }
}

/// RFC 7638 thumbprint of a JWK's required public members: lexicographic order, no
/// whitespace (serde_json's map is ordered, so `to_string` is canonical here).
pub(super) fn thumbprint(required_members: &Value) -> String {
    b64(&Sha256::digest(required_members.to_string().as_bytes()))
}

fn affine_coordinates(ec: &EcKey<Private>) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let mut context = BigNumContext::new().map_err(|_| KeyError::Unreadable)?;
    let mut x = openssl::bn::BigNum::new().map_err(|_| KeyError::Unreadable)?;
    let mut y = openssl::bn::BigNum::new().map_err(|_| KeyError::Unreadable)?;
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut context)
        .map_err(|_| KeyError::Unreadable)?;
    Ok((
        x.to_vec_padded(32).map_err(|_| KeyError::Unreadable)?,
        y.to_vec_padded(32).map_err(|_| KeyError::Unreadable)?,
    ))
}

/// A fresh RSA private key as PKCS#8 PEM.
pub fn generate_rsa_pem(bits: u32) -> Result<Zeroizing<String>, KeyError> {
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaTooSmall(bits));
    }
    let rsa = Rsa::generate(bits).map_err(|_| KeyError::Generation)?;
    let pkey = PKey::from_rsa(rsa).map_err(|_| KeyError::Generation)?;
    pkcs8_pem(&pkey)
}

/// A fresh P-256 private key as PKCS#8 PEM.
pub fn generate_p256_pem() -> Result<Zeroizing<String>, KeyError> {
    let group =
        EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(|_| KeyError::Generation)?;
    let ec = EcKey::generate(&group).map_err(|_| KeyError::Generation)?;
    let pkey = PKey::from_ec_key(ec).map_err(|_| KeyError::Generation)?;
    pkcs8_pem(&pkey)
}

fn pkcs8_pem(pkey: &PKey<Private>) -> Result<Zeroizing<String>, KeyError> {
    let pem = Zeroizing::new(
        pkey.private_key_to_pem_pkcs8()
            .map_err(|_| KeyError::Generation)?,
    );
    String::from_utf8(pem.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Generation)
}
