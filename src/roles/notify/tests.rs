//! What `notifications_for` sends for each topic, to whom, and what it never says.

use super::*;
use crate::domain::event::{Envelope, EventDraft, Topic, WorkflowErrorData};
use crate::domain::ids::{ApplicationId, CustomerId};
use crate::ports::store::{CustomerRecord, NotificationKind};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;

const OPERATOR: &str = "ops@example.com";

fn customer(id: &str) -> CustomerRecord {
    // The domain parsers are not the subject here; serde builds the values directly.
    CustomerRecord {
        customer_id: CustomerId::parse(id).unwrap(),
        email: serde_json::from_value(json!("ada@example.com")).unwrap(),
        first_name: serde_json::from_value(json!("Ada")).unwrap(),
        last_name: serde_json::from_value(json!("Lovelace")).unwrap(),
        date_of_birth: NaiveDate::from_ymd_opt(1990, 12, 10).unwrap(),
        phone_number: serde_json::from_value(json!("+447700900123")).unwrap(),
        created_at: Utc::now(),
    }
}

fn event(topic: Topic, data: serde_json::Value) -> Envelope {
    EventDraft::new(
        topic,
        CustomerId::parse("c-1").unwrap(),
        Some(ApplicationId::new()),
        "corr-42",
        data,
    )
    .into_envelope(7)
}

fn only(mut list: Vec<crate::ports::store::Notification>) -> crate::ports::store::Notification {
    assert_eq!(list.len(), 1, "{list:#?}");
    list.remove(0)
}

#[test]
fn every_step_topic_sends_the_customer_one_email_with_a_deterministic_id() {
    let now = Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap();
    let ada = customer("c-1");
    for topic in Topic::ALL
        .into_iter()
        .filter(|t| *t != Topic::WorkflowErrors)
    {
        let ev = event(topic, json!({"status": "SOME_STATUS"}));
        let n = only(notifications_for(&ev, Some(&ada), OPERATOR, now));
        assert_eq!(n.kind, NotificationKind::CustomerEmail, "{topic}");
        assert_eq!(n.id, format!("{}.customer_email", ev.id));
        assert_eq!(n.event_id, ev.id);
        assert_eq!(n.recipient, "ada@example.com");
        assert_eq!(n.created_at, now);
        assert_eq!(n.attempts, 0);
        assert!(n.body.starts_with("Hello Ada,"), "{topic}: {}", n.body);
        assert!(
            n.body.contains("Status: SOME_STATUS"),
            "{topic}: {}",
            n.body
        );
        assert!(!n.subject.is_empty());
    }
}

#[test]
fn the_same_event_always_yields_the_same_notifications() {
    let ev = event(
        Topic::UserInfoSubmitted,
        json!({"status": "USER_INFO_SUBMITTED"}),
    );
    let now = Utc::now();
    let ada = customer("c-1");
    assert_eq!(
        notifications_for(&ev, Some(&ada), OPERATOR, now),
        notifications_for(&ev, Some(&ada), OPERATOR, now)
    );
}

#[test]
fn a_kyc_rejection_says_so_and_lists_the_reasons() {
    let ev = event(
        Topic::KycVerified,
        json!({
            "status": "KYC_REJECTED",
            "decision": "REJECTED",
            "reasons": [{"code": "DOC_EXPIRED", "message": "The identity document has expired."}]
        }),
    );
    let n = only(notifications_for(
        &ev,
        Some(&customer("c-1")),
        OPERATOR,
        Utc::now(),
    ));
    assert_eq!(n.subject, "We could not verify your identity");
    assert!(
        n.body.contains("  - The identity document has expired."),
        "{}",
        n.body
    );
    assert!(n.body.contains("Status: KYC_REJECTED"));
}

#[test]
fn kyc_review_and_approval_get_their_own_subjects() {
    let ada = customer("c-1");
    for (decision, subject) in [
        ("APPROVED", "Your identity is verified"),
        ("REVIEW", "Your identity check needs a manual review"),
    ] {
        let ev = event(
            Topic::KycVerified,
            json!({"decision": decision, "reasons": []}),
        );
        assert_eq!(
            only(notifications_for(&ev, Some(&ada), OPERATOR, Utc::now())).subject,
            subject
        );
    }
}

#[test]
fn a_policy_recommendation_names_the_product_premium_and_reasons() {
    let ev = event(
        Topic::PolicyRecommended,
        json!({
            "status": "POLICY_RECOMMENDED",
            "policyId": "HEALTH-PLUS",
            "productName": "Health Plus",
            "coverageType": "health",
            "monthlyPremium": "49.90",
            "reasons": ["Fits your age band.", "Highest tier within your budget."]
        }),
    );
    let n = only(notifications_for(
        &ev,
        Some(&customer("c-1")),
        OPERATOR,
        Utc::now(),
    ));
    assert_eq!(n.subject, "Your recommended policy: Health Plus");
    assert!(
        n.body
            .contains("we recommend Health Plus (health cover) at 49.90 per month."),
        "{}",
        n.body
    );
    assert!(n.body.contains("Policy: HEALTH-PLUS"));
    assert!(n.body.contains("  - Highest tier within your budget."));
}

#[test]
fn a_processed_document_is_named_in_words() {
    let ev = event(
        Topic::DocumentsProcessed,
        json!({"documentType": "drivers_license", "documentId": "d-9", "sizeBytes": 2048}),
    );
    let n = only(notifications_for(
        &ev,
        Some(&customer("c-1")),
        OPERATOR,
        Utc::now(),
    ));
    assert_eq!(n.subject, "We received your driver's license");
    assert!(n.body.contains("Document reference: d-9"));
    assert!(n.body.contains("Size: 2048 bytes"));
}

#[test]
fn events_with_missing_fields_still_produce_a_sensible_email() {
    let ada = customer("c-1");
    for topic in Topic::ALL
        .into_iter()
        .filter(|t| *t != Topic::WorkflowErrors)
    {
        let n = only(notifications_for(
            &event(topic, json!({})),
            Some(&ada),
            OPERATOR,
            Utc::now(),
        ));
        assert!(!n.body.contains("Status:"), "{topic}");
        assert!(n.body.contains("The Onboard team"), "{topic}");
    }
}

#[test]
fn no_customer_record_means_no_customer_email() {
    let ev = event(
        Topic::UserInfoSubmitted,
        json!({"status": "USER_INFO_SUBMITTED"}),
    );
    assert!(notifications_for(&ev, None, OPERATOR, Utc::now()).is_empty());
}

#[test]
fn a_record_of_another_customer_is_never_emailed() {
    let ev = event(
        Topic::UserInfoSubmitted,
        json!({"status": "USER_INFO_SUBMITTED"}),
    );
    assert!(notifications_for(&ev, Some(&customer("c-2")), OPERATOR, Utc::now()).is_empty());
}

#[test]
fn a_workflow_error_alerts_the_operator_with_ids_and_no_personal_data() {
    let data = WorkflowErrorData {
        step: "kyc".into(),
        code: "DOCUMENT_MISSING".into(),
        message: "No identity document was uploaded.".into(),
        fields: vec!["document".into()],
    };
    let ev = event(Topic::WorkflowErrors, serde_json::to_value(&data).unwrap());
    let n = only(notifications_for(
        &ev,
        Some(&customer("c-1")),
        OPERATOR,
        Utc::now(),
    ));

    assert_eq!(n.kind, NotificationKind::OperatorAlert);
    assert_eq!(n.id, format!("{}.operator_alert", ev.id));
    assert_eq!(n.recipient, OPERATOR);
    assert_eq!(n.subject, "[onboard] kyc failed: DOCUMENT_MISSING");
    for expected in [
        "Step:          kyc".to_owned(),
        "Code:          DOCUMENT_MISSING".to_owned(),
        "Message:       No identity document was uploaded.".to_owned(),
        "Fields:        document".to_owned(),
        "Customer:      c-1".to_owned(),
        format!("Application:   {}", ev.application_id.unwrap()),
        format!("Event:         {}", ev.id),
        "Correlation:   corr-42".to_owned(),
    ] {
        assert!(
            n.body.contains(&expected),
            "missing {expected:?} in\n{}",
            n.body
        );
    }
    for pii in ["Ada", "Lovelace", "ada@example.com", "1990", "+4477"] {
        assert!(
            !n.body.contains(pii) && !n.subject.contains(pii),
            "{pii} leaked"
        );
    }
}

#[test]
fn an_error_before_registration_still_alerts_the_operator() {
    let mut ev = event(
        Topic::WorkflowErrors,
        json!({"step": "user-info", "code": "VALIDATION"}),
    );
    ev.application_id = None;
    let n = only(notifications_for(&ev, None, OPERATOR, Utc::now()));
    assert!(n.body.contains("Application:   -"), "{}", n.body);
    assert!(n.body.contains("Fields:        -"));
}

#[test]
fn an_empty_operator_address_switches_alerts_off() {
    let ev = event(Topic::WorkflowErrors, json!({"step": "kyc", "code": "X"}));
    assert!(notifications_for(&ev, None, "", Utc::now()).is_empty());
}
