//! Read endpoints: an application's state and timeline, and a customer's event feed.

use super::extract::Customer;
use super::problem::Problem;
use super::state::ApiState;
use crate::domain::ids::{ApplicationId, CustomerId, EventId};
use crate::domain::validation::ValidationErrors;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

pub async fn get_application(
    State(state): State<ApiState>,
    Customer(customer): Customer,
    Path(raw_id): Path<String>,
) -> Response {
    match application_view(&state, &customer, &raw_id).await {
        Ok(view) => Json(view).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn application_view(
    state: &ApiState,
    customer: &CustomerId,
    raw_id: &str,
) -> Result<serde_json::Value, Problem> {
    let not_found = || Problem::not_found(format!("application {raw_id} does not exist"));
    let id = ApplicationId::parse(raw_id).map_err(|_| not_found())?;
    let application = state
        .store
        .application(id)
        .await?
        .filter(|a| &a.customer_id == customer)
        .ok_or_else(not_found)?;
    let documents = state.store.documents(id).await?;
    let kyc = state.store.kyc_result(id).await?;
    let recommendation = state.store.recommendation(id).await?;
    let timeline = state.store.application_events(id).await?;
    Ok(json!({
        "applicationId": application.application_id,
        "customerId": application.customer_id,
        "status": application.status,
        "policyId": application.policy_id,
        "createdAt": application.created_at,
        "updatedAt": application.updated_at,
        "documents": documents.iter().map(|d| json!({
            "documentId": d.document_id,
            "documentType": d.document_type,
            "contentType": d.content_kind.mime(),
            "sizeBytes": d.size_bytes,
            "sha256": d.sha256,
            "expiryDate": d.expiry_date,
            "createdAt": d.created_at,
        })).collect::<Vec<_>>(),
        "kyc": kyc.map(|k| json!({"decision": k.decision, "reasons": k.reasons, "checkedAt": k.checked_at})),
        "recommendation": recommendation.map(|r| json!({
            "policyId": r.policy_id,
            "productName": r.product_name,
            "coverageType": r.coverage_type,
            "monthlyPremium": crate::domain::money::format_cents(r.monthly_premium_cents),
            "reasons": r.reasons,
        })),
        "timeline": timeline,
    }))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// Largest page of `GET /v1/customers/{id}/events`.
pub const MAX_EVENTS_PAGE: i64 = 500;

pub async fn list_events(
    State(state): State<ApiState>,
    Customer(customer): Customer,
    Path(raw_customer): Path<String>,
    Query(query): Query<EventsQuery>,
) -> Response {
    if raw_customer != customer.as_str() {
        return Problem::forbidden("a token can only read its own customer's events")
            .into_response();
    }
    match events_page(&state, &customer, query).await {
        Ok(page) => Json(page).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn events_page(
    state: &ApiState,
    customer: &CustomerId,
    query: EventsQuery,
) -> Result<serde_json::Value, Problem> {
    let mut errors = ValidationErrors::new();
    let limit = match query.limit.as_deref().map(str::parse::<i64>) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_EVENTS_PAGE).contains(&n) => n,
        Some(_) => {
            errors.push(
                "limit",
                "out_of_range",
                format!("must be a whole number from 1 to {MAX_EVENTS_PAGE}"),
            );
            0
        }
    };
    let mut after_sequence = 0;
    if let Some(raw) = query.after.as_deref().filter(|s| !s.is_empty()) {
        match EventId::parse(raw) {
            Err(_) => errors.push("after", "invalid_format", "must be an event id (UUID)"),
            Ok(id) => match state.store.event_of_customer(customer, id).await? {
                Some(event) => after_sequence = event.sequence,
                None => errors.push("after", "unknown_event", "is not an event of this customer"),
            },
        }
    }
    errors.into_result().map_err(Problem::validation)?;
    let events = state
        .store
        .events_after(customer, after_sequence, limit)
        .await?;
    let next_after = events.last().map(|e| e.id);
    Ok(json!({"events": events, "nextAfter": next_after}))
}
