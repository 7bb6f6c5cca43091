//! Known-answer tests: the vectors in `tests/vectors/crypto/vectors.json` were computed
//! by an independent implementation (Python `cryptography`, see `generate.py` there),
//! for format v1 (still read) and v2 (written), with the `fail_*` cases v2 must refuse.

use serde_json::Value;
use uuid::Uuid;

use super::*;

const VECTORS: &str = include_str!("../../tests/vectors/crypto/vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn hex(value: &Value) -> Vec<u8> {
    let text = value.as_str().unwrap();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn key(value: &Value) -> SecretKey {
    SecretKey::from_slice(&hex(value)).unwrap()
}

fn context_of<'a>(case: &'a Value, bound: &'a [(&'a str, &'a str)]) -> FieldContext<'a> {
    FieldContext::new(
        case["table"].as_str().unwrap(),
        case["column"].as_str().unwrap(),
        Uuid::parse_str(case["row_id"].as_str().unwrap()).unwrap(),
    )
    .bound_to(bound)
}

/// A case's bound columns, as `(name, value)` pairs.
fn bound(value: &Value) -> Vec<(&str, &str)> {
    value
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .map(|pair| (pair[0].as_str().unwrap(), pair[1].as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn v1_sealed_fields_match_the_vectors_both_ways() {
    let v = vectors();
    let data_key = DataKey::from_secret(key(&v["data_key"]));
    let nonce: [u8; 12] = hex(&v["nonce"]).try_into().unwrap();
    for case in v["sealed_fields"].as_array().unwrap() {
        let context = context_of(case, &[]);
        let value = case["value"].as_str().unwrap();
        let expected = hex(&case["sealed"]);
        let sealed = SealedField::seal_with_nonce(&data_key, 0x01, context, value, nonce).unwrap();
        assert_eq!(
            sealed.as_bytes(),
            expected.as_slice(),
            "seal {}",
            context.column
        );
        let opened = SealedField::from_bytes(expected.clone())
            .open(&data_key, context)
            .unwrap();
        assert_eq!(opened, value, "open {}", context.column);

        // fail_ cases derived from each vector
        let mut unknown_version = expected.clone();
        unknown_version[0] = 0x03;
        assert_eq!(
            SealedField::from_bytes(unknown_version).open(&data_key, context),
            Err(CryptoError::Malformed),
            "fail_unknown_version {}",
            context.column
        );
        let mut flipped_tag = expected.clone();
        *flipped_tag.last_mut().unwrap() ^= 1;
        assert_eq!(
            SealedField::from_bytes(flipped_tag).open(&data_key, context),
            Err(CryptoError::Unauthentic),
            "fail_flipped_tag {}",
            context.column
        );
    }
}

#[test]
fn v2_field_key_and_sealed_fields_match_the_vectors_both_ways() {
    let v = vectors();
    let data_key = DataKey::from_secret(key(&v["data_key"]));
    assert_eq!(data_key.field_key().expose().to_vec(), hex(&v["field_key"]));
    let nonce: [u8; 12] = hex(&v["nonce"]).try_into().unwrap();
    for case in v["sealed_fields_v2"].as_array().unwrap() {
        let bound = bound(&case["bound"]);
        let context = context_of(case, &bound);
        let value = case["value"].as_str().unwrap();
        let expected = hex(&case["sealed"]);
        let sealed = SealedField::seal_with_nonce(&data_key, 0x02, context, value, nonce).unwrap();
        assert_eq!(
            sealed.as_bytes(),
            expected.as_slice(),
            "seal {}",
            context.column
        );
        let opened = SealedField::from_bytes(expected)
            .open(&data_key, context)
            .unwrap();
        assert_eq!(opened, value, "open {}", context.column);
    }
}

#[test]
fn v2_fail_cases_are_refused() {
    let v = vectors();
    let data_key = DataKey::from_secret(key(&v["data_key"]));
    let master = key(&v["master_key"]);
    // One key under every version the cases name: only the AAD can tell them apart.
    let ring = MasterKeyRing::of_secret_keys([(1, master.clone()), (7, master)]).unwrap();
    let fields = v["sealed_fields_v2"].as_array().unwrap();
    let cases = v["fail_cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        assert!(name.starts_with("fail_"), "{name}");
        let expected = match case["error"].as_str().unwrap() {
            "unauthentic" => CryptoError::Unauthentic,
            "malformed" => CryptoError::Malformed,
            other => panic!("{name}: unknown error {other}"),
        };
        let error = match case["kind"].as_str().unwrap() {
            "field" => {
                let field = &fields[usize::try_from(case["case"].as_u64().unwrap()).unwrap()];
                let bound = bound(case.get("bound").unwrap_or(&field["bound"]));
                SealedField::from_bytes(hex(&case["sealed"]))
                    .open(&data_key, context_of(field, &bound))
                    .unwrap_err()
            }
            "wrapped" => {
                let user = v["wrapped_data_keys_v2"][0]["user_id"].as_str().unwrap();
                let user = Uuid::parse_str(user).unwrap();
                ring.unwrap(user, &WrappedDataKey::from_bytes(hex(&case["wrapped"])))
                    .unwrap_err()
            }
            other => panic!("{name}: unknown kind {other}"),
        };
        assert_eq!(error, expected, "{name}");
    }
}

#[test]
fn wrapped_data_keys_match_the_vectors() {
    let v = vectors();
    let master = key(&v["master_key"]);
    let nonce: [u8; 12] = hex(&v["nonce"]).try_into().unwrap();
    // v1 is only read; v2 is written and read.
    for (set, written) in [("wrapped_data_keys", false), ("wrapped_data_keys_v2", true)] {
        for case in v[set].as_array().unwrap() {
            let version = u32::try_from(case["kek_version"].as_u64().unwrap()).unwrap();
            let user = Uuid::parse_str(case["user_id"].as_str().unwrap()).unwrap();
            let data_key = DataKey::from_secret(key(&case["data_key"]));
            let expected = hex(&case["wrapped"]);
            if written {
                let wrapped =
                    WrappedDataKey::wrap_with_nonce(&master, version, user, &data_key, nonce)
                        .unwrap();
                assert_eq!(wrapped.as_bytes(), expected.as_slice(), "wrap v{version}");
            }
            let ring = MasterKeyRing::of_secret_keys([(version, master.clone())]).unwrap();
            let wrapped = WrappedDataKey::from_bytes(expected);
            assert_eq!(wrapped.is_current_format(), written, "{set}");
            let unwrapped = ring.unwrap(user, &wrapped).unwrap();
            assert_eq!(
                unwrapped.secret().expose(),
                data_key.secret().expose(),
                "{set}: unwrap v{version}"
            );
        }
    }
}

#[test]
fn blind_indexes_match_the_vectors() {
    let v = vectors();
    let index_key = BlindIndexKey::new(key(&v["blind_index_key"]));
    for case in v["blind_indexes"].as_array().unwrap() {
        let column = case["column"].as_str().unwrap();
        let computed = index_key.index(column, case["normalized"].as_str().unwrap());
        assert_eq!(computed.0, hex(&case["index"]), "index {column}");
    }
}

#[test]
fn file_keys_match_the_vectors() {
    let v = vectors();
    let data_key = DataKey::from_secret(key(&v["data_key"]));
    let case = &v["file_key"];
    let salt: [u8; FILE_SALT_LEN] = hex(&case["salt"]).try_into().unwrap();
    let file_id = Uuid::parse_str(case["file_id"].as_str().unwrap()).unwrap();
    let derived = FileKey::derive(&data_key, &salt, file_id);
    assert_eq!(derived.expose().to_vec(), hex(&case["key"]));

    // fail_ cases: another file id, another salt, another data key give other keys.
    let other_id = FileKey::derive(&data_key, &salt, Uuid::new_v4());
    assert_ne!(other_id.expose(), derived.expose(), "fail_other_file_id");
    let mut other_salt = salt;
    other_salt[0] ^= 1;
    let other_salt = FileKey::derive(&data_key, &other_salt, file_id);
    assert_ne!(other_salt.expose(), derived.expose(), "fail_other_salt");
    let other_dek = FileKey::derive(
        &DataKey::from_secret(SecretKey::from_bytes([9; 32])),
        &salt,
        file_id,
    );
    assert_ne!(other_dek.expose(), derived.expose(), "fail_other_data_key");
}
