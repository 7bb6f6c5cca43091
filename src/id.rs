//! Typed ids. Every row is keyed by a UUID (v7 for what piivault creates, so ids order
//! by creation time); each kind of row has its own newtype, so a `FileId` can never be
//! passed where a `UserId` is wanted. Stored as 16 bytes (`Binary`) on both databases;
//! the diesel impls below read and write them, so no code outside this file slices
//! bytes into ids or ids into bytes. (The impls for the connection enum's
//! multi-backend live with it, in `db`: this module sits below every other.)

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Binary;
use diesel::sqlite::Sqlite;
use uuid::Uuid;

/// What every id type is: a UUID under its own name.
pub trait Id: Copy + From<Uuid> + Into<Uuid> {
    /// An id as written in a path or query: exactly as piivault writes ids, a
    /// lowercase hyphenated UUID (`None` otherwise). One spelling per resource: the
    /// braced, `urn:uuid:`, upper-case and 32-hex spellings name the same UUID, and
    /// accepting them would give one resource several paths in caches, logs and
    /// access rules.
    fn parse(text: &str) -> Option<Self> {
        let uuid = Uuid::try_parse(text).ok()?;
        let mut buffer = Uuid::encode_buffer();
        let written: &str = uuid.hyphenated().encode_lower(&mut buffer);
        (written == text).then(|| Self::from(uuid))
    }
}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = Binary)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id: a UUIDv7, so newer rows sort after older ones.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl Id for $name {}

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl ToSql<Binary, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <[u8] as ToSql<Binary, Pg>>::to_sql(self.0.as_bytes(), out)
            }
        }

        impl ToSql<Binary, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                <[u8] as ToSql<Binary, Sqlite>>::to_sql(self.0.as_bytes(), out)
            }
        }

        impl FromSql<Binary, Pg> for $name {
            fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                from_stored(&<Vec<u8> as FromSql<Binary, Pg>>::from_sql(bytes)?).map(Self)
            }
        }

        impl FromSql<Binary, Sqlite> for $name {
            fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                from_stored(&<Vec<u8> as FromSql<Binary, Sqlite>>::from_sql(bytes)?).map(Self)
            }
        }
    )*};
}

ids! {
    /// A user (a person whose data the vault keeps).
    UserId;
    /// A file of a user's.
    FileId;
    /// A transaction of a user's.
    TransactionId;
    /// An API client.
    ClientId;
    /// A statement download link.
    LinkId;
    /// An audit record.
    AuditId;
}

/// A stored id: exactly 16 bytes.
fn from_stored(bytes: &[u8]) -> deserialize::Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|_| "a stored id is not 16 bytes".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_display_and_order_by_creation() {
        use super::Id as _;
        let first = FileId::generate();
        let second = FileId::generate();
        assert!(first < second);
        assert_eq!(FileId::parse(&first.to_string()), Some(first));
        assert_eq!(FileId::parse("not an id"), None);
        assert_eq!(format!("{first:?}"), format!("FileId({first})"));
    }

    #[test]
    fn an_id_has_one_spelling() {
        use super::Id as _;
        let id = UserId::generate();
        let uuid = id.uuid();
        assert_eq!(UserId::parse(&id.to_string()), Some(id));
        for other in [
            uuid.simple().to_string(),
            uuid.braced().to_string(),
            uuid.urn().to_string(),
            uuid.hyphenated().to_string().to_uppercase(),
            format!(" {id}"),
        ] {
            assert_eq!(UserId::parse(&other), None, "{other}");
        }
    }
}
