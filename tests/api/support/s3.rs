//! A real S3-compatible server for the tests: moto's server mode (`moto_server`, from
//! PyPI), started once per test binary on a free port, with a fresh bucket per test.
//! A watchdog shell stops it once the test process is gone. A missing `moto_server`
//! is a test failure, never a skip.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use piivault::config::{FileSettings, StoreLocation};

/// Where the shared server listens.
static ENDPOINT: OnceLock<String> = OnceLock::new();

fn start() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // moto runs until this process is gone, then is stopped with it.
    let script = format!(
        "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & server=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done; \
         kill $server 2>/dev/null",
        parent = std::process::id()
    );
    assert!(
        Command::new("sh")
            .arg("-c")
            .arg("command -v moto_server")
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success(),
        "moto_server is missing: install it (scripts/install-test-deps)"
    );
    // Deliberately not waited for: it must outlive the test that started it.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    // Python takes a few seconds to start on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(&endpoint).call().is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    endpoint
}

/// The shared server's endpoint.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(start)
}

/// File settings for a new, empty bucket on the shared server.
pub fn new_bucket() -> FileSettings {
    let bucket = format!("piivault-{}", uuid::Uuid::new_v4().simple());
    // moto accepts unsigned requests; a bucket is made with a plain PUT.
    ureq::put(&format!("{}/{bucket}", endpoint()))
        .call()
        .expect("bucket created");
    on(endpoint(), &bucket)
}

/// File settings for `bucket` at `endpoint` (which may be down).
pub fn on(endpoint: &str, bucket: &str) -> FileSettings {
    FileSettings {
        location: StoreLocation::S3 {
            bucket: bucket.to_owned(),
            prefix: "files".to_owned(),
        },
        s3_options: [
            ("aws_endpoint", endpoint),
            ("aws_allow_http", "true"),
            ("aws_region", "us-east-1"),
            ("aws_access_key_id", "test"),
            ("aws_secret_access_key", "test"),
        ]
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect(),
        ..FileSettings::default()
    }
}

/// The objects under the store's prefix, with their bytes: what is in the bucket.
pub fn objects(settings: &FileSettings) -> Vec<(String, Vec<u8>)> {
    let store = raw_store(settings);
    runtime().block_on(async {
        use futures_util::TryStreamExt as _;
        use object_store::ObjectStoreExt as _;
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
        let mut objects = Vec::new();
        for meta in listed {
            let bytes = store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            objects.push((meta.location.to_string(), bytes.to_vec()));
        }
        objects.sort();
        objects
    })
}

/// Replaces an object's bytes (tampering, as someone with the bucket could).
pub fn overwrite(settings: &FileSettings, name: &str, bytes: Vec<u8>) {
    let store = raw_store(settings);
    runtime().block_on(async {
        use object_store::ObjectStoreExt as _;
        store
            .put(&object_store::path::Path::from(name), bytes.into())
            .await
            .unwrap();
    });
}

/// A client of the same bucket (under the same prefix), outside piivault.
fn raw_store(settings: &FileSettings) -> Box<dyn object_store::ObjectStore> {
    let StoreLocation::S3 { bucket, prefix } = &settings.location else {
        panic!("not an S3 store");
    };
    let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
    for (key, value) in &settings.s3_options {
        builder = builder.with_config(key.parse().unwrap(), value);
    }
    let store = builder.build().unwrap();
    Box::new(object_store::prefix::PrefixStore::new(
        store,
        prefix.as_str(),
    ))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
