//! The API description: `GET /openapi.json` (OpenAPI 3.1, kept by hand in
//! assets/docs/openapi.json and checked against [`super::operations`] by the tests)
//! and `GET /docs`, a page that renders it in the browser. Both are compiled into the
//! binary; the page is our own small script (no CDN, nothing vendored) served under
//! the same Content-Security-Policy as the operator console.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse, Route};

use super::admin::static_file;

const OPENAPI: &str = include_str!("../../assets/docs/openapi.json");
const INDEX: &str = include_str!("../../assets/docs/index.html");
const SCRIPT: &str = include_str!("../../assets/docs/docs.js");
const STYLE: &str = include_str!("../../assets/docs/docs.css");

/// The OpenAPI document as served.
pub fn openapi_document() -> &'static str {
    OPENAPI
}

/// `/openapi.json` and the page's files, each a `GET` route.
pub fn pages() -> Vec<(&'static str, Route)> {
    let document = web::to(|| async {
        HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(CacheControl(vec![CacheDirective::NoCache]))
            .body(OPENAPI)
    });
    let mut pages = vec![("/openapi.json", document)];
    for (path, body, content_type) in [
        ("/docs", INDEX, "text/html; charset=utf-8"),
        ("/docs/docs.js", SCRIPT, "text/javascript; charset=utf-8"),
        ("/docs/docs.css", STYLE, "text/css; charset=utf-8"),
    ] {
        pages.push((
            path,
            web::to(move || async move { static_file(body, content_type) }),
        ));
    }
    pages
}
