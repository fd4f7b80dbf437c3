//! The AWS SDK's shared configuration for every AWS adapter (DynamoDB, SNS, S3, the API Gateway
//! management API): region from Onboard's configuration (`aws.region`, the seed's `AWS_REGION`),
//! and credentials and endpoint resolved the SDK's standard way, so `AWS_ENDPOINT_URL` points
//! every client at a local emulator in tests and the Lambda role's credentials are used on AWS.
//!
//! The SDK reads its own variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, …): that is the
//! one deliberate exception to "only `config::env` reads the environment", because those names
//! belong to the SDK and the Lambda service sets them.

/// The SDK configuration every AWS client of this process is built from.
pub async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}
