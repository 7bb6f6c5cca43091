//! POST /users: the JWE is decrypted, validated and sealed on a blocking thread, then
//! the new user is stored together with the registrations of concurrent requests, in
//! one transaction (`group_commit.rs`). Each request is answered only once that
//! transaction has committed; a duplicate email refuses its own registration (409)
//! and none of the others, and a transaction that fails fails every registration it
//! held. Before it writes, the committer checks the registrations' tokens again (one
//! query): the check that decides, since the one before decrypting may have been
//! answered from a recent check (`claims.rs`).
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
use crate::access::Claim;
use crate::db::data_keys as key_rows;
use crate::db::users::{self as rows, NewDataKeyRow, Registration};
use crate::db::{self, wrap_floor, DbConnection};
use crate::domain::NewUser;
use crate::id::UserId;

const DUPLICATE_EMAIL: &str = "A user with this email is already registered.";

/// What the committers need to store new users.
pub(crate) struct Registrations {
    data_keys: DataKeyStore,
    claims: ClaimChecks,
}

/// A sealed user and the claim of the request that registers it.
pub(crate) struct PendingUser {
    claim: Claim,
    sealed: SealedUser,
}

impl Registrations {
    pub fn new(data_keys: DataKeyStore, claims: ClaimChecks) -> Self {
        Self { data_keys, claims }
    }
}

impl Batch for Registrations {
    type Unit = PendingUser;
    type Outcome = Result<Registered, VaultError>;
    const THREAD_NAME: &'static str = "commit-users";

    /// Checks each registration's claim again, the check that decides (`claims.rs`):
    /// a registration whose token was revoked or lost the scope since its first check
    /// is refused (401, 403) and not stored; the others are stored together.
    fn commit(
        &self,
        connection: &mut DbConnection,
        pending: Vec<PendingUser>,
    ) -> Result<Vec<Self::Outcome>, VaultError> {
        let claims: Vec<&Claim> = pending.iter().map(|user| &user.claim).collect();
        let checked = self.claims.check(connection, &claims)?;
        let authorised: Vec<&SealedUser> = pending
            .iter()
            .zip(&checked)
            .filter(|(_, checked)| checked.is_ok())
            .map(|(user, _)| &user.sealed)
            .collect();
        let mut stored = if authorised.is_empty() {
            Vec::new()
        } else {
            self.store(connection, &authorised)?
        }
        .into_iter();
        Ok(checked
            .into_iter()
            .map(|checked| {
                checked?;
                stored.next().unwrap_or_else(|| {
                    Err(VaultError::Internal(anyhow::anyhow!(
                        "fewer users stored than were authorised"
                    )))
                })
            })
            .collect())
    }
}

impl Registrations {
    /// Stores `users` in one transaction: for each, in order, its registration or the
    /// conflict that refused it (a duplicate email).
    fn store(
        &self,
        connection: &mut DbConnection,
        users: &[&SealedUser],
    ) -> Result<Vec<Result<Registered, VaultError>>, VaultError> {
        let stored = match self.data_keys.connection()? {
            None => {
                let registrations: Vec<Registration<'_>> = users
                    .iter()
                    .map(|user| Registration {
                        row: &user.row,
                        key: Some(&user.key),
                        email_indexes_elsewhere: &user.email_indexes_elsewhere,
                    })
                    .collect();
                db::write_transaction(connection, |connection| {
                    wrap_floor::check_wraps(
                        connection,
                        users.iter().map(|user| user.key.kek_version),
                    )?;
                    rows::insert_new(connection, &registrations)
                })?
            }
            Some(mut keys) => {
                let new_keys: Vec<NewDataKeyRow> =
                    users.iter().map(|user| user.key.clone()).collect();
                key_rows::insert_many(&mut keys, &new_keys)?;
                let registrations: Vec<Registration<'_>> = users
                    .iter()
                    .map(|user| Registration {
                        row: &user.row,
                        key: None,
                        email_indexes_elsewhere: &user.email_indexes_elsewhere,
                    })
                    .collect();
                let stored = db::write_transaction(connection, |connection| {
                    rows::insert_new(connection, &registrations)
                });
                let refused: Vec<UserId> = match &stored {
                    Ok(stored) => users
                        .iter()
                        .zip(stored)
                        .filter(|(_, stored)| !**stored)
                        .map(|(user, _)| user.id)
                        .collect(),
                    Err(_) => users.iter().map(|user| user.id).collect(),
                };
                for id in refused {
                    if let Err(error) = key_rows::delete(&mut keys, id) {
                        tracing::warn!(%id, %error, "could not remove the data key of a refused user");
                    }
                }
                stored?
            }
        };
        Ok(users
            .iter()
            .zip(stored)
            .map(|(user, stored)| {
                if stored {
                    Ok(Registered {
                        id: user.id,
                        created_at: user.created_at,
                    })
                } else {
                    Err(VaultError::Conflict(DUPLICATE_EMAIL))
                }
            })
            .collect())
    }
}

impl Vault {
    /// POST /users, once `claim` passed its first check ([`Vault::authorise_registration`]):
    /// decrypts and validates the JWE body and seals the new user under a fresh data
    /// key, then checks the claim again and stores the user in one commit; answers once
    /// the user is committed.
    ///
    /// A data key wrapped under a master key version below the floor (another machine
    /// rotated, this instance has not reloaded yet) is refused by the commit; the
    /// instance then reloads its keys once and seals the user again. Still below the
    /// floor, it answers 503 rather than wrap under a version about to be retired.
    pub async fn register(&self, claim: Claim, body: JweBody) -> Result<Registered, VaultError> {
        // The blocking thread that seals the user queues it for the committer itself,
        // and this request is woken once, when it is committed (a thread hand-off
        // fewer than waiting for the sealing first: BENCHMARKS.md, issue 16).
        let (answer, outcome) = oneshot::channel();
        let committed_claim = claim.clone();
        let prepared = self.blocking(move |core| {
            let object = decrypt_object(core, &body)?;
            let new_user = NewUser::parse(&object).map_err(VaultError::Validation)?;
            let (sealed, _) = seal_new(&core.keys.current(), &new_user)?;
            let pending = PendingUser {
                claim: committed_claim,
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
                    .commit(PendingUser { claim, sealed })
                    .await?
            }
            outcome => outcome,
        }
    }
}
