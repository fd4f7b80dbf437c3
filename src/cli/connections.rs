//! `onboard connections list`: the live WebSocket connections of the registry (the seed's
//! connections table), read through the store port, so it answers for every node at once.

use super::topics::table;
use crate::config::{Flags, Loaded};
use crate::domain::ids::CustomerId;
use crate::ports::store::ConnectionRecord;
use crate::wiring::StoreSettings;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    #[command(subcommand)]
    pub command: ConnectionsCommand,
    /// The SQLite store's directory, used when no PostgreSQL is configured (`data_dir`).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Live (unexpired) connections: node, customer, connected-at and expiry, oldest first.
    List {
        /// Only this customer's connections.
        #[arg(long, value_parser = CustomerId::parse)]
        customer: Option<CustomerId>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// At most this many rows (all customers).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
    },
}

impl ConnectionsArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        flags.set_path("data_dir", self.data_dir.as_deref());
        flags
    }
}

pub async fn run(args: ConnectionsArgs, config: Loaded) -> anyhow::Result<()> {
    let settings = config.build(|c, p| c.store_settings(p))?;
    if let StoreSettings::Sqlite { path } = &settings {
        // Opening would create an empty store: a wrong --data-dir would list nothing, silently.
        anyhow::ensure!(
            path.exists(),
            "no store at {}: give the --data-dir (or --config) of the running system",
            path.display()
        );
    }
    let store = settings.open().await?;
    let ConnectionsCommand::List {
        customer,
        json,
        limit,
    } = args.command;
    let now = Utc::now();
    let connections = match &customer {
        Some(customer) => store.connections_of(customer, now).await?,
        None => store.all_connections(now, limit).await?,
    };
    if json {
        println!("{}", render_json(&connections));
    } else if connections.is_empty() {
        eprintln!("No live connections.");
    } else {
        print!("{}", render_table(&connections));
    }
    Ok(())
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The columns an operator needs to find a socket; the client's address is left out (PII).
pub fn render_table(connections: &[ConnectionRecord]) -> String {
    let mut rows = vec![vec![
        "CONNECTION".to_string(),
        "CUSTOMER".into(),
        "NODE".into(),
        "CONNECTED-AT".into(),
        "LAST-SEEN".into(),
        "EXPIRES-AT".into(),
    ]];
    for c in connections {
        rows.push(vec![
            c.connection_id.to_string(),
            c.customer_id.to_string(),
            c.node_id.clone(),
            time(c.connected_at),
            time(c.last_seen_at),
            time(c.expires_at),
        ]);
    }
    table(&rows).into_iter().map(|l| l + "\n").collect()
}

/// The same fields as the operator overview's connections, in its camelCase names.
pub fn render_json(connections: &[ConnectionRecord]) -> String {
    let rows: Vec<_> = connections
        .iter()
        .map(|c| {
            json!({
                "connectionId": c.connection_id, "customerId": c.customer_id,
                "nodeId": c.node_id, "nodeUrl": c.node_url,
                "connectedAt": c.connected_at, "lastSeenAt": c.last_seen_at,
                "expiresAt": c.expires_at,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::ConnectionId;

    fn record(customer: &str, node: &str) -> ConnectionRecord {
        let at = DateTime::parse_from_rfc3339("2026-12-02T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        ConnectionRecord {
            connection_id: ConnectionId::new(),
            customer_id: CustomerId::parse(customer).unwrap(),
            node_id: node.into(),
            node_url: "http://10.0.0.1:8080".into(),
            source_ip: "203.0.113.9".into(),
            connected_at: at,
            last_seen_at: at,
            expires_at: at + chrono::Duration::minutes(2),
        }
    }

    #[test]
    fn the_table_names_node_customer_and_times_but_not_the_client_address() {
        let out = render_table(&[record("alice", "node-a"), record("bob-long-name", "node-b")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("CONNECTION"));
        assert!(lines[1].contains("alice") && lines[1].contains("node-a"));
        assert!(
            lines[1].contains("2026-12-02T07:00:00Z") && lines[1].contains("2026-12-02T07:02:00Z")
        );
        // Columns line up: the node column starts at the same place on every row.
        assert_eq!(lines[1].find("node-a"), lines[2].find("node-b"));
        assert!(!out.contains("203.0.113.9"));
    }

    #[test]
    fn the_json_is_one_array_with_the_overview_field_names() {
        let value: serde_json::Value =
            serde_json::from_str(&render_json(&[record("alice", "node-a")])).unwrap();
        assert_eq!(value[0]["customerId"], "alice");
        assert_eq!(value[0]["nodeId"], "node-a");
        assert_eq!(value[0]["expiresAt"], "2026-12-02T07:02:00Z");
        assert!(value[0].get("sourceIp").is_none());
    }
}
