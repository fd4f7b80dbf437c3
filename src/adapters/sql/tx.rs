//! A producer's write transaction: one connection of the write pool for its whole life, opened
//! the dialect's way (SQLite takes the write lock at once, PostgreSQL locks rows as it goes).

use super::write::WriteTx;
use super::{outbox, state, Dialect};
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

/// Dropping it without `commit` makes sqlx roll back before the connection serves anyone else.
pub struct SqlTx<D: Dialect> {
    pub(super) tx: WriteTx<D>,
}

#[async_trait]
impl<D: Dialect> StoreTx for SqlTx<D> {
    async fn idempotent_response(
        &mut self,
        customer: &CustomerId,
        key: &str,
    ) -> StoreResult<Option<IdempotentResponse>> {
        state::idempotent_response::<D>(&mut self.tx, customer, key).await
    }

    async fn save_idempotent_response(
        &mut self,
        customer: &CustomerId,
        key: &str,
        response: &IdempotentResponse,
    ) -> StoreResult<()> {
        state::save_idempotent_response::<D>(&mut self.tx, customer, key, response).await
    }

    async fn customer(&mut self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>> {
        state::customer::<D>(&mut self.tx, id).await
    }

    async fn customer_id_by_email(&mut self, email: &Email) -> StoreResult<Option<CustomerId>> {
        state::customer_id_by_email::<D>(&mut self.tx, email).await
    }

    async fn insert_customer(&mut self, customer: &CustomerRecord) -> StoreResult<()> {
        state::insert_customer::<D>(&mut self.tx, customer).await
    }

    async fn insert_application(&mut self, application: &ApplicationRecord) -> StoreResult<()> {
        state::insert_application::<D>(&mut self.tx, application).await
    }

    /// Ends with the dialect's row lock: a second transaction asking for the same application
    /// waits until this one ends, so two steps on one application never interleave. (SQLite
    /// needs none: the transaction already holds the only writer.)
    async fn application_for_update(
        &mut self,
        id: ApplicationId,
    ) -> StoreResult<Option<ApplicationRecord>> {
        state::application::<D>(&mut self.tx, id, D::LOCKING.lock_row()).await
    }

    async fn applications_of(
        &mut self,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        state::applications_of::<D>(&mut self.tx, customer).await
    }

    async fn update_application(
        &mut self,
        id: ApplicationId,
        status: ApplicationStatus,
        policy_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        state::update_application::<D>(&mut self.tx, id, status, policy_id, at).await
    }

    async fn insert_document(&mut self, document: &DocumentRecord) -> StoreResult<()> {
        state::insert_document::<D>(&mut self.tx, document).await
    }

    async fn documents(&mut self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>> {
        state::documents::<D>(&mut self.tx, application).await
    }

    async fn insert_kyc_result(&mut self, result: &KycRecord) -> StoreResult<()> {
        state::insert_kyc_result::<D>(&mut self.tx, result).await
    }

    async fn upsert_recommendation(
        &mut self,
        recommendation: &RecommendationRecord,
    ) -> StoreResult<()> {
        state::upsert_recommendation::<D>(&mut self.tx, recommendation).await
    }

    async fn recommendation(
        &mut self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>> {
        state::recommendation::<D>(&mut self.tx, application).await
    }

    async fn enqueue_event(&mut self, draft: EventDraft) -> StoreResult<Envelope> {
        outbox::enqueue::<D>(&mut self.tx, draft).await
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await
    }
}
