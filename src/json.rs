//! JSON from requests (bodies, decrypted payloads, JWE headers and envelopes) as
//! serde_json reads it, except that an object naming the same key twice is refused.
//! RFC 8259 leaves duplicates to each parser: an integrator's validator reading the
//! first `email` (or `alg`) while we used the last would be two parties reading two
//! different documents. Nesting depth stays bounded by serde_json's own limit.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

const DUPLICATE_KEY: &str = "an object has the same key twice";

/// Why bytes are not JSON we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (or nested deeper than serde_json allows).
    Syntax,
    /// JSON, but an object names a key twice.
    DuplicateKey,
}

impl JsonError {
    /// A sentence for an error response.
    pub fn message(self, not_json: &'static str) -> &'static str {
        match self {
            Self::Syntax => not_json,
            Self::DuplicateKey => DUPLICATE_KEY,
        }
    }
}

/// Parses `bytes` as JSON.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    match serde_json::from_slice::<UniqueKeys>(bytes) {
        Ok(UniqueKeys(value)) => Ok(value),
        // Our visitor's only own error is the duplicate key; the rest are syntax.
        Err(error) if error.is_data() => Err(JsonError::DuplicateKey),
        Err(_) => Err(JsonError::Syntax),
    }
}

struct UniqueKeys(Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(UniqueKeys)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity; serde_json's reader never gives one.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut array = Vec::with_capacity(items.size_hint().unwrap_or(0).min(1024));
        while let Some(UniqueKeys(item)) = items.next_element()? {
            array.push(item);
        }
        Ok(Value::Array(array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(DUPLICATE_KEY));
            }
            let UniqueKeys(value) = entries.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_as_serde_json_does() {
        let text = br#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": "\u00e9"}"#;
        let expected: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(parse(text).unwrap(), expected);
    }

    #[test]
    fn a_key_twice_is_refused_at_any_depth() {
        for text in [
            r#"{"email": "a@x.co", "email": "b@x.co"}"#,
            r#"{"items": [{"reference": "A", "reference": "B"}]}"#,
            r#"{"a": {"b": 1, "b": 1}}"#,
        ] {
            assert_eq!(
                parse(text.as_bytes()),
                Err(JsonError::DuplicateKey),
                "{text}"
            );
        }
    }

    #[test]
    fn broken_json_says_so() {
        for text in ["", "{", r#"{"a" 1}"#, "[1,]", "nul"] {
            assert_eq!(parse(text.as_bytes()), Err(JsonError::Syntax), "{text:?}");
        }
        let deep = "[".repeat(100_000);
        assert_eq!(parse(deep.as_bytes()), Err(JsonError::Syntax));
    }
}
