//! Test harness: the real `Application` on a free port, on SQLite or on a throw-away
//! PostgreSQL, with fresh keys and tokens, and a small typed HTTP client.

pub mod pdf;
pub mod postgres;
#[cfg(feature = "s3")]
pub mod s3;
pub mod softhsm;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use piivault::access::{clients, ClientLimits, Scope};
use piivault::config::{FileSettings, MasterKeySettings, PoolSettings, PublicUrl, Settings};
use piivault::db::{self, DbPool, PooledDb};
use piivault::keys::token::PIN_ENV;
use piivault::keys::{KeyMaterial, KeyPlaces};
use piivault::startup::Application;
use piivault::vault::Vault;
use serde_json::{json, Value};
use tempfile::TempDir;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test server's master keys live: the key file, or the test run's SoftHSM2
/// token (`softhsm.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    File,
    Pkcs11,
}

/// A database backend and a master key provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub backend: Backend,
    pub provider: Provider,
}

impl From<Backend> for Setup {
    fn from(backend: Backend) -> Self {
        Self {
            backend,
            provider: Provider::File,
        }
    }
}

/// Runs a test body on SQLite and on PostgreSQL, each with master keys in the key
/// file and in a PKCS#11 token.
#[macro_export]
macro_rules! on_backends_and_providers {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::support::{Backend, Provider, Setup};

            fn run(backend: Backend, provider: Provider) {
                let test: fn(Setup) = $body;
                test(Setup { backend, provider });
            }

            #[test]
            fn sqlite() {
                run(Backend::Sqlite, Provider::File);
            }

            #[test]
            fn postgres() {
                run(Backend::Postgres, Provider::File);
            }

            #[test]
            fn sqlite_pkcs11() {
                run(Backend::Sqlite, Provider::Pkcs11);
            }

            #[test]
            fn postgres_pkcs11() {
                run(Backend::Postgres, Provider::Pkcs11);
            }
        }
    };
}

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let test: fn($crate::support::Backend) = $body;
                test($crate::support::Backend::Sqlite);
            }

            #[test]
            fn postgres() {
                let test: fn($crate::support::Backend) = $body;
                test($crate::support::Backend::Postgres);
            }
        }
    };
}

pub struct TestApp {
    pub base_url: String,
    pub backend: Backend,
    pub database_url: String,
    /// The separate key store, when the test asked for one.
    pub keystore_url: Option<String>,
    /// Every scope.
    pub token: String,
    pub keys: KeyMaterial,
    pub keys_dir: PathBuf,
    /// Where the master keys live (and the token's object label prefix).
    pub master_keys: MasterKeySettings,
    /// The data dir: file objects live in `files/` under it (with the local store).
    pub data_dir: PathBuf,
    /// Where files are stored (a second instance shares it).
    pub files: FileSettings,
    /// Where clients reach the service (a second instance behind the same load
    /// balancer shares it).
    pub public_url: PublicUrl,
    /// The server's own vault: what the command line's operations (key jobs) run on.
    pub vault: Vault,
    /// The test's own connections to the main database (rows as stored).
    pool: DbPool,
    /// ... and to the separate key store, when there is one.
    key_pool: Option<DbPool>,
    handle: actix_web::dev::ServerHandle,
    /// The server's thread: joined on drop, so that a test ends only once its server
    /// (and every thread of its vault) has.
    server: Option<std::thread::JoinHandle<()>>,
    dirs: TempDir,
}

/// A response, read to its end (or to a transport error mid-body).
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body ended in a transport error (the server cut it short).
    pub broken: bool,
}

impl Reply {
    /// What ureq made of a request: any status is a reply; a transport error before
    /// the status line fails the test.
    pub fn of(result: Result<ureq::Response, ureq::Error>) -> Self {
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("transport error: {error}"),
        };
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers_names()
            .into_iter()
            .map(|name| {
                let value = response.header(&name).unwrap_or_default().to_owned();
                (name, value)
            })
            .collect();
        let content_type = response
            .header("Content-Type")
            .unwrap_or_default()
            .to_owned();
        let mut body = Vec::new();
        let broken = response.into_reader().read_to_end(&mut body).is_err();
        Self {
            status,
            content_type,
            headers,
            body,
            broken,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "status {} body is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a documented error (docs/http.md): status and stable code.
    pub fn assert_error(&self, status: u16, code: &str, case: &str) {
        assert_eq!(
            self.status,
            status,
            "{case}: status; body {}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        assert_eq!(body["error"], code, "{case}: error code");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}: message"
        );
    }
}

/// Limits far above anything a test sends: only the quota tests meet limits.
pub const UNMET_LIMITS: ClientLimits = ClientLimits {
    rate_per_second: 1_000_000,
    burst: 1_000_000,
    max_concurrent: 10_000,
};

pub fn new_user_payload(email: &str) -> Value {
    json!({"first_name":"Jack","last_name":"Sparrow","email":email,
           "phone":"+254712345678","national_id":"12345678","date_of_birth":"1990-04-01",
           "address":"Kenyatta Ave 1, Nairobi"})
}

/// Waits, up to 10 s, until `done` says yes, polling every 20 ms; fails the test with
/// `what` otherwise. For conditions the test cannot be told about directly.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `piivault` binary, run in `dir`, with none of the settings and keys this
/// machine's environment might carry.
pub fn piivault(dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_piivault"));
    command.current_dir(dir);
    for variable in [
        "DATABASE_URL",
        "PIIVAULT_KEYS_DIR",
        "PIIVAULT_DATA_DIR",
        "PIIVAULT_BIND",
        "PIIVAULT_KEYSTORE_URL",
        "PIIVAULT_MASTER_KEYS",
        "PIIVAULT_JWE_KEYS",
        "PIIVAULT_BLIND_INDEX_KEY",
        "PIIVAULT_MASTER_KEY_PROVIDER",
        "PIIVAULT_PKCS11_MODULE",
        "PIIVAULT_PKCS11_TOKEN",
        "PIIVAULT_PKCS11_LABEL_PREFIX",
        PIN_ENV,
    ] {
        command.env_remove(variable);
    }
    command
}

/// Runs `script` (sh) once this test process has exited, however it exits: what is
/// left of a run (clusters, token directories) goes with it.
pub fn after_this_process(script: &str) {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; {script}",
        parent = std::process::id()
    );
    // Deliberately not waited for: it must outlive this process.
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watchdog starts");
}

/// Removes `dir` once this test process has exited.
pub fn remove_after_this_process(dir: &Path) {
    after_this_process(&format!("rm -rf '{}'", dir.display()));
}

/// `value` percent-encoded for a query string (`+` would read as a space).
pub fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn unique_email() -> String {
    format!("jack.{}@piratebay.com", Uuid::new_v4().simple())
}

/// What every test server runs with unless a test adjusts it: port 0, small pools,
/// one worker, keys re-read often.
fn test_settings(database_url: String, keys_dir: PathBuf, data_dir: &Path) -> Settings {
    Settings {
        bind: "127.0.0.1:0".to_owned(),
        key_reload_interval: Duration::from_millis(200),
        dev: true,
        pool: PoolSettings {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(2),
        },
        workers: Some(1),
        ..Settings::new(database_url, keys_dir, data_dir.to_path_buf())
    }
}

impl TestApp {
    pub fn spawn(setup: impl Into<Setup>) -> Self {
        Self::spawn_with(setup, |_| {})
    }

    /// A server on `setup`'s database with fresh keys (in the key file or the token),
    /// its settings adjusted by `adjust` before it starts.
    pub fn spawn_with(setup: impl Into<Setup>, adjust: impl FnOnce(&mut Settings)) -> Self {
        let Setup { backend, provider } = setup.into();
        let dirs = TempDir::new().unwrap();
        let keys_dir = dirs.path().join("keys");
        let master_keys = match provider {
            Provider::File => MasterKeySettings::default(),
            Provider::Pkcs11 => softhsm::master_key_settings(),
        };
        let database_url = match backend {
            Backend::Sqlite => dirs
                .path()
                .join("test.sqlite3")
                .to_string_lossy()
                .into_owned(),
            Backend::Postgres => postgres::database_url(),
        };
        let mut settings = test_settings(database_url, keys_dir, dirs.path());
        settings.master_keys = master_keys;
        adjust(&mut settings);
        let places = KeyPlaces::open(&settings.keys_dir, &settings.master_keys).unwrap();
        piivault::keys::init(&places).unwrap();
        Self::start(&settings, backend, dirs)
    }

    /// A second server on the same database and keys, as a second instance behind a
    /// load balancer would be. It shares nothing else with `self`.
    pub fn second_instance(&self) -> Self {
        self.another_instance(|_| {})
    }

    /// [`second_instance`](Self::second_instance) with its settings adjusted, as an
    /// instance restarted with other settings would be.
    pub fn another_instance(&self, adjust: impl FnOnce(&mut Settings)) -> Self {
        let dirs = TempDir::new().unwrap();
        let mut settings = test_settings(
            self.database_url.clone(),
            self.keys_dir.clone(),
            dirs.path(),
        );
        settings.keystore_url.clone_from(&self.keystore_url);
        settings.master_keys.clone_from(&self.master_keys);
        settings.files.clone_from(&self.files);
        settings.public_url = Some(self.public_url.clone());
        settings.dev = false;
        adjust(&mut settings);
        Self::start(&settings, self.backend, dirs)
    }

    fn start(settings: &Settings, backend: Backend, dirs: TempDir) -> Self {
        let (sender, receiver) = mpsc::channel();
        let thread_settings = settings.clone();
        let server = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let application = Application::build(&thread_settings).unwrap();
                sender
                    .send((
                        application.port(),
                        application.public_url().clone(),
                        application.handle(),
                        application.vault().clone(),
                    ))
                    .unwrap();
                application.run_until_stopped().await.unwrap();
            });
        });
        let (port, public_url, handle, vault) = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("server started");
        let keys = KeyMaterial::load(vault.keys().places()).unwrap();
        let mut app = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            backend,
            database_url: settings.database_url.clone(),
            keystore_url: settings.keystore_url.clone(),
            token: String::new(),
            keys,
            keys_dir: settings.keys_dir.clone(),
            master_keys: settings.master_keys.clone(),
            data_dir: settings.data_dir.clone(),
            files: settings.files.clone(),
            public_url,
            vault,
            pool: db::pool(&settings.database_url, &PoolSettings::default()),
            key_pool: settings
                .separate_keystore_url()
                .map(|url| db::pool(url, &PoolSettings::default())),
            handle,
            server: Some(server),
            dirs,
        };
        app.token = app.create_client("all", &Scope::ALL);
        app
    }

    /// The `piivault` binary against this server's databases and keys dir.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut command = piivault(self.dir());
        command
            .args(args)
            .arg("--keys-dir")
            .arg(&self.keys_dir)
            .args(["--database-url", &self.database_url]);
        if let Some(url) = &self.keystore_url {
            command.args(["--keystore-url", url]);
        }
        command.args(["--master-key-provider", self.master_keys.provider.as_str()]);
        if let Some(pkcs11) = &self.master_keys.pkcs11 {
            command
                .arg("--pkcs11-module")
                .arg(&pkcs11.module)
                .args(["--pkcs11-token", &pkcs11.token_label])
                .args(["--pkcs11-label-prefix", &pkcs11.label_prefix])
                .env(PIN_ENV, softhsm::PIN);
        }
        command.output().unwrap()
    }

    /// [`cli`](Self::cli), which must succeed; its standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "{args:?} ended with {}\nstderr: {}\nstdout: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// [`cli`](Self::cli), which must be refused; its standard error.
    pub fn cli_refused(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(!output.status.success(), "{args:?} should be refused");
        String::from_utf8(output.stderr).unwrap()
    }

    /// Waits until the server runs with the key files as they are now: its interval
    /// reload (or a signal) has picked up whatever the test changed.
    pub fn wait_for_key_reload(&self) {
        let on_disk = self.fresh_keys();
        let shape = |keys: &KeyMaterial| {
            (
                keys.master.versions().collect::<Vec<_>>(),
                keys.master.active_version(),
                keys.blind_index.versioned().versions().collect::<Vec<_>>(),
                keys.blind_index.active_version(),
                keys.jwe.kids(),
            )
        };
        let wanted = shape(&on_disk);
        wait_for("the server to reload its keys", || {
            shape(&self.vault.keys().current()) == wanted
        });
    }

    /// A fresh URL for a second database on the same backend (a separate key store).
    pub fn new_database_url(backend: Backend, dir: &std::path::Path, name: &str) -> String {
        match backend {
            Backend::Sqlite => dir.join(name).to_string_lossy().into_owned(),
            Backend::Postgres => postgres::database_url(),
        }
    }

    /// Where the test's own files may go (removed with the app).
    pub fn dir(&self) -> &std::path::Path {
        self.dirs.path()
    }

    /// A connection to the database holding `data_keys`.
    pub fn key_connection(&self) -> PooledDb {
        self.key_pool.as_ref().unwrap_or(&self.pool).get().unwrap()
    }

    /// The keys as the key files and the token say now (after a rotation by the test).
    pub fn fresh_keys(&self) -> KeyMaterial {
        KeyMaterial::load(self.vault.keys().places()).unwrap()
    }

    /// Rows exactly as PostgreSQL stores them, read with `psql` (one line per row for a
    /// `SELECT row_to_json(t)::text FROM t t`): what someone with the database sees.
    pub fn psql_rows(&self, sql: &str) -> Vec<u8> {
        assert_eq!(
            self.backend,
            Backend::Postgres,
            "psql reads PostgreSQL only"
        );
        let output = std::process::Command::new("psql")
            .args([self.database_url.as_str(), "-At", "-c", sql])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// A connection to the main database, from the test's one pool.
    pub fn connection(&self) -> PooledDb {
        self.pool.get().unwrap()
    }

    /// How many users the main database holds.
    pub fn count_users(&self) -> i64 {
        use diesel::prelude::*;
        piivault::db::schema::users::table
            .count()
            .get_result(&mut **self.connection())
            .unwrap()
    }

    /// A new client with these scopes and limits that tests not about quotas never
    /// meet; returns its token.
    pub fn create_client(&self, name: &str, scopes: &[Scope]) -> String {
        self.create_limited_client(name, scopes, UNMET_LIMITS).1
    }

    /// A new client with these scopes and limits; returns its stored name and token.
    pub fn create_limited_client(
        &self,
        name: &str,
        scopes: &[Scope],
        limits: ClientLimits,
    ) -> (String, String) {
        let name = format!("{name}-{}", Uuid::new_v4().simple());
        let token = clients::create(
            &mut self.connection(),
            &self.keys.metadata,
            &name,
            scopes,
            limits,
        )
        .unwrap()
        .token;
        (name, token)
    }

    pub fn revoke_client(&self, token_name_prefix: &str) {
        let mut connection = self.connection();
        for client in clients::list(&mut connection, &self.keys.metadata).unwrap() {
            if client.name.starts_with(token_name_prefix) {
                clients::revoke(&mut connection, &self.keys.metadata, &client.name).unwrap();
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn request(&self, method: &str, path: &str, token: Option<&str>) -> ureq::Request {
        let request = ureq::request(method, &self.url(path)).timeout(Duration::from_secs(60));
        match token {
            Some(token) => request.set("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    pub fn send(request: ureq::Request, body: Option<&[u8]>) -> Reply {
        Reply::of(match body {
            Some(body) => request.send_bytes(body),
            None => request.call(),
        })
    }

    pub fn get(&self, path: &str) -> Reply {
        Self::send(self.request("GET", path, Some(&self.token)), None)
    }

    pub fn get_as(&self, path: &str, token: Option<&str>) -> Reply {
        Self::send(self.request("GET", path, token), None)
    }

    pub fn delete(&self, path: &str) -> Reply {
        Self::send(self.request("DELETE", path, Some(&self.token)), None)
    }

    /// POSTs a body with a Content-Type as a given token.
    pub fn post_as(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Reply {
        let request = self
            .request("POST", path, token)
            .set("Content-Type", content_type);
        Self::send(request, Some(body))
    }

    /// A compact JWE of `payload` to the server's RSA key (RSA-OAEP-256, A256GCM).
    pub fn jwe(&self, payload: &Value) -> String {
        self.keys
            .jwe
            .encrypt_compact(payload.to_string().as_bytes(), "RSA-OAEP-256")
            .unwrap()
    }

    pub fn post_user(&self, payload: &Value) -> Reply {
        self.post_as(
            "/users",
            Some(&self.token),
            "application/jose",
            self.jwe(payload).as_bytes(),
        )
    }

    /// POSTs a JWE of `payload` to `path` with the all-scopes token.
    pub fn post_jwe(&self, path: &str, payload: &Value) -> Reply {
        self.post_as(
            path,
            Some(&self.token),
            "application/jose",
            self.jwe(payload).as_bytes(),
        )
    }

    /// POSTs plain JSON to `path` with the all-scopes token.
    pub fn post_json(&self, path: &str, payload: &Value) -> Reply {
        self.post_as(
            path,
            Some(&self.token),
            "application/json",
            payload.to_string().as_bytes(),
        )
    }

    /// Records transactions for a user in one batch; asserts success.
    pub fn post_transactions(&self, user: Uuid, transactions: &[Value]) {
        let reply = self.post_jwe(
            &format!("/users/{user}/transactions/batch"),
            &json!({ "transactions": transactions }),
        );
        assert!(
            reply.status == 201 || reply.status == 200,
            "batch: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }

    /// Registers a user and returns its id.
    pub fn register(&self, payload: &Value) -> Uuid {
        let reply = self.post_user(payload);
        assert_eq!(
            reply.status,
            201,
            "register: {}",
            String::from_utf8_lossy(&reply.body)
        );
        Uuid::parse_str(reply.json()["id"].as_str().unwrap()).unwrap()
    }
}

impl Drop for TestApp {
    /// Stops the server and waits for it. Without the wait, the test binary could
    /// exit while a server's vault is still being dropped on its thread, closing
    /// PKCS#11 sessions after the module's exit handlers ran (SoftHSM crashes then).
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}
