//! Progress of long commands (`seed`, `rescore`): a bar on a terminal, plain
//! lines otherwise (CI logs, pipes), so both readers see where things stand.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Reports `done / total` for one long task.
pub struct Progress {
    label: &'static str,
    total: u64,
    done: u64,
    bar: Option<ProgressBar>,
    next_line_at: u64,
    started: Instant,
    quiet: bool,
}

impl Progress {
    /// A bar when stderr is a terminal, else a line at every tenth.
    pub fn new(label: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(label);
            bar
        });
        Self {
            label,
            total,
            done: 0,
            bar,
            next_line_at: 0,
            started: Instant::now(),
            quiet: false,
        }
    }

    /// Reports nothing (library callers and tests).
    pub fn hidden(label: &'static str, total: u64) -> Self {
        Self {
            quiet: true,
            ..Self::new_plain(label, total)
        }
    }

    fn new_plain(label: &'static str, total: u64) -> Self {
        Self {
            label,
            total,
            done: 0,
            bar: None,
            next_line_at: 0,
            started: Instant::now(),
            quiet: false,
        }
    }

    /// Adds `n` to the count done.
    pub fn inc(&mut self, n: u64) {
        self.done += n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        } else if !self.quiet && self.done >= self.next_line_at {
            eprintln!(
                "{}: {}/{} ({:.0}%) after {:.1}s",
                self.label,
                self.done,
                self.total,
                100.0 * self.done as f64 / self.total.max(1) as f64,
                self.started.elapsed().as_secs_f64()
            );
            self.next_line_at = self.done + (self.total / 10).max(1);
        }
    }

    /// Ends the bar (or prints the closing line).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish();
        } else if !self.quiet {
            eprintln!(
                "{}: {}/{} done in {:.1}s",
                self.label,
                self.done,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
