//! The `reportbox` command: parses arguments, sets up logging and configuration, and hands over
//! to the library.

use clap::Parser;
use reportbox::cli::{self, Cli};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    reportbox::logging::init(cli.log_format);
    match cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reportbox: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the line already holds
/// (sqlx and our own errors repeat their source in their message).
fn message(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}
