//! Onboard's Lambda functions for real: the debug `onboard` binary as `bootstrap` under Amazon's
//! Runtime Interface Emulator, on the real Kafka, DynamoDB and SNS in moto (SNS read back
//! through a subscribed SQS queue), with API Gateway's management API played by a real HTTP
//! receiver that checks the SigV4 signature (`scripts/lambda-rie.sh` builds the emulator;
//! `eval "$(scripts/kafka.sh env)"` names the brokers, `scripts/moto.sh env` the emulator).

#[path = "../aws_support/mod.rs"]
mod aws_support;
mod consume;
mod flow;
mod harness;
mod moto_pusher;
mod receiver;
mod stalls;
mod steps;
