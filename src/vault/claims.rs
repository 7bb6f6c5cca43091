//! Claims checked on their own, before the work they allow: an operation that reads
//! a request body (a registration, an upload, an export) first refuses a caller
//! without the scope. Under load many such checks arrive together; they are made
//! together too, one query for all the tokens waiting (`group_commit.rs`), instead of
//! a query and a blocking-thread hop each.

use super::group_commit::Batch;
use super::{Vault, VaultError};
use crate::access::{Caller, Claim};
use crate::db::DbConnection;

/// Checks of claims, many a query.
pub(crate) struct ClaimChecks;

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
        Ok(Claim::check_many(connection, &claims)?
            .into_iter()
            .map(|checked| checked.map_err(VaultError::from))
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
