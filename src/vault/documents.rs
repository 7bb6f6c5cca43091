//! Documents (statements, the export) as streams: each is written on a blocking
//! thread while its rows are read, and its bytes go to the client through a small
//! bounded channel as they are produced, so memory per document stays at a page and a
//! few 64 KiB chunks whatever its length.
//!
//! - At most `--max-concurrent-documents` are written at once per instance; more wait
//!   their turn (a queue, not an error), so a burst of large requests cannot exhaust
//!   memory or the blocking threads.
//! - The writer first does everything that can refuse the request (the caller's
//!   claim, the user, the row count) and writes the audit record; only then is the
//!   response started (the `ready` signal). Until then a failure is an ordinary error
//!   response.
//! - A failure after that (the database gone, a row that does not open) ends the body
//!   with an error: the server closes the connection without the chunked encoding's
//!   last chunk, so a client never holds a truncated PDF that looks whole.
//! - A client that goes away closes the channel: the next write fails and the writer
//!   stops, giving back its thread, its database connection and its slot.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, LocalBoxStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{Core, Vault, VaultError};
use crate::metrics::DocumentKind;

/// Bytes gathered before they are handed to the connection.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting in the channel: the writer runs at most this far ahead of the
/// client.
const IN_FLIGHT: usize = 4;

/// A document on its way: the name to offer it under and its bytes as they come.
pub struct DocumentStream {
    pub file_name: String,
    pub body: LocalBoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// Says, once, that a document's checks passed and its audit record is written:
/// the response may start.
/// It carries the name the document is offered under.
pub(crate) struct Ready(Option<oneshot::Sender<Result<String, VaultError>>>);

impl Ready {
    pub(crate) fn go(&mut self, file_name: String) {
        if let Some(sender) = self.0.take() {
            let _ = sender.send(Ok(file_name));
        }
    }
}

/// The `io::Write` a document is written into: 64 KiB chunks into the channel. A
/// closed channel (the client left) is a write error.
pub(crate) struct ChannelWriter {
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// What a document's writer returns: how many characters it drew as the
/// missing-glyph box (logged as a count, never which).
pub(crate) type Written = usize;

impl Vault {
    /// Writes a document with `write` on a blocking thread once a slot is free. `write`
    /// calls `ready.go(file name)` when the request can no longer be refused, then
    /// writes into the sink. Returns when it did (or failed before it).
    pub(crate) async fn stream_document<F>(
        &self,
        kind: DocumentKind,
        write: F,
    ) -> Result<DocumentStream, VaultError>
    where
        F: FnOnce(&Core, &mut Ready, &mut ChannelWriter) -> Result<Written, VaultError>
            + Send
            + 'static,
    {
        let permit = Arc::clone(&self.core.documents)
            .acquire_owned()
            .await
            .map_err(|_| VaultError::Internal(anyhow::anyhow!("the document queue is closed")))?;
        let (ready_sender, ready_receiver) = oneshot::channel();
        let (sender, mut receiver) = mpsc::channel(IN_FLIGHT);
        let core = Arc::clone(&self.core);
        tokio::task::spawn_blocking(move || {
            super::priority::lower_blocking_thread();
            let rendering = core.metrics.rendering(kind);
            let started = std::time::Instant::now();
            let mut ready = Ready(Some(ready_sender));
            let mut sink = ChannelWriter {
                sender,
                buffer: Vec::with_capacity(CHUNK),
            };
            let result = write(&core, &mut ready, &mut sink).and_then(|missing| {
                sink.flush().map_err(VaultError::internal)?;
                Ok(missing)
            });
            match (result, ready.0.take()) {
                (Ok(missing), not_started) => {
                    if let Some(sender) = not_started {
                        let _ = sender.send(Ok(format!("{}.pdf", kind.as_str())));
                    }
                    tracing::info!(
                        document = kind.as_str(),
                        missing_glyphs = missing,
                        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                        "document written"
                    );
                }
                // Refused before the response started: an ordinary error response.
                (Err(error), Some(not_started)) => {
                    let _ = not_started.send(Err(error));
                }
                (Err(_), None) if sink.sender.is_closed() => {
                    tracing::info!(document = kind.as_str(), "document abandoned by the client");
                }
                (Err(error), None) => {
                    tracing::error!(
                        document = kind.as_str(),
                        %error,
                        "a document failed after its first byte; cutting the response short"
                    );
                    let _ = sink.sender.blocking_send(Err(std::io::Error::other(
                        "the document could not be completed",
                    )));
                }
            }
            // The gauge and the slot are released before the body ends (when `sink`
            // drops and closes the channel): a client that has read the whole document
            // finds the work finished, however late this thread runs again.
            drop(rendering);
            drop(permit);
        });
        match ready_receiver.await {
            Ok(Ok(file_name)) => Ok(DocumentStream {
                file_name,
                body: Box::pin(stream::poll_fn(move |context| receiver.poll_recv(context))),
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(VaultError::Internal(anyhow::anyhow!(
                "a document writer stopped without a word"
            ))),
        }
    }
}

/// The slots `--max-concurrent-documents` allows.
pub(crate) fn document_slots(limit: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limit.max(1)))
}
