//! Finding: "One customer token opened 2,000 WebSockets in 3 s". Now one customer holds at most
//! `gateway.max_connections_per_customer` sockets on a node (default 10): the next handshake is
//! refused 429 problem+json with `Retry-After`, and a closed socket frees its place.

use crate::binary::Onboard;
use crate::child::{token, LOOPBACK};
use futures::StreamExt;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Error as WsError;

async fn open(
    onboard: &Onboard,
    customer: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    WsError,
> {
    let url = format!(
        "ws://{}/ws?customerId={customer}&token={}",
        onboard.addr,
        token(customer)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    // The welcome frame: the session is running, so it holds its place.
    socket.next().await.expect("a welcome frame")?;
    Ok(socket)
}

#[tokio::test]
async fn of_sixty_sockets_from_one_customer_ten_open_the_rest_are_refused_429_and_a_closed_one_frees_its_place(
) {
    let onboard = Onboard::up(LOOPBACK, &[]);
    onboard.ready().await;
    // 60 handshakes at once from one customer: 10 sessions, 50 refusals.
    let attempts =
        futures::future::join_all((0..60).map(|_| open(&onboard, "socket-hoarder"))).await;
    let mut sockets = Vec::new();
    let mut refused = 0;
    for attempt in attempts {
        match attempt {
            Ok(socket) => sockets.push(socket),
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 429);
                assert!(response.headers().contains_key("retry-after"));
                assert_eq!(
                    response.headers()["content-type"],
                    "application/problem+json"
                );
                refused += 1;
            }
            Err(other) => panic!("refused otherwise: {other}"),
        }
    }
    assert_eq!((sockets.len(), refused), (10, 50));
    // Another customer is not affected.
    let _neighbour = open(&onboard, "socket-neighbour")
        .await
        .expect("another customer");

    // A socket that closes frees its place (once the server has seen it close).
    let mut closed = sockets.pop().unwrap();
    closed.close(None).await.unwrap();
    drop(closed);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open(&onboard, "socket-hoarder").await {
            Ok(_) => break,
            Err(WsError::Http(response)) if response.status() == 429 => {
                assert!(
                    Instant::now() < deadline,
                    "the closed socket's place was never freed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
}
