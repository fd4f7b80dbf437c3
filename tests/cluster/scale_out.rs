//! Separately scaled roles: events processed by a consumer in one process reach a customer
//! connected to a gateway node in another.

use crate::harness::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_on_two_gateway_nodes_gets_every_event_processed_by_other_processes() {
    let Some(mut cluster) = Cluster::new().await else {
        return;
    };
    cluster.start("gateway-a", &["gateway"]).await;
    cluster.start("gateway-b", &["gateway"]).await;
    cluster.start("consumer-1", &["consumer"]).await;
    cluster.start("consumer-2", &["consumer"]).await;
    cluster.start("api", &["api"]).await;

    let mut tab_a = cluster.tab("gateway-a", "scale-a").await;
    let mut tab_b = cluster.tab("gateway-b", "scale-a").await;
    let mut other = cluster.tab("gateway-b", "scale-b").await;
    cluster.workflow("api", "scale-a").await;

    for tab in [&mut tab_a, &mut tab_b] {
        let events = tab.events(5).await;
        assert_eq!(types(&events), WORKFLOW_TOPICS);
        tab.assert_no_event(Duration::from_millis(500)).await;
    }
    other.assert_no_event(Duration::from_millis(500)).await;

    // One e-mail per milestone across both consumer processes: no notification sent twice.
    let mut mails = Vec::new();
    for _ in 0..100 {
        mails = mails_of(&cluster);
        if mails.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        mails_of(&cluster).len(),
        5,
        "{:?}",
        mails
            .iter()
            .map(|m| m.header("Subject"))
            .collect::<Vec<_>>()
    );
    for name in ["api", "consumer-1", "gateway-a"] {
        assert_eq!(
            cluster
                .http
                .get(cluster.url(name, "/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

fn mails_of(cluster: &Cluster) -> Vec<onboard::adapters::maildir::StoredMail> {
    mails(cluster, &["consumer-1", "consumer-2"])
}
