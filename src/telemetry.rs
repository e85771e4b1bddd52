//! Logging: one `tracing` subscriber for the process, writing to stderr as
//! text for people or as one JSON object per line for a collector
//! (`LOG_FORMAT`, SPEC §9).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber with `filter` (already validated by
/// [`crate::config`]) writing `format`. Calling it twice keeps the first one.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second call (tests start several apps in one process) is harmless.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // Each line: timestamp, level, the event's fields (message first)
        // at the top level, then `span` (the innermost span's fields, such as
        // a request's `request_id`) and `spans` (all of them, outermost first).
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_ansi(false)
            .try_init(),
    };
}
