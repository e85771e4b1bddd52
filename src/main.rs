//! `risk-monitor`: parse the command line, load settings, start logging,
//! dispatch. Nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use risk_monitor::cli::{Cli, Command};
use risk_monitor::config::Settings;
use risk_monitor::{commands, telemetry};

/// mimalloc rather than glibc's allocator: a request allocates and frees
/// hundreds of small values across the runtime's threads, and glibc's
/// allocator took about a tenth of the service's CPU under load
/// (BENCHMARKS.md, recordPayment across users).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("risk-monitor: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_level, settings.operations.log_format);

    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => commands::serve(settings).await,
        Command::Migrate { action, steps } => commands::migrate(&settings, action, steps).await,
        Command::Seed { users, seed } => commands::seed(&settings, users, seed).await,
        Command::Rescore => commands::rescore(&settings).await,
        Command::Digest { date } => commands::digest(&settings, date.as_deref()).await,
        Command::Keys { action } => commands::keys(&settings, action).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("risk-monitor: {error:#}");
            ExitCode::FAILURE
        }
    }
}
