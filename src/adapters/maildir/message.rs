//! Renders a notification as an RFC 5322 message, byte-for-byte the same for the same notification.

use crate::ports::notifier::NotifyError;
use crate::ports::store::Notification;
use lettre::message::header::{
    ContentTransferEncoding, ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0,
};
use lettre::message::{Body, Mailbox};
use lettre::Message;
use std::time::SystemTime;

/// Domain of the deterministic `Message-ID`s.
const MESSAGE_ID_DOMAIN: &str = "onboard.local";

/// The formatted message; `Date` is the notification's creation time and `Message-ID` derives
/// from its id, so a redelivery renders the very same bytes.
pub(super) fn render(n: &Notification, from: &Mailbox) -> Result<Vec<u8>, NotifyError> {
    // The address is not repeated in the error: it is PII and errors end up in logs.
    let to: Mailbox = n.recipient.parse().map_err(|_| {
        NotifyError::Permanent("the recipient is not a valid e-mail address".into())
    })?;
    // 8bit keeps the file readable with `less`; lettre refuses it for lines over 998 bytes,
    // then its own choice (quoted-printable or base64) is used.
    let body = Body::new_with_encoding(n.body.clone(), ContentTransferEncoding::EightBit)
        .unwrap_or_else(|_| Body::new(n.body.clone()));
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(n.subject.clone())
        .date(SystemTime::from(n.created_at))
        .message_id(Some(format!(
            "<{}@{MESSAGE_ID_DOMAIN}>",
            super::escaped_id(&n.id)
        )))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Onboard-Notification-Id"),
            n.id.clone(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Onboard-Event-Id"),
            n.event_id.to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Onboard-Kind"),
            n.kind.as_str().to_owned(),
        ))
        .body(body)
        .map_err(|e| NotifyError::Permanent(format!("cannot build the message: {e}")))?;
    Ok(message.formatted())
}
