//! The API role: the seed's producer Lambdas as HTTP endpoints (DESIGN.md §5).

mod customers;
mod documents;
pub mod extract;
mod kyc;
pub mod limits;
mod policy;
pub mod problem;
mod queries;
pub mod state;
mod step;

pub use state::{ApiContext, ApiState};

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

/// Largest JSON body of the JSON endpoints.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;
/// Largest multipart body: the 10 MiB file plus room for the text parts and framing.
pub const MAX_UPLOAD_BODY_BYTES: usize = crate::domain::document::MAX_DOCUMENT_BYTES + 256 * 1024;

static OPENAPI: &str = include_str!("openapi.json");

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/customers", post(customers::submit_user_info))
        .route(
            "/v1/applications/{id}/documents",
            post(documents::upload_document).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY_BYTES)),
        )
        .route("/v1/applications/{id}/kyc", post(kyc::perform_kyc))
        .route(
            "/v1/applications/{id}/policy-recommendation",
            post(policy::recommend_policy),
        )
        .route(
            "/v1/applications/{id}/complete",
            post(policy::complete_workflow),
        )
        .route("/v1/applications/{id}", get(queries::get_application))
        .route("/v1/customers/{id}/events", get(queries::list_events))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .route(
            "/openapi.json",
            get(|| async {
                ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
            }),
        )
        .with_state(state)
}
