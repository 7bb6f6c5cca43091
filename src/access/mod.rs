//! Who may call: API clients, their scoped bearer tokens (only SHA-256 hashes are
//! stored), the [`Claim`] a request makes with its token, checked by the vault, and
//! each client's quota ([`quota`]), enforced before any of that.

mod caller;
pub mod clients;
pub mod quota;
mod scope;
mod token;

pub use caller::{AccessError, BearerToken, Caller, CallerNote, Claim};
pub use quota::{ClientLimits, Permit, Quotas, Refusal};
pub use scope::Scope;
pub use token::ApiToken;
