//! Reading request bodies: the Content-Type decides how a JWE is serialized, the body
//! limit is enforced while reading (and up front from `Content-Length`), and a body
//! that stops arriving is given up on (`--body-timeout`): a client that stalls
//! mid-body gets `invalid_body` and its connection closed instead of holding it. A
//! compressed body (`Content-Encoding`) is refused before any route sees it.

use std::collections::hash_map::{Entry, HashMap};
use std::future::{ready, Ready};
use std::time::Duration;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use actix_web::rt::time::timeout;
use actix_web::web::{Bytes, Payload, Query};
use actix_web::HttpRequest;
use futures_util::future::Either;
use futures_util::{Stream, StreamExt as _};

use super::error::ApiError;
use crate::domain::{check_names, FieldErrors};
use crate::jose::JweSerialization;
use crate::vault::JweBody;

const JWE_TYPES: &str = "application/jose (compact) or application/jose+json (JSON serialization)";

/// The media type without parameters, lower-cased.
fn media_type(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(essence)
}

/// A JWE body and how it is serialized (the Content-Type says).
pub async fn read_jwe(
    request: &HttpRequest,
    payload: Payload,
    limit: usize,
    deadline: Duration,
) -> Result<JweBody, ApiError> {
    let serialization = match media_type(request).as_deref() {
        Some("application/jose") => JweSerialization::Compact,
        Some("application/jose+json" | "application/json") => JweSerialization::Json,
        _ => return Err(ApiError::UnsupportedMediaType(JWE_TYPES)),
    };
    Ok(JweBody {
        bytes: read_limited(request, payload, limit, deadline).await?,
        serialization,
    })
}

/// A plain JSON body (`application/json`).
pub async fn read_json(
    request: &HttpRequest,
    payload: Payload,
    limit: usize,
    deadline: Duration,
) -> Result<serde_json::Value, ApiError> {
    if media_type(request).as_deref() != Some("application/json") {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    let bytes = read_limited(request, payload, limit, deadline).await?;
    // As `crate::json` reads it: a key named twice is refused too.
    crate::json::parse(&bytes)
        .map_err(|error| ApiError::InvalidJson(error.message("not valid JSON")))
}

/// The body's length as its `Content-Length` declares it, if it does.
pub(super) fn declared_length(request: &HttpRequest) -> Option<usize> {
    request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// The whole body, which must arrive within `deadline`.
async fn read_limited(
    request: &HttpRequest,
    payload: Payload,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, ApiError> {
    if declared_length(request).is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    match timeout(deadline, payload.to_bytes_limited(limit)).await {
        Ok(Ok(Ok(bytes))) => Ok(bytes),
        Ok(Ok(Err(_))) | Err(_) => Err(ApiError::InvalidBody),
        Ok(Err(_)) => Err(ApiError::PayloadTooLarge { limit }),
    }
}

/// A body too large to hold (a file upload) as a stream of chunks that fails when no
/// chunk arrives for `idle`. Fused: multipart parsing may poll it again after its end.
pub fn streamed(
    payload: Payload,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static {
    let chunks = futures_util::stream::unfold(Some(payload), move |payload| async move {
        let mut payload = payload?;
        match timeout(idle, payload.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(payload))),
            Ok(Some(Err(error))) => Some((Err(error), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
                None,
            )),
        }
    });
    Box::pin(chunks.fuse())
}

/// The query string's parameters. A parameter outside `allowed`, given twice, or a
/// query that does not decode is `validation_failed`, like unknown fields in a body.
pub fn query_params(
    request: &HttpRequest,
    allowed: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let pairs = Query::<Vec<(String, String)>>::from_query(request.query_string())
        .map_err(|_| {
            ApiError::Validation(FieldErrors::from([(
                "query".to_owned(),
                "is not a valid query string".to_owned(),
            )]))
        })?
        .into_inner();
    let mut errors = FieldErrors::new();
    let mut params = HashMap::new();
    check_names(
        &mut errors,
        "",
        "parameter",
        allowed,
        pairs.iter().map(|(name, _)| name.as_str()),
    );
    for (name, value) in pairs {
        if !allowed.contains(&name.as_str()) {
            continue; // reported above, without its name
        }
        match params.entry(name) {
            Entry::Occupied(taken) => {
                errors.insert(taken.key().clone(), "must be given at most once".to_owned());
            }
            Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
    }
    if errors.is_empty() {
        Ok(params)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A handler argument for routes that take no query parameters: any parameter is
/// `validation_failed`, as an unknown one is on routes that take some.
pub struct NoQuery;

impl actix_web::FromRequest for NoQuery {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(query_params(request, &[]).map(|_| Self))
    }
}

/// The query parameter `name` as `parse` reads it; `None` when it is absent or `parse`
/// refuses it, and then `rule` is recorded for it in `errors`.
pub fn query_value<T>(
    params: &HashMap<String, String>,
    errors: &mut FieldErrors,
    name: &str,
    rule: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let parsed = parse(params.get(name)?);
    if parsed.is_none() {
        errors.insert(name.to_owned(), rule.to_owned());
    }
    parsed
}

/// A path id, or `invalid_id`.
pub fn parse_id<I: crate::id::Id>(raw: &str) -> Result<I, ApiError> {
    I::parse(raw).ok_or(ApiError::InvalidId)
}

/// The middleware body (`App::wrap_fn`) that refuses a request whose body is declared
/// compressed: no route reads a coded body, and reading one as if it were plain would
/// misreport it (or decompress without bound). `identity`, alone or listed, passes.
pub fn refuse_content_coding<S>(
    request: ServiceRequest,
    service: &S,
) -> Either<Ready<Result<ServiceResponse, actix_web::Error>>, S::Future>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let coded = request
        .headers()
        .get_all(CONTENT_ENCODING)
        .any(|value| match value.to_str() {
            Ok(codings) => codings
                .split(',')
                .map(str::trim)
                .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity")),
            Err(_) => true,
        });
    if coded {
        Either::Left(ready(Ok(
            request.error_response(ApiError::UnsupportedEncoding)
        )))
    } else {
        Either::Right(service.call(request))
    }
}
