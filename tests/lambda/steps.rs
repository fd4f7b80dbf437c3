//! The step functions: the seed's direct invoke, API Gateway REST v1 and HTTP API v2 proxy
//! events with the authorizer's identity, and refused input.

use super::harness::{Deployment, STEP_7_1_PAYLOAD};
use serde_json::{json, Value};

fn body_of(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().expect("a text body")).expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_user_info_answers_direct_invokes_and_proxy_events_as_the_authorizers_customer() {
    let Some(deployment) = Deployment::new().await else {
        return;
    };
    let submit = deployment.function("submit-user-info", &[]).await;

    // The seed's Step 7.1: a new customer with a generated id, its event keyed by that id.
    let answer = submit
        .invoke(&serde_json::from_str(STEP_7_1_PAYLOAD).unwrap())
        .await;
    assert_eq!(answer["statusCode"], 201, "{answer}\n{}", submit.log());
    let created = body_of(&answer);
    let customer = created["customerId"]
        .as_str()
        .expect("customerId")
        .to_owned();
    assert!(created["applicationId"].is_string(), "{created}");
    let record = deployment
        .record_keyed("user-info-submitted", &customer)
        .await;
    let value = String::from_utf8(record.value.to_vec()).unwrap();
    for pii in [
        "test@example.com",
        "John",
        "Doe",
        "1990-01-01",
        "+1234567890",
    ] {
        assert!(!value.contains(pii), "the event carries {pii}: {value}");
    }
    let event: Value = serde_json::from_str(&value).unwrap();
    assert_eq!(event["type"], "user-info-submitted");
    assert_eq!(event["customerId"], customer.as_str());

    // REST API v1 behind a Cognito authorizer: the customer is claims.sub, not the body.
    let v1 = json!({
        "resource": "/v1/customers", "path": "/v1/customers", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc123", "stage": "dev",
            "requestId": "r-1", "resourcePath": "/v1/customers", "httpMethod": "POST",
            "apiId": "restapi", "identity": {"sourceIp": "203.0.113.8"},
            "authorizer": {"claims": {"sub": "cust-v1-rest", "email": "rest@example.com"}}
        },
        "body": r#"{"email":"rest@example.com","firstName":"Ada","lastName":"Lovelace","dateOfBirth":"1985-12-10","phoneNumber":"+442071838750"}"#,
        "isBase64Encoded": false
    });
    let answer = submit.invoke(&v1).await;
    assert_eq!(answer["statusCode"], 201, "{answer}");
    assert_eq!(body_of(&answer)["customerId"], "cust-v1-rest");
    assert!(answer.get("multiValueHeaders").is_some() || answer["headers"].is_object());

    // HTTP API v2 behind a JWT authorizer.
    let v2 = json!({
        "version": "2.0", "routeKey": "POST /v1/customers", "rawPath": "/v1/customers",
        "rawQueryString": "", "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": "/v1/customers", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "test"},
            "authorizer": {"jwt": {"claims": {"sub": "cust-v2-http"}, "scopes": []}}
        },
        "body": r#"{"email":"http@example.com","firstName":"Grace","lastName":"Hopper","dateOfBirth":"1980-12-09","phoneNumber":"+12025550143"}"#,
        "isBase64Encoded": false
    });
    let answer = submit.invoke(&v2).await;
    assert_eq!(answer["statusCode"], 201, "{answer}");
    assert_eq!(body_of(&answer)["customerId"], "cust-v2-http");

    // Invalid fields: 422 with the usual problem body naming them.
    let mut invalid = v1.clone();
    invalid["requestContext"]["authorizer"]["claims"]["sub"] = json!("cust-v1-invalid");
    invalid["body"] = json!(
        r#"{"email":"not-an-email","firstName":"Ada","lastName":"Lovelace","dateOfBirth":"1985-12-10","phoneNumber":"+442071838750"}"#
    );
    let answer = submit.invoke(&invalid).await;
    assert_eq!(answer["statusCode"], 422, "{answer}");
    let content_type = answer["headers"]["content-type"].as_str().unwrap_or("");
    assert_eq!(content_type, "application/problem+json");
    assert!(
        answer["body"].as_str().unwrap().contains("email"),
        "{answer}"
    );

    // A proxy event without the authorizer's identity is refused, whatever the body says.
    let mut anonymous = v1.clone();
    anonymous["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let answer = submit.invoke(&anonymous).await;
    assert_eq!(answer["statusCode"], 401, "{answer}");

    // A direct invoke without a body is a 400 problem.
    let answer = submit.invoke(&json!({"payload": 1})).await;
    assert_eq!(answer["statusCode"], 400, "{answer}");
}
