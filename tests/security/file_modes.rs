//! The data directory holds identity documents, personal data and keys: nobody but its owner
//! may read it.

use crate::binary::Onboard;
use crate::support::{answer, passport_form, SEED_PAYLOAD};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[tokio::test]
async fn every_file_and_folder_in_the_data_directory_is_private_after_a_workflow() {
    // The generated secret too: no secret configured.
    let onboard = Onboard::up(&["--listen", "127.0.0.1:0"], &[("ONBOARD_JWT_SECRET", "")]);
    onboard.ready().await;
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(onboard.url("/dev/token"))
        .body(r#"{"customerId":"modes-customer-1"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let created = answer(
        http.post(onboard.url("/v1/customers"))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(SEED_PAYLOAD)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let application = created.body["applicationId"].as_str().unwrap();
    let uploaded = answer(
        http.post(onboard.url(&format!("/v1/applications/{application}/documents")))
            .header("authorization", &bearer)
            .multipart(passport_form("John Doe"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);

    // Wait for the welcome mail: the last writer of the workflow's files.
    let mail = onboard.data_dir.join("mail/new");
    for _ in 0..400 {
        if std::fs::read_dir(&mail).is_ok_and(|mut d| d.next().is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let mut seen = Vec::new();
    walk(&onboard.data_dir, &mut seen);
    let names: Vec<String> = seen.iter().map(|(p, _)| p.clone()).collect();
    for expected in ["jwt-secret", "documents", "mail/new"] {
        assert!(
            names.iter().any(|n| n.contains(expected)),
            "{expected} in {names:?}"
        );
    }
    assert!(names.iter().any(|n| n.ends_with("-wal")), "{names:?}");
    let loose: Vec<_> = seen
        .iter()
        .filter(|(_, mode)| mode & 0o077 != 0)
        .map(|(path, mode)| format!("{path} {mode:o}"))
        .collect();
    assert!(loose.is_empty(), "readable by others: {loose:?}");
}

/// Every entry under `dir` (and `dir` itself) with its permission bits.
fn walk(dir: &Path, seen: &mut Vec<(String, u32)>) {
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    seen.push((dir.display().to_string(), mode));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, seen);
        } else if let Ok(meta) = std::fs::metadata(&path) {
            seen.push((
                path.display().to_string(),
                meta.permissions().mode() & 0o777,
            ));
        }
    }
}
