//! A notifier outage delays notifications but never loses or doubles them: the real dispatcher
//! over a real SQLite store, delivering to a real SMTP server or HTTP receiver that is down (or
//! failing) first and healthy later.

use crate::support::smtp_server::{ServerOptions, SmtpServer};
use crate::support::webhook_receiver::WebhookReceiver;
use crate::support::*;
use chrono::Utc;
use onboard::adapters::smtp::{SmtpNotifier, SmtpTls};
use onboard::adapters::sqlite::SqliteStore;
use onboard::domain::event::Topic;
use onboard::domain::ids::ApplicationId;
use onboard::ports::notifier::Notifier;
use onboard::ports::store::{Notification, NotificationKind, Store};
use onboard::roles::notify::{parked_until, DispatcherConfig, NotificationDispatcher};
use onboard::testing::store_suite::{audit_of, customer_id, envelope, notification_of};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A store in `dir` holding three notifications of two events, recorded like a consumer does.
async fn store_with_notifications(dir: &std::path::Path) -> (Arc<dyn Store>, Vec<Notification>) {
    let store: Arc<dyn Store> = SqliteStore::open(&dir.join("onboard.db")).await.unwrap();
    let who = customer_id("outage-customer");
    let app = ApplicationId::new();
    let submitted = envelope(&who, Some(app), 1, Topic::UserInfoSubmitted, json!({}));
    let failed = envelope(&who, Some(app), 2, Topic::WorkflowErrors, json!({}));
    let mut all = Vec::new();
    for (event, kinds) in [
        (&submitted, &[NotificationKind::CustomerEmail][..]),
        (
            &failed,
            &[
                NotificationKind::CustomerEmail,
                NotificationKind::OperatorAlert,
            ][..],
        ),
    ] {
        // Created just now, so they are due at once (the suite's clock starts in 2030).
        let notifications: Vec<Notification> = kinds
            .iter()
            .map(|k| Notification {
                created_at: Utc::now() - chrono::Duration::seconds(1),
                ..notification_of(event, *k)
            })
            .collect();
        store
            .record_event(event, &audit_of(event), &notifications)
            .await
            .unwrap();
        all.extend(notifications);
    }
    (store, all)
}

/// A running dispatcher; [`Running::stop`] returns once it has stopped, so nothing it could
/// still send is missed by a count taken afterwards.
struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the dispatcher stops")
            .expect("the dispatcher task");
    }
}

/// Waits (up to 20 s) until `done` holds for the notifications still waiting.
async fn wait_for_undelivered(store: &Arc<dyn Store>, done: impl Fn(&[Notification]) -> bool) {
    for _ in 0..400 {
        if done(&undelivered(store).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the store never showed the expected deliveries");
}

fn start_dispatcher(store: &Arc<dyn Store>, notifier: Arc<dyn Notifier>) -> Running {
    let dispatcher = NotificationDispatcher::new(
        store.clone(),
        notifier,
        DispatcherConfig {
            batch_size: 100,
            poll_interval: Duration::from_millis(100),
            delivery_timeout: Duration::from_secs(5),
        },
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(dispatcher.run(shutdown.clone()));
    Running { shutdown, task }
}

/// Every notification still waiting, parked ones included.
async fn undelivered(store: &Arc<dyn Store>) -> Vec<Notification> {
    store.notifications_due(parked_until(), 100).await.unwrap()
}

fn count_by_id<'a>(ids: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(id.to_owned()).or_insert(0) += 1;
    }
    counts
}

fn once_each(notifications: &[Notification]) -> BTreeMap<String, usize> {
    count_by_id(notifications.iter().map(|n| n.id.as_str()))
}

#[tokio::test]
async fn an_smtp_outage_delays_every_message_and_each_then_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, notifications) = store_with_notifications(dir.path()).await;
    let port = free_port();
    let notifier = Arc::new(SmtpNotifier::new(smtp_config(port, SmtpTls::None), FROM).unwrap());
    let running = start_dispatcher(&store, notifier.clone());

    // Down: every attempt fails, is recorded and scheduled again.
    wait_for_undelivered(&store, |waiting| {
        waiting.len() == notifications.len() && waiting.iter().all(|n| n.attempts >= 1)
    })
    .await;
    assert_eq!(
        once_each(&undelivered(&store).await),
        once_each(&notifications)
    );

    let server = SmtpServer::start(ServerOptions {
        port,
        ..ServerOptions::default()
    })
    .await;
    server.wait_for(notifications.len()).await;
    // Every delivery recorded, then the dispatcher stopped: whatever it sent is in by now.
    wait_for_undelivered(&store, <[Notification]>::is_empty).await;
    running.stop().await;

    let received = server.messages();
    assert_eq!(
        count_by_id(received.iter().filter_map(|m| m.mail.notification_id())),
        once_each(&notifications),
        "every notification exactly once"
    );
    assert!(undelivered(&store).await.is_empty());

    // A restarted dispatcher over the same store finds nothing left to send.
    // (A check that nothing happens can only wait: five polling rounds of the dispatcher.)
    let again = start_dispatcher(&store, notifier);
    tokio::time::sleep(Duration::from_millis(500)).await;
    again.stop().await;
    assert_eq!(server.messages().len(), notifications.len());
}

#[tokio::test]
async fn a_webhook_answering_503_is_retried_and_each_notification_is_accepted_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, notifications) = store_with_notifications(dir.path()).await;
    // Every notification's first attempt is refused.
    let receiver = WebhookReceiver::start(&vec![503; notifications.len()]).await;
    let notifier = Arc::new(crate::webhook::notifier(&receiver.url));
    let running = start_dispatcher(&store, notifier);

    receiver.wait_for_accepted(notifications.len()).await;
    // Every delivery recorded, then the dispatcher stopped: whatever it sent is in by now.
    wait_for_undelivered(&store, <[Notification]>::is_empty).await;
    running.stop().await;

    let requests = receiver.requests();
    let refused: Vec<_> = requests.iter().filter(|r| r.answered == 503).collect();
    assert_eq!(
        count_by_id(
            refused
                .iter()
                .filter_map(|r| r.header("x-onboard-notification-id"))
        ),
        once_each(&notifications),
        "each was refused once first"
    );
    let accepted_now: Vec<_> = requests.iter().filter(|r| r.answered == 200).collect();
    assert_eq!(
        count_by_id(
            accepted_now
                .iter()
                .filter_map(|r| r.header("x-onboard-notification-id"))
        ),
        once_each(&notifications),
        "each accepted exactly once"
    );
    for request in accepted_now {
        crate::webhook::assert_signed(
            request.header("x-onboard-signature").expect("signed"),
            &request.body,
        );
    }
    assert!(undelivered(&store).await.is_empty());
}
