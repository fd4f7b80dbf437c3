//! Which document store a process uses (a directory or an S3 bucket); the configuration tree
//! holds one of these.

use super::FsDocumentStore;
use crate::adapters::s3_documents::{S3Config, S3DocumentStore};
use crate::ports::documents::DocumentStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Folder of the uploaded documents inside the data directory (the embedded default).
pub const DEFAULT_FOLDER: &str = "documents";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentSettings {
    /// Files in a local directory: for one host, or a volume every API process mounts.
    Filesystem { dir: PathBuf },
    /// Objects in an S3 bucket: for processes without a shared disk (Lambda functions).
    S3(S3Config),
}

impl DocumentSettings {
    /// The embedded default: `<data_dir>/documents`.
    pub fn embedded(data_dir: &Path) -> Self {
        Self::Filesystem {
            dir: data_dir.join(DEFAULT_FOLDER),
        }
    }

    pub async fn open(&self) -> Arc<dyn DocumentStore> {
        match self {
            Self::Filesystem { dir } => Arc::new(FsDocumentStore::new(dir.clone())),
            Self::S3(config) => Arc::new(S3DocumentStore::open(config).await),
        }
    }

    /// Where documents are kept, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Filesystem { dir } => format!("directory {}", dir.display()),
            Self::S3(config) => format!("bucket {} (prefix '{}')", config.bucket, config.prefix),
        }
    }
}
