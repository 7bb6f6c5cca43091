//! POST /exports/users (admin): every user in one AES-256 (R6) encrypted PDF that
//! opens with the password the operator sent inside a JWE body. The document is
//! built and encrypted in memory, never written to disk, and sent with its length;
//! the read of every user is audited as one record.

use actix_web::http::header::{
    CacheControl, CacheDirective, ContentDisposition, DispositionParam, DispositionType,
};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Datelike as _, NaiveDate};
use serde_json::{Map, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::body::{decrypted_object, read_jwe};
use crate::access::{authorise, BearerToken, Scope};
use crate::audit::{self, Action, Subject};
use crate::domain::{check_names, FieldErrors};
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::startup::AppState;
use crate::statement::{
    prepare_password, protect, random_owner_password, render_roster, Roster, RosterRow,
};
use crate::users::{self as vault, Order, UserRecord};

const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 128;
const LENGTH_RULE: &str = "must be a string of 12 to 128 characters";
/// Users opened per database round trip while collecting the export.
const BATCH: u32 = 1000;

/// The export password, checked: 12 to 128 characters. Its `Debug` hides it and it
/// is wiped from memory when dropped.
struct ExportPassword(Zeroizing<String>);

impl std::fmt::Debug for ExportPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportPassword(..)")
    }
}

impl ExportPassword {
    fn parse(mut object: Map<String, Value>) -> Result<Self, ApiError> {
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
            Some(Value::String(password)) => match prepare_password(&password) {
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
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

pub async fn users(
    token: BearerToken,
    request_id: RequestId,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorise(&state, token, Scope::Admin).await?;
    let (body, serialization) =
        read_jwe(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let state = state.clone();
    let pdf = web::block(move || {
        let password = ExportPassword::parse(decrypted_object(&state.keys, &body, serialization)?)?;
        let rows = crate::db::run(&state.pool, |connection| {
            let rows = collect(connection, &state)?;
            audit::record(
                connection,
                &caller,
                &request_id,
                Action::UsersExport,
                Subject::Users(rows.len()),
            )?;
            Ok::<_, ApiError>(rows)
        })?;
        // PDF work happens with the connection back in the pool.
        let roster = Roster {
            title: "All users".to_owned(),
            generated_at: chrono::Utc::now(),
            rows,
        };
        let document = render_roster(&roster).map_err(|error| ApiError::Internal(error.into()))?;
        drop(roster);
        let owner = random_owner_password().map_err(|error| ApiError::Internal(error.into()))?;
        protect(&document, &password.0, &owner).map_err(|error| ApiError::Internal(error.into()))
    })
    .await??;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "users-{}.pdf",
                chrono::Utc::now().format("%Y%m%d-%H%M%S")
            ))],
        })
        .body(pdf))
}

/// Every user, oldest first, as export rows (only the five exported fields are kept).
fn collect(
    connection: &mut crate::db::DbConnection,
    state: &AppState,
) -> Result<Vec<RosterRow>, ApiError> {
    let today = chrono::Utc::now().date_naive();
    let mut rows = Vec::new();
    let mut after: Option<Uuid> = None;
    loop {
        let page = vault::with_live_keys(&state.keys, |keys| {
            vault::page(
                connection,
                &state.data_keys,
                keys,
                Order::OldestFirst,
                after,
                BATCH,
            )
        })?;
        rows.extend(page.users.into_iter().map(|user| roster_row(user, today)));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(rows),
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
            assert!(
                matches!(parse(bad), Err(ApiError::Validation(_))),
                "{shown}"
            );
        }
    }
}
