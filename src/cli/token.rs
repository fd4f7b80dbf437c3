//! `onboard token CUSTOMER_ID`: prints a token for the same secret `onboard up` uses.

use crate::auth::{management_token, Authenticator, SecretSource, DEFAULT_TOKEN_TTL_SECS};
use crate::domain::ids::CustomerId;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The customer id the token is for (its `sub`).
    #[arg(required_unless_present = "management")]
    pub customer_id: Option<String>,
    /// Data directory whose generated secret to use (when ONBOARD_JWT_SECRET is not set).
    #[arg(long, env = "ONBOARD_DATA_DIR", default_value = "./onboard-data")]
    pub data_dir: PathBuf,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = DEFAULT_TOKEN_TTL_SECS)]
    pub ttl: u64,
    /// Print the gateway management API token instead.
    #[arg(long)]
    pub management: bool,
}

/// The token, or a one-line reason it cannot be made.
pub fn run(args: TokenArgs) -> anyhow::Result<String> {
    let secret = SecretSource::from_env().resolve(&args.data_dir, false)?;
    if args.management {
        return Ok(management_token(&secret));
    }
    let raw = args.customer_id.unwrap_or_default();
    let customer = CustomerId::parse(&raw)
        .map_err(|reason| anyhow::anyhow!("invalid customer id: {reason}"))?;
    Ok(Authenticator::new(&secret).issue(&customer, args.ttl))
}
