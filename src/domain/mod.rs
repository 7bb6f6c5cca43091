//! Parse-only domain types. Wire data becomes a domain value through exactly one door
//! per type (`parse`), so a value that exists is a valid one. Error messages describe
//! what is wrong with a value and never repeat the value itself.

mod fields;
mod file;
mod money;
mod new_user;
mod period;
mod transaction;
mod unknown;

pub use fields::{Address, DateOfBirth, Email, NationalId, PersonName, Phone};
pub use file::{FileName, MediaType};
pub use money::{Currency, MAX_MINOR_UNITS};
pub use new_user::{FieldErrors, NewUser};
pub use period::Period;
pub use transaction::{NewTransaction, Reference, MAX_BATCH};
pub use unknown::check_names;
