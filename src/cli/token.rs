//! `onboard token CUSTOMER_ID`: prints a token for the same secret `onboard up` uses.

use crate::auth::{management_token, Authenticator, DEFAULT_TOKEN_TTL_SECS};
use crate::config::{Flags, Loaded};
use crate::domain::ids::CustomerId;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The customer id the token is for (its `sub`).
    #[arg(required_unless_present = "management")]
    pub customer_id: Option<String>,
    /// Data directory whose generated secret to use when none is configured (`data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = DEFAULT_TOKEN_TTL_SECS)]
    pub ttl: u64,
    /// Print the gateway management API token instead.
    #[arg(long)]
    pub management: bool,
}

impl TokenArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        flags.set_path("data_dir", self.data_dir.as_deref());
        flags
    }
}

/// The token, or a one-line reason it cannot be made.
pub fn run(args: TokenArgs, config: Loaded) -> anyhow::Result<String> {
    let (source, data_dir) = config.build(|c, p| (c.jwt_source(p), c.data_dir.clone()))?;
    let secret = source.resolve(&data_dir, false)?;
    if args.management {
        return Ok(management_token(&secret));
    }
    let raw = args.customer_id.unwrap_or_default();
    let customer = CustomerId::parse(&raw)
        .map_err(|reason| anyhow::anyhow!("invalid customer id: {reason}"))?;
    Ok(Authenticator::new(&secret).issue(&customer, args.ttl))
}
