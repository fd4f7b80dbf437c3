//! Finding: "closing [2,000 sockets] at once stalled the database pool for 2 s". Now closed
//! sessions hand their registry rows to one deregistration worker that deletes them in batches:
//! far more sockets than the pool has connections close at once, every step request made
//! meanwhile is answered, and the registry is empty soon after.

use crate::binary::Onboard;
use crate::child::{management_token, token, LOOPBACK};
use futures::StreamExt;
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 20;
/// The per-customer cap (`gateway.max_connections_per_customer`, default 10).
const SOCKETS_EACH: usize = 10;

async fn registry_rows(http: &reqwest::Client, onboard: &Onboard) -> usize {
    let overview: serde_json::Value = http
        .get(onboard.url("/v1/ops/overview"))
        .bearer_auth(management_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    overview["connections"]
        .as_array()
        .expect("connections")
        .len()
}

#[tokio::test]
async fn hundreds_of_sockets_closing_at_once_do_not_stall_step_requests_and_leave_no_rows() {
    let onboard = Onboard::up(LOOPBACK, &[("ONBOARD_WS_DEREGISTRATION_BATCH", "50")]);
    onboard.ready().await;
    let http = reqwest::Client::new();

    let mut sockets = Vec::new();
    for c in 0..CUSTOMERS {
        let customer = format!("crowd-{c}");
        let url = format!(
            "ws://{}/ws?customerId={customer}&token={}",
            onboard.addr,
            token(&customer)
        );
        for _ in 0..SOCKETS_EACH {
            let (mut socket, _) = tokio_tungstenite::connect_async(&url)
                .await
                .expect("within the caps");
            socket.next().await.expect("a welcome frame").unwrap();
            sockets.push(socket);
        }
    }
    assert_eq!(
        registry_rows(&http, &onboard).await,
        CUSTOMERS * SOCKETS_EACH,
        "every socket is registered"
    );

    // Every socket goes at once (connections dropped, as in a network blip), while customers
    // keep submitting their first step.
    drop(sockets);
    let steps = (0..10).map(|n| {
        let http = http.clone();
        let url = onboard.url("/v1/customers");
        async move {
            let customer = format!("still-served-{n}");
            let started = Instant::now();
            let answer = http
                .post(url)
                .bearer_auth(token(&customer))
                .header("Idempotency-Key", format!("mass-disconnect-{n}"))
                .json(&serde_json::json!({
                    "email": format!("still-served-{n}@example.com"),
                    "firstName": "John",
                    "lastName": "Doe",
                    "dateOfBirth": "1990-01-01",
                    "phoneNumber": "+1234567890",
                }))
                .send()
                .await
                .expect("the step is answered");
            (answer.status(), started.elapsed())
        }
    });
    for (status, took) in futures::future::join_all(steps).await {
        assert_eq!(status, 201);
        // Generous: a stalled pool would hold these behind hundreds of single-row deletes.
        assert!(took < Duration::from_secs(10), "a step took {took:?}");
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = registry_rows(&http, &onboard).await;
        if rows == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{rows} registry rows are left 30 s after their sockets closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
