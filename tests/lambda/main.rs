//! Onboard's Lambda functions for real: the debug `onboard` binary as `bootstrap` under Amazon's
//! Runtime Interface Emulator, on the real Kafka, with API Gateway's management API played by a
//! real HTTP receiver that checks the SigV4 signature (`scripts/lambda-rie.sh` builds the
//! emulator; `eval "$(scripts/kafka.sh env)"` names the brokers).

mod flow;
mod harness;
mod moto_pusher;
mod receiver;
mod steps;
