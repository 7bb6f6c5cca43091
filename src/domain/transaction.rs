//! The transaction payload (`POST /users/{id}/transactions` and `/batch`): the one door
//! from decrypted JSON to a [`NewTransaction`]. A batch reports every problem with the
//! item's position (`transactions[3].amount`), so a client can fix them all at once.

use chrono::{DateTime, Datelike as _, NaiveDateTime};
use serde_json::{Map, Value};

use super::new_user::take;
use super::unknown::check_names;
use super::{free_text, Invalid};
use super::{Currency, FieldErrors};

/// A transaction, opened. Its `Debug` prints only the id: this is personal data.
#[derive(Clone)]
pub struct Transaction {
    pub id: crate::id::TransactionId,
    pub reference: String,
    pub occurred_at: NaiveDateTime,
    pub details: String,
    /// Minor units of `currency`; negative when money left the account.
    pub amount: i64,
    pub currency: Currency,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The most transactions one batch request may carry (all or nothing).
pub const MAX_BATCH: usize = 1_000;

const FIELDS: [&str; 5] = ["reference", "occurred_at", "details", "amount", "currency"];

/// A receipt number (`QFT3XYZ12A`): 1–64 characters without spaces or control
/// characters, unique per user. Compared exactly as given.
#[derive(Clone, PartialEq, Eq)]
pub struct Reference(String);

impl Reference {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err("must not be empty");
        }
        if raw.chars().count() > 64 {
            return Err("must be at most 64 characters");
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What happened, as the statement shows it: 1–300 characters, any script.
fn parse_details(raw: &str) -> Result<String, Invalid> {
    free_text(raw, 300, "must be at most 300 characters")
}

/// The years a transaction can happen in.
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=2999;

/// An RFC 3339 timestamp between 1970 and 2999, kept as UTC to the microsecond (what
/// both databases store).
fn parse_occurred_at(raw: &str) -> Result<NaiveDateTime, Invalid> {
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| "must be an RFC 3339 timestamp like 2026-11-25T09:30:00+03:00")?
        .naive_utc();
    if !YEARS.contains(&at.year()) {
        return Err("must be between the years 1970 and 2999");
    }
    Ok(crate::time::truncate_to_micros(at))
}

/// A validated transaction, ready to be sealed. `amount` is in minor units of
/// `currency`, negative for money leaving the account.
#[derive(Clone, PartialEq, Eq)]
pub struct NewTransaction {
    pub reference: Reference,
    pub occurred_at: NaiveDateTime,
    pub details: String,
    pub amount: i64,
    pub currency: Currency,
}

impl std::fmt::Debug for NewTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTransaction").finish_non_exhaustive()
    }
}

impl NewTransaction {
    /// Parses one transaction object; problems land in the returned [`FieldErrors`].
    pub fn parse(object: &Map<String, Value>) -> Result<Self, FieldErrors> {
        Self::parse_prefixed(object, "")
    }

    /// Parses `{"transactions": [...]}` with 1 to [`MAX_BATCH`] items.
    pub fn parse_batch(object: &Map<String, Value>) -> Result<Vec<Self>, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_names(
            &mut errors,
            "",
            "field",
            &["transactions"],
            object.keys().map(String::as_str),
        );
        let items = match object.get("transactions") {
            Some(Value::Array(items)) if items.is_empty() => {
                errors.insert("transactions".to_owned(), "must not be empty".to_owned());
                return Err(errors);
            }
            Some(Value::Array(items)) if items.len() > MAX_BATCH => {
                errors.insert(
                    "transactions".to_owned(),
                    format!("must hold at most {MAX_BATCH} transactions"),
                );
                return Err(errors);
            }
            Some(Value::Array(items)) => items,
            None => {
                errors.insert("transactions".to_owned(), "is required".to_owned());
                return Err(errors);
            }
            Some(_) => {
                errors.insert("transactions".to_owned(), "must be an array".to_owned());
                return Err(errors);
            }
        };
        let mut parsed = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let prefix = format!("transactions[{index}].");
            match item.as_object() {
                Some(item) => match Self::parse_prefixed(item, &prefix) {
                    Ok(transaction) => parsed.push(transaction),
                    Err(item_errors) => errors.extend(item_errors),
                },
                None => {
                    errors.insert(format!("transactions[{index}]"), "must be an object".into());
                }
            }
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(errors)
        }
    }

    fn parse_prefixed(object: &Map<String, Value>, prefix: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_names(
            &mut errors,
            prefix,
            "field",
            &FIELDS,
            object.keys().map(String::as_str),
        );
        let reference = take(object, &mut errors, "reference", true, Reference::parse);
        let occurred_at = take(object, &mut errors, "occurred_at", true, parse_occurred_at);
        let details = take(object, &mut errors, "details", true, parse_details);
        let currency =
            take(object, &mut errors, "currency", false, Currency::parse).unwrap_or(Currency::KES);
        // The amount's decimals depend on the currency: with an unknown currency (already
        // reported) there is no rule to check them against.
        let currency_unknown = errors.contains_key("currency");
        let amount = match object.get("amount") {
            Some(Value::String(text)) => match currency.parse_amount(text) {
                Ok(amount) => Some(amount),
                Err(_) if currency_unknown => None,
                Err(message) => {
                    errors.insert("amount".to_owned(), message.to_owned());
                    None
                }
            },
            None | Some(Value::Null) => {
                errors.insert("amount".to_owned(), "is required".to_owned());
                None
            }
            Some(_) => {
                errors.insert(
                    "amount".to_owned(),
                    "must be a decimal string like \"-1250.00\", not a number".to_owned(),
                );
                None
            }
        };
        let errors: FieldErrors = errors
            .into_iter()
            .map(|(field, message)| (format!("{prefix}{field}"), message))
            .collect();
        match (reference, occurred_at, details, amount) {
            (Some(reference), Some(occurred_at), Some(details), Some(amount))
                if errors.is_empty() =>
            {
                Ok(Self {
                    reference,
                    occurred_at,
                    details,
                    amount,
                    currency,
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn one(value: &Value) -> Result<NewTransaction, FieldErrors> {
        NewTransaction::parse(value.as_object().unwrap())
    }

    fn valid() -> Value {
        json!({"reference":"QFT3XYZ12A","occurred_at":"2026-11-01T09:30:00+03:00",
               "details":"Paid to Mama Mboga","amount":"-1250.00"})
    }

    #[test]
    fn a_transaction_parses_with_kes_by_default_and_utc_time() {
        let transaction = one(&valid()).unwrap();
        assert_eq!(transaction.amount, -125_000);
        assert_eq!(transaction.currency, Currency::KES);
        assert_eq!(
            transaction.occurred_at.to_string(),
            "2026-11-01 06:30:00",
            "stored in UTC"
        );
    }

    #[test]
    fn every_problem_is_reported_per_field() {
        let errors = one(
            &json!({"reference":"A B","occurred_at":"yesterday","details":"",
                                 "amount":-12.5,"currency":"XYZ","colour":"red"}),
        )
        .unwrap_err();
        for field in [
            "reference",
            "occurred_at",
            "details",
            "amount",
            "currency",
            "(unknown)",
        ] {
            assert!(errors.contains_key(field), "{field} in {errors:?}");
        }
        let mut too_precise = valid();
        too_precise["amount"] = json!("1.234");
        assert!(one(&too_precise).unwrap_err()["amount"].contains("decimals"));
        let mut yen = valid();
        yen["currency"] = json!("JPY");
        yen["amount"] = json!("-1250");
        assert_eq!(one(&yen).unwrap().amount, -1250);
    }

    #[test]
    fn batches_carry_positions_and_a_size_limit() {
        let mut bad = valid();
        bad["amount"] = json!("x");
        let errors = NewTransaction::parse_batch(
            json!({"transactions":[valid(), bad, 5]})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert!(errors.contains_key("transactions[1].amount"), "{errors:?}");
        assert!(errors.contains_key("transactions[2]"), "{errors:?}");
        assert_eq!(errors.len(), 2);

        let items: Vec<Value> = (0..=MAX_BATCH).map(|_| valid()).collect();
        let errors =
            NewTransaction::parse_batch(json!({ "transactions": items }).as_object().unwrap())
                .unwrap_err();
        assert!(errors["transactions"].contains("at most 1000"));
        let items: Vec<Value> = (0..MAX_BATCH).map(|_| valid()).collect();
        assert_eq!(
            NewTransaction::parse_batch(json!({ "transactions": items }).as_object().unwrap())
                .unwrap()
                .len(),
            MAX_BATCH
        );
    }
}
