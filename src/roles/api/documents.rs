//! `POST /v1/applications/{id}/documents`: the seed's process-documents step (multipart upload).

use super::extract::StepHead;
use super::problem::Problem;
use super::state::ApiState;
use super::step::{run_step, StepOk, StepRequest, StepRun};
use crate::domain::document::{ContentKind, DocumentFields, MAX_DOCUMENT_BYTES};
use crate::domain::event::{EventDraft, Topic};
use crate::domain::ids::{ApplicationId, DocumentId};
use crate::domain::validation::ValidationErrors;
use crate::domain::workflow::{ApplicationStatus, Step};
use crate::ports::store::DocumentRecord;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const TEXT_PARTS: [&str; 4] = ["documentType", "documentNumber", "fullName", "expiryDate"];
const MAX_TEXT_PART_BYTES: usize = 1024;

/// The upload as read from the wire, before validation.
struct Upload {
    parts: HashMap<String, String>,
    file: Option<Vec<u8>>,
    errors: ValidationErrors,
}

pub async fn upload_document(
    State(state): State<ApiState>,
    head: StepHead,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    // Read the whole upload before taking the write transaction, so a slow client never holds it.
    let upload = match multipart {
        Ok(multipart) => read_upload(multipart).await,
        Err(rejection) => Err(Problem::bad_request(
            "not-multipart",
            "body",
            format!(
                "the body must be multipart/form-data: {}",
                rejection.body_text()
            ),
        )),
    };
    let mut sorted: Vec<(&String, &String)> = upload
        .as_ref()
        .map(|u| u.parts.iter().collect())
        .unwrap_or_default();
    sorted.sort();
    let file_hash = upload
        .as_ref()
        .ok()
        .and_then(|u| u.file.as_ref())
        .map(|f| sha256_hex(f))
        .unwrap_or_default();
    let canonical = format!("{sorted:?}|{file_hash}");
    let request = StepRequest::new(head, Step::ProcessDocuments, canonical.as_bytes());
    run_step(&state.clone(), request, move |run| {
        Box::pin(async move {
            let upload = upload?;
            let application = run.application().await?;
            let (fields, file, kind) = validate(upload)?;
            let document = store_file(
                &state,
                run,
                application.application_id,
                fields,
                &file,
                kind,
                file_hash,
            )
            .await?;
            Ok(accepted(run, document))
        })
    })
    .await
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, Problem> {
    let mut upload = Upload {
        parts: HashMap::new(),
        file: None,
        errors: ValidationErrors::new(),
    };
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_problem)? {
        let name = field.name().unwrap_or("").to_owned();
        let seen = upload.parts.contains_key(&name) || (name == "file" && upload.file.is_some());
        if seen {
            upload
                .errors
                .push(&name, "duplicate_field", "must be sent only once");
            continue;
        }
        if name == "file" {
            let mut bytes = Vec::new();
            let mut too_large = false;
            while let Some(chunk) = field.chunk().await.map_err(multipart_problem)? {
                if bytes.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                    too_large = true;
                    continue; // drain the rest without keeping it
                }
                bytes.extend_from_slice(&chunk);
            }
            if too_large {
                upload.errors.push(
                    "file",
                    "too_large",
                    format!("must be at most {} MiB", MAX_DOCUMENT_BYTES / (1024 * 1024)),
                );
            }
            upload.file = Some(bytes);
        } else if TEXT_PARTS.contains(&name.as_str()) {
            let bytes = field.bytes().await.map_err(multipart_problem)?;
            match String::from_utf8(bytes.to_vec()) {
                Ok(text) if text.len() <= MAX_TEXT_PART_BYTES => {
                    upload.parts.insert(name, text);
                }
                Ok(_) => upload.errors.push(
                    &name,
                    "too_long",
                    format!("must be at most {MAX_TEXT_PART_BYTES} bytes"),
                ),
                Err(_) => upload
                    .errors
                    .push(&name, "invalid_encoding", "must be UTF-8 text"),
            }
        } else {
            upload.errors.push(
                if name.is_empty() { "body" } else { &name },
                "unknown_field",
                "is not a field of this request; expected documentType, documentNumber, fullName, expiryDate and file",
            );
        }
    }
    Ok(upload)
}

fn multipart_problem(error: MultipartError) -> Problem {
    let status = error.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            status,
            "payload-too-large",
            "the upload exceeds the size limit of 10 MiB",
        )
    } else {
        Problem::bad_request(
            "malformed-multipart",
            "body",
            format!(
                "the multipart body could not be read: {}",
                error.body_text()
            ),
        )
    }
}

fn validate(upload: Upload) -> Result<(DocumentFields, Vec<u8>, ContentKind), Problem> {
    let mut errors = upload.errors;
    let fields = DocumentFields::parse(&upload.parts)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let kind = match &upload.file {
        None => {
            errors.push(
                "file",
                "required",
                "is required (a PDF, JPEG or PNG of at most 10 MiB)",
            );
            None
        }
        Some(bytes) if bytes.is_empty() => {
            errors.push("file", "empty", "must not be empty");
            None
        }
        Some(bytes) => {
            let kind = ContentKind::sniff(bytes);
            if kind.is_none() && !errors.0.iter().any(|e| e.field == "file") {
                errors.push(
                    "file",
                    "unsupported_type",
                    "must be a PDF, JPEG or PNG file",
                );
            }
            kind
        }
    };
    match (errors.into_result(), fields, kind, upload.file) {
        (Ok(()), Some(fields), Some(kind), Some(file)) => Ok((fields, file, kind)),
        (Err(errors), ..) => Err(Problem::validation(errors)),
        _ => Err(Problem::internal()),
    }
}

async fn store_file(
    state: &ApiState,
    run: &mut StepRun,
    application_id: ApplicationId,
    fields: DocumentFields,
    file: &[u8],
    kind: ContentKind,
    sha256: String,
) -> Result<DocumentRecord, Problem> {
    let document_id = DocumentId::new();
    // Stored before the row that points at it is committed: a crash in between leaves an
    // unreferenced file, never a record without its bytes.
    let key = state
        .documents
        .put(application_id, document_id, kind, file)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, application_id = %application_id, store = state.documents.name(), "Storing an uploaded document failed.");
            Problem::internal()
        })?;
    let record = DocumentRecord {
        document_id,
        application_id,
        document_type: fields.document_type,
        document_number: fields.document_number,
        full_name: fields.full_name,
        expiry_date: fields.expiry_date,
        content_kind: kind,
        size_bytes: file.len() as i64,
        sha256,
        stored_path: key.as_str().to_owned(),
        created_at: Utc::now(),
    };
    let tx = run.tx();
    tx.insert_document(&record).await?;
    tx.update_application(
        application_id,
        ApplicationStatus::DocumentsProcessed,
        None,
        record.created_at,
    )
    .await?;
    Ok(record)
}

fn accepted(run: &StepRun, document: DocumentRecord) -> StepOk {
    let status = ApplicationStatus::DocumentsProcessed;
    let summary = json!({
        "status": status,
        "documentId": document.document_id,
        "documentType": document.document_type,
        "contentType": document.content_kind.mime(),
        "sha256": document.sha256,
        "sizeBytes": document.size_bytes,
    });
    let mut body = summary.clone();
    body["applicationId"] = json!(document.application_id);
    StepOk {
        status: StatusCode::CREATED,
        body,
        events: vec![EventDraft::new(
            Topic::DocumentsProcessed,
            run.request().customer.clone(),
            Some(document.application_id),
            run.request().correlation_id.clone(),
            summary,
        )],
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
