//! `GET /metrics`: the instance's counters, with the gauges that are read rather than
//! counted (pool occupancy, key versions and the data keys under each) brought up to
//! date at scrape time. The pool reports its waits through [`PoolEvents`].

use std::sync::Arc;

use diesel::r2d2::{event, HandleEvent};

use super::{Vault, VaultError};
use crate::access::Claim;
use crate::db::data_keys;
use crate::metrics::{KeyUse, Metrics, PoolState};

impl Vault {
    /// The metrics text for a caller holding the `metrics` scope. One trip: the claim
    /// and the data-key counts on one connection (plus the key store's, if separate).
    pub async fn metrics_text(&self, claim: Claim) -> Result<String, VaultError> {
        self.as_client(claim, |core, connection, _| {
            let by_version = core
                .data_keys
                .with_connection(connection, |keys| Ok(data_keys::count_by_version(keys)?))?;
            let keys = core.keys.current();
            core.metrics.set_keys(&KeyUse {
                loaded_versions: keys.master.versions().count(),
                active_version: keys.master.active_version(),
                data_keys_by_version: by_version
                    .into_iter()
                    .map(|(version, count)| (u32::try_from(version).unwrap_or(0), count))
                    .collect(),
            });
            let refused = core.quotas.refusals();
            core.metrics.set_rate_limited(&refused);
            let state = core.pool.state();
            core.metrics.set_pool(PoolState {
                open: state.connections,
                idle: state.idle_connections,
                max: core.pool.max_size(),
            });
            Ok(core.metrics.render())
        })
        .await
    }
}

/// Reports the main pool's check-out waits and timeouts.
#[derive(Debug)]
pub(super) struct PoolEvents(pub Arc<Metrics>);

impl HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: event::CheckoutEvent) {
        self.0.pool_waited(event.duration());
    }

    fn handle_timeout(&self, event: event::TimeoutEvent) {
        self.0.pool_waited(event.timeout());
        self.0.pool_timed_out();
    }
}
