//! The `onboard` binary: parses the command line and dispatches; all logic lives in the library.

use clap::Parser;
use onboard::cli::{self, Cli, Command};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging();
    let result = match cli.command {
        Command::Up(args) => cli::up::up(args).await,
        Command::Api(args) => cli::up::api(args).await,
        Command::Consumer(args) => cli::up::consumer(args).await,
        Command::Gateway(args) => cli::up::gateway(args).await,
        Command::Token(args) => cli::token::run(args).map(|token| println!("{token}")),
        Command::Watch(args) => cli::watch::run(args).await,
        Command::Topics(args) => cli::topics::topics(args).await,
        Command::Groups(args) => cli::topics::groups(args).await,
        Command::Migrate(args) => cli::migrate::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("onboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}
