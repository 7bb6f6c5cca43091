//! Authenticated metadata (docs/formats.md, "Metadata key"): rows that decide access,
//! written or edited straight in the database by someone without the metadata key,
//! are refused: a client's token answers 401, a statement link 404. Rows an older
//! version wrote keep working once `piivault keys seal-metadata` has sealed them.

use diesel::prelude::*;
use piivault::access::Scope;
use piivault::db::schema::{api_clients, statement_links};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, TestApp};

fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// The client rows whose stored name starts with `prefix-`.
fn named(prefix: &str) -> String {
    format!("{prefix}-%")
}

/// A statement link for `user` made through the API: its id and download URL.
fn new_link(app: &TestApp, user: Uuid, body: &serde_json::Value) -> (Vec<u8>, String) {
    let reply = app.post_json(&format!("/users/{user}/statements"), body);
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let link = reply.json();
    let id = Uuid::parse_str(link["id"].as_str().unwrap()).unwrap();
    (
        id.as_bytes().to_vec(),
        link["download_url"].as_str().unwrap().to_owned(),
    )
}

/// The link token in a download URL.
fn link_token(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

fn fetch(url: &str) -> u16 {
    TestApp::send(ureq::get(url), None).status
}

on_both_backends!(a_client_row_inserted_with_sql_is_refused, |backend| {
    let app = TestApp::spawn(backend);
    let user = format!(
        "/users/{}",
        app.register(&new_user_payload(&unique_email()))
    );
    // The attack of the review: the SHA-256 of a token of our choosing, every scope,
    // without a MAC or with a made-up one.
    for (n, mac) in [None, Some(vec![0u8; 32])].into_iter().enumerate() {
        let token = format!(
            "pv_{}{n}",
            "ChosenByTheForger-".repeat(3).get(..42).unwrap()
        );
        assert!(
            piivault::access::ApiToken::parse(&token).is_some(),
            "well formed"
        );
        diesel::insert_into(api_clients::table)
            .values((
                api_clients::id.eq(Uuid::new_v4().as_bytes().to_vec()),
                api_clients::name.eq(format!("forged-{n}")),
                api_clients::token_hash.eq(sha256(&token)),
                api_clients::scopes.eq("users:read,users:write,admin"),
                api_clients::created_at.eq(piivault::time::now()),
                api_clients::mac.eq(mac),
            ))
            .execute(&mut **app.connection())
            .unwrap();
        for path in [user.as_str(), "/users", "/audit"] {
            app.get_as(path, Some(&token)).assert_error(
                401,
                "unauthorized",
                &format!("forged {n} on {path}"),
            );
        }
    }
    assert_eq!(app.get(&user).status, 200, "real clients still read");
});

on_both_backends!(a_client_row_edited_with_sql_is_refused, |backend| {
    let app = TestApp::spawn(backend);
    let user = format!(
        "/users/{}",
        app.register(&new_user_payload(&unique_email()))
    );
    let jwe = app.jwe(&new_user_payload(&unique_email()));
    let post_user = |token: &str| {
        let request = app
            .request("POST", "/users", Some(token))
            .set("Content-Type", "application/jose");
        TestApp::send(request, Some(jwe.as_bytes())).status
    };

    // A writer's scope widened to read users: the whole row is refused, for the
    // scope it had as for the one added.
    let writer = app.create_client("widened", &[Scope::UsersWrite]);
    diesel::update(api_clients::table.filter(api_clients::name.like(named("widened"))))
        .set(api_clients::scopes.eq("users:write,users:read"))
        .execute(&mut **app.connection())
        .unwrap();
    app.get_as(&user, Some(&writer))
        .assert_error(401, "unauthorized", "widened scopes, read");
    assert_eq!(post_user(&writer), 401, "widened scopes, write");

    // A revoked client brought back.
    let revoked = app.create_client("unrevoked", &[Scope::UsersRead]);
    app.revoke_client("unrevoked");
    diesel::update(api_clients::table.filter(api_clients::name.like(named("unrevoked"))))
        .set(api_clients::revoked_at.eq(None::<chrono::NaiveDateTime>))
        .execute(&mut **app.connection())
        .unwrap();
    app.get_as(&user, Some(&revoked))
        .assert_error(401, "unauthorized", "un-revoked");

    // Limits raised, and another client's token digest moved onto a stronger row.
    let limited = app.create_client("raised", &[Scope::UsersRead]);
    diesel::update(api_clients::table.filter(api_clients::name.like(named("raised"))))
        .set(api_clients::burst.eq(api_clients::burst - 1))
        .execute(&mut **app.connection())
        .unwrap();
    app.get_as(&user, Some(&limited))
        .assert_error(401, "unauthorized", "raised limits");
    let weak = app.create_client("weak", &[Scope::Metrics]);
    let weak_digest: Vec<u8> = api_clients::table
        .filter(api_clients::name.like(named("weak")))
        .select(api_clients::token_hash)
        .first(&mut **app.connection())
        .unwrap();
    let strong = app.create_client("strong", &[Scope::UsersRead]);
    assert_eq!(app.get_as(&user, Some(&strong)).status, 200);
    diesel::delete(api_clients::table.filter(api_clients::name.like(named("weak"))))
        .execute(&mut **app.connection())
        .unwrap();
    diesel::update(api_clients::table.filter(api_clients::name.like(named("strong"))))
        .set(api_clients::token_hash.eq(weak_digest))
        .execute(&mut **app.connection())
        .unwrap();
    app.get_as(&user, Some(&weak))
        .assert_error(401, "unauthorized", "digest moved");

    // The command line will not seal an edited row anew either.
    let refused = app.cli_refused(&[
        "clients",
        "limits",
        &client_name(&app, "widened"),
        "--burst",
        "5",
    ]);
    assert!(refused.contains("fails its MAC"), "{refused}");
    let listed = app.cli_ok(&["clients", "list"]);
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with("widened-") && line.contains("FAILS ITS MAC")),
        "{listed}"
    );
    assert_eq!(app.get(&user).status, 200, "untouched clients still read");
});

/// The stored name of the client named `prefix-…`.
fn client_name(app: &TestApp, prefix: &str) -> String {
    api_clients::table
        .filter(api_clients::name.like(named(prefix)))
        .select(api_clients::name)
        .first(&mut **app.connection())
        .unwrap()
}

on_both_backends!(a_link_row_edited_with_sql_answers_404, |backend| {
    use diesel::connection::SimpleConnection as _;
    let app = TestApp::spawn(backend);
    let user = app.register(&new_user_payload(&unique_email()));
    app.register(&new_user_payload(&unique_email()));
    let body = json!({"from": "2026-11-01", "to": "2026-11-30",
                      "password": "national_id_code", "max_downloads": 3});
    let sql = |statement: &str| (**app.connection()).batch_execute(statement).unwrap();
    // One link at a time, so each edit is of the one row in the table.
    for (set, case) in [
        (
            "user_id = (SELECT id FROM users WHERE id <> statement_links.user_id LIMIT 1)",
            "another user",
        ),
        ("policy = 'national_id'", "a weaker policy"),
        ("expires_at = '2099-01-01 00:00:00'", "a later expiry"),
        ("period_from = '2020-01-01'", "a longer period"),
        ("currency = 'USD'", "another currency"),
        ("max_downloads = 10, downloads_left = 10", "a higher limit"),
        ("max_downloads = NULL", "no limit"),
        ("downloads_left = 5", "more downloads left than the limit"),
        ("downloads_left = NULL", "an unlimited count"),
        ("secret = NULL", "no secret"),
    ] {
        let (_, url) = new_link(&app, user, &body);
        sql(&format!("UPDATE statement_links SET {set}"));
        assert_eq!(fetch(&url), 404, "{case}");
        sql("DELETE FROM statement_links");
    }
    // What the running count is still good for: giving back used downloads, up to
    // the sealed limit (docs/formats.md).
    let (_, url) = new_link(&app, user, &body);
    assert_eq!(fetch(&url), 200);
    sql("UPDATE statement_links SET downloads_left = 3");
    for _ in 0..3 {
        assert_eq!(fetch(&url), 200, "within the sealed limit");
    }
    assert_eq!(fetch(&url), 404, "used up");
});

on_both_backends!(
    tokens_and_links_of_an_older_version_work_once_sealed,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = app.register(&new_user_payload(&unique_email()));
        let path = format!("/users/{user}");
        let token = app.create_client("older", &[Scope::UsersRead]);
        let revoked = app.create_client("older-revoked", &[Scope::UsersRead]);
        app.revoke_client("older-revoked");
        let (link, url) = new_link(
            &app,
            user,
            &json!({"from": "2026-11-01", "to": "2026-11-30", "password": "national_id"}),
        );
        // The rows as the previous version stored them: a plain SHA-256 and no MAC.
        for (prefix, plain) in [("older", &token), ("older-revoked", &revoked)] {
            diesel::update(
                api_clients::table.filter(api_clients::name.eq(client_name(&app, prefix))),
            )
            .set((
                api_clients::token_hash.eq(sha256(plain)),
                api_clients::mac.eq(None::<Vec<u8>>),
            ))
            .execute(&mut **app.connection())
            .unwrap();
        }
        diesel::update(statement_links::table.filter(statement_links::id.eq(link)))
            .set((
                statement_links::token_hash.eq(sha256(link_token(&url))),
                statement_links::mac.eq(None::<Vec<u8>>),
            ))
            .execute(&mut **app.connection())
            .unwrap();
        // Refused until sealed, and said so.
        app.get_as(&path, Some(&token))
            .assert_error(401, "unauthorized", "not yet sealed");
        assert_eq!(fetch(&url), 404, "link not yet sealed");
        let status = app.cli_ok(&["keys", "status"]);
        assert!(
            status.contains("2 client(s) and 1 link(s) NOT SEALED"),
            "{status}"
        );

        let sealed = app.cli_ok(&["keys", "seal-metadata"]);
        assert!(
            sealed.contains("sealed 2 API client(s) and 1 statement link(s)"),
            "{sealed}"
        );
        assert_eq!(app.get_as(&path, Some(&token)).status, 200, "token sealed");
        assert_eq!(fetch(&url), 200, "link sealed");
        app.get_as(&path, Some(&revoked)).assert_error(
            401,
            "unauthorized",
            "still revoked once sealed",
        );
        // Resumable: a second run finds nothing left.
        let again = app.cli_ok(&["keys", "seal-metadata"]);
        assert!(
            again.contains("sealed 0 API client(s) and 0 statement link(s)"),
            "{again}"
        );
        let status = app.cli_ok(&["keys", "status"]);
        assert!(
            status.contains("every client and link row is sealed"),
            "{status}"
        );
    }
);
