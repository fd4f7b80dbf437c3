//! The API Gateway pusher against moto's `apigatewaymanagementapi`: the SDK's signed POST and
//! DELETE are accepted (moto keeps posted data to itself, so the frames are checked by the receiver of the
//! other tests).

use super::harness::WEBSOCKET_ENDPOINT;
use onboard::adapters::apigateway_pusher::{
    ApiGatewayConnectionId, ApiGatewayPusher, ManagementEndpoint,
};
use onboard::ports::pusher::PushOutcome;

#[tokio::test]
async fn the_pusher_posts_to_and_closes_a_connection_on_moto() {
    let test = "the_pusher_posts_to_and_closes_a_connection_on_moto";
    if onboard::testing::aws::endpoint_from_env(test).is_none() {
        return;
    }
    let endpoint = ManagementEndpoint::from_websocket_url(WEBSOCKET_ENDPOINT).unwrap();
    let pusher = ApiGatewayPusher::open(&endpoint, Some("us-east-1")).await;
    let name = onboard::testing::aws::unique_name("conn").replace('-', "");
    let connection = ApiGatewayConnectionId::parse(&name).unwrap();
    let sent = pusher
        .post(&connection, r#"{"type":"pong"}"#)
        .await
        .unwrap();
    assert_eq!(sent, PushOutcome::Delivered);
    // Not `describe`: moto 5.2.5 answers GET with `connectedAt` as epoch seconds, which the SDK
    // (ISO 8601 per the API model) cannot read.
    assert_eq!(
        pusher.close(&connection).await.unwrap(),
        PushOutcome::Delivered
    );
}
