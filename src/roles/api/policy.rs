//! `POST /v1/applications/{id}/policy-recommendation` and `/complete`: the last two steps.

use super::extract::StepHead;
use super::problem::Problem;
use super::state::ApiState;
use super::step::{run_step, JsonInput, StepOk, StepRequest, StepRun};
use crate::domain::customer::age_on;
use crate::domain::event::{EventDraft, Topic};
use crate::domain::ids::ApplicationId;
use crate::domain::money::format_cents;
use crate::domain::policy::RecommendationRequest;
use crate::domain::validation::ValidationErrors;
use crate::domain::workflow::{ApplicationStatus, Step};
use crate::ports::store::RecommendationRecord;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use chrono::Utc;
use serde_json::json;

pub async fn recommend_policy(
    State(state): State<ApiState>,
    head: StepHead,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let input = JsonInput::read(&headers, &body, false);
    let request = StepRequest::new(head, Step::RecommendPolicy, &input.canonical);
    run_step(&state.clone(), request, move |run| {
        Box::pin(async move {
            let request =
                RecommendationRequest::parse(&input.value?).map_err(Problem::validation)?;
            let application = run.application().await?;
            recommend(&state, run, application.application_id, request).await
        })
    })
    .await
}

async fn recommend(
    state: &ApiState,
    run: &mut StepRun,
    application_id: ApplicationId,
    request: RecommendationRequest,
) -> Result<StepOk, Problem> {
    let customer_id = run.request().customer.clone();
    let correlation = run.request().correlation_id.clone();
    let tx = run.tx();
    let customer = tx
        .customer(&customer_id)
        .await?
        .ok_or_else(Problem::internal)?;
    let now = Utc::now();
    let age = age_on(customer.date_of_birth, now.date_naive());
    let chosen = state
        .catalogue
        .recommend(&request, age)
        .map_err(|(field, message)| {
            Problem::validation(ValidationErrors::single(
                field,
                "no_matching_product",
                message,
            ))
        })?;
    let record = RecommendationRecord {
        application_id,
        policy_id: chosen.product.policy_id.clone(),
        product_name: chosen.product.name.clone(),
        coverage_type: chosen.product.coverage_type,
        monthly_premium_cents: chosen.product.monthly_premium_cents,
        monthly_budget_cents: request.monthly_budget_cents,
        reasons: chosen.reasons.clone(),
        created_at: now,
    };
    tx.upsert_recommendation(&record).await?;
    let status = ApplicationStatus::PolicyRecommended;
    tx.update_application(application_id, status, None, now)
        .await?;
    let data = json!({
        "status": status,
        "policyId": record.policy_id,
        "productName": record.product_name,
        "coverageType": record.coverage_type,
        "monthlyPremium": format_cents(record.monthly_premium_cents),
        "reasons": record.reasons,
    });
    let mut body = data.clone();
    body["applicationId"] = json!(application_id);
    Ok(StepOk {
        status: StatusCode::OK,
        body,
        events: vec![EventDraft::new(
            Topic::PolicyRecommended,
            customer_id,
            Some(application_id),
            correlation,
            data,
        )],
    })
}

pub async fn complete_workflow(
    State(state): State<ApiState>,
    head: StepHead,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let input = JsonInput::read(&headers, &body, false);
    let request = StepRequest::new(head, Step::CompleteWorkflow, &input.canonical);
    run_step(&state, request, move |run| {
        Box::pin(async move {
            let policy_id = parse_policy_choice(&input.value?)?;
            let application = run.application().await?;
            complete(run, application.application_id, policy_id).await
        })
    })
    .await
}

fn parse_policy_choice(body: &serde_json::Value) -> Result<String, Problem> {
    let mut errors = ValidationErrors::new();
    let Some(map) = body.as_object() else {
        return Err(Problem::validation(ValidationErrors::single(
            "body",
            "invalid_type",
            "must be a JSON object",
        )));
    };
    for name in map.keys().filter(|k| k.as_str() != "policyId") {
        errors.push(
            name,
            "unknown_field",
            "is not a field of this request; expected policyId",
        );
    }
    let policy_id = match map.get("policyId") {
        None | Some(serde_json::Value::Null) => {
            errors.push("policyId", "required", "is required");
            None
        }
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => {
            Some(s.trim().to_owned())
        }
        Some(serde_json::Value::String(_)) => {
            errors.push("policyId", "invalid_format", "must be 1 to 64 characters");
            None
        }
        Some(_) => {
            errors.push("policyId", "invalid_type", "must be a string");
            None
        }
    };
    errors.into_result().map_err(Problem::validation)?;
    policy_id.ok_or_else(Problem::internal)
}

async fn complete(
    run: &mut StepRun,
    application_id: ApplicationId,
    policy_id: String,
) -> Result<StepOk, Problem> {
    let customer_id = run.request().customer.clone();
    let correlation = run.request().correlation_id.clone();
    let tx = run.tx();
    let recommended = tx
        .recommendation(application_id)
        .await?
        .ok_or_else(Problem::internal)?;
    if recommended.policy_id != policy_id {
        return Err(Problem::validation(ValidationErrors::single(
            "policyId",
            "not_recommended",
            "must be the policy recommended for this application",
        )));
    }
    let status = ApplicationStatus::Completed;
    tx.update_application(application_id, status, Some(&policy_id), Utc::now())
        .await?;
    let data =
        json!({"status": status, "policyId": policy_id, "productName": recommended.product_name});
    let mut body = data.clone();
    body["applicationId"] = json!(application_id);
    Ok(StepOk {
        status: StatusCode::OK,
        body,
        events: vec![EventDraft::new(
            Topic::WorkflowCompleted,
            customer_id,
            Some(application_id),
            correlation,
            data,
        )],
    })
}
