//! The store checks: reachable and migrated (read only: nothing is created or applied), the
//! database server's clock against this machine's, room on the server for one more process's
//! pool, and every gateway node that holds a live connection answering on its management
//! address.

use super::verdict::Verdict;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::postgres::{PostgresStore, ServerConnections};
use crate::adapters::sqlite::SqliteStore;
use crate::ports::store::{Store, StoreResult};
use crate::wiring::StoreSettings;
use chrono::Utc;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Bound of connecting and of each query.
const STORE_TIMEOUT: Duration = Duration::from_secs(8);
/// Bound of one gateway's `/healthz`.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(3);

pub struct StoreTarget<'a> {
    pub settings: &'a StoreSettings,
    /// Largest accepted difference between the database server's clock and this machine's.
    pub max_skew: Duration,
}

pub async fn check(target: &StoreTarget<'_>) -> Vec<Verdict> {
    let opened = tokio::time::timeout(STORE_TIMEOUT, open(target.settings)).await;
    let Opened {
        store,
        missing,
        server_time,
        connections,
    } = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(verdict)) => {
            return vec![
                verdict,
                skip_rest("store.clock"),
                skip_rest("store.connections"),
                skip_rest("gateways"),
            ]
        }
        Err(_) => {
            return vec![
                Verdict::fail(
                    "store.schema",
                    format!(
                        "{}: no answer within {} s",
                        target.settings.describe(),
                        STORE_TIMEOUT.as_secs()
                    ),
                    "check the database server is up and reachable from here",
                ),
                skip_rest("store.clock"),
                skip_rest("store.connections"),
                skip_rest("gateways"),
            ]
        }
    };
    let mut verdicts = vec![if missing.is_empty() {
        Verdict::ok(
            "store.schema",
            format!(
                "{}: reachable, schema up to date",
                target.settings.describe()
            ),
        )
    } else {
        let versions: Vec<String> = missing
            .iter()
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect();
        Verdict::fail(
            "store.schema",
            format!(
                "{}: {} migration(s) not applied: {}",
                target.settings.describe(),
                missing.len(),
                versions.join(", ")
            ),
            "run `onboard migrate` with the same configuration (roles also migrate as they start)",
        )
    }];
    verdicts.push(clock_verdict(server_time, target.max_skew));
    verdicts.push(connections_verdict(connections, target.settings));
    verdicts.push(gateways_verdict(&*store).await);
    verdicts
}

fn skip_rest(check: &'static str) -> Verdict {
    Verdict::skip(check, "the store is not usable")
}

/// The store opened for reading and what was read on the way.
struct Opened {
    store: Arc<dyn Store>,
    missing: Vec<crate::adapters::sql::AppliedMigration>,
    /// PostgreSQL's clock.
    server_time: Option<chrono::DateTime<Utc>>,
    /// PostgreSQL's sessions.
    connections: Option<StoreResult<ServerConnections>>,
}

impl Opened {
    fn without_server(
        store: Arc<dyn Store>,
        missing: Vec<crate::adapters::sql::AppliedMigration>,
    ) -> Self {
        Self {
            store,
            missing,
            server_time: None,
            connections: None,
        }
    }
}

/// The store opened for reading, what it lacks, and (PostgreSQL) the server's clock and
/// sessions.
async fn open(settings: &StoreSettings) -> Result<Opened, Verdict> {
    let failed = |error: String, remedy: &str| {
        Verdict::fail(
            "store.schema",
            format!("{}: {error}", settings.describe()),
            remedy,
        )
    };
    match settings {
        StoreSettings::Sqlite { path } => {
            if !path.exists() {
                return Err(failed(
                    "no such file".into(),
                    "give the --data-dir (or --config) of the running system; `onboard up` or `onboard migrate` creates it",
                ));
            }
            let (store, missing) = SqliteStore::inspect(path).await.map_err(|e| {
                failed(
                    e.to_string(),
                    "check the file's owner and permissions, or run `onboard migrate`",
                )
            })?;
            Ok(Opened::without_server(store, missing))
        }
        StoreSettings::Postgres {
            url,
            max_connections,
        } => {
            let store = PostgresStore::connect(url, *max_connections).await.map_err(|e| {
                failed(e.to_string(), "check DATABASE_URL (host, port, user, password) and that the server accepts connections from here")
            })?;
            let missing = store.missing_migrations().await.map_err(|e| {
                failed(
                    format!("cannot read the applied migrations: {e}"),
                    "run `onboard migrate`",
                )
            })?;
            let server_time = store.server_time().await.ok();
            let connections = store.server_connections().await;
            Ok(Opened {
                store,
                missing,
                server_time,
                connections: Some(connections),
            })
        }
        StoreSettings::Dynamodb { region, tables } => {
            let store = DynamoStore::open(region.as_deref(), (**tables).clone()).await;
            let mut missing = Vec::new();
            for table in store.tables().all() {
                match store.client().describe_table().table_name(table).send().await {
                    Ok(_) => {}
                    Err(error)
                        if error
                            .as_service_error()
                            .is_some_and(|e| e.is_resource_not_found_exception()) =>
                    {
                        missing.push(table.to_string())
                    }
                    Err(error) => {
                        return Err(failed(
                            aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
                            "check the AWS credentials, AWS_REGION and (for an emulator) AWS_ENDPOINT_URL",
                        ))
                    }
                }
            }
            if !missing.is_empty() {
                return Err(failed(
                    format!("{} table(s) missing: {}", missing.len(), missing.join(", ")),
                    "run `onboard migrate` with the same configuration, or deploy the CloudFormation stack",
                ));
            }
            Ok(Opened::without_server(store, Vec::new()))
        }
    }
}

fn clock_verdict(server_time: Option<chrono::DateTime<Utc>>, max_skew: Duration) -> Verdict {
    let Some(server_time) = server_time else {
        return Verdict::skip(
            "store.clock",
            "no database clock to compare (SQLite is a file on this machine; DynamoDB has no clock query)",
        );
    };
    let skew = (Utc::now() - server_time).abs();
    let skew_ms = skew.num_milliseconds();
    if skew.to_std().unwrap_or_default() > max_skew {
        Verdict::fail(
            "store.clock",
            format!("this machine's clock and the database server's differ by {skew_ms} ms (limit {} ms)", max_skew.as_millis()),
            "synchronise both clocks (chrony/NTP): token expiry, connection expiry and stall detection compare them",
        )
    } else {
        Verdict::ok(
            "store.clock",
            format!("within {skew_ms} ms of the database server's clock"),
        )
    }
}

/// Whether the server has room for one more process with this configuration's pool (and the
/// relay's lease connection besides).
fn connections_verdict(
    connections: Option<StoreResult<ServerConnections>>,
    settings: &StoreSettings,
) -> Verdict {
    const CHECK: &str = "store.connections";
    let (
        Some(read),
        StoreSettings::Postgres {
            max_connections: pool,
            ..
        },
    ) = (connections, settings)
    else {
        return Verdict::skip(
            CHECK,
            "no connection limit to compare (SQLite is a file; DynamoDB has no sessions)",
        );
    };
    let pool = *pool;
    let server = match read {
        Ok(server) => server,
        Err(error) => {
            return Verdict::warn(
                CHECK,
                format!("cannot read the server's sessions: {error}"),
                "check that this role may read pg_stat_activity and the server's settings",
            )
        }
    };
    let room = server.usable.saturating_sub(server.in_use);
    let seen = format!(
        "{} of the server's {} usable sessions in use ({} of them Onboard's, this doctor's other sessions among them)",
        server.in_use, server.usable, server.onboard
    );
    if room > pool {
        Verdict::ok(
            CHECK,
            format!("{seen}: room for a process with a pool of {pool}"),
        )
    } else {
        Verdict::warn(
            CHECK,
            format!(
                "{seen}: a process with a pool of {pool} (store.max_connections) and its relay's \
                 session could be refused \"too many clients\" ({room} left)"
            ),
            "lower store.max_connections (ONBOARD_STORE_MAX_CONNECTIONS) or raise the server's max_connections \
             (docs/troubleshooting.md, \"too many clients already\" from PostgreSQL); pools open \
             sessions as they need them, so running processes may hold more later",
        )
    }
}

/// Every gateway node that holds a live connection answers `/healthz` at its advertised URL.
async fn gateways_verdict(store: &dyn Store) -> Verdict {
    let connections = match tokio::time::timeout(
        STORE_TIMEOUT,
        store.all_connections(Utc::now(), 10_000),
    )
    .await
    {
        Ok(Ok(connections)) => connections,
        Ok(Err(error)) => {
            return Verdict::fail(
                "gateways",
                format!("cannot read the connection registry: {error}"),
                "see store.schema",
            )
        }
        Err(_) => {
            return Verdict::fail(
                "gateways",
                "the connection registry did not answer",
                "see store.schema",
            )
        }
    };
    let nodes: BTreeSet<(String, String)> = connections
        .into_iter()
        .map(|c| (c.node_id, c.node_url))
        .collect();
    if nodes.is_empty() {
        return Verdict::skip(
            "gateways",
            "no live WebSocket connection, so no gateway node to reach",
        );
    }
    let client = match reqwest::Client::builder().timeout(GATEWAY_TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => return Verdict::fail("gateways", error.to_string(), "report a bug"),
    };
    let probes = futures::future::join_all(nodes.iter().map(|(_, url)| {
        let client = client.clone();
        let health = format!("{}/healthz", url.trim_end_matches('/'));
        async move {
            match client.get(&health).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("answered {}", response.status())),
                Err(error) => Err(without_url(&error)),
            }
        }
    }))
    .await;
    let down: Vec<String> = nodes
        .iter()
        .zip(&probes)
        .filter_map(|((id, url), probe)| {
            probe
                .as_ref()
                .err()
                .map(|why| format!("{id} at {url} ({why})"))
        })
        .collect();
    if down.is_empty() {
        Verdict::ok(
            "gateways",
            format!(
                "{} gateway node(s) with live connections answer",
                nodes.len()
            ),
        )
    } else {
        Verdict::fail(
            "gateways",
            format!("unreachable: {}", down.join("; ")),
            "start the node or correct gateway.advertise_url; its connections expire after gateway.ttl_seconds \
             (docs/troubleshooting.md, \"WebSocket connections not persisting\")",
        )
    }
}

/// A request error's reason without the URL, which the caller names already.
fn without_url(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", GATEWAY_TIMEOUT.as_secs());
    }
    if error.is_connect() {
        return "connection refused or unroutable".into();
    }
    let text = error.to_string();
    match error.url() {
        Some(url) => text.replace(url.as_str(), ""),
        None => text,
    }
}
