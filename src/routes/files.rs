//! `/users/{id}/files`: upload (multipart `file` field, or a raw body with `?name=`),
//! list, download (with single `Range` requests) and delete a user's files.

use actix_multipart::Multipart;
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
    HeaderValue,
};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::TryStreamExt as _;
use serde_json::json;

use super::body::{parse_id, query_params, streamed, NoQuery};
use super::error::ApiError;
use super::{no_store, AppState};
use crate::access::{BearerToken, Scope};
use crate::domain::{FieldErrors, FileName, MediaType};
use crate::id::{FileId, UserId};
use crate::vault::{Incoming, RangeRequest, RequestId, VaultError};

/// Multipart framing around the file (boundaries, part headers) allowed on top of the
/// file limit when judging a declared `Content-Length`.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

fn path_ids(path: &(String, String)) -> Result<(UserId, FileId), ApiError> {
    Ok((parse_id(&path.0)?, parse_id(&path.1)?))
}

fn invalid(field: &str, problem: &str) -> ApiError {
    let mut fields = FieldErrors::new();
    fields.insert(field.to_owned(), problem.to_owned());
    ApiError::Validation(fields)
}

fn declared_length(request: &HttpRequest) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn is_multipart(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// POST /users/{id}/files: 201 with the file's metadata.
pub async fn create(
    token: BearerToken,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = parse_id(&id)?;
    state.vault.authorise(token.for_scope(Scope::Files)).await?;
    let limit = state.vault.max_file_bytes();
    let multipart = is_multipart(&request);
    let slack = if multipart { MULTIPART_OVERHEAD } else { 0 };
    if declared_length(&request).is_some_and(|length| length > limit.saturating_add(slack)) {
        return Err(VaultError::TooLarge { limit }.into());
    }
    let query_name = query_params(&request, &["name"])?
        .remove("name")
        .map(|name| FileName::parse(&name).map_err(|problem| invalid("name", problem)))
        .transpose()?;
    let body = streamed(payload, state.body_timeout);
    let info = if multipart {
        let mut form = Multipart::new(request.headers(), body);
        let field = loop {
            match form.try_next().await {
                Ok(Some(field)) if field.name() == Some("file") => break field,
                Ok(Some(_)) => {}
                Ok(None) => return Err(invalid("file", "a multipart `file` field is required")),
                Err(_) => return Err(ApiError::InvalidBody),
            }
        };
        let disposition = field.content_disposition();
        // `filename*` (RFC 5987) when sent, else `filename` (browsers send raw UTF-8).
        let given_name = disposition.and_then(|cd| {
            cd.get_filename_ext()
                .and_then(|ext| String::from_utf8(ext.value.clone()).ok())
                .or_else(|| cd.get_filename().map(str::to_owned))
        });
        let name = match (given_name, query_name) {
            (Some(name), _) => {
                FileName::parse(&name).map_err(|problem| invalid("name", problem))?
            }
            (None, Some(name)) => name,
            (None, None) => return Err(invalid("name", "the `file` part needs a filename")),
        };
        let content_type = media_type(field.content_type().map(ToString::to_string).as_deref())?;
        let incoming = Incoming {
            user,
            name,
            content_type,
        };
        state.vault.store_file(incoming, field).await?
    } else {
        let name = query_name.ok_or_else(|| {
            invalid(
                "name",
                "required: send ?name= with a raw body, or use multipart/form-data",
            )
        })?;
        let declared = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| {
                value.to_str().map_err(|_| {
                    invalid("content_type", "must be a media type like application/pdf")
                })
            })
            .transpose()?;
        let content_type = media_type(declared)?;
        let incoming = Incoming {
            user,
            name,
            content_type,
        };
        state.vault.store_file(incoming, body).await?
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/users/{user}/files/{}", info.id)))
        .json(info))
}

fn media_type(declared: Option<&str>) -> Result<MediaType, ApiError> {
    MediaType::parse(declared.unwrap_or(MediaType::DEFAULT))
        .map_err(|problem| invalid("content_type", problem))
}

/// GET /users/{id}/files: `{"files":[…]}`, oldest first.
pub async fn list(
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let user = parse_id(&id)?;
    let files = state
        .vault
        .list_files(token.for_scope(Scope::Files), request_id, user)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(json!({ "files": files })))
}

/// GET /users/{id}/files/{file_id}: the plaintext, streamed, as an attachment.
pub async fn download(
    token: BearerToken,
    request_id: RequestId,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let (user, file) = path_ids(&path)?;
    let caller = state.vault.authorise(token.for_scope(Scope::Files)).await?;
    // If-Range is not evaluated: such a request gets the whole file, which is always correct.
    let range = request
        .headers()
        .get(header::RANGE)
        .filter(|_| !request.headers().contains_key(header::IF_RANGE))
        .and_then(|value| value.to_str().ok());
    let download = state
        .vault
        .open_file(caller, request_id, user, file, range)
        .await?;
    let mut response = match download.range {
        RangeRequest::Full => HttpResponse::Ok(),
        RangeRequest::Part { start, end } => {
            let mut partial = HttpResponse::PartialContent();
            partial.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", download.info.size),
            ));
            partial
        }
    };
    let content_type = HeaderValue::from_str(&download.info.content_type)
        .unwrap_or(HeaderValue::from_static(MediaType::DEFAULT));
    Ok(response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header(attachment(&download.info.name))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header(no_store())
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .no_chunking(download.len)
        .streaming(download.body))
}

/// `Content-Disposition: attachment` per RFC 6266: an ASCII `filename` fallback for old
/// clients and the exact name as UTF-8 in `filename*`.
fn attachment(name: &str) -> ContentDisposition {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(fallback),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".to_owned()),
                language_tag: None,
                value: name.as_bytes().to_vec(),
            }),
        ],
    }
}

/// DELETE /users/{id}/files/{file_id}: 204. The row goes first; the object follows
/// (a failure to delete it is logged, not returned: without its row it is unreachable).
pub async fn delete(
    token: BearerToken,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let (user, file) = path_ids(&path)?;
    state
        .vault
        .delete_file(token.for_scope(Scope::Files), user, file)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
