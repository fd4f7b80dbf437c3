//! The e-mail form of a notification: one RFC 5322 message, shared by the Maildir and SMTP
//! adapters, so every medium carries the same ids and receivers can de-duplicate by them.
//!
//! The message is a pure function of the notification: `Date` is its creation time and
//! `Message-ID` derives from its id, so a redelivery renders the very same headers.

use crate::ports::notifier::NotifyError;
use crate::ports::store::Notification;
use lettre::message::header::{
    ContentTransferEncoding, ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0,
};
use lettre::message::{Body, Mailbox};
use lettre::Message;
use std::time::SystemTime;

/// Domain of the deterministic `Message-ID`s.
pub const MESSAGE_ID_DOMAIN: &str = "onboard.local";
/// Header carrying `Notification::id`, the receivers' de-duplication key.
pub const NOTIFICATION_ID_HEADER: &str = "X-Onboard-Notification-Id";
/// Header carrying the id of the event the notification is about.
pub const EVENT_ID_HEADER: &str = "X-Onboard-Event-Id";
/// Header carrying the notification kind (`customer_email`, `operator_alert`).
pub const KIND_HEADER: &str = "X-Onboard-Kind";

/// Which transfer encodings the body may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// Raw UTF-8 (`8bit`) when lines allow it: readable in files, needs `8BITMIME` over SMTP.
    EightBitPreferred,
    /// 7-bit safe only (`7bit`, quoted-printable or base64), for SMTP servers without `8BITMIME`.
    SevenBitOnly,
}

/// The `Message-ID` of a notification's message, angle brackets included.
pub fn message_id(notification_id: &str) -> String {
    format!("<{}@{MESSAGE_ID_DOMAIN}>", escaped_id(notification_id))
}

/// The message for `n`, with its SMTP envelope (`Message::envelope`).
pub fn build(
    n: &Notification,
    from: &Mailbox,
    encoding: BodyEncoding,
) -> Result<Message, NotifyError> {
    // The address is not repeated in the error: it is PII and errors end up in logs.
    let to: Mailbox = n.recipient.parse().map_err(|_| {
        NotifyError::Permanent("the recipient is not a valid e-mail address".into())
    })?;
    let body = match encoding {
        // lettre refuses 8bit for lines over 998 bytes; then its own 7-bit choice is used.
        BodyEncoding::EightBitPreferred => {
            Body::new_with_encoding(n.body.clone(), ContentTransferEncoding::EightBit)
                .unwrap_or_else(|_| Body::new(n.body.clone()))
        }
        BodyEncoding::SevenBitOnly => Body::new(n.body.clone()),
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(n.subject.clone())
        .date(SystemTime::from(n.created_at))
        .message_id(Some(message_id(&n.id)))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(NOTIFICATION_ID_HEADER),
            n.id.clone(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(EVENT_ID_HEADER),
            n.event_id.to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(KIND_HEADER),
            n.kind.as_str().to_owned(),
        ))
        .body(body)
        .map_err(|e| NotifyError::Permanent(format!("cannot build the message: {e}")))
}

/// The formatted message bytes, 8bit body where possible (the Maildir form).
pub fn render(n: &Notification, from: &Mailbox) -> Result<Vec<u8>, NotifyError> {
    Ok(build(n, from, BodyEncoding::EightBitPreferred)?.formatted())
}

/// The id with every byte outside `[A-Za-z0-9_-.]` (and a leading dot, which would hide a
/// file) escaped as `%XX`: the mapping is injective, and the result can never contain `/` or
/// the `:` that starts Maildir flags, and is valid inside a `Message-ID`.
pub fn escaped_id(notification_id: &str) -> String {
    let mut name = String::with_capacity(notification_id.len());
    for (i, b) in notification_id.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if safe {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::EventId;
    use crate::ports::store::NotificationKind;
    use chrono::{TimeZone, Utc};

    fn notification() -> Notification {
        Notification {
            id: "0190a5e2-7c1e-7d3a-9a51-1f2d3c4b5a69.customer_email".into(),
            event_id: EventId::parse("0190a5e2-7c1e-7d3a-9a51-1f2d3c4b5a69").unwrap(),
            kind: NotificationKind::CustomerEmail,
            event_type: crate::domain::event::Topic::PolicyRecommended,
            application_id: None,
            correlation_id: None,
            recipient: "jose@example.com".into(),
            subject: "Bienvenue".into(),
            body: "Hello José,\n".into(),
            created_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 30, 0).unwrap(),
            attempts: 0,
        }
    }

    fn from() -> Mailbox {
        "Onboard <onboard@example.com>".parse().unwrap()
    }

    #[test]
    fn the_same_notification_renders_the_same_bytes() {
        let n = notification();
        assert_eq!(render(&n, &from()).unwrap(), render(&n, &from()).unwrap());
    }

    #[test]
    fn a_seven_bit_message_has_only_ascii_bytes_and_the_same_ids() {
        let n = notification();
        let message = build(&n, &from(), BodyEncoding::SevenBitOnly).unwrap();
        let bytes = message.formatted();
        assert!(bytes.is_ascii());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(&format!("Message-ID: {}\r\n", message_id(&n.id))));
        assert!(text.contains(&format!("{NOTIFICATION_ID_HEADER}: {}\r\n", n.id)));
        assert_eq!(
            message.envelope().to(),
            ["jose@example.com".parse().unwrap()]
        );
    }
}
