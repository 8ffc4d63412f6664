//! Progress bars on stderr, only when stderr is a terminal: stdout stays clean for the
//! report and `--json`, and logs from git hooks get no escape codes.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Bars when stderr is a terminal.
    pub fn auto() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
        }
    }

    pub fn hidden() -> Self {
        Self { enabled: false }
    }

    /// A bar for `len` steps.
    pub fn bar(&self, len: u64, message: &'static str) -> ProgressBar {
        let bar = self.make(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:<20} [{bar:30}] {pos}/{len}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message(message);
        bar
    }

    /// A bar for byte counts.
    pub fn bytes(&self, len: u64, message: &'static str) -> ProgressBar {
        let bar = self.make(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:<20} [{bar:30}] {bytes}/{total_bytes}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message(message);
        bar
    }

    /// A spinner counting items of unknown total.
    pub fn spinner(&self, message: &'static str) -> ProgressBar {
        let bar = self.make(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:<20} {pos}").expect("static template"),
        );
        bar.set_message(message);
        bar
    }

    fn make(&self, bar: ProgressBar) -> ProgressBar {
        if self.enabled {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar
    }
}
