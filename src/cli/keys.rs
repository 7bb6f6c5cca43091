//! `piivault keys …`: creating keys, rotating and retiring them, and the resumable
//! rewrap, migration, reindex and reseal jobs that move the database to the active
//! versions and the current byte format.

use std::time::{Duration, Instant};

use super::args::{GlobalArgs, JobArgs, JweKindArg, KeysCommand};
use super::progress;
use crate::config::MasterKeyProvider;
use crate::crypto::bits_for_population;
use crate::keys::{self, rotate, KeyMaterial};
use crate::vault::key_jobs::{JobReport, KeyStatus, SinceSource, VersionUse};
use crate::vault::{indexes, Vault};

pub fn run(global: &GlobalArgs, command: KeysCommand) -> anyhow::Result<()> {
    let keys_dir = &global.keys_dir;
    match command {
        KeysCommand::Init => {
            let created = keys::init(&global.key_places()?)?;
            if created.files.is_empty() && created.token_objects.is_empty() {
                println!("all keys already present");
            }
            for path in created.files {
                println!("created {}", path.display());
            }
            for label in created.token_objects {
                println!("created token object {label}");
            }
        }
        KeysCommand::Status { json } => {
            let status = global.vault()?.key_status()?;
            if json {
                println!("{}", serde_json::to_string(&status)?);
            } else {
                print_status(&status);
            }
        }
        KeysCommand::RotateMaster { no_rewrap, job } => {
            let vault = global.vault()?;
            let version = vault.rotate_master()?;
            println!(
                "master key version {version} is now active; new data keys are wrapped under it"
            );
            if !no_rewrap {
                run_job(&vault, Job::Rewrap, &job)?;
            }
        }
        KeysCommand::Rewrap { job } => run_job(&global.vault()?, Job::Rewrap, &job)?,
        KeysCommand::MigrateMaster { to, job } => {
            run_job(&global.vault()?, Job::Migrate(to.into()), &job)?;
        }
        KeysCommand::RetireMaster { version } => {
            global.vault()?.retire_master(version)?;
            println!("master key version {version} retired and destroyed");
        }
        KeysCommand::RotateJwe { kind } => {
            let kind = match kind {
                JweKindArg::Rsa => rotate::JweKind::Rsa,
                JweKindArg::P256 => rotate::JweKind::P256,
            };
            let added = rotate::rotate_jwe(keys_dir, kind)?;
            println!(
                "added JWE key {} ({}); older keys keep decrypting until `piivault keys retire-jwe --kid KID`",
                added.kid,
                added.path.display()
            );
        }
        KeysCommand::RetireJwe { kid } => {
            let moved = rotate::retire_jwe(keys_dir, &kid)?;
            println!(
                "retired JWE key {kid} (moved to {}); tokens naming it are refused",
                moved.display()
            );
        }
        KeysCommand::RotateBlindIndex {
            no_reindex,
            population,
            job,
        } => {
            let truncated = population
                .map(|population| indexes::truncatable(bits_for_population(population)))
                .unwrap_or_default();
            let version = rotate::rotate_blind_index(keys_dir, &truncated)?;
            println!("blind-index key version {version} is now active; look-ups search every live version");
            for (column, bits) in &truncated {
                println!("{column} indexes of version {version} keep {bits} bits");
            }
            if !no_reindex {
                run_job(&global.vault()?, Job::Reindex, &job)?;
            }
        }
        KeysCommand::Reindex { job } => run_job(&global.vault()?, Job::Reindex, &job)?,
        KeysCommand::Reseal { job } => run_job(&global.vault()?, Job::Reseal, &job)?,
        KeysCommand::RetireBlindIndex { version } => {
            global.vault()?.retire_blind_index(version)?;
            println!("blind-index key version {version} retired and destroyed");
        }
        KeysCommand::SealMetadata => {
            let report = global.vault()?.seal_metadata()?;
            println!(
                "sealed {} API client(s) and {} statement link(s) under the metadata key",
                report.clients_sealed, report.links_sealed
            );
        }
        KeysCommand::ExportPublic => {
            let keys = KeyMaterial::load(&global.key_places()?)?;
            println!("{}", serde_json::to_string_pretty(&keys.jwe.jwks())?);
        }
    }
    Ok(())
}

/// The resumable jobs: what each moves and how its rows are counted.
#[derive(Clone, Copy)]
enum Job {
    Rewrap,
    /// Every data key to a master key version held by this provider.
    Migrate(MasterKeyProvider),
    Reindex,
    /// Every sealed value to the current byte format.
    Reseal,
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Self::Rewrap => "rewrap",
            Self::Migrate(_) => "migrate-master",
            Self::Reindex => "reindex",
            Self::Reseal => "reseal",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Rewrap | Self::Migrate(_) => "rewrapping data keys",
            Self::Reindex => "reindexing users",
            Self::Reseal => "resealing users, transactions and files",
        }
    }

    /// Rows not yet under the version the job moves them to (for a migration,
    /// counted before it starts: every data key not under the newest version).
    fn pending(self, vault: &Vault) -> anyhow::Result<u64> {
        Ok(match self {
            Self::Rewrap => vault.key_status()?.master_pending(),
            Self::Migrate(_) => vault.key_status()?.master_pending_outside_newest(),
            Self::Reindex => vault.key_status()?.blind_index_pending(),
            Self::Reseal => vault.reseal_pending()?.total(),
        })
    }
}

/// Runs a job behind a progress bar and reports what it did and what is left.
fn run_job(vault: &Vault, job: Job, args: &JobArgs) -> anyhow::Result<()> {
    let before = job.pending(vault)?;
    let bar = progress::bar(
        args.max_rows.map_or(before, |max| before.min(max)),
        job.label(),
    );
    let started = Instant::now();
    let mut advance = |rows| bar.inc(rows);
    let report = match job {
        Job::Rewrap => vault.rewrap_data_keys(args.options(), &mut advance)?,
        Job::Migrate(to) => {
            let (version, report) = vault.migrate_master(to, args.options(), &mut advance)?;
            bar.println(format!(
                "moving data keys to master key version {version}, held by {to}"
            ));
            report
        }
        Job::Reindex => vault.reindex_users(args.options(), &mut advance)?,
        Job::Reseal => vault.reseal_to_current_format(args.options(), &mut advance)?,
    };
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let left = job.pending(vault)?;
    print_report(job.name(), &report, elapsed, left);
    Ok(())
}

fn print_report(what: &str, report: &JobReport, elapsed: Duration, remaining: u64) {
    let rate = report.written as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "{what}: {} written, {} skipped, {} looked at in {:.2}s ({rate:.0}/s); {remaining} left",
        report.written,
        report.skipped,
        report.processed,
        elapsed.as_secs_f64()
    );
}

fn print_status(status: &KeyStatus) {
    let print_versions = |title: &str, what: &str, uses: &[VersionUse], retired: &[u32]| {
        println!("{title}");
        for use_ in uses {
            let mut notes = Vec::new();
            if use_.active {
                notes.push("active");
            }
            if let Some(provider) = use_.held_by {
                notes.push(provider.as_str());
            }
            if !use_.loaded {
                notes.push("NO KEY LOADED: these cannot be opened");
            }
            println!(
                "  v{:<4} {:>10} {what}{}",
                use_.version,
                use_.rows,
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", notes.join(", "))
                }
            );
        }
        if !retired.is_empty() {
            let retired: Vec<String> = retired.iter().map(|v| format!("v{v}")).collect();
            println!("  retired: {}", retired.join(" "));
        }
    };
    print_versions(
        &format!(
            "master keys (new versions go to the {} provider)",
            status.master_provider
        ),
        "data keys",
        &status.master,
        &status.master_retired,
    );
    println!(
        "  floor: v{} (no new data key is wrapped under an older version)",
        status.master_floor
    );
    match &status.oldest_live_master {
        Some(oldest) => println!(
            "  oldest version in use: v{}, {} old (since {}, {}): deleted users' keys stay in backups until it is retired",
            oldest.version,
            indicatif::HumanDuration(Duration::from_secs(
                u64::try_from(oldest.age_seconds).unwrap_or(0)
            )),
            crate::time::rfc3339(oldest.since),
            match oldest.since_source {
                SinceSource::Created => "when it was made",
                SinceSource::OldestDataKey => "its oldest data key; when it was made is not recorded",
            }
        ),
        None => println!("  oldest version in use: none (no data keys)"),
    }
    print_versions(
        "blind-index keys",
        "users",
        &status.blind_index,
        &status.blind_index_retired,
    );
    println!("JWE keys (served in the JWKS)");
    for kid in &status.jwe_kids {
        println!("  {kid}");
    }
    let unsealed = status.unsealed;
    println!("metadata key (token digests, client and link MACs)");
    if unsealed.clients + unsealed.links == 0 {
        println!("  every client and link row is sealed");
    } else {
        println!(
            "  {} client(s) and {} link(s) NOT SEALED: refused until `piivault keys seal-metadata`",
            unsealed.clients, unsealed.links
        );
    }
}
