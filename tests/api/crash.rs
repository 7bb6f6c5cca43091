//! Durability when things crash, with the real binary under write and read load:
//! PostgreSQL (a durable cluster, fsync on) is stopped with `pg_ctl -m immediate` and
//! restarted, and piivault is killed with SIGKILL and restarted. Afterwards every
//! registration that was acknowledged (201) reads back whole, and every read that was
//! answered (200) has its audit record: group commit answers nothing before the
//! transaction holding it has committed.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::Duration;

use piivault::config::PoolSettings;
use piivault::keys::{KeyMaterial, KeyPlaces};
use piivault::vault::audit::{self, AuditQuery};
use serde_json::Value;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{new_user_payload, piivault, postgres, unique_email, wait_for, Backend};

/// A `piivault serve` process.
struct Server {
    child: Child,
    base_url: String,
}

impl Server {
    /// Starts the binary on a free port and waits until it says where it listens.
    fn start(dir: &Path, database_url: &str) -> Self {
        let mut child = piivault(dir)
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(["--keys-dir", "keys", "--data-dir", "data"])
            // Links are never made here; production mode needs the address anyway.
            .args(["--public-url", "http://127.0.0.1"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (lines, log) = mpsc::channel();
        // Keeps reading after the port is known, so the server never blocks on a full
        // pipe; lines nobody waits for are dropped.
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let port = loop {
            let line = log
                .recv_timeout(Duration::from_secs(60))
                .expect("the server logs the port it listens on");
            if line.contains("piivault listening") {
                let (_, after) = line.split_once("port=").unwrap();
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                break digits;
            }
        };
        Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGKILL: no shutdown, no flushing, no goodbye.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a load thread needs to reach whichever server is up.
#[derive(Clone)]
struct Client {
    base_url: Arc<RwLock<String>>,
    token: String,
    keys: Arc<KeyMaterial>,
}

impl Client {
    /// Registers a new user; its id when the server acknowledged it (201). Refusals
    /// and dropped connections are expected while things are down: only an
    /// acknowledged write is a promise.
    fn register(&self, payload: &Value) -> Option<Uuid> {
        let jwe = self
            .keys
            .jwe
            .encrypt_compact(payload.to_string().as_bytes(), "RSA-OAEP-256")
            .unwrap();
        let url = format!("{}/users", self.base_url.read().unwrap());
        let response = ureq::post(&url)
            .timeout(Duration::from_secs(10))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "application/jose")
            .send_string(&jwe)
            .ok()
            .filter(|response| response.status() == 201)?;
        let body: Value = response.into_json().unwrap();
        Some(Uuid::parse_str(body["id"].as_str().unwrap()).unwrap())
    }

    /// Reads a user with `request_id`; the user when the server answered (200).
    fn read(&self, id: Uuid, request_id: &str) -> Option<Value> {
        let url = format!("{}/users/{id}", self.base_url.read().unwrap());
        let response = ureq::get(&url)
            .timeout(Duration::from_secs(10))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("X-Request-Id", request_id)
            .call()
            .ok()
            .filter(|response| response.status() == 200)?;
        Some(response.into_json().unwrap())
    }
}

/// What the load saw: registrations acknowledged with 201, and reads answered with
/// 200 (the request id each was sent with, and the user it read).
#[derive(Default)]
struct Seen {
    registered: Mutex<Vec<(Uuid, Value)>>,
    answered: Mutex<Vec<(String, Uuid)>>,
}

impl Seen {
    fn counts(&self) -> (usize, usize) {
        (
            self.registered.lock().unwrap().len(),
            self.answered.lock().unwrap().len(),
        )
    }

    /// Waits until the load has made progress: more acknowledged writes and answered
    /// reads than now.
    fn wait_for_progress(&self, what: &str) {
        let (writes, reads) = self.counts();
        wait_for(what, || {
            let (now_writes, now_reads) = self.counts();
            now_writes >= writes + 10 && now_reads >= reads + 20
        });
    }
}

/// Three writers and three readers, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// Starts the load; `seen` must hold a registered user for the readers.
    fn start(client: &Client, seen: &Arc<Seen>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..3 {
            let (client, seen, stop) = (client.clone(), Arc::clone(seen), Arc::clone(&stop));
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let payload = new_user_payload(&unique_email());
                    if let Some(id) = client.register(&payload) {
                        seen.registered.lock().unwrap().push((id, payload));
                    }
                }
            }));
        }
        for reader in 0..3 {
            let (client, seen, stop) = (client.clone(), Arc::clone(seen), Arc::clone(&stop));
            threads.push(std::thread::spawn(move || {
                let mut turn = reader;
                while !stop.load(Ordering::SeqCst) {
                    let (id, payload) = {
                        let registered = seen.registered.lock().unwrap();
                        turn = (turn + 7) % registered.len();
                        registered[turn].clone()
                    };
                    let request_id = format!("crash-{}", Uuid::new_v4().simple());
                    if let Some(user) = client.read(id, &request_id) {
                        assert_eq!(user["email"], payload["email"], "the user read is whole");
                        seen.answered.lock().unwrap().push((request_id, id));
                    }
                }
            }));
        }
        Self { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread.join().unwrap();
        }
    }
}

/// A token with the read and write scopes, made by the binary (which also creates the
/// schema).
fn create_token(dir: &Path, database_url: &str) -> String {
    let created = piivault(dir)
        .args(["clients", "create", "--name", "crash"])
        .args(["--scopes", "users:write,users:read", "--json"])
        .args(["--keys-dir", "keys", "--data-dir", "data"])
        .args(["--database-url", database_url])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    created["token"].as_str().unwrap().to_owned()
}

/// Every acknowledged registration reads back whole, and every answered read has its
/// audit record.
fn verify(client: &Client, seen: &Seen, database_url: &str) {
    let registered = seen.registered.lock().unwrap().clone();
    for (id, payload) in &registered {
        let user = client
            .read(*id, "crash-check")
            .unwrap_or_else(|| panic!("acknowledged user {id} does not read back"));
        for field in [
            "first_name",
            "last_name",
            "email",
            "phone",
            "national_id",
            "date_of_birth",
            "address",
        ] {
            assert_eq!(user[field], payload[field], "{id}: {field}");
        }
    }
    let pool = piivault::db::pool(database_url, &PoolSettings::single());
    let everything = AuditQuery {
        limit: u32::MAX,
        ..AuditQuery::default()
    };
    let recorded: HashSet<(String, Uuid)> = audit::find(&mut pool.get().unwrap(), &everything)
        .unwrap()
        .into_iter()
        .filter(|record| record.action == "user.read")
        .filter_map(|record| Some((record.request_id, record.subject_user_id?.uuid())))
        .collect();
    let answered = seen.answered.lock().unwrap().clone();
    let unrecorded: Vec<_> = answered
        .iter()
        .filter(|read| !recorded.contains(read))
        .collect();
    assert!(
        unrecorded.is_empty(),
        "{} of {} answered reads have no audit record: {unrecorded:?}",
        unrecorded.len(),
        answered.len()
    );
}

fn crash_under_load(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir: PathBuf = dir.path().join("keys");
    let places = KeyPlaces::key_files(&keys_dir);
    piivault::keys::init(&places).unwrap();
    let cluster = (backend == Backend::Postgres).then(postgres::durable_cluster);
    let database_url = match &cluster {
        Some(cluster) => cluster.database_url(),
        None => dir
            .path()
            .join("vault.sqlite3")
            .to_string_lossy()
            .into_owned(),
    };
    let token = create_token(dir.path(), &database_url);
    let mut server = Server::start(dir.path(), &database_url);
    let client = Client {
        base_url: Arc::new(RwLock::new(server.base_url.clone())),
        token,
        keys: Arc::new(KeyMaterial::load(&places).unwrap()),
    };
    let restart = |server: &mut Server| {
        *server = Server::start(dir.path(), &database_url);
        client
            .base_url
            .write()
            .unwrap()
            .clone_from(&server.base_url);
    };
    let seen = Arc::new(Seen::default());
    let first = new_user_payload(&unique_email());
    let id = client.register(&first).expect("the first registration");
    seen.registered.lock().unwrap().push((id, first));

    let load = Load::start(&client, &seen);
    seen.wait_for_progress("load before any crash");
    if let Some(cluster) = &cluster {
        cluster.crash();
        cluster.start();
        seen.wait_for_progress("load after PostgreSQL crashed and came back");
    }
    server.kill();
    restart(&mut server);
    seen.wait_for_progress("load after piivault was killed and restarted");
    if let Some(cluster) = &cluster {
        // Both at once: the database dies under a server that then dies too.
        cluster.crash();
        server.kill();
        cluster.start();
        restart(&mut server);
        seen.wait_for_progress("load after both crashed");
    }
    load.stop();
    verify(&client, &seen, &database_url);
}

on_both_backends!(
    acknowledged_writes_and_answered_reads_survive_crashes,
    |backend| {
        crash_under_load(backend);
    }
);
