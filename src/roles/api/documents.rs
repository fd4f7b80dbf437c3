//! `POST /v1/applications/{id}/documents`: the seed's process-documents step (multipart upload).
//!
//! The application is checked before the body is read, a place among the concurrent uploads is
//! taken, and the file streams into the document store with its size cap enforced on the way
//! (413 as soon as it passes 10 MiB); the upload is never held whole in memory.

use super::extract::StepHead;
use super::problem::Problem;
use super::state::ApiState;
use super::step::{run_step, StepOk, StepRequest, StepRun};
use crate::domain::document::{ContentKind, DocumentFields, MAX_DOCUMENT_BYTES};
use crate::domain::event::{EventDraft, Topic};
use crate::domain::ids::{ApplicationId, DocumentId};
use crate::domain::validation::ValidationErrors;
use crate::domain::workflow::{ApplicationStatus, Step};
use crate::ports::documents::{DocumentError, DocumentKey};
use crate::ports::store::DocumentRecord;
use axum::extract::multipart::{Field, Multipart, MultipartError, MultipartRejection};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const TEXT_PARTS: [&str; 4] = ["documentType", "documentNumber", "fullName", "expiryDate"];
const MAX_TEXT_PART_BYTES: usize = 1024;

/// The upload as read from the wire, before validation; the file is already in the document
/// store (an upload refused afterwards leaves it unreferenced, like a crash would).
struct Upload {
    parts: HashMap<String, String>,
    file: Option<StoredFile>,
    /// A `file` part was sent (possibly empty or of an unknown type).
    file_sent: bool,
    errors: ValidationErrors,
}

/// Where the streamed file went and what it was.
struct StoredFile {
    document_id: DocumentId,
    key: DocumentKey,
    kind: ContentKind,
    size_bytes: usize,
    sha256: String,
}

pub async fn upload_document(
    State(state): State<ApiState>,
    head: StepHead,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    // The application is checked before a byte of the body is read: a flood of large uploads
    // to applications that do not exist costs the server nothing but the refusals.
    if let Err(problem) = check_before_reading(&state, &head).await {
        let request = StepRequest::new(head, Step::ProcessDocuments, b"unread");
        return run_step(&state, request, move |_| {
            Box::pin(async move { Err(problem) })
        })
        .await;
    }
    let Some(application_id) = head.application_id else {
        return Problem::internal().into_response();
    };
    let _slot = match state.uploads.try_take(&head.customer) {
        Ok(slot) => slot,
        Err(refused) => return refused,
    };
    // Read (and store) the whole upload before taking the write transaction, so a slow client
    // never holds it.
    let upload = match multipart {
        Ok(multipart) => read_upload(&state, application_id, multipart).await,
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
        .map(|f| f.sha256.clone())
        .unwrap_or_default();
    let canonical = format!("{sorted:?}|{file_hash}");
    let request = StepRequest::new(head, Step::ProcessDocuments, canonical.as_bytes());
    run_step(&state.clone(), request, move |run| {
        Box::pin(async move {
            let upload = upload?;
            let application = run.application().await?;
            let (fields, file) = validate(upload)?;
            let document = record_document(run, application.application_id, fields, file).await?;
            Ok(accepted(run, document))
        })
    })
    .await
}

/// The application exists, is the customer's and may take a document now (404 or 409 else).
/// A request whose `Idempotency-Key` already has an answer goes on, to be answered from it.
async fn check_before_reading(state: &ApiState, head: &StepHead) -> Result<(), Problem> {
    let id = head.application_id.ok_or_else(Problem::internal)?;
    if let Some(key) = &head.idempotency_key {
        // A plain read: the step itself looks again in its transaction, so this look needs
        // none (on SQLite a transaction would hold the only writer for it).
        if state
            .store
            .idempotent_response(&head.customer, &key.0)
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    let application = state
        .store
        .application(id)
        .await?
        .filter(|a| a.customer_id == head.customer)
        .ok_or_else(|| Problem::not_found(format!("application {id} does not exist")))?;
    Step::ProcessDocuments
        .check(application.status)
        .map_err(|message| Problem::conflict("step-out-of-order", message))
}

async fn read_upload(
    state: &ApiState,
    application_id: ApplicationId,
    mut multipart: Multipart,
) -> Result<Upload, Problem> {
    let mut upload = Upload {
        parts: HashMap::new(),
        file: None,
        file_sent: false,
        errors: ValidationErrors::new(),
    };
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_problem)? {
        let name = field.name().unwrap_or("").to_owned();
        let seen = upload.parts.contains_key(&name) || (name == "file" && upload.file_sent);
        if seen {
            upload
                .errors
                .push(&name, "duplicate_field", "must be sent only once");
            drain(&mut field, &mut Tally::new()).await?;
            continue;
        }
        if name == "file" {
            upload.file_sent = true;
            upload.file = stream_file(state, application_id, field, &mut upload.errors).await?;
        } else if TEXT_PARTS.contains(&name.as_str()) {
            match read_text(&mut field).await? {
                Some(Ok(text)) => {
                    upload.parts.insert(name, text);
                }
                None => upload.errors.push(
                    &name,
                    "too_long",
                    format!("must be at most {MAX_TEXT_PART_BYTES} bytes"),
                ),
                Some(Err(())) => {
                    upload
                        .errors
                        .push(&name, "invalid_encoding", "must be UTF-8 text")
                }
            }
        } else {
            // The client's field name is not echoed: only names this request knows travel on.
            upload.errors.push(
                "body",
                "unknown_field",
                "holds a part that is not a field of this request; expected documentType, documentNumber, fullName, expiryDate and file",
            );
            drain(&mut field, &mut Tally::new()).await?;
        }
    }
    Ok(upload)
}

/// A text part: `None` when longer than [`MAX_TEXT_PART_BYTES`] (the rest is read and
/// dropped), `Some(Err)` when not UTF-8.
async fn read_text(field: &mut Field<'_>) -> Result<Option<Result<String, ()>>, Problem> {
    let mut bytes = Vec::new();
    let mut too_long = false;
    while let Some(chunk) = field.chunk().await.map_err(multipart_problem)? {
        if bytes.len() + chunk.len() > MAX_TEXT_PART_BYTES {
            too_long = true;
            continue;
        }
        bytes.extend_from_slice(&chunk);
    }
    if too_long {
        return Ok(None);
    }
    Ok(Some(String::from_utf8(bytes).map_err(|_| ())))
}

/// Streams the `file` part into the document store under a new document id, hashing and
/// counting it on the way; refuses it with 413 as soon as it passes [`MAX_DOCUMENT_BYTES`].
async fn stream_file(
    state: &ApiState,
    application_id: ApplicationId,
    mut field: Field<'_>,
    errors: &mut ValidationErrors,
) -> Result<Option<StoredFile>, Problem> {
    let mut tally = Tally::new();
    // Enough of the start to recognise the type by its magic bytes.
    let mut head = Vec::new();
    while head.len() < SNIFF_BYTES {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                head.extend_from_slice(&tally.count(Ok(chunk)).map_err(|_| tally.problem())?)
            }
            Ok(None) => break,
            Err(error) => return Err(multipart_problem(error)),
        }
    }
    if head.is_empty() {
        errors.push("file", "empty", "must not be empty");
        return Ok(None);
    }
    let Some(kind) = ContentKind::sniff(&head) else {
        errors.push(
            "file",
            "unsupported_type",
            "must be a PDF, JPEG or PNG file",
        );
        drain(&mut field, &mut tally).await?;
        return Ok(None);
    };
    let document_id = DocumentId::new();
    let chunks = futures::stream::iter([Ok(Bytes::from(head))])
        .chain(field.map(|chunk| tally.count(chunk)))
        .boxed();
    let stored = state
        .documents
        .put_stream(application_id, document_id, kind, chunks)
        .await;
    match stored {
        Ok(key) => Ok(Some(StoredFile {
            document_id,
            key,
            kind,
            size_bytes: tally.size,
            sha256: hex::encode(tally.hasher.finalize()),
        })),
        Err(DocumentError::Aborted(_)) => Err(tally.problem()),
        Err(e) => {
            tracing::error!(error = %e, application_id = %application_id, store = state.documents.name(), "Storing an uploaded document failed.");
            Err(Problem::internal())
        }
    }
}

/// Bytes to read before judging a file's type ([`ContentKind::sniff`] needs at most 8).
const SNIFF_BYTES: usize = 8;

/// Size and hash of a file part as it streams past, and why it stopped if it did.
struct Tally {
    size: usize,
    hasher: Sha256,
    failure: Option<Problem>,
}

impl Tally {
    fn new() -> Self {
        Self {
            size: 0,
            hasher: Sha256::new(),
            failure: None,
        }
    }

    /// Passes a chunk on, or ends the stream when the part is too large or the body broken.
    fn count(&mut self, chunk: Result<Bytes, MultipartError>) -> std::io::Result<Bytes> {
        let chunk = chunk.map_err(|error| {
            self.failure = Some(multipart_problem(error));
            std::io::Error::other("the multipart body could not be read")
        })?;
        self.size += chunk.len();
        if self.size > MAX_DOCUMENT_BYTES {
            self.failure = Some(too_large());
            return Err(std::io::Error::other("the file is too large"));
        }
        self.hasher.update(&chunk);
        Ok(chunk)
    }

    fn problem(&mut self) -> Problem {
        self.failure.take().unwrap_or_else(Problem::internal)
    }
}

/// Reads the rest of a part without keeping it (a file part still counts against the cap).
async fn drain(field: &mut Field<'_>, tally: &mut Tally) -> Result<(), Problem> {
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                tally.count(Ok(chunk)).map_err(|_| tally.problem())?;
            }
            Ok(None) => return Ok(()),
            Err(error) => return Err(multipart_problem(error)),
        }
    }
}

/// 413 naming the file: it grew past the cap while it streamed in.
fn too_large() -> Problem {
    let limit = format!("must be at most {} MiB", MAX_DOCUMENT_BYTES / (1024 * 1024));
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!("the file {limit}"),
    )
    .with_errors(ValidationErrors::single("file", "too_large", limit))
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

fn validate(upload: Upload) -> Result<(DocumentFields, StoredFile), Problem> {
    let mut errors = upload.errors;
    let fields = DocumentFields::parse(&upload.parts)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    if !upload.file_sent {
        errors.push(
            "file",
            "required",
            "is required (a PDF, JPEG or PNG of at most 10 MiB)",
        );
    }
    match (errors.into_result(), fields, upload.file) {
        (Ok(()), Some(fields), Some(file)) => Ok((fields, file)),
        (Err(errors), ..) => Err(Problem::validation(errors)),
        _ => Err(Problem::internal()),
    }
}

/// The document's row and the application's new status, on the step's transaction; the bytes
/// are already stored, so a crash in between leaves an unreferenced file, never a record
/// without its bytes.
async fn record_document(
    run: &mut StepRun,
    application_id: ApplicationId,
    fields: DocumentFields,
    file: StoredFile,
) -> Result<DocumentRecord, Problem> {
    let record = DocumentRecord {
        document_id: file.document_id,
        application_id,
        document_type: fields.document_type,
        document_number: fields.document_number,
        full_name: fields.full_name,
        expiry_date: fields.expiry_date,
        content_kind: file.kind,
        size_bytes: file.size_bytes as i64,
        sha256: file.sha256,
        stored_path: file.key.as_str().to_owned(),
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
