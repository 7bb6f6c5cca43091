//! The HTTP boundary's error: one enum, one mapping to a status and a stable code
//! (docs/http.md). The cause chain goes to the log; the client gets a fixed sentence
//! that carries no personal data and no library error text.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::crypto::CryptoError;
use crate::domain::FieldErrors;
use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid JWE: {0}")]
    InvalidJwe(#[source] crate::jose::JweError),
    #[error("invalid JSON: {0}")]
    InvalidJson(&'static str),
    #[error("path id is not a lowercase hyphenated UUID")]
    InvalidId,
    #[error("missing, unknown or revoked bearer token")]
    Unauthorized,
    #[error("token lacks scope {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    /// A known path asked with a method it does not take; `allow` lists those it does.
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("the request body could not be read")]
    InvalidBody,
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("stored data failed its integrity check: {0}")]
    Integrity(String),
    #[error("unsupported media type")]
    UnsupportedMediaType(&'static str),
    #[error("a Content-Encoding other than identity")]
    UnsupportedEncoding,
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("the client is over its quota")]
    RateLimited { retry_after_secs: u64 },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("the key token is unavailable")]
    TokenUnavailable,
    #[error("the active master key version is below the floor (version {floor})")]
    MasterKeyOutdated { floor: i32 },
    #[error("file store unavailable: {0}")]
    StoreUnavailable(String),
    #[error("shutting down")]
    ShuttingDown,
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a FieldErrors>,
}

impl ApiError {
    /// Whether this refuses the caller itself (401, 403).
    pub fn is_access_refusal(&self) -> bool {
        matches!(self, Self::Unauthorized | Self::Forbidden(_))
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJwe(_) => "invalid_jwe",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidId => "invalid_id",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::InvalidBody => "invalid_body",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::Integrity(_) => "integrity_failed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::MasterKeyOutdated { .. } => "master_key_outdated",
            Self::Unavailable(_)
            | Self::TokenUnavailable
            | Self::StoreUnavailable(_)
            | Self::ShuttingDown => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::InvalidJwe(error) => error.public_message().to_owned(),
            Self::InvalidJson(what) => format!("The body is not the expected JSON: {what}."),
            Self::InvalidId => {
                "The id in the path is not an id as piivault writes them (a lowercase hyphenated UUID)."
                    .to_owned()
            }
            Self::Unauthorized => {
                "A valid bearer token is required (Authorization: Bearer <token>).".to_owned()
            }
            Self::Forbidden(scope) => format!("This token lacks the `{scope}` scope."),
            Self::NotFound => "No such resource.".to_owned(),
            Self::MethodNotAllowed { .. } => {
                "This path does not take this method; the Allow header lists those it takes."
                    .to_owned()
            }
            Self::Conflict(what) => (*what).to_owned(),
            Self::PayloadTooLarge { limit } => {
                format!("The body is larger than the limit of {limit} bytes.")
            }
            Self::InvalidBody => {
                "The request body ended early, stopped arriving, or is not well-formed multipart."
                    .to_owned()
            }
            Self::RangeNotSatisfiable { size } => {
                format!("The requested range is outside the file's {size} bytes.")
            }
            Self::Integrity(_) => {
                "The stored data failed its integrity check and was not served; it has been logged."
                    .to_owned()
            }
            Self::UnsupportedMediaType(expected) => format!("Content-Type must be {expected}."),
            Self::UnsupportedEncoding => {
                "Bodies must not be compressed: send no Content-Encoding, or identity.".to_owned()
            }
            Self::Validation(_) => "Some fields are invalid; see `fields`.".to_owned(),
            Self::TokenUnavailable => {
                "The key token (HSM) is unavailable; nothing was handed out. Try again shortly."
                    .to_owned()
            }
            Self::MasterKeyOutdated { .. } => {
                "This instance's master keys are older than the database requires; nothing was written. Try again shortly (another instance, or this one once its keys are updated)."
                    .to_owned()
            }
            Self::RateLimited { .. } => {
                "This client is over its quota; nothing was done. Retry after the seconds in Retry-After."
                    .to_owned()
            }
            Self::Unavailable(_) => {
                "The database is unavailable; nothing was written. Try again shortly.".to_owned()
            }
            Self::StoreUnavailable(_) => {
                "The file store is unavailable; nothing was written. Try again shortly.".to_owned()
            }
            Self::ShuttingDown => {
                "This instance is shutting down; send requests to another one.".to_owned()
            }
            Self::Internal(_) => "Something went wrong on our side; it has been logged.".to_owned(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidJwe(_) | Self::InvalidJson(_) | Self::InvalidId | Self::InvalidBody => {
                StatusCode::BAD_REQUEST
            }
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) | Self::UnsupportedEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_)
            | Self::TokenUnavailable
            | Self::MasterKeyOutdated { .. }
            | Self::StoreUnavailable(_)
            | Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::Integrity(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        // Variants' Display texts carry no personal data (see the tests in tests/api).
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        } else {
            tracing::info!(code = self.code(), error = %self, "request refused");
        }
        let message = self.message();
        let fields = match self {
            Self::Validation(fields) => Some(fields),
            _ => None,
        };
        let mut response = HttpResponse::build(status);
        if matches!(self, Self::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        match self {
            Self::RangeNotSatisfiable { size } => {
                response.insert_header(("Content-Range", format!("bytes */{size}")));
            }
            Self::RateLimited { retry_after_secs } => {
                response.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header(("Allow", allow.as_str()));
            }
            // RFC 7694: a 415 for a content coding says which codings are accepted.
            Self::UnsupportedEncoding => {
                response.insert_header(("Accept-Encoding", "identity"));
            }
            _ => {}
        }
        response.json(Body {
            error: self.code(),
            message: &message,
            fields,
        })
    }
}

impl From<VaultError> for ApiError {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Unauthorized => Self::Unauthorized,
            VaultError::Forbidden(scope) => Self::Forbidden(scope.as_str()),
            VaultError::NotFound => Self::NotFound,
            VaultError::Conflict(what) => Self::Conflict(what),
            VaultError::InvalidJwe(error) => Self::InvalidJwe(error),
            VaultError::InvalidJson(what) => Self::InvalidJson(what),
            VaultError::Validation(fields) => Self::Validation(fields),
            VaultError::TooLarge { limit } => Self::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
            VaultError::BodyAborted => Self::InvalidBody,
            VaultError::RangeNotSatisfiable { size } => Self::RangeNotSatisfiable { size },
            error @ VaultError::Integrity { .. } => Self::Integrity(error.to_string()),
            // A stored sealed value or wrapped key that does not open (edited in the
            // database, or of an unknown format) is the stored data failing its
            // integrity check, as a file's object does.
            error @ VaultError::Crypto(CryptoError::Unauthentic | CryptoError::Malformed) => {
                Self::Integrity(error.to_string())
            }
            VaultError::Unavailable(cause) => Self::Unavailable(cause),
            VaultError::TokenUnavailable => Self::TokenUnavailable,
            VaultError::MasterKeyOutdated { floor } => Self::MasterKeyOutdated { floor },
            VaultError::StoreUnavailable(cause) => Self::StoreUnavailable(cause),
            VaultError::ShuttingDown => Self::ShuttingDown,
            error @ (VaultError::Crypto(_) | VaultError::Internal(_)) => {
                Self::Internal(anyhow::Error::new(error))
            }
        }
    }
}
