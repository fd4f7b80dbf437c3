//! The in-process end of the pusher port for tests that run roles without a gateway: every push
//! is recorded instead of sent, and connections registered as held by another node make the
//! consumers push through it.

use crate::domain::event::Envelope;
use crate::domain::ids::{ConnectionId, CustomerId, EventId};
use crate::ports::pusher::{PushError, PushOutcome, Pusher};
use crate::ports::store::ConnectionRecord;
use async_trait::async_trait;
use std::sync::Mutex;

/// Records every push (connection, customer, event) and reports it delivered.
#[derive(Default)]
pub struct RecordingPusher(Mutex<Vec<(ConnectionId, CustomerId, EventId)>>);

impl RecordingPusher {
    /// Every push so far, in order: which connection got which event.
    pub fn pushes(&self) -> Vec<(ConnectionId, EventId)> {
        let pushed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        pushed.iter().map(|(c, _, e)| (*c, *e)).collect()
    }

    /// How many events were pushed to `customer`'s connections.
    pub fn pushed_to(&self, customer: &CustomerId) -> usize {
        let pushed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        pushed.iter().filter(|(_, c, _)| c == customer).count()
    }
}

#[async_trait]
impl Pusher for RecordingPusher {
    async fn push_event(
        &self,
        connection: &ConnectionRecord,
        event: &Envelope,
    ) -> Result<PushOutcome, PushError> {
        let mut pushed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        pushed.push((
            connection.connection_id,
            connection.customer_id.clone(),
            event.id,
        ));
        Ok(PushOutcome::Delivered)
    }
}

/// A registry row for `customer` held by a node other than this process (so a push goes
/// through the pusher port), open for five minutes from now.
pub fn connection_elsewhere(customer: &CustomerId) -> ConnectionRecord {
    let now = chrono::Utc::now();
    ConnectionRecord {
        connection_id: ConnectionId::new(),
        customer_id: customer.clone(),
        node_id: "elsewhere".into(),
        node_url: "http://127.0.0.1:9".into(),
        source_ip: "127.0.0.1".into(),
        connected_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::minutes(5),
    }
}
