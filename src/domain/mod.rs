//! Parse-only domain types. Wire data becomes a domain value through exactly one door
//! per type (`parse`), so a value that exists is a valid one. Error messages describe
//! what is wrong with a value and never repeat the value itself. One file per personal
//! field: each has a private value, a `parse` that is the only constructor from wire
//! data, and (where it is looked up) a `normalized` form that feeds the blind index.

mod address;
mod date;
mod date_of_birth;
mod email;
mod file;
mod money;
mod name;
mod national_id;
mod new_user;
mod period;
mod phone;
mod transaction;
mod unknown;

pub use address::Address;
pub use date::parse_iso_date;
pub use date_of_birth::DateOfBirth;
pub use email::Email;
pub use file::{ascii_fallback, FileName, MediaType};
pub use money::{Currency, MAX_MINOR_UNITS};
pub use name::PersonName;
pub use national_id::NationalId;
pub use new_user::{FieldErrors, NewUser};
pub use period::Period;
pub use phone::Phone;
pub use transaction::{
    NewTransaction, Reference, Transaction, MAX_BATCH, YEARS as TRANSACTION_YEARS,
};
pub use unknown::check_names;

/// A validation failure: a sentence for the client, never containing the input.
pub type Invalid = &'static str;

/// Free text as a person typed it (a name, an address, a payment's details): trimmed,
/// 1 to `max_chars` characters of any script (`too_long` says the limit), no control
/// characters.
fn free_text(raw: &str, max_chars: usize, too_long: Invalid) -> Result<String, Invalid> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("must not be empty");
    }
    if value.chars().count() > max_chars {
        return Err(too_long);
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(value.to_owned())
}
