//! Who may call: API clients, their scoped bearer tokens (only SHA-256 hashes are
//! stored), and the `Caller` extractor every protected handler starts with.

mod caller;
pub mod clients;
mod scope;
mod token;

pub use caller::Caller;
pub use scope::Scope;
pub use token::ApiToken;
