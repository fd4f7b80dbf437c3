//! The webhook signature scheme: `X-Onboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`, and its verification for receivers (and tests).
//!
//! Signing the timestamp with the body lets a receiver refuse replays of an old request;
//! comparing in constant time (`Mac::verify_slice`) leaks nothing about the expected value.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "X-Onboard-Signature";
/// Signatures older (or newer) than this are refused by [`verify`] by default.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance")]
    Expired,
    #[error("no signature matches the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// The value of the signature header for this body at `timestamp`.
pub fn header_value(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Checks a signature header against the raw body: the timestamp must be within
/// `tolerance_secs` of `now` and one `v1` (several are allowed, for secret rotation) must match.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => {
                signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            // Unknown schemes are skipped, so a future v2 does not break v1 receivers.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Expired);
    }
    let expected = mac(secret, timestamp, body);
    if signatures
        .iter()
        .any(|s| expected.clone().verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec-test-0123456789abcdef";

    #[test]
    fn a_known_vector_matches_an_independent_hmac_sha256() {
        // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec-test-0123456789abcdef
        assert_eq!(
            sign(SECRET, 1_700_000_000, br#"{"a":1}"#),
            "8db04f7cda9bcceecaab81d860aebcc7f4382f5cae3862f9075ee2a2770e4123"
        );
    }

    #[test]
    fn a_signed_body_verifies_and_any_change_is_refused() {
        let header = header_value(SECRET, 1_700_000_000, b"body");
        assert_eq!(verify(SECRET, &header, b"body", 1_700_000_010, 300), Ok(()));
        assert_eq!(
            verify(SECRET, &header, b"bodY", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"another-secret-entirely",
                &header,
                b"body",
                1_700_000_010,
                300
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_signature_is_refused_as_a_replay() {
        let header = header_value(SECRET, 1_700_000_000, b"body");
        assert_eq!(
            verify(SECRET, &header, b"body", 1_700_000_301, 300),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(SECRET, header, b"", 1, 300),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let good = sign(SECRET, 5, b"x");
        let header = format!("t=5,v1={},v1={good},v2=future", "00".repeat(32));
        assert_eq!(verify(SECRET, &header, b"x", 5, 300), Ok(()));
    }
}
