//! Finding: "300 requests in 0.5 s from one customer are all served". Now each customer (and
//! each peer address without a valid token) has a request rate; beyond it the answer is 429
//! problem+json with `Retry-After`, counted in `onboard_requests_limited_total`.

use crate::binary::Onboard;
use crate::child::{token, LOOPBACK};
use futures::future::join_all;

#[tokio::test]
async fn a_burst_from_one_customer_is_refused_with_retry_after_and_others_are_served() {
    let onboard = Onboard::up(
        LOOPBACK,
        &[
            ("ONBOARD_REQUESTS_PER_SECOND", "5"),
            ("ONBOARD_REQUEST_BURST", "10"),
        ],
    );
    onboard.ready().await;
    let http = reqwest::Client::new();
    let greedy = token("greedy-customer");
    let url = onboard.url("/v1/customers/greedy-customer/events");
    let answers = join_all((0..300).map(|_| http.get(&url).bearer_auth(&greedy).send())).await;
    let mut served = 0;
    let mut refused = Vec::new();
    for answer in answers {
        let answer = answer.expect("an answer");
        match answer.status().as_u16() {
            200 => served += 1,
            429 => refused.push(answer),
            other => panic!("unexpected {other}: {}", answer.text().await.unwrap()),
        }
    }
    // The burst, plus what the rate refilled while the 300 were answered.
    assert!((10..60).contains(&served), "{served} of 300 served");
    let first = refused.remove(0);
    let retry_after: u64 = first.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(first.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["code"], "too-many-requests");

    // Another customer is not held back by the first one's burst.
    let other = http
        .get(onboard.url("/v1/customers/patient-customer/events"))
        .bearer_auth(token("patient-customer"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);

    // Requests without a valid token are counted per peer address.
    let anonymous = join_all((0..40).map(|_| http.get(&url).send())).await;
    let statuses: Vec<u16> = anonymous
        .into_iter()
        .map(|a| a.unwrap().status().as_u16())
        .collect();
    assert!(
        statuses.contains(&401) && statuses.contains(&429),
        "{statuses:?}"
    );

    let metrics = crate::child::metrics_text(&http, &onboard).await;
    let limited: f64 = metrics
        .lines()
        .find(|l| l.starts_with("onboard_requests_limited_total{limit=\"requests\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no limited count in {metrics}"));
    assert!(limited >= 290.0 - 60.0 + 1.0, "{limited}");
}
