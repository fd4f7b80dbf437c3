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
