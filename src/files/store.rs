//! Where sealed files live: an `object_store` backend, a directory under the data dir
//! by default or an S3-compatible bucket (cargo feature `s3`) when several instances
//! must share the files. Only ciphertext ever passes through here, under random object
//! names that carry nothing of the user or the file name.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, WriteMultipart};

use crate::config::{FileSettings, StoreLocation};

/// Bytes handed to the store per part. S3 refuses parts under 5 MiB (except the last);
/// the local directory writes each part with one positioned write, so smaller parts
/// keep an upload's memory low.
const LOCAL_PART_LEN: usize = 1024 * 1024;
const S3_PART_LEN: usize = 5 * 1024 * 1024;
/// Parts in flight per upload: one being written while the next fills.
const PARTS_IN_FLIGHT: usize = 2;
/// How long one S3 request may keep being retried before it fails.
const S3_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    part_len: usize,
}

/// One object being written. Dropping it unfinished removes what was written (the local
/// backend deletes its staging file; call [`Upload::abort`] to do it deliberately).
pub struct Upload {
    writer: WriteMultipart,
}

impl FileStore {
    pub fn open(settings: &FileSettings, data_dir: &Path) -> anyhow::Result<Self> {
        match &settings.location {
            StoreLocation::DataDir => {
                let dir = data_dir.join("files");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let local = LocalFileSystem::new_with_prefix(&dir)
                    .with_context(|| format!("opening {}", dir.display()))?;
                Ok(Self {
                    store: Arc::new(local),
                    part_len: LOCAL_PART_LEN,
                })
            }
            StoreLocation::S3 { bucket, prefix } => {
                Self::open_s3(bucket, prefix, &settings.s3_options)
            }
        }
    }

    /// The bucket, configured from the `AWS_*` environment and then `options`. A
    /// request is retried a few times over at most [`S3_RETRY_TIMEOUT`]: an
    /// unreachable bucket fails the request (503) instead of holding it for minutes.
    #[cfg(feature = "s3")]
    fn open_s3(bucket: &str, prefix: &str, options: &[(String, String)]) -> anyhow::Result<Self> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: S3_RETRY_TIMEOUT,
                ..object_store::RetryConfig::default()
            });
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key
                .parse()
                .with_context(|| format!("unknown S3 option {key}"))?;
            builder = builder.with_config(key, value);
        }
        let s3 = builder
            .build()
            .context("configuring the S3-compatible file store")?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
        };
        Ok(Self {
            store,
            part_len: S3_PART_LEN,
        })
    }

    #[cfg(not(feature = "s3"))]
    fn open_s3(
        _bucket: &str,
        _prefix: &str,
        _options: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let _ = (S3_PART_LEN, S3_RETRY_TIMEOUT);
        anyhow::bail!("this build has no S3 support: rebuild with `--features s3`")
    }

    /// A fresh random object name (128 random bits, hex).
    pub fn new_object_name() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    pub async fn start_upload(&self, name: &str) -> object_store::Result<Upload> {
        let upload = self.store.put_multipart(&object_path(name)?).await?;
        Ok(Upload {
            writer: WriteMultipart::new_with_chunk_size(upload, self.part_len),
        })
    }

    pub async fn read(&self, name: &str, range: Range<u64>) -> object_store::Result<Bytes> {
        self.store.get_range(&object_path(name)?, range).await
    }

    /// The stored object's length in bytes.
    pub async fn len(&self, name: &str) -> object_store::Result<u64> {
        Ok(self.store.head(&object_path(name)?).await?.size)
    }

    pub async fn delete(&self, name: &str) -> object_store::Result<()> {
        self.store.delete(&object_path(name)?).await
    }

    /// Deletes objects whose rows are already gone. A failure does not fail the caller
    /// (the rows, and with a deleted user its key, are gone, so the bytes cannot be
    /// opened); it is logged with the random object name only.
    pub async fn delete_quietly(&self, names: &[String]) {
        for name in names {
            if let Err(error) = self.delete(name).await {
                if !matches!(error, object_store::Error::NotFound { .. }) {
                    tracing::warn!(object = %name, %error, "could not delete a file object; it is unreadable but left behind");
                }
            }
        }
    }

    /// Test and benchmark access to the raw store.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
}

/// Object names are generated here, never taken from a request; parsing still refuses
/// anything that is not a plain single-segment name.
fn object_path(name: &str) -> object_store::Result<ObjectPath> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(object_store::Error::Generic {
            store: "piivault",
            source: "object names are random hex".into(),
        });
    }
    Ok(ObjectPath::from(name))
}

impl Upload {
    /// Queues sealed bytes, waiting while too many parts are in flight (back-pressure
    /// on the request body instead of buffering it).
    pub async fn write(&mut self, sealed: &[u8]) -> object_store::Result<()> {
        self.writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.writer.write(sealed);
        Ok(())
    }

    /// Publishes the object: until here, nothing is visible under its name.
    pub async fn finish(self) -> object_store::Result<()> {
        self.writer.finish().await.map(drop)
    }

    pub async fn abort(self) -> object_store::Result<()> {
        self.writer.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_random_hex_and_nothing_else_is_accepted() {
        let name = FileStore::new_object_name();
        assert_eq!(name.len(), 32);
        assert_ne!(name, FileStore::new_object_name());
        assert!(object_path(&name).is_ok());
        for bad in ["", "../x", "a/b", "con.txt", "..", "résumé"] {
            assert!(object_path(bad).is_err(), "{bad}");
        }
    }

    #[cfg(not(feature = "s3"))]
    #[test]
    fn s3_without_the_feature_is_a_clear_start_up_error() {
        let settings = FileSettings {
            location: StoreLocation::parse("s3://bucket").unwrap(),
            ..FileSettings::default()
        };
        let error = FileStore::open(&settings, Path::new("/nonexistent")).unwrap_err();
        assert!(error.to_string().contains("--features s3"), "{error}");
    }
}
