//! PDF documents, written while their rows arrive and encrypted as they are written:
//! [`StatementWriter`] lays out a statement (a period of a user's transactions),
//! [`RosterWriter`] the all-users export. Both go through `writer.rs` (objects with
//! pdf-writer, page content from `content.rs`, each stream compressed and encrypted
//! by `sealing.rs` — page contents on a second thread — with AES-256 under the
//! standard security handler revision 6 of `security.rs`), set their text with `text.rs`
//! (bidi, shaping, line breaking) in the faces `fonts.rs` picks, and flow their table
//! over pages with `layout.rs`. Memory stays at about one page whatever the length.
//! Nothing here knows where the data came from.

mod content;
mod fonts;
mod layout;
mod roster;
mod sealing;
mod security;
mod statement;
mod text;
mod writer;

pub use fonts::FontLibrary;
pub use roster::{RosterRow, RosterWriter};
pub use security::{password_bytes, prepare_password};
pub use statement::StatementWriter;

use crate::domain::{Currency, Period};

/// What a statement shows above its table, already opened by the caller.
#[derive(Debug, Clone)]
pub struct StatementHeader {
    pub customer_name: String,
    /// Shown masked (`+2547*****678`); `None` when the user gave no phone.
    pub masked_phone: Option<String>,
    pub period: Period,
    pub currency: Currency,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    /// Shown small in the header, so support can find the document.
    pub reference: String,
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
    #[error("an embedded font could not be parsed or subset")]
    Font,
    #[error("the password cannot be a PDF password")]
    Password,
    #[error("PDF encryption failed")]
    Encrypt,
    #[error("writing the PDF failed (the reader may have gone)")]
    Write,
    #[error("the random number generator failed")]
    Random,
}

#[cfg(test)]
mod tests;
