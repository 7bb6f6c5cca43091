//! Claims checked on their own, before the work they allow: an operation that reads
//! a request body (a registration, an upload, an export) first refuses a caller
//! without the scope. Under load many such checks arrive together; they are made
//! together too, one query for all the tokens waiting (`group_commit.rs`), instead of
//! a query and a blocking-thread hop each.

use std::sync::Arc;

use super::group_commit::Batch;
use super::{Vault, VaultError};
use crate::access::{Caller, Claim, Quotas};
use crate::db::DbConnection;
use crate::keys::LiveKeys;

/// Checks of claims, many a query; each check teaches the quotas its client's limits.
pub(crate) struct ClaimChecks {
    pub quotas: Arc<Quotas>,
    /// Whose metadata key digests the tokens and checks the client rows' MACs.
    pub keys: Arc<LiveKeys>,
}

impl Batch for ClaimChecks {
    type Unit = Claim;
    type Outcome = Result<Caller, VaultError>;
    const THREAD_NAME: &'static str = "check-claims";

    fn commit(
        &self,
        connection: &mut DbConnection,
        claims: Vec<Claim>,
    ) -> Result<Vec<Self::Outcome>, VaultError> {
        let claims: Vec<&Claim> = claims.iter().collect();
        let keys = self.keys.current();
        Ok(Claim::check_many(connection, &keys.metadata, &claims)?
            .into_iter()
            .zip(&claims)
            .map(|(checked, claim)| {
                let caller = checked?;
                self.quotas
                    .learn(claim.token.hash(), caller.client_id, caller.limits);
                Ok(caller)
            })
            .collect())
    }
}

impl Vault {
    /// Checks a claim on its own: for operations that must refuse a caller before
    /// reading its request body.
    pub async fn authorise(&self, claim: Claim) -> Result<Caller, VaultError> {
        self.core.claims.commit(claim).await?
    }
}
