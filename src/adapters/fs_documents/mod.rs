//! The filesystem document store: each document is a file `<dir>/<application>/<document>.<ext>`,
//! written to a temporary name, fsynced and renamed, so a crash never leaves a partial file
//! under a key. Each folder's own entry is made durable too ([`durable_folders`]).

mod durable_folders;
mod settings;
#[cfg(test)]
mod tests;

pub use settings::DocumentSettings;

use crate::adapters::durable_dir::sync_dir;
use crate::domain::document::ContentKind;
use crate::domain::ids::{ApplicationId, DocumentId};
use crate::ports::documents::{DocumentChunks, DocumentError, DocumentKey, DocumentStore};
use async_trait::async_trait;
use durable_folders::DurableFolders;
use futures::StreamExt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct FsDocumentStore {
    dir: PathBuf,
    durable: Arc<DurableFolders>,
}

impl FsDocumentStore {
    /// Uses `dir` (created on the first upload).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            durable: Arc::new(DurableFolders::new(dir.clone())),
            dir,
        }
    }

    /// The file that holds `key`; keys are checked, so it is always inside the directory.
    pub fn path_of(&self, key: &DocumentKey) -> PathBuf {
        self.dir.join(key.as_str())
    }
}

#[async_trait]
impl DocumentStore for FsDocumentStore {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    async fn put(
        &self,
        application: ApplicationId,
        document: DocumentId,
        kind: ContentKind,
        bytes: &[u8],
    ) -> Result<DocumentKey, DocumentError> {
        let key = DocumentKey::new(application, document, kind);
        let path = self.path_of(&key);
        let bytes = bytes.to_vec();
        let durable = self.durable.clone();
        blocking(move || {
            let tmp = path.with_extension("part");
            finish(None, &tmp, &path, &bytes, &durable).inspect_err(|_| discard(&tmp))
        })
        .await
        .map_err(|e| unavailable(&self.dir, &e))?;
        Ok(key)
    }

    /// Keeps up to [`WRITE_BUFFER_BYTES`] in memory and writes them out when the buffer is full,
    /// so an upload never sits whole in memory, and a small one is written, synced and renamed
    /// in one call off the async workers (each file system call there is a thread hand-off).
    async fn put_stream(
        &self,
        application: ApplicationId,
        document: DocumentId,
        kind: ContentKind,
        mut chunks: DocumentChunks<'_>,
    ) -> Result<DocumentKey, DocumentError> {
        let key = DocumentKey::new(application, document, kind);
        let path = self.path_of(&key);
        let tmp = path.with_extension("part");
        let mut part: Option<File> = None;
        let mut buffer = Vec::new();
        let mut failed = None;
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    failed = Some(DocumentError::Aborted(e.to_string()));
                    break;
                }
            };
            buffer.extend_from_slice(&chunk);
            if buffer.len() >= WRITE_BUFFER_BYTES {
                let (tmp, full) = (tmp.clone(), std::mem::take(&mut buffer));
                let file = part.take();
                match blocking(move || write_part(file, &tmp, &full)).await {
                    Ok(file) => part = Some(file),
                    Err(e) => {
                        failed = Some(unavailable(&self.dir, &e));
                        break;
                    }
                }
            }
        }
        let finished = match failed {
            Some(error) => {
                drop(part);
                let _ = blocking(move || {
                    discard(&tmp);
                    Ok(())
                })
                .await;
                Err(error)
            }
            None => {
                let durable = self.durable.clone();
                blocking(move || {
                    finish(part, &tmp, &path, &buffer, &durable).inspect_err(|_| discard(&tmp))
                })
                .await
                .map_err(|e| unavailable(&self.dir, &e))
            }
        };
        finished.map(|()| key)
    }

    async fn get(&self, key: &DocumentKey) -> Result<Vec<u8>, DocumentError> {
        match tokio::fs::read(self.path_of(key)).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(DocumentError::NotFound(key.clone()))
            }
            Err(e) => Err(unavailable(&self.dir, &e)),
        }
    }
}

/// Bytes of an upload held in memory before they are written to its temporary file.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

fn unavailable(dir: &Path, error: &io::Error) -> DocumentError {
    DocumentError::Unavailable(format!("{}: {error}", dir.display()))
}

/// Runs file system calls on the blocking pool, all in one hand-off.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io::Error::other(format!("a file task failed: {e}")))?
}

/// Appends `bytes` to the temporary file (`part`), creating it (and its folder) first if needed.
fn write_part(part: Option<File>, tmp: &Path, bytes: &[u8]) -> io::Result<File> {
    let mut file = match part {
        Some(file) => file,
        None => create_part(tmp)?,
    };
    file.write_all(bytes)?;
    Ok(file)
}

/// Writes the rest, fsyncs, renames the temporary file to its key's name and fsyncs the folder
/// so the rename lasts, then the folders above unless this process made them durable before
/// (last: the journal commit of the syncs before has usually made a new folder durable already,
/// so it rarely costs a commit).
fn finish(
    part: Option<File>,
    tmp: &Path,
    path: &Path,
    rest: &[u8],
    durable: &DurableFolders,
) -> io::Result<()> {
    let file = write_part(part, tmp, rest)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    let folder = path.parent().expect("document paths have a parent");
    sync_dir(folder)?;
    durable.ensure(folder, sync_dir)
}

fn create_part(tmp: &Path) -> io::Result<File> {
    let folder = tmp.parent().expect("document paths have a parent");
    if !folder.is_dir() {
        fs::create_dir_all(folder)?;
    }
    File::create(tmp)
}

/// Best effort: a `.part` file left behind is never read as a document.
fn discard(tmp: &Path) {
    let _ = fs::remove_file(tmp);
}
