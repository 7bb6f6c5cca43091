//! Throw-away PostgreSQL clusters for the integration tests. One shared cluster per
//! test binary (a fresh database per test), plus dedicated clusters a test may stop
//! and start. Clusters skip flushing to disk (fast, and a test's data need not outlive
//! the machine), except a durable one, which commits as production does, for the
//! crash tests. Binaries come from `pg_config --bindir`; as root they run as the
//! `postgres` user (PostgreSQL refuses root). A watchdog shell stops each cluster and
//! removes its files once the test process is gone, so nothing outlives a run.
//! Missing PostgreSQL binaries are a test failure, never a skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub struct Cluster {
    dir: PathBuf,
    port: u16,
    bindir: PathBuf,
    durability: Durability,
}

/// How a cluster commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: an acknowledged
    /// commit can be lost when the cluster stops abruptly.
    Fast,
    /// The defaults: a commit is acknowledged once its log record is on disk.
    Durable,
}

static SHARED: OnceLock<Cluster> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// A new, empty database in the shared cluster.
pub fn database_url() -> String {
    SHARED
        .get_or_init(|| Cluster::start_new(Durability::Fast))
        .create_database()
}

/// A private cluster the caller may stop and start; removed on drop.
pub fn dedicated_cluster() -> Cluster {
    Cluster::start_new(Durability::Fast)
}

/// A private cluster that commits durably (fsync on, as in production), for tests
/// that crash it; removed on drop.
pub fn durable_cluster() -> Cluster {
    Cluster::start_new(Durability::Durable)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// A command run as the `postgres` user when we are root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn start_new(durability: Durability) -> Self {
        let bindir = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
            .expect("PostgreSQL is required for the tests: `pg_config` was not found (install postgresql)");
        assert!(
            bindir.join("initdb").exists(),
            "no initdb in {}",
            bindir.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("piivault-pg-")
            .tempdir()
            .unwrap()
            .keep();
        if is_root() {
            run(
                {
                    let mut chown = Command::new("chown");
                    chown.args(["-R", "postgres:postgres"]).arg(&dir);
                    chown
                },
                "chown to postgres (does the postgres user exist?)",
            );
        }
        let mut initdb = as_owner(&bindir.join("initdb"));
        initdb.arg("-D").arg(dir.join("data")).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run(initdb, "initdb");
        let cluster = Self {
            dir,
            port: free_port(),
            bindir,
            durability,
        };
        cluster.start();
        cluster.watch_parent();
        cluster
    }

    pub fn start(&self) {
        let commits = match self.durability {
            Durability::Fast => "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            Durability::Durable => "-c fsync=on -c synchronous_commit=on -c full_page_writes=on",
        };
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} {commits} -c max_connections=300",
            self.port,
            self.dir.display()
        );
        let mut pg_ctl = as_owner(&self.bindir.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-o", &options, "start"])
            .stdout(Stdio::null());
        run(pg_ctl, "pg_ctl start");
    }

    pub fn stop(&self) {
        self.stop_with("fast");
    }

    /// Stops the cluster as a crash would: `pg_ctl -m immediate` kills every server
    /// process at once, with no checkpoint; the next start replays the log.
    pub fn crash(&self) {
        self.stop_with("immediate");
    }

    fn stop_with(&self, mode: &str) {
        let mut pg_ctl = as_owner(&self.bindir.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", mode, "stop"])
            .stdout(Stdio::null());
        run(pg_ctl, &format!("pg_ctl stop -m {mode}"));
    }

    /// A new database; its URL.
    pub fn database_url(&self) -> String {
        self.create_database()
    }

    fn create_database(&self) -> String {
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        let mut psql = Command::new("psql");
        psql.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-qc",
        ])
        .arg(format!("CREATE DATABASE {name}"));
        run(psql, "CREATE DATABASE");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the cluster and removes its files when this test process exits, however
    /// it exits (statics are never dropped).
    fn watch_parent(&self) {
        let pg_ctl = self.bindir.join("pg_ctl");
        let stop = if is_root() {
            format!(
                "runuser -u postgres -- {} -D {}/data -m immediate stop",
                pg_ctl.display(),
                self.dir.display()
            )
        } else {
            format!(
                "{} -D {}/data -m immediate stop",
                pg_ctl.display(),
                self.dir.display()
            )
        };
        super::after_this_process(&format!(
            "{stop} >/dev/null 2>&1; rm -rf {dir}",
            dir = self.dir.display()
        ));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut pg_ctl = as_owner(&self.bindir.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = pg_ctl.status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
