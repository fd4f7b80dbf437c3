//! The filesystem document store keeps what it is given, under the data directory's old layout.

use super::*;

fn pdf() -> Vec<u8> {
    b"%PDF-1.7 a passport".to_vec()
}

#[tokio::test]
async fn a_stored_document_is_read_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = DocumentSettings::embedded(dir.path()).open().await;
    let (application, document) = (ApplicationId::new(), DocumentId::new());
    let key = store
        .put(application, document, ContentKind::Pdf, &pdf())
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), pdf());
    // The same place as before the port existed, and nothing half-written beside it.
    let file = dir
        .path()
        .join("documents")
        .join(application.to_string())
        .join(format!("{document}.pdf"));
    assert_eq!(std::fs::read(&file).unwrap(), pdf());
    let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[tokio::test]
async fn a_missing_document_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsDocumentStore::new(dir.path());
    let key = DocumentKey::new(ApplicationId::new(), DocumentId::new(), ContentKind::Png);
    assert!(matches!(
        store.get(&key).await,
        Err(DocumentError::NotFound(missing)) if missing == key
    ));
}

#[tokio::test]
async fn an_unwritable_directory_is_reported_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let store = FsDocumentStore::new(&blocker);
    let result = store
        .put(
            ApplicationId::new(),
            DocumentId::new(),
            ContentKind::Pdf,
            &pdf(),
        )
        .await;
    assert!(
        matches!(result, Err(DocumentError::Unavailable(_))),
        "{result:?}"
    );
}

/// An upload several times the write buffer, in uneven chunks, is stored byte for byte, with
/// nothing half-written beside it.
#[tokio::test]
async fn a_streamed_upload_larger_than_the_buffer_is_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsDocumentStore::new(dir.path());
    let bytes: Vec<u8> = (0..WRITE_BUFFER_BYTES * 3 + 1234)
        .map(|i| (i % 251) as u8)
        .collect();
    let chunks: Vec<std::io::Result<bytes::Bytes>> = bytes
        .chunks(10_007)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let key = store
        .put_stream(
            ApplicationId::new(),
            DocumentId::new(),
            ContentKind::Png,
            Box::pin(futures::stream::iter(chunks)),
        )
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), bytes);
    let folder = store.path_of(&key).parent().unwrap().to_path_buf();
    assert_eq!(std::fs::read_dir(folder).unwrap().count(), 1);
}

/// An upload whose body breaks off, after part of it was written out, stores nothing: no
/// document under its key and no temporary file.
#[tokio::test]
async fn an_upload_that_breaks_off_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsDocumentStore::new(dir.path());
    let (application, document) = (ApplicationId::new(), DocumentId::new());
    let mut chunks: Vec<std::io::Result<bytes::Bytes>> = (0..3)
        .map(|_| Ok(bytes::Bytes::from(vec![7u8; WRITE_BUFFER_BYTES])))
        .collect();
    chunks.push(Err(std::io::Error::other("the client went away")));
    let result = store
        .put_stream(
            application,
            document,
            ContentKind::Pdf,
            Box::pin(futures::stream::iter(chunks)),
        )
        .await;
    assert!(
        matches!(result, Err(DocumentError::Aborted(_))),
        "{result:?}"
    );
    let key = DocumentKey::new(application, document, ContentKind::Pdf);
    assert!(matches!(
        store.get(&key).await,
        Err(DocumentError::NotFound(_))
    ));
    let folder = store.path_of(&key).parent().unwrap().to_path_buf();
    assert_eq!(std::fs::read_dir(folder).unwrap().count(), 0);
}
