//! `onboard migrate` on tables an older Onboard made: the GSIs they lack are added
//! (`UpdateTable`, one at a time as DynamoDB requires, each waited for until active), after
//! writing the attribute a new sparse index is keyed on to the items that already exist, so
//! the index is complete from its first query.

use super::codec::{build_error, sdk_error};
use super::tables::{
    attr, attribute_definition, index, key_schema, IndexDefinition, TableDefinition,
};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{
    CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexDescription, GlobalSecondaryIndexUpdate,
    IndexStatus, Projection, ProjectionType,
};
use aws_sdk_dynamodb::Client;
use std::time::{Duration, Instant};

/// How long `migrate` waits for a new index to be built.
const INDEX_ACTIVE_WITHIN: Duration = Duration::from_secs(600);

/// Adds the indexes `definition` names that its existing table lacks; returns them as
/// `table (index name)`.
pub(super) async fn add_missing_indexes(
    client: &Client,
    definition: &TableDefinition<'_>,
) -> StoreResult<Vec<String>> {
    let present = index_names(client, definition.name).await?;
    let mut added = Vec::new();
    for missing in definition
        .indexes
        .iter()
        .filter(|i| !present.iter().any(|p| p == i.name))
    {
        if missing.name == index::APPLICATIONS_IN_PROGRESS {
            backfill_in_progress_status(client, definition.name).await?;
        }
        create_index(client, definition.name, missing).await?;
        wait_until_active(client, definition.name, missing.name).await?;
        added.push(format!("{} (index {})", definition.name, missing.name));
    }
    Ok(added)
}

/// The table's GSIs as DynamoDB describes them now (name, status).
async fn indexes(
    client: &Client,
    table: &str,
) -> StoreResult<Vec<GlobalSecondaryIndexDescription>> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeTable", e))?;
    Ok(described
        .table
        .and_then(|t| t.global_secondary_indexes)
        .unwrap_or_default())
}

async fn index_names(client: &Client, table: &str) -> StoreResult<Vec<String>> {
    Ok(indexes(client, table)
        .await?
        .into_iter()
        .filter_map(|i| i.index_name)
        .collect())
}

async fn create_index(client: &Client, table: &str, new: &IndexDefinition) -> StoreResult<()> {
    let mut request = client.update_table().table_name(table);
    for attribute in [Some(new.partition), new.sort].into_iter().flatten() {
        request = request.attribute_definitions(attribute_definition(attribute)?);
    }
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(new.name)
        .set_key_schema(Some(key_schema(new.partition, new.sort)?))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_error)?;
    request
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await
        .map_err(|e| sdk_error("UpdateTable", e))?;
    Ok(())
}

async fn wait_until_active(client: &Client, table: &str, name: &str) -> StoreResult<()> {
    let started = Instant::now();
    loop {
        let status = indexes(client, table)
            .await?
            .into_iter()
            .find(|i| i.index_name() == Some(name))
            .and_then(|i| i.index_status);
        if status == Some(IndexStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > INDEX_ACTIVE_WITHIN {
            return Err(StoreError::Unavailable(format!(
                "index {name} of table {table} is not active after {} s (status {status:?}); \
                 run `onboard migrate` again once it is",
                INDEX_ACTIVE_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Writes `inProgressStatus` on every in-progress application that lacks it (each a
/// conditional update: one that moved on or got it meanwhile is left alone); returns how many.
pub(super) async fn backfill_in_progress_status(
    client: &Client,
    table: &str,
) -> StoreResult<usize> {
    let mut written = 0;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("attribute_not_exists(#progress)")
            .projection_expression("#id, #status")
            .expression_attribute_names("#progress", attr::IN_PROGRESS_STATUS)
            .expression_attribute_names("#id", attr::APPLICATION_ID)
            .expression_attribute_names("#status", "status")
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("Scan", e))?;
        for item in page.items() {
            let (Some(id), Some(status)) = (item.get(attr::APPLICATION_ID), item.get("status"))
            else {
                continue;
            };
            let in_progress = status
                .as_s()
                .ok()
                .and_then(|raw| ApplicationStatus::parse(raw))
                .is_some_and(|st| ApplicationStatus::IN_PROGRESS.contains(&st));
            if !in_progress {
                continue;
            }
            let result = client
                .update_item()
                .table_name(table)
                .key(attr::APPLICATION_ID, id.clone())
                .update_expression("SET #progress = :status")
                .condition_expression("#status = :status AND attribute_not_exists(#progress)")
                .expression_attribute_names("#progress", attr::IN_PROGRESS_STATUS)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", status.clone())
                .send()
                .await;
            match result {
                Ok(_) => written += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(sdk_error("UpdateItem", e)),
            }
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(written),
        }
    }
}
