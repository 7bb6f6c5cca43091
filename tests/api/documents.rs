//! Statements and the export for every person and every size: names in many scripts
//! read back by three independent readers, long values found whole, a large
//! statement streamed with bounded server memory (measured from /proc of the real
//! binary), and a client that leaves mid-download freeing the work.

use std::io::Read as _;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::binary::quick_start;
use crate::on_both_backends;
use crate::support::pdf::PdfFile;
use crate::support::{new_user_payload, postgres, unique_email, wait_for, Backend, TestApp};
use crate::transactions::transaction;

/// First and last names in Latin with diacritics (composed, then decomposed),
/// Cyrillic, Greek, Arabic, Hebrew, Devanagari, Chinese, Japanese, Korean and Thai.
const NAMES: [(&str, &str); 12] = [
    ("Zoë", "Ærøskøbing"),
    ("Zoe\u{0308}", "Ae\u{0301}lia"),
    ("Дмитрий", "Иванов"),
    ("Σωκράτης", "Παπαδόπουλος"),
    ("محمد", "عبد الله"),
    ("דוד", "כהן"),
    ("अमित", "कुमार"),
    ("श्रीमती", "प्रिया"),
    ("小明", "王"),
    ("太郎", "山田"),
    ("민준", "김"),
    ("สมชาย", "ใจดี"),
];

fn full_name((first, last): (&str, &str)) -> String {
    format!("{first} {last}")
}

/// Extracted text without the invisible bidi marks poppler puts around a
/// right-to-left run inside left-to-right text (U+202A–U+202E, U+2066–U+2069,
/// U+200E, U+200F): the characters, in logical order, are what is compared.
fn without_bidi_marks(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}'))
        .collect()
}

on_both_backends!(
    statements_and_the_export_read_back_in_every_script,
    |backend| {
        let app = TestApp::spawn(backend);
        let mut people = Vec::new();
        for (index, name) in NAMES.into_iter().enumerate() {
            let mut payload = new_user_payload(&unique_email());
            payload["first_name"] = json!(name.0);
            payload["last_name"] = json!(name.1);
            payload["address"] = json!(format!("{} {}", name.1, index));
            let user = app.register(&payload);
            app.post_transactions(
                user,
                &[
                    transaction(
                        &format!("R{index}A"),
                        "2026-11-05T10:00:00Z",
                        &format!("Paid to {}", full_name(name)),
                        "-10.00",
                    ),
                    transaction(
                        &format!("R{index}B"),
                        "2026-11-06T10:00:00Z",
                        &full_name(name),
                        "25.00",
                    ),
                ],
            );
            people.push((user, full_name(name)));
        }
        for (user, name) in &people {
            let reply = app.get(&format!(
                "/users/{user}/statement?from=2026-11-01&to=2026-11-30"
            ));
            assert_eq!(reply.status, 200, "{name}");
            assert!(!reply.broken, "{name}: the body arrived whole");
            assert_eq!(reply.header("Content-Length"), None, "streamed, chunked");
            let pdf = PdfFile::new(&reply.body);
            pdf.assert_aes256_r6("12345678");
            pdf.assert_qpdf_check("12345678");
            assert!(pdf.mutool_opens_with("12345678"), "{name}: mupdf opens it");
            assert!(
                !pdf.mutool_opens_with("87654321"),
                "{name}: not with another"
            );
            let text = without_bidi_marks(&pdf.text("12345678").expect("poppler opens it"));
            assert!(text.contains(name.as_str()), "{name} in {text}");
            assert!(
                text.contains(&format!("Paid to {name}")),
                "{name} in the details: {text}"
            );
            assert!(
                text.contains("1,015.00") || text.contains("15.00"),
                "{text}"
            );
        }

        let password = "k3Jd9sLq0PzX7vBn2MwR8tYc";
        let reply = app.post_jwe("/exports/users", &json!({ "password": password }));
        assert_eq!(reply.status, 200);
        assert!(!reply.broken);
        let pdf = PdfFile::new(&reply.body);
        pdf.assert_aes256_r6(password);
        pdf.assert_qpdf_check(password);
        assert!(pdf.mutool_opens_with(password));
        let text = without_bidi_marks(&pdf.text(password).unwrap());
        for (_, name) in &people {
            assert!(text.contains(name.as_str()), "{name} in the export: {text}");
        }
        assert!(text.contains(&format!("{} people", people.len())), "{text}");
    }
);

/// A value with its whitespace removed: how it is looked for in extracted text, where
/// a wrapped value's lines are joined by a line break.
fn squeezed(value: &str) -> String {
    value.split_whitespace().collect()
}

on_both_backends!(the_export_shows_every_long_value_whole, |backend| {
    let app = TestApp::spawn(backend);
    let mut people = Vec::new();
    for index in 0..1000 {
        let name = format!("Wanjiru-Nyambura Achieng-Otieno {index:04}");
        let last = "Kamau-Mwangi wa Njoroge Kipchumba-Chebet";
        let email =
            format!("wanjiru.nyambura.achieng.otieno.{index:04}.kamau-mwangi@example.co.ke");
        let address = format!(
                "Plot {index}, Kenyatta Avenue off Moi Avenue, Block {}, Apartment {}, Nairobi Central, Nairobi, Kenya",
                index % 17,
                index % 101
            );
        assert!(email.chars().count() >= 60);
        let mut payload = new_user_payload(&email);
        payload["first_name"] = json!(name);
        payload["last_name"] = json!(last);
        payload["address"] = json!(address);
        payload.as_object_mut().unwrap().remove("national_id");
        app.register(&payload);
        people.push((format!("{name} {last}"), email, address));
    }
    let password = "k3Jd9sLq0PzX7vBn2MwR8tYc";
    let reply = app.post_jwe("/exports/users", &json!({ "password": password }));
    assert_eq!(reply.status, 200);
    assert!(!reply.broken);
    let pdf = PdfFile::new(&reply.body);
    pdf.assert_qpdf_check(password);
    let text = squeezed(&pdf.raw_text(password).unwrap());
    assert!(
        !text.contains("...") && !text.contains('…'),
        "nothing is cut"
    );
    for (name, email, address) in &people {
        for value in [name, email, address] {
            assert!(
                text.contains(&squeezed(value)),
                "{value} whole in the export"
            );
        }
    }
});

/// `VmRSS` or `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

/// Transactions in the large statement: writing them takes the old whole-document
/// renderer about 250 MiB.
const LARGE: u32 = 50_000;

on_both_backends!(
    a_large_statement_streams_in_bounded_memory_and_a_client_leaving_frees_the_work,
    |backend| {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => dir
                .path()
                .join("data/piivault.sqlite3")
                .display()
                .to_string(),
            Backend::Postgres => postgres::database_url(),
        };
        let (server, base, token) = quick_start(dir.path(), |command| {
            command
                .env("DATABASE_URL", &database_url)
                .env("PIIVAULT_MAX_CONCURRENT_DOCUMENTS", "1");
        });
        let seeded = crate::support::piivault(dir.path())
            .args(["seed", "--users", "1", "--transactions-per-user"])
            .arg(LARGE.to_string())
            .args(["--database-url", &database_url])
            .output()
            .unwrap();
        assert!(
            seeded.status.success(),
            "{}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        let get = |path: &str| {
            ureq::get(&format!("{base}{path}"))
                .set("Authorization", &format!("Bearer {token}"))
                .timeout(Duration::from_secs(600))
        };
        let listing: serde_json::Value = get("/users?limit=1").call().unwrap().into_json().unwrap();
        let user = listing["users"][0]["id"].as_str().unwrap().to_owned();
        let today = chrono::Utc::now().date_naive();
        // A download link with a generated password (a seeded person may have no
        // national id), downloaded twice below.
        let link = |from: chrono::NaiveDate| -> (String, String) {
            let created: serde_json::Value = ureq::post(&format!("{base}/users/{user}/statements"))
                .set("Authorization", &format!("Bearer {token}"))
                .send_json(json!({"from": from.to_string(), "to": today.to_string(), "password": "random", "max_downloads": 2}))
                .unwrap()
                .into_json()
                .unwrap();
            (
                created["download_url"].as_str().unwrap().to_owned(),
                created["password"].as_str().unwrap().to_owned(),
            )
        };
        let (statement, password) = link(today - chrono::Duration::days(120));
        let download = |url: &str| ureq::get(url).timeout(Duration::from_secs(600));

        // Whole, while the server's memory is watched.
        let pid = server.child.id();
        let resting = memory_kib(pid, "VmRSS");
        let started = Instant::now();
        let response = download(&statement).call().unwrap();
        let first_byte = started.elapsed();
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body).unwrap();
        let peak = memory_kib(pid, "VmHWM");
        let growth_mib = peak.saturating_sub(resting) / 1024;
        eprintln!(
            "{LARGE} rows: {} KiB PDF, first byte after {first_byte:?}, whole after {:?}, server peak RSS +{growth_mib} MiB",
            body.len() / 1024,
            started.elapsed()
        );
        assert!(growth_mib < 64, "server memory grew {growth_mib} MiB");
        let pdf = PdfFile::new(&body);
        pdf.assert_qpdf_check(&password);
        let text = pdf.text(&password).unwrap();
        assert!(text.contains("Page 1 of "), "opens whole");

        // A client that stops reading and leaves: the writer notices and stops.
        let mut response = download(&statement).call().unwrap().into_reader();
        let mut start = [0u8; 8];
        response.read_exact(&mut start).unwrap();
        assert_eq!(&start, b"%PDF-2.0");
        drop(response);
        let mut abandoned = false;
        wait_for("the server to log the abandoned document", || {
            while let Ok(line) = server.stderr.try_recv() {
                abandoned |= line.contains("document abandoned by the client");
            }
            abandoned
        });
        // ... and its slot (the only one) serves the next document.
        let (small, _) = link(today);
        let next = download(&small)
            .timeout(Duration::from_secs(10))
            .call()
            .unwrap();
        assert_eq!(next.status(), 200);
        drop(server);
    }
);

on_both_backends!(
    a_row_that_does_not_open_cuts_the_statement_short,
    |backend| {
        use diesel::prelude::*;
        use piivault::db::schema::transactions;

        let app = TestApp::spawn(backend);
        let user = app.register(&new_user_payload(&unique_email()));
        app.post_transactions(
            user,
            &[
                transaction("OK1", "2026-11-02T08:00:00Z", "Deposit", "10.00"),
                transaction("BAD", "2026-11-03T08:00:00Z", "Tampered", "20.00"),
            ],
        );
        // Someone with the database rewrites a sealed value: it no longer opens.
        let tampered = diesel::update(
            transactions::table.filter(
                transactions::occurred_at.eq(chrono::NaiveDate::from_ymd_opt(2026, 11, 3)
                    .unwrap()
                    .and_hms_opt(8, 0, 0)
                    .unwrap()),
            ),
        )
        .set(transactions::details.eq(vec![7u8; 48]))
        .execute(&mut **app.connection())
        .unwrap();
        assert_eq!(tampered, 1);
        let reply = app.get(&format!(
            "/users/{user}/statement?from=2026-11-01&to=2026-11-30"
        ));
        assert_eq!(reply.status, 200, "the response had started");
        assert!(
            reply.broken,
            "the body ends in a transport error, not a short PDF"
        );
        assert!(!reply.body.ends_with(b"%%EOF\n"), "no finished document");
    }
);
