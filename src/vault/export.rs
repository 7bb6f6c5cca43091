//! The all-users export (POST /exports/users): every user in one AES-256 (R6) PDF that
//! opens with the password the operator sent inside a JWE body. The document is
//! written while the users are read, a keyset batch at a time, and streamed
//! (`documents.rs`): never held whole, never written to disk. The read of every user
//! is audited as one record, before the first byte.

use chrono::{Datelike as _, NaiveDate};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::audit::{self, Action, RequestId, Subject};
use super::data_keys::with_live_keys;
use super::documents::{ChannelWriter, DocumentStream, Written};
use super::payload::{decrypt_object, JweBody};
use super::users::{Order, UserRecord};
use super::{Core, Vault, VaultError};
use crate::access::Caller;
use crate::db::DbConnection;
use crate::domain::{check_names, FieldErrors};
use crate::id::UserId;
use crate::metrics::DocumentKind;
use crate::pdf::{self, RosterRow, RosterWriter};

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
    /// The decrypted body `{"password": "…"}`; the password is taken out of it.
    pub fn parse(object: &mut Map<String, Value>) -> Result<Self, FieldErrors> {
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
            Some(Value::String(password)) => {
                match pdf::prepare_password(&password).map(Zeroizing::new) {
                    // Counted as readers will see it: SASLprep can drop characters.
                    Ok(prepared)
                        if (MIN_PASSWORD..=MAX_PASSWORD).contains(&prepared.chars().count()) =>
                    {
                        Some(Zeroizing::new(password))
                    }
                    Ok(_) => {
                        errors.insert("password".to_owned(), LENGTH_RULE.to_owned());
                        None
                    }
                    Err(problem) => {
                        errors.insert("password".to_owned(), problem.to_owned());
                        None
                    }
                }
            }
            Some(_) => {
                errors.insert("password".to_owned(), LENGTH_RULE.to_owned());
                None
            }
        };
        match password {
            Some(password) if errors.is_empty() => Ok(Self(password)),
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
    ) -> Result<DocumentStream, VaultError> {
        self.stream_document(DocumentKind::UserExport, move |core, ready, sink| {
            let password = ExportPassword::parse(&mut *decrypt_object(core, &body)?)
                .map_err(VaultError::Validation)?;
            crate::db::run(&core.pool, |connection| {
                let people = crate::db::users::count(connection)?;
                audit::record(
                    connection,
                    &caller,
                    &request,
                    Action::UsersExport,
                    Subject::Users(usize::try_from(people).unwrap_or(usize::MAX)),
                )?;
                let generated_at = chrono::Utc::now();
                ready.go(format!(
                    "users-{}.pdf",
                    generated_at.format("%Y%m%d-%H%M%S")
                ));
                core.write_roster(connection, &password, generated_at, sink)
            })
        })
        .await
    }
}

impl Core {
    /// Every user, oldest first, into `sink`, read and opened a batch at a time.
    fn write_roster(
        &self,
        connection: &mut DbConnection,
        password: &ExportPassword,
        generated_at: chrono::DateTime<chrono::Utc>,
        sink: &mut ChannelWriter,
    ) -> Result<Written, VaultError> {
        let today = generated_at.date_naive();
        let mut writer = RosterWriter::start(
            sink,
            &password.0,
            std::sync::Arc::clone(&self.fonts),
            "All users",
            generated_at,
        )?;
        let mut after: Option<UserId> = None;
        loop {
            let (users, next) = with_live_keys(&self.keys, |keys| {
                self.keyset_page(connection, keys, Order::OldestFirst, after, BATCH)
            })?;
            for user in users {
                writer.add(&roster_row(user, today))?;
            }
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let (_, missing) = writer.finish()?;
        Ok(missing)
    }
}

/// The fields move from the record into the row (taken, not copied): both wipe what
/// they hold when dropped.
fn roster_row(mut user: UserRecord, today: NaiveDate) -> RosterRow {
    RosterRow {
        name: user.full_name(),
        age: user
            .date_of_birth
            .as_deref()
            .and_then(|born| age_on(born, today)),
        address: user.address.take().unwrap_or_default(),
        phone: user.phone.take().unwrap_or_default(),
        email: std::mem::take(&mut user.email),
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
            Value::Object(mut object) => ExportPassword::parse(&mut object),
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
