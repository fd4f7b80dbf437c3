//! The producers' reads ([`StepStore`]) and the read helpers every part of the store shares:
//! a consistent `GetItem` and a paged `Query` of one partition (`BatchGetItem`s: [`super::batches`]).

use super::batches::Read;
use super::codec::{s, sdk_error, Item};
use super::records;
use super::tables::{attr, index};
use super::tx::DynamoTx;
use super::DynamoStore;
use crate::domain::ids::{ApplicationId, CustomerId};
use crate::ports::store::{
    ApplicationRecord, CustomerRecord, DocumentRecord, IdempotentResponse, KycRecord,
    RecommendationRecord, StepStore, StoreResult, StoreTx,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// A `Query` of one partition of a table or of a GSI.
pub(super) struct PartitionQuery<'a> {
    pub table: &'a str,
    pub index: Option<&'static str>,
    pub key: &'static str,
    pub value: AttributeValue,
    /// A condition on the sort key: attribute, operator (`>`, `<=`, ...) and operand.
    pub sort: Option<(&'static str, &'static str, AttributeValue)>,
    /// `true` for ascending sort-key order.
    pub forward: bool,
    /// At most this many items; every page when `None`.
    pub limit: Option<usize>,
}

impl<'a> PartitionQuery<'a> {
    pub fn new(table: &'a str, key: &'static str, value: AttributeValue) -> Self {
        Self {
            table,
            index: None,
            key,
            value,
            sort: None,
            forward: true,
            limit: None,
        }
    }
}

impl DynamoStore {
    /// The item with this key, read consistently.
    pub(super) async fn get(
        &self,
        table: &str,
        key: &'static str,
        value: impl Into<String>,
    ) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(key, s(value))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    /// Runs `q` page by page. Reads of the table are consistent; reads of a GSI are eventually
    /// consistent (DynamoDB offers nothing else there).
    pub(super) async fn query(&self, q: PartitionQuery<'_>) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        let condition = match &q.sort {
            Some((_, op, _)) => format!("#k = :k AND #s {op} :s"),
            None => "#k = :k".to_owned(),
        };
        loop {
            let mut request = self
                .client
                .query()
                .table_name(q.table)
                .set_index_name(q.index.map(str::to_owned))
                .consistent_read(q.index.is_none())
                .key_condition_expression(&condition)
                .expression_attribute_names("#k", q.key)
                .expression_attribute_values(":k", q.value.clone())
                .scan_index_forward(q.forward)
                .set_exclusive_start_key(start);
            if let Some((name, _, value)) = &q.sort {
                request = request
                    .expression_attribute_names("#s", *name)
                    .expression_attribute_values(":s", value.clone());
            }
            if let Some(limit) = q.limit {
                let left = limit.saturating_sub(items.len()).max(1);
                request = request.limit(i32::try_from(left).unwrap_or(i32::MAX));
            }
            let page = request.send().await.map_err(|e| sdk_error("Query", e))?;
            items.extend(page.items.unwrap_or_default());
            if q.limit.is_some_and(|limit| items.len() >= limit) {
                items.truncate(q.limit.unwrap_or(usize::MAX));
                return Ok(items);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    pub(super) async fn read_customer(
        &self,
        id: &CustomerId,
    ) -> StoreResult<Option<CustomerRecord>> {
        self.get(&self.tables.users, attr::CUSTOMER_ID, id.as_str())
            .await?
            .map(|item| records::customer_record(&item))
            .transpose()
    }

    /// The application and the version it was read at.
    pub(super) async fn read_application(
        &self,
        id: ApplicationId,
    ) -> StoreResult<Option<(ApplicationRecord, u64)>> {
        self.get(
            &self.tables.applications,
            attr::APPLICATION_ID,
            id.to_string(),
        )
        .await?
        .map(|item| records::application_record(&item))
        .transpose()
    }

    /// The customer's applications as the GSI lists them, in no particular order.
    pub(super) async fn read_applications_of(
        &self,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        let q = PartitionQuery {
            index: Some(index::APPLICATIONS_BY_CUSTOMER),
            ..PartitionQuery::new(
                &self.tables.applications,
                attr::CUSTOMER_ID,
                s(customer.as_str()),
            )
        };
        self.query(q)
            .await?
            .iter()
            .map(|item| records::application_record(item).map(|(a, _)| a))
            .collect()
    }

    /// Oldest first (the sort key starts with the creation instant).
    pub(super) async fn read_documents(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Vec<DocumentRecord>> {
        let q = PartitionQuery::new(
            &self.tables.documents,
            attr::APPLICATION_ID,
            s(application.to_string()),
        );
        self.query(q)
            .await?
            .iter()
            .map(records::document_record)
            .collect()
    }

    pub(super) async fn read_recommendation(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>> {
        self.get(
            &self.tables.recommendations,
            attr::APPLICATION_ID,
            application.to_string(),
        )
        .await?
        .map(|item| records::recommendation_record(&item))
        .transpose()
    }
}

#[async_trait]
impl StepStore for DynamoStore {
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        Ok(Box::new(DynamoTx::new(self.clone())))
    }

    async fn idempotent_response(
        &self,
        customer: &CustomerId,
        key: &str,
    ) -> StoreResult<Option<IdempotentResponse>> {
        self.unexpired_claim(&super::tx::idempotency_claim(customer, key))
            .await?
            .map(|item| records::idempotent_record(&item))
            .transpose()
    }

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>> {
        self.read_customer(id).await
    }

    async fn customers(
        &self,
        ids: &[CustomerId],
    ) -> StoreResult<HashMap<CustomerId, CustomerRecord>> {
        let keys: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        self.batch_get(
            &self.tables.users,
            attr::CUSTOMER_ID,
            &keys,
            Read::Everything,
        )
        .await?
        .iter()
        .map(|item| {
            let customer = records::customer_record(item)?;
            Ok((customer.customer_id.clone(), customer))
        })
        .collect()
    }

    async fn application(&self, id: ApplicationId) -> StoreResult<Option<ApplicationRecord>> {
        Ok(self.read_application(id).await?.map(|(a, _)| a))
    }

    async fn documents(&self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>> {
        self.read_documents(application).await
    }

    /// The newest result: the last of the partition in sort-key (check time) order.
    async fn kyc_result(&self, application: ApplicationId) -> StoreResult<Option<KycRecord>> {
        let q = PartitionQuery {
            forward: false,
            limit: Some(1),
            ..PartitionQuery::new(
                &self.tables.kyc_results,
                attr::APPLICATION_ID,
                s(application.to_string()),
            )
        };
        self.query(q)
            .await?
            .first()
            .map(records::kyc_record)
            .transpose()
    }

    async fn recommendation(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>> {
        self.read_recommendation(application).await
    }
}
