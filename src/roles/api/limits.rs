//! The API's limits against abuse: a request rate per customer (per peer address for requests
//! without a valid token) and a cap on concurrent uploads, per process and per customer. Both
//! answer 429 problem+json with `Retry-After` and are counted in
//! [`telemetry::REQUESTS_LIMITED`].

use super::problem::Problem;
use super::state::ApiState;
use crate::domain::ids::CustomerId;
use crate::telemetry;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Above this many tracked keys, keys whose bucket is full again are forgotten.
const MAX_TRACKED_KEYS: usize = 10_000;

/// How much the API lets one customer and the whole process do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    pub requests_per_second: u32,
    pub request_burst: u32,
    pub max_concurrent_uploads: usize,
    pub max_concurrent_uploads_per_customer: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            requests_per_second: 10,
            request_burst: 20,
            max_concurrent_uploads: 16,
            max_concurrent_uploads_per_customer: 2,
        }
    }
}

/// 429 with `Retry-After` in whole seconds (at least 1), counted under `limit` (`requests`,
/// `uploads`, `websockets`).
pub fn too_many(limit: &'static str, detail: impl Into<String>, retry_after: Duration) -> Response {
    metrics::counter!(telemetry::REQUESTS_LIMITED, "limit" => limit).increment(1);
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut response =
        Problem::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", detail).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The request rate of each customer (or peer address).
pub struct RequestRate {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl RequestRate {
    pub fn new(limits: &ApiLimits) -> Self {
        let rate = NonZeroU32::new(limits.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.request_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// `Ok` when `key` may make one more request now, otherwise how long until it may.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.limiter.len() > MAX_TRACKED_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Middleware of the API routes: counts the request against its customer (the bearer token's,
/// checked here only to find the key; the handler still authenticates) or its peer address.
pub async fn limit_requests(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // Every kind of customer token counts (the issuer's too: keyed by peer address, customers
    // behind one proxy would share a bucket); the issuer's keys are cached, so this costs a
    // signature check, not a fetch.
    let key = match state.auth.authenticate_bearer(bearer).await {
        Ok(verified) => format!("customer:{}", verified.customer),
        Err(_) => match request.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => format!("peer:{}", peer.ip()),
            None => "peer:unknown".to_owned(),
        },
    };
    match state.request_rate.check(&key) {
        Ok(()) => next.run(request).await,
        Err(wait) => too_many(
            "requests",
            "too many requests from this customer; retry after the time in Retry-After",
            wait,
        ),
    }
}

/// Concurrent uploads (or WebSocket connections): a semaphore for the process and a count per
/// customer.
pub struct CustomerSlots {
    node: Arc<Semaphore>,
    per_customer: Mutex<HashMap<CustomerId, usize>>,
    per_customer_max: usize,
    /// The metric label of a refusal and the plural noun of its message.
    limit: &'static str,
    noun: &'static str,
}

/// One upload's (or connection's) place; freed when dropped.
pub struct CustomerSlot {
    _node: OwnedSemaphorePermit,
    customer: CustomerId,
    slots: Arc<CustomerSlots>,
}

impl CustomerSlots {
    pub fn new(limits: &ApiLimits) -> Arc<Self> {
        Self::with_caps(
            "uploads",
            "uploads",
            limits.max_concurrent_uploads,
            limits.max_concurrent_uploads_per_customer,
        )
    }

    /// Places for `per_node` things at once, `per_customer` of one customer; a refusal is
    /// counted under `limit` and names `noun`.
    pub fn with_caps(
        limit: &'static str,
        noun: &'static str,
        per_node: usize,
        per_customer: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            node: Arc::new(Semaphore::new(per_node)),
            per_customer: Mutex::new(HashMap::new()),
            per_customer_max: per_customer,
            limit,
            noun,
        })
    }

    /// A place for one more of `customer`'s, or the 429 to answer.
    pub fn try_take(self: &Arc<Self>, customer: &CustomerId) -> Result<CustomerSlot, Response> {
        let retry = Duration::from_secs(1);
        let Ok(node) = self.node.clone().try_acquire_owned() else {
            return Err(too_many(
                self.limit,
                format!(
                    "the server holds as many {} as it accepts at once; retry shortly",
                    self.noun
                ),
                retry,
            ));
        };
        let mut counts = self.per_customer.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(customer.clone()).or_insert(0);
        if *count >= self.per_customer_max {
            return Err(too_many(
                self.limit,
                format!(
                    "at most {} {} of one customer are accepted at once; retry when one has finished",
                    self.per_customer_max, self.noun
                ),
                retry,
            ));
        }
        *count += 1;
        Ok(CustomerSlot {
            _node: node,
            customer: customer.clone(),
            slots: self.clone(),
        })
    }
}

impl Drop for CustomerSlot {
    fn drop(&mut self) {
        let mut counts = self
            .slots
            .per_customer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.customer) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.customer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_beyond_the_burst_waits_and_others_do_not() {
        let rate = RequestRate::new(&ApiLimits {
            requests_per_second: 1,
            request_burst: 3,
            ..ApiLimits::default()
        });
        for _ in 0..3 {
            assert!(rate.check("customer:a").is_ok());
        }
        let wait = rate.check("customer:a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(rate.check("customer:b").is_ok());
    }

    #[test]
    fn upload_slots_are_capped_per_customer_and_per_node_and_freed_on_drop() {
        let slots = CustomerSlots::new(&ApiLimits {
            max_concurrent_uploads: 3,
            max_concurrent_uploads_per_customer: 2,
            ..ApiLimits::default()
        });
        let a = CustomerId::parse("a").unwrap();
        let b = CustomerId::parse("b").unwrap();
        let first = slots.try_take(&a).ok().unwrap();
        let _second = slots.try_take(&a).ok().unwrap();
        assert_eq!(slots.try_take(&a).err().unwrap().status(), 429);
        let _third = slots.try_take(&b).ok().unwrap();
        assert_eq!(slots.try_take(&b).err().unwrap().status(), 429, "node cap");
        drop(first);
        assert!(slots.try_take(&a).is_ok());
    }
}
