//! Stream data made ready to write: flate-compressed, then encrypted (AES-256, R6).
//!
//! Page contents are sealed on a second thread while the next page is laid out
//! ([`PageSealer`]): compressing and encrypting are a fifth of a statement's work,
//! and a large statement should use both cores of a small machine. At most
//! [`IN_FLIGHT`] pages wait there, so memory stays at a few pages.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use pdf_writer::Ref;

use super::security::Encryptor;
use super::PdfError;

/// Flate level 1 of 9: page content (repetitive operators) still shrinks about 5×, at a
/// fraction of the time of the best level.
const COMPRESSION_LEVEL: u32 = 1;

/// Pages handed to the sealing thread and not yet written back.
const IN_FLIGHT: usize = 4;

/// Compresses (unless `compress` is false: the data already is) and encrypts stream
/// data.
pub fn seal(encryptor: &Encryptor, data: &[u8], compress: bool) -> Result<Vec<u8>, PdfError> {
    if !compress {
        return encryptor.encrypt(data);
    }
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::new(COMPRESSION_LEVEL),
    );
    encoder.write_all(data).map_err(|_| PdfError::Write)?;
    let compressed = encoder.finish().map_err(|_| PdfError::Write)?;
    encryptor.encrypt(&compressed)
}

/// Seals page contents on its own thread, handing them back in the order they were
/// given.
pub struct PageSealer {
    jobs: Option<mpsc::Sender<Vec<u8>>>,
    sealed: mpsc::Receiver<Result<Vec<u8>, PdfError>>,
    /// The object each page's content becomes, oldest first.
    waiting: VecDeque<Ref>,
    thread: Option<JoinHandle<()>>,
}

impl PageSealer {
    pub fn start(encryptor: Arc<Encryptor>) -> Result<Self, PdfError> {
        let (jobs, incoming) = mpsc::channel::<Vec<u8>>();
        let (done, sealed) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("pdf-sealer".to_owned())
            .spawn(move || {
                for content in incoming {
                    if done.send(seal(&encryptor, &content, true)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|_| PdfError::Write)?;
        Ok(Self {
            jobs: Some(jobs),
            sealed,
            waiting: VecDeque::new(),
            thread: Some(thread),
        })
    }

    /// Queues `content` to become object `reference`. Returns what is ready to
    /// write, oldest first; when [`IN_FLIGHT`] pages are already waiting, it first
    /// waits for the oldest.
    pub fn push(
        &mut self,
        reference: Ref,
        content: Vec<u8>,
    ) -> Result<Vec<(Ref, Vec<u8>)>, PdfError> {
        let mut ready = Vec::new();
        while self.waiting.len() >= IN_FLIGHT {
            ready.push(self.next(true)?.ok_or(PdfError::Write)?);
        }
        while let Some(done) = self.next(false)? {
            ready.push(done);
        }
        self.jobs
            .as_ref()
            .ok_or(PdfError::Write)?
            .send(content)
            .map_err(|_| PdfError::Write)?;
        self.waiting.push_back(reference);
        Ok(ready)
    }

    /// Everything still waiting, oldest first.
    pub fn drain(&mut self) -> Result<Vec<(Ref, Vec<u8>)>, PdfError> {
        let mut ready = Vec::with_capacity(self.waiting.len());
        while !self.waiting.is_empty() {
            ready.push(self.next(true)?.ok_or(PdfError::Write)?);
        }
        Ok(ready)
    }

    /// The oldest page, once sealed (`block`: wait for it; otherwise only if it is
    /// done).
    fn next(&mut self, block: bool) -> Result<Option<(Ref, Vec<u8>)>, PdfError> {
        if self.waiting.is_empty() {
            return Ok(None);
        }
        let result = if block {
            self.sealed.recv().map_err(|_| PdfError::Write)?
        } else {
            match self.sealed.try_recv() {
                Ok(result) => result,
                Err(mpsc::TryRecvError::Empty) => return Ok(None),
                Err(mpsc::TryRecvError::Disconnected) => return Err(PdfError::Write),
            }
        };
        let reference = self.waiting.pop_front().ok_or(PdfError::Write)?;
        Ok(Some((reference, result?)))
    }
}

impl Drop for PageSealer {
    /// Stops the thread and waits for it: no thread outlives its document.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
