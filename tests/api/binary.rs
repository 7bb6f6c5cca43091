//! The real binary as a user runs it: the dev quick start, production start-up
//! without keys, the `keys` and `clients` commands, what ends up in its logs (text
//! and JSON), and how it drains on SIGTERM.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{piivault, TestApp};

#[test]
fn production_serve_refuses_to_start_without_keys_and_generates_none() {
    let dir = tempfile::tempdir().unwrap();
    let output = piivault(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("keys init"),
        "tells how to create keys: {stderr}"
    );
    let keys = dir.path().join("keys");
    assert!(
        !keys.exists() || std::fs::read_dir(&keys).unwrap().next().is_none(),
        "no key was generated"
    );
}

#[test]
fn production_serve_needs_a_valid_public_url() {
    let dir = tempfile::tempdir().unwrap();
    assert!(piivault(dir.path())
        .args(["keys", "init"])
        .status()
        .unwrap()
        .success());
    let output = piivault(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("PIIVAULT_PUBLIC_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--public-url"), "names the flag: {stderr}");
    for bad in [
        "vault.example",
        "ftp://vault.example",
        "https://vault.example/?q=1",
    ] {
        let output = piivault(dir.path())
            .args(["serve", "--bind", "127.0.0.1:0", "--public-url", bad])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--public-url"), "{bad}: {stderr}");
    }
}

#[test]
fn keys_init_and_clients_commands() {
    let dir = tempfile::tempdir().unwrap();
    let status = piivault(dir.path())
        .args(["keys", "init"])
        .status()
        .unwrap();
    assert!(status.success());
    for entry in std::fs::read_dir(dir.path().join("keys")).unwrap() {
        let mode = entry.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let output = piivault(dir.path())
        .args([
            "clients",
            "create",
            "--name",
            "ledger",
            "--scopes",
            "users:read,statements",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["name"], "ledger");
    assert_eq!(created["scopes"], json!(["users:read", "statements"]));
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pv_"));

    let duplicate = piivault(dir.path())
        .args([
            "clients",
            "create",
            "--name",
            "ledger",
            "--scopes",
            "users:read",
        ])
        .output()
        .unwrap();
    assert!(!duplicate.status.success(), "a name is unique");
    let bad_scope = piivault(dir.path())
        .args(["clients", "create", "--name", "x", "--scopes", "root"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope"));

    let list = piivault(dir.path())
        .args(["clients", "list", "--json"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("ledger") && !listed.contains(&token[3..]),
        "listed without token"
    );
    // Only the hash is stored.
    let database = std::fs::read(dir.path().join("data/piivault.sqlite3")).unwrap();
    assert!(!String::from_utf8_lossy(&database).contains(&token[3..]));

    assert!(piivault(dir.path())
        .args(["clients", "revoke", "ledger"])
        .status()
        .unwrap()
        .success());
    assert!(!piivault(dir.path())
        .args(["clients", "revoke", "ledger"])
        .status()
        .unwrap()
        .success());
}

/// The binary serving, as a child process; killed when dropped.
pub struct Running {
    pub(crate) child: Child,
    /// Its log lines as they come.
    pub(crate) stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Stops the server; everything it logged.
    pub fn stop(&mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.iter().collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `piivault` with no arguments (the quick start), its environment adjusted by
/// `configure`, and returns its base URL and token.
pub fn quick_start(
    dir: &std::path::Path,
    configure: impl FnOnce(&mut std::process::Command),
) -> (Running, String, String) {
    let mut command = piivault(dir);
    configure(&mut command);
    let mut child = command
        .env("PIIVAULT_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let (found, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = found.send(line);
        }
    });
    let mut base = None;
    let mut token = None;
    while base.is_none() || token.is_none() {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("quick start prints its address and token");
        if let Some(rest) = line.trim().strip_prefix("piivault dev mode on ") {
            base = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.trim().strip_prefix("dev token (every scope): ") {
            token = Some(rest.trim().to_owned());
        }
    }
    (
        Running {
            child,
            stderr: receiver,
        },
        base.unwrap(),
        token.unwrap(),
    )
}

#[test]
fn quick_start_serves_with_dev_keys_and_token_and_logs_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let (running, base, token) = quick_start(dir.path(), |_| {});
    for file in [
        "keys/master-keys",
        "keys/blind-index-key",
        "keys/jwe-rsa-oaep.pem",
        "data/piivault.sqlite3",
        "data/dev-token",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }

    let post = |path: &str, content_type: &str, body: &[u8]| {
        let request = ureq::post(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", content_type);
        TestApp::send(request, Some(body))
    };
    let personal = json!({"first_name":"Leakcheck","last_name":"Nyambura","email":"leakcheck.nyambura@example.org",
        "phone":"+254711000999","national_id":"LEAK4242","date_of_birth":"1979-02-03","address":"Tom Mboya St 9"});
    let jwe = post(
        "/encrypt-data",
        "application/json",
        payload(&personal).as_bytes(),
    );
    assert_eq!(jwe.status, 200);
    let created = post("/register-user", "application/jose+json", &jwe.body);
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let get = TestApp::send(
        ureq::get(&format!("{base}/get-user/{id}"))
            .set("Authorization", &format!("Bearer {token}")),
        None,
    );
    assert_eq!(get.json()["last_name"], "Nyambura");
    let statement = TestApp::send(
        ureq::get(&format!("{base}/users/{id}/statement"))
            .set("Authorization", &format!("Bearer {token}")),
        None,
    );
    assert_eq!(statement.status, 200);
    // Failures that carry personal data in the request: duplicate, invalid values.
    let duplicate = post(
        "/register-user",
        "application/jose+json",
        &post(
            "/encrypt-data",
            "application/json",
            payload(&personal).as_bytes(),
        )
        .body,
    );
    assert_eq!(duplicate.status, 409);
    let mut invalid = personal.clone();
    invalid["email"] = json!("leakcheck-invalid-address");
    invalid["phone"] = json!("0711000999-leak");
    let refused = post(
        "/register-user",
        "application/jose+json",
        &post(
            "/encrypt-data",
            "application/json",
            payload(&invalid).as_bytes(),
        )
        .body,
    );
    assert_eq!(refused.status, 422);
    let bad_json = post(
        "/encrypt-data",
        "application/json",
        b"{\"first_name\": \"Leakcheck\", ",
    );
    assert_eq!(bad_json.status, 400);

    let mut running = running;
    let _ = running.child.kill();
    let _ = running.child.wait();
    // The reader thread ends at end of file, which ends this iterator.
    let logs: Vec<String> = running.stderr.iter().collect();
    let logs = logs.join("\n");
    assert!(
        logs.contains("request"),
        "the server did log requests: {logs}"
    );
    for value in [
        "Leakcheck",
        "Nyambura",
        "leakcheck",
        "254711000999",
        "LEAK4242",
        "1979-02-03",
        "Mboya",
    ] {
        assert!(
            !logs.contains(value),
            "personal value {value:?} in the logs:\n{logs}"
        );
    }
    assert!(!logs.contains(&token[3..]), "the token is not logged");
}

fn payload(value: &Value) -> String {
    value.to_string()
}

#[test]
fn dev_token_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _, token) = quick_start(dir.path(), |_| {});
    drop(first);
    let (_second, base, again) = quick_start(dir.path(), |_| {});
    assert_eq!(token, again);
    let jwks = TestApp::send(ureq::get(&format!("{base}/.well-known/jwks.json")), None);
    assert_eq!(jwks.status, 200);
}

/// Registers a user through the dev routes of a running binary; its id.
fn register(base: &str, token: &str) -> String {
    let post = |path: &str, content_type: &str, body: &[u8]| {
        let request = ureq::post(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", content_type);
        TestApp::send(request, Some(body))
    };
    let payload = crate::support::new_user_payload(&crate::support::unique_email());
    let jwe = post(
        "/encrypt-data",
        "application/json",
        payload.to_string().as_bytes(),
    );
    let created = post("/users", "application/jose+json", &jwe.body);
    assert_eq!(created.status, 201);
    created.json()["id"].as_str().unwrap().to_owned()
}

#[test]
fn json_logs_name_the_request_but_no_path_id_or_personal_value() {
    let dir = tempfile::tempdir().unwrap();
    let (mut running, base, token) = quick_start(dir.path(), |command| {
        command.env("PIIVAULT_LOG_FORMAT", "json");
    });
    let user = register(&base, &token);
    let read = TestApp::send(
        ureq::get(&format!("{base}/users/{user}"))
            .set("Authorization", &format!("Bearer {token}"))
            .set("X-Request-Id", "lb-trace-42"),
        None,
    );
    assert_eq!(read.status, 200);
    let _ = running.child.kill();
    let _ = running.child.wait();
    let logs: Vec<String> = running.stderr.iter().collect();
    let mut requests = Vec::new();
    for line in &logs {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("a log line that is not JSON: {line}"));
        if event["message"] == "request" {
            requests.push(event);
        }
    }
    let read = requests
        .iter()
        .find(|event| event["request_id"] == "lb-trace-42")
        .expect("the read's log line");
    assert_eq!(read["route"], "/users/{id}");
    assert_eq!(read["method"], "GET");
    assert_eq!(read["status"], 200);
    assert!(read["elapsed_ms"].as_f64().is_some());
    let client = read["client_id"].as_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(client).is_ok(),
        "the dev client's id: {client}"
    );
    for event in &requests {
        for field in [
            "request_id",
            "route",
            "method",
            "status",
            "elapsed_ms",
            "client_id",
        ] {
            assert!(event.get(field).is_some(), "{field} in {event}");
        }
    }
    let all = logs.join("\n");
    assert!(!all.contains(&user), "a user id in the logs");
    assert!(!all.contains(&token[3..]), "the token in the logs");
    assert!(!all.contains("Sparrow"), "a personal value in the logs");
}

/// Every line logged while a request is served names its request id, not only the
/// closing `request` line: here the refusal `routes::error` logs for a user id that is
/// not one, in both log formats.
#[test]
fn every_line_logged_for_a_request_names_its_request_id() {
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut running, base, token) = quick_start(dir.path(), |command| {
            command.env("PIIVAULT_LOG_FORMAT", format);
        });
        let refused = TestApp::send(
            ureq::get(&format!("{base}/users/not-an-id"))
                .set("Authorization", &format!("Bearer {token}"))
                .set("X-Request-Id", "lb-trace-77"),
            None,
        );
        assert_eq!(refused.status, 400, "{format}");
        let _ = running.child.kill();
        let _ = running.child.wait();
        let logs: Vec<String> = running.stderr.iter().collect();
        let refusal = logs
            .iter()
            .find(|line| line.contains("request refused"))
            .unwrap_or_else(|| panic!("{format}: no refusal logged:\n{}", logs.join("\n")));
        if format == "json" {
            let event: Value = serde_json::from_str(refusal).unwrap();
            assert_eq!(event["span"]["request_id"], "lb-trace-77", "{refusal}");
        } else {
            assert!(
                refusal.contains(r#"request_id="lb-trace-77""#),
                "text: {refusal}"
            );
        }
    }
}

/// A raw upload to `user` that declares `total` bytes and sends `first` of them.
fn start_upload(base: &str, token: &str, user: &str, total: usize, first: usize) -> TcpStream {
    let address = base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        socket,
        "POST /users/{user}/files?name=big.bin HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    socket.write_all(&vec![b'x'; first]).unwrap();
    socket.flush().unwrap();
    socket
}

/// Entries in the local file store (objects and staging files).
fn stored_objects(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("data/files")).map_or(0, Iterator::count)
}

fn terminate(running: &Running) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_turns_readiness_off_lets_an_upload_finish_then_refuses_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (mut running, base, token) = quick_start(dir.path(), |command| {
        command.env("PIIVAULT_DRAIN_TIMEOUT", "3");
    });
    let user = register(&base, &token);
    let readyz = || TestApp::send(ureq::get(&format!("{base}/readyz")), None);
    assert_eq!(readyz().status, 200);
    let mut upload = start_upload(&base, &token, &user, 300_000, 100_000);
    crate::support::wait_for("the upload to start storing", || {
        stored_objects(dir.path()) == 1
    });

    terminate(&running);
    // At once: unready, on new connections too, while the rest is still served.
    crate::support::wait_for("/readyz to turn 503", || readyz().status == 503);
    readyz().assert_error(503, "unavailable", "draining");
    let health = TestApp::send(ureq::get(&format!("{base}/healthz")), None);
    assert_eq!(health.status, 200, "still serving while draining");
    // The upload in flight finishes and is stored.
    upload.write_all(&vec![b'x'; 200_000]).unwrap();
    let mut answer = String::new();
    upload.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"size\":300000"), "{answer}");
    // After the drain timeout: new connections are refused, and the process ends.
    let address = base.trim_start_matches("http://").to_owned();
    crate::support::wait_for("new connections to be refused", || {
        TcpStream::connect(&address).is_err()
    });
    crate::support::wait_for("the process to exit", || {
        running.child.try_wait().unwrap().is_some()
    });
    assert!(running.child.wait().unwrap().success());
    assert_eq!(stored_objects(dir.path()), 1);
}

#[test]
fn an_upload_cut_off_by_the_drain_timeout_leaves_no_object_and_no_row() {
    use diesel::prelude::*;

    let dir = tempfile::tempdir().unwrap();
    let (mut running, base, token) = quick_start(dir.path(), |command| {
        command.env("PIIVAULT_DRAIN_TIMEOUT", "1");
    });
    let user = register(&base, &token);
    let mut upload = start_upload(&base, &token, &user, 300_000, 100_000);
    crate::support::wait_for("the upload to start storing", || {
        stored_objects(dir.path()) == 1
    });
    terminate(&running);
    // The client is told, and may retry on another instance.
    let mut answer = String::new();
    let _ = upload.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"error\":\"unavailable\""), "{answer}");
    crate::support::wait_for("the process to exit after the drain timeout", || {
        running.child.try_wait().unwrap().is_some()
    });
    assert!(running.child.wait().unwrap().success());
    assert_eq!(stored_objects(dir.path()), 0, "no object");
    let database = dir.path().join("data/piivault.sqlite3");
    let pool = piivault::db::pool(
        database.to_str().unwrap(),
        &piivault::config::PoolSettings::single(),
    );
    let rows: i64 = piivault::db::schema::files::table
        .count()
        .get_result(&mut **pool.get().unwrap())
        .unwrap();
    assert_eq!(rows, 0, "no row");
}

/// Sets the quick start's `dev` client's limits with `piivault clients limits`, as an
/// operator would while the server runs; returns the client's id.
fn set_dev_limits(dir: &std::path::Path, limits: &[&str]) -> String {
    let set = piivault(dir)
        .args(["clients", "limits", "dev"])
        .args(limits)
        .output()
        .unwrap();
    assert!(set.status.success());
    let listed = piivault(dir)
        .args(["clients", "list", "--json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    listed[0]["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_client_over_its_quota_is_logged_by_id_and_route_only() {
    let dir = tempfile::tempdir().unwrap();
    let (running, base, token) = quick_start(dir.path(), |_| {});
    // Lowered while the server runs: it learns them at the token's first request.
    let dev_id = set_dev_limits(dir.path(), &["--rate", "1/s", "--burst", "2"]);
    let statuses: Vec<u16> = (0..6)
        .map(|_| {
            let request = ureq::get(&format!("{base}/users?limit=1"))
                .set("Authorization", &format!("Bearer {token}"));
            TestApp::send(request, None).status
        })
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");

    let mut running = running;
    let _ = running.child.kill();
    let _ = running.child.wait();
    let logs: Vec<String> = running.stderr.iter().collect();
    let refusal = logs
        .iter()
        .find(|line| line.contains("client over its quota"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{}", logs.join("\n")));
    assert!(refusal.contains(&dev_id), "{refusal}");
    assert!(refusal.contains("/users"), "the route pattern: {refusal}");
    assert!(refusal.contains("rate"), "which limit: {refusal}");
    assert!(!refusal.contains(&token[3..]), "{refusal}");
}

#[test]
fn a_client_whose_jwes_keep_failing_is_logged_by_id_when_refused() {
    use piivault::access::quota::JWE_FAILURE_BURST;
    let dir = tempfile::tempdir().unwrap();
    let (running, base, token) = quick_start(dir.path(), |_| {});
    // A quota out of reach: the failure budget applies whatever the quota.
    let dev_id = set_dev_limits(dir.path(), &["--rate", "1000000/s", "--burst", "1000000"]);
    // From a few threads, so that failures come faster than the budget refills even
    // on a slow machine; each stops at its first refusal.
    let sent = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| loop {
                let request = ureq::post(&format!("{base}/users"))
                    .set("Authorization", &format!("Bearer {token}"))
                    .set("Content-Type", "application/jose");
                let reply = TestApp::send(request, Some(b"eyJhbGciOiJSU0EtT0FFUC0yNTYifQ.a.b.c.d"));
                if reply.status == 429 {
                    return;
                }
                let so_far = sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                assert!(so_far < 50 * JWE_FAILURE_BURST as usize, "never refused");
            });
        }
    });

    let mut running = running;
    let _ = running.child.kill();
    let _ = running.child.wait();
    let logs: Vec<String> = running.stderr.iter().collect();
    let refusals: Vec<&String> = logs
        .iter()
        .filter(|line| line.contains("client over its quota"))
        .collect();
    assert!(
        !refusals.is_empty(),
        "no refusal logged:\n{}",
        logs.join("\n")
    );
    assert!(refusals.len() < 3, "not every refusal: {refusals:?}");
    let refusal = refusals[0];
    assert!(refusal.contains(&dev_id), "{refusal}");
    assert!(refusal.contains("jwe_failures"), "which limit: {refusal}");
    assert!(!refusal.contains(&token[3..]), "{refusal}");
}

/// A file download under way when SIGTERM comes is sent whole within the drain
/// timeout: the client reads slowly on purpose, so the body (larger than the socket
/// buffers) is still going out when the signal arrives.
#[test]
fn sigterm_lets_a_download_in_flight_finish() {
    const SIZE: usize = 8 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (mut running, base, token) = quick_start(dir.path(), |command| {
        command.env("PIIVAULT_DRAIN_TIMEOUT", "8");
    });
    let user = register(&base, &token);
    let mut upload = start_upload(&base, &token, &user, SIZE, SIZE);
    let mut answer = String::new();
    upload.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let file = answer
        .split("\"id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();

    let address = base.trim_start_matches("http://").to_owned();
    let mut download = TcpStream::connect(&address).unwrap();
    download
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        download,
        "GET /users/{user}/files/{file} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut received = vec![0; 64 << 10];
    download.read_exact(&mut received).unwrap();
    assert!(received.starts_with(b"HTTP/1.1 200"));

    terminate(&running);
    let readyz = || TestApp::send(ureq::get(&format!("{base}/readyz")), None);
    crate::support::wait_for("/readyz to turn 503", || readyz().status == 503);
    download.read_to_end(&mut received).unwrap();
    let head_end = received
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap()
        + 4;
    assert_eq!(received.len() - head_end, SIZE, "the whole file");
    assert!(received[head_end..].iter().all(|byte| *byte == b'x'));
    crate::support::wait_for("the process to exit", || {
        running.child.try_wait().unwrap().is_some()
    });
    assert!(running.child.wait().unwrap().success());
}
