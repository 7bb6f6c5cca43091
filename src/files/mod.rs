//! Files at rest: the sealed-file format (`stream`: 64 KiB segments of AES-256-GCM
//! STREAM, sealed and opened in memory), the object store the sealed bytes live in
//! (`store`: a local directory or an S3-compatible bucket), and the byte-range
//! arithmetic of partial downloads (`range`). Nothing here knows users, rows or HTTP:
//! the vault's `files` puts them together.

pub mod range;
pub mod store;
pub mod stream;

pub use range::{RangeRequest, Unsatisfiable};
pub use store::{FileStore, Upload};
pub use stream::IntegrityError;
