//! PDF documents: [`render_statement`] lays a [`Statement`] (a period of a user's
//! transactions) out on A4 pages, [`render_roster`] the all-users export, both with
//! printpdf and the embedded DejaVu fonts; [`encrypt`] encrypts either with lopdf as
//! AES-256 (PDF 2.0, security handler revision 6) so only the holder of the user
//! password can open it. Nothing here knows where the data came from.

mod encrypt;
mod fonts;
mod roster;
mod statement;

pub use encrypt::{encrypt, prepare_password, reader_password_bytes};
pub use roster::{render_roster, Roster, RosterRow, ROWS_PER_PAGE};
pub use statement::render_statement;

use crate::domain::{Currency, Period, Transaction};

/// Everything a statement shows, already opened by the caller.
pub struct Statement {
    pub customer_name: String,
    /// Shown masked (`+2547*****678`); `None` when the user gave no phone.
    pub masked_phone: Option<String>,
    pub period: Period,
    pub currency: Currency,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    /// Shown small in the header, so support can find the document.
    pub reference: String,
    /// The balance before the period, in minor units.
    pub opening_balance: i128,
    /// The period's transactions in `currency`, oldest first.
    pub transactions: Vec<Transaction>,
}

/// A phone number with all but its first five and last three characters hidden.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(index, c)| {
            if index < 5 || index >= chars.len() - 3 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Why a document could not be produced. Carries no personal data.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font could not be parsed")]
    Font,
    #[error("the rendered PDF could not be parsed for encryption")]
    Parse,
    #[error("PDF encryption failed")]
    Encrypt,
    #[error("writing the encrypted PDF failed")]
    Write,
    #[error("the random number generator failed")]
    Random,
}

#[cfg(test)]
mod tests;
