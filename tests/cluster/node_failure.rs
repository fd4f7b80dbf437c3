//! Node failure: a killed gateway's registrations expire and are swept while its clients resume
//! on another node; a killed api loses no accepted step; a PostgreSQL outage pauses consumers
//! without losing or skipping events.

use crate::harness::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_gateway_node_is_swept_and_its_clients_resume_on_another_without_gaps_or_duplicates(
) {
    let Some(mut cluster) = Cluster::new().await else {
        return;
    };
    cluster.start("gateway-a", &["gateway"]).await;
    cluster.start("gateway-b", &["gateway"]).await;
    cluster.start("consumer", &["consumer"]).await;
    cluster.start("api", &["api"]).await;

    let mut tab = cluster.tab("gateway-a", "failover").await;
    let (status, created) = cluster
        .post(
            "api",
            "failover",
            "/v1/customers",
            Some(SEED_PAYLOAD.replace("EMAIL", "failover@example.com")),
        )
        .await;
    assert_eq!(status, 201);
    let app = created["applicationId"].as_str().unwrap().to_string();
    let first = tab.events(1).await.remove(0);
    assert_eq!(cluster.registry_rows().await, 1);

    cluster.kill("gateway-a");
    // Events keep coming while the client is away.
    cluster.rest_of_workflow("api", "failover", &app).await;
    cluster.wait_for_events("api", "failover", 5).await;

    // The dead node's row outlives it only by its TTL (3 s), then the other node sweeps it.
    let mut swept = false;
    for _ in 0..100 {
        if cluster.registry_rows().await == 0 {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(swept, "the killed node's registration was never swept");

    let mut tab = cluster.tab("gateway-b", "failover").await;
    tab.send(&format!(
        r#"{{"action":"resume","after":"{}"}}"#,
        first["id"].as_str().unwrap()
    ))
    .await;
    let replayed = tab.events(4).await;
    assert_eq!(types(&replayed), &WORKFLOW_TOPICS[1..]);
    tab.assert_no_event(Duration::from_millis(700)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_process_killed_mid_request_loses_no_accepted_step() {
    let Some(mut cluster) = Cluster::new().await else {
        return;
    };
    cluster.start("consumer", &["consumer"]).await;
    cluster.start("api", &["api"]).await;

    // Many customers submit at once; the api dies while requests are in flight.
    let mut requests = tokio::task::JoinSet::new();
    let answered_201 = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for i in 0..60 {
        let url = cluster.url("api", "/v1/customers");
        let token = cluster.token(&format!("crash-{i}"));
        let http = cluster.http.clone();
        let answered_201 = answered_201.clone();
        requests.spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 5)).await;
            let body = SEED_PAYLOAD.replace("EMAIL", &format!("crash-{i}@example.com"));
            let sent = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
            if status == 201 {
                answered_201.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (i, status)
        });
    }
    // Killed once a step was answered 201 and accepted steps wait in the outbox (observed in
    // PostgreSQL), not after a guess.
    let started = std::time::Instant::now();
    while answered_201.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no step was ever accepted"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let pending_at_kill = cluster.kill_while_the_outbox_is_pending("api").await;
    let mut accepted = Vec::new();
    while let Some(joined) = requests.join_next().await {
        let (i, status) = joined.unwrap();
        if status == 201 {
            accepted.push(i);
        }
    }
    assert!(
        !accepted.is_empty(),
        "some requests were accepted before the kill"
    );
    assert!(
        pending_at_kill > 0,
        "the kill left no accepted step unpublished, so it proved nothing"
    );

    // Restarted, the api's relay publishes whatever the dead one left in the outbox.
    cluster.start("api", &["api"]).await;
    for i in accepted {
        let events = cluster
            .wait_for_events("api", &format!("crash-{i}"), 1)
            .await;
        assert_eq!(types(&events), ["user-info-submitted"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgresql_outage_during_load_pauses_the_consumers_without_losing_or_skipping_events() {
    let Some(mut cluster) = Cluster::new().await else {
        return;
    };
    let Some(pg_dir) = std::env::var_os("ONBOARD_PG_DIR") else {
        panic!("ONBOARD_PG_DIR is needed to cause the outage (scripts/test.sh sets it)");
    };
    cluster.start("consumer-1", &["consumer"]).await;
    cluster.start("consumer-2", &["consumer"]).await;
    cluster.start("api", &["api"]).await;
    let customers: Vec<String> = (0..8).map(|i| format!("outage-{i}")).collect();
    let mut apps = Vec::new();
    for customer in &customers {
        let (status, created) = cluster
            .post(
                "api",
                customer,
                "/v1/customers",
                Some(SEED_PAYLOAD.replace("EMAIL", &format!("{customer}@example.com"))),
            )
            .await;
        assert_eq!(status, 201);
        apps.push(created["applicationId"].as_str().unwrap().to_string());
    }
    // The database goes away while the rest of the steps are accepted and consumed; clients
    // retry through the outage (503), consumers pause and retry without committing past it.
    let outage = tokio::process::Command::new("scripts/postgres.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ONBOARD_PG_DIR", &pg_dir)
        .args(["outage", "4"])
        .status();
    let load = futures::future::join_all(
        customers
            .iter()
            .zip(&apps)
            .map(|(customer, app)| cluster.rest_of_workflow_retrying("api", customer, app)),
    );
    let (status, _) = tokio::join!(outage, load);
    assert!(status.unwrap().success());
    for customer in &customers {
        let events = cluster.wait_for_events("api", customer, 5).await;
        assert_eq!(
            types(&events),
            WORKFLOW_TOPICS,
            "{customer}: in order, none lost, none twice"
        );
    }
    // A notification claimed just as the database went away waits out its claim's lease
    // (60 s) before another attempt: delayed, never lost.
    let mut customer_mails = 0;
    for _ in 0..200 {
        customer_mails = mails(&cluster, &["consumer-1", "consumer-2"]).len();
        if customer_mails >= customers.len() * 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // On a failure, say which mails: recipient, notification id and subject tell an operator
    // alert from a customer e-mail and a duplicate from a milestone of its own.
    let listed = |mails: &[onboard::adapters::maildir::StoredMail]| {
        mails
            .iter()
            .map(|m| {
                format!(
                    "{} {} {}",
                    m.header("To").unwrap_or("?"),
                    m.notification_id().unwrap_or("?"),
                    m.header("Subject").unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let delivered = mails(&cluster, &["consumer-1", "consumer-2"]);
    assert_eq!(
        customer_mails,
        customers.len() * 5,
        "{}",
        listed(&delivered)
    );
    assert_eq!(
        delivered.len(),
        customers.len() * 5,
        "one e-mail per milestone, none twice:\n{}",
        listed(&delivered)
    );
}
