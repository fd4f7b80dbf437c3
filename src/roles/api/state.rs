//! What every API handler shares: the store, the document store, the authenticator, the reference
//! data and the relay's wake-up.

use crate::auth::Authenticator;
use crate::domain::kyc::WatchList;
use crate::domain::policy::Catalogue;
use crate::ports::documents::DocumentStore;
use crate::ports::store::Store;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct ApiState(pub Arc<ApiContext>);

pub struct ApiContext {
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub watch_list: WatchList,
    pub catalogue: Catalogue,
    /// Where uploaded document files are kept.
    pub documents: Arc<dyn DocumentStore>,
    /// Woken after every commit that enqueued events, so the relay publishes without polling delay.
    pub outbox_nudge: Arc<Notify>,
    /// Served behind API Gateway (the Lambda role): the customer is the authorizer's identity
    /// ([`super::extract::GatewayIdentity`]), not a bearer token. `false` for the HTTP server.
    pub trust_gateway_identity: bool,
    /// Requests per customer (or peer address).
    pub request_rate: super::limits::RequestRate,
    /// Uploads being received, per process and per customer.
    pub uploads: Arc<super::limits::CustomerSlots>,
}

impl std::ops::Deref for ApiState {
    type Target = ApiContext;
    fn deref(&self) -> &ApiContext {
        &self.0
    }
}
