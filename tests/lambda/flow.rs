//! The whole path through the functions: Step 7.1 → the record on Kafka → `$connect` → the MSK
//! event to `consume` → a signed push to the connection and exactly one SNS message (read back
//! through an SQS queue subscribed to the topic, with its attributes), nothing sent twice on
//! redelivery → `$default` ping and resume → 410 Gone cleans the registry → `$disconnect`.

use super::harness::{msk_event, Deployment, STEP_7_1_PAYLOAD};
use super::receiver::is_sigv4;
use crate::aws_support::{Received, SubscribedQueue};
use onboard::adapters::apigateway_pusher::ApiGatewayConnectionId;
use serde_json::{json, Value};

fn websocket_event(route: &str, connection: &str, query: Value, body: Option<&str>) -> Value {
    let event_type = match route {
        "$connect" => "CONNECT",
        "$disconnect" => "DISCONNECT",
        _ => "MESSAGE",
    };
    json!({
        "headers": {"Host": "testapi.execute-api.us-east-1.amazonaws.com"},
        "queryStringParameters": query,
        "requestContext": {
            "routeKey": route, "eventType": event_type, "connectionId": connection,
            "stage": "dev", "domainName": "testapi.execute-api.us-east-1.amazonaws.com",
            "apiId": "testapi", "requestId": "r-1", "connectedAt": 1764676800000i64,
            "requestTimeEpoch": 1764676800123i64, "messageDirection": "IN",
            "identity": {"sourceIp": "203.0.113.7"}
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// The SNS message of the customer's milestone e-mail: attributes a subscriber filters on
/// (kind, event type, application id, event and notification ids) and nothing personal in
/// them; the recipient and the words are in the message.
fn assert_is_the_customers_email(
    message: &Received,
    customer: &str,
    application: &str,
    event_id: &str,
) {
    let attributes: std::collections::BTreeMap<&str, &str> = message
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let notification_id = format!("{event_id}.customer_email");
    assert_eq!(
        attributes,
        std::collections::BTreeMap::from([
            ("application_id", application),
            ("event_id", event_id),
            ("event_type", "user-info-submitted"),
            ("kind", "customer_email"),
            ("notification_id", notification_id.as_str()),
        ]),
        "{message:?}"
    );
    for pii in ["test@example.com", "John", "Doe", customer] {
        assert!(
            attributes.values().all(|v| !v.contains(pii)),
            "an attribute carries {pii}: {attributes:?}"
        );
    }
    assert_eq!(message.message["recipient"], "test@example.com");
    assert_eq!(message.message["kind"], "customer_email");
    assert_eq!(message.subject.as_deref(), Some("We received your details"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_reaches_the_customers_api_gateway_connection_once_and_a_gone_one_is_cleaned_up() {
    let Some(deployment) = Deployment::new().await else {
        return;
    };
    // The stack's SNS topic, with a subscriber's queue to read what is published.
    let sns = SubscribedQueue::create(false).await;
    let consume_environment = [
        ("KAFKA_TOPIC", "user-info-submitted"),
        ("ONBOARD_NOTIFIER", "sns"),
        ("SNS_TOPIC_ARN", sns.topic_arn.as_str()),
    ];
    let (submit, connect, consume, default) = tokio::join!(
        deployment.function("submit-user-info", &[]),
        deployment.function("ws-connect", &[]),
        deployment.function("consume", &consume_environment),
        deployment.function("ws-default", &[]),
    );

    let answer = submit
        .invoke(&serde_json::from_str(STEP_7_1_PAYLOAD).unwrap())
        .await;
    assert_eq!(answer["statusCode"], 201, "{answer}\n{}", submit.log());
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let customer = body["customerId"].as_str().unwrap().to_owned();
    let application = body["applicationId"].as_str().unwrap().to_owned();
    let record = deployment
        .record_keyed("user-info-submitted", &customer)
        .await;

    // $connect: no token 401, another customer's token 403, the customer's own token 200.
    let connection = "L0SM9cOFvHcCIhw=";
    let no_token = websocket_event(
        "$connect",
        connection,
        json!({"customerId": customer}),
        None,
    );
    let answer = connect.invoke(&no_token).await;
    assert_eq!(answer["statusCode"], 401, "{answer}\n{}", connect.log());
    let foreign = json!({"customerId": customer, "token": deployment.token("someone-else")});
    let answer = connect
        .invoke(&websocket_event("$connect", connection, foreign, None))
        .await;
    assert_eq!(answer["statusCode"], 403, "{answer}");
    let own = json!({"customerId": customer, "token": deployment.token(&customer)});
    let answer = connect
        .invoke(&websocket_event("$connect", connection, own, None))
        .await;
    assert_eq!(answer["statusCode"], 200, "{answer}\n{}", connect.log());
    let store = deployment.store().await;
    let registry_id = ApiGatewayConnectionId::parse(connection)
        .unwrap()
        .registry_id();
    let now = chrono::Utc::now();
    let row = store.connection(registry_id, now).await.unwrap();
    assert_eq!(row.expect("registered").customer_id.as_str(), customer);

    // The MSK event: stored, pushed to the connection with a SigV4 signature, one SNS message.
    let event = msk_event(&record);
    let answer = consume.invoke(&event).await;
    assert_eq!(answer["stored"], 1, "{answer}\n{}", consume.log());
    assert_eq!(
        answer["notificationsSent"],
        1,
        "{answer}\n{}",
        consume.log()
    );
    let pushed = deployment.receiver.frames_to(connection);
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0].frame["type"], "event");
    assert_eq!(pushed[0].frame["event"]["customerId"], customer.as_str());
    assert!(
        is_sigv4(&pushed[0].authorization),
        "{}",
        pushed[0].authorization
    );
    let event_id = record.header("event-id").unwrap();
    let notification_id = format!("{event_id}.customer_email");
    let published = sns.receive_through(&notification_id).await;
    assert_eq!(published.len(), 1, "exactly one SNS message: {published:?}");
    assert_is_the_customers_email(&published[0], &customer, &application, event_id);

    // Redelivered (Lambda retries a batch): nothing stored or sent again. The invocation
    // publishes before it answers, so a marker published now arrives after anything it sent.
    let answer = consume.invoke(&event).await;
    assert_eq!(answer["stored"], 0, "{answer}");
    assert_eq!(answer["duplicates"], 1, "{answer}");
    assert_eq!(answer["notificationsSent"], 0, "{answer}");
    let after = sns.received_until_now().await;
    assert!(
        after.is_empty(),
        "no second SNS message on redelivery: {after:?}"
    );

    // $default: the /ws protocol, answered through the management API.
    let before = deployment.receiver.frames_to(connection).len();
    let ping = websocket_event(
        "$default",
        connection,
        Value::Null,
        Some(r#"{"action":"ping","id":7}"#),
    );
    let answer = default.invoke(&ping).await;
    assert_eq!(answer["statusCode"], 200, "{answer}\n{}", default.log());
    let resume = websocket_event(
        "$default",
        connection,
        Value::Null,
        Some(r#"{"action":"resume"}"#),
    );
    default.invoke(&resume).await;
    let garbage = websocket_event("$default", connection, Value::Null, Some("not json"));
    default.invoke(&garbage).await;
    let frames: Vec<Value> = deployment.receiver.frames_to(connection)[before..]
        .iter()
        .map(|p| p.frame.clone())
        .collect();
    let types: Vec<&str> = frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(types, ["pong", "event", "resumed", "error"], "{frames:?}");
    assert_eq!(frames[0]["id"], 7);
    assert_eq!(frames[1]["event"]["id"], record.header("event-id").unwrap());

    // The client left without $disconnect: the next push answers 410 and the row goes.
    deployment.receiver.mark_gone(connection);
    let answer = consume.invoke(&event).await;
    assert_eq!(answer["duplicates"], 1, "{answer}");
    let row = store
        .connection(registry_id, chrono::Utc::now())
        .await
        .unwrap();
    assert!(row.is_none(), "the gone connection's row was removed");

    // $disconnect of another connection removes its row.
    let other = "Z9other0conn=";
    let own = json!({"customerId": customer, "token": deployment.token(&customer)});
    connect
        .invoke(&websocket_event("$connect", other, own, None))
        .await;
    let other_id = ApiGatewayConnectionId::parse(other).unwrap().registry_id();
    assert!(store
        .connection(other_id, chrono::Utc::now())
        .await
        .unwrap()
        .is_some());
    let disconnect = deployment.function("ws-disconnect", &[]).await;
    let answer = disconnect
        .invoke(&websocket_event("$disconnect", other, Value::Null, None))
        .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(store
        .connection(other_id, chrono::Utc::now())
        .await
        .unwrap()
        .is_none());
}
