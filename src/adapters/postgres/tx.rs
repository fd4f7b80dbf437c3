//! A producer's write transaction: one pooled connection, READ COMMITTED, with row locks where
//! steps must not interleave.

use super::error::db;
use super::{outbox, state};
use crate::domain::customer::Email;
use crate::domain::event::{Envelope, EventDraft};
use crate::domain::ids::{ApplicationId, CustomerId};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationRecord, CustomerRecord, DocumentRecord, IdempotentResponse, KycRecord,
    RecommendationRecord, StoreResult, StoreTx,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

/// Holds one pooled connection for its whole life; dropping it without `commit` makes sqlx roll
/// back before the connection serves anyone else.
pub struct PostgresTx {
    pub(super) tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl StoreTx for PostgresTx {
    async fn idempotent_response(
        &mut self,
        customer: &CustomerId,
        key: &str,
    ) -> StoreResult<Option<IdempotentResponse>> {
        state::idempotent_response(&mut *self.tx, customer, key).await
    }

    async fn save_idempotent_response(
        &mut self,
        customer: &CustomerId,
        key: &str,
        response: &IdempotentResponse,
    ) -> StoreResult<()> {
        state::save_idempotent_response(&mut *self.tx, customer, key, response).await
    }

    async fn customer(&mut self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>> {
        state::customer(&mut *self.tx, id).await
    }

    async fn customer_id_by_email(&mut self, email: &Email) -> StoreResult<Option<CustomerId>> {
        state::customer_id_by_email(&mut *self.tx, email).await
    }

    async fn insert_customer(&mut self, customer: &CustomerRecord) -> StoreResult<()> {
        state::insert_customer(&mut *self.tx, customer).await
    }

    async fn insert_application(&mut self, application: &ApplicationRecord) -> StoreResult<()> {
        state::insert_application(&mut *self.tx, application).await
    }

    /// `SELECT … FOR UPDATE`: a second transaction asking for the same application waits here
    /// until this one ends, so two steps on one application never interleave.
    async fn application_for_update(
        &mut self,
        id: ApplicationId,
    ) -> StoreResult<Option<ApplicationRecord>> {
        state::application(&mut *self.tx, id, true).await
    }

    async fn applications_of(
        &mut self,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        state::applications_of(&mut *self.tx, customer).await
    }

    async fn update_application(
        &mut self,
        id: ApplicationId,
        status: ApplicationStatus,
        policy_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        state::update_application(&mut *self.tx, id, status, policy_id, at).await
    }

    async fn insert_document(&mut self, document: &DocumentRecord) -> StoreResult<()> {
        state::insert_document(&mut *self.tx, document).await
    }

    async fn documents(&mut self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>> {
        state::documents(&mut *self.tx, application).await
    }

    async fn insert_kyc_result(&mut self, result: &KycRecord) -> StoreResult<()> {
        state::insert_kyc_result(&mut *self.tx, result).await
    }

    async fn upsert_recommendation(
        &mut self,
        recommendation: &RecommendationRecord,
    ) -> StoreResult<()> {
        state::upsert_recommendation(&mut *self.tx, recommendation).await
    }

    async fn recommendation(
        &mut self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>> {
        state::recommendation(&mut *self.tx, application).await
    }

    async fn enqueue_event(&mut self, draft: EventDraft) -> StoreResult<Envelope> {
        outbox::enqueue(&mut self.tx, draft).await
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await.map_err(db)
    }
}
