//! The MAC that binds an `api_clients` row: its id, name, token digest, scopes,
//! revoked state and limits, under the metadata key (`crypto::MetadataKey`, label
//! `piivault/v1/api_clients.mac`; the bytes are in docs/formats.md). Written whenever
//! the service writes one of those columns, checked wherever a token is accepted: a
//! row forged or edited in the database is refused as an unknown token would be, and
//! logged as a warning naming the client id only.

use crate::crypto::MetadataKey;
use crate::db::clients::{CallerRow, ClientRow, LimitColumns};
use crate::id::ClientId;

const LABEL: &str = "piivault/v1/api_clients.mac";

/// The columns of a client row that decide what its token may do.
#[derive(Debug, Clone, Copy)]
pub struct SealedClient<'a> {
    pub id: ClientId,
    pub name: &'a str,
    pub token_hash: &'a [u8],
    /// As stored: comma-separated scope names.
    pub scopes: &'a str,
    pub revoked: bool,
    pub limits: LimitColumns,
}

impl SealedClient<'_> {
    /// The row's MAC.
    pub fn mac(&self, key: &MetadataKey) -> [u8; 32] {
        self.with_fields(|fields| key.row_mac(LABEL, fields))
    }

    /// Whether `mac` is this row's; a row without one (not yet sealed) is not.
    fn verifies(&self, key: &MetadataKey, mac: Option<&[u8]>) -> bool {
        mac.is_some_and(|mac| self.with_fields(|fields| key.verify_row(LABEL, fields, mac)))
    }

    fn with_fields<T>(&self, use_fields: impl FnOnce(&[&[u8]]) -> T) -> T {
        let id = self.id.uuid();
        let limits = [
            self.limits.rate_per_second,
            self.limits.burst,
            self.limits.max_concurrent,
        ]
        .map(i32::to_be_bytes);
        use_fields(&[
            id.as_bytes(),
            self.name.as_bytes(),
            self.token_hash,
            self.scopes.as_bytes(),
            &[u8::from(self.revoked)],
            &limits[0],
            &limits[1],
            &limits[2],
        ])
    }
}

impl<'a> From<&'a ClientRow> for SealedClient<'a> {
    fn from(row: &'a ClientRow) -> Self {
        Self {
            id: row.id,
            name: &row.name,
            token_hash: &row.token_hash,
            scopes: &row.scopes,
            revoked: row.revoked_at.is_some(),
            limits: row.limits,
        }
    }
}

impl<'a> From<&'a CallerRow> for SealedClient<'a> {
    /// A caller row is an active client's (its query reads only those).
    fn from(row: &'a CallerRow) -> Self {
        Self {
            id: row.id,
            name: &row.name,
            token_hash: &row.token_hash,
            scopes: &row.scopes,
            revoked: false,
            limits: row.limits,
        }
    }
}

/// Whether an active client's row, as read to accept its token, carries its MAC. A
/// row that does not was forged or edited in the database (or predates the metadata
/// key and was never sealed): it is logged and its token refused.
pub fn authentic(key: &MetadataKey, row: &CallerRow) -> bool {
    let authentic = SealedClient::from(row).verifies(key, row.mac.as_deref());
    if !authentic {
        tracing::warn!(
            client = %row.id,
            "an api_clients row fails its MAC (edited or forged in the database, or never sealed): its token is refused"
        );
    }
    authentic
}

/// Whether a client row as listed or about to be changed carries its MAC.
pub fn row_is_authentic(key: &MetadataKey, row: &ClientRow) -> bool {
    SealedClient::from(row).verifies(key, row.mac.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn every_sealed_column_counts() {
        let key = MetadataKey::new(SecretKey::from_bytes([1; 32]));
        let client = SealedClient {
            id: ClientId::generate(),
            name: "app",
            token_hash: &[2; 32],
            scopes: "users:write",
            revoked: true,
            limits: LimitColumns {
                rate_per_second: 10,
                burst: 20,
                max_concurrent: 4,
            },
        };
        let mac = client.mac(&key);
        assert!(client.verifies(&key, Some(&mac)));
        assert!(!client.verifies(&key, None), "unsealed");
        let edits = [
            SealedClient {
                id: ClientId::generate(),
                ..client
            },
            SealedClient {
                name: "other",
                ..client
            },
            SealedClient {
                token_hash: &[3; 32],
                ..client
            },
            SealedClient {
                scopes: "users:write,users:read",
                ..client
            },
            SealedClient {
                revoked: false,
                ..client
            },
            SealedClient {
                limits: LimitColumns {
                    burst: 21,
                    ..client.limits
                },
                ..client
            },
        ];
        for (n, edited) in edits.iter().enumerate() {
            assert!(!edited.verifies(&key, Some(&mac)), "edit {n}");
        }
    }
}
