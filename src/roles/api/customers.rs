//! `POST /v1/customers`: the seed's submit-user-info step.

use super::extract::StepHead;
use super::problem::Problem;
use super::state::ApiState;
use super::step::{run_step, JsonInput, StepOk, StepRequest, StepRun};
use crate::domain::customer::UserInfo;
use crate::domain::event::{EventDraft, Topic};
use crate::domain::ids::ApplicationId;
use crate::domain::validation::ValidationErrors;
use crate::domain::workflow::{ApplicationStatus, Step};
use crate::ports::store::{ApplicationRecord, CustomerRecord};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use chrono::Utc;
use serde_json::json;

pub async fn submit_user_info(
    State(state): State<ApiState>,
    head: StepHead,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let input = JsonInput::read(&headers, &body, false);
    let request = StepRequest::new(head, Step::SubmitUserInfo, &input.canonical);
    run_step(&state, request, move |run| {
        Box::pin(async move {
            let today = Utc::now().date_naive();
            let info = UserInfo::parse(&input.value?, today).map_err(Problem::validation)?;
            register(run, info).await
        })
    })
    .await
}

async fn register(run: &mut StepRun, info: UserInfo) -> Result<StepOk, Problem> {
    let customer = run.request().customer.clone();
    let correlation = run.request().correlation_id.clone();
    let tx = run.tx();
    if let Some(existing) = tx.applications_of(&customer).await?.first() {
        return Err(Problem::conflict(
            "already-submitted",
            format!(
                "this customer already submitted their information (application {})",
                existing.application_id
            ),
        ));
    }
    if tx
        .customer_id_by_email(&info.email)
        .await?
        .is_some_and(|owner| owner != customer)
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "duplicate-email",
            "this e-mail address is already registered to another customer",
        )
        .with_errors(ValidationErrors::single(
            "email",
            "duplicate",
            "is already registered to another customer",
        )));
    }
    let now = Utc::now();
    if tx.customer(&customer).await?.is_none() {
        tx.insert_customer(&CustomerRecord {
            customer_id: customer.clone(),
            email: info.email,
            first_name: info.first_name,
            last_name: info.last_name,
            date_of_birth: info.date_of_birth,
            phone_number: info.phone_number,
            created_at: now,
        })
        .await?;
    }
    let application_id = ApplicationId::new();
    let status = ApplicationStatus::UserInfoSubmitted;
    tx.insert_application(&ApplicationRecord {
        application_id,
        customer_id: customer.clone(),
        status,
        policy_id: None,
        created_at: now,
        updated_at: now,
    })
    .await?;
    Ok(StepOk {
        status: StatusCode::CREATED,
        body: json!({"customerId": customer, "applicationId": application_id, "status": status}),
        events: vec![EventDraft::new(
            Topic::UserInfoSubmitted,
            customer,
            Some(application_id),
            correlation,
            json!({"status": status}),
        )],
    })
}
