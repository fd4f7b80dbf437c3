//! Finds the process that listens on the bench URL's port on this machine (Linux `/proc`), so
//! `--connections` can report the memory per connection of the processes holding the sockets
//! (the server, or each gateway) without being told their pids.

use std::collections::HashSet;

/// The pid listening on `base`'s port, when the host is this machine and `/proc` tells.
pub fn local_server_pid(base: &str) -> Option<u32> {
    let rest = base.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "0.0.0.0") {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
            fds.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .any(|target| {
                    let target = target.to_string_lossy();
                    target
                        .strip_prefix("socket:[")
                        .and_then(|s| s.strip_suffix(']'))
                        .and_then(|s| s.parse::<u64>().ok())
                        .is_some_and(|inode| inodes.contains(&inode))
                })
                .then_some(pid)
        })
}

/// The processes whose memory the idle sockets cost: the one given, or the local processes
/// listening on the sockets' URLs (the gateways, or the server itself). Empty (memory unknown)
/// when one of them is not found: a part of the sockets' cost would otherwise go missing.
pub fn socket_holders(given: Option<u32>, socket_urls: &[String]) -> Vec<u32> {
    if let Some(pid) = given {
        return vec![pid];
    }
    let mut pids = Vec::new();
    for url in socket_urls {
        match local_server_pid(url) {
            Some(pid) if !pids.contains(&pid) => pids.push(pid),
            Some(_) => {}
            None => return Vec::new(),
        }
    }
    pids
}

/// Socket inodes of the rows of a `/proc/net/tcp` table that listen (state 0A) on `port`.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols.get(1)?.rsplit_once(':')?.1;
            let listening = *cols.get(3)? == "0A";
            (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                .then(|| cols.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listening_rows_on_the_port_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0 20 4 30 10 -1\n   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4444 1 0 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 8080), vec![4242]);
        assert_eq!(listening_inodes(table, 8081), vec![4444]);
        assert!(listening_inodes(table, 9000).is_empty());
    }

    #[test]
    fn a_remote_host_is_not_looked_up() {
        assert_eq!(local_server_pid("http://example.com:8080"), None);
    }

    #[test]
    fn this_process_is_found_by_the_port_it_listens_on() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            local_server_pid(&format!("http://127.0.0.1:{port}")),
            Some(std::process::id())
        );
    }

    #[test]
    fn the_sockets_holders_are_each_gateway_once_or_none_if_one_is_not_found() {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = |l: &std::net::TcpListener| {
            format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let me = std::process::id();
        assert_eq!(socket_holders(None, &[url(&first), url(&second)]), vec![me]);
        assert_eq!(
            socket_holders(None, &[url(&first), "http://example.com:8082".into()]),
            Vec::<u32>::new()
        );
        assert_eq!(socket_holders(Some(42), &[url(&first)]), vec![42]);
    }
}
