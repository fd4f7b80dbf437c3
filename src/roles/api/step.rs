//! Running one producer step: idempotent replay, the state transaction with its outbox events,
//! and the failure path that records the problem on `workflow-errors`.
//!
//! Every step goes one path: its [`StepHead`] and body make a [`StepRequest`] (one fingerprint
//! for all steps), and [`run_step`] begins it (answering a replayed `Idempotency-Key` from the
//! store), runs the step's work on the transaction and finishes with either the success
//! (events committed atomically with the state) or a problem (state rolled back, the failure
//! published on `workflow-errors` and remembered for the key).

use super::extract::{json_body, IdempotencyKey, StepHead};
use super::problem::{Problem, PROBLEM_CONTENT_TYPE};
use super::state::ApiState;
use crate::domain::event::{EventDraft, Topic, WorkflowErrorData};
use crate::domain::ids::{ApplicationId, CustomerId};
use crate::domain::workflow::Step;
use crate::ports::store::{ApplicationRecord, IdempotentResponse, StoreError, StoreTx};
use crate::telemetry;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

/// What identifies one step request.
pub struct StepRequest {
    pub customer: CustomerId,
    pub step: Step,
    pub application_id: Option<ApplicationId>,
    pub idempotency_key: Option<IdempotencyKey>,
    /// Fingerprint of the request's meaning, to refuse a key reused for another request.
    pub fingerprint: String,
    pub correlation_id: String,
}

impl StepRequest {
    /// The request of `step`; `body` is what gives the body its meaning (see
    /// [`JsonInput::canonical`]), so the fingerprint covers method, step, application and body.
    pub fn new(head: StepHead, step: Step, body: &[u8]) -> Self {
        let application = head.application_id.map(|id| id.to_string());
        let fingerprint = fingerprint(&[
            head.method.as_str().as_bytes(),
            step.as_str().as_bytes(),
            application.as_deref().unwrap_or("").as_bytes(),
            body,
        ]);
        Self {
            customer: head.customer,
            step,
            application_id: head.application_id,
            idempotency_key: head.idempotency_key,
            fingerprint,
            correlation_id: head.correlation_id,
        }
    }
}

/// A JSON step body, read but not yet judged: a parse failure is the step's failure (published
/// and remembered for the key), not a rejection before the step begins.
pub struct JsonInput {
    pub value: Result<serde_json::Value, Problem>,
    /// Equal JSON gives equal bytes (serde_json sorts keys, spacing is dropped); a body that is
    /// not JSON counts by its raw bytes, tagged so the two can never be confused.
    pub canonical: Vec<u8>,
}

impl JsonInput {
    /// `empty_ok`: an empty body stands for `{}` (steps that take no input).
    pub fn read(headers: &HeaderMap, body: &Bytes, empty_ok: bool) -> Self {
        let value = json_body(headers, body, empty_ok);
        let canonical = match &value {
            Ok(json) => [b"json:".as_slice(), json.to_string().as_bytes()].concat(),
            Err(_) => [b"raw:".as_slice(), body].concat(),
        };
        Self { value, canonical }
    }
}

/// Runs one step: a replayed key is answered from the store; otherwise `work` runs on the
/// step's transaction and its outcome is committed.
pub async fn run_step<W>(state: &ApiState, request: StepRequest, work: W) -> Response
where
    W: for<'r> FnOnce(&'r mut StepRun) -> BoxFuture<'r, Result<StepOk, Problem>>,
{
    let started = std::time::Instant::now();
    let step = request.step;
    let response = match StepRun::begin(state, request).await {
        Ok(Begun::Running(mut run)) => {
            let outcome = work(&mut run).await;
            run.finish(outcome).await
        }
        Ok(Begun::Replay(response)) => response,
        Err(problem) => problem.into_response(),
    };
    count_step(step, &response, started.elapsed());
    response
}

/// Counts one answered step by its outcome: `ok`, `replayed` (an `Idempotency-Key` answered
/// from the store), `rejected` (the client's error) or `error` (ours).
fn count_step(step: Step, response: &Response, took: std::time::Duration) {
    let outcome = if response.headers().contains_key("idempotent-replayed") {
        "replayed"
    } else if response.status().is_success() {
        "ok"
    } else if response.status().is_client_error() {
        "rejected"
    } else {
        "error"
    };
    let step = step.as_str();
    metrics::counter!(telemetry::STEPS_TOTAL, "step" => step, "outcome" => outcome).increment(1);
    metrics::histogram!(telemetry::STEP_DURATION, "step" => step).record(took.as_secs_f64());
}

/// A successful step: the response and the events to commit with it.
pub struct StepOk {
    pub status: StatusCode,
    pub body: serde_json::Value,
    pub events: Vec<EventDraft>,
}

pub enum Begun {
    /// The key was used before for the same request: this is the first answer.
    Replay(Response),
    Running(StepRun),
}

pub struct StepRun {
    state: ApiState,
    request: StepRequest,
    tx: Box<dyn StoreTx>,
}

/// SHA-256 over the parts that give a request its meaning.
fn fingerprint(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

impl StepRun {
    pub async fn begin(state: &ApiState, request: StepRequest) -> Result<Begun, Problem> {
        let mut tx = state.store.begin().await?;
        if let Some(key) = &request.idempotency_key {
            if let Some(stored) = tx.idempotent_response(&request.customer, &key.0).await? {
                return Ok(Begun::Replay(replay(&stored, &request.fingerprint)));
            }
        }
        Ok(Begun::Running(StepRun {
            state: state.clone(),
            request,
            tx,
        }))
    }

    pub fn tx(&mut self) -> &mut dyn StoreTx {
        self.tx.as_mut()
    }

    pub fn request(&self) -> &StepRequest {
        &self.request
    }

    /// The application this step is on (the route's `{id}`).
    fn application_id(&self) -> Result<ApplicationId, Problem> {
        // Only routes with an `{id}` call this, and their head always has one.
        self.request.application_id.ok_or_else(Problem::internal)
    }

    /// Loads the application of this step, refusing another customer's (as 404, so ids cannot
    /// be probed) and a step that is not allowed from its status (409).
    pub async fn application(&mut self) -> Result<ApplicationRecord, Problem> {
        let id = self.application_id()?;
        let application = self
            .tx
            .application_for_update(id)
            .await?
            .filter(|a| a.customer_id == self.request.customer)
            .ok_or_else(|| Problem::not_found(format!("application {id} does not exist")))?;
        self.request
            .step
            .check(application.status)
            .map_err(|message| Problem::conflict("step-out-of-order", message))?;
        Ok(application)
    }

    /// Commits the outcome and answers the client.
    pub async fn finish(self, outcome: Result<StepOk, Problem>) -> Response {
        match outcome {
            Ok(ok) => self
                .commit_success(ok)
                .await
                .unwrap_or_else(IntoResponse::into_response),
            Err(problem) => self.commit_failure(problem).await,
        }
    }

    async fn commit_success(mut self, ok: StepOk) -> Result<Response, Problem> {
        for draft in ok.events {
            self.tx.enqueue_event(draft).await?;
        }
        let body = ok.body.to_string();
        if let Some(key) = &self.request.idempotency_key {
            let stored = IdempotentResponse {
                request_hash: self.request.fingerprint.clone(),
                status: ok.status.as_u16(),
                body: body.clone(),
            };
            save_or_conflict(self.tx.as_mut(), &self.request.customer, &key.0, &stored).await?;
        }
        self.tx.commit().await?;
        self.state.outbox_nudge.notify_one();
        Ok(json_response(ok.status, body, "application/json", false))
    }

    /// Rolls the step back; for client errors (400/409/413/422) publishes the failure on
    /// `workflow-errors` and stores the answer for the idempotency key, in one new transaction.
    async fn commit_failure(self, problem: Problem) -> Response {
        let StepRun { state, request, tx } = self;
        drop(tx);
        if !matches!(problem.status, 400 | 409 | 413 | 422) {
            return problem.into_response();
        }
        match record_failure(&state, &request, &problem).await {
            Ok(Some(replayed)) => replayed,
            Ok(None) => {
                state.outbox_nudge.notify_one();
                problem.into_response()
            }
            Err(e) => e.into_response(),
        }
    }
}

async fn record_failure(
    state: &ApiState,
    request: &StepRequest,
    problem: &Problem,
) -> Result<Option<Response>, Problem> {
    let mut tx = state.store.begin().await?;
    if let Some(key) = &request.idempotency_key {
        // A concurrent request with the same key may have finished first.
        if let Some(stored) = tx.idempotent_response(&request.customer, &key.0).await? {
            return Ok(Some(replay(&stored, &request.fingerprint)));
        }
    }
    let data = failure_data(request.step, problem);
    tx.enqueue_event(EventDraft::new(
        Topic::WorkflowErrors,
        request.customer.clone(),
        request.application_id,
        request.correlation_id.clone(),
        data,
    ))
    .await?;
    if let Some(key) = &request.idempotency_key {
        let stored = IdempotentResponse {
            request_hash: request.fingerprint.clone(),
            status: problem.status,
            body: problem.to_body(),
        };
        save_or_conflict(tx.as_mut(), &request.customer, &key.0, &stored).await?;
    }
    tx.commit().await?;
    Ok(None)
}

/// Longest `message` a `workflow-errors` event carries.
const MAX_FAILURE_MESSAGE_BYTES: usize = 512;

/// The failure as `workflow-errors` records it: only field names the request knows (a member
/// the client made up is counted, never copied, so it cannot reach an event or an operator's
/// e-mail) and a message of bounded size.
fn failure_data(step: crate::domain::workflow::Step, problem: &Problem) -> WorkflowErrorData {
    let (unknown, known): (Vec<_>, Vec<_>) =
        problem.errors.iter().partition(|e| e.code == UNKNOWN_FIELD);
    let mut fields: Vec<String> = known.iter().map(|e| e.field.clone()).collect();
    fields.dedup();
    let message = if problem.errors.is_empty() {
        let mut detail = problem.detail.clone();
        if detail.len() > MAX_FAILURE_MESSAGE_BYTES {
            let mut end = MAX_FAILURE_MESSAGE_BYTES;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
        }
        detail
    } else {
        let mut parts = fields.clone();
        if !unknown.is_empty() {
            parts.push(format!("{} unknown field(s)", unknown.len()));
        }
        format!(
            "{} invalid field(s): {}",
            problem.errors.len(),
            parts.join(", ")
        )
    };
    WorkflowErrorData {
        step: step.as_str().to_string(),
        code: problem.code.clone(),
        message,
        fields,
    }
}

/// The code of a member or part the request does not know.
const UNKNOWN_FIELD: &str = "unknown_field";

async fn save_or_conflict(
    tx: &mut dyn StoreTx,
    customer: &CustomerId,
    key: &str,
    stored: &IdempotentResponse,
) -> Result<(), Problem> {
    match tx.save_idempotent_response(customer, key, stored).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(Problem::conflict(
            "idempotency-key-in-use",
            "another request with this Idempotency-Key is being processed; retry to get its answer",
        )),
        Err(e) => Err(e.into()),
    }
}

fn replay(stored: &IdempotentResponse, fingerprint: &str) -> Response {
    if stored.request_hash != fingerprint {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "this Idempotency-Key was already used for a different request",
        )
        .into_response();
    }
    let content_type = if stored.status >= 400 {
        PROBLEM_CONTENT_TYPE
    } else {
        "application/json"
    };
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    json_response(status, stored.body.clone(), content_type, true)
}

fn json_response(
    status: StatusCode,
    body: String,
    content_type: &'static str,
    replayed: bool,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validation::ValidationErrors;

    #[test]
    fn a_made_up_member_is_counted_but_never_copied_into_the_failure_event() {
        let mut errors = ValidationErrors::new();
        errors.push("email", "invalid_format", "must be an e-mail address");
        errors.push("<script>ada@example.com", UNKNOWN_FIELD, "is not a field");
        let problem = Problem::validation(errors);
        assert!(problem.detail.contains("<script>"), "the client is told");
        let data = failure_data(Step::SubmitUserInfo, &problem);
        assert_eq!(data.fields, vec!["email".to_owned()]);
        assert_eq!(
            data.message,
            "2 invalid field(s): email, 1 unknown field(s)"
        );
        let event = serde_json::to_string(&data).unwrap();
        assert!(
            !event.contains("script") && !event.contains("ada@"),
            "{event}"
        );
    }

    #[test]
    fn a_long_detail_is_cut_to_the_bound() {
        let problem = Problem::new(StatusCode::BAD_REQUEST, "x", "é".repeat(1000));
        let data = failure_data(Step::SubmitUserInfo, &problem);
        assert!(data.message.len() <= MAX_FAILURE_MESSAGE_BYTES);
    }
}
