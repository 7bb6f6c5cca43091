//! Key lifecycle work that needs the database: the resumable jobs that move data
//! keys to the active master key (rewrap) and users to the active blind-index key
//! (reindex), the checks that refuse to retire a version still in use, and the
//! status report. Key files themselves are edited by `keys::rotate`.
//!
//! Both jobs walk the table in primary-key order with a cursor, in batches, and
//! write each row only where it still holds the version they read
//! (`... WHERE kek_version = old`): running a job twice, two jobs at once, or a job
//! next to serving instances is safe, and an interrupted job resumes by running it
//! again (rows already moved are no longer selected).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context as _};
use indicatif::ProgressBar;
use uuid::Uuid;

use crate::crypto::{MasterKeyRing, WrappedDataKey};
use crate::db::data_keys::{self, Rewrapped};
use crate::db::users::{self as user_rows, Reindexed};
use crate::db::{version_column, DbConnection};
use crate::domain::{Email, NationalId, Phone};
use crate::keys::{rotate, KeyMaterial};
use crate::keystore::DataKeyStore;
use crate::users::open_field;

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

/// Rewraps every data key not under the active master key version. `keys` is the
/// database holding `data_keys` (the key store).
pub fn rewrap_data_keys(
    keys: &mut DbConnection,
    master: &MasterKeyRing,
    options: JobOptions,
    progress: &ProgressBar,
) -> anyhow::Result<JobReport> {
    let active = version_column(master.active_version());
    let mut report = JobReport::default();
    let mut cursor: Option<Vec<u8>> = None;
    while let Some(limit) = next_limit(options, report.processed) {
        let batch = data_keys::batch_not_under(keys, active, cursor.as_deref(), limit)?;
        let Some(last) = batch.last() else {
            break;
        };
        cursor = Some(last.user_id.clone());
        let batch_len = batch.len() as u64;
        let mut rewrapped = Vec::with_capacity(batch.len());
        for row in batch {
            report.processed += 1;
            let Ok(user_id) = Uuid::from_slice(&row.user_id) else {
                report.skipped += 1;
                continue;
            };
            let wrapped = WrappedDataKey::from_bytes(row.wrapped_key);
            match master
                .unwrap(user_id, &wrapped)
                .and_then(|data_key| master.wrap(user_id, &data_key))
            {
                Ok(again) => rewrapped.push(Rewrapped {
                    user_id: row.user_id,
                    old_version: row.kek_version,
                    wrapped_key: again.as_bytes().to_vec(),
                }),
                Err(error) => {
                    tracing::warn!(%user_id, %error, "data key not rewrapped");
                    report.skipped += 1;
                }
            }
        }
        report.written += data_keys::write_rewrapped(keys, active, &rewrapped)? as u64;
        progress.inc(batch_len);
    }
    Ok(report)
}

/// Recomputes the blind indexes of every user not indexed under the active
/// blind-index key version (opening the indexed fields with the user's data key).
pub fn reindex_users(
    main: &mut DbConnection,
    store: &DataKeyStore,
    keys: &KeyMaterial,
    options: JobOptions,
    progress: &ProgressBar,
) -> anyhow::Result<JobReport> {
    let active = version_column(keys.blind_index.active_version());
    let mut report = JobReport::default();
    let mut cursor: Option<Vec<u8>> = None;
    let mut key_connection = store.connection()?;
    while let Some(limit) = next_limit(options, report.processed) {
        let batch = user_rows::batch_not_indexed_under(main, active, cursor.as_deref(), limit)?;
        let Some(last) = batch.last() else {
            break;
        };
        cursor = Some(last.id.clone());
        let ids: Vec<Vec<u8>> = batch.iter().map(|row| row.id.clone()).collect();
        let wrapped: HashMap<Vec<u8>, Vec<u8>> = match key_connection.as_mut() {
            None => data_keys::find_many(main, &ids)?,
            Some(connection) => data_keys::find_many(connection, &ids)?,
        }
        .into_iter()
        .collect();
        let mut reindexed = Vec::with_capacity(batch.len());
        for row in batch {
            report.processed += 1;
            progress.inc(1);
            match reindex_one(keys, &row, wrapped.get(&row.id)) {
                Ok(Some(new)) => reindexed.push(new),
                Ok(None) => report.skipped += 1,
                Err(error) => {
                    let id = Uuid::from_slice(&row.id).unwrap_or_default();
                    tracing::warn!(%id, %error, "user not reindexed");
                    report.skipped += 1;
                }
            }
        }
        report.written += user_rows::write_reindexed(main, active, &reindexed)? as u64;
    }
    Ok(report)
}

/// One user's indexes under the active version; `None` when the user has no data key
/// any more (shredded, rows awaiting removal).
fn reindex_one(
    keys: &KeyMaterial,
    row: &user_rows::IndexSourceRow,
    wrapped: Option<&Vec<u8>>,
) -> anyhow::Result<Option<Reindexed>> {
    let Some(wrapped) = wrapped else {
        return Ok(None);
    };
    let id = Uuid::from_slice(&row.id).context("a user id is 16 bytes")?;
    let data_key = keys
        .master
        .unwrap(id, &WrappedDataKey::from_bytes(wrapped.clone()))?;
    let open = |column: &str, sealed: &[u8]| open_field(&data_key, id, column, sealed);
    let index =
        |column: &str, normalized: &str| keys.blind_index.index(column, normalized).0.to_vec();
    // Values were stored in their parsed form; parsing again gives the same
    // normalization the registration indexed.
    let email = Email::parse(&open("email", &row.email)?)
        .map_err(|_| anyhow::anyhow!("stored email no longer parses"))?;
    let phone = row
        .phone
        .as_deref()
        .map(|sealed| -> anyhow::Result<String> {
            let phone = Phone::parse(&open("phone", sealed)?)
                .map_err(|_| anyhow::anyhow!("stored phone no longer parses"))?;
            Ok(phone.normalized())
        })
        .transpose()?;
    let national_id = row
        .national_id
        .as_deref()
        .map(|sealed| -> anyhow::Result<String> {
            let national_id = NationalId::parse(&open("national_id", sealed)?)
                .map_err(|_| anyhow::anyhow!("stored national id no longer parses"))?;
            Ok(national_id.normalized())
        })
        .transpose()?;
    Ok(Some(Reindexed {
        id: row.id.clone(),
        old_version: row.index_version,
        email_index: index("email", &email.normalized()),
        phone_index: phone.map(|phone| index("phone", &phone)),
        national_id_index: national_id.map(|national_id| index("national_id", &national_id)),
    }))
}

/// How many rows the next batch may take, or `None` when `max_rows` is reached.
fn next_limit(options: JobOptions, processed: u64) -> Option<i64> {
    let batch = u64::from(options.batch_size.max(1));
    let limit = match options.max_rows {
        Some(max) if processed >= max => return None,
        Some(max) => batch.min(max - processed),
        None => batch,
    };
    i64::try_from(limit).ok()
}

/// Retires master key version `version` in the keys dir, refused while any data key
/// is still wrapped under it (or it is the active version).
pub fn retire_master(keys: &mut DbConnection, keys_dir: &Path, version: u32) -> anyhow::Result<()> {
    let in_use = count_of(&data_keys::count_by_version(keys)?, version);
    if in_use > 0 {
        bail!("master key version {version} still wraps {in_use} data key(s): run `piivault keys rewrap` until none is left, then retire it");
    }
    rotate::retire_master(keys_dir, version)
}

/// Retires blind-index key version `version`, refused while any user is still
/// indexed under it (or it is the active version).
pub fn retire_blind_index(
    main: &mut DbConnection,
    keys_dir: &Path,
    version: u32,
) -> anyhow::Result<()> {
    let in_use = count_of(&user_rows::count_by_index_version(main)?, version);
    if in_use > 0 {
        bail!("blind-index key version {version} still indexes {in_use} user(s): run `piivault keys reindex` until none is left, then retire it");
    }
    rotate::retire_blind_index(keys_dir, version)
}

fn count_of(counts: &[(i32, i64)], version: u32) -> i64 {
    counts
        .iter()
        .filter(|(v, _)| i64::from(*v) == i64::from(version))
        .map(|(_, count)| *count)
        .sum()
}

/// One key version and how much of the database uses it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionUse {
    pub version: u32,
    pub active: bool,
    /// Whether this instance holds the key (false: rows under a version whose key is
    /// gone cannot be opened).
    pub loaded: bool,
    pub rows: i64,
}

/// What `piivault keys status` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyStatus {
    /// Master key versions and the data keys each wraps.
    pub master: Vec<VersionUse>,
    pub master_retired: Vec<u32>,
    /// Blind-index key versions and the users indexed under each.
    pub blind_index: Vec<VersionUse>,
    pub blind_index_retired: Vec<u32>,
    /// The kids served in the JWKS.
    pub jwe_kids: Vec<String>,
}

pub fn status(
    main: &mut DbConnection,
    store: &DataKeyStore,
    keys: &KeyMaterial,
) -> anyhow::Result<KeyStatus> {
    let key_counts = match store.connection()? {
        None => data_keys::count_by_version(main)?,
        Some(mut connection) => data_keys::count_by_version(&mut connection)?,
    };
    let index_counts = user_rows::count_by_index_version(main)?;
    Ok(KeyStatus {
        master: uses(
            keys.master.versions(),
            keys.master.active_version(),
            &key_counts,
        ),
        master_retired: keys.master.retired_versions().collect(),
        blind_index: uses(
            keys.blind_index.versioned().versions(),
            keys.blind_index.active_version(),
            &index_counts,
        ),
        blind_index_retired: keys.blind_index.versioned().retired_versions().collect(),
        jwe_kids: keys.jwe.kids(),
    })
}

fn uses(loaded: impl Iterator<Item = u32>, active: u32, counts: &[(i32, i64)]) -> Vec<VersionUse> {
    let mut versions: Vec<VersionUse> = loaded
        .map(|version| VersionUse {
            version,
            active: version == active,
            loaded: true,
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
                    rows: *rows,
                });
            }
        }
    }
    versions.sort_by_key(|use_| use_.version);
    versions
}
