//! End to end through HTTP: starts the real server on a temporary SQLite database,
//! registers a user, posts N transactions in batches of 1,000 (JWE), then times
//! `GET /users/{id}/statement` (database read, opening every sealed field, render,
//! encrypt) a few times. Prints the batch and statement times.
//!
//! `cargo run --release --example statement_http_bench -- [rows]`

use std::time::{Duration, Instant};

use piivault::access::{clients, ClientLimits, Scope};
use piivault::config::PoolSettings;
use piivault::config::Settings;
use piivault::db;
use piivault::keys::{KeyMaterial, KeyPlaces};
use piivault::startup::Application;
use serde_json::{json, Value};

fn post(url: &str, token: &str, body: &str) -> anyhow::Result<Value> {
    let response = ureq::post(url)
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/jose")
        .timeout(Duration::from_secs(120))
        .send_string(body)?;
    Ok(response.into_json()?)
}

fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10000".to_owned())
        .parse()?;
    let dir = tempfile::tempdir()?;
    let keys_dir = dir.path().join("keys");
    piivault::keys::init(&KeyPlaces::key_files(&keys_dir))?;
    let settings = Settings {
        bind: "127.0.0.1:0".to_owned(),
        workers: Some(2),
        ..Settings::new(
            dir.path()
                .join("bench.sqlite3")
                .to_string_lossy()
                .into_owned(),
            keys_dir.clone(),
            dir.path().to_path_buf(),
        )
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread_settings = settings.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let application = Application::build(&thread_settings)?;
            sender.send(application.port())?;
            application.run_until_stopped().await?;
            anyhow::Ok(())
        })
    });
    let port = receiver.recv_timeout(Duration::from_secs(30))?;
    let base = format!("http://127.0.0.1:{port}");
    let keys = KeyMaterial::load(&KeyPlaces::key_files(&keys_dir))?;
    let mut connection = db::pool(&settings.database_url, &PoolSettings::default()).get()?;
    // A benchmark of the work, not of the quota: limits it never meets.
    let limits = ClientLimits {
        rate_per_second: ClientLimits::MAX,
        burst: ClientLimits::MAX,
        max_concurrent: ClientLimits::MAX,
    };
    let token = clients::create(
        &mut connection,
        &keys.metadata,
        "bench",
        &Scope::ALL,
        limits,
    )?
    .token;
    drop(connection);
    let jwe = |value: &Value| {
        keys.jwe
            .encrypt_compact(value.to_string().as_bytes(), "RSA-OAEP-256")
    };

    let user = post(
        &format!("{base}/users"),
        &token,
        &jwe(
            &json!({"first_name":"Дмитрий","last_name":"Σωκράτης","email":"bench@example.com",
                     "phone":"+254712345678","national_id":"12345678"}),
        )?,
    )?;
    let id = user["id"].as_str().unwrap_or_default().to_owned();
    let started = Instant::now();
    for chunk in 0..rows.div_ceil(1000) {
        let items: Vec<Value> = (chunk * 1000..rows.min((chunk + 1) * 1000))
            .map(|n| {
                json!({"reference": format!("QFT{n:07}X"),
                       "occurred_at": format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + n % 28, n % 24, n % 60),
                       "details": "Pay Bill Online to 888880 - KPLC PREPAID",
                       "amount": if n % 3 == 0 { "2500.00" } else { "-123.45" }})
            })
            .collect();
        post(
            &format!("{base}/users/{id}/transactions/batch"),
            &token,
            &jwe(&json!({ "transactions": items }))?,
        )?;
    }
    println!(
        "rows={rows} posted in batches of 1,000: {:.2}s",
        started.elapsed().as_secs_f64()
    );
    for _ in 0..3 {
        let started = Instant::now();
        let response = ureq::get(&format!(
            "{base}/users/{id}/statement?from=2026-11-01&to=2026-11-30"
        ))
        .set("Authorization", &format!("Bearer {token}"))
        .timeout(Duration::from_secs(120))
        .call()?;
        let mut pdf = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut pdf)?;
        println!(
            "GET statement ({rows} rows): {:.3}s, {:.1} MiB",
            started.elapsed().as_secs_f64(),
            pdf.len() as f64 / 1_048_576.0
        );
    }
    Ok(())
}
