//! POST /users: the JWE is decrypted, validated and sealed on a blocking thread, then
//! the new user is stored together with the registrations of concurrent requests, in
//! one transaction (`group_commit.rs`). Each request is answered only once that
//! transaction has committed; a duplicate email refuses its own registration (409)
//! and none of the others, and a transaction that fails fails every registration it
//! held.
//!
//! With keys in the main database a user and its wrapped key are stored both or
//! neither (on PostgreSQL one statement for the whole batch). With a separate key
//! store the keys are written there first, then the users; keys of users that were
//! refused are deleted again (best effort: a key left behind opens nothing).

use tokio::sync::oneshot;

use super::data_keys::DataKeyStore;
use super::group_commit::Batch;
use super::payload::{decrypt_object, JweBody};
use super::users::{seal_new, Registered, SealedUser};
use super::{Vault, VaultError};
use crate::db::data_keys as key_rows;
use crate::db::users::{self as rows, NewDataKeyRow, Registration};
use crate::db::DbConnection;
use crate::domain::NewUser;
use crate::id::UserId;

const DUPLICATE_EMAIL: &str = "A user with this email is already registered.";

/// What the committers need to store new users.
pub(crate) struct Registrations {
    data_keys: DataKeyStore,
}

impl Registrations {
    pub fn new(data_keys: DataKeyStore) -> Self {
        Self { data_keys }
    }
}

impl Batch for Registrations {
    type Unit = SealedUser;
    type Outcome = Result<Registered, VaultError>;
    const THREAD_NAME: &'static str = "commit-users";

    fn commit(
        &self,
        connection: &mut DbConnection,
        users: Vec<SealedUser>,
    ) -> Result<Vec<Self::Outcome>, VaultError> {
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
                rows::insert_new(connection, &registrations)?
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
                let stored = rows::insert_new(connection, &registrations);
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
    /// POST /users: decrypts and validates the JWE body and seals the new user under a
    /// fresh data key, then stores it; answers once the user is committed.
    ///
    /// A data key wrapped under a master key version below the floor (another machine
    /// rotated, this instance has not reloaded yet) is refused by the commit; the
    /// instance then reloads its keys once and seals the user again. Still below the
    /// floor, it answers 503 rather than wrap under a version about to be retired.
    pub async fn register(&self, body: JweBody) -> Result<Registered, VaultError> {
        // The blocking thread that seals the user queues it for the committer itself,
        // and this request is woken once, when it is committed (a thread hand-off
        // fewer than waiting for the sealing first: BENCHMARKS.md, issue 16).
        let (answer, outcome) = oneshot::channel();
        let prepared = self.blocking(move |core| {
            let object = decrypt_object(core, &body)?;
            let new_user = NewUser::parse(&object).map_err(VaultError::Validation)?;
            let (sealed, _) = seal_new(&core.keys.current(), &new_user)?;
            core.registrations.submit(sealed, answer);
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
                self.core.registrations.commit(sealed).await?
            }
            outcome => outcome,
        }
    }
}
