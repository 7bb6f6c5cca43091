//! Operator tools over real HTTP: GET /users (keyset pages, exact search), POST
//! /exports/users (an AES-256 PDF checked by qpdf and poppler), the audit log of
//! every personal-data read (GET /audit, `piivault audit tail`), and `piivault seed`.

use piivault::access::Scope;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::pdf::PdfFile;
use crate::support::{new_user_payload, unique_email, Backend, TestApp};

/// Registers `count` people with distinct emails, phones and national ids; returns
/// their payloads and ids in registration order.
fn register_people(app: &TestApp, count: usize) -> Vec<(Value, Uuid)> {
    (0..count)
        .map(|n| {
            let mut payload = new_user_payload(&unique_email());
            payload["first_name"] = json!(format!("Person{n}"));
            payload["phone"] = json!(format!("+2547000000{n:02}"));
            payload["national_id"] = json!(format!("NID{n:05}"));
            let id = app.register(&payload);
            (payload, id)
        })
        .collect()
}

fn ids(body: &Value) -> Vec<Uuid> {
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| Uuid::parse_str(user["id"].as_str().unwrap()).unwrap())
        .collect()
}

/// Follows `next` from `first_query` to the end; returns the ids page by page.
fn walk(app: &TestApp, first_query: &str) -> Vec<Vec<Uuid>> {
    let mut pages = Vec::new();
    let mut query = first_query.to_owned();
    loop {
        let reply = app.get(&format!("/users?{query}"));
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        assert_eq!(body["total"], 5, "total on every page");
        pages.push(ids(&body));
        match body["next"].as_str() {
            Some(next) => query = format!("{first_query}&after={next}"),
            None => return pages,
        }
    }
}

on_both_backends!(list_pages_newest_or_oldest_first_with_cursors, |backend| {
    let app = TestApp::spawn(backend);
    let people = register_people(&app, 5);
    let registered: Vec<Uuid> = people.iter().map(|(_, id)| *id).collect();

    let newest = walk(&app, "limit=2");
    assert_eq!(
        newest.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let mut expected = registered.clone();
    expected.reverse();
    assert_eq!(newest.concat(), expected, "newest first across pages");

    let oldest = walk(&app, "limit=2&order=oldest");
    assert_eq!(oldest.concat(), registered, "oldest first across pages");

    // A page of exactly the remaining rows still says there may be more; the next
    // (empty) page ends it.
    let all = walk(&app, "limit=5");
    assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 0]);

    // The users come back opened.
    let first = app.get("/users?limit=1&order=oldest").json();
    assert_eq!(first["users"][0]["email"], people[0].0["email"]);
    assert_eq!(first["users"][0]["first_name"], "Person0");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("order=sideways", "order"),
        ("after=nope", "after"),
        ("colour=blue", "(unknown)"),
        ("email=not-an-email", "email"),
        ("phone=0712", "phone"),
        ("email=a@b.co&phone=%2B254700000000", "search"),
        ("limit=1&limit=2", "limit"),
        // A value where a name goes is not echoed back.
        ("jack.sparrow@example.com", "(unknown)"),
        ("AK1234567=1", "(unknown)"),
    ] {
        let reply = app.get(&format!("/users?{query}"));
        reply.assert_error(422, "validation_failed", query);
        assert!(!String::from_utf8_lossy(&reply.body).contains("sparrow"));
        assert!(
            reply.json()["fields"][field].is_string(),
            "{query}: {}",
            reply.json()
        );
    }
});

on_both_backends!(exact_search_by_email_phone_and_national_id, |backend| {
    let app = TestApp::spawn(backend);
    let people = register_people(&app, 4);
    // A second person sharing person 2's phone: both are found, newest first.
    let mut twin = new_user_payload(&unique_email());
    twin["phone"] = people[2].0["phone"].clone();
    let twin_id = app.register(&twin);

    let search = |query: String| {
        let reply = app.get(&format!("/users?{query}"));
        assert_eq!(
            reply.status,
            200,
            "{query}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    };
    let encode = |value: &Value| value.as_str().unwrap().replace('+', "%2B");

    // Email, looked up case-insensitively.
    let email = people[1].0["email"].as_str().unwrap().to_uppercase();
    let found = search(format!("email={email}"));
    assert_eq!(ids(&found), vec![people[1].1]);
    assert_eq!(found["total"], 1);
    assert_eq!(found["next"], Value::Null);

    // Only the match was opened: the audit record of that search counts one user.
    let audit = app.get("/audit?limit=1").json();
    assert_eq!(audit["entries"][0]["action"], "users.list");
    assert_eq!(audit["entries"][0]["users_read"], 1);

    let found = search(format!("phone={}", encode(&people[2].0["phone"])));
    assert_eq!(ids(&found), vec![twin_id, people[2].1]);
    assert_eq!(found["total"], 2);
    let found = search(format!(
        "phone={}&order=oldest",
        encode(&people[2].0["phone"])
    ));
    assert_eq!(ids(&found), vec![people[2].1, twin_id]);

    let found = search(format!(
        "national_id={}",
        people[3].0["national_id"].as_str().unwrap()
    ));
    assert_eq!(ids(&found), vec![people[3].1]);

    // A value nobody has: nothing, and nothing else opened.
    let found = search("email=nobody@example.org".to_owned());
    assert_eq!(found["users"], json!([]));
    assert_eq!(found["total"], 0);
    // Exact only: a prefix finds nobody.
    let found = search("national_id=NID0".to_owned());
    assert_eq!(found["total"], 0);
});

on_both_backends!(
    only_admin_lists_exports_and_reads_the_audit_log,
    |backend| {
        let app = TestApp::spawn(backend);
        app.register(&new_user_payload(&unique_email()));
        let reader = app.create_client("reader", &[Scope::UsersRead]);
        let password = app.jwe(&json!({}));
        let refused = [
            app.get_as("/users", Some(&reader)),
            app.get_as("/audit", Some(&reader)),
            app.post_as(
                "/exports/users",
                Some(&reader),
                "application/jose",
                password.as_bytes(),
            ),
        ];
        for reply in &refused {
            reply.assert_error(403, "forbidden", "users:read token");
        }
        for reply in [
            app.get_as("/users", None),
            app.get_as("/audit", None),
            app.post_as(
                "/exports/users",
                None,
                "application/jose",
                password.as_bytes(),
            ),
        ] {
            reply.assert_error(401, "unauthorized", "no token");
        }
        // A refused caller read nothing: nothing was audited.
        assert_eq!(app.get("/audit").json()["entries"], json!([]));
    }
);

on_both_backends!(
    export_is_an_aes256_pdf_of_everyone_behind_the_password,
    |backend| {
        let app = TestApp::spawn(backend);
        let people = register_people(&app, 3);
        let export = |password: &str| {
            let body = app.jwe(&json!({"password": password}));
            app.post_as(
                "/exports/users",
                Some(&app.token),
                "application/jose",
                body.as_bytes(),
            )
        };

        // A chosen password must be as hard to guess as a made one (100 bits); and
        // PDF readers pass a password through SASLprep first: what it refuses could
        // never open the document, so it is refused here, not discovered as a 500.
        let weak = [
            "",
            "elevenchars",
            "correct horse battery staple",
            "Password1234Password1234",
        ];
        let unpreparable = [
            "correct horse\u{0}battery",
            "correct horse \u{202e}battery",
            "correct horse battery \u{1F600}",
            "correct horse \u{5d0}\u{5d1}\u{5d2} battery",
        ];
        let cases = (weak.iter().map(|password| (password, "too easy to guess"))).chain(
            unpreparable
                .iter()
                .map(|password| (password, "PDF password")),
        );
        for (password, reason) in cases {
            let reply = export(password);
            reply.assert_error(422, "validation_failed", password);
            let said = reply.json()["fields"]["password"].clone();
            assert!(
                said.as_str().unwrap().contains(reason),
                "{password:?}: {said}"
            );
        }
        let body = app.jwe(&json!({"password": STRONG, "format": "csv"}));
        app.post_as(
            "/exports/users",
            Some(&app.token),
            "application/jose",
            body.as_bytes(),
        )
        .assert_error(422, "validation_failed", "unknown field");
        app.post_as(
            "/exports/users",
            Some(&app.token),
            "application/jose",
            b"not a jwe",
        )
        .assert_error(400, "invalid_jwe", "not a JWE");

        let reply = export(STRONG);
        assert!(
            reply.header(MADE_PASSWORD).is_none(),
            "a chosen one is not echoed"
        );
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.content_type, "application/pdf");
        assert!(reply.body.starts_with(b"%PDF-2.0"));
        let pdf = PdfFile::new(&reply.body);
        pdf.assert_aes256_r6(STRONG);
        let text = pdf.text(STRONG).expect("opens with the password");
        for heading in [
            "NAME",
            "AGE",
            "ADDRESS",
            "PHONE",
            "EMAIL",
            "Page 1 of 1",
            "3 people",
        ] {
            assert!(text.contains(heading), "{heading} in: {text}");
        }
        for (payload, _) in &people {
            let name = format!("{} Sparrow", payload["first_name"].as_str().unwrap());
            assert!(text.contains(&name), "{name} in the export");
            assert!(text.contains(payload["phone"].as_str().unwrap()));
        }
        for wrong in ["", &STRONG[1..], &STRONG.to_uppercase()] {
            assert!(pdf.text(wrong).is_none(), "opened with {wrong:?}");
        }
        assert!(
            !pdf.qpdf_checks_with(""),
            "qpdf opened it without the password"
        );

        // A password beyond ASCII that SASLprep accepts works as typed (pdftotext
        // takes at most 32 bytes of password).
        let umlauts = "Grüße-k3Jd9sLq0PzX7vBn2MwR";
        let reply = export(umlauts);
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let pdf = PdfFile::new(&reply.body);
        assert!(pdf.text(umlauts).is_some(), "opens with {umlauts:?}");
        assert!(pdf.text("Grusse-k3Jd9sLq0PzX7vBn2MwR").is_none());

        // Without a password, the service makes one (100 bits) and shows it once.
        let reply = app.post_as(
            "/exports/users",
            Some(&app.token),
            "application/jose",
            app.jwe(&json!({})).as_bytes(),
        );
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let made = reply
            .header(MADE_PASSWORD)
            .expect("the made password")
            .to_owned();
        assert_eq!(made.len(), 20, "{made}");
        assert!(made
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
        assert_eq!(reply.header("Cache-Control"), Some("no-store"));
        let pdf = PdfFile::new(&reply.body);
        pdf.assert_aes256_r6(&made);
        assert!(pdf.qpdf_checks_with(&made));
        assert!(pdf.text(&made).unwrap().contains("3 people"));
        let again = app.post_as(
            "/exports/users",
            Some(&app.token),
            "application/jose",
            app.jwe(&json!({})).as_bytes(),
        );
        assert_ne!(
            again.header(MADE_PASSWORD),
            Some(made.as_str()),
            "made anew"
        );
    }
);

/// A chosen export password strong enough (24 random letters and digits).
const STRONG: &str = "k3Jd9sLq0PzX7vBn2MwR8tYc";
/// Where the service shows an export password it made.
const MADE_PASSWORD: &str = "Piivault-Export-Password";

on_both_backends!(
    every_personal_data_read_is_audited_without_the_data,
    |backend| {
        let app = TestApp::spawn(backend);
        let people = register_people(&app, 2);
        let id = &people[0].1;
        let operator = app.create_client("operator", &Scope::ALL);

        let as_operator = |method: &str, path: &str, request_id: Option<&str>| {
            let mut request = app.request(method, path, Some(&operator));
            if let Some(request_id) = request_id {
                request = request.set("X-Request-Id", request_id);
            }
            let response = match request.call() {
                Ok(response) | Err(ureq::Error::Status(_, response)) => response,
                Err(error) => panic!("{error}"),
            };
            assert_eq!(response.status(), 200, "{method} {path}");
            response.header("X-Request-Id").unwrap().to_owned()
        };
        let mut expected = vec![
            (
                "user.read",
                as_operator("GET", &format!("/users/{id}"), Some("lb-req.42")),
            ),
            (
                "user.read",
                as_operator(
                    "GET",
                    &format!("/get-user/{id}"),
                    Some("bad id with spaces"),
                ),
            ),
            (
                "statement.download",
                as_operator("GET", &format!("/users/{id}/statement"), None),
            ),
            ("users.list", as_operator("GET", "/users?limit=10", None)),
        ];
        assert_eq!(
            expected[0].1, "lb-req.42",
            "a sane incoming request id is kept"
        );
        assert_ne!(
            expected[1].1, "bad id with spaces",
            "an unsafe one is replaced"
        );
        let body = app.jwe(&json!({}));
        let export = app
            .request("POST", "/exports/users", Some(&operator))
            .set("Content-Type", "application/jose")
            .send_bytes(body.as_bytes())
            .unwrap();
        expected.push((
            "users.export",
            export.header("X-Request-Id").unwrap().to_owned(),
        ));
        // A read that found nothing hands out no data and is not a read of anyone.
        app.get_as(&format!("/users/{}", Uuid::new_v4()), Some(&operator))
            .assert_error(404, "not_found", "unknown user");

        let audit = app.get("/audit?limit=1000").json();
        let entries = audit["entries"].as_array().unwrap();
        let mine: Vec<&Value> = entries
            .iter()
            .filter(|entry| {
                entry["client_name"]
                    .as_str()
                    .unwrap()
                    .starts_with("operator-")
            })
            .collect();
        expected.reverse(); // newest first
        assert_eq!(mine.len(), expected.len(), "one record per read: {audit}");
        for (entry, (action, request_id)) in mine.iter().zip(&expected) {
            assert_eq!(entry["action"], *action);
            assert_eq!(entry["request_id"], *request_id, "{action}");
        }
        assert_eq!(mine[4]["subject_user_id"], id.to_string());
        assert_eq!(mine[2]["subject_user_id"], id.to_string(), "statement");
        assert_eq!(mine[1]["subject_user_id"], Value::Null, "list");
        assert_eq!(mine[1]["users_read"], 2);
        assert_eq!(mine[0]["users_read"], 2, "export");

        // Filters: by subject user, by client, by time.
        let by_user = app.get(&format!("/audit?user={id}")).json();
        assert_eq!(by_user["entries"].as_array().unwrap().len(), 3);
        let client = mine[0]["client_id"].as_str().unwrap();
        let by_client = app.get(&format!("/audit?client={client}")).json();
        assert_eq!(by_client["entries"].as_array().unwrap().len(), 5);
        let since = mine[1]["at"].as_str().unwrap().replace('+', "%2B");
        let recent = app
            .get(&format!("/audit?client={client}&since={since}"))
            .json();
        assert_eq!(recent["entries"].as_array().unwrap().len(), 2);
        let until = app
            .get(&format!("/audit?client={client}&until={since}"))
            .json();
        assert_eq!(until["entries"].as_array().unwrap().len(), 3);
        let paged = app.get(&format!("/audit?client={client}&limit=2")).json();
        let next = paged["next"].as_str().unwrap();
        let rest = app
            .get(&format!("/audit?client={client}&limit=10&before={next}"))
            .json();
        assert_eq!(rest["entries"].as_array().unwrap().len(), 3);
        for (query, field) in [
            ("since=yesterday", "since"),
            ("limit=0", "limit"),
            ("colour=blue", "(unknown)"),
            ("user=1&user=2", "user"),
        ] {
            let reply = app.get(&format!("/audit?{query}"));
            reply.assert_error(422, "validation_failed", query);
            assert!(reply.json()["fields"][field].is_string(), "{query}");
        }

        // Nothing personal in any stored record.
        let dump = serde_json::to_string(&audit).unwrap();
        for (payload, _) in &people {
            for field in [
                "first_name",
                "email",
                "phone",
                "national_id",
                "address",
                "date_of_birth",
            ] {
                let value = payload[field].as_str().unwrap();
                assert!(!dump.contains(value), "{field} in the audit log");
            }
        }

        // The CLI shows the same records, oldest of the newest N first.
        let tail = app.cli_ok(&["audit", "tail", "-n", "2", "--json"]);
        let lines: Vec<Value> = tail
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["id"], entries[0]["id"]);
        assert_eq!(lines[0]["id"], entries[1]["id"]);
    }
);

on_both_backends!(the_audit_log_is_append_only, |backend| {
    use diesel::connection::SimpleConnection as _;
    let app = TestApp::spawn(backend);
    let (_, id) = register_people(&app, 1)[0].clone();
    assert_eq!(app.get(&format!("/users/{id}")).status, 200);
    let mut connection = app.connection();
    for statement in [
        "UPDATE audit_log SET action = 'nothing'",
        "DELETE FROM audit_log",
    ] {
        assert!(
            (**connection).batch_execute(statement).is_err(),
            "{statement} was allowed"
        );
    }
    assert_eq!(
        app.get("/audit").json()["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
});

on_both_backends!(a_read_that_cannot_be_audited_hands_out_nothing, |backend| {
    use diesel::connection::SimpleConnection as _;
    let app = TestApp::spawn(backend);
    let (person, id) = register_people(&app, 1)[0].clone();
    // The audit log refuses new records, as a full disk or a broken table would.
    let (refuse_records, accept_records) = match backend {
        Backend::Sqlite => (
            "CREATE TRIGGER audit_log_full BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit log full'); END;",
            "DROP TRIGGER audit_log_full",
        ),
        Backend::Postgres => (
            "CREATE FUNCTION audit_log_full() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'audit log full'; END; $$ LANGUAGE plpgsql; \
             CREATE TRIGGER audit_log_full BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION audit_log_full();",
            "DROP TRIGGER audit_log_full ON audit_log",
        ),
    };
    (**app.connection()).batch_execute(refuse_records).unwrap();
    for path in [format!("/users/{id}"), format!("/get-user/{id}")] {
        let reply = app.get(&path);
        reply.assert_error(500, "internal", &path);
        let body = String::from_utf8_lossy(&reply.body);
        assert!(!body.contains(person["email"].as_str().unwrap()), "{body}");
    }
    (**app.connection()).batch_execute(accept_records).unwrap();
    assert_eq!(app.get(&format!("/users/{id}")).status, 200);
    assert_eq!(
        app.get("/audit").json()["entries"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "only the read that was recorded"
    );
});

on_both_backends!(seed_stores_fake_people_that_open_and_are_found, |backend| {
    let app = TestApp::spawn(backend);
    let out = app.cli_ok(&[
        "seed",
        "--users",
        "120",
        "--batch-size",
        "50",
        "--seed",
        "7",
        "--transactions-per-user",
        "3",
    ]);
    assert!(out.contains("seeded 120 users"), "{out}");
    let page = app.get("/users?limit=200").json();
    assert_eq!(page["total"], 120);
    let users = page["users"].as_array().unwrap();
    assert_eq!(users.len(), 120, "every seeded user opens");
    let kenyan = users
        .iter()
        .filter(|user| {
            user["phone"]
                .as_str()
                .is_some_and(|p| p.starts_with("+254"))
        })
        .count();
    assert!(kenyan > 40, "mostly Kenyan phones: {kenyan}");
    // Seeded users are indexed like API users: an exact search finds one.
    let email = users[17]["email"].as_str().unwrap();
    let found = app.get(&format!("/users?email={email}")).json();
    assert_eq!(found["users"][0]["id"], users[17]["id"]);
    // Each has its transactions of the last 90 days, sealed like the API's.
    let id = users[17]["id"].as_str().unwrap();
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(91);
    let listed = app
        .get(&format!("/users/{id}/transactions?from={from}&to={today}"))
        .json();
    let transactions = listed["transactions"].as_array().unwrap();
    assert_eq!(transactions.len(), 3, "{listed}");
    assert!(transactions
        .iter()
        .all(|t| t["currency"] == "KES" && t["details"].as_str().is_some_and(|d| !d.is_empty())));
    // The same seed makes the same people, emails included: the duplicate batch is
    // refused as a whole and nothing is half-stored.
    let again = app.cli(&["seed", "--users", "10", "--seed", "7"]);
    assert!(!again.status.success());
    assert_eq!(app.get("/users?limit=1").json()["total"], 120);
});

on_both_backends!(
    the_same_seed_makes_the_same_people_whatever_the_batches,
    |backend| {
        // Each person comes from a generator of their own: neither the batch size,
        // the sealing threads nor the transactions drawn in between change who they are.
        let emails = |batch_size: &str, transactions: &str| {
            let app = TestApp::spawn(backend);
            app.cli_ok(&[
                "seed",
                "--users",
                "40",
                "--seed",
                "11",
                "--batch-size",
                batch_size,
                "--transactions-per-user",
                transactions,
            ]);
            let page = app.get("/users?limit=200").json();
            let mut emails: Vec<String> = page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| user["email"].as_str().unwrap().to_owned())
                .collect();
            emails.sort();
            emails
        };
        let first = emails("7", "2");
        assert_eq!(first.len(), 40);
        assert_eq!(first, emails("40", "0"));
    }
);

on_both_backends!(
    file_downloads_and_transaction_reads_are_audited,
    |backend| {
        let app = TestApp::spawn(backend);
        let id = app.register(&new_user_payload(&unique_email()));
        let payment = crate::transactions::transaction(
            "AUDIT0001",
            "2026-11-01T09:30:00+03:00",
            "Paid to Mama Mboga",
            "-1250.00",
        );
        assert_eq!(
            app.post_jwe(&format!("/users/{id}/transactions"), &payment)
                .status,
            201
        );
        let listed = app.get(&format!(
            "/users/{id}/transactions?from=2026-11-01&to=2026-11-30"
        ));
        assert_eq!(listed.status, 200);
        let uploaded = TestApp::send(
            app.request(
                "POST",
                &format!("/users/{id}/files?name=payslip.pdf"),
                Some(&app.token),
            )
            .set("Content-Type", "application/pdf"),
            Some(b"%PDF-1.7 AUDITED-CONTENT"),
        );
        assert_eq!(uploaded.status, 201);
        let file = uploaded.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(app.get(&format!("/users/{id}/files")).status, 200);
        assert_eq!(app.get(&format!("/users/{id}/files/{file}")).status, 200);
        // A file that does not exist hands out nothing and is not recorded.
        app.get(&format!("/users/{id}/files/{}", Uuid::new_v4()))
            .assert_error(404, "not_found", "unknown file");

        let audit = app.get(&format!("/audit?user={id}")).json();
        let actions: Vec<&str> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["file.download", "files.list", "transactions.read"],
            "{audit}"
        );
        let text = audit.to_string();
        for personal in ["AUDITED-CONTENT", "payslip", "Mama Mboga", "AUDIT0001"] {
            assert!(!text.contains(personal), "{personal} in the audit log");
        }
    }
);

on_both_backends!(
    the_export_shows_names_in_other_scripts_as_written,
    |backend| {
        let app = TestApp::spawn(backend);
        let mut payload = new_user_payload(&unique_email());
        payload["first_name"] = json!("Дмитрий");
        payload["last_name"] = json!("Σωκράτης");
        app.register(&payload);
        let body = app.jwe(&json!({"password": STRONG}));
        let reply = app.post_as(
            "/exports/users",
            Some(&app.token),
            "application/jose",
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200);
        let text = PdfFile::new(&reply.body)
            .text(STRONG)
            .expect("opens with the password");
        assert!(text.contains("Дмитрий Σωκράτης"), "{text}");
        assert!(!text.contains('?'), "no replacement characters: {text}");
    }
);
