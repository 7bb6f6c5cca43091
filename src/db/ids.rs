//! The typed ids (`crate::id`) through the connection enum: diesel's multi-backend
//! hands a bind value to whichever backend the connection is, and reads one back
//! through that backend's own impl.

use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Binary;

use super::connection::{MultiBackend, MultiRawValue};
use crate::id::{AuditId, ClientId, FileId, LinkId, TransactionId, UserId};

macro_rules! through_the_connection_enum {
    ($($id:ty),*) => {$(
        impl ToSql<Binary, MultiBackend> for $id {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Binary, self));
                Ok(serialize::IsNull::No)
            }
        }

        impl FromSql<Binary, MultiBackend> for $id {
            fn from_sql(bytes: MultiRawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, Binary>()
            }
        }
    )*};
}

through_the_connection_enum!(UserId, FileId, TransactionId, ClientId, LinkId, AuditId);
