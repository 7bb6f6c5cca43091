//! The operator console in a real browser: headless Chromium driven by chromedriver
//! over plain WebDriver JSON. Sign in, see a page of users, go to the next page,
//! search exactly, and leave a screenshot at target/admin-console.png. Chromium and
//! chromedriver come from scripts/install-test-deps; without them this test fails.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use piivault::access::Scope;
use serde_json::{json, Value};

use crate::support::{new_user_payload, Backend, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    process: Child,
    url: String,
    session: String,
    profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
            "chromium and chromium-driver are missing: run scripts/install-test-deps"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{url}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut driver = Self {
            process,
            url,
            session: String::new(),
            profile,
        };
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1400,1000".to_owned(),
            format!("--user-data-dir={}", driver.profile.path().display()),
        ];
        let created = driver.call(
            "POST",
            "/session",
            &json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
            }}}),
        );
        created["value"]["sessionId"]
            .as_str()
            .unwrap()
            .clone_into(&mut driver.session);
        driver
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.url)
        } else {
            format!("{}/session/{}{path}", self.url, self.session)
        };
        let request = ureq::request(method, &url).timeout(Duration::from_secs(60));
        let response = match if method == "GET" {
            request.call()
        } else {
            request.send_json(body.clone())
        } {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("webdriver transport: {error}"),
        };
        let value: Value = response.into_json().unwrap();
        assert!(
            value["value"]["error"].is_null(),
            "webdriver {method} {path}: {value}"
        );
        value
    }

    fn script(&self, source: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            &json!({"script": source, "args": []}),
        )["value"]
            .clone()
    }

    fn element(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            &json!({"using": "css selector", "value": css}),
        );
        found["value"]
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            &json!({"text": text}),
        );
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), &json!({}));
    }

    /// Waits until `condition` (a JS expression) is true; panics with `what`.
    fn wait_for(&self, condition: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.script(&format!("return !!({condition});")) == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; page text: {}",
                self.script("return document.body.innerText;")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let png = self.call("GET", "/screenshot", &Value::Null)["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png)
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            drop(
                ureq::delete(&format!("{}/session/{}", self.url, self.session))
                    .timeout(Duration::from_secs(10))
                    .call(),
            );
        }
        drop(self.process.kill());
        drop(self.process.wait());
    }
}

const ROWS: &str = "document.querySelectorAll('#users tbody tr.gridjs-tr')";

#[test]
fn operator_signs_in_pages_and_searches_in_chromium() {
    let app = TestApp::spawn(Backend::Sqlite);
    // 23 people: a first page of 20 and a second of 3.
    let mut emails = Vec::new();
    for n in 0..23 {
        let email = format!("person{n:02}.{}@example.org", uuid::Uuid::new_v4().simple());
        let mut payload = new_user_payload(&email);
        payload["first_name"] = json!(format!("Person{n:02}"));
        payload["national_id"] = json!(format!("ID{n:06}"));
        app.register(&payload);
        emails.push(email);
    }
    let admin = app.create_client("console", &[Scope::Admin]);

    let driver = Driver::start();
    driver.call("POST", "/url", &json!({"url": app.url("/admin")}));
    driver.wait_for("document.getElementById('token')", "the sign-in form");
    driver.type_into("#token", &admin);
    driver.click("#sign-in button[type=submit]");

    // Newest first: the last person registered heads the first page.
    driver.wait_for(&format!("{ROWS}.length === 20"), "a first page of 20 rows");
    let first_row = driver.script(&format!("return {ROWS}[0].innerText;"));
    assert!(
        first_row.as_str().unwrap().contains(&emails[22]),
        "newest first: {first_row}"
    );
    assert!(driver
        .script("return document.getElementById('total').textContent;")
        .as_str()
        .unwrap()
        .contains("23 users"));
    // The token is in sessionStorage, not in the address bar.
    assert_eq!(
        driver.script("return sessionStorage.getItem('piivault.adminToken');"),
        json!(admin)
    );
    let address = driver.call("GET", "/url", &Value::Null)["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!address.contains(&admin), "token in the URL: {address}");

    // Next page: the three oldest, the very first person last.
    driver.click(".gridjs-pages button[title='Next']");
    driver.wait_for(&format!("{ROWS}.length === 3"), "a second page of 3 rows");
    let last_row = driver.script(&format!("return {ROWS}[2].innerText;"));
    assert!(
        last_row.as_str().unwrap().contains(&emails[0]),
        "oldest last: {last_row}"
    );

    // Exact search by email finds exactly that person.
    driver.type_into(".gridjs-search-input", &emails[7]);
    driver.wait_for(
        &format!("{ROWS}.length === 1 && {ROWS}[0].innerText.includes('Person07')"),
        "the searched person alone",
    );
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    // The screenshot shows the signed-in table (cleared search: a full page).
    driver.script(
        "var i = document.querySelector('.gridjs-search-input'); i.value = ''; \
         i.dispatchEvent(new Event('input', {bubbles: true}));",
    );
    driver.wait_for(
        &format!("{ROWS}.length === 20"),
        "the full first page again",
    );
    driver.screenshot(&target.join("admin-console.png"));

    // Export: the page encrypts the password to the server's key (WebCrypto JWE);
    // the server must decrypt it and answer with the PDF. A weak one is refused with
    // the reason; left empty, the service makes one and the page shows it.
    driver.type_into("#export-password", "correct horse battery");
    driver.click("#export button[type=submit]");
    driver.wait_for(
        "document.getElementById('export-status').textContent.includes('too easy to guess')",
        "the weak password to be refused",
    );
    driver.script("document.getElementById('export-password').value = '';");
    driver.type_into("#export-password", "k3Jd9sLq0PzX7vBn2MwR8tYc");
    driver.click("#export button[type=submit]");
    driver.wait_for(
        "document.getElementById('export-status').textContent.includes('the password you chose')",
        "the export to download",
    );
    driver.click("#export button[type=submit]");
    driver.wait_for(
        "/opens with the password [0-9A-Z]{20} /.test(document.getElementById('export-status').textContent)",
        "the export with a made password to download",
    );

    // Every page the console read is in the audit log, as this client.
    let audit = app.get("/audit?limit=1000").json();
    let reads = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            entry["action"] == "users.list"
                && entry["client_name"]
                    .as_str()
                    .unwrap()
                    .starts_with("console-")
        })
        .count();
    assert!(reads >= 3, "audited list reads: {reads}");
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["action"] == "users.export" && entry["users_read"] == 23),
        "audited export"
    );
}
