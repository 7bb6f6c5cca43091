//! The profile against published vectors, round trips and a table of hostile input.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::Jwk;
use serde_json::{json, Value};

use super::*;

fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/jose/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn jwk_to_pem(jwk: &Value) -> String {
    let jwk = Jwk::from_bytes(jwk.to_string()).unwrap();
    String::from_utf8(
        RsaKeyPair::from_jwk(&jwk)
            .unwrap()
            .to_traditional_pem_private_key(),
    )
    .unwrap()
}

fn new_ring() -> JweKeyRing {
    let rsa = generate_rsa_pem(2048).unwrap();
    let ec = generate_p256_pem().unwrap();
    JweKeyRing::from_pems(&[&rsa, &ec]).unwrap()
}

#[test]
fn rfc7516_appendix_a1_decrypts() {
    let v = vector("rfc7516_a1.json");
    let pem = jwk_to_pem(&v["key"]);
    let ring = JweKeyRing::from_pems(&[&pem]).unwrap();
    let plaintext = ring
        .decrypt(
            v["compact"].as_str().unwrap().as_bytes(),
            JweSerialization::Compact,
        )
        .unwrap();
    assert_eq!(
        plaintext.as_slice(),
        v["plaintext"].as_str().unwrap().as_bytes()
    );
}

#[test]
fn rfc7520_section_5_2_decrypts_in_every_serialization() {
    let v = vector("rfc7520_5_2.json");
    let pem = jwk_to_pem(&v["key"]);
    let kid = v["key"]["kid"].as_str().unwrap();
    let ring = JweKeyRing::from_pems_with_kids(&[(kid, &pem)]).unwrap();
    let expected = v["plaintext"].as_str().unwrap().as_bytes();
    let compact = ring
        .decrypt(
            v["compact"].as_str().unwrap().as_bytes(),
            JweSerialization::Compact,
        )
        .unwrap();
    assert_eq!(compact.as_slice(), expected, "compact");
    for form in ["json_general", "json_flattened"] {
        let body = v[form].to_string();
        let plaintext = ring
            .decrypt(body.as_bytes(), JweSerialization::Json)
            .unwrap();
        assert_eq!(plaintext.as_slice(), expected, "{form}");
    }
    // The vector names its kid: a ring holding the same key under another kid refuses it.
    let other = JweKeyRing::from_pems(&[&pem]).unwrap();
    assert_eq!(
        other.decrypt(
            v["compact"].as_str().unwrap().as_bytes(),
            JweSerialization::Compact
        ),
        Err(JweError::UnknownKey)
    );
}

#[test]
fn round_trips_for_every_algorithm_and_serialization() {
    let ring = new_ring();
    for alg in ["RSA-OAEP-256", "RSA-OAEP", "ECDH-ES+A256KW"] {
        let token = ring.encrypt_compact(b"{\"a\":1}", alg).unwrap();
        assert_eq!(
            ring.decrypt(token.as_bytes(), JweSerialization::Compact)
                .unwrap()
                .as_slice(),
            b"{\"a\":1}",
            "{alg}"
        );
    }
    let flattened = ring.encrypt_flattened(b"hello").unwrap();
    assert_eq!(
        ring.decrypt(flattened.as_bytes(), JweSerialization::Json)
            .unwrap()
            .as_slice(),
        b"hello"
    );
    // The same recipient as a general serialization.
    let mut general: Value = serde_json::from_str(&flattened).unwrap();
    let encrypted_key = general
        .as_object_mut()
        .unwrap()
        .remove("encrypted_key")
        .unwrap();
    general["recipients"] = json!([{"encrypted_key": "AAAA"}, {"encrypted_key": encrypted_key}]);
    assert_eq!(
        ring.decrypt(general.to_string().as_bytes(), JweSerialization::Json)
            .unwrap()
            .as_slice(),
        b"hello",
        "a bad first recipient does not hide a good second one"
    );
}

/// One recipient's header and encrypter for the first key of `ring`.
fn recipient(ring: &JweKeyRing) -> (josekit::jwe::JweHeader, &dyn josekit::jwe::JweEncrypter) {
    let key = &ring.keys[0];
    let mut header = josekit::jwe::JweHeader::new();
    header.set_algorithm("RSA-OAEP-256");
    header.set_key_id(&key.kid);
    (header, key.encrypter(profile::Alg::RsaOaep256).unwrap())
}

/// A general JSON JWE to two parties, ours second: what a sender addressing several
/// recipients at once produces (each recipient's `kid` in its own header).
#[test]
fn a_recipient_for_another_partys_key_is_passed_over() {
    let ours = new_ring();
    let theirs = new_ring();
    let (their_header, their_encrypter) = recipient(&theirs);
    let (our_header, our_encrypter) = recipient(&ours);
    let mut protected = josekit::jwe::JweHeaderSet::new();
    protected.set_content_encryption("A256GCM", true);
    let general = ours
        .context
        .serialize_general_json(
            b"hello",
            Some(&protected),
            &[
                (Some(&their_header), their_encrypter),
                (Some(&our_header), our_encrypter),
            ],
            None,
        )
        .unwrap();
    assert_eq!(
        ours.decrypt(general.as_bytes(), JweSerialization::Json)
            .unwrap()
            .as_slice(),
        b"hello",
        "their recipient is skipped, ours opens"
    );
    assert_eq!(
        theirs
            .decrypt(general.as_bytes(), JweSerialization::Json)
            .unwrap()
            .as_slice(),
        b"hello",
        "and the other party opens its own"
    );
    let stranger = new_ring();
    assert_eq!(
        stranger.decrypt(general.as_bytes(), JweSerialization::Json),
        Err(JweError::UnknownKey),
        "with no recipient of ours, the kid is what fails"
    );
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn with_header(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    edit(&mut header);
    parts[0] = b64(header.to_string().as_bytes());
    parts.join(".")
}

fn with_segment(token: &str, index: usize, value: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = value;
    parts.join(".")
}

fn flip(token: &str, index: usize) -> String {
    let part = token.split('.').nth(index).unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(part).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    with_segment(token, index, &b64(&bytes))
}

#[test]
#[allow(clippy::too_many_lines)] // one table, read top to bottom
fn hostile_input_is_refused_without_panic_and_with_one_message() {
    let ring = new_ring();
    let other = new_ring();
    let rsa = ring.encrypt_compact(b"{}", "RSA-OAEP-256").unwrap();
    let ecdh = ring.encrypt_compact(b"{}", "ECDH-ES+A256KW").unwrap();
    let foreign = other.encrypt_compact(b"{}", "RSA-OAEP-256").unwrap();
    let foreign_no_kid = with_header(&foreign, |h| drop(h.as_object_mut().unwrap().remove("kid")));
    // A token whose zip header promises a 10 MB inflate; refused on the header alone.
    let zip = with_header(&rsa, |h| h["zip"] = json!("DEF"));
    let cases: Vec<(&str, String)> = vec![
        ("random bytes", "\u{1}\u{2}garbage".to_owned()),
        ("empty", String::new()),
        ("four segments", "a.b.c.d".to_owned()),
        ("six segments", format!("{rsa}.x")),
        ("non-base64url", with_segment(&rsa, 2, "!!!!")),
        (
            "padded base64",
            with_segment(&rsa, 4, &format!("{}==", rsa.split('.').nth(4).unwrap())),
        ),
        (
            "alg RSA1_5",
            with_header(&rsa, |h| h["alg"] = json!("RSA1_5")),
        ),
        ("alg dir", with_header(&rsa, |h| h["alg"] = json!("dir"))),
        ("alg none", with_header(&rsa, |h| h["alg"] = json!("none"))),
        (
            "alg PBES2",
            with_header(&rsa, |h| h["alg"] = json!("PBES2-HS256+A128KW")),
        ),
        (
            "alg A256KW",
            with_header(&rsa, |h| h["alg"] = json!("A256KW")),
        ),
        (
            "alg missing",
            with_header(&rsa, |h| drop(h.as_object_mut().unwrap().remove("alg"))),
        ),
        (
            "enc A128CBC-HS256",
            with_header(&rsa, |h| h["enc"] = json!("A128CBC-HS256")),
        ),
        (
            "enc A128GCM",
            with_header(&rsa, |h| h["enc"] = json!("A128GCM")),
        ),
        ("zip DEF", zip),
        ("crit", with_header(&rsa, |h| h["crit"] = json!(["exp"]))),
        (
            "unknown kid",
            with_header(&rsa, |h| h["kid"] = json!("nope")),
        ),
        (
            "kid not a string",
            with_header(&rsa, |h| h["kid"] = json!(5)),
        ),
        (
            "ECDH 4-byte encrypted key",
            with_segment(&ecdh, 1, &b64(&[1, 2, 3, 4])),
        ),
        (
            "ECDH epk on the wrong curve",
            with_header(&ecdh, |h| h["epk"]["crv"] = json!("P-384")),
        ),
        (
            "ECDH epk missing",
            with_header(&ecdh, |h| drop(h.as_object_mut().unwrap().remove("epk"))),
        ),
        (
            "ECDH epk with private part",
            with_header(&ecdh, |h| h["epk"]["d"] = json!("AAAA")),
        ),
        (
            "RSA short encrypted key",
            with_segment(&rsa, 1, &b64(&[9; 16])),
        ),
        ("iv 16 bytes", with_segment(&rsa, 2, &b64(&[0; 16]))),
        ("tag 12 bytes", with_segment(&rsa, 4, &b64(&[0; 12]))),
        ("tampered tag", flip(&rsa, 4)),
        ("tampered ciphertext", flip(&rsa, 3)),
        ("tampered iv", flip(&rsa, 2)),
        ("tampered encrypted key", flip(&rsa, 1)),
        (
            "tampered protected header",
            with_header(&rsa, |h| h["x-extra"] = json!(1)),
        ),
        ("another key pair's token", foreign),
        ("another key pair's token, no kid", foreign_no_kid),
    ];
    for (case, token) in &cases {
        let result = ring.decrypt(token.as_bytes(), JweSerialization::Compact);
        let error = result.err().unwrap_or_else(|| panic!("{case}: accepted"));
        assert_eq!(
            error.public_message(),
            JweError::DecryptionFailed.public_message(),
            "{case}"
        );
    }
    // JSON serialization: wrong shapes.
    let flattened: Value = serde_json::from_str(&ring.encrypt_flattened(b"{}").unwrap()).unwrap();
    let mut duplicate = flattened.clone();
    duplicate["header"] = json!({"enc": "A256GCM"});
    let mut unknown = flattened.clone();
    unknown["extra"] = json!(1);
    let mut zip_unprotected = flattened.clone();
    zip_unprotected["unprotected"] = json!({"zip": "DEF"});
    let too_many = json!({"protected": flattened["protected"], "iv": flattened["iv"], "ciphertext": flattened["ciphertext"],
        "tag": flattened["tag"], "recipients": vec![json!({"encrypted_key": flattened["encrypted_key"]}); 9]});
    // The same member twice, with the same value: the token would decrypt, but JSON
    // naming a key twice is refused wherever piivault reads it.
    let member_twice =
        flattened
            .to_string()
            .replacen('{', &format!(r#"{{"iv":{},"#, flattened["iv"]), 1);
    assert!(ring
        .decrypt(flattened.to_string().as_bytes(), JweSerialization::Json)
        .is_ok());
    for (case, body) in [
        ("a member twice", member_twice),
        ("not JSON", "nope".to_owned()),
        ("array", "[]".to_owned()),
        ("header parameter twice", duplicate.to_string()),
        ("unknown member", unknown.to_string()),
        ("zip in the unprotected header", zip_unprotected.to_string()),
        ("nine recipients", too_many.to_string()),
    ] {
        assert!(
            ring.decrypt(body.as_bytes(), JweSerialization::Json)
                .is_err(),
            "{case}"
        );
    }
}

#[test]
fn a_real_deflate_bomb_is_refused_before_inflating() {
    let ring = new_ring();
    let jwks = ring.jwks();
    let rsa_public = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA")
        .unwrap()
        .clone();
    let encrypter = josekit::jwe::RSA_OAEP_256
        .encrypter_from_jwk(&Jwk::from_bytes(rsa_public.to_string()).unwrap())
        .unwrap();
    let mut header = josekit::jwe::JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_compression("DEF");
    let bomb = josekit::jwe::serialize_compact(&vec![0u8; 10 << 20], &header, &encrypter).unwrap();
    assert!(bomb.len() < 40_000);
    assert_eq!(
        ring.decrypt(bomb.as_bytes(), JweSerialization::Compact),
        Err(JweError::Unsupported("zip (compression)"))
    );
}

#[test]
fn keys_are_checked_and_jwks_is_public_only() {
    let small = openssl::rsa::Rsa::generate(1024).unwrap();
    let small = String::from_utf8(
        openssl::pkey::PKey::from_rsa(small)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        JweKeyRing::from_pems(&[&small]).unwrap_err(),
        KeyError::RsaTooSmall(1024)
    );
    let p384 = openssl::ec::EcKey::generate(
        &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP384R1).unwrap(),
    )
    .unwrap();
    let p384 = String::from_utf8(
        openssl::pkey::PKey::from_ec_key(p384)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        JweKeyRing::from_pems(&[&p384]).unwrap_err(),
        KeyError::WrongCurve
    );
    assert_eq!(
        JweKeyRing::from_pems(&["not a pem"]).unwrap_err(),
        KeyError::Unreadable
    );
    let rsa = generate_rsa_pem(2048).unwrap();
    assert_eq!(
        JweKeyRing::from_pems(&[&rsa, &rsa]).unwrap_err(),
        KeyError::DuplicateKid
    );

    let ring = new_ring();
    let jwks = ring.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    // The RSA key once per algorithm it accepts, the P-256 key once.
    let algs: Vec<(&str, &str)> = keys
        .iter()
        .map(|key| (key["kty"].as_str().unwrap(), key["alg"].as_str().unwrap()))
        .collect();
    assert_eq!(algs.len(), 3, "{algs:?}");
    for expected in [
        ("RSA", "RSA-OAEP-256"),
        ("RSA", "RSA-OAEP"),
        ("EC", "ECDH-ES+A256KW"),
    ] {
        assert!(algs.contains(&expected), "{expected:?} in {algs:?}");
    }
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{private} published");
        }
        assert_eq!(key["use"], "enc");
    }
    assert!(!format!("{ring:?}").contains("PRIVATE"));
}

#[test]
fn kid_is_the_rfc7638_thumbprint() {
    // RFC 7638 section 3.1: the example key and its thumbprint.
    let members = json!({"e":"AQAB","kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
    assert_eq!(
        key::thumbprint(&members),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // And a loaded key's kid is its thumbprint.
    let ring = new_ring();
    for jwk in ring.jwks()["keys"].as_array().unwrap() {
        let required = match jwk["kty"].as_str().unwrap() {
            "RSA" => json!({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}),
            _ => json!({"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}),
        };
        assert_eq!(jwk["kid"].as_str().unwrap(), key::thumbprint(&required));
    }
}
