//! Behaviour of the Maildir notifier, read back through `read_maildir` like a mail client would.

use super::*;
use crate::domain::ids::EventId;
use crate::ports::store::NotificationKind;
use chrono::{TimeZone, Utc};

fn notification(id_suffix: &str, body: &str) -> Notification {
    let event_id = EventId::parse("0190a5e2-7c1e-7d3a-9a51-1f2d3c4b5a69").unwrap();
    Notification {
        id: format!("{event_id}.{id_suffix}"),
        event_id,
        kind: NotificationKind::CustomerEmail,
        event_type: crate::domain::event::Topic::PolicyRecommended,
        application_id: None,
        correlation_id: None,
        recipient: "jose@example.com".into(),
        subject: "Bienvenue, José — your café policy".into(),
        body: body.into(),
        created_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 30, 0).unwrap(),
        attempts: 0,
    }
}

fn notifier(dir: &tempfile::TempDir) -> MaildirNotifier {
    MaildirNotifier::new(
        dir.path().join("mail"),
        "Onboard <onboard@example.com>".into(),
    )
    .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_delivered_notification_reads_back_with_its_headers_and_utf8_body() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = notifier(&dir);
    let n = notification("customer_email", "Hello José,\n\nYour café is ready.\n");

    maildir.deliver(&n).await.unwrap();

    let mails = read_maildir(maildir.root()).unwrap();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.header("From"), Some("Onboard <onboard@example.com>"));
    assert_eq!(mail.header("to"), Some("jose@example.com"));
    assert_eq!(mail.header("Subject"), Some(n.subject.as_str()));
    assert_eq!(mail.header("Date"), Some("Wed, 01 May 2024 10:30:00 +0000"));
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{}@onboard.local>", n.id).as_str())
    );
    assert_eq!(mail.notification_id(), Some(n.id.as_str()));
    assert_eq!(
        mail.header("X-Onboard-Event-Id"),
        Some(n.event_id.to_string().as_str())
    );
    assert_eq!(
        mail.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(mail.body.trim_end(), n.body.trim_end());
    assert_eq!(
        mail.path,
        maildir.root().join("new").join(format!("{}.onboard", n.id))
    );
}

#[tokio::test]
async fn delivering_the_same_notification_twice_leaves_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = notifier(&dir);
    let n = notification("customer_email", "Hi\n");

    maildir.deliver(&n).await.unwrap();
    maildir.deliver(&n).await.unwrap();

    assert_eq!(read_maildir(maildir.root()).unwrap().len(), 1);
    assert!(files_in(&maildir.root().join("tmp")).is_empty());
}

#[tokio::test]
async fn a_message_a_client_moved_to_cur_is_not_delivered_again() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = notifier(&dir);
    let n = notification("customer_email", "Hi\n");
    maildir.deliver(&n).await.unwrap();
    let name = format!("{}.onboard", n.id);
    fs::rename(
        maildir.root().join("new").join(&name),
        maildir.root().join("cur").join(format!("{name}:2,S")),
    )
    .unwrap();

    maildir.deliver(&n).await.unwrap();

    assert!(files_in(&maildir.root().join("new")).is_empty());
    let mails = read_maildir(maildir.root()).unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].notification_id(), Some(n.id.as_str()));
}

#[tokio::test]
async fn crash_leftovers_in_tmp_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = notifier(&dir);
    let n = notification("customer_email", "Hi\n");
    // What a crash between write and rename leaves behind.
    fs::write(
        maildir
            .root()
            .join("tmp")
            .join(format!("{}.onboard.1.0", n.id)),
        b"Subject: half written",
    )
    .unwrap();

    assert!(read_maildir(maildir.root()).unwrap().is_empty());
    maildir.deliver(&n).await.unwrap();

    let mails = read_maildir(maildir.root()).unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].header("Subject"), Some(n.subject.as_str()));
}

#[tokio::test]
async fn different_notifications_become_different_messages() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = notifier(&dir);

    maildir
        .deliver(&notification("customer_email", "one\n"))
        .await
        .unwrap();
    maildir
        .deliver(&notification("operator_alert", "two\n"))
        .await
        .unwrap();

    let bodies: Vec<String> = read_maildir(maildir.root())
        .unwrap()
        .into_iter()
        .map(|m| m.body.trim_end().to_owned())
        .collect();
    assert_eq!(bodies, ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_at_the_same_time_each_land_whole_and_leave_nothing_in_tmp() {
    const DELIVERIES: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let maildir = Arc::new(notifier(&dir));

    let deliveries: Vec<_> = (0..DELIVERIES)
        .map(|i| {
            let maildir = maildir.clone();
            tokio::spawn(async move {
                let body = format!("message {i}\n");
                maildir
                    .deliver(&notification(&format!("n{i}"), &body))
                    .await
            })
        })
        .collect();
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }

    let mut bodies: Vec<String> = read_maildir(maildir.root())
        .unwrap()
        .into_iter()
        .map(|m| m.body.trim_end().to_owned())
        .collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..DELIVERIES).map(|i| format!("message {i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    assert!(files_in(&maildir.root().join("tmp")).is_empty());
}

#[tokio::test]
async fn a_body_with_an_overlong_line_is_encoded_and_still_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = notifier(&dir);
    let long_line = "é".repeat(700);
    let n = notification("customer_email", &format!("{long_line}\nend\n"));

    maildir.deliver(&n).await.unwrap();

    let mail = &read_maildir(maildir.root()).unwrap()[0];
    assert_ne!(mail.header("Content-Transfer-Encoding"), Some("8bit"));
    assert_eq!(mail.body.trim_end(), n.body.trim_end());
}

#[tokio::test]
async fn an_invalid_recipient_is_a_permanent_failure_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = notifier(&dir);
    let mut n = notification("customer_email", "Hi\n");
    n.recipient = "not an address".into();

    let err = maildir.deliver(&n).await.unwrap_err();

    assert!(matches!(err, NotifyError::Permanent(_)), "{err:?}");
    assert!(read_maildir(maildir.root()).unwrap().is_empty());
}

#[test]
fn an_invalid_sender_address_is_refused_at_construction() {
    let dir = tempfile::tempdir().unwrap();
    let err = MaildirNotifier::new(dir.path().to_path_buf(), "nobody".into()).unwrap_err();
    assert!(matches!(err, MaildirError::InvalidFrom(_)));
}

#[test]
fn file_names_escape_bytes_that_maildir_or_paths_give_meaning_to() {
    assert_eq!(
        file_name("abc.customer_email"),
        "abc.customer_email.onboard"
    );
    assert_eq!(file_name("a/b:2,S"), "a%2Fb%3A2%2CS.onboard");
    assert_eq!(file_name(".hidden"), "%2Ehidden.onboard");
    assert_ne!(file_name("a%2F"), file_name("a/"));
}

#[test]
fn stale_tmp_leftovers_are_swept_when_the_notifier_starts() {
    let dir = tempfile::tempdir().unwrap();
    let root = notifier(&dir).root().to_path_buf();
    let stale = root.join("tmp").join("old.onboard.1.0");
    let fresh = root.join("tmp").join("new.onboard.1.1");
    fs::write(&stale, b"x").unwrap();
    fs::write(&fresh, b"x").unwrap();
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 3600);
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();

    notifier(&dir);

    assert!(!stale.exists());
    assert!(fresh.exists(), "a delivery in progress must not be swept");
}
