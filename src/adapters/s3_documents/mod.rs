//! The S3 document store: each document is one object `<prefix><application>/<document>.<ext>`
//! in one bucket (`documents.bucket`, `ONBOARD_DOCUMENTS_BUCKET`), written with server-side
//! encryption requested (SSE-S3) and its content type.
//!
//! A `PutObject` that succeeded is durable, so `put` returns only after S3 answered. When an
//! endpoint override is set (`AWS_ENDPOINT_URL`, a local emulator such as moto) requests use
//! path-style addressing, since the emulator has no per-bucket host names.

#[cfg(test)]
mod tests;

use crate::domain::document::ContentKind;
use crate::domain::ids::{ApplicationId, DocumentId};
use crate::ports::documents::{DocumentError, DocumentKey, DocumentStore};
use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

/// Which bucket, and where inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Empty, or a folder ending in `/` ([`S3Config::normalise_prefix`]).
    pub prefix: String,
    /// `aws.region`; the SDK's own resolution when `None`.
    pub region: Option<String>,
}

impl S3Config {
    /// The prefix as keys use it: trimmed, `/`-terminated when not empty. Refuses a leading
    /// `/`, `..` segments and empty segments, which would make keys no S3 console shows sanely.
    pub fn normalise_prefix(raw: &str) -> Result<String, String> {
        let trimmed = raw.trim().trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(String::new());
        }
        let bad_segment = trimmed
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
        if trimmed.starts_with('/') || bad_segment {
            return Err(format!(
                "'{raw}' is not a key prefix (folders separated by '/', no '.' or '..')"
            ));
        }
        Ok(format!("{trimmed}/"))
    }

    /// Checks S3's bucket naming rules (3-63 characters of lower-case letters, digits, `.`
    /// and `-`, starting and ending with a letter or digit).
    pub fn check_bucket(raw: &str) -> Result<(), String> {
        let allowed = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if (3..=63).contains(&raw.len())
            && allowed
            && ends(raw.chars().next())
            && ends(raw.chars().last())
        {
            Ok(())
        } else {
            Err(format!(
                "'{raw}' is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')"
            ))
        }
    }
}

pub struct S3DocumentStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3DocumentStore {
    /// A store on the SDK's shared configuration (`AWS_ENDPOINT_URL` honoured, path-style then).
    pub async fn open(config: &S3Config) -> Self {
        let sdk = crate::adapters::aws_sdk::sdk_config(config.region.as_deref()).await;
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3),
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
        }
    }

    /// The object key of a document key.
    pub fn object_key(&self, key: &DocumentKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    fn unavailable<E, R>(&self, error: SdkError<E, R>) -> DocumentError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        DocumentError::Unavailable(format!(
            "bucket {}: {}",
            self.bucket,
            DisplayErrorContext(&error)
        ))
    }
}

#[async_trait]
impl DocumentStore for S3DocumentStore {
    fn name(&self) -> &'static str {
        "s3"
    }

    async fn put(
        &self,
        application: ApplicationId,
        document: DocumentId,
        kind: ContentKind,
        bytes: &[u8],
    ) -> Result<DocumentKey, DocumentError> {
        let key = DocumentKey::new(application, document, kind);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(&key))
            .content_type(kind.mime())
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(key)
    }

    async fn get(&self, key: &DocumentKey) -> Result<Vec<u8>, DocumentError> {
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
        {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(DocumentError::NotFound(key.clone()))
            }
            Err(e) => return Err(self.unavailable(e)),
        };
        let body = object.body.collect().await.map_err(|e| {
            DocumentError::Unavailable(format!("bucket {}: reading the object: {e}", self.bucket))
        })?;
        Ok(body.into_bytes().to_vec())
    }
}
