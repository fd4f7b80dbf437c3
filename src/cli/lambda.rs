//! `onboard lambda [HANDLER]`: serve one Lambda function (`roles::lambda`); the binary copied as
//! `bootstrap` runs this with no arguments when Lambda starts it (`AWS_LAMBDA_RUNTIME_API`).

use crate::config::Flags;
use clap::Args;

#[derive(Debug, Args)]
pub struct LambdaArgs {
    /// The function to serve (`lambda.handler`, default `_HANDLER`): submit-user-info,
    /// process-documents, verify-kyc, recommend-policy, complete-workflow, consume, ws-connect,
    /// ws-disconnect, ws-default or relay.
    pub handler: Option<String>,
}

impl LambdaArgs {
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        flags.set_some("lambda.handler", self.handler.clone());
        flags
    }
}
