//! The S3 document store against moto in server mode: bytes back as stored, under the prefix,
//! encrypted, with their content type; a missing object is not found, a missing bucket is an
//! outage.

use super::*;
use crate::testing::aws::{endpoint_from_env, unique_name};

async fn bucket() -> String {
    let sdk = crate::adapters::aws_sdk::sdk_config(Some("us-east-1")).await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let name = unique_name("onboard-docs").to_ascii_lowercase();
    aws_sdk_s3::Client::from_conf(s3)
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    name
}

async fn store(bucket: &str, prefix: &str) -> S3DocumentStore {
    S3DocumentStore::open(&S3Config {
        bucket: bucket.into(),
        prefix: S3Config::normalise_prefix(prefix).unwrap(),
        region: Some("us-east-1".into()),
    })
    .await
}

#[tokio::test]
async fn a_stored_document_is_read_back_encrypted_under_the_prefix() {
    if endpoint_from_env("s3 documents: round trip").is_none() {
        return;
    }
    let bucket = bucket().await;
    let store = store(&bucket, "uploads/dev").await;
    let png = b"\x89PNG\r\n\x1a\n an id card".to_vec();
    let (application, document) = (ApplicationId::new(), DocumentId::new());
    let key = store
        .put(application, document, ContentKind::Png, &png)
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), png);

    let head = store
        .client
        .head_object()
        .bucket(&bucket)
        .key(format!("uploads/dev/{application}/{document}.png"))
        .send()
        .await
        .expect("the object under the prefix");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(head.content_type(), Some("image/png"));

    // Putting the same key again replaces the bytes.
    let again = store
        .put(
            application,
            document,
            ContentKind::Png,
            b"\x89PNG\r\n\x1a\n new",
        )
        .await
        .unwrap();
    assert_eq!(again, key);
    assert_eq!(store.get(&key).await.unwrap(), b"\x89PNG\r\n\x1a\n new");
}

#[tokio::test]
async fn a_missing_document_is_not_found_and_a_missing_bucket_is_unavailable() {
    if endpoint_from_env("s3 documents: missing").is_none() {
        return;
    }
    let key = DocumentKey::new(ApplicationId::new(), DocumentId::new(), ContentKind::Pdf);
    let present = store(&bucket().await, "").await;
    assert!(
        matches!(present.get(&key).await, Err(DocumentError::NotFound(k)) if k == key),
        "a missing object"
    );
    let absent = store(&unique_name("absent").to_ascii_lowercase(), "").await;
    let put = absent
        .put(
            ApplicationId::new(),
            DocumentId::new(),
            ContentKind::Pdf,
            b"%PDF",
        )
        .await;
    assert!(matches!(put, Err(DocumentError::Unavailable(_))), "{put:?}");
}

#[test]
fn prefixes_are_folders_and_bucket_names_follow_s3_rules() {
    assert_eq!(S3Config::normalise_prefix("").unwrap(), "");
    assert_eq!(S3Config::normalise_prefix("docs").unwrap(), "docs/");
    assert_eq!(S3Config::normalise_prefix("a/b/").unwrap(), "a/b/");
    for bad in ["/docs", "a//b", "a/../b", "."] {
        assert!(S3Config::normalise_prefix(bad).is_err(), "{bad}");
    }
    assert!(S3Config::check_bucket("onboard-documents-dev").is_ok());
    for bad in ["ab", "Upper", "-start", "end-", "under_score"] {
        assert!(S3Config::check_bucket(bad).is_err(), "{bad}");
    }
}
