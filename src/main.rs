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
    let span_export = cli::init_logging(&config.config.log, &config.config.telemetry);
    let result = cli::run(cli.command, config).await;
    if let Some(export) = span_export {
        export.shutdown().await;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("onboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}
