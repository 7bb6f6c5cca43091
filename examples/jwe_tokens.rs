//! Load-test input: prints N compact JWEs (RSA-OAEP-256, A256GCM), one per line, each
//! a new-user payload with a unique email, encrypted to the keys in a keys dir.
//!
//! `cargo run --release --example jwe_tokens -- <keys-dir> <count> [alg]`

use piivault::keys::{KeyMaterial, KeyPlaces};
use std::io::Write as _;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let keys_dir = args.next().unwrap_or_else(|| "keys".to_owned());
    let count: usize = args.next().unwrap_or_else(|| "1000".to_owned()).parse()?;
    let alg = args.next().unwrap_or_else(|| "RSA-OAEP-256".to_owned());
    let keys = KeyMaterial::load(&KeyPlaces::key_files(std::path::Path::new(&keys_dir)))?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for n in 0..count {
        let payload = serde_json::json!({
            "first_name": "Load", "last_name": format!("Tester{n}"),
            "email": format!("load.{run}.{n}@example.com"),
            "phone": "+254712345678", "national_id": format!("{}", 10_000_000 + n),
            "date_of_birth": "1990-04-01", "address": "Kenyatta Ave 1, Nairobi"
        });
        let token = keys
            .jwe
            .encrypt_compact(payload.to_string().as_bytes(), &alg)
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        writeln!(out, "{token}")?;
    }
    Ok(())
}
