//! Which notifications an event causes, and their words: milestone e-mails to the customer and
//! alerts to operators.
//!
//! Pure: the event data is read tolerantly (a missing field leaves a line out instead of failing),
//! because an e-mail that says a little less is better than a consumer that stalls on it.

use crate::domain::event::{Envelope, Topic};
use crate::ports::store::{CustomerRecord, Notification, NotificationKind};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::fmt::Write as _;

const SIGNATURE: &str = "The Onboard team";

/// The notifications `event` causes: a milestone e-mail to the customer for each of the five
/// step topics, and an alert to `operator_address` for every `workflow-errors` event.
///
/// No customer record (a failure before registration), or a record of another customer, means
/// no customer e-mail; an empty `operator_address` means operator alerts are switched off.
pub fn notifications_for(
    event: &Envelope,
    customer: Option<&CustomerRecord>,
    operator_address: &str,
    now: DateTime<Utc>,
) -> Vec<Notification> {
    let build =
        |kind: NotificationKind, recipient: &str, (subject, body): (String, String)| Notification {
            id: format!("{}.{}", event.id, kind.as_str()),
            event_id: event.id,
            kind,
            event_type: event.topic,
            application_id: event.application_id,
            correlation_id: Some(event.correlation_id.clone()),
            recipient: recipient.to_owned(),
            subject,
            body,
            created_at: now,
            attempts: 0,
        };

    if event.topic == Topic::WorkflowErrors {
        if operator_address.trim().is_empty() {
            return Vec::new();
        }
        return vec![build(
            NotificationKind::OperatorAlert,
            operator_address,
            operator_alert(event),
        )];
    }
    match customer.filter(|c| c.customer_id == event.customer_id) {
        Some(customer) => vec![build(
            NotificationKind::CustomerEmail,
            customer.email.as_str(),
            milestone_email(event, customer.first_name.as_str()),
        )],
        None => Vec::new(),
    }
}

/// Subject and body of the customer's e-mail for a step event.
fn milestone_email(event: &Envelope, first_name: &str) -> (String, String) {
    let data = &event.data;
    let mut body = format!("Hello {first_name},\n\n");
    let subject = match event.topic {
        Topic::UserInfoSubmitted => {
            body.push_str(
                "Thank you for starting your application. We have received your details.\n\n\
                 Next step: upload an identity document (passport, national ID card or \
                 driver's license).\n",
            );
            "We received your details".to_owned()
        }
        Topic::DocumentsProcessed => {
            let kind = text(data, "documentType").map_or("document", document_label);
            let _ = writeln!(body, "We received your {kind} and checked it.\n");
            if let Some(id) = text(data, "documentId") {
                let _ = writeln!(body, "Document reference: {id}");
            }
            if let Some(size) = data.get("sizeBytes").and_then(Value::as_u64) {
                let _ = writeln!(body, "Size: {size} bytes");
            }
            if let Some(sha) = text(data, "sha256") {
                let _ = writeln!(body, "SHA-256: {sha}");
            }
            body.push_str("\nNext step: we verify your identity.\n");
            format!("We received your {kind}")
        }
        Topic::KycVerified => {
            let decision = text(data, "decision").unwrap_or_default();
            let (subject, intro) = match decision {
                "APPROVED" => (
                    "Your identity is verified",
                    "Good news: we verified your identity.\n\n\
                     Next step: we recommend the policy that fits you best.",
                ),
                "REJECTED" => (
                    "We could not verify your identity",
                    "Unfortunately we could not verify your identity, so we cannot continue \
                     your application.\nIf you think this is a mistake, reply to this e-mail.",
                ),
                "REVIEW" => (
                    "Your identity check needs a manual review",
                    "Your identity check needs a closer look by our team. We will get back to \
                     you, usually within one business day. There is nothing you need to do.",
                ),
                _ => (
                    "Your identity check is complete",
                    "Your identity check is complete.",
                ),
            };
            let _ = writeln!(body, "{intro}");
            let reasons: Vec<&str> = items(data, "reasons")
                .filter_map(|r| r.get("message").and_then(Value::as_str))
                .collect();
            push_list(&mut body, "What we checked:", &reasons);
            subject.to_owned()
        }
        Topic::PolicyRecommended => {
            let product = text(data, "productName");
            match product {
                Some(name) => {
                    let _ = write!(body, "Based on your profile we recommend {name}");
                }
                None => body.push_str("Your policy recommendation is ready"),
            }
            if let Some(coverage) = text(data, "coverageType") {
                let _ = write!(body, " ({coverage} cover)");
            }
            if let Some(premium) = text(data, "monthlyPremium") {
                let _ = write!(body, " at {premium} per month");
            }
            body.push_str(".\n");
            if let Some(id) = text(data, "policyId") {
                let _ = writeln!(body, "Policy: {id}");
            }
            let reasons: Vec<&str> = items(data, "reasons").filter_map(Value::as_str).collect();
            push_list(&mut body, "Why this policy:", &reasons);
            body.push_str("\nNext step: accept the policy to complete your onboarding.\n");
            match product {
                Some(name) => format!("Your recommended policy: {name}"),
                None => "Your policy recommendation is ready".to_owned(),
            }
        }
        Topic::WorkflowCompleted => {
            body.push_str("Welcome aboard: your onboarding is complete.\n");
            if let Some(id) = text(data, "policyId") {
                let _ = writeln!(body, "Your policy: {id}");
            }
            "Welcome aboard: your onboarding is complete".to_owned()
        }
        // Routed to operator_alert by the caller; kept total so a new topic is a compile error.
        Topic::WorkflowErrors => return operator_alert(event),
    };

    body.push('\n');
    if let Some(application) = event.application_id {
        let _ = writeln!(body, "Application: {application}");
    }
    if let Some(status) = text(data, "status") {
        let _ = writeln!(body, "Status: {status}");
    }
    let _ = write!(body, "\n{SIGNATURE}\n");
    (subject, body)
}

/// Subject and body of the operator's alert: step, code and ids only, no PII.
fn operator_alert(event: &Envelope) -> (String, String) {
    let data = &event.data;
    let step = text(data, "step").unwrap_or("unknown step");
    let code = text(data, "code").unwrap_or("UNKNOWN");
    let fields: Vec<&str> = items(data, "fields").filter_map(Value::as_str).collect();
    let row = |label: &str, value: &str| format!("{label:<15}{value}\n");
    let mut body = String::from("A workflow step failed.\n\n");
    body.push_str(&row("Step:", step));
    body.push_str(&row("Code:", code));
    body.push_str(&row("Message:", text(data, "message").unwrap_or("-")));
    body.push_str(&row(
        "Fields:",
        &if fields.is_empty() {
            "-".to_owned()
        } else {
            fields.join(", ")
        },
    ));
    body.push_str(&row("Customer:", event.customer_id.as_str()));
    body.push_str(&row(
        "Application:",
        &event
            .application_id
            .map_or_else(|| "-".to_owned(), |a| a.to_string()),
    ));
    body.push_str(&row("Event:", &event.id.to_string()));
    body.push_str(&row("Correlation:", &event.correlation_id));
    body.push_str(&row(
        "Occurred at:",
        &event
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    ));
    (format!("[onboard] {step} failed: {code}"), body)
}

fn text<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn items<'a>(data: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    data.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn push_list(body: &mut String, heading: &str, lines: &[&str]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(body, "\n{heading}");
    for line in lines {
        let _ = writeln!(body, "  - {line}");
    }
}

/// How a document type reads in a sentence.
fn document_label(raw: &str) -> &str {
    match raw {
        "passport" => "passport",
        "national_id" => "national ID card",
        "drivers_license" => "driver's license",
        "utility_bill" => "utility bill",
        _ => "document",
    }
}
