//! Progress bars on stderr, only when stderr is a terminal: stdout stays clean for the
//! report and `--json`, and logs from git hooks get no escape codes.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `-q` / `-v` for the whole process, set once by the command line before the run:
/// 0 normal, 1 quiet (no bars), 2 verbose (stage timings kept for [`timings`]).
static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// When each stage started, in order, for `-v` ([`timings`]).
static STAGES: Mutex<Vec<(&'static str, Instant)>> = Mutex::new(Vec::new());

/// Sets `-q` / `-v` for the bars and stage timings of this process.
pub fn set_verbosity(verbosity: crate::report::Verbosity) {
    use crate::report::Verbosity;
    let value = match verbosity {
        Verbosity::Normal => 0,
        Verbosity::Quiet => 1,
        Verbosity::Verbose => 2,
    };
    VERBOSITY.store(value, Ordering::Relaxed);
    if let Ok(mut stages) = STAGES.lock() {
        stages.clear();
        stages.push(("starting", Instant::now()));
    }
}

/// `-v`: each stage and how long it took (until the next began, or until now), a line
/// each, for stderr. Empty unless `-v` was given.
pub fn timings() -> String {
    if VERBOSITY.load(Ordering::Relaxed) != 2 {
        return String::new();
    }
    let Ok(stages) = STAGES.lock() else {
        return String::new();
    };
    let now = Instant::now();
    let mut out = String::new();
    for (i, (stage, start)) in stages.iter().enumerate() {
        let end = stages.get(i + 1).map_or(now, |(_, next)| *next);
        let ms = end.saturating_duration_since(*start).as_secs_f64() * 1000.0;
        out += &format!("stage {stage:<20} {ms:>9.1} ms\n");
    }
    out
}

/// Notes that a stage began (for `-v`).
fn stage(message: &'static str) {
    if VERBOSITY.load(Ordering::Relaxed) == 2
        && let Ok(mut stages) = STAGES.lock()
    {
        stages.push((message, Instant::now()));
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Bars when stderr is a terminal, unless `-q`.
    pub fn auto() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal() && VERBOSITY.load(Ordering::Relaxed) != 1,
        }
    }

    pub fn hidden() -> Self {
        Self { enabled: false }
    }

    /// A bar for `len` steps.
    pub fn bar(&self, len: u64, message: &'static str) -> ProgressBar {
        stage(message);
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
        stage(message);
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
        stage(message);
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
            bar.enable_steady_tick(Duration::from_millis(80));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar
    }
}
