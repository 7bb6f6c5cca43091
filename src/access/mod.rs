//! Who may call: API clients, their scoped bearer tokens (only SHA-256 hashes are
//! stored), and [`authorised`], the door every protected handler's work goes through.

mod caller;
pub mod clients;
mod scope;
mod token;

pub use caller::{authorise, authorised, BearerToken, Caller};
pub use scope::Scope;
pub use token::ApiToken;
