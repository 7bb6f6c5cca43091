//! Statement PDFs: [`render`] lays a [`Statement`] out on A4 pages with printpdf, and
//! [`protect`] encrypts the result with lopdf as AES-256 (PDF 2.0, security handler
//! revision 6) so only the holder of the user password can open it.
//!
//! Text uses the built-in Helvetica, which covers Western European names; characters
//! outside WinAnsi are replaced by `?` (a later change embeds a font covering more
//! scripts).

mod protect;
mod render;
mod roster;

pub use protect::{protect, random_owner_password};
pub use render::render;
pub use roster::{render_roster, Roster, RosterRow, ROWS_PER_PAGE};

/// Everything a statement shows, already opened by the caller.
pub struct Statement {
    pub title: String,
    pub customer_name: String,
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// Shown small in the header, so support can find the document.
    pub reference: String,
    /// Label and value rows of the details table.
    pub details: Vec<(String, String)>,
}

/// Why a statement could not be produced. Carries no personal data.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
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
