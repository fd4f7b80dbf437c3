//! The document store port: keeps the bytes of uploaded identity documents, addressed by a
//! [`DocumentKey`] derived from the application and document ids.
//!
//! Adapters: `fs_documents` (a directory, the embedded default); an object store (S3) later.
//! The key is what the store's `DocumentRecord.stored_path` holds, so any adapter finds a
//! document again from its record.

use crate::domain::document::ContentKind;
use crate::domain::ids::{ApplicationId, DocumentId};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::fmt;

/// A document's bytes as they arrive from the client; an error item ends the upload (the
/// client went away, or the upload grew past its cap) and nothing is stored under the key.
pub type DocumentChunks<'a> = BoxStream<'a, std::io::Result<Bytes>>;

/// Where one document's bytes live inside a document store: `<application>/<document>.<ext>`.
///
/// Only keys built by [`DocumentKey::new`] or checked by [`DocumentKey::parse`] exist, so an
/// adapter can map one to a file name or an object key without escaping or path traversal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentKey(String);

/// Records written before the port existed hold the path relative to the data directory.
const LEGACY_PREFIX: &str = "documents/";

impl DocumentKey {
    pub fn new(application: ApplicationId, document: DocumentId, kind: ContentKind) -> Self {
        Self(format!("{application}/{document}.{}", kind.extension()))
    }

    /// Checks a key read back from a record (also the `documents/…` paths of older records).
    pub fn parse(raw: &str) -> Result<Self, DocumentError> {
        let key = raw.strip_prefix(LEGACY_PREFIX).unwrap_or(raw);
        let invalid = || DocumentError::InvalidKey(raw.chars().take(120).collect());
        let (application, file) = key.split_once('/').ok_or_else(invalid)?;
        let (document, extension) = file.split_once('.').ok_or_else(invalid)?;
        // Only the canonical spelling of each id, so one document has exactly one key.
        let canonical = ApplicationId::parse(application)
            .is_ok_and(|id| id.to_string() == application)
            && DocumentId::parse(document).is_ok_and(|id| id.to_string() == document);
        if !canonical {
            return Err(invalid());
        }
        let known = [ContentKind::Pdf, ContentKind::Jpeg, ContentKind::Png]
            .iter()
            .any(|kind| kind.extension() == extension);
        if !known {
            return Err(invalid());
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocumentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("document {0} does not exist")]
    NotFound(DocumentKey),
    #[error("'{0}' is not a document key")]
    InvalidKey(String),
    /// The chunks of [`DocumentStore::put_stream`] ended with an error; nothing was stored.
    #[error("the upload ended early: {0}")]
    Aborted(String),
    /// Worth retrying (disk full, object store unreachable); the message never holds content.
    #[error("the document store is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Stores a document durably before returning its key: once this succeeds, the bytes
    /// survive a crash. Putting the same key again replaces the bytes.
    async fn put(
        &self,
        application: ApplicationId,
        document: DocumentId,
        kind: ContentKind,
        bytes: &[u8],
    ) -> Result<DocumentKey, DocumentError>;

    /// Stores a document read chunk by chunk, durably as [`Self::put`] does; an error among the
    /// chunks stores nothing. Adapters that can write as the bytes arrive override this; the
    /// default gathers the chunks and calls [`Self::put`].
    async fn put_stream(
        &self,
        application: ApplicationId,
        document: DocumentId,
        kind: ContentKind,
        mut chunks: DocumentChunks<'_>,
    ) -> Result<DocumentKey, DocumentError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| DocumentError::Aborted(e.to_string()))?;
            bytes.extend_from_slice(&chunk);
        }
        self.put(application, document, kind, &bytes).await
    }

    /// The bytes stored under `key`.
    async fn get(&self, key: &DocumentKey) -> Result<Vec<u8>, DocumentError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_the_application_and_the_document_and_parses_back() {
        let key = DocumentKey::new(ApplicationId::new(), DocumentId::new(), ContentKind::Png);
        assert!(key.as_str().ends_with(".png"), "{key}");
        assert_eq!(DocumentKey::parse(key.as_str()).unwrap(), key);
        let legacy = format!("documents/{key}");
        assert_eq!(DocumentKey::parse(&legacy).unwrap(), key);
    }

    #[test]
    fn keys_that_could_leave_the_store_are_refused() {
        let app = ApplicationId::new();
        let doc = DocumentId::new();
        for raw in [
            String::new(),
            format!("../{app}/{doc}.pdf"),
            format!("{app}/../{doc}.pdf"),
            format!("/{app}/{doc}.pdf"),
            format!("{app}/{doc}.exe"),
            format!("{app}/{doc}/x.pdf"),
            format!("{app}/{doc}"),
        ] {
            assert!(
                matches!(DocumentKey::parse(&raw), Err(DocumentError::InvalidKey(_))),
                "{raw}"
            );
        }
    }
}
