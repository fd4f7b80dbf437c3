//! `POST /v1/applications/{id}/kyc`: the seed's perform-KYC step.

use super::extract::StepHead;
use super::problem::Problem;
use super::state::ApiState;
use super::step::{run_step, JsonInput, StepOk, StepRequest, StepRun};
use crate::domain::event::{EventDraft, Topic, WorkflowErrorData};
use crate::domain::ids::ApplicationId;
use crate::domain::kyc::{assess, KycDecision, KycInput, Verdict};
use crate::domain::validation::ValidationErrors;
use crate::domain::workflow::{ApplicationStatus, Step};
use crate::ports::store::KycRecord;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use chrono::Utc;
use serde_json::json;

pub async fn perform_kyc(
    State(state): State<ApiState>,
    head: StepHead,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // An empty body means `{}`, so both fingerprint alike.
    let input = JsonInput::read(&headers, &body, true);
    let request = StepRequest::new(head, Step::PerformKyc, &input.canonical);
    run_step(&state.clone(), request, move |run| {
        Box::pin(async move {
            no_input(input.value?)?;
            let application = run.application().await?;
            decide(&state, run, application.application_id).await
        })
    })
    .await
}

/// The step takes no input; anything but an empty body or `{}` is refused rather than ignored.
fn no_input(value: serde_json::Value) -> Result<(), Problem> {
    match value.as_object() {
        Some(map) if map.is_empty() => Ok(()),
        Some(map) => {
            let mut errors = ValidationErrors::new();
            for name in map.keys() {
                errors.push(name, "unknown_field", "this step takes no input");
            }
            Err(Problem::validation(errors))
        }
        None => Err(Problem::validation(ValidationErrors::single(
            "body",
            "invalid_type",
            "must be empty or an empty JSON object",
        ))),
    }
}

async fn decide(
    state: &ApiState,
    run: &mut StepRun,
    application_id: ApplicationId,
) -> Result<StepOk, Problem> {
    let customer_id = run.request().customer.clone();
    let correlation = run.request().correlation_id.clone();
    let tx = run.tx();
    let customer = tx
        .customer(&customer_id)
        .await?
        .ok_or_else(Problem::internal)?;
    let documents = tx.documents(application_id).await?;
    let identity = documents
        .iter()
        .rev()
        .find(|d| d.document_type.proves_identity());
    let fields = identity.map(|d| crate::domain::document::DocumentFields {
        document_type: d.document_type,
        document_number: d.document_number.clone(),
        full_name: d.full_name.clone(),
        expiry_date: d.expiry_date,
    });
    let now = Utc::now();
    let outcome = assess(
        &KycInput {
            first_name: customer.first_name.as_str(),
            last_name: customer.last_name.as_str(),
            date_of_birth: customer.date_of_birth,
            identity_document: fields.as_ref(),
            today: now.date_naive(),
        },
        &state.watch_list,
    );
    let status = match outcome.decision {
        KycDecision::Approved => ApplicationStatus::KycVerified,
        KycDecision::Rejected => ApplicationStatus::KycRejected,
        KycDecision::Review => ApplicationStatus::KycReview,
    };
    tx.insert_kyc_result(&KycRecord {
        application_id,
        document_id: identity.map(|d| d.document_id),
        decision: outcome.decision,
        reasons: outcome.reasons.clone(),
        checked_at: now,
    })
    .await?;
    tx.update_application(application_id, status, None, now)
        .await?;
    let result = json!({
        "status": status,
        "decision": outcome.decision,
        "reasons": outcome.reasons,
        "documentId": identity.map(|d| d.document_id),
    });
    let mut events = vec![EventDraft::new(
        Topic::KycVerified,
        customer_id.clone(),
        Some(application_id),
        correlation.clone(),
        result.clone(),
    )];
    if outcome.decision == KycDecision::Rejected {
        let failed: Vec<&str> = outcome
            .reasons
            .iter()
            .filter(|r| r.verdict == Verdict::Reject)
            .map(|r| r.code.as_str())
            .collect();
        events.push(EventDraft::new(
            Topic::WorkflowErrors,
            customer_id,
            Some(application_id),
            correlation,
            WorkflowErrorData {
                step: Step::PerformKyc.as_str().into(),
                code: "kyc-rejected".into(),
                message: format!(
                    "KYC rejected the application; failed checks: {}",
                    failed.join(", ")
                ),
                fields: Vec::new(),
            },
        ));
    }
    let mut body = result;
    body["applicationId"] = json!(application_id);
    Ok(StepOk {
        status: StatusCode::OK,
        body,
        events,
    })
}
