//! The filesystem document store: each document is a file `<dir>/<application>/<document>.<ext>`,
//! written to a temporary name, fsynced and renamed, so a crash never leaves a partial file
//! under a key.

mod settings;
#[cfg(test)]
mod tests;

pub use settings::DocumentSettings;

use crate::domain::document::ContentKind;
use crate::domain::ids::{ApplicationId, DocumentId};
use crate::ports::documents::{DocumentChunks, DocumentError, DocumentKey, DocumentStore};
use async_trait::async_trait;
use futures::StreamExt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct FsDocumentStore {
    dir: PathBuf,
}

impl FsDocumentStore {
    /// Uses `dir` (created on the first upload).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
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
        blocking(move || {
            let tmp = path.with_extension("part");
            finish(None, &tmp, &path, &bytes).inspect_err(|_| discard(&tmp))
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
        let mut part: Option<Part> = None;
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
                blocking(move || finish(part, &tmp, &path, &buffer).inspect_err(|_| discard(&tmp)))
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

/// The temporary file a document is being written to.
struct Part {
    file: File,
    /// Its folder was created for it (an application's first document), so the folder's own
    /// entry, in the folder above, must be made durable too.
    new_folder: bool,
}

/// Appends `bytes` to the temporary file, creating it (and its folder) first if needed.
fn write_part(part: Option<Part>, tmp: &Path, bytes: &[u8]) -> io::Result<Part> {
    let mut part = match part {
        Some(part) => part,
        None => create_part(tmp)?,
    };
    part.file.write_all(bytes)?;
    Ok(part)
}

/// Writes the rest, fsyncs, renames the temporary file to its key's name and fsyncs the folder
/// so the rename lasts (and the folder above, for a new folder: last, when the journal commit
/// of the syncs before has usually made it durable already, so it rarely costs a commit).
fn finish(part: Option<Part>, tmp: &Path, path: &Path, rest: &[u8]) -> io::Result<()> {
    let Part { file, new_folder } = write_part(part, tmp, rest)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    let folder = path.parent().expect("document paths have a parent");
    sync_dir(folder)?;
    match folder.parent() {
        Some(above) if new_folder => sync_dir(above),
        _ => Ok(()),
    }
}

fn create_part(tmp: &Path) -> io::Result<Part> {
    let folder = tmp.parent().expect("document paths have a parent");
    let new_folder = !folder.is_dir();
    if new_folder {
        fs::create_dir_all(folder)?;
    }
    let file = File::create(tmp)?;
    Ok(Part { file, new_folder })
}

/// Best effort: a `.part` file left behind is never read as a document.
fn discard(tmp: &Path) {
    let _ = fs::remove_file(tmp);
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
