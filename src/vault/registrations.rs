//! POST /users: the JWE is decrypted, validated and sealed on a blocking thread, then
//! the new user is stored together with the registrations of concurrent requests, in
//! one transaction (`group_commit.rs`). Each request is answered only once that
//! transaction has committed; a duplicate email refuses its own registration (409)
//! and none of the others, and a transaction that fails fails every registration it
//! held.
//!
//! The transaction also makes the check of the token that decides: a user is stored
//! only if its client's row is still the one its first check verified (same token
//! digest and MAC, not revoked), since that check, before decrypting, may have been
//! answered from a recent one (`claims.rs`). A registration whose client row changed
//! is checked again in full (one query for all of them); a token revoked or stripped
//! of the scope is refused (401, 403) and nothing is stored, and one whose row changed
//! otherwise (its limits, its MAC under a new metadata key) is stored under the row as
//! checked now.
//!
//! With keys in the main database a user and its wrapped key are stored both or
//! neither (on PostgreSQL one statement for the whole batch). With a separate key
//! store the keys are written there first, then the users; keys of users that were
//! refused are deleted again (best effort: a key left behind opens nothing).

use tokio::sync::oneshot;

use super::claims::ClaimChecks;
use super::data_keys::DataKeyStore;
use super::group_commit::Batch;
use super::payload::{decrypt_object, JweBody};
use super::users::{seal_new, Registered, SealedUser};
use super::{Vault, VaultError};
use crate::access::{Caller, Claim};
use crate::db::data_keys as key_rows;
use crate::db::users::{self as rows, NewDataKeyRow, Registration, Stored};
use crate::db::DbConnection;
use crate::domain::NewUser;
use crate::id::UserId;

const DUPLICATE_EMAIL: &str = "A user with this email is already registered.";

/// What the committers need to store new users.
pub(crate) struct Registrations {
    data_keys: DataKeyStore,
    claims: ClaimChecks,
}

/// A sealed user, the claim of the request that registers it and the client its
/// first check found.
pub(crate) struct PendingUser {
    claim: Claim,
    caller: Caller,
    sealed: SealedUser,
}

impl Registrations {
    pub fn new(data_keys: DataKeyStore, claims: ClaimChecks) -> Self {
        Self { data_keys, claims }
    }
}

impl Batch for Registrations {
    type Unit = PendingUser;
    type Outcome = Answer;
    const THREAD_NAME: &'static str = "commit-users";

    fn commit(
        &self,
        connection: &mut DbConnection,
        pending: Vec<PendingUser>,
    ) -> Result<Vec<Self::Outcome>, VaultError> {
        let users: Vec<(&SealedUser, &Caller)> = pending
            .iter()
            .map(|user| (&user.sealed, &user.caller))
            .collect();
        let stored = self.store(connection, &users)?;
        let changed: Vec<usize> = (0..pending.len())
            .filter(|&n| stored[n] == Stored::ClientChanged)
            .collect();
        let mut outcomes: Vec<Self::Outcome> = pending
            .iter()
            .zip(stored)
            .map(|(user, stored)| outcome(user, stored))
            .collect();
        if changed.is_empty() {
            return Ok(outcomes);
        }
        // The others are committed: from here on a failure fails only these.
        match self.store_changed(connection, &pending, &changed) {
            Ok(again) => {
                for (n, outcome) in again {
                    outcomes[n] = outcome;
                }
            }
            Err(error) => {
                tracing::warn!(units = changed.len(), %error, "storing registrations again failed");
                for n in changed {
                    outcomes[n] = Err(error.shared_copy());
                }
            }
        }
        Ok(outcomes)
    }
}

/// What a registration is answered.
type Answer = Result<Registered, VaultError>;

/// A registration's answer from what became of it.
fn outcome(user: &PendingUser, stored: Stored) -> Answer {
    match stored {
        Stored::Stored => Ok(Registered {
            id: user.sealed.id,
            created_at: user.sealed.created_at,
        }),
        Stored::EmailTaken => Err(VaultError::Conflict(DUPLICATE_EMAIL)),
        // Changed again between two statements a moment apart: an administrator is
        // editing the client; nothing was stored, and a retry may pass.
        Stored::ClientChanged => Err(VaultError::Unavailable(
            "the API client changed during the registration; try again".to_owned(),
        )),
    }
}

impl Registrations {
    /// The registrations `changed` (indexes into `pending`), whose client rows changed
    /// since their first check: their claims checked again in full (one query), and
    /// those still allowed stored under the rows as they are now. Each one's outcome,
    /// with its index.
    fn store_changed(
        &self,
        connection: &mut DbConnection,
        pending: &[PendingUser],
        changed: &[usize],
    ) -> Result<Vec<(usize, Answer)>, VaultError> {
        let claims: Vec<&Claim> = changed.iter().map(|&n| &pending[n].claim).collect();
        let checked = self.claims.check(connection, &claims)?;
        let mut outcomes = Vec::with_capacity(changed.len());
        let mut allowed = Vec::new();
        for (&n, checked) in changed.iter().zip(checked) {
            match checked {
                Ok(caller) => allowed.push((n, caller)),
                Err(refusal) => outcomes.push((n, Err(refusal))),
            }
        }
        if allowed.is_empty() {
            return Ok(outcomes);
        }
        let users: Vec<(&SealedUser, &Caller)> = allowed
            .iter()
            .map(|(n, caller)| (&pending[*n].sealed, caller))
            .collect();
        let stored = self.store(connection, &users)?;
        for ((n, _), stored) in allowed.iter().zip(stored) {
            outcomes.push((*n, outcome(&pending[*n], stored)));
        }
        Ok(outcomes)
    }

    /// Stores `users` in one transaction, each only if its client row is still the
    /// one checked: for each, in order, what became of it.
    fn store(
        &self,
        connection: &mut DbConnection,
        users: &[(&SealedUser, &Caller)],
    ) -> Result<Vec<Stored>, VaultError> {
        match self.data_keys.connection()? {
            None => {
                let registrations: Vec<Registration<'_>> = users
                    .iter()
                    .map(|&(user, caller)| registration(user, caller, true))
                    .collect();
                Ok(rows::insert_new(connection, &registrations)?)
            }
            Some(mut keys) => {
                let new_keys: Vec<NewDataKeyRow> =
                    users.iter().map(|(user, _)| user.key.clone()).collect();
                key_rows::insert_many(&mut keys, &new_keys)?;
                let registrations: Vec<Registration<'_>> = users
                    .iter()
                    .map(|&(user, caller)| registration(user, caller, false))
                    .collect();
                let stored = rows::insert_new(connection, &registrations);
                let refused: Vec<UserId> = match &stored {
                    Ok(stored) => users
                        .iter()
                        .zip(stored)
                        .filter(|(_, stored)| **stored != Stored::Stored)
                        .map(|((user, _), _)| user.id)
                        .collect(),
                    Err(_) => users.iter().map(|(user, _)| user.id).collect(),
                };
                for id in refused {
                    if let Err(error) = key_rows::delete(&mut keys, id) {
                        tracing::warn!(%id, %error, "could not remove the data key of a refused user");
                    }
                }
                Ok(stored?)
            }
        }
    }
}

/// `user` as stored, with its key when keys share the main database, if its client row
/// is still the one `caller` was checked against.
fn registration<'a>(user: &'a SealedUser, caller: &'a Caller, with_key: bool) -> Registration<'a> {
    Registration {
        row: &user.row,
        key: with_key.then_some(&user.key),
        email_indexes_elsewhere: &user.email_indexes_elsewhere,
        client: caller.checked_row(),
    }
}

impl Vault {
    /// POST /users, once `claim` passed its first check ([`Vault::authorise_registration`],
    /// which found `caller`): decrypts and validates the JWE body and seals the new user
    /// under a fresh data key, then stores it in a commit that checks the claim again;
    /// answers once the user is committed.
    ///
    /// A data key wrapped under a master key version below the floor (another machine
    /// rotated, this instance has not reloaded yet) is refused by the commit; the
    /// instance then reloads its keys once and seals the user again. Still below the
    /// floor, it answers 503 rather than wrap under a version about to be retired.
    pub async fn register(
        &self,
        claim: Claim,
        caller: Caller,
        body: JweBody,
    ) -> Result<Registered, VaultError> {
        // The blocking thread that seals the user queues it for the committer itself,
        // and this request is woken once, when it is committed (a thread hand-off
        // fewer than waiting for the sealing first: BENCHMARKS.md, issue 16).
        let (answer, outcome) = oneshot::channel();
        let (committed_claim, committed_caller) = (claim.clone(), caller.clone());
        let slot = self.decryption_slot().await?;
        let prepared = self.blocking(move |core| {
            let object = decrypt_object(core, &body, slot)?;
            let new_user = NewUser::parse(&object).map_err(VaultError::Validation)?;
            let (sealed, _) = seal_new(&core.keys.current(), &new_user)?;
            let pending = PendingUser {
                claim: committed_claim,
                caller: committed_caller,
                sealed,
            };
            core.registrations.submit(pending, answer);
            Ok(new_user)
        });
        let Ok(committed) = outcome.await else {
            // The answer was dropped unsent: the preparation failed, and says why.
            prepared.await?;
            return Err(VaultError::Internal(anyhow::anyhow!(
                "a registration was prepared but never committed"
            )));
        };
        // A failed transaction fails the commit itself; a refused unit, its outcome.
        match committed.and_then(std::convert::identity) {
            Err(VaultError::MasterKeyOutdated { floor }) => {
                let new_user = prepared.await?;
                tracing::info!(
                    floor,
                    "a new data key was below the master key floor; reloading the keys"
                );
                let sealed = self
                    .blocking(move |core| {
                        core.keys.reload_logged();
                        let (sealed, _) = seal_new(&core.keys.current(), &new_user)?;
                        Ok(sealed)
                    })
                    .await?;
                self.core
                    .registrations
                    .commit(PendingUser {
                        claim,
                        caller,
                        sealed,
                    })
                    .await?
            }
            outcome => outcome,
        }
    }
}
