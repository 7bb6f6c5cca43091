//! Sealing the rows an older version wrote before the metadata key existed
//! (`piivault keys seal-metadata`): API clients and statement links get their keyed
//! token digest and their MAC, so their tokens and links keep working. Until then
//! they are refused like forged rows.
//!
//! This is an operator's step, never one the service takes on its own: sealing
//! vouches for every unsealed row in the database at that moment, and a row a
//! database writer slipped in without a MAC must not be sealed by the next start.
//! It works in batches, each row rewritten only while it is still unsealed, so it
//! may be interrupted and run again, or run twice at once.

use anyhow::Context as _;

use super::{statement_links, Vault, VaultError};
use crate::access::clients::{self, Sealed};
use crate::db::clients as client_rows;
use crate::db::statement_links as link_rows;
use crate::db::DbConnection;

/// Rows not yet sealed, as `piivault keys status` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Unsealed {
    pub clients: i64,
    pub links: i64,
}

/// Rows looked at per batch.
const BATCH: i64 = 1000;

/// What `piivault keys seal-metadata` did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct SealReport {
    pub clients_sealed: u64,
    pub links_sealed: u64,
}

impl Vault {
    /// Seals every client and link row not yet sealed (module docs).
    pub fn seal_metadata(&self) -> anyhow::Result<SealReport> {
        let keys = self.core.keys.current();
        let key = &keys.metadata;
        let mut report = SealReport::default();
        let mut pooled = self.core.pool.get().context("connecting to the database")?;
        let connection: &mut DbConnection = &mut pooled;
        report.clients_sealed = until_done(|| {
            clients::seal_unsealed(connection, key, BATCH).context("sealing api_clients rows")
        })?;
        report.links_sealed = until_done(|| {
            statement_links::seal_unsealed_links(connection, key, BATCH)
                .context("sealing statement_links rows")
        })?;
        Ok(report)
    }
}

impl Vault {
    /// Says in the log, at start, that rows of an older version wait to be sealed:
    /// until then their tokens and links are refused without a word per request.
    pub(super) fn warn_if_unsealed(&self) {
        match self.unsealed() {
            Ok(Unsealed { clients, links }) if clients + links > 0 => tracing::warn!(
                clients,
                links,
                "API clients and statement links of an older version are not sealed under the metadata key and are refused: run `piivault keys seal-metadata`"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error, "could not count the rows not yet sealed");
            }
        }
    }

    /// How many client and link rows are not yet sealed.
    pub(super) fn unsealed(&self) -> Result<Unsealed, VaultError> {
        crate::db::run(&self.core.pool, |connection| {
            Ok::<_, VaultError>(Unsealed {
                clients: client_rows::count_unsealed(connection)?,
                links: link_rows::count_unsealed(connection)?,
            })
        })
    }
}

/// Runs batches until one finds nothing left to seal (a row that cannot be sealed is
/// logged and looked at again by the next run, never looped on).
fn until_done(mut batch: impl FnMut() -> anyhow::Result<Sealed>) -> anyhow::Result<u64> {
    let mut sealed = 0;
    loop {
        let done = batch()?;
        sealed += done.sealed as u64;
        if done.sealed == 0 || i64::try_from(done.looked_at).unwrap_or(i64::MAX) < BATCH {
            return Ok(sealed);
        }
    }
}
