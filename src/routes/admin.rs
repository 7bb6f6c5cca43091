//! /admin: the operator console, a static page over GET /users and POST
//! /exports/users. Every file is compiled into the binary and served from here:
//! Grid.js 6.2.0 is vendored under assets/admin (MIT, LICENSE alongside), no CDN.
//! The Content-Security-Policy allows scripts, styles and requests to this origin
//! only and no inline script, so an injected value in the table cannot run.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse, Route};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const INDEX: &str = include_str!("../../assets/admin/index.html");
const ADMIN_JS: &str = include_str!("../../assets/admin/admin.js");
const ADMIN_CSS: &str = include_str!("../../assets/admin/admin.css");
const GRIDJS: &str = include_str!("../../assets/admin/gridjs-6.2.0.umd.js");
const GRIDJS_CSS: &str = include_str!("../../assets/admin/gridjs-6.2.0-mermaid.min.css");

/// Path, body and media type of every file the console is made of.
const FILES: [(&str, &str, &str); 6] = [
    ("/admin", INDEX, "text/html; charset=utf-8"),
    ("/admin/", INDEX, "text/html; charset=utf-8"),
    (
        "/admin/admin.js",
        ADMIN_JS,
        "text/javascript; charset=utf-8",
    ),
    ("/admin/admin.css", ADMIN_CSS, "text/css; charset=utf-8"),
    (
        "/admin/gridjs.umd.js",
        GRIDJS,
        "text/javascript; charset=utf-8",
    ),
    ("/admin/gridjs.css", GRIDJS_CSS, "text/css; charset=utf-8"),
];

/// The console's files, each a `GET` route.
pub fn pages() -> Vec<(&'static str, Route)> {
    FILES
        .into_iter()
        .map(|(path, body, content_type)| {
            let route = web::to(move || async move { static_file(body, content_type) });
            (path, route)
        })
        .collect()
}

/// A static page file under the console's Content-Security-Policy and headers (the
/// API reference page uses them too).
pub(super) fn static_file(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(body)
}
