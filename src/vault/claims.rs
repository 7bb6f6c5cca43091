//! Claims checked on their own, before the work they allow: an operation that reads
//! a request body (a registration, an upload, an export) first refuses a caller
//! without the scope. Under load many such checks arrive together; they are made
//! together too, one query for all the tokens waiting (`group_commit.rs`), instead of
//! a query and a blocking-thread hop each.
//!
//! A registration is the one operation whose claim is checked twice: before its body
//! is decrypted, so that a caller without a valid token and the scope cannot make the
//! service spend an RSA operation, and again by the transaction that stores the user
//! (`registrations.rs`), which is the check that decides. The first check may
//! therefore be answered by one of the same token that passed in the last
//! [`RECENT_CHECK_TTL`] ([`RecentCallers`]): under load that saves each registration a
//! query and two thread hand-offs, and a token revoked meanwhile still stores nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::group_commit::Batch;
use super::{Vault, VaultError};
use crate::access::{Caller, Claim, Quotas};
use crate::db::DbConnection;
use crate::keys::LiveKeys;

/// How long a passed check answers a registration's first check of the same token.
const RECENT_CHECK_TTL: Duration = Duration::from_secs(1);

/// Most tokens remembered at once; far more than there are clients. When full, the
/// memory is cleared: the next checks go to the database.
const MAX_RECENT: usize = 10_000;

/// Checks of claims, many a query; each passed check teaches the quotas its client's
/// limits and is remembered for a registration's first check.
#[derive(Clone)]
pub(crate) struct ClaimChecks {
    pub quotas: Arc<Quotas>,
    /// Whose metadata key digests the tokens and checks the client rows' MACs.
    pub keys: Arc<LiveKeys>,
    pub recent: Arc<RecentCallers>,
}

impl ClaimChecks {
    /// Checks `claims` with one query on `connection`: for each, in order, its caller
    /// or why it is refused.
    pub fn check(
        &self,
        connection: &mut DbConnection,
        claims: &[&Claim],
    ) -> Result<Vec<Result<Caller, VaultError>>, VaultError> {
        let keys = self.keys.current();
        Ok(Claim::check_many(connection, &keys.metadata, claims)?
            .into_iter()
            .zip(claims)
            .map(|(checked, claim)| {
                let caller = checked?;
                let token_hash = claim.token.hash();
                self.quotas
                    .learn(token_hash, caller.client_id, caller.limits);
                self.recent.remember(token_hash, &caller);
                Ok(caller)
            })
            .collect())
    }
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
        self.check(connection, &claims)
    }
}

/// Callers whose claims passed a check in the last [`RECENT_CHECK_TTL`], by token hash.
#[derive(Default)]
pub(crate) struct RecentCallers {
    callers: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

impl RecentCallers {
    fn remember(&self, token_hash: [u8; 32], caller: &Caller) {
        let mut callers = self.callers.lock().unwrap_or_else(PoisonError::into_inner);
        if callers.len() >= MAX_RECENT && !callers.contains_key(&token_hash) {
            callers.clear();
        }
        callers.insert(token_hash, (caller.clone(), Instant::now()));
    }

    /// The caller of `claim`'s token if a check of it passed in the last
    /// [`RECENT_CHECK_TTL`] and the client held the claim's scope then.
    fn recall(&self, claim: &Claim) -> Option<Caller> {
        let callers = self.callers.lock().unwrap_or_else(PoisonError::into_inner);
        let (caller, checked_at) = callers.get(&claim.token.hash())?;
        (checked_at.elapsed() < RECENT_CHECK_TTL && caller.holds(claim.scope))
            .then(|| caller.clone())
    }
}

/// How a registration's first check was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstCheck {
    /// By the database, now.
    Checked,
    /// By a check of the same token that passed in the last second: the token may
    /// have been revoked since, so an error the request meets before its commit has
    /// checked the claim again must be confirmed ([`Vault::authorise`]) before it is
    /// sent, or a revoked caller would learn about its body instead of getting 401.
    Recalled,
}

impl Vault {
    /// Checks a claim on its own: for operations that must refuse a caller before
    /// reading its request body.
    pub async fn authorise(&self, claim: Claim) -> Result<Caller, VaultError> {
        self.core.claims.commit(claim).await?
    }

    /// A registration's first check, before its body is decrypted: answered by a
    /// check of the same token that passed in the last second if there is one, else
    /// by the database. The registration's commit checks the claim again.
    pub async fn authorise_registration(
        &self,
        claim: &Claim,
    ) -> Result<(Caller, FirstCheck), VaultError> {
        if let Some(caller) = self.core.recent_callers.recall(claim) {
            claim.note_client(caller.client_id);
            return Ok((caller, FirstCheck::Recalled));
        }
        let caller = self.authorise(claim.clone()).await?;
        Ok((caller, FirstCheck::Checked))
    }
}
