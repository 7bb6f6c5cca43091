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

/// Runs `round` on a new client with `users:write` right after one of its
/// registrations passed, until a round ends within 900 ms of it: a registration's
/// first check may then be answered by that one (`vault::claims`), and only the
/// commit's check can refuse it. `round` gets the app, the client's stored name and
/// its token.
fn within_a_second_of_a_check(app: &TestApp, round: impl Fn(&str, &str)) {
    let quick_enough = (0..5).any(|_| {
        let (name, token) = app.create_limited_client(
            "recent-writer",
            &[Scope::UsersWrite],
            crate::support::UNMET_LIMITS,
        );
        let valid = app.jwe(&new_user_payload(&unique_email()));
        let reply = app.post_as("/users", Some(&token), "application/jose", valid.as_bytes());
        assert_eq!(reply.status, 201);
        let checked_at = std::time::Instant::now();
        round(&name, &token);
        checked_at.elapsed() < std::time::Duration::from_millis(900)
    });
    assert!(quick_enough, "no round within a second of a check");
}

on_both_backends!(
    a_registration_whose_token_was_revoked_since_its_last_check_is_refused,
    |backend| {
        // A refusal of its body waits for a check of the token too.
        let app = TestApp::spawn(backend);
        within_a_second_of_a_check(&app, |name, token| {
            let post = |content_type: &str, body: &str| {
                app.post_as("/users", Some(token), content_type, body.as_bytes())
            };
            let before = app.count_users();
            app.revoke_client(name);
            let another = app.jwe(&new_user_payload(&unique_email()));
            post("application/jose", &another).assert_error(401, "unauthorized", "revoked");
            post("text/plain", &another).assert_error(401, "unauthorized", "revoked, bad type");
            let tampered = another.replacen('.', ".x", 1);
            post("application/jose", &tampered).assert_error(
                401,
                "unauthorized",
                "revoked, bad JWE",
            );
            assert_eq!(
                app.count_users(),
                before,
                "nothing stored for a revoked token"
            );
        });
    }
);

on_both_backends!(
    a_registration_whose_client_was_brought_back_with_sql_is_refused,
    |backend| {
        // A database writer clears `revoked_at` of a client just revoked: the row no
        // longer carries the MAC its last check verified, and its own MAC says revoked.
        use diesel::prelude::*;
        use piivault::db::schema::api_clients;
        let app = TestApp::spawn(backend);
        within_a_second_of_a_check(&app, |name, token| {
            let before = app.count_users();
            app.revoke_client(name);
            diesel::update(api_clients::table.filter(api_clients::name.eq(name)))
                .set(api_clients::revoked_at.eq(None::<chrono::NaiveDateTime>))
                .execute(&mut **app.connection())
                .unwrap();
            let another = app.jwe(&new_user_payload(&unique_email()));
            app.post_as(
                "/users",
                Some(token),
                "application/jose",
                another.as_bytes(),
            )
            .assert_error(401, "unauthorized", "brought back with SQL");
            assert_eq!(app.count_users(), before, "nothing stored");
        });
    }
);

on_both_backends!(
    a_registration_whose_client_limits_changed_since_its_last_check_is_stored,
    |backend| {
        // New limits rewrite the row's MAC: the commit finds the row changed, checks
        // the token again, and stores the user under the row as it is now.
        use piivault::access::clients::{self, LimitChange};
        let app = TestApp::spawn(backend);
        within_a_second_of_a_check(&app, |name, token| {
            let change = LimitChange {
                rate_per_second: None,
                burst: Some(999_999),
                max_concurrent: None,
            };
            clients::set_limits(&mut app.connection(), &app.keys.metadata, name, &change).unwrap();
            let before = app.count_users();
            let another = app.jwe(&new_user_payload(&unique_email()));
            let reply = app.post_as(
                "/users",
                Some(token),
                "application/jose",
                another.as_bytes(),
            );
            assert_eq!(
                reply.status,
                201,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            assert_eq!(app.count_users(), before + 1, "stored");
        });
    }
);

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
