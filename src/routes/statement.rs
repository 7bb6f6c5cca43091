//! Statements: `GET /users/{id}/statement` (the PDF now, opened with the national id),
//! `POST /users/{id}/statements` (a download link with a password policy) and
//! `GET /statements/download/{token}` (that link, no bearer token: the token itself is
//! a 256-bit secret).

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::body::{parse_id, query_params, read_json, NoQuery};
use super::error::ApiError;
use super::quota::Quota;
use super::{no_store, AppState};
use crate::access::quota::cost;
use crate::access::{BearerToken, Scope};
use crate::domain::{check_names, Currency, FieldErrors, Period};
use crate::vault::{
    DocumentStream, LinkRequest, LinkToken, MaxDownloads, PasswordPolicy, RequestId,
    StatementRequest, DOWNLOAD_PATH, MUST_BE_A_DOWNLOAD_COUNT,
};

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A document as it is written: chunked, no length. A failure after the first byte
/// ends the body with an error, which closes the connection without the last chunk
/// (the client sees a broken transfer, never a short PDF that looks whole).
pub(super) fn pdf_response(document: DocumentStream) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(no_store())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(document.file_name)],
        })
        .streaming(document.body)
}

/// GET /users/{id}/statement?from=&to=&currency=: the PDF, opened with the national id.
pub async fn download(
    quota: Quota<{ cost::HEAVY }>,
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
    let currency = match query.get("currency") {
        None => Currency::KES,
        Some(raw) => Currency::parse(raw).map_err(|message| {
            ApiError::Validation(FieldErrors::from([(
                "currency".to_owned(),
                message.to_owned(),
            )]))
        })?,
    };
    let pdf = state
        .vault
        .statement(
            token.for_scope(Scope::Statements),
            request_id,
            id,
            StatementRequest { period, currency },
        )
        .await?;
    Ok(quota.hold(pdf_response(pdf)))
}

/// The body of POST /users/{id}/statements:
/// `{"from","to","password","currency"?,"max_downloads"?}`.
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
    let max_downloads = match object.get("max_downloads") {
        None | Some(Value::Null) => None,
        Some(value) => value
            .as_u64()
            .ok_or(MUST_BE_A_DOWNLOAD_COUNT)
            .and_then(MaxDownloads::parse)
            .map_err(|message| errors.insert("max_downloads".to_owned(), message.to_owned()))
            .ok(),
    };
    check_names(
        &mut errors,
        "",
        "field",
        &["from", "to", "password", "currency", "max_downloads"],
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
            max_downloads,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// POST /users/{id}/statements `{"from","to","password","currency"?,"max_downloads"?}`:
/// 201 `{"id","download_url","expires_at","max_downloads"}` plus `code` or `password`,
/// shown once.
// Each argument is an extractor actix fills in; grouping them would hide which.
#[allow(clippy::too_many_arguments)]
pub async fn create_link(
    quota: Quota<{ cost::REQUEST }>,
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let user = parse_id(&id)?;
    let caller = state
        .vault
        .authorise(token.for_scope(Scope::Statements))
        .await?;
    let body = read_json(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let link = parse_link_request(&body)?;
    let created = state
        .vault
        .create_statement_link(caller, request_id, user, link)
        .await?;
    let download_url = state
        .public_url
        .join(&format!("{DOWNLOAD_PATH}/{}", created.token.reveal()));
    let mut body = json!({
        "id": created.id,
        "download_url": download_url,
        "expires_at": crate::time::rfc3339(created.expires_at),
        "max_downloads": created.max_downloads.map(MaxDownloads::get),
    });
    if let (Some((name, value)), Some(object)) = (&created.shown_once, body.as_object_mut()) {
        object.insert((*name).to_owned(), Value::String(value.to_string()));
    }
    Ok(quota.hold(HttpResponse::Created().insert_header(no_store()).json(body)))
}

/// GET /statements/download/{token}: the PDF until the link expires or its downloads
/// are used up, then 404.
pub async fn download_link(
    token: web::Path<String>,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let token = zeroize::Zeroizing::new(token.into_inner());
    let token = LinkToken::parse(&token).ok_or(ApiError::NotFound)?;
    let pdf = state.vault.statement_by_link(token).await?;
    Ok(pdf_response(pdf))
}
