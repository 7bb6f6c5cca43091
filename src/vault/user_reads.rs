//! GET /users/{id}: the audited read of one user, committed together with the reads
//! of concurrent requests (`group_commit.rs`). For each request the token and its
//! scope are checked, the user row and its wrapped key are read and the audit record
//! (`user.read`) is written, in one transaction with the others; the user's key is
//! unwrapped only once that transaction has committed, and the request itself opens
//! the user, so the committer is free for the next batch meanwhile. A refused read
//! (unknown token, missing scope, no such user) reads nothing, writes no record and
//! does not disturb the others; a transaction that fails fails every read it held,
//! and none of them is answered.
//!
//! On PostgreSQL with keys in the main database the whole batch is one statement
//! (`db::audited_read`); elsewhere (SQLite, a separate key store) the same steps run
//! one request after another inside one transaction.

use std::sync::Arc;

use super::audit::{self, Action, RequestId};
use super::data_keys::{self, DataKeyCache, DataKeyStore};
use super::group_commit::Batch;
use super::users::{self, UserRecord};
use super::{Vault, VaultError};
use crate::access::{client_mac, Caller, Claim, ClientLimits, Quotas};
use crate::crypto::{DataKey, WrappedDataKey};
use crate::db::audit::{self as audit_rows, AuditStamp};
use crate::db::audited_read::{self, AuditedRead, ReadRequest};
use crate::db::users::UserRow;
use crate::db::{self, DbConnection};
use crate::id::{ClientId, UserId};
use crate::keys::LiveKeys;

/// One request's read of one user.
pub(crate) struct UserRead {
    claim: Claim,
    request: RequestId,
    user: UserId,
}

/// A user row and its wrapped key as read, or why the read was refused.
type Found = Result<(UserRow, Vec<u8>), VaultError>;

/// A read user, committed and not opened yet: its sealed row and its data key.
pub(crate) struct SealedUser {
    row: UserRow,
    data_key: DataKey,
}

/// What the committers need to read and record users and unwrap their keys, and to
/// teach the quotas what each token's client may do.
pub(crate) struct UserReads {
    pub keys: Arc<LiveKeys>,
    pub data_keys: DataKeyStore,
    pub data_key_cache: Arc<DataKeyCache>,
    pub quotas: Arc<Quotas>,
}

impl UserReads {
    /// Notes, for the request log and the quotas, the client `read`'s token belongs to.
    fn learn(&self, read: &UserRead, client: ClientId, limits: ClientLimits) {
        read.claim.note_client(client);
        self.quotas.learn(read.claim.token.hash(), client, limits);
    }

    /// The reads step by step, inside the batch's transaction: the claims checked
    /// with one query, then each user read and its record written. A refusal is that
    /// read's outcome; a database error fails the transaction.
    fn read_each(
        &self,
        connection: &mut DbConnection,
        reads: &[UserRead],
        stamps: impl Iterator<Item = AuditStamp>,
    ) -> Result<Vec<Found>, VaultError> {
        let claims: Vec<&Claim> = reads.iter().map(|read| &read.claim).collect();
        let checked = Claim::check_many(connection, &self.keys.current().metadata, &claims)?;
        let mut found = Vec::with_capacity(reads.len());
        for ((read, stamp), caller) in reads.iter().zip(stamps).zip(checked) {
            let caller: Caller = match caller {
                Ok(caller) => caller,
                Err(refused) => {
                    found.push(Err(refused.into()));
                    continue;
                }
            };
            self.learn(read, caller.client_id, caller.limits);
            let Some(user) = users::find_sealed(&self.data_keys, connection, read.user)? else {
                found.push(Err(VaultError::NotFound));
                continue;
            };
            let record = stamp.into_row(caller.client_id, caller.name, Some(read.user), 1);
            audit_rows::insert(connection, &record)?;
            found.push(Ok(user));
        }
        Ok(found)
    }
}

impl Batch for UserReads {
    type Unit = UserRead;
    type Outcome = Result<SealedUser, VaultError>;
    const THREAD_NAME: &'static str = "commit-reads";

    fn commit(
        &self,
        connection: &mut DbConnection,
        reads: Vec<UserRead>,
    ) -> Result<Vec<Self::Outcome>, VaultError> {
        let stamps = reads
            .iter()
            .map(|read| audit::stamp(&read.request, Action::UserRead));
        let found: Vec<Found> = match (connection, &self.data_keys) {
            (DbConnection::Postgres(connection), DataKeyStore::Main) => {
                let keys = self.keys.current();
                let stamps: Vec<AuditStamp> = stamps.collect();
                let requests: Vec<ReadRequest<'_>> = reads
                    .iter()
                    .zip(&stamps)
                    .map(|(read, stamp)| ReadRequest {
                        token_hash: read.claim.token.digest(&keys.metadata),
                        scope: read.claim.scope.as_str(),
                        user_id: read.user,
                        stamp,
                    })
                    .collect();
                audited_read::read_users(connection, &requests)?
                    .into_iter()
                    .zip(&reads)
                    .map(|(found, read)| {
                        // The statement read what the row said; a row that fails
                        // its MAC is refused here, before anything is opened.
                        match found.holder() {
                            Some(holder) if client_mac::authentic(&keys.metadata, holder) => {
                                let limits = ClientLimits::from_stored(holder.limits);
                                self.learn(read, holder.id, limits);
                            }
                            _ => return Err(VaultError::Unauthorized),
                        }
                        match found {
                            AuditedRead::UnknownToken => Err(VaultError::Unauthorized),
                            AuditedRead::Forbidden(_) => {
                                Err(VaultError::Forbidden(read.claim.scope))
                            }
                            AuditedRead::NoUser(_) => Err(VaultError::NotFound),
                            AuditedRead::Read(_, row, wrapped) => Ok((row, wrapped)),
                        }
                    })
                    .collect()
            }
            (connection, _) => db::write_transaction(connection, |connection| {
                self.read_each(connection, &reads, stamps)
            })?,
        };
        // Committed: only now may the keys be unwrapped (here, where a master key in a
        // token may be asked) and the users opened (by each request, off this thread).
        Ok(found
            .into_iter()
            .map(|found| {
                let (row, wrapped) = found?;
                let wrapped = WrappedDataKey::from_bytes(wrapped);
                let data_key =
                    data_keys::unwrap(&self.keys, &self.data_key_cache, row.id, &wrapped)?;
                Ok(SealedUser { row, data_key })
            })
            .collect())
    }
}

impl Vault {
    /// GET /users/{id}: the user, opened, once the audit record of the read is
    /// committed.
    pub async fn read_user(
        &self,
        claim: Claim,
        request: RequestId,
        user: UserId,
    ) -> Result<UserRecord, VaultError> {
        let read = UserRead {
            claim,
            request,
            user,
        };
        let SealedUser { row, data_key } = self.core.user_reads.commit(read).await??;
        users::open(&row, &data_key)
    }
}
