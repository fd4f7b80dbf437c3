//! `onboard check-config [--role ROLE]`: the effective configuration with every secret masked,
//! then every problem at once; the same validation a starting role runs.

use crate::config::{Loaded, Role};
use clap::Args;

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The process to check for: up, api, consumer, gateway or lambda.
    #[arg(long, default_value = "up", value_parser = Role::parse)]
    pub role: Role,
}

/// Prints the configuration (stdout); fails with every problem, as the role would refuse to start.
pub fn run(args: CheckConfigArgs, config: Loaded) -> anyhow::Result<()> {
    let source = match &config.file {
        Some(file) => format!("{}, then the environment", file.display()),
        None => "the environment (no file)".to_owned(),
    };
    let (text, problems) = config.check(args.role);
    println!(
        "# Effective configuration of `onboard {}`, from {source}; secrets shown as ***.\n",
        args.role
    );
    print!("{text}");
    if !problems.is_empty() {
        return Err(problems.into());
    }
    eprintln!(
        "onboard: the configuration is valid for `onboard {}`.",
        args.role
    );
    Ok(())
}
