//! The step functions: an API Gateway proxy event (REST API v1 or HTTP API v2), or a direct
//! invoke with only a `body` (the seed's Step 7.1), served by the HTTP API's own router with
//! `oneshot`, and its response written back in the event's shape.
//!
//! Behind API Gateway the customer is the authorizer's identity, never the body: it reaches
//! the router as a [`GatewayIdentity`] extension. A direct invoke comes from an IAM-authorised
//! caller (no authorizer); only `submit-user-info` accepts one, for a new customer with a
//! generated id.

use super::handler::StepFunction;
use crate::domain::ids::CustomerId;
use crate::roles::api::extract::GatewayIdentity;
use crate::roles::api::problem::Problem;
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;
use tower::ServiceExt;

/// Which kind of event invoked the function, so the answer has the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    RestV1,
    HttpV2,
    /// `aws lambda invoke --payload '{"body": "…"}'`.
    Direct,
}

impl Shape {
    pub fn of(payload: &Value) -> Self {
        match payload.get("requestContext") {
            None => Self::Direct,
            Some(context) if context.get("http").is_some() => Self::HttpV2,
            Some(_) if payload.get("version").and_then(Value::as_str) == Some("2.0") => {
                Self::HttpV2
            }
            Some(_) => Self::RestV1,
        }
    }
}

/// What the event asks of the router: the customer, the application (`{id}`), headers, body.
struct Call {
    customer: CustomerId,
    application: Option<String>,
    method: Method,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Serves one invocation of `step`; a refused event answers like the API does (problem+json).
/// Returns whether the router answered with success, and the answer in the event's shape.
pub async fn serve(router: axum::Router, step: StepFunction, payload: Value) -> (bool, Value) {
    let shape = Shape::of(&payload);
    let response = match call_of(step, shape, payload) {
        Ok(call) => match request_of(step, call) {
            Ok(request) => router
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {}),
            Err(problem) => problem.into_response(),
        },
        Err(problem) => problem.into_response(),
    };
    let success = response.status().is_success();
    (success, answer(shape, response).await)
}

fn call_of(step: StepFunction, shape: Shape, payload: Value) -> Result<Call, Problem> {
    let unreadable = |e: serde_json::Error| {
        Problem::bad_request(
            "invalid-event",
            "event",
            format!("the event is not an API Gateway proxy event: {e}"),
        )
    };
    match shape {
        Shape::Direct => direct_call(step, payload),
        Shape::RestV1 => {
            let customer = identity(&payload, "/requestContext/authorizer/claims/sub")?;
            let event: ApiGatewayProxyRequest =
                serde_json::from_value(payload).map_err(unreadable)?;
            Ok(Call {
                customer,
                application: application_of(&event.path_parameters),
                method: event.http_method,
                headers: event.headers,
                body: body_bytes(event.body, event.is_base64_encoded)?,
            })
        }
        Shape::HttpV2 => {
            let customer = identity(&payload, "/requestContext/authorizer/jwt/claims/sub")?;
            let event: ApiGatewayV2httpRequest =
                serde_json::from_value(payload).map_err(unreadable)?;
            Ok(Call {
                customer,
                application: application_of(&event.path_parameters),
                method: event.request_context.http.method,
                headers: event.headers,
                body: body_bytes(event.body, event.is_base64_encoded)?,
            })
        }
    }
}

/// The seed's direct invoke: `{"body": "<JSON text>"}` and nothing an authorizer would add.
fn direct_call(step: StepFunction, payload: Value) -> Result<Call, Problem> {
    if step != StepFunction::SubmitUserInfo {
        return Err(Problem::bad_request(
            "direct-invoke-unsupported",
            "event",
            "this function is served behind API Gateway with an authorizer; only submit-user-info accepts a direct invoke",
        ));
    }
    let body = match payload.get("body") {
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(object @ Value::Object(_)) => object.to_string().into_bytes(),
        _ => {
            return Err(Problem::bad_request(
                "missing-body",
                "body",
                "a direct invoke carries the user information as \"body\" (JSON text)",
            ))
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Call {
        // A new customer: the caller is trusted by IAM, and the id is Onboard's to choose.
        customer: CustomerId::parse(&uuid::Uuid::now_v7().to_string())
            .expect("a UUID is a valid customer id"),
        application: None,
        method: Method::POST,
        headers,
        body,
    })
}

/// The authorizer's subject at `pointer`; a missing or unusable one is refused (401).
fn identity(payload: &Value, pointer: &str) -> Result<CustomerId, Problem> {
    let sub = payload
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Problem::unauthorized("the request carries no authorizer identity (claims.sub)")
        })?;
    CustomerId::parse(sub)
        .map_err(|_| Problem::unauthorized("the authorizer's subject is not a valid customer id"))
}

fn application_of(parameters: &std::collections::HashMap<String, String>) -> Option<String> {
    parameters
        .get("id")
        .or_else(|| parameters.get("applicationId"))
        .cloned()
}

fn body_bytes(body: Option<String>, base64_encoded: bool) -> Result<Vec<u8>, Problem> {
    let body = body.unwrap_or_default();
    if !base64_encoded {
        return Ok(body.into_bytes());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|_| Problem::bad_request("invalid-body", "body", "the body is not valid base64"))
}

fn request_of(step: StepFunction, call: Call) -> Result<Request<axum::body::Body>, Problem> {
    let route = step.route();
    let path = if route.contains("{id}") {
        let id = call.application.ok_or_else(|| {
            Problem::not_found("the path names no application (path parameter \"id\")")
        })?;
        // The router parses the id; anything that is not a plain path segment cannot be one.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Problem::not_found(format!(
                "application {id} does not exist"
            )));
        }
        route.replace("{id}", &id)
    } else {
        route.to_owned()
    };
    let mut builder = Request::builder().method(call.method).uri(path);
    if let Some(headers) = builder.headers_mut() {
        let mut given = call.headers;
        // The token was the authorizer's business; the router only sees its identity.
        given.remove(header::AUTHORIZATION);
        headers.extend(given);
    }
    let mut request = builder
        .body(axum::body::Body::from(call.body))
        .map_err(|_| {
            Problem::bad_request(
                "invalid-event",
                "headers",
                "the event's request is not valid HTTP",
            )
        })?;
    request
        .extensions_mut()
        .insert(GatewayIdentity(call.customer));
    Ok(request)
}

/// The router's response in the event's shape; the body as text when it is UTF-8.
async fn answer(shape: Shape, response: Response) -> Value {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let (body, is_base64_encoded) = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => (Body::Text(text), false),
        Err(_) => (
            Body::Text(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            true,
        ),
    };
    let status_code = i64::from(parts.status.as_u16());
    let value = match shape {
        Shape::HttpV2 => {
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = status_code;
            response.headers = parts.headers;
            response.body = Some(body);
            response.is_base64_encoded = is_base64_encoded;
            serde_json::to_value(response)
        }
        Shape::RestV1 | Shape::Direct => {
            let mut response = ApiGatewayProxyResponse::default();
            response.status_code = status_code;
            response.headers = parts.headers;
            response.body = Some(body);
            response.is_base64_encoded = is_base64_encoded;
            serde_json::to_value(response)
        }
    };
    value.unwrap_or_else(
        |_| serde_json::json!({"statusCode": StatusCode::INTERNAL_SERVER_ERROR.as_u16()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shape_follows_the_event() {
        assert_eq!(Shape::of(&json!({"body": "{}"})), Shape::Direct);
        assert_eq!(
            Shape::of(&json!({"httpMethod": "POST", "requestContext": {}})),
            Shape::RestV1
        );
        assert_eq!(
            Shape::of(&json!({"version": "2.0", "requestContext": {"http": {"method": "POST"}}})),
            Shape::HttpV2
        );
    }

    #[test]
    fn an_event_without_authorizer_identity_is_refused_not_taken_from_the_body() {
        let event = json!({
            "httpMethod": "POST", "path": "/v1/customers", "requestContext": {},
            "body": "{\"customerId\": \"someone-else\"}"
        });
        let problem = call_of(StepFunction::SubmitUserInfo, Shape::RestV1, event)
            .err()
            .expect("refused");
        assert_eq!(problem.status_code(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn only_submit_user_info_takes_a_direct_invoke() {
        let event = json!({"body": "{}"});
        let problem = call_of(StepFunction::VerifyKyc, Shape::Direct, event)
            .err()
            .expect("refused");
        assert_eq!(problem.status_code(), StatusCode::BAD_REQUEST);
    }
}
