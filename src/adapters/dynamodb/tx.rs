//! A producer's write transaction on DynamoDB: reads go to the tables (consistently) and see
//! this transaction's own writes; writes are buffered and `commit` sends them as one
//! `TransactWriteItems`, each with the condition that keeps the rule SQL kept with a constraint
//! or a row lock:
//!
//! - a customer id and an e-mail address are taken once (`attribute_not_exists` on the user
//!   and on an `email#<address>` claim in the idempotency table);
//! - an idempotency key is stored once per customer (`idem#<customer>#<key>` claim);
//! - the application carries a `version`: `application_for_update` records the version read
//!   and `commit` writes (or checks) the application only if it is still that version, so a step
//!   that raced another one on the same application fails with `Conflict` (answered 409);
//! - a customer's sequence counter moves from the value read to the last number handed out, so
//!   sequences have no gaps and a dropped transaction hands its numbers out again.
//!
//! Dropping the transaction discards the buffer: nothing was written.

use super::codec::{build_error, n, s, sdk_error, Item};
use super::locks::CustomerLocksGuard;
use super::records;
use super::tables::attr;
use super::DynamoStore;
use crate::domain::customer::Email;
use crate::domain::event::{Envelope, EventDraft};
use crate::domain::ids::{ApplicationId, CustomerId};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationRecord, CustomerRecord, DocumentRecord, IdempotentResponse, KycRecord,
    RecommendationRecord, StoreError, StoreResult, StoreTx,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, Put, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// DynamoDB's limit on the items of one `TransactWriteItems`; a transaction that would write
/// more is refused before anything is written.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// How long a stored idempotent answer is kept (the claim's TTL); a key reused later is a new
/// request.
const IDEMPOTENCY_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// An application this transaction read or wrote.
struct ApplicationState {
    record: ApplicationRecord,
    /// The version read; `None` when this transaction inserts it.
    read_version: Option<u64>,
    dirty: bool,
}

/// A customer's sequence counter as this transaction moves it.
struct SequenceState {
    read: u64,
    last: u64,
}

pub struct DynamoTx {
    store: DynamoStore,
    customers: Vec<CustomerRecord>,
    applications: HashMap<ApplicationId, ApplicationState>,
    documents: Vec<DocumentRecord>,
    kyc_results: Vec<KycRecord>,
    recommendations: HashMap<ApplicationId, RecommendationRecord>,
    idempotent: Vec<(String, IdempotentResponse)>,
    sequences: HashMap<CustomerId, SequenceState>,
    outbox: Vec<Envelope>,
    /// This process's locks of the customers whose sequences this transaction moves.
    _locks: Vec<CustomerLocksGuard>,
}

pub(super) fn idempotency_claim(customer: &CustomerId, key: &str) -> String {
    format!("idem#{customer}#{key}")
}

fn email_claim(email: &Email) -> String {
    format!("email#{}", email.as_str())
}

fn customer_counter(customer: &CustomerId) -> String {
    format!("customer#{customer}")
}

/// The outbox's counter in the counters table.
pub(super) const OUTBOX_COUNTER: &str = "outbox";

impl DynamoTx {
    pub(super) fn new(store: DynamoStore) -> Self {
        Self {
            store,
            customers: Vec::new(),
            applications: HashMap::new(),
            documents: Vec::new(),
            kyc_results: Vec::new(),
            recommendations: HashMap::new(),
            idempotent: Vec::new(),
            sequences: HashMap::new(),
            outbox: Vec::new(),
            _locks: Vec::new(),
        }
    }

    /// The application as this transaction sees it, read (and its version recorded) on first
    /// use.
    async fn load_application(
        &mut self,
        id: ApplicationId,
    ) -> StoreResult<Option<&mut ApplicationState>> {
        if !self.applications.contains_key(&id) {
            let Some((record, version)) = self.store.read_application(id).await? else {
                return Ok(None);
            };
            self.applications.insert(
                id,
                ApplicationState {
                    record,
                    read_version: Some(version),
                    dirty: false,
                },
            );
        }
        Ok(self.applications.get_mut(&id))
    }

    fn item_count(&self) -> usize {
        self.customers.len() * 2
            + self.applications.len()
            + self.documents.len()
            + self.kyc_results.len()
            + self.recommendations.len()
            + self.idempotent.len()
            + self.sequences.len()
            + self.outbox.len()
    }

    /// Reserves `count` outbox positions; positions of a transaction that then fails are never
    /// used (the outbox needs order, not contiguity).
    async fn reserve_outbox_positions(&self, count: usize) -> StoreResult<i64> {
        let out = self
            .store
            .client
            .update_item()
            .table_name(&self.store.tables.counters)
            .key(attr::COUNTER, s(OUTBOX_COUNTER))
            .update_expression("ADD #last :count")
            .expression_attribute_names("#last", "last")
            .expression_attribute_values(":count", n(count))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem", e))?;
        let last = out
            .attributes
            .as_ref()
            .map(|item| super::codec::Fields::of("counters", item).int("last"))
            .transpose()?
            .ok_or_else(|| StoreError::Other("the outbox counter was not returned".into()))?;
        Ok(last - i64::try_from(count).unwrap_or(i64::MAX) + 1)
    }

    /// Every buffered write with the rule its condition keeps (named in a `Conflict`).
    async fn writes(&self) -> StoreResult<Vec<(TransactWriteItem, String)>> {
        let t = &self.store.tables;
        let mut writes = Vec::with_capacity(self.item_count());
        let put_new = |table: &str, item: Item, key: &str| {
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", key)
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(build_error)
        };
        for c in &self.customers {
            writes.push((
                put_new(&t.users, records::customer_item(c), attr::CUSTOMER_ID)?,
                format!("customer id {} is taken", c.customer_id),
            ));
            let claim = Item::from([
                (attr::CLAIM.to_owned(), s(email_claim(&c.email))),
                (attr::CUSTOMER_ID.to_owned(), s(c.customer_id.as_str())),
            ]);
            writes.push((
                put_new(&t.idempotency, claim, attr::CLAIM)?,
                "the email address belongs to another customer".to_owned(),
            ));
        }
        for (id, state) in &self.applications {
            let rule = format!("application {id} was changed by a concurrent request");
            let write = match (state.read_version, state.dirty) {
                (None, _) => put_new(
                    &t.applications,
                    records::application_item(&state.record, 1),
                    attr::APPLICATION_ID,
                )?,
                (Some(version), true) => Put::builder()
                    .table_name(&t.applications)
                    .set_item(Some(records::application_item(&state.record, version + 1)))
                    .condition_expression("#v = :v")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":v", n(version))
                    .build()
                    .map(|put| TransactWriteItem::builder().put(put).build())
                    .map_err(build_error)?,
                (Some(version), false) => ConditionCheck::builder()
                    .table_name(&t.applications)
                    .key(attr::APPLICATION_ID, s(id.to_string()))
                    .condition_expression("#v = :v")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":v", n(version))
                    .build()
                    .map(|check| TransactWriteItem::builder().condition_check(check).build())
                    .map_err(build_error)?,
            };
            writes.push((write, rule));
        }
        for d in &self.documents {
            writes.push((
                put_new(
                    &t.documents,
                    records::document_item(d),
                    attr::APPLICATION_ID,
                )?,
                format!("document {} exists", d.document_id),
            ));
        }
        for k in &self.kyc_results {
            writes.push((
                put_new(&t.kyc_results, records::kyc_item(k)?, attr::APPLICATION_ID)?,
                "the KYC result exists".to_owned(),
            ));
        }
        for r in self.recommendations.values() {
            let put = Put::builder()
                .table_name(&t.recommendations)
                .set_item(Some(records::recommendation_item(r)?))
                .build()
                .map_err(build_error)?;
            writes.push((
                TransactWriteItem::builder().put(put).build(),
                "recommendation".to_owned(),
            ));
        }
        let now = Utc::now();
        for (claim, response) in &self.idempotent {
            let expires = (now + IDEMPOTENCY_RETENTION).timestamp();
            let put = Put::builder()
                .table_name(&t.idempotency)
                .set_item(Some(records::idempotent_item(claim, response, expires)))
                .condition_expression("attribute_not_exists(#k) OR #e <= :now")
                .expression_attribute_names("#k", attr::CLAIM)
                .expression_attribute_names("#e", attr::EXPIRES_AT)
                .expression_attribute_values(":now", n(now.timestamp()))
                .build()
                .map_err(build_error)?;
            writes.push((
                TransactWriteItem::builder().put(put).build(),
                "the idempotency key was stored by a concurrent request".to_owned(),
            ));
        }
        for (customer, sequence) in &self.sequences {
            let mut update = Update::builder()
                .table_name(&t.counters)
                .key(attr::COUNTER, s(customer_counter(customer)))
                .update_expression("SET #last = :last")
                .expression_attribute_names("#last", "last")
                .expression_attribute_values(":last", n(sequence.last));
            update = if sequence.read == 0 {
                update
                    .condition_expression("attribute_not_exists(#c)")
                    .expression_attribute_names("#c", attr::COUNTER)
            } else {
                update
                    .condition_expression("#last = :read")
                    .expression_attribute_values(":read", n(sequence.read))
            };
            writes.push((
                TransactWriteItem::builder()
                    .update(update.build().map_err(build_error)?)
                    .build(),
                format!("customer {customer}'s events were sequenced by a concurrent request"),
            ));
        }
        if !self.outbox.is_empty() {
            let first = self.reserve_outbox_positions(self.outbox.len()).await?;
            for (seq, envelope) in (first..).zip(&self.outbox) {
                let item = super::outbox::outbox_item(seq, envelope, now)?;
                writes.push((
                    put_new(&t.outbox, item, attr::STREAM)?,
                    "outbox position reused".to_owned(),
                ));
            }
        }
        Ok(writes)
    }
}

/// Turns a refused transaction into the error the callers expect: a failed condition is a
/// `Conflict` naming its rule, a clash with a concurrent transaction a `Conflict` too (the API
/// answers 409 and the client retries), throttling `Unavailable`.
fn commit_error(
    err: aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>,
    rules: &[String],
) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    {
        let reasons = cancelled.cancellation_reasons();
        if let Some(i) = reasons
            .iter()
            .position(|r| r.code() == Some("ConditionalCheckFailed"))
        {
            return StoreError::Conflict(rules.get(i).cloned().unwrap_or_default());
        }
        if reasons
            .iter()
            .any(|r| r.code() == Some("TransactionConflict"))
        {
            return StoreError::Conflict(
                "a concurrent transaction wrote the same items".to_owned(),
            );
        }
        if reasons.iter().any(|r| {
            matches!(
                r.code(),
                Some("ThrottlingError" | "ProvisionedThroughputExceeded")
            )
        }) {
            return StoreError::Unavailable("DynamoDB throttled the transaction".to_owned());
        }
    }
    sdk_error("TransactWriteItems", err)
}

impl DynamoStore {
    /// A stored idempotent answer that has not expired.
    pub(super) async fn unexpired_claim(&self, claim: &str) -> StoreResult<Option<Item>> {
        let item = self
            .get(&self.tables.idempotency, attr::CLAIM, claim)
            .await?;
        let now = Utc::now().timestamp();
        Ok(item.filter(|item| {
            super::codec::Fields::of("idempotency", item)
                .opt_int(attr::EXPIRES_AT)
                .ok()
                .flatten()
                .is_none_or(|expires| expires > now)
        }))
    }
}

#[async_trait]
impl StoreTx for DynamoTx {
    async fn idempotent_response(
        &mut self,
        customer: &CustomerId,
        key: &str,
    ) -> StoreResult<Option<IdempotentResponse>> {
        let claim = idempotency_claim(customer, key);
        if let Some((_, r)) = self.idempotent.iter().find(|(c, _)| *c == claim) {
            return Ok(Some(r.clone()));
        }
        self.store
            .unexpired_claim(&claim)
            .await?
            .map(|item| records::idempotent_record(&item))
            .transpose()
    }

    async fn save_idempotent_response(
        &mut self,
        customer: &CustomerId,
        key: &str,
        response: &IdempotentResponse,
    ) -> StoreResult<()> {
        let claim = idempotency_claim(customer, key);
        let buffered = self.idempotent.iter().any(|(c, _)| *c == claim);
        if buffered || self.store.unexpired_claim(&claim).await?.is_some() {
            return Err(StoreError::Conflict(
                "the idempotency key was already stored".into(),
            ));
        }
        self.idempotent.push((claim, response.clone()));
        Ok(())
    }

    async fn customer(&mut self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>> {
        if let Some(c) = self.customers.iter().find(|c| c.customer_id == *id) {
            return Ok(Some(c.clone()));
        }
        self.store.read_customer(id).await
    }

    async fn customer_id_by_email(&mut self, email: &Email) -> StoreResult<Option<CustomerId>> {
        if let Some(c) = self.customers.iter().find(|c| c.email == *email) {
            return Ok(Some(c.customer_id.clone()));
        }
        self.store
            .get(
                &self.store.tables.idempotency,
                attr::CLAIM,
                email_claim(email),
            )
            .await?
            .map(|item| {
                super::codec::Fields::of("idempotency", &item).customer_id(attr::CUSTOMER_ID)
            })
            .transpose()
    }

    /// Refuses a taken id or e-mail at once (and again at commit, should a concurrent request
    /// take it meanwhile).
    async fn insert_customer(&mut self, customer: &CustomerRecord) -> StoreResult<()> {
        if self.customer(&customer.customer_id).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "customer id {} is taken",
                customer.customer_id
            )));
        }
        if self.customer_id_by_email(&customer.email).await?.is_some() {
            return Err(StoreError::Conflict(
                "the email address belongs to another customer".into(),
            ));
        }
        self.customers.push(customer.clone());
        Ok(())
    }

    async fn insert_application(&mut self, application: &ApplicationRecord) -> StoreResult<()> {
        if self.applications.contains_key(&application.application_id) {
            return Err(StoreError::Conflict(format!(
                "application {} exists",
                application.application_id
            )));
        }
        self.applications.insert(
            application.application_id,
            ApplicationState {
                record: application.clone(),
                read_version: None,
                dirty: true,
            },
        );
        Ok(())
    }

    /// Records the version read; `commit` fails with `Conflict` if another request changed the
    /// application meanwhile (DynamoDB has no row locks).
    async fn application_for_update(
        &mut self,
        id: ApplicationId,
    ) -> StoreResult<Option<ApplicationRecord>> {
        Ok(self.load_application(id).await?.map(|a| a.record.clone()))
    }

    async fn applications_of(
        &mut self,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        let mut found: HashMap<ApplicationId, ApplicationRecord> = self
            .store
            .read_applications_of(customer)
            .await?
            .into_iter()
            .map(|a| (a.application_id, a))
            .collect();
        for state in self.applications.values() {
            if state.record.customer_id == *customer {
                found.insert(state.record.application_id, state.record.clone());
            }
        }
        let mut applications: Vec<_> = found.into_values().collect();
        applications.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.application_id.0)));
        Ok(applications)
    }

    async fn update_application(
        &mut self,
        id: ApplicationId,
        status: ApplicationStatus,
        policy_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let state = self
            .load_application(id)
            .await?
            .ok_or_else(|| StoreError::Other(format!("no application {id} to update")))?;
        state.record.status = status;
        state.record.policy_id = policy_id.map(str::to_owned);
        state.record.updated_at = at;
        state.dirty = true;
        Ok(())
    }

    async fn insert_document(&mut self, document: &DocumentRecord) -> StoreResult<()> {
        self.documents.push(document.clone());
        Ok(())
    }

    async fn documents(&mut self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>> {
        let mut documents = self.store.read_documents(application).await?;
        documents.extend(
            self.documents
                .iter()
                .filter(|d| d.application_id == application)
                .cloned(),
        );
        documents.sort_by_key(|d| (d.created_at, d.document_id.0));
        Ok(documents)
    }

    async fn insert_kyc_result(&mut self, result: &KycRecord) -> StoreResult<()> {
        self.kyc_results.push(result.clone());
        Ok(())
    }

    async fn upsert_recommendation(
        &mut self,
        recommendation: &RecommendationRecord,
    ) -> StoreResult<()> {
        self.recommendations
            .insert(recommendation.application_id, recommendation.clone());
        Ok(())
    }

    async fn recommendation(
        &mut self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>> {
        if let Some(r) = self.recommendations.get(&application) {
            return Ok(Some(r.clone()));
        }
        self.store.read_recommendation(application).await
    }

    /// The first event of a customer in this transaction takes this process's lock of the
    /// customer and reads the counter; the next numbers follow it without gaps.
    async fn enqueue_event(&mut self, draft: EventDraft) -> StoreResult<Envelope> {
        let customer = draft.customer_id.clone();
        if !self.sequences.contains_key(&customer) {
            self._locks.push(self.store.locks.lock(&customer).await?);
            let read = match self
                .store
                .get(
                    &self.store.tables.counters,
                    attr::COUNTER,
                    customer_counter(&customer),
                )
                .await?
            {
                Some(item) => super::codec::Fields::of("counters", &item).unsigned("last")?,
                None => 0,
            };
            self.sequences
                .insert(customer.clone(), SequenceState { read, last: read });
        }
        let sequence = self
            .sequences
            .get_mut(&customer)
            .ok_or_else(|| StoreError::Other("sequence state vanished".into()))?;
        sequence.last += 1;
        let envelope = draft.into_envelope(sequence.last);
        self.outbox.push(envelope.clone());
        Ok(envelope)
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let count = self.item_count();
        if count > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Other(format!(
                "a transaction of {count} writes is above DynamoDB's limit of \
                 {MAX_TRANSACTION_ITEMS} items; nothing was written"
            )));
        }
        if count == 0 {
            return Ok(());
        }
        let (items, rules): (Vec<_>, Vec<_>) = self.writes().await?.into_iter().unzip();
        self.store
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| commit_error(e, &rules))?;
        Ok(())
    }
}
