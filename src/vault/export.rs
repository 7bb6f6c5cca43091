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
use super::{statement_links, Core, Vault, VaultError};
use crate::access::Caller;
use crate::crypto::{passphrase, CryptoError};
use crate::db::DbConnection;
use crate::domain::{check_names, FieldErrors};
use crate::id::UserId;
use crate::metrics::DocumentKind;
use crate::pdf::{self, RosterRow, RosterWriter};

const MAX_PASSWORD: usize = 128;
/// What a password the operator chooses must be worth (`passphrase::estimated_bits`):
/// as much as one the service makes.
const MIN_CHOSEN_BITS: f64 = 100.0;
const TYPE_RULE: &str = "must be a string (or left out, to have one made)";
/// Users opened per database round trip while collecting the export.
const BATCH: u32 = 1000;

/// The export password: made by the service (20 characters of Crockford's base32,
/// 100 bits), or chosen by the operator and at least as strong by
/// [`passphrase::estimated_bits`]. Its `Debug` hides it and it is wiped from memory
/// when dropped.
pub struct ExportPassword {
    password: Zeroizing<String>,
    made: bool,
}

impl std::fmt::Debug for ExportPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportPassword(..)")
    }
}

impl ExportPassword {
    /// The decrypted body `{"password": "…"}` or `{}`: the chosen password is taken
    /// out of it and checked, or one is made when there is none. A refused password
    /// is a validation error; a random number generator that fails is not the
    /// caller's doing.
    pub fn parse(object: &mut Map<String, Value>) -> Result<Self, VaultError> {
        let mut errors = FieldErrors::new();
        check_names(
            &mut errors,
            "",
            "field",
            &["password"],
            object.keys().map(String::as_str),
        );
        let chosen = match object.remove("password") {
            None => None,
            Some(Value::String(chosen)) => Self::chosen(Zeroizing::new(chosen))
                .map_err(|problem| errors.insert("password".to_owned(), problem))
                .ok(),
            Some(_) => {
                errors.insert("password".to_owned(), TYPE_RULE.to_owned());
                None
            }
        };
        if !errors.is_empty() {
            return Err(VaultError::Validation(errors));
        }
        match chosen {
            Some(chosen) => Ok(chosen),
            None => Ok(Self::made()?),
        }
    }

    fn made() -> Result<Self, CryptoError> {
        Ok(Self {
            password: passphrase::random_base32(statement_links::PASSWORD_LENGTH)?,
            made: true,
        })
    }

    /// A password the operator chose: one a PDF reader can take (SASLprep), of at most
    /// [`MAX_PASSWORD`] characters, worth at least [`MIN_CHOSEN_BITS`].
    fn chosen(password: Zeroizing<String>) -> Result<Self, String> {
        // Counted and judged as readers will see it: SASLprep can drop characters.
        let prepared = Zeroizing::new(pdf::prepare_password(&password).map_err(str::to_owned)?);
        if prepared.chars().count() > MAX_PASSWORD {
            return Err(format!("must be at most {MAX_PASSWORD} characters"));
        }
        let bits = passphrase::estimated_bits(&prepared);
        if bits < MIN_CHOSEN_BITS {
            return Err(format!(
                "is too easy to guess (about {bits:.0} bits; at least {MIN_CHOSEN_BITS:.0} \
                 needed, e.g. 24 random letters and digits): leave it out and one is made"
            ));
        }
        Ok(Self {
            password,
            made: false,
        })
    }

    /// The password when the service made it: shown once, in the answer.
    pub fn made_password(&self) -> Option<&str> {
        self.made.then_some(self.password.as_str())
    }
}

/// An export under way: the document, and the password when the service made it.
pub struct Export {
    pub document: DocumentStream,
    /// Shown once to the operator (a response header); never stored or logged.
    pub made_password: Option<Zeroizing<String>>,
}

impl Vault {
    /// POST /exports/users: every user, oldest first, in one encrypted PDF.
    pub async fn export_users(
        &self,
        caller: Caller,
        request: RequestId,
        body: JweBody,
    ) -> Result<Export, VaultError> {
        let slot = self.decryption_slot().await?;
        let password = self
            .blocking(move |core| ExportPassword::parse(&mut *decrypt_object(core, &body, slot)?))
            .await?;
        let made_password = password
            .made_password()
            .map(|made| Zeroizing::new(made.to_owned()));
        let document = self
            .stream_document(DocumentKind::UserExport, move |core, ready, sink| {
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
            .await?;
        Ok(Export {
            document,
            made_password,
        })
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
            &password.password,
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
    fn a_password_is_made_or_chosen_strong() {
        let parse = |value: serde_json::Value| match value {
            Value::Object(mut object) => ExportPassword::parse(&mut object),
            _ => unreachable!("the cases are objects"),
        };
        let made = parse(serde_json::json!({})).unwrap();
        assert_eq!(made.made_password().unwrap().len(), 20);
        let chosen = parse(serde_json::json!({"password": "k3Jd9sLq0PzX7vBn2MwR8tYc"})).unwrap();
        assert_eq!(chosen.made_password(), None);
        for bad in [
            serde_json::json!({"password": "correct horse battery staple"}),
            serde_json::json!({"password": "123456789012345678901234567890"}),
            serde_json::json!({"password": 123_456_789_012_u64}),
            serde_json::json!({"password": "k3Jd9sLq0PzX7vBn2MwR8tYc", "x": 1}),
        ] {
            let shown = bad.to_string();
            assert!(parse(bad).is_err(), "{shown}");
        }
    }
}
