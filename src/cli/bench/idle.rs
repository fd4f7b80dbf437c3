//! `--connections N --hold S`: opens N idle customer WebSockets as fast as the server accepts
//! them, holds them, and reports the open rate and, when the pids of the processes holding the
//! sockets are known, how much resident memory each connection costs them.

use super::report::ConnectionsReport;
use super::workflow::Client;
use crate::domain::ids::CustomerId;
use futures::stream::{self, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Handshakes in flight at once: enough to keep the server busy without exhausting ports.
const OPENING_AT_ONCE: usize = 256;

/// Opens `count` connections for customers `{prefix}-0…`, holds them for `hold`, closes them.
/// `holders` are the pids of the processes the sockets land on (the gateways of a split
/// deployment, or the one server): their memory growth together is charged to the sockets.
pub async fn hold(
    client: Arc<Client>,
    prefix: &str,
    count: u64,
    hold: Duration,
    holders: &[u32],
) -> ConnectionsReport {
    let before = resident_kib_of_all(holders);
    let started = Instant::now();
    let results: Vec<_> = stream::iter(0..count)
        .map(|i| {
            let client = client.clone();
            let customer = CustomerId::parse(&format!("{prefix}-{i}"));
            async move {
                let customer = customer?;
                client.connect(&customer).await.map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(OPENING_AT_ONCE)
        .collect()
        .await;
    let opening = started.elapsed();
    let mut sockets = Vec::new();
    let mut failed = 0;
    for result in results {
        match result {
            Ok((socket, _)) => sockets.push(socket),
            Err(reason) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("bench: a connection failed: {reason}");
                }
            }
        }
    }
    tokio::time::sleep(hold).await;
    let after = resident_kib_of_all(holders);
    let opened = sockets.len() as u64;
    for mut socket in sockets {
        let _ = socket.close(None).await;
    }
    ConnectionsReport {
        opened,
        failed,
        open_per_s: (opened as f64 / opening.as_secs_f64().max(f64::EPSILON)).round(),
        server_kib_per_connection: match (before, after) {
            (Some(b), Some(a)) if opened > 0 => {
                Some(((a.saturating_sub(b)) as f64 / opened as f64 * 10.0).round() / 10.0)
            }
            _ => None,
        },
    }
}

/// The resident memory of all of `pids` together, if every one can be read (none given: None).
fn resident_kib_of_all(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&pid| resident_kib(pid)).sum()
}

/// The resident set size of process `pid` in KiB (Linux `/proc`), if it can be read.
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_the_status_file() {
        let status = "Name:\tonboard\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(resident_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }

    #[test]
    fn the_memory_of_several_holders_is_their_sum_and_unknown_if_one_is_unreadable() {
        let me = std::process::id();
        let alone = resident_kib(me).expect("this process's size");
        let twice = resident_kib_of_all(&[me, me]).expect("both readable");
        // The same process read twice, a moment apart: about double, not the same.
        assert!(
            twice >= alone * 3 / 2,
            "{twice} KiB for two reads of {alone} KiB"
        );
        assert_eq!(resident_kib_of_all(&[me, u32::MAX]), None);
        assert_eq!(resident_kib_of_all(&[]), None);
    }
}
