//! The store on Amazon DynamoDB (`store.kind = "dynamodb"`), through the official
//! `aws-sdk-dynamodb`: every part of the store port over the tables of [`tables`] (the seed's
//! users, applications, KYC results, audit and connections tables, plus Onboard's own).
//!
//! Where the SQL stores use a transaction, a [`tx::DynamoTx`] buffers its writes and commits
//! them as one `TransactWriteItems` with condition expressions (unique e-mail, idempotency key,
//! optimistic `version` of the application, per-customer sequence counter). See
//! `docs/dynamodb-tables.md` for the data model and why.

mod batches;
mod codec;
mod events;
mod locks;
mod notifications;
mod operations;
mod outbox;
mod records;
mod registry;
mod retention;
mod state;
pub mod tables;
mod trace;
mod tx;
mod upgrade;

pub use tables::{table_definitions, TableNames};
pub use tx::MAX_TRANSACTION_ITEMS;

use crate::ports::store::{StoreBase, StoreResult, StoreStatistics, StoreStats};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;
use chrono::Utc;
use codec::{n, s, sdk_error};
use std::sync::Arc;
use tables::{attr, index};

/// A DynamoDB store; cheap to clone (a transaction keeps a clone).
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    tables: Arc<TableNames>,
    /// Serialises this process's transactions that hand out sequences of one customer.
    locks: Arc<locks::CustomerLocks>,
}

impl DynamoStore {
    /// A store over existing tables (created by `onboard migrate` or the CloudFormation stack),
    /// with the SDK configuration of [`crate::adapters::aws_sdk::sdk_config`].
    pub async fn open(region: Option<&str>, tables: TableNames) -> Arc<Self> {
        let config = crate::adapters::aws_sdk::sdk_config(region).await;
        Arc::new(Self::with_client(Client::new(&config), tables))
    }

    pub fn with_client(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables: Arc::new(tables),
            locks: Arc::default(),
        }
    }

    /// Creates the missing tables (enabling TTL where the table has one) and indexes, and lists
    /// them.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        tables::create_missing(&self.client, &self.tables).await
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// The SDK client (tests read table settings with it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Counts a table's items (`Scan` with `Select=COUNT`, every page), optionally filtered.
    async fn count(
        &self,
        table: &str,
        filter: Option<(&str, &str, AttributeValue)>,
    ) -> StoreResult<i64> {
        let mut total = 0;
        let mut start = None;
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(table)
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start);
            if let Some((expression, name, value)) = &filter {
                scan = scan
                    .filter_expression(*expression)
                    .expression_attribute_values(*name, value.clone());
            }
            let page = scan.send().await.map_err(|e| sdk_error("Scan", e))?;
            total += i64::from(page.count());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(total),
            }
        }
    }

    /// Counts a partition of a table or index (`Query` with `Select=COUNT`, every page).
    async fn count_partition(
        &self,
        table: &str,
        index: Option<&str>,
        key: &str,
        value: &str,
    ) -> StoreResult<i64> {
        let mut total = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", key)
                .expression_attribute_values(":v", s(value))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            total += i64::from(page.count());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(total),
            }
        }
    }
}

#[async_trait]
impl StoreBase for DynamoStore {
    fn name(&self) -> &'static str {
        "dynamodb"
    }

    /// `DescribeTable` of the users table: the endpoint answers and the schema exists.
    async fn ping(&self) -> StoreResult<()> {
        self.client
            .describe_table()
            .table_name(&self.tables.users)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTable", e))?;
        Ok(())
    }
}

#[async_trait]
impl StoreStatistics for DynamoStore {
    /// Scans with `Select=COUNT` (the outbox and the due notifications are one partition each,
    /// counted with `Query`): each counter reads the whole table, so this is for the operator
    /// view only, and the numbers are not one snapshot.
    async fn stats(&self) -> StoreResult<StoreStats> {
        let t = &self.tables;
        let now = n(codec::millis(Utc::now()));
        Ok(StoreStats {
            customers: self.count(&t.users, None).await?,
            applications: self.count(&t.applications, None).await?,
            events: self.count(&t.events, None).await?,
            outbox_pending: self
                .count_partition(&t.outbox, None, attr::STREAM, outbox::PENDING)
                .await?,
            notifications_pending: self
                .count_partition(
                    &t.notifications,
                    Some(index::NOTIFICATIONS_DUE),
                    attr::DUE_SHARD,
                    notifications::DUE,
                )
                .await?,
            connections: self
                .count(&t.websocket, Some(("expiresAt > :now", ":now", now)))
                .await?,
        })
    }
}
