//! The all-users export (POST /exports/users): every user in one AES-256 (R6) PDF that
//! opens with the password the operator sent inside a JWE body. The document is built
//! and encrypted in memory, never written to disk; the read of every user is audited
//! as one record.

use chrono::{Datelike as _, NaiveDate};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::audit::{Action, RequestId, Subject};
use super::data_keys::with_live_keys;
use super::payload::{decrypt_object, JweBody};
use super::users::{Order, UserRecord};
use super::{Core, Vault, VaultError};
use crate::access::Caller;
use crate::db::DbConnection;
use crate::domain::{check_names, FieldErrors};
use crate::id::UserId;
use crate::pdf::{self, Roster, RosterRow};

const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 128;
const LENGTH_RULE: &str = "must be a string of 12 to 128 characters";
/// Users opened per database round trip while collecting the export.
const BATCH: u32 = 1000;

/// The export password, checked: 12 to 128 characters that a PDF password can hold.
/// Its `Debug` hides it and it is wiped from memory when dropped.
pub struct ExportPassword(Zeroizing<String>);

impl std::fmt::Debug for ExportPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportPassword(..)")
    }
}

impl ExportPassword {
    /// The decrypted body `{"password": "…"}`.
    pub fn parse(mut object: Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_names(
            &mut errors,
            "",
            "field",
            &["password"],
            object.keys().map(String::as_str),
        );
        let password = match object.remove("password") {
            None => {
                errors.insert("password".to_owned(), "is required".to_owned());
                None
            }
            Some(Value::String(password)) => match pdf::prepare_password(&password) {
                // Counted as readers will see it: SASLprep can drop characters.
                Ok(prepared)
                    if (MIN_PASSWORD..=MAX_PASSWORD).contains(&prepared.chars().count()) =>
                {
                    Some(password)
                }
                Ok(_) => {
                    errors.insert("password".to_owned(), LENGTH_RULE.to_owned());
                    None
                }
                Err(problem) => {
                    errors.insert("password".to_owned(), problem.to_owned());
                    None
                }
            },
            Some(_) => {
                errors.insert("password".to_owned(), LENGTH_RULE.to_owned());
                None
            }
        };
        match password {
            Some(password) if errors.is_empty() => Ok(Self(Zeroizing::new(password))),
            _ => Err(errors),
        }
    }
}

impl Vault {
    /// POST /exports/users: every user, oldest first, in one encrypted PDF.
    pub async fn export_users(
        &self,
        caller: Caller,
        request: RequestId,
        body: JweBody,
    ) -> Result<Vec<u8>, VaultError> {
        let (password, rows) = self
            .blocking(move |core| {
                let password = ExportPassword::parse(decrypt_object(&core.keys, &body)?)
                    .map_err(VaultError::Validation)?;
                let rows = crate::db::run(&core.pool, |connection| core.roster_rows(connection))?;
                Ok((password, rows))
            })
            .await?;
        self.record(
            &caller,
            &request,
            Action::UsersExport,
            Subject::Users(rows.len()),
        )
        .await?;
        // PDF work happens with the connection back in the pool and the read recorded.
        self.blocking(move |_| {
            let roster = Roster {
                title: "All users".to_owned(),
                generated_at: chrono::Utc::now(),
                rows,
            };
            let document = pdf::render_roster(&roster)?;
            drop(roster);
            Ok(pdf::encrypt(&document, &password.0)?)
        })
        .await
    }
}

impl Core {
    /// Every user, oldest first, as export rows (only the five exported fields kept).
    fn roster_rows(&self, connection: &mut DbConnection) -> Result<Vec<RosterRow>, VaultError> {
        let today = chrono::Utc::now().date_naive();
        let mut rows = Vec::new();
        let mut after: Option<UserId> = None;
        loop {
            let (users, next) = with_live_keys(&self.keys, |keys| {
                self.keyset_page(connection, keys, Order::OldestFirst, after, BATCH)
            })?;
            rows.extend(users.into_iter().map(|user| roster_row(user, today)));
            match next {
                Some(next) => after = Some(next),
                None => return Ok(rows),
            }
        }
    }
}

fn roster_row(user: UserRecord, today: NaiveDate) -> RosterRow {
    RosterRow {
        name: user.full_name(),
        age: user
            .date_of_birth
            .as_deref()
            .and_then(|born| age_on(born, today)),
        address: user.address.unwrap_or_default(),
        phone: user.phone.unwrap_or_default(),
        email: user.email,
    }
}

/// Whole years from `born` (`YYYY-MM-DD`) to `today`.
fn age_on(born: &str, today: NaiveDate) -> Option<u32> {
    let born = NaiveDate::parse_from_str(born, "%Y-%m-%d").ok()?;
    let mut years = today.year() - born.year();
    if (today.month(), today.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_whole_years() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(age_on("1990-04-01", today), Some(36));
        assert_eq!(age_on("1990-11-25", today), Some(36));
        assert_eq!(age_on("1990-11-26", today), Some(35));
        assert_eq!(age_on("not a date", today), None);
    }

    #[test]
    fn password_needs_12_characters_and_nothing_else() {
        let parse = |value: serde_json::Value| match value {
            Value::Object(object) => ExportPassword::parse(object),
            _ => unreachable!("the cases are objects"),
        };
        assert!(parse(serde_json::json!({"password": "123456789012"})).is_ok());
        for bad in [
            serde_json::json!({"password": "12345678901"}),
            serde_json::json!({"password": 123_456_789_012_u64}),
            serde_json::json!({}),
            serde_json::json!({"password": "123456789012", "x": 1}),
        ] {
            let shown = bad.to_string();
            assert!(parse(bad).is_err(), "{shown}");
        }
    }
}
