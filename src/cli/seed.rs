//! `piivault seed`: fake people through the same sealing as the API (`crate::seed`).

use super::args::{GlobalArgs, SeedArgs};
use super::progress;
use crate::seed::SeedOptions;

pub fn run(global: &GlobalArgs, args: &SeedArgs) -> anyhow::Result<()> {
    let vault = global.vault()?;
    let keys = vault.keys().current();
    let seed = if let Some(seed) = args.seed {
        seed
    } else {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the random number generator failed"))?;
        u64::from_le_bytes(bytes)
    };
    let bar = progress::bar(args.users, "seeding users");
    let started = std::time::Instant::now();
    let stored = crate::seed::seed(
        &vault,
        &keys,
        SeedOptions {
            users: args.users,
            transactions_per_user: args.transactions_per_user,
            batch_size: args.batch_size,
            seed,
        },
        &mut |stored| bar.inc(stored),
    )?;
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    println!(
        "seeded {stored} users in {elapsed:.2}s ({:.0} users/s), generator seed {seed}",
        stored as f64 / elapsed.max(f64::EPSILON)
    );
    Ok(())
}
