//! Bearer tokens and scopes on every route (docs/http.md).

use piivault::access::Scope;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, TestApp};

on_both_backends!(every_route_checks_token_and_scope, |backend| {
    let app = TestApp::spawn(backend);
    let id = app.register(&new_user_payload(&unique_email()));
    let reader = app.create_client("reader", &[Scope::UsersRead]);
    let writer = app.create_client("writer", &[Scope::UsersWrite]);
    let jwe = app.jwe(&new_user_payload(&unique_email()));

    let user = format!("/users/{id}");
    let statement = format!("/users/{id}/statement");
    let compat = format!("/get-user/{id}");
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        ("GET", &user, None, 401, "unauthorized"),
        (
            "GET",
            &user,
            Some("pv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            401,
            "unauthorized",
        ),
        ("GET", &user, Some("garbage"), 401, "unauthorized"),
        ("GET", &user, Some(&writer), 403, "forbidden"),
        ("GET", &compat, Some(&writer), 403, "forbidden"),
        ("GET", &statement, Some(&reader), 403, "forbidden"),
        ("DELETE", &user, Some(&reader), 403, "forbidden"),
        ("POST", "/users", Some(&reader), 403, "forbidden"),
        ("POST", "/register-user", Some(&reader), 403, "forbidden"),
        ("POST", "/users", None, 401, "unauthorized"),
        ("POST", "/encrypt-data", Some(&reader), 403, "forbidden"),
    ];
    for (method, path, token, status, code) in cases {
        let request = app
            .request(method, path, token)
            .set("Content-Type", "application/jose");
        let body = (method == "POST").then_some(jwe.as_bytes());
        TestApp::send(request, body).assert_error(
            status,
            code,
            &format!("{method} {path} token={}", token.is_some()),
        );
    }
    // A refused caller read nothing, so nothing of it is in the audit log.
    assert_eq!(app.get("/audit").json()["entries"], serde_json::json!([]));
    assert_eq!(app.get_as(&user, Some(&reader)).status, 200, "reader reads");
    let audit = app.get("/audit").json();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
    assert!(audit["entries"][0]["client_name"]
        .as_str()
        .unwrap()
        .starts_with("reader"));
    // The user still exists: nothing above changed it.
    assert_eq!(app.get(&user).status, 200);
});

on_both_backends!(a_revoked_token_is_refused_at_once, |backend| {
    let app = TestApp::spawn(backend);
    let id = app.register(&new_user_payload(&unique_email()));
    let token = app.create_client("soon-revoked", &[Scope::UsersRead]);
    assert_eq!(
        app.get_as(&format!("/users/{id}"), Some(&token)).status,
        200
    );
    app.revoke_client("soon-revoked");
    app.get_as(&format!("/users/{id}"), Some(&token))
        .assert_error(401, "unauthorized", "revoked");
    let audit = app.get("/audit").json();
    assert_eq!(
        audit["entries"].as_array().unwrap().len(),
        1,
        "only the read before the revocation: {audit}"
    );
});

on_both_backends!(stored_scopes_read_the_same_on_every_path, |backend| {
    use diesel::connection::SimpleConnection as _;
    let app = TestApp::spawn(backend);
    let id = app.register(&new_user_payload(&unique_email()));
    let token = app.create_client("odd", &[Scope::UsersRead]);
    let records = || {
        app.get("/audit?limit=1000").json()["entries"]
            .as_array()
            .unwrap()
            .len()
    };
    // Text written by hand or by another version (and sealed, as `piivault keys
    // seal-metadata` seals the rows of older versions): names are trimmed and unknown
    // names ignored; PostgreSQL's one-statement read and the step-by-step read agree,
    // and a refused read is never recorded.
    for (stored, status) in [
        ("users:write, users:read", 200),
        ("users:read,exports", 200),
        (" users:read ", 200),
        ("files,exports", 403),
        ("users:reader", 403),
        ("", 403),
    ] {
        (**app.connection())
            .batch_execute(&format!(
                "UPDATE api_clients SET scopes = '{stored}' WHERE name LIKE 'odd-%'"
            ))
            .unwrap();
        reseal(&app, "odd");
        let before = records();
        let reply = app.get_as(&format!("/users/{id}"), Some(&token));
        assert_eq!(reply.status, status, "{stored:?}");
        let recorded = records() - before;
        assert_eq!(recorded, usize::from(status == 200), "{stored:?}");
    }
});

/// Gives the client named `prefix-…` the MAC of its row as it now is, as the service
/// would had it written the row.
fn reseal(app: &TestApp, prefix: &str) {
    use diesel::prelude::*;
    use piivault::access::client_mac::SealedClient;
    use piivault::db::clients::ClientRow;
    use piivault::db::schema::api_clients;
    let mut connection = app.connection();
    let row: ClientRow = api_clients::table
        .filter(api_clients::name.like(format!("{prefix}-%")))
        .select(ClientRow::as_select())
        .first(&mut **connection)
        .unwrap();
    let mac = SealedClient::from(&row).mac(&app.keys.metadata);
    diesel::update(api_clients::table.filter(api_clients::id.eq(row.id)))
        .set(api_clients::mac.eq(mac.to_vec()))
        .execute(&mut **connection)
        .unwrap();
}
