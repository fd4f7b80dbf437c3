//! One round of the dispatcher serves recipients side by side: a recipient whose mailbox
//! hangs holds up only their own mail (which is recorded as delivered meanwhile), and each
//! recipient's mail still leaves in the order it was made. The real dispatcher over a real
//! SQLite store, with a notifier that blocks every delivery to one recipient until the test
//! lets it go.

use async_trait::async_trait;
use chrono::Utc;
use onboard::adapters::sqlite::SqliteStore;
use onboard::domain::event::Topic;
use onboard::ports::notifier::{Notifier, NotifyError};
use onboard::ports::store::{Notification, NotificationKind, Store};
use onboard::roles::notify::{DispatcherConfig, NotificationDispatcher};
use onboard::testing::store_suite::{audit_of, customer_id, envelope, notification_of};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

const SLOW: &str = "slow@example.com";

/// Delivers at once, except to [`SLOW`], whose deliveries each wait for a permit.
struct GatedNotifier {
    slow_gate: Semaphore,
    delivered: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Notifier for GatedNotifier {
    fn name(&self) -> &'static str {
        "gated"
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError> {
        if notification.recipient == SLOW {
            self.slow_gate.acquire().await.unwrap().forget();
        }
        self.delivered
            .lock()
            .unwrap()
            .push((notification.recipient.clone(), notification.subject.clone()));
        Ok(())
    }
}

#[tokio::test]
async fn a_hanging_mailbox_holds_up_only_its_own_mail_and_each_recipient_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = SqliteStore::open(&dir.path().join("onboard.db"))
        .await
        .unwrap();
    // Interleaved: slow 1, fast 1, slow 2, fast 2, slow 3, fast 3 (one second apart).
    let base = Utc::now() - chrono::Duration::seconds(60);
    for n in 0..6i64 {
        let (recipient, number) = if n % 2 == 0 {
            (SLOW, n / 2 + 1)
        } else {
            ("fast@example.com", n / 2 + 1)
        };
        let who = customer_id(&format!("c-{n}"));
        let event = envelope(&who, None, 1, Topic::UserInfoSubmitted, json!({}));
        let notification = Notification {
            recipient: recipient.into(),
            subject: format!("{recipient} #{number}"),
            created_at: base + chrono::Duration::seconds(n),
            ..notification_of(&event, NotificationKind::CustomerEmail)
        };
        store
            .record_event(&event, &audit_of(&event), &[notification])
            .await
            .unwrap();
    }
    let notifier = Arc::new(GatedNotifier {
        slow_gate: Semaphore::new(0),
        delivered: Mutex::default(),
    });
    let dispatcher = Arc::new(NotificationDispatcher::new(
        store.clone(),
        notifier.clone(),
        DispatcherConfig::default(),
    ));
    let round = {
        let dispatcher = dispatcher.clone();
        tokio::spawn(async move {
            dispatcher
                .dispatch_due(Utc::now(), &CancellationToken::new())
                .await
        })
    };

    // The fast recipient's three leave while the slow one's first still hangs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while notifier.delivered.lock().unwrap().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fast recipient waited behind the slow one: {:?}",
            notifier.delivered.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *notifier.delivered.lock().unwrap(),
        [1, 2, 3].map(|n| (
            "fast@example.com".to_string(),
            format!("fast@example.com #{n}")
        ))
    );
    assert!(!round.is_finished());
    // …and are recorded as delivered while it hangs: a crash now would not send them again.
    while store.stats().await.unwrap().notifications_pending > 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fast recipient's deliveries were not recorded while the slow one hung"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.stats().await.unwrap().notifications_pending, 3);
    assert!(!round.is_finished());

    notifier.slow_gate.add_permits(3);
    let report = round.await.unwrap().unwrap();
    assert_eq!((report.due, report.delivered), (6, 6));
    let slow: Vec<String> = notifier
        .delivered
        .lock()
        .unwrap()
        .iter()
        .filter(|(to, _)| to == SLOW)
        .map(|(_, subject)| subject.clone())
        .collect();
    assert_eq!(
        slow,
        [1, 2, 3].map(|n| format!("{SLOW} #{n}")),
        "in the order made"
    );
}
