//! The real binary as a user runs it: the dev quick start, production start-up
//! without keys, the `keys` and `clients` commands, and what ends up in its logs.

use std::io::{BufRead as _, BufReader};
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

struct Running {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `piivault` with no arguments (the quick start) and returns its base URL and token.
fn quick_start(dir: &std::path::Path) -> (Running, String, String) {
    let mut child = piivault(dir)
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
    let (running, base, token) = quick_start(dir.path());
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
    let (first, _, token) = quick_start(dir.path());
    drop(first);
    let (_second, base, again) = quick_start(dir.path());
    assert_eq!(token, again);
    let jwks = TestApp::send(ureq::get(&format!("{base}/.well-known/jwks.json")), None);
    assert_eq!(jwks.status, 200);
}

#[test]
fn a_client_over_its_quota_is_logged_by_id_and_route_only() {
    let dir = tempfile::tempdir().unwrap();
    let (running, base, token) = quick_start(dir.path());
    // Lowered while the server runs: it learns them at the token's first request.
    let limited = piivault(dir.path())
        .args(["clients", "limits", "dev", "--rate", "1/s", "--burst", "2"])
        .output()
        .unwrap();
    assert!(limited.status.success());
    let listed = piivault(dir.path())
        .args(["clients", "list", "--json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let dev_id = listed[0]["id"].as_str().unwrap().to_owned();
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
