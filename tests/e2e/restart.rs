//! Restarts in the middle of the workflow lose nothing and duplicate nothing: rows, e-mails and
//! frames after resume.

use crate::invalid_input::wait_for_event_count;
use crate::support::*;
use crate::workflow::wait_for_mails;
use onboard::testing::ports::free_port;
use onboard::testing::webhook_receiver::{WebhookReceiver, HOLD};
use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn a_graceful_restart_mid_workflow_loses_and_duplicates_nothing() {
    let app = spawn_app().await;
    let customer = app.customer("restart-graceful");
    let mut tab = customer.tab().await;
    let created = customer.submit_seed_payload().await;
    let application = created.body["applicationId"].as_str().unwrap().to_string();
    customer.upload_passport(&application).await;
    let seen = tab.events(2).await;
    drop(tab);
    drop(customer);
    let (tmp, data_dir) = app.stop().await;

    let app = spawn_app_in(&data_dir, 0).await;
    let customer = app.customer("restart-graceful");
    customer.continue_workflow_from_kyc(&application).await;
    assert_exactly_once_after_restart(&app, &customer, seen[1]["id"].as_str().unwrap()).await;
    drop(tmp);
}

#[tokio::test]
async fn a_killed_process_restarted_mid_workflow_loses_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    // Notifications go to a webhook receiver that counts every delivery (the Maildir would
    // hide a second delivery of one notification behind its file name).
    // The receiver holds the first delivery unanswered, so the kill below surely interrupts
    // work in flight.
    let receiver = WebhookReceiver::start(&[HOLD]).await;
    let mut child = Killed(start_binary(tmp.path(), port, &receiver));
    let probe = spawn_probe(tmp.path(), port).await;
    let customer = probe.customer("restart-killed");
    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    let application = created.body["applicationId"].as_str().unwrap().to_string();
    receiver.wait_for_held().await;
    let uploaded = customer.upload_passport(&application).await;
    assert_eq!(uploaded.status, 201);
    // SIGKILL while the first e-mail is being delivered and right after the second step was
    // accepted (its event may still sit in the outbox or in a consumer that has not committed).
    child.0.kill().expect("kill");
    child.0.wait().unwrap();

    let child = Killed(start_binary(tmp.path(), port, &receiver));
    probe.wait_ready().await;
    customer.continue_workflow_from_kyc(&application).await;
    let events = wait_for_event_count(&customer, 5).await;
    assert_eq!(types(&events), WORKFLOW_TOPICS);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = customer
        .get("/v1/customers/restart-killed/events")
        .await
        .body["events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(events.len(), 5, "no duplicate event rows");
    // The held delivery was claimed by the killed process: it is retried once the claim's
    // lease ran out (at-least-once), so this waits that long.
    receiver
        .wait_for_accepted_within(
            5,
            onboard::ports::store::NOTIFICATION_LEASE + Duration::from_secs(30),
        )
        .await;
    let deliveries = receiver.accepted_per_notification();
    assert_eq!(
        deliveries.len(),
        5,
        "one e-mail per milestone: {deliveries:?}"
    );
    assert!(
        deliveries
            .iter()
            .all(|(id, n)| id.ends_with(".customer_email") && *n == 1),
        "each delivered once: {deliveries:?}"
    );
    let mut tab = customer.tab().await;
    tab.send(r#"{"action":"resume"}"#).await;
    assert_eq!(types(&tab.events(5).await), WORKFLOW_TOPICS);
    tab.assert_no_event(Duration::from_millis(500)).await;
    drop(child);
}

/// A child process that is killed when dropped, so a failing test leaves no server behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn assert_exactly_once_after_restart(
    app: &TestApp,
    customer: &CustomerClient<'_>,
    last_seen: &str,
) {
    let events = wait_for_event_count(customer, 5).await;
    assert_eq!(types(&events), WORKFLOW_TOPICS);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = customer
        .get(&format!("/v1/customers/{}/events", customer.id))
        .await;
    assert_eq!(
        again.body["events"].as_array().unwrap().len(),
        5,
        "no duplicate event rows"
    );
    let mails = wait_for_mails(app, 5).await;
    assert_eq!(mails.len(), 5, "one e-mail per milestone, none twice");
    let mut tab = customer.tab().await;
    tab.send(&format!(r#"{{"action":"resume","after":"{last_seen}"}}"#))
        .await;
    assert_eq!(types(&tab.events(3).await), &WORKFLOW_TOPICS[2..]);
    tab.assert_no_event(Duration::from_millis(500)).await;
}

fn start_binary(
    data_dir: &std::path::Path,
    port: u16,
    receiver: &WebhookReceiver,
) -> std::process::Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_onboard"));
    onboard::testing::env::hermetic(&mut command);
    store_env(&mut command, data_dir);
    bus_env(&mut command, data_dir);
    command
        .envs(receiver.env())
        .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("ONBOARD_JWT_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

/// A client-side view of a server running in another process.
async fn spawn_probe(data_dir: &std::path::Path, port: u16) -> TestApp {
    TestApp::remote(data_dir, port).await
}
