//! Every table of the DynamoDB store in one place: names, key schemas, GSIs and TTL attributes
//! ([`table_definitions`], mirrored in `docs/dynamodb-tables.md` for the CloudFormation
//! template), and `onboard migrate`'s creation of the missing ones.

use super::codec::{build_error, sdk_error};
use crate::ports::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// The name of every table, from `store.tables` (the seed's variables, `<name>-<environment>`
/// by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub users: String,
    pub applications: String,
    pub kyc_results: String,
    pub audit: String,
    pub websocket: String,
    pub events: String,
    pub outbox: String,
    pub idempotency: String,
    pub notifications: String,
    pub documents: String,
    pub recommendations: String,
    pub projections: String,
    pub counters: String,
    /// Operators' records: dead-letter replays and stall alerts (`onboard-operations`).
    pub operations: String,
}

impl TableNames {
    /// The default names for `environment` (`users-dev`, `onboard-events-dev`, ...).
    pub fn for_environment(environment: &str) -> Self {
        Self::with_suffix(&format!("-{environment}"))
    }

    /// Default base names with `suffix` appended (tests use a unique one per store).
    pub fn with_suffix(suffix: &str) -> Self {
        let name = |base: &str| format!("{base}{suffix}");
        Self {
            users: name("users"),
            applications: name("applications"),
            kyc_results: name("kyc-results"),
            audit: name("audit-logs"),
            websocket: name("websocket-connections"),
            events: name("onboard-events"),
            outbox: name("onboard-outbox"),
            idempotency: name("onboard-idempotency"),
            notifications: name("onboard-notifications"),
            documents: name("onboard-documents"),
            recommendations: name("onboard-recommendations"),
            projections: name("onboard-projections"),
            counters: name("onboard-counters"),
            operations: name("onboard-operations"),
        }
    }

    /// Every name, in the order of [`table_definitions`].
    pub fn all(&self) -> Vec<&str> {
        table_definitions(self)
            .into_iter()
            .map(|t| t.name)
            .collect()
    }
}

/// Key attribute names shared by the store's modules and the definitions below.
pub(super) mod attr {
    pub const CUSTOMER_ID: &str = "customerId";
    pub const APPLICATION_ID: &str = "applicationId";
    pub const CONNECTION_ID: &str = "connectionId";
    pub const EVENT_ID: &str = "eventId";
    pub const NOTIFICATION_ID: &str = "notificationId";
    pub const CREATED_KEY: &str = "createdKey";
    pub const CHECKED_KEY: &str = "checkedKey";
    pub const AUDIT_KEY: &str = "auditKey";
    pub const CONNECTED_KEY: &str = "connectedKey";
    pub const SEQUENCE: &str = "sequence";
    pub const FEED: &str = "feed";
    pub const OCCURRED_KEY: &str = "occurredKey";
    pub const STREAM: &str = "stream";
    pub const SEQ: &str = "seq";
    pub const CLAIM: &str = "claim";
    pub const DUE_SHARD: &str = "dueShard";
    pub const NEXT_ATTEMPT_AT: &str = "nextAttemptAt";
    pub const DOCUMENT_KEY: &str = "documentKey";
    pub const COUNTER: &str = "counter";
    pub const OP_KEY: &str = "opKey";
    pub const OP_SORT: &str = "opSort";
    /// An application's status while it is in progress, absent once it ended: the key of
    /// the sparse index the stall monitor queries.
    pub const IN_PROGRESS_STATUS: &str = "inProgressStatus";
    /// When an application last changed (epoch milliseconds).
    pub const UPDATED_AT: &str = "updatedAt";
    /// TTL of the connections table (epoch seconds).
    pub const TTL: &str = "ttl";
    /// TTL of the idempotency table (epoch seconds).
    pub const EXPIRES_AT: &str = "expiresAt";
}

/// GSI names.
pub(super) mod index {
    pub const APPLICATIONS_BY_CUSTOMER: &str = "customerId-createdKey";
    /// In-progress applications only (sparse), oldest change first per status.
    pub const APPLICATIONS_IN_PROGRESS: &str = "inProgressStatus-updatedAt";
    pub const CONNECTIONS_BY_CUSTOMER: &str = "customerId-connectedKey";
    pub const EVENTS_BY_CUSTOMER: &str = "customerId-sequence";
    pub const EVENTS_BY_APPLICATION: &str = "applicationId-sequence";
    pub const EVENTS_BY_TIME: &str = "feed-occurredKey";
    pub const NOTIFICATIONS_DUE: &str = "dueShard-nextAttemptAt";
}

/// A key attribute and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttr {
    pub name: &'static str,
    /// `true` for `N`, `false` for `S`.
    pub numeric: bool,
}

const fn text(name: &'static str) -> KeyAttr {
    KeyAttr {
        name,
        numeric: false,
    }
}

const fn number(name: &'static str) -> KeyAttr {
    KeyAttr {
        name,
        numeric: true,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub partition: KeyAttr,
    pub sort: Option<KeyAttr>,
}

/// One table as `onboard migrate` creates it (on-demand billing, GSIs projecting `ALL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition<'a> {
    pub name: &'a str,
    pub partition: KeyAttr,
    pub sort: Option<KeyAttr>,
    pub indexes: Vec<IndexDefinition>,
    /// The TTL attribute (epoch seconds), enabled on creation.
    pub ttl: Option<&'static str>,
}

fn table<'a>(name: &'a str, partition: KeyAttr, sort: Option<KeyAttr>) -> TableDefinition<'a> {
    TableDefinition {
        name,
        partition,
        sort,
        indexes: Vec::new(),
        ttl: None,
    }
}

fn gsi(name: &'static str, partition: KeyAttr, sort: KeyAttr) -> IndexDefinition {
    IndexDefinition {
        name,
        partition,
        sort: Some(sort),
    }
}

/// The store's tables: the one place their keys, indexes and TTL attributes are written down.
pub fn table_definitions(names: &TableNames) -> Vec<TableDefinition<'_>> {
    use attr::*;
    vec![
        table(&names.users, text(CUSTOMER_ID), None),
        TableDefinition {
            indexes: vec![
                gsi(
                    index::APPLICATIONS_BY_CUSTOMER,
                    text(CUSTOMER_ID),
                    text(CREATED_KEY),
                ),
                gsi(
                    index::APPLICATIONS_IN_PROGRESS,
                    text(IN_PROGRESS_STATUS),
                    number(UPDATED_AT),
                ),
            ],
            ..table(&names.applications, text(APPLICATION_ID), None)
        },
        table(
            &names.kyc_results,
            text(APPLICATION_ID),
            Some(text(CHECKED_KEY)),
        ),
        table(&names.audit, text(CUSTOMER_ID), Some(text(AUDIT_KEY))),
        TableDefinition {
            indexes: vec![gsi(
                index::CONNECTIONS_BY_CUSTOMER,
                text(CUSTOMER_ID),
                text(CONNECTED_KEY),
            )],
            ttl: Some(TTL),
            ..table(&names.websocket, text(CONNECTION_ID), None)
        },
        TableDefinition {
            indexes: vec![
                gsi(
                    index::EVENTS_BY_CUSTOMER,
                    text(CUSTOMER_ID),
                    number(SEQUENCE),
                ),
                gsi(
                    index::EVENTS_BY_APPLICATION,
                    text(APPLICATION_ID),
                    number(SEQUENCE),
                ),
                gsi(index::EVENTS_BY_TIME, text(FEED), text(OCCURRED_KEY)),
            ],
            ..table(&names.events, text(EVENT_ID), None)
        },
        table(&names.outbox, text(STREAM), Some(number(SEQ))),
        TableDefinition {
            ttl: Some(EXPIRES_AT),
            ..table(&names.idempotency, text(CLAIM), None)
        },
        TableDefinition {
            indexes: vec![gsi(
                index::NOTIFICATIONS_DUE,
                text(DUE_SHARD),
                number(NEXT_ATTEMPT_AT),
            )],
            ..table(&names.notifications, text(NOTIFICATION_ID), None)
        },
        table(
            &names.documents,
            text(APPLICATION_ID),
            Some(text(DOCUMENT_KEY)),
        ),
        table(&names.recommendations, text(APPLICATION_ID), None),
        table(&names.projections, text(APPLICATION_ID), None),
        table(&names.counters, text(COUNTER), None),
        table(&names.operations, text(OP_KEY), Some(text(OP_SORT))),
    ]
}

/// How long `migrate` waits for a new table to become active.
const ACTIVE_WITHIN: Duration = Duration::from_secs(300);

/// Creates the tables that do not exist yet (and enables TTL on them) and adds the indexes an
/// existing table lacks (`upgrade.rs`), returning what it made (`table`, `table (index name)`);
/// empty when everything exists.
pub async fn create_missing(client: &Client, names: &TableNames) -> StoreResult<Vec<String>> {
    let mut created = Vec::new();
    for definition in table_definitions(names) {
        if exists(client, definition.name).await? {
            created.extend(super::upgrade::add_missing_indexes(client, &definition).await?);
            continue;
        }
        create(client, &definition).await?;
        created.push(definition.name.to_owned());
    }
    Ok(created)
}

async fn exists(client: &Client, name: &str) -> StoreResult<bool> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk_error("DescribeTable", e)),
    }
}

fn key(attribute: KeyAttr, key_type: KeyType) -> StoreResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(attribute.name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

/// A key attribute's definition (`S` or `N`), as `CreateTable` and `UpdateTable` want it.
pub(super) fn attribute_definition(attribute: KeyAttr) -> StoreResult<AttributeDefinition> {
    let kind = if attribute.numeric {
        ScalarAttributeType::N
    } else {
        ScalarAttributeType::S
    };
    AttributeDefinition::builder()
        .attribute_name(attribute.name)
        .attribute_type(kind)
        .build()
        .map_err(build_error)
}

pub(super) fn key_schema(
    partition: KeyAttr,
    sort: Option<KeyAttr>,
) -> StoreResult<Vec<KeySchemaElement>> {
    let mut schema = vec![key(partition, KeyType::Hash)?];
    if let Some(sort) = sort {
        schema.push(key(sort, KeyType::Range)?);
    }
    Ok(schema)
}

async fn create(client: &Client, definition: &TableDefinition<'_>) -> StoreResult<()> {
    let mut attributes: Vec<KeyAttr> = Vec::new();
    let keys = [Some(definition.partition), definition.sort]
        .into_iter()
        .chain(
            definition
                .indexes
                .iter()
                .flat_map(|i| [Some(i.partition), i.sort]),
        )
        .flatten();
    for attribute in keys {
        if !attributes.iter().any(|a| a.name == attribute.name) {
            attributes.push(attribute);
        }
    }
    let mut request = client
        .create_table()
        .table_name(definition.name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(definition.partition, definition.sort)?));
    for attribute in attributes {
        request = request.attribute_definitions(attribute_definition(attribute)?);
    }
    for index in &definition.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .set_key_schema(Some(key_schema(index.partition, index.sort)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_error)?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        // Another process created it meanwhile: what we wanted.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => return Err(sdk_error("CreateTable", e)),
    }
    client
        .wait_until_table_exists()
        .table_name(definition.name)
        .wait(ACTIVE_WITHIN)
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "table {} did not become active: {e}",
                definition.name
            ))
        })?;
    if let Some(attribute) = definition.ttl {
        client
            .update_time_to_live()
            .table_name(definition.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_follow_the_seed_and_end_with_the_environment() {
        let names = TableNames::for_environment("dev");
        assert_eq!(names.users, "users-dev");
        assert_eq!(names.audit, "audit-logs-dev");
        assert_eq!(names.websocket, "websocket-connections-dev");
        assert_eq!(names.events, "onboard-events-dev");
        assert_eq!(names.operations, "onboard-operations-dev");
        let all = names.all();
        assert_eq!(all.len(), 14, "{all:?}");
        assert!(all.iter().all(|n| n.ends_with("-dev")));
    }

    #[test]
    fn the_documented_table_list_matches_the_definitions() {
        let doc = include_str!("../../../docs/dynamodb-tables.md");
        let names = TableNames::for_environment("dev");
        for definition in table_definitions(&names) {
            let row = doc
                .lines()
                .find(|l| l.contains(&format!("`{}`", definition.name)))
                .unwrap_or_else(|| panic!("{} is not in docs/dynamodb-tables.md", definition.name));
            assert!(
                row.contains(&format!("`{}`", definition.partition.name)),
                "{row}"
            );
            for index in &definition.indexes {
                assert!(row.contains(&format!("`{}`", index.name)), "{row}");
            }
            if let Some(ttl) = definition.ttl {
                assert!(row.ends_with(&format!("`{ttl}` |")), "{row}");
            }
        }
    }
}
