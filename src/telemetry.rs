//! Logging: one `tracing` subscriber for the process, writing to stderr.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `filter` (already validated by
/// [`crate::config`]). Calling it twice keeps the first one.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call (tests start several apps in one process) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
