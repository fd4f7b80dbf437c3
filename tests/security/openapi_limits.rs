//! The limits are part of the API's contract: `/openapi.json` documents the 429 (with
//! `Retry-After`), 413 and 408 answers on the operations that can give them.

use crate::support::spawn_app;
use serde_json::Value;

/// The response `code` of `path`'s `method`, with a `$ref` to a shared response followed.
fn response<'a>(doc: &'a Value, path: &str, method: &str, code: &str) -> Option<&'a Value> {
    let answer = doc["paths"][path][method]["responses"].get(code)?;
    match answer["$ref"].as_str() {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/responses/")?;
            doc["components"]["responses"].get(name)
        }
        None => Some(answer),
    }
}

fn is_problem(answer: &Value) -> bool {
    answer["content"]["application/problem+json"]["schema"]["$ref"]
        == "#/components/schemas/Problem"
}

#[tokio::test]
async fn openapi_documents_429_with_retry_after_413_and_408_where_they_apply() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rate_limited = [
        ("/v1/customers", "post"),
        ("/v1/applications/{applicationId}/documents", "post"),
        ("/v1/applications/{applicationId}/kyc", "post"),
        (
            "/v1/applications/{applicationId}/policy-recommendation",
            "post",
        ),
        ("/v1/applications/{applicationId}/complete", "post"),
        ("/v1/applications/{applicationId}", "get"),
        ("/v1/customers/{customerId}/events", "get"),
        ("/ws", "get"),
    ];
    for (path, method) in rate_limited {
        let limited = response(&doc, path, method, "429")
            .unwrap_or_else(|| panic!("{method} {path} does not document 429"));
        assert!(is_problem(limited), "{method} {path}: 429 {limited}");
        let retry_after = &limited["headers"]["Retry-After"];
        let retry_after = match retry_after["$ref"].as_str() {
            Some(r) => &doc["components"]["headers"][r.rsplit('/').next().unwrap()],
            None => retry_after,
        };
        assert_eq!(
            retry_after["schema"]["type"], "integer",
            "{method} {path}: Retry-After {retry_after}"
        );
    }
    // Every body the API reads is capped.
    for (path, method) in rate_limited.iter().filter(|(_, m)| *m == "post") {
        let too_large = response(&doc, path, method, "413")
            .unwrap_or_else(|| panic!("{method} {path} does not document 413"));
        assert!(is_problem(too_large), "{method} {path}: 413 {too_large}");
    }
    // Every operation runs under the request timeout.
    for (path, operations) in doc["paths"].as_object().unwrap() {
        let operations = operations.as_object().unwrap();
        for method in operations
            .keys()
            .filter(|m| operations[*m].get("responses").is_some())
        {
            let timeout = response(&doc, path, method, "408")
                .unwrap_or_else(|| panic!("{method} {path} does not document 408"));
            assert!(is_problem(timeout), "{method} {path}: 408 {timeout}");
        }
    }
    // Operator endpoints are not rate limited per customer, so they claim no 429.
    assert!(response(&doc, "/healthz", "get", "429").is_none());
}
