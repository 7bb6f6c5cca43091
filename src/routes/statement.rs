//! GET /users/{id}/statement: the person's statement as an AES-256 (R6) encrypted PDF
//! that opens with their national id.

use actix_web::http::header::{
    CacheControl, CacheDirective, ContentDisposition, DispositionParam, DispositionType,
};
use actix_web::{web, HttpResponse};

use super::body::parse_id;
use crate::access::{authorised, BearerToken, Scope};
use crate::audit::{self, Action, Subject};
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::startup::AppState;
use crate::statement::{protect, random_owner_password, render, Statement};
use crate::users::{self as vault, UserRecord};

pub async fn download(
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let user = authorised(
        &state,
        token,
        Scope::Statements,
        move |state, connection, caller| {
            let user = vault::fetch_fresh(connection, &state.data_keys, &state.keys, id)?
                .ok_or(ApiError::NotFound)?;
            audit::record(
                connection,
                caller,
                &request_id,
                Action::StatementDownload,
                Subject::User(id),
            )?;
            Ok(user)
        },
    )
    .await?;
    // Rendering and encryption are CPU work: off the async workers, and with the
    // database connection already back in the pool.
    let pdf = web::block(move || {
        let password = user.national_id.clone().ok_or(ApiError::Conflict(
            "This user has no national id, which is the statement password; add one first.",
        ))?;
        let document =
            render(&profile_statement(&user)).map_err(|error| ApiError::Internal(error.into()))?;
        let owner_password =
            random_owner_password().map_err(|error| ApiError::Internal(error.into()))?;
        protect(&document, &password, &owner_password)
            .map_err(|error| ApiError::Internal(error.into()))
    })
    .await??;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!("statement-{id}.pdf"))],
        })
        .body(pdf))
}

fn profile_statement(user: &UserRecord) -> Statement {
    let mut details = vec![
        ("Name".to_owned(), user.full_name()),
        ("Email".to_owned(), user.email.clone()),
    ];
    let optional = [
        ("Phone", &user.phone),
        ("National ID", &user.national_id),
        ("Date of birth", &user.date_of_birth),
        ("Address", &user.address),
    ];
    details.extend(
        optional
            .into_iter()
            .filter_map(|(label, value)| value.clone().map(|value| (label.to_owned(), value))),
    );
    details.push((
        "Customer since".to_owned(),
        user.created_at.format("%d %b %Y").to_string(),
    ));
    details.push(("Customer id".to_owned(), user.id.to_string()));
    Statement {
        title: "Customer Statement".to_owned(),
        customer_name: user.full_name(),
        generated_at: chrono::Utc::now(),
        reference: uuid::Uuid::new_v4().to_string(),
        details,
    }
}
