//! Who may call: API clients, their scoped bearer tokens (only SHA-256 hashes are
//! stored), and the [`Claim`] a request makes with its token, checked by the vault.

mod caller;
pub mod clients;
mod scope;
mod token;

pub use caller::{AccessError, BearerToken, Caller, CallerNote, Claim};
pub use scope::Scope;
pub use token::ApiToken;
