//! Reading request bodies: the Content-Type decides how a JWE is serialized, and the
//! body limit is enforced while reading (and up front from `Content-Length`).

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{Bytes, Payload};
use actix_web::HttpRequest;

use crate::error::ApiError;
use crate::jose::JweSerialization;

const JWE_TYPES: &str = "application/jose (compact) or application/jose+json (JSON serialization)";

/// The media type without parameters, lower-cased.
fn media_type(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(essence)
}

/// A JWE body and how it is serialized.
pub async fn read_jwe(
    request: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<(Bytes, JweSerialization), ApiError> {
    let serialization = match media_type(request).as_deref() {
        Some("application/jose") => JweSerialization::Compact,
        Some("application/jose+json" | "application/json") => JweSerialization::Json,
        _ => return Err(ApiError::UnsupportedMediaType(JWE_TYPES)),
    };
    Ok((read_limited(request, payload, limit).await?, serialization))
}

/// A plain JSON body (`application/json`).
pub async fn read_json(
    request: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<serde_json::Value, ApiError> {
    if media_type(request).as_deref() != Some("application/json") {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    let bytes = read_limited(request, payload, limit).await?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::InvalidJson("not valid JSON"))
}

async fn read_limited(
    request: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::InvalidJson("the body could not be read")),
        Err(_) => Err(ApiError::PayloadTooLarge { limit }),
    }
}

/// A path id, or `invalid_id`.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(raw).map_err(|_| ApiError::InvalidId)
}
