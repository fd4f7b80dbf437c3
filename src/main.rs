//! The `onboard` binary: parses the command line, layers the configuration and dispatches; all
//! logic lives in the library.

use onboard::cli::{self, Cli};
use onboard::config::Environment;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    cli::keep_files_private();
    let cli = Cli::parse_or_bootstrap();
    let config = cli.load_config(&Environment::from_process());
    cli::init_logging(&config.config.log);
    match cli::run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("onboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}
