//! Statements: `GET /users/{id}/statement` (the PDF now, opened with the national id),
//! `POST /users/{id}/statements` (a download link with a password policy) and
//! `GET /statements/download/{token}` (that link, no bearer token: the token itself is
//! a 256-bit secret). Every PDF is rendered from the stored transactions when it is
//! downloaded, so any instance can serve any link.

use actix_web::http::header::{
    CacheControl, CacheDirective, ContentDisposition, DispositionParam, DispositionType,
};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::body::{parse_id, query_params, read_json};
use crate::access::{authorise, authorised, BearerToken, Scope};
use crate::audit::{self, Action, Subject};
use crate::crypto::{random_bytes, FieldContext, SealedField};
use crate::db::statement_links::{self, StatementLinkRow};
use crate::db::{self, DbConnection};
use crate::domain::{check_names, Currency, FieldErrors, Period};
use crate::error::ApiError;
use crate::ledger;
use crate::request_id::RequestId;
use crate::startup::AppState;
use crate::statement::{
    mask_phone, one_time_code, protect, random_owner_password, random_password, render,
    PasswordPolicy, Statement,
};
use crate::users::{self as vault, UserRecord};

/// The most transactions one statement renders (a 100,000-row PDF takes seconds and
/// hundreds of MB; see BENCHMARKS.md). Longer periods must be split.
pub const MAX_STATEMENT_ROWS: usize = 100_000;
/// The URL path under which download links are served.
pub const DOWNLOAD_PATH: &str = "/statements/download";

const NO_NATIONAL_ID: &str =
    "This user has no national id, which the statement password needs; add one first.";

fn internal(error: impl std::error::Error + Send + Sync + 'static) -> ApiError {
    ApiError::Internal(anyhow::Error::new(error))
}

fn validation(field: &str, message: &str) -> ApiError {
    ApiError::Validation(FieldErrors::from([(field.to_owned(), message.to_owned())]))
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn parse_currency(raw: Option<&str>) -> Result<Currency, ApiError> {
    raw.map_or(Ok(Currency::KES), |raw| {
        Currency::parse(raw).map_err(|message| validation("currency", message))
    })
}

/// Gathers one statement's content from the database.
fn load_statement(
    state: &AppState,
    connection: &mut DbConnection,
    user: &UserRecord,
    period: Period,
    currency: Currency,
    reference: String,
) -> Result<Statement, ApiError> {
    let activity = ledger::activity(
        connection,
        &state.data_keys,
        &state.keys,
        user.id,
        period,
        currency,
        MAX_STATEMENT_ROWS,
    )?;
    Ok(Statement {
        customer_name: user.full_name(),
        masked_phone: user.phone.as_deref().map(mask_phone),
        period,
        currency,
        requested_at: chrono::Utc::now(),
        reference,
        opening_balance: activity.opening_balance,
        transactions: activity.transactions,
    })
}

/// Renders and encrypts a statement: CPU work, run on a blocking thread after the
/// database connection went back to the pool.
async fn encrypted_pdf(
    statement: Statement,
    password: Zeroizing<String>,
) -> Result<Vec<u8>, ApiError> {
    web::block(move || {
        let document = render(&statement).map_err(internal)?;
        drop(statement);
        let owner_password = random_owner_password().map_err(internal)?;
        protect(&document, &password, &owner_password).map_err(internal)
    })
    .await?
}

fn pdf_response(pdf: Vec<u8>, name: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .body(pdf)
}

fn fetch_user(
    state: &AppState,
    connection: &mut DbConnection,
    id: Uuid,
) -> Result<UserRecord, ApiError> {
    vault::fetch(connection, &state.data_keys, &state.keys, id)?.ok_or(ApiError::NotFound)
}

/// GET /users/{id}/statement?from=&to=&currency=: the PDF, opened with the national id.
pub async fn download(
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let query = query_params(&request, &["from", "to", "currency"])?;
    let period = Period::parse(
        query.get("from").map(String::as_str),
        query.get("to").map(String::as_str),
        today(),
    )
    .map_err(ApiError::Validation)?;
    let currency = parse_currency(query.get("currency").map(String::as_str))?;
    let (statement, password) = authorised(
        &state,
        token,
        Scope::Statements,
        move |state, connection, caller| {
            let user = fetch_user(state, connection, id)?;
            let password = Zeroizing::new(
                user.national_id
                    .clone()
                    .ok_or(ApiError::Conflict(NO_NATIONAL_ID))?,
            );
            let reference = Uuid::new_v4().to_string();
            let statement = load_statement(state, connection, &user, period, currency, reference)?;
            audit::record(
                connection,
                caller,
                &request_id,
                Action::StatementDownload,
                Subject::User(id),
            )?;
            Ok((statement, password))
        },
    )
    .await?;
    let pdf = encrypted_pdf(statement, password).await?;
    Ok(pdf_response(pdf, format!("statement-{id}.pdf")))
}

/// What POST /users/{id}/statements asks for.
struct LinkRequest {
    period: Period,
    currency: Currency,
    policy: PasswordPolicy,
}

fn parse_link_request(body: &Value) -> Result<LinkRequest, ApiError> {
    let object = body
        .as_object()
        .ok_or(ApiError::InvalidJson("the body must be a JSON object"))?;
    let mut errors = FieldErrors::new();
    let mut text = |name: &str| match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => {
            errors.insert(name.to_owned(), "must be a string".to_owned());
            None
        }
    };
    let (from, to, password, currency) =
        (text("from"), text("to"), text("password"), text("currency"));
    check_names(
        &mut errors,
        "",
        "field",
        &["from", "to", "password", "currency"],
        object.keys().map(String::as_str),
    );
    let period = Period::parse(from.as_deref(), to.as_deref(), today())
        .map_err(|period_errors| errors.extend(period_errors))
        .ok();
    let policy = match password.as_deref() {
        None => {
            // Unless it was there but not a string (already said).
            errors
                .entry("password".to_owned())
                .or_insert_with(|| "is required".to_owned());
            None
        }
        Some(raw) => PasswordPolicy::parse(raw)
            .map_err(|message| errors.insert("password".to_owned(), message.to_owned()))
            .ok(),
    };
    let currency = match currency.as_deref() {
        None => Some(Currency::KES),
        Some(raw) => Currency::parse(raw)
            .map_err(|message| errors.insert("currency".to_owned(), message.to_owned()))
            .ok(),
    };
    match (period, policy, currency) {
        (Some(period), Some(policy), Some(currency)) if errors.is_empty() => Ok(LinkRequest {
            period,
            currency,
            policy,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn secret_context(link_id: Uuid) -> FieldContext<'static> {
    FieldContext {
        table: "statement_links",
        column: "secret",
        row_id: link_id,
    }
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A link as created: what the caller is shown once.
struct CreatedLink {
    id: Uuid,
    token: Zeroizing<String>,
    expires_at: chrono::NaiveDateTime,
    /// The one-time code or the generated password, by policy.
    shown_once: Option<(&'static str, Zeroizing<String>)>,
}

/// POST /users/{id}/statements `{"from","to","password","currency"?}`: 201
/// `{"id","download_url","expires_at"}` plus `code` or `password`, shown once.
pub async fn create_link(
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_id(&id)?;
    let caller = authorise(&state, token, Scope::Statements).await?;
    let body = read_json(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let link = parse_link_request(&body)?;
    let state = state.clone();
    let created = web::block(move || {
        db::run(&state.pool, |connection| {
            let user = fetch_user(&state, connection, user_id)?;
            if link.policy != PasswordPolicy::Random && user.national_id.is_none() {
                return Err(ApiError::Conflict(NO_NATIONAL_ID));
            }
            let shown_once = match link.policy {
                PasswordPolicy::NationalId => None,
                PasswordPolicy::NationalIdCode => {
                    Some(("code", Zeroizing::new(one_time_code().map_err(internal)?)))
                }
                PasswordPolicy::Random => Some((
                    "password",
                    Zeroizing::new(random_password().map_err(internal)?),
                )),
            };
            let link_id = Uuid::now_v7();
            let secret = match &shown_once {
                Some((_, value)) => {
                    let data_key =
                        vault::data_key(connection, &state.data_keys, &state.keys, user_id)?
                            .ok_or(ApiError::NotFound)?;
                    Some(
                        SealedField::seal(&data_key, secret_context(link_id), value)
                            .map_err(internal)?
                            .into_bytes(),
                    )
                }
                None => None,
            };
            let token =
                Zeroizing::new(URL_SAFE_NO_PAD.encode(random_bytes::<32>().map_err(internal)?));
            let now = crate::time::now();
            let expires_at = now + state.statement_link_ttl;
            statement_links::delete_expired(connection, now)?;
            statement_links::insert(
                connection,
                &StatementLinkRow {
                    id: link_id.as_bytes().to_vec(),
                    user_id: user_id.as_bytes().to_vec(),
                    token_hash: token_hash(&token),
                    period_from: link.period.from.to_string(),
                    period_to: link.period.to.to_string(),
                    currency: link.currency.code().to_owned(),
                    policy: link.policy.as_str().to_owned(),
                    secret,
                    created_at: now,
                    expires_at,
                },
            )?;
            // The link hands the statement to whoever holds it (the person, not an API
            // client): the read is audited here, once the link exists, against the
            // client that handed it out.
            audit::record(
                connection,
                &caller,
                &request_id,
                Action::StatementDownload,
                Subject::User(user_id),
            )?;
            Ok(CreatedLink {
                id: link_id,
                token,
                expires_at,
                shown_once,
            })
        })
    })
    .await??;
    let connection = request.connection_info();
    let download_url = format!(
        "{}://{}{DOWNLOAD_PATH}/{}",
        connection.scheme(),
        connection.host(),
        created.token.as_str()
    );
    let mut body = json!({
        "id": created.id,
        "download_url": download_url,
        "expires_at": crate::time::rfc3339(created.expires_at),
    });
    if let (Some((name, value)), Some(object)) = (&created.shown_once, body.as_object_mut()) {
        object.insert((*name).to_owned(), Value::String(value.to_string()));
    }
    Ok(HttpResponse::Created()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(body))
}

/// GET /statements/download/{token}: the PDF until the link expires, then 404.
pub async fn download_link(
    token: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = Zeroizing::new(token.into_inner());
    // A token is 32 random bytes in base64url; anything else cannot be one of ours.
    if token.len() != 43 || URL_SAFE_NO_PAD.decode(token.as_bytes()).is_err() {
        return Err(ApiError::NotFound);
    }
    let hash = token_hash(&token);
    let (statement, password, link_id) = web::block(move || {
        db::run(&state.pool, |connection| {
            let link = statement_links::find_live(connection, &hash, crate::time::now())?
                .ok_or(ApiError::NotFound)?;
            let link_id = Uuid::from_slice(&link.id).map_err(internal)?;
            let user_id = Uuid::from_slice(&link.user_id).map_err(internal)?;
            let user = fetch_user(&state, connection, user_id)?;
            let stored =
                |what| ApiError::Internal(anyhow::anyhow!("statement link has a bad {what}"));
            let policy = PasswordPolicy::parse(&link.policy).map_err(|_| stored("policy"))?;
            let period = Period::parse(Some(&link.period_from), Some(&link.period_to), today())
                .map_err(|_| stored("period"))?;
            let currency = Currency::parse(&link.currency).map_err(|_| stored("currency"))?;
            let mut open_secret = || -> Result<Zeroizing<String>, ApiError> {
                let sealed = link.secret.clone().ok_or_else(|| stored("secret"))?;
                let data_key = vault::data_key(connection, &state.data_keys, &state.keys, user_id)?
                    .ok_or(ApiError::NotFound)?;
                SealedField::from_bytes(sealed)
                    .open(&data_key, secret_context(link_id))
                    .map(Zeroizing::new)
                    .map_err(internal)
            };
            let national_id = || {
                user.national_id
                    .clone()
                    .ok_or(ApiError::Conflict(NO_NATIONAL_ID))
            };
            let password = Zeroizing::new(match policy {
                PasswordPolicy::NationalId => national_id()?,
                PasswordPolicy::NationalIdCode => {
                    format!("{}-{}", national_id()?, open_secret()?.as_str())
                }
                PasswordPolicy::Random => open_secret()?.to_string(),
            });
            let statement = load_statement(
                &state,
                connection,
                &user,
                period,
                currency,
                link_id.to_string(),
            )?;
            Ok::<_, ApiError>((statement, password, link_id))
        })
    })
    .await??;
    let pdf = encrypted_pdf(statement, password).await?;
    Ok(pdf_response(pdf, format!("statement-{link_id}.pdf")))
}
