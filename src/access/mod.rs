//! Who may call: API clients, their scoped bearer tokens (only keyed digests are
//! stored, and each client row is sealed by a MAC: [`client_mac`]), the [`Claim`] a request makes with its token, checked by the vault, and
//! each client's quota ([`quota`]), enforced before any of that.

mod caller;
pub mod client_mac;
pub mod clients;
pub mod quota;
mod scope;
mod token;

pub use caller::{AccessError, BearerToken, Caller, CallerNote, Claim};
pub use quota::{ClientLimits, Permit, Quotas, Refusal};
pub use scope::Scope;
pub use token::ApiToken;
