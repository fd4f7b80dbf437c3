//! Ports for test servers that must be named before they listen (a child process given
//! `--listen`, Amazon's Lambda emulator). Binding port 0 and closing it again, as the harnesses
//! did, hands out ephemeral ports: the kernel gives the same ones to other `bind(0)` calls and
//! to outgoing connections, so two servers of one run could be told the same port (seen: a
//! Lambda emulator failing with "address already in use" while another answered on its port).
//! These come from below the ephemeral range, are checked to be free, and are never handed
//! out twice by one test process.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// Below Linux's default ephemeral range (32768–60999) and above well-known services.
const RANGE: std::ops::Range<u16> = 20_000..32_000;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A free loopback port that no other caller in this process has been given.
pub fn free_port() -> u16 {
    use rand::Rng;
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    let mut rng = rand::thread_rng();
    for _ in 0..10_000 {
        let port = rng.gen_range(RANGE);
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no free port in {RANGE:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_below_the_ephemeral_range_and_never_repeated() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        assert!(ports.iter().all(|p| RANGE.contains(p)));
        let port = free_port();
        TcpListener::bind(("127.0.0.1", port)).expect("still free");
    }
}
