//! The `reportbox` command: parses arguments, sets up logging and configuration, and hands over
//! to the library.

use clap::Parser;
use reportbox::cli::{self, Cli};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REPORTBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,reportbox=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reportbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}
