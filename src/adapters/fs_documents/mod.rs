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
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

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
        write_durably(&self.path_of(&key), bytes)
            .await
            .map_err(|e| unavailable(&self.dir, &e))?;
        Ok(key)
    }

    /// Writes each chunk as it arrives, so an upload never sits whole in memory.
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
        let written = async {
            let mut file = create_part(&tmp)
                .await
                .map_err(|e| unavailable(&self.dir, &e))?;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| DocumentError::Aborted(e.to_string()))?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| unavailable(&self.dir, &e))?;
            }
            file.sync_all()
                .await
                .map_err(|e| unavailable(&self.dir, &e))
        }
        .await;
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(error);
        }
        publish(&tmp, &path)
            .await
            .map_err(|e| unavailable(&self.dir, &e))?;
        Ok(key)
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

fn unavailable(dir: &Path, error: &std::io::Error) -> DocumentError {
    DocumentError::Unavailable(format!("{}: {error}", dir.display()))
}

/// Writes to a temporary name, fsyncs, renames, then fsyncs the directory so the rename lasts.
async fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("part");
    let mut file = create_part(&tmp).await?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    drop(file);
    publish(&tmp, path).await
}

/// The temporary file a document is written to, its folder created first.
async fn create_part(tmp: &Path) -> std::io::Result<tokio::fs::File> {
    let dir = tmp.parent().expect("document paths have a parent");
    tokio::fs::create_dir_all(dir).await?;
    tokio::fs::File::create(tmp).await
}

/// Renames the synced temporary file to its key's name, then fsyncs the folder so the rename
/// lasts.
async fn publish(tmp: &Path, path: &Path) -> std::io::Result<()> {
    let dir = path.parent().expect("document paths have a parent");
    tokio::fs::rename(tmp, path).await?;
    tokio::fs::File::open(dir).await?.sync_all().await
}
