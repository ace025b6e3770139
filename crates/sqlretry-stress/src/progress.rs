//! The progress bar on stderr: only for runs longer than two seconds, never when stderr is not a
//! terminal or the output is JSON.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Runs shorter than this show no bar.
const SHOW_AFTER: Duration = Duration::from_secs(2);

/// A progress bar for one strategy run that appears once the run has lasted [`SHOW_AFTER`].
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    enabled: bool,
    shown: bool,
}

impl Progress {
    /// A bar of `total` steps (a spinner when unknown) labelled with the strategy name; `enabled` is
    /// false for JSON output.
    pub fn new(label: &str, total: Option<u64>, enabled: bool) -> Self {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        let template = if total.is_some() {
            "{prefix:>14} {bar:40} {pos}/{len} {elapsed}"
        } else {
            "{prefix:>14} {spinner} {elapsed}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_owned());
        Self {
            bar,
            started: Instant::now(),
            enabled: enabled && std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// Moves the bar to `position`, showing it if the run has lasted long enough.
    pub fn set(&mut self, position: u64) {
        if self.enabled && !self.shown && self.started.elapsed() >= SHOW_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(position);
    }

    /// Moves the bar to the elapsed time in milliseconds (`--duration`), or spins (unknown length).
    pub fn set_elapsed(&mut self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match self.bar.length() {
            Some(len) => self.set(elapsed.min(len)),
            None => {
                self.set(0);
                self.bar.tick();
            }
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
