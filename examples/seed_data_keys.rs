//! Benchmark input for the master-key rewrap: stores N fresh data keys, wrapped under
//! the keys dir's active master key, straight into a key store database (the rewrap
//! job reads and writes only `data_keys`, so no user rows are needed).
//!
//! `cargo run --release --example seed_data_keys -- <keys-dir> <keystore-url> <count>`

use piivault::config::PoolSettings;
use piivault::crypto::DataKey;
use piivault::db::users::NewDataKeyRow;
use piivault::db::{self, data_keys};
use piivault::id::UserId;
use piivault::keys::{KeyMaterial, KeyPlaces};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let keys_dir = args.next().unwrap_or_else(|| "keys".to_owned());
    let url = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: seed_data_keys <keys-dir> <keystore-url> <count>")
    })?;
    let count: usize = args.next().unwrap_or_else(|| "100000".to_owned()).parse()?;
    let keys = KeyMaterial::load(&KeyPlaces::key_files(std::path::Path::new(&keys_dir)))?;
    let version = i32::try_from(keys.master.active_version())?;
    db::run_keystore_migrations(&url)?;
    let mut connection = db::pool(&url, &PoolSettings::single()).get()?;
    let now = piivault::time::now();
    let started = std::time::Instant::now();
    let mut written = 0;
    while written < count {
        let batch: Vec<NewDataKeyRow> = (written..count.min(written + 10_000))
            .map(|_| {
                let user_id = UserId::generate();
                let wrapped = keys.master.wrap(user_id.uuid(), &DataKey::generate()?)?;
                Ok(NewDataKeyRow {
                    user_id,
                    kek_version: version,
                    wrapped_key: wrapped.as_bytes().to_vec(),
                    created_at: now,
                })
            })
            .collect::<Result<_, piivault::crypto::CryptoError>>()?;
        written += data_keys::insert_many(&mut connection, &batch)?;
    }
    eprintln!(
        "seeded {written} data keys under master key v{version} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
