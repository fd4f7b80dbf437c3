//! A TCP proxy between a client under test and a real server, that a test can cut two ways: as
//! a server that went away and closed its sockets ([`TcpProxy::stop`]), or as one that vanished
//! from under the connections open now and closed nothing ([`TcpProxy::black_hole`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct TcpProxy {
    addr: SocketAddr,
    stop: CancellationToken,
    /// Cancelled by [`TcpProxy::black_hole`] for the connections made before it.
    hole: Arc<Mutex<CancellationToken>>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `listen` and carries each connection to `upstream` (`host:port`).
    pub async fn start(listen: SocketAddr, upstream: String) -> TcpProxy {
        let listener = TcpListener::bind(listen).await.expect("bind the proxy");
        let addr = listener.local_addr().expect("address");
        let stop = CancellationToken::new();
        let hole = Arc::new(Mutex::new(CancellationToken::new()));
        let token = stop.clone();
        let holes = hole.clone();
        let task = tokio::spawn(async move {
            let connections = TaskTracker::new();
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else {
                    continue;
                };
                let hole = holes.lock().expect("the hole's lock").clone();
                connections.spawn(carry(client, upstream.clone(), token.clone(), hole));
            }
            drop(listener);
            connections.close();
            connections.wait().await;
        });
        TcpProxy {
            addr,
            stop,
            hole,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connections open now stop carrying bytes either way but stay open, so each side's
    /// kernel still acknowledges what the other sends, as a network that lost the server
    /// without telling anyone; connections made from now on are carried as before.
    pub fn black_hole(&self) {
        let mut hole = self.hole.lock().expect("the hole's lock");
        hole.cancel();
        *hole = CancellationToken::new();
    }

    /// Closes the listener and every connection, as a server that went away.
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("the proxy stops");
    }
}

/// Carries one connection until either side closes it, the proxy stops, or it is black-holed
/// (then holds both sockets open, silent, until the proxy stops).
async fn carry(
    mut client: TcpStream,
    upstream: String,
    stop: CancellationToken,
    hole: CancellationToken,
) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = hole.cancelled() => stop.cancelled().await,
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}
