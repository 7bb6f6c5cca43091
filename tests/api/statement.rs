//! The statement PDF, checked by independent readers: qpdf and poppler's pdftotext.

use diesel::prelude::*;
use piivault::config::PublicUrl;
use piivault::db::schema::statement_links;
use serde_json::json;

use crate::support::pdf::{pdf_text, PdfFile};
use crate::support::{new_user_payload, unique_email, Backend, TestApp};
use crate::transactions::transaction;
use crate::{on_backends_and_providers, on_both_backends};

on_backends_and_providers!(
    statement_is_an_aes256_pdf_that_opens_with_the_national_id,
    |setup| {
        let app = TestApp::spawn(setup);
        let id = app.register(&new_user_payload(&unique_email()));
        let reply = app.get(&format!("/users/{id}/statement"));
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.content_type, "application/pdf");
        assert!(reply.body.starts_with(b"%PDF-2.0"), "PDF 2.0 header");

        let pdf = PdfFile::new(&reply.body);
        pdf.assert_aes256_r6("12345678");
        let text = pdf.text("12345678").expect("opens with the national id");
        assert!(text.contains("Jack Sparrow"), "name in text: {text}");
        assert!(text.contains("Page 1 of 1"), "footer: {text}");
        for wrong in ["87654321", "", "12345678 "] {
            assert!(
                pdf.text(wrong).is_none(),
                "pdftotext opened it with {wrong:?}"
            );
        }
        assert!(
            !pdf.qpdf_checks_with("wrong"),
            "qpdf opened it with a wrong password"
        );
    }
);

on_both_backends!(statement_without_national_id_is_a_clear_409, |backend| {
    let app = TestApp::spawn(backend);
    let id = app.register(&json!({"first_name":"No","last_name":"Id","email":unique_email()}));
    let reply = app.get(&format!("/users/{id}/statement"));
    reply.assert_error(409, "conflict", "no national id");
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .contains("national id"));
    app.get(&format!("/users/{}/statement", uuid::Uuid::new_v4()))
        .assert_error(404, "not_found", "unknown user");
});

/// A user with one transaction before November 2026, four in it and one after.
fn user_with_november(app: &TestApp) -> uuid::Uuid {
    let user = app.register(&new_user_payload(&unique_email()));
    app.post_transactions(
        user,
        &[
            transaction("OCT1", "2026-10-15T12:00:00Z", "Salary October", "5000.00"),
            transaction(
                "NOV1",
                "2026-11-02T08:00:00Z",
                "Deposit at agent",
                "2500.00",
            ),
            transaction(
                "NOV2",
                "2026-11-03T09:15:00Z",
                "Paid to Mama Mboga",
                "-1250.50",
            ),
            transaction(
                "NOV3",
                "2026-11-20T18:45:00Z",
                "Airtime purchase",
                "-100.00",
            ),
            transaction(
                "NOV4",
                "2026-11-30T23:59:59Z",
                "Salary November",
                "10000.00",
            ),
            transaction(
                "DEC1",
                "2026-12-01T00:00:00Z",
                "Not in this period",
                "999.00",
            ),
        ],
    );
    user
}

/// The figures that must appear: opening 5,000.00; paid in 12,500.00; withdrawn
/// 1,350.50; closing 16,149.50; running balances after each November row.
fn assert_november_figures(text: &str) {
    for expected in [
        "5,000.00",
        "12,500.00",
        "1,350.50",
        "16,149.50",
        "7,500.00",
        "6,249.50",
        "6,149.50",
        "Paid to Mama Mboga",
        "NOV1",
        "NOV4",
        "01 Nov 2026 - 30 Nov 2026",
        "+2547*****678",
        "Page 1 of 1",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    for absent in ["OCT1", "DEC1", "999.00", "Not in this period"] {
        assert!(!text.contains(absent), "{absent:?} must not be in {text}");
    }
    let summary = text
        .lines()
        .skip_while(|line| !line.contains("Opening Balance"))
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_default();
    let summary_after_labels: Vec<&str> = text
        .lines()
        .skip_while(|line| !line.contains("Opening Balance"))
        .skip(1)
        .find(|line| !line.trim().is_empty())
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        summary_after_labels,
        ["5,000.00", "12,500.00", "1,350.50", "16,149.50"],
        "summary row in order: {summary:?}"
    );
}

on_backends_and_providers!(
    statement_totals_and_balances_match_the_transactions,
    |setup| {
        let app = TestApp::spawn(setup);
        let user = user_with_november(&app);
        let reply = app.get(&format!(
            "/users/{user}/statement?from=2026-11-01&to=2026-11-30"
        ));
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let text = pdf_text(&reply.body, "12345678").expect("opens with the national id");
        assert_november_figures(&text);

        let empty = app.get(&format!(
            "/users/{user}/statement?from=2025-01-01&to=2025-01-31"
        ));
        assert_eq!(
            empty.status, 200,
            "a period with no transactions is a statement"
        );
        let text = pdf_text(&empty.body, "12345678").unwrap();
        assert!(text.contains("No transactions in this period."), "{text}");
        assert!(text.contains("0.00"), "zero balances: {text}");
    }
);

/// Creates a download link; returns the reply body.
fn create_link(app: &TestApp, user: uuid::Uuid, policy: &str) -> serde_json::Value {
    let reply = app.post_json(
        &format!("/users/{user}/statements"),
        &json!({"from": "2026-11-01", "to": "2026-11-30", "password": policy}),
    );
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// A `national_id_code` code: three groups of four Crockford base32 characters,
/// 12 × 5 = 60 bits.
fn assert_code_is_60_bits_in_groups(code: &str) {
    let groups: Vec<&str> = code.split('-').collect();
    assert_eq!(groups.len(), 3, "{code}");
    for group in groups {
        assert_eq!(group.len(), 4, "{code}");
        assert!(
            group
                .bytes()
                .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)),
            "{code}"
        );
    }
}

/// Creates a link with a body of our own; asserts 201.
fn create_link_with(
    app: &TestApp,
    user: uuid::Uuid,
    body: &serde_json::Value,
) -> serde_json::Value {
    let reply = app.post_json(&format!("/users/{user}/statements"), body);
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// GETs a download URL without any bearer token.
fn fetch(url: &str) -> crate::support::Reply {
    TestApp::send(ureq::get(url), None)
}

on_backends_and_providers!(each_password_policy_opens_with_its_password_only, |setup| {
    let app = TestApp::spawn(setup);
    let user = user_with_november(&app);

    let link = create_link(&app, user, "national_id");
    assert!(link.get("code").is_none() && link.get("password").is_none());
    let url = link["download_url"].as_str().unwrap();
    assert!(url.contains("/statements/download/"), "{url}");
    let pdf = fetch(url);
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.content_type, "application/pdf");
    assert_november_figures(&pdf_text(&pdf.body, "12345678").expect("national id opens it"));
    assert!(pdf_text(&pdf.body, "wrong").is_none());
    let again = fetch(url);
    assert_eq!(again.status, 200, "a link works until it expires");

    // Two downloads each, so that no link is used up (and deleted) before the check of
    // what is stored below.
    let twice = |policy: &str| {
        create_link_with(
            &app,
            user,
            &json!({"from": "2026-11-01", "to": "2026-11-30", "password": policy,
                    "max_downloads": 2}),
        )
    };
    let link = twice("national_id_code");
    let code = link["code"].as_str().unwrap().to_owned();
    assert_code_is_60_bits_in_groups(&code);
    let pdf = fetch(link["download_url"].as_str().unwrap());
    assert_eq!(pdf.status, 200);
    assert!(
        pdf_text(&pdf.body, &format!("12345678-{code}")).is_some(),
        "national id and code open it"
    );
    assert!(
        pdf_text(&pdf.body, "12345678").is_none(),
        "the bare national id does not"
    );
    assert!(
        pdf_text(&pdf.body, &code).is_none(),
        "the bare code does not"
    );
    assert!(
        pdf_text(&pdf.body, "12345678-AAAA-AAAA-AAAA").is_none(),
        "another code does not"
    );

    let link = twice("random");
    let password = link["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 16, "at least 80 bits: {}", password.len());
    let pdf = fetch(link["download_url"].as_str().unwrap());
    assert_eq!(pdf.status, 200);
    assert_november_figures(&pdf_text(&pdf.body, &password).expect("the password opens it"));
    assert!(
        pdf_text(&pdf.body, "12345678").is_none(),
        "the national id does not"
    );

    // Codes and passwords are stored only sealed: they are nowhere in the database file
    // or rows as text.
    let mut connection = app.connection();
    let secrets: Vec<Option<Vec<u8>>> = statement_links::table
        .select(statement_links::secret)
        .load(&mut **connection)
        .unwrap();
    assert_eq!(secrets.len(), 3);
    for secret in secrets.into_iter().flatten() {
        for shown in [&code, &password] {
            assert!(
                !secret
                    .windows(shown.len())
                    .any(|window| window == shown.as_bytes()),
                "a shown-once value is stored in the clear"
            );
        }
    }

    // Not a token, a guessed token, and a link for an unknown user.
    fetch(&app.url("/statements/download/nope")).assert_error(404, "not_found", "not a token");
    fetch(&app.url(&format!("/statements/download/{}", "A".repeat(43)))).assert_error(
        404,
        "not_found",
        "unknown token",
    );
    app.post_json(
        &format!("/users/{}/statements", uuid::Uuid::new_v4()),
        &json!({"from": "2026-11-01", "to": "2026-11-30", "password": "random"}),
    )
    .assert_error(404, "not_found", "unknown user");

    // Deleting the user takes transactions and links with it (crypto-shredding).
    let live = app
        .post_json(
            &format!("/users/{user}/statements"),
            &json!({"from": "2026-11-01", "to": "2026-11-30", "password": "random",
                    "max_downloads": 2}),
        )
        .json();
    let url = live["download_url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&url).status, 200);
    assert_eq!(app.delete(&format!("/users/{user}")).status, 204);
    fetch(&url).assert_error(404, "not_found", "link of a deleted user");
    app.get(&format!("/users/{user}/transactions"))
        .assert_error(404, "not_found", "transactions of a deleted user");
    let remaining: i64 = piivault::db::schema::transactions::table
        .count()
        .get_result(&mut **app.connection())
        .unwrap();
    assert_eq!(remaining, 0, "the rows went with the user");
});

/// Creates a download link for November as a client that forges every header a
/// link's address could be taken from.
fn create_link_with_forged_host(app: &TestApp, user: uuid::Uuid) -> String {
    let request = app
        .request(
            "POST",
            &format!("/users/{user}/statements"),
            Some(&app.token),
        )
        .set("Content-Type", "application/json")
        .set("Host", "evil.example")
        .set("X-Forwarded-Host", "evil.example")
        .set("X-Forwarded-Proto", "http")
        .set("Forwarded", "host=evil.example;proto=http");
    let body = json!({"from": "2026-11-01", "to": "2026-11-30", "password": "national_id"});
    let reply = TestApp::send(request, Some(body.to_string().as_bytes()));
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["download_url"].as_str().unwrap().to_owned()
}

on_both_backends!(
    links_are_built_from_the_public_url_never_from_request_headers,
    |backend| {
        let app = TestApp::spawn_with(backend, |settings| {
            settings.public_url = Some(PublicUrl::parse("https://vault.example/pii/").unwrap());
        });
        let user = user_with_november(&app);
        let url = create_link_with_forged_host(&app, user);
        let token = url
            .strip_prefix("https://vault.example/pii/statements/download/")
            .unwrap_or_else(|| panic!("built from --public-url: {url}"));
        assert!(!url.contains("evil"), "{url}");
        // The link works where the service really is.
        let pdf = fetch(&app.url(&format!("/statements/download/{token}")));
        assert_eq!(pdf.status, 200);

        // Dev mode without --public-url: the bound address, still not the headers.
        let dev = TestApp::spawn(backend);
        let user = user_with_november(&dev);
        let url = create_link_with_forged_host(&dev, user);
        assert!(
            url.starts_with(&format!("{}/statements/download/", dev.base_url)),
            "built from the bound address: {url}"
        );
        assert_eq!(fetch(&url).status, 200);
    }
);

on_both_backends!(
    a_link_is_downloaded_as_often_as_it_allows_then_404,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = user_with_november(&app);
        let november =
            |policy: &str| json!({"from": "2026-11-01", "to": "2026-11-30", "password": policy});

        // The stronger policies: once by default.
        for policy in ["random", "national_id_code"] {
            let link = create_link(&app, user, policy);
            assert_eq!(link["max_downloads"], 1, "{policy}");
            let url = link["download_url"].as_str().unwrap();
            assert_eq!(fetch(url).status, 200, "{policy}: first download");
            fetch(url).assert_error(404, "not_found", "a second download of a one-time link");
        }

        // As many as asked for.
        let mut body = november("national_id_code");
        body["max_downloads"] = json!(3);
        let link = create_link_with(&app, user, &body);
        assert_eq!(link["max_downloads"], 3);
        let url = link["download_url"].as_str().unwrap();
        for download in 1..=3 {
            assert_eq!(fetch(url).status, 200, "download {download} of 3");
        }
        fetch(url).assert_error(404, "not_found", "a fourth download of three");

        // The national id alone: until it expires, unless limited.
        let link = create_link(&app, user, "national_id");
        assert!(link["max_downloads"].is_null());
        let url = link["download_url"].as_str().unwrap();
        for download in 1..=3 {
            assert_eq!(fetch(url).status, 200, "unlimited, download {download}");
        }
        let mut body = november("national_id");
        body["max_downloads"] = json!(1);
        let url = create_link_with(&app, user, &body)["download_url"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(fetch(&url).status, 200);
        fetch(&url).assert_error(404, "not_found", "a limited national_id link");

        // Out of bounds or not an integer: 422 naming the field, and no link.
        for bad in [
            json!(0),
            json!(11),
            json!(-1),
            json!(1.5),
            json!("2"),
            json!(true),
        ] {
            let mut body = november("random");
            body["max_downloads"] = bad.clone();
            let reply = app.post_json(&format!("/users/{user}/statements"), &body);
            reply.assert_error(422, "validation_failed", &format!("max_downloads {bad}"));
            assert_eq!(
                reply.json()["fields"]["max_downloads"],
                "must be an integer from 1 to 10",
                "{bad}"
            );
        }
    }
);

on_both_backends!(
    concurrent_downloads_of_a_one_time_link_let_exactly_one_through,
    |backend| {
        const RACERS: usize = 4;
        let app = TestApp::spawn_with(backend, |settings| {
            // Every racer writes at once instead of queueing behind the others.
            settings.max_concurrent_documents = RACERS;
        });
        let user = user_with_november(&app);
        let link = create_link(&app, user, "random");
        let url = link["download_url"].as_str().unwrap().to_owned();
        let start = std::sync::Barrier::new(RACERS);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..RACERS)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        fetch(&url).status
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|racer| racer.join().unwrap())
                .collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 404, 404, 404], "{statuses:?}");
    }
);

on_both_backends!(an_expired_link_is_404, |backend| {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.statement_link_ttl = std::time::Duration::from_secs(1);
    });
    let user = user_with_november(&app);
    let link = create_link(&app, user, "national_id");
    let url = link["download_url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&url).status, 200, "fresh");
    crate::support::wait_for("the link to expire (1 s)", || fetch(&url).status != 200);
    fetch(&url).assert_error(404, "not_found", "expired");
});

on_both_backends!(
    bad_statement_requests_get_the_documented_errors,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = user_with_november(&app);
        let statements = format!("/users/{user}/statements");
        for (case, body, field) in [
            (
                "from after to",
                json!({"from":"2026-11-30","to":"2026-11-01","password":"random"}),
                "from",
            ),
            (
                "invalid date",
                json!({"from":"2026-02-30","to":"2026-03-01","password":"random"}),
                "from",
            ),
            (
                "unknown policy",
                json!({"from":"2026-11-01","to":"2026-11-30","password":"none"}),
                "password",
            ),
            (
                "missing policy",
                json!({"from":"2026-11-01","to":"2026-11-30"}),
                "password",
            ),
            (
                "policy not a string",
                json!({"from":"2026-11-01","to":"2026-11-30","password":1}),
                "password",
            ),
            (
                "unknown currency",
                json!({"from":"2026-11-01","to":"2026-11-30","password":"random","currency":"XYZ"}),
                "currency",
            ),
            (
                "unknown field",
                json!({"from":"2026-11-01","to":"2026-11-30","password":"random","x":1}),
                "(unknown)",
            ),
        ] {
            let reply = app.post_json(&statements, &body);
            reply.assert_error(422, "validation_failed", case);
            assert!(
                reply.json()["fields"][field].is_string(),
                "{case}: {}",
                reply.json()
            );
            if case == "policy not a string" {
                assert_eq!(reply.json()["fields"]["password"], "must be a string");
            }
        }
        for (case, query, field) in [
            ("from after to", "from=2026-11-30&to=2026-11-01", "from"),
            ("invalid dates", "from=2026-11-31&to=2026-12-01", "from"),
            ("not a date", "from=2026-11-01&to=soon", "to"),
            ("unknown currency", "currency=ABC", "currency"),
        ] {
            let reply = app.get(&format!("/users/{user}/statement?{query}"));
            reply.assert_error(422, "validation_failed", case);
            assert!(reply.json()["fields"][field].is_string(), "{case}");
        }
        let no_id =
            app.register(&json!({"first_name":"No","last_name":"Id","email":unique_email()}));
        app.post_json(
            &format!("/users/{no_id}/statements"),
            &json!({"from":"2026-11-01","to":"2026-11-30","password":"national_id_code"}),
        )
        .assert_error(409, "conflict", "code policy without a national id");
        let random = app.post_json(
            &format!("/users/{no_id}/statements"),
            &json!({"from":"2026-11-01","to":"2026-11-30","password":"random"}),
        );
        assert_eq!(random.status, 201, "the random policy needs no national id");
        let reader = app.create_client("reader", &[piivault::access::Scope::UsersRead]);
        app.post_as(
            &statements,
            Some(&reader),
            "application/json",
            br#"{"from":"2026-11-01","to":"2026-11-30","password":"random"}"#,
        )
        .assert_error(403, "forbidden", "without the statements scope");
    }
);

on_both_backends!(
    non_latin_names_and_details_render_as_themselves,
    |backend| {
        let app = TestApp::spawn(backend);
        let mut payload = new_user_payload(&unique_email());
        payload["first_name"] = json!("Дмитрий");
        payload["last_name"] = json!("Σωκράτης Zoë");
        let user = app.register(&payload);
        app.post_transactions(
            user,
            &[transaction(
                "R1",
                "2026-11-05T10:00:00Z",
                "Оплата · πληρωμή · Ærøskøbing",
                "-10.00",
            )],
        );
        let reply = app.get(&format!(
            "/users/{user}/statement?from=2026-11-01&to=2026-11-30"
        ));
        assert_eq!(reply.status, 200);
        assert!(
            reply.body.len() < 200_000,
            "fonts are subset: {} bytes",
            reply.body.len()
        );
        let text = pdf_text(&reply.body, "12345678").unwrap();
        assert!(text.contains("Дмитрий Σωκράτης Zoë"), "{text}");
        assert!(text.contains("Оплата · πληρωμή · Ærøskøbing"), "{text}");
        assert!(!text.contains('?'), "no character fell back to `?`: {text}");
    }
);

#[test]
fn two_instances_on_one_postgres_share_links_and_transactions() {
    let first = TestApp::spawn(Backend::Postgres);
    let second = first.second_instance();
    assert_ne!(first.base_url, second.base_url);
    let user = user_with_november(&first);

    // Written through one, read through the other.
    let listing = second.get_as(
        &format!("/users/{user}/transactions?from=2026-11-01&to=2026-11-30"),
        Some(&first.token),
    );
    assert_eq!(listing.status, 200);
    assert_eq!(listing.json()["transactions"].as_array().unwrap().len(), 4);

    for policy in ["national_id_code", "random"] {
        let link = create_link(&first, user, policy);
        let url = link["download_url"].as_str().unwrap();
        let path = &url[url.find("/statements/download/").unwrap()..];
        let pdf = fetch(&second.url(path));
        assert_eq!(
            pdf.status, 200,
            "{policy}: the other instance serves the link"
        );
        let password = match policy {
            "random" => link["password"].as_str().unwrap().to_owned(),
            _ => format!("12345678-{}", link["code"].as_str().unwrap()),
        };
        assert_november_figures(&pdf_text(&pdf.body, &password).expect("opens"));
    }
}
