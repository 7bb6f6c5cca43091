//! The public halves of the JWE keys, for clients to encrypt to: the keys as of the
//! last reload, so a key added by `piivault keys rotate-jwe` appears without a restart.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};

use super::body::NoQuery;
use super::AppState;

pub async fn jwks(state: web::Data<AppState>, _: NoQuery) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(300),
        ]))
        .json(state.vault.keys().current().jwe.jwks())
}
