//! The ceiling of a PKCS#11 token for BENCHMARKS.md: AES-256-GCM operations on a
//! 32-byte data key (what wrapping and unwrapping one data key costs), straight on the
//! token with no database and no HTTP, from 1..=T threads (one session each).
//!
//! `PIIVAULT_PKCS11_PIN=… cargo run --release --example token_ops -- <module> <token label> [seconds] [threads]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use piivault::config::Pkcs11Settings;
use piivault::keys::token::Token;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let module = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: token_ops <module> <token label> [seconds] [threads]")
    })?;
    let label = args.next().unwrap_or_else(|| "piivault".to_owned());
    let seconds: u64 = args.next().unwrap_or_else(|| "5".to_owned()).parse()?;
    let threads: usize = args.next().unwrap_or_else(|| "2".to_owned()).parse()?;
    let token = Token::open(&Pkcs11Settings {
        module: module.into(),
        token_label: label,
        label_prefix: "bench".to_owned(),
    })?;
    let key = token.generate_aes_key(b"bench-ceiling", "bench-ceiling")?;
    let nonce = [7u8; 12];
    let aad = b"piivault/v1/dek/00000000-0000-7000-8000-000000000000";
    let sealed = token.aes_gcm_encrypt(key, &nonce, aad, &[1u8; 32])?;
    for threads in 1..=threads {
        for (what, decrypt) in [("unwrap (C_Decrypt)", true), ("wrap (C_Encrypt)", false)] {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let token = Arc::clone(&token);
                    let sealed = sealed.clone();
                    std::thread::spawn(move || -> anyhow::Result<u64> {
                        let mut done = 0;
                        while Instant::now() < deadline {
                            if decrypt {
                                token.aes_gcm_decrypt(key, &nonce, aad, &sealed)?;
                            } else {
                                token.aes_gcm_encrypt(key, &nonce, aad, &[1u8; 32])?;
                            }
                            done += 1;
                        }
                        Ok(done)
                    })
                })
                .collect();
            let mut total = 0;
            for worker in workers {
                total += worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
            }
            let rate = total as f64 / seconds as f64;
            println!(
                "{what}, {threads} thread(s): {rate:.0} ops/s ({:.1} µs/op per thread)",
                1e6 * threads as f64 / rate
            );
        }
    }
    token.destroy(key)?;
    Ok(())
}
