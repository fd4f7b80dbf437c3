//! The WebSocket connection registry on the seed's connections table: one item per socket,
//! `connectionId` its key, a GSI by customer, and the `ttl` attribute (epoch seconds) that lets
//! DynamoDB delete dead rows by itself. TTL deletion lags (up to days), so every read also
//! treats a row whose `expiresAt` has passed as gone, and `sweep_connections` deletes them
//! at once.

use super::codec::{millis, n, s, sdk_error, ttl_seconds, Fields};
use super::records;
use super::state::PartitionQuery;
use super::tables::{attr, index};
use super::DynamoStore;
use crate::domain::ids::{ConnectionId, CustomerId};
use crate::ports::store::{ConnectionRecord, ConnectionRegistry, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

fn live(items: Vec<super::codec::Item>, now: DateTime<Utc>) -> StoreResult<Vec<ConnectionRecord>> {
    let mut rows = Vec::new();
    for item in &items {
        let c = records::connection_record(item)?;
        if c.expires_at > now {
            rows.push(c);
        }
    }
    rows.sort_by_key(|c| (c.connected_at, c.connection_id.0));
    Ok(rows)
}

impl DynamoStore {
    /// Every item of the connections table (`Scan`, every page).
    async fn scan_connections(&self) -> StoreResult<Vec<super::codec::Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tables.websocket)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Scan", e))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl ConnectionRegistry for DynamoStore {
    /// Puts the row, replacing one with the same id.
    async fn register_connection(&self, c: &ConnectionRecord) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.tables.websocket)
            .set_item(Some(records::connection_item(c)))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    async fn touch_connection(
        &self,
        id: ConnectionId,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.websocket)
            .key(attr::CONNECTION_ID, s(id.to_string()))
            .update_expression("SET #seen = :seen, #expires = :expires, #ttl = :ttl")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#seen", "lastSeenAt")
            .expression_attribute_names("#expires", "expiresAt")
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_names("#id", attr::CONNECTION_ID)
            .expression_attribute_values(":seen", n(millis(last_seen_at)))
            .expression_attribute_values(":expires", n(millis(expires_at)))
            .expression_attribute_values(":ttl", n(ttl_seconds(expires_at)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    async fn remove_connection(&self, id: ConnectionId) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.websocket)
            .key(attr::CONNECTION_ID, s(id.to_string()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// One `BatchWriteItem` per 25 ids.
    async fn remove_connections(&self, ids: &[ConnectionId]) -> StoreResult<()> {
        let keys = ids
            .iter()
            .map(|id| super::codec::Item::from([(attr::CONNECTION_ID.into(), s(id.to_string()))]))
            .collect();
        self.delete_in_batches(&self.tables.websocket, keys).await
    }

    async fn connection(
        &self,
        id: ConnectionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConnectionRecord>> {
        let item = self
            .get(&self.tables.websocket, attr::CONNECTION_ID, id.to_string())
            .await?;
        Ok(live(item.into_iter().collect(), now)?.pop())
    }

    async fn connections_of(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        let q = PartitionQuery {
            index: Some(index::CONNECTIONS_BY_CUSTOMER),
            ..PartitionQuery::new(
                &self.tables.websocket,
                attr::CUSTOMER_ID,
                s(customer.as_str()),
            )
        };
        live(self.query(q).await?, now)
    }

    /// Scans the table (operator view only).
    async fn all_connections(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        let mut rows = live(self.scan_connections().await?, now)?;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(rows)
    }

    /// Deletes each expired row with a condition that it is still expired, so a heartbeat
    /// that refreshed it meanwhile wins.
    async fn sweep_connections(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut swept = 0;
        for item in self.scan_connections().await? {
            let f = Fields::of("websocket_connections", &item);
            if f.int("expiresAt")? > millis(now) {
                continue;
            }
            let result = self
                .client
                .delete_item()
                .table_name(&self.tables.websocket)
                .key(attr::CONNECTION_ID, s(f.text(attr::CONNECTION_ID)?))
                .condition_expression("#expires <= :now")
                .expression_attribute_names("#expires", "expiresAt")
                .expression_attribute_values(":now", n(millis(now)))
                .send()
                .await;
            match result {
                Ok(_) => swept += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(DeleteItemError::is_conditional_check_failed_exception) => {}
                Err(e) => return Err(sdk_error("DeleteItem", e)),
            }
        }
        Ok(swept)
    }
}
