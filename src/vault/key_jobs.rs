//! Key lifecycle work that needs the database: the resumable jobs that move data keys
//! to the active master key (rewrap) or to another provider's (migration) and users to
//! the active blind-index key (reindex), the checks that refuse to retire a version
//! still in use (or not yet below the master key floor, `db::wrap_floor`, which the
//! rotations and the rewrap raise), and the status report. Key files and token
//! objects themselves are edited by `keys::rotate`.
//!
//! Both jobs walk a table in primary-key order with a cursor, in batches ([`walk`]),
//! and write each row only where it still holds the version they read
//! (`... WHERE kek_version = old`): running a job twice, two jobs at once, or a job next
//! to serving instances is safe, and an interrupted job resumes by running it again
//! (rows already moved are no longer selected).
//!
//! These are the command line's: blocking, on the caller's thread, with a progress
//! callback.

use anyhow::bail;
use chrono::NaiveDateTime;

use super::data_keys::DataKeyStore;
use super::indexes::UserIndexes;
use super::users::open_field;
use super::{Vault, VaultError};
use crate::config::MasterKeyProvider;
use crate::crypto::{CryptoError, MasterKeyRing, WrappedDataKey};
use crate::db::data_keys::{self as key_rows, Rewrapped};
use crate::db::users::{self as user_rows, IndexSourceRow, Reindexed};
use crate::db::wrap_floor::{self as floor_rows, VersionSince};
use crate::db::{version_column, DbConnection};
use crate::domain::{Email, NationalId, Phone};
use crate::id::UserId;
use crate::keys::{rotate, KeyMaterial};

/// How a job walks the table.
#[derive(Debug, Clone, Copy)]
pub struct JobOptions {
    /// Rows read and written per batch (one transaction or statement each).
    pub batch_size: u32,
    /// Stop after this many rows (to spread the work out, or to test resuming).
    pub max_rows: Option<u64>,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_rows: None,
        }
    }
}

/// What a job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Rows looked at.
    pub processed: u64,
    /// Rows this job moved to the active version.
    pub written: u64,
    /// Rows that could not be moved (a key no longer loaded, a value that no longer
    /// parses); each is logged by id.
    pub skipped: u64,
}

/// One key version and how much of the database uses it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionUse {
    pub version: u32,
    pub active: bool,
    /// Whether this instance holds the key (false: rows under a version whose key is
    /// gone cannot be opened).
    pub loaded: bool,
    /// Which provider holds a loaded master key version (`file` or `pkcs11`); `None`
    /// for blind-index versions and versions not loaded.
    pub held_by: Option<MasterKeyProvider>,
    pub rows: i64,
}

/// The oldest master key version still in use, and its age.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OldestLiveVersion {
    pub version: u32,
    /// When the version was made (`since_source` = `created`), or, when that was not
    /// recorded, when the oldest data key it wraps was (`oldest_data_key`).
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub since: NaiveDateTime,
    pub since_source: SinceSource,
    /// Whole seconds from `since` to the report.
    pub age_seconds: i64,
}

/// Where [`OldestLiveVersion::since`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinceSource {
    /// Recorded when the version was made (`keys rotate-master`, `migrate-master`).
    Created,
    /// Not recorded (made by `keys init`, or before versions were recorded): the
    /// creation time of the oldest data key it wraps.
    OldestDataKey,
}

/// What `piivault keys status` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyStatus {
    /// The provider that holds the active master key.
    pub master_provider: MasterKeyProvider,
    /// Master key versions and the data keys each wraps.
    pub master: Vec<VersionUse>,
    pub master_retired: Vec<u32>,
    /// The master key floor: no data key is stored wrapped under a lower version.
    pub master_floor: u32,
    /// The oldest master key version that still wraps a data key, and since when it
    /// exists: the shredding horizon (a data key deleted now stays in every backup
    /// under this version until it is retired). `None` when no data key is stored.
    pub oldest_live_master: Option<OldestLiveVersion>,
    /// Blind-index key versions and the users indexed under each.
    pub blind_index: Vec<VersionUse>,
    pub blind_index_retired: Vec<u32>,
    /// The kids served in the JWKS.
    pub jwe_kids: Vec<String>,
    /// Rows of older versions not yet sealed under the metadata key (`metadata.rs`).
    pub unsealed: super::Unsealed,
}

impl KeyStatus {
    /// Data keys not under the active master key version.
    pub fn master_pending(&self) -> u64 {
        pending(&self.master)
    }

    /// Data keys not under the newest master key version: what a migration, which
    /// moves every key to a version past all others, has left to do.
    pub fn master_pending_outside_newest(&self) -> u64 {
        let newest = self
            .master
            .iter()
            .filter(|use_| use_.loaded)
            .map(|use_| use_.version)
            .max();
        let rows: i64 = self
            .master
            .iter()
            .filter(|use_| Some(use_.version) != newest)
            .map(|use_| use_.rows)
            .sum();
        u64::try_from(rows).unwrap_or(0)
    }

    /// Users not indexed under the active blind-index key version.
    pub fn blind_index_pending(&self) -> u64 {
        pending(&self.blind_index)
    }
}

fn pending(uses: &[VersionUse]) -> u64 {
    let rows: i64 = uses
        .iter()
        .filter(|use_| !use_.active)
        .map(|use_| use_.rows)
        .sum();
    u64::try_from(rows).unwrap_or(0)
}

/// The job loop every job shares: batches of at most `batch_size` rows after a cursor
/// (the last row's id), until a batch comes back empty or `max_rows` is reached.
/// `process` moves one batch and adds to the report; `progress` hears how many rows
/// each batch looked at.
pub(super) fn walk<Row, Id>(
    connection: &mut DbConnection,
    options: JobOptions,
    mut next_batch: impl FnMut(&mut DbConnection, Option<Id>, i64) -> Result<Vec<Row>, VaultError>,
    id_of: impl Fn(&Row) -> Id,
    mut process: impl FnMut(&mut DbConnection, Vec<Row>, &mut JobReport) -> Result<(), VaultError>,
    progress: &mut dyn FnMut(u64),
) -> Result<JobReport, VaultError> {
    let batch = u64::from(options.batch_size.max(1));
    let mut report = JobReport::default();
    let mut cursor = None;
    loop {
        let limit = match options.max_rows {
            Some(max) if report.processed >= max => break,
            Some(max) => batch.min(max - report.processed),
            None => batch,
        };
        let rows = next_batch(connection, cursor, i64::try_from(limit).unwrap_or(i64::MAX))?;
        let Some(last) = rows.last() else {
            break;
        };
        cursor = Some(id_of(last));
        let looked_at = rows.len() as u64;
        report.processed += looked_at;
        process(connection, rows, &mut report)?;
        progress(looked_at);
    }
    Ok(report)
}

impl Vault {
    /// The keys as the keys dir (or environment) and the token say now: a command may
    /// just have edited them. Read apart from the live keys, which reload on their own
    /// schedule.
    fn fresh_keys(&self) -> Result<KeyMaterial, VaultError> {
        Ok(KeyMaterial::load(self.core.keys.places())?)
    }

    /// Adds master key version N+1 to the configured provider (a key file line or a
    /// token object) as the active one, records when it was made, and raises the
    /// master key floor to it: from then on no instance stores a data key wrapped
    /// under an older version (one that has not reloaded its keys reloads them, or is
    /// refused). Returns N+1.
    pub fn rotate_master(&self) -> anyhow::Result<u32> {
        let version = rotate::rotate_master(self.core.keys.places())?;
        self.raise_master_floor(version)?;
        Ok(version)
    }

    /// Records master key `version` as made now (kept when recorded before) and
    /// raises the floor to it.
    fn raise_master_floor(&self, version: u32) -> Result<(), VaultError> {
        let version = version_column(version);
        let now = crate::time::now();
        self.on_key_store(|connection| {
            floor_rows::record_version(connection, version, now)?;
            floor_rows::raise(connection, version)?;
            Ok(())
        })
    }

    /// Rewraps every data key not under the active master key version.
    pub fn rewrap_data_keys(
        &self,
        options: JobOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<JobReport, VaultError> {
        let keys = self.fresh_keys()?;
        self.rewrap_to(
            &keys.master,
            keys.master.active_version(),
            options,
            progress,
        )
    }

    /// Moves every data key to a master key version held by `to`: the newest one there
    /// when it is past every other version, else a new one made now. Resumable like
    /// the rewrap (run it again to go on); instances keep serving, and open keys under
    /// either provider as long as both are configured. Returns the target version and
    /// what the job did.
    pub fn migrate_master(
        &self,
        to: MasterKeyProvider,
        options: JobOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(u32, JobReport), VaultError> {
        let target = rotate::migration_target(self.core.keys.places(), to)?;
        self.raise_master_floor(target)?;
        let keys = self.fresh_keys()?;
        let report = self.rewrap_to(&keys.master, target, options, progress)?;
        Ok((target, report))
    }

    /// Rewraps every data key not under `target`, first raising the master key floor
    /// to it (keys rotated where the command line cannot record it, as in a secret
    /// manager, get their floor here). A token that stops answering ends the job with
    /// an error (run it again once the token is back); a key that cannot be unwrapped
    /// is skipped and logged.
    fn rewrap_to(
        &self,
        master: &MasterKeyRing,
        target: u32,
        options: JobOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<JobReport, VaultError> {
        let target_column = version_column(target);
        self.on_key_store(|connection| Ok(floor_rows::raise(connection, target_column)?))?;
        self.on_key_store(|connection| {
            walk(
                connection,
                options,
                |connection, after, limit| {
                    Ok(key_rows::batch_not_under(connection, target_column, after, limit)?)
                },
                |row| row.user_id,
                |connection, batch, report| {
                    let mut rewrapped = Vec::with_capacity(batch.len());
                    for row in batch {
                        let wrapped = WrappedDataKey::from_bytes(row.wrapped_key);
                        let user = row.user_id.uuid();
                        match master
                            .unwrap(user, &wrapped)
                            .and_then(|data_key| master.wrap_under(target, user, &data_key))
                        {
                            Ok(again) => rewrapped.push(Rewrapped {
                                user_id: row.user_id,
                                old_version: row.kek_version,
                                wrapped_key: again.as_bytes().to_vec(),
                            }),
                            Err(CryptoError::Unavailable) => {
                                return Err(VaultError::TokenUnavailable)
                            }
                            Err(error) => {
                                tracing::warn!(user_id = %row.user_id, %error, "data key not rewrapped");
                                report.skipped += 1;
                            }
                        }
                    }
                    report.written +=
                        key_rows::write_rewrapped(connection, target_column, &rewrapped)? as u64;
                    Ok(())
                },
                progress,
            )
        })
    }

    /// Recomputes the blind indexes of every user not indexed under the active
    /// blind-index key version (opening the indexed fields with the user's data key).
    pub fn reindex_users(
        &self,
        options: JobOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<JobReport, VaultError> {
        let keys = self.fresh_keys()?;
        let active = keys.blind_index.active_version();
        let core = &self.core;
        crate::db::run(&core.pool, |main| {
            walk(
                main,
                options,
                |main, after, limit| {
                    Ok(user_rows::batch_not_indexed_under(
                        main,
                        version_column(active),
                        after,
                        limit,
                    )?)
                },
                |row| row.id,
                |main, batch, report| {
                    let ids: Vec<UserId> = batch.iter().map(|row| row.id).collect();
                    let wrapped = core.wrapped_keys(main, &ids)?;
                    let mut reindexed = Vec::with_capacity(batch.len());
                    for row in batch {
                        let Some(wrapped) = wrapped.get(&row.id) else {
                            // No data key any more (shredded, rows awaiting removal).
                            report.skipped += 1;
                            continue;
                        };
                        match reindex_one(&keys, active, &row, wrapped) {
                            Ok(new) => reindexed.push(new),
                            Err(error)
                                if error.downcast_ref::<CryptoError>()
                                    == Some(&CryptoError::Unavailable) =>
                            {
                                return Err(VaultError::TokenUnavailable)
                            }
                            Err(error) => {
                                tracing::warn!(id = %row.id, error = %format!("{error:#}"), "user not reindexed");
                                report.skipped += 1;
                            }
                        }
                    }
                    report.written +=
                        user_rows::write_reindexed(main, version_column(active), &reindexed)?
                            as u64;
                    Ok(())
                },
                progress,
            )
        })
    }

    /// Retires master key version `version` where it is held (a key file line, or the
    /// token object, destroyed), refused unless the master key floor is above it (so
    /// no instance can store a new key under it) and no data key is wrapped under it
    /// (or when it is the active version).
    ///
    /// The floor and the count are read in one write transaction that locks the floor
    /// row (`db::wrap_floor`): every wrap that read a floor at or below `version` has
    /// committed before the count, and none can commit after it.
    pub fn retire_master(&self, version: u32) -> anyhow::Result<()> {
        let column = version_column(version);
        let (floor, in_use) = self.on_key_store(|connection| {
            Ok(crate::db::write_transaction(connection, |connection| {
                let floor = floor_rows::lock_for_retirement(connection)?;
                let counts = key_rows::count_by_version(connection)?;
                Ok::<_, crate::db::DbError>((floor, count_of(&counts, version)))
            })?)
        })?;
        if floor <= column {
            bail!("the master key floor is {floor}: instances may still wrap new data keys under version {version}; run `piivault keys rotate-master` (or `keys rewrap` after rotating in your secret manager) first");
        }
        if in_use > 0 {
            bail!("master key version {version} still wraps {in_use} data key(s): run `piivault keys rewrap` until none is left, then retire it");
        }
        rotate::retire_master(self.core.keys.places(), version)
    }

    /// Retires blind-index key version `version`, refused while any user is still
    /// indexed under it (or it is the active version).
    pub fn retire_blind_index(&self, version: u32) -> anyhow::Result<()> {
        let counts = crate::db::run(&self.core.pool, |main| {
            Ok::<_, VaultError>(user_rows::count_by_index_version(main)?)
        })?;
        let in_use = count_of(&counts, version);
        if in_use > 0 {
            bail!("blind-index key version {version} still indexes {in_use} user(s): run `piivault keys reindex` until none is left, then retire it");
        }
        rotate::retire_blind_index(self.core.keys.keys_dir(), version)
    }

    /// Key versions, how much of the database each covers, and the JWE kids.
    pub fn key_status(&self) -> Result<KeyStatus, VaultError> {
        let keys = self.fresh_keys()?;
        let key_counts =
            self.on_key_store(|connection| Ok(key_rows::count_by_version(connection)?))?;
        let index_counts = crate::db::run(&self.core.pool, |main| {
            Ok::<_, VaultError>(user_rows::count_by_index_version(main)?)
        })?;
        let mut master = uses(
            keys.master.versions(),
            keys.master.active_version(),
            &key_counts,
        );
        for use_ in &mut master {
            use_.held_by = keys
                .master
                .custody(use_.version)
                .map(|custody| match custody {
                    crate::crypto::Custody::Process => MasterKeyProvider::File,
                    crate::crypto::Custody::Token => MasterKeyProvider::Pkcs11,
                });
        }
        let oldest = key_counts
            .iter()
            .filter(|(_, rows)| *rows > 0)
            .map(|(version, _)| *version)
            .min();
        let (floor, since) = self.on_key_store(|connection| {
            let since = oldest
                .map(|version| floor_rows::version_since(connection, version))
                .transpose()?
                .flatten();
            Ok((floor_rows::read(connection)?, since))
        })?;
        let now = crate::time::now();
        let oldest_live_master = oldest.zip(since).and_then(|(version, since)| {
            let (since, since_source) = match since {
                VersionSince::Created(at) => (at, SinceSource::Created),
                VersionSince::OldestDataKey(at) => (at, SinceSource::OldestDataKey),
            };
            Some(OldestLiveVersion {
                version: u32::try_from(version).ok()?,
                since,
                since_source,
                age_seconds: (now - since).num_seconds(),
            })
        });
        Ok(KeyStatus {
            master_provider: self.core.keys.places().provider(),
            master,
            master_retired: keys.master.retired_versions().collect(),
            master_floor: u32::try_from(floor).unwrap_or(0),
            oldest_live_master,
            blind_index: uses(
                keys.blind_index.versioned().versions(),
                keys.blind_index.active_version(),
                &index_counts,
            ),
            blind_index_retired: keys.blind_index.versioned().retired_versions().collect(),
            jwe_kids: keys.jwe.kids(),
            unsealed: self.unsealed()?,
        })
    }

    /// Runs `work` on a connection to the database holding `data_keys`.
    fn on_key_store<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        match &self.core.data_keys {
            DataKeyStore::Main => crate::db::run(&self.core.pool, work),
            DataKeyStore::Separate(pool) => crate::db::run(pool, work),
        }
    }
}

/// One user's indexes under the active version.
fn reindex_one(
    keys: &KeyMaterial,
    active: u32,
    row: &IndexSourceRow,
    wrapped: &WrappedDataKey,
) -> anyhow::Result<Reindexed> {
    let data_key = keys.master.unwrap(row.id.uuid(), wrapped)?;
    let open = |column: &str, sealed: &[u8]| open_field(&data_key, row.id, column, sealed);
    // Values were stored in their parsed form; parsing again gives the same
    // normalization the registration indexed.
    let refused = |what: &str| anyhow::anyhow!("stored {what} no longer parses");
    let email = Email::parse(&open("email", &row.email)?).map_err(|_| refused("email"))?;
    let phone = row
        .phone
        .as_deref()
        .map(|sealed| Phone::parse(&open("phone", sealed)?).map_err(|_| refused("phone")))
        .transpose()?;
    let national_id = row
        .national_id
        .as_deref()
        .map(|sealed| {
            NationalId::parse(&open("national_id", sealed)?).map_err(|_| refused("national id"))
        })
        .transpose()?;
    let indexes = UserIndexes::compute(
        &keys.blind_index,
        active,
        &email,
        phone.as_ref(),
        national_id.as_ref(),
    )?;
    Ok(Reindexed {
        id: row.id,
        old_version: row.index_version,
        email_index: indexes.email,
        phone_index: indexes.phone,
        national_id_index: indexes.national_id,
    })
}

fn count_of(counts: &[(i32, i64)], version: u32) -> i64 {
    counts
        .iter()
        .filter(|(v, _)| i64::from(*v) == i64::from(version))
        .map(|(_, count)| *count)
        .sum()
}

fn uses(loaded: impl Iterator<Item = u32>, active: u32, counts: &[(i32, i64)]) -> Vec<VersionUse> {
    let mut versions: Vec<VersionUse> = loaded
        .map(|version| VersionUse {
            version,
            active: version == active,
            loaded: true,
            held_by: None,
            rows: count_of(counts, version),
        })
        .collect();
    for (version, rows) in counts {
        if let Ok(version) = u32::try_from(*version) {
            if !versions.iter().any(|known| known.version == version) {
                versions.push(VersionUse {
                    version,
                    active: false,
                    loaded: false,
                    held_by: None,
                    rows: *rows,
                });
            }
        }
    }
    versions.sort_by_key(|use_| use_.version);
    versions
}
