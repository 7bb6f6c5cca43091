//! What can go wrong in the persistence layer, in terms the HTTP layer can act on.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached (pool exhausted, connection lost, locked).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write.
    #[error("unique constraint violated")]
    Conflict,
    /// A row the write refers to is gone (deleted while the request ran).
    #[error("foreign key violated")]
    MissingReference,
    /// A data key was to be stored wrapped under a master key version below the floor
    /// (`wrap_floor`): the writer's keys are older than a rotation.
    #[error("a data key is wrapped below the master key floor (version {floor})")]
    BelowWrapFloor { floor: i32 },
    #[error("database error: {0}")]
    Query(DieselError),
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict,
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                Self::MissingReference
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::Unavailable(info.message().to_owned()),
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if is_transient(info.message()) =>
            {
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

/// Errors that mean "try again later", not "your request is wrong" or "a bug".
fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 5] = [
        "database is locked",
        "terminating connection",
        "server closed the connection",
        "the database system is shutting down",
        "the database system is starting up",
    ];
    TRANSIENT.iter().any(|needle| message.contains(needle))
}
