//! What the limit tests share about a running `onboard up` child: tokens minted with the
//! tests' secret (the development sign-in `onboard up` itself uses), the management token, and
//! reading its memory from `/proc`.

use crate::binary::Onboard;
use crate::support::SECRET;
use onboard::auth::{Authenticator, JwtSecret};
use onboard::domain::ids::CustomerId;

fn secret() -> JwtSecret {
    JwtSecret::new(SECRET.as_bytes().to_vec()).expect("the tests' secret is long enough")
}

/// A 12-hour token of `customer`, as `onboard token` would issue it.
pub fn token(customer: &str) -> String {
    let customer = CustomerId::parse(customer).expect("a customer id");
    Authenticator::new(&secret()).issue(&customer, onboard::auth::DEFAULT_TOKEN_TTL_SECS)
}

/// The operators' token of the child (derived from its JWT secret).
pub fn management_token() -> String {
    onboard::auth::management_token(&secret())
}

/// The child's `/metrics` text, read with the management token.
pub async fn metrics_text(http: &reqwest::Client, onboard: &Onboard) -> String {
    http.get(onboard.url("/metrics"))
        .bearer_auth(management_token())
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics has a text body")
}

/// `(VmRSS, VmHWM)` of the child in KiB.
pub fn memory_kib(onboard: &Onboard) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", onboard.pid()))
        .expect("the child's /proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `onboard up` on a free loopback port.
pub const LOOPBACK: &[&str] = &["--listen", "127.0.0.1:0"];
