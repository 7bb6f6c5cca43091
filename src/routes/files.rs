//! `/users/{id}/files`: upload (multipart `file` field, or a raw body with `?name=`),
//! list, download (with single `Range` requests) and delete a user's files.

use actix_multipart::{Field, Multipart};
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
    HeaderValue,
};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
use serde_json::json;

use super::body::{parse_id, query_params, streamed, NoQuery};
use super::error::ApiError;
use super::quota::Quota;
use super::{no_store, AppState};
use crate::access::quota::cost;
use crate::access::{BearerToken, Scope};
use crate::domain::{ascii_fallback, FieldErrors, FileName, MediaType};
use crate::id::{FileId, UserId};
use crate::vault::{Incoming, RangeRequest, RequestId, VaultError};

/// Multipart framing around the file (boundaries, part headers) and parts other than
/// `file`, allowed on top of the file limit.
const MULTIPART_OVERHEAD_BYTES: usize = 64 * 1024;
const MULTIPART_OVERHEAD: u64 = MULTIPART_OVERHEAD_BYTES as u64;

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
    quota: Quota<{ cost::HEAVY }>,
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
        let field = first_file_part(&mut form).await?;
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
        state
            .vault
            .store_file(incoming, file_part_then_end(field, form))
            .await?
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
        let body = body.map_err(|_| VaultError::BodyAborted);
        state.vault.store_file(incoming, body).await?
    };
    Ok(quota.hold(
        HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/users/{user}/files/{}", info.id)))
            .json(info),
    ))
}

/// The form's one `file` part. Parts before it are read and ignored, up to
/// [`MULTIPART_OVERHEAD`] bytes in all.
async fn first_file_part(form: &mut Multipart) -> Result<Field, ApiError> {
    let mut other_bytes = 0;
    loop {
        match form.try_next().await {
            Ok(Some(field)) if field.name() == Some("file") => return Ok(field),
            Ok(Some(other)) => skip_part(other, &mut other_bytes).await?,
            Ok(None) => return Err(invalid("file", "a multipart `file` field is required")),
            Err(_) => return Err(ApiError::InvalidBody),
        }
    }
}

/// Reads a part that is not the file, counting its bytes against the allowance for
/// such parts.
async fn skip_part(mut part: Field, other_bytes: &mut usize) -> Result<(), VaultError> {
    while let Some(chunk) = part.try_next().await.map_err(|_| VaultError::BodyAborted)? {
        *other_bytes += chunk.len();
        if *other_bytes > MULTIPART_OVERHEAD_BYTES {
            return Err(VaultError::invalid(
                "multipart",
                "parts other than `file` may hold at most 64 KiB in all",
            ));
        }
    }
    Ok(())
}

/// The `file` part's bytes, then the rest of the form, read before the stream ends:
/// a second `file` part fails the upload (422, nothing stored) instead of being
/// dropped unseen, and other parts after it count against the same allowance as
/// those before it.
fn file_part_then_end(
    field: Field,
    form: Multipart,
) -> impl Stream<Item = Result<Bytes, VaultError>> + Unpin {
    let file = field.map_err(|_| VaultError::BodyAborted);
    let rest = futures_util::stream::once(async move {
        let mut form = form;
        let mut other_bytes = 0;
        loop {
            match form.try_next().await {
                Ok(Some(field)) if field.name() == Some("file") => {
                    return Err(VaultError::invalid(
                        "file",
                        "send exactly one `file` part per upload",
                    ))
                }
                Ok(Some(other)) => skip_part(other, &mut other_bytes).await?,
                Ok(None) => return Ok(None),
                Err(_) => return Err(VaultError::BodyAborted),
            }
        }
    })
    .try_filter_map(|nothing: Option<Bytes>| async move { Ok(nothing) });
    Box::pin(file.chain(rest))
}

fn media_type(declared: Option<&str>) -> Result<MediaType, ApiError> {
    MediaType::parse(declared.unwrap_or(MediaType::DEFAULT))
        .map_err(|problem| invalid("content_type", problem))
}

/// GET /users/{id}/files: `{"files":[…]}`, oldest first.
pub async fn list(
    quota: Quota<{ cost::REQUEST }>,
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
    Ok(quota.hold(
        HttpResponse::Ok()
            .insert_header(no_store())
            .json(json!({ "files": files })),
    ))
}

/// GET /users/{id}/files/{file_id}: the plaintext, streamed, as an attachment.
pub async fn download(
    quota: Quota<{ cost::REQUEST }>,
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
    // The permit goes with the streamed body: the download counts as in flight
    // until its last byte is sent.
    Ok(quota.hold(
        response
            .insert_header((header::CONTENT_TYPE, content_type))
            .insert_header(attachment(&download.info.name))
            .insert_header((header::ACCEPT_RANGES, "bytes"))
            .insert_header(no_store())
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .no_chunking(download.len)
            .streaming(download.body),
    ))
}

/// `Content-Disposition: attachment` per RFC 6266: the exact name as UTF-8 in
/// `filename*`, and a safe ASCII name (no path, no quotes) in `filename` for old
/// clients.
fn attachment(name: &str) -> ContentDisposition {
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(ascii_fallback(name)),
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
    quota: Quota<{ cost::REQUEST }>,
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
    Ok(quota.hold(HttpResponse::NoContent().finish()))
}
