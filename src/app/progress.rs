//! Progress on stderr for long studies: a bar with ETA on a terminal, a line every few seconds
//! otherwise, nothing with `--quiet`. The library only calls [`mba::study::Progress`].

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, periodic lines otherwise.
    Auto,
    Quiet,
}

impl Mode {
    pub fn from_quiet(quiet: bool) -> Mode {
        if quiet { Mode::Quiet } else { Mode::Auto }
    }
}

const LINE_EVERY: Duration = Duration::from_secs(5);

/// One stage being counted.
struct Stage {
    label: String,
    total: u64,
    done: u64,
    bar: Option<ProgressBar>,
    start: Instant,
    last_line: Instant,
}

impl Stage {
    fn new(label: &str, total: u64) -> Stage {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} units, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b.set_prefix(label.to_string());
            b
        });
        Stage {
            label: label.into(),
            total,
            done: 0,
            bar,
            start: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.inc(n);
            return;
        }
        if self.last_line.elapsed() >= LINE_EVERY || self.done == self.total {
            self.last_line = Instant::now();
            let el = self.start.elapsed().as_secs_f64();
            let left = self.total.saturating_sub(self.done) as f64;
            let eta = if self.done > 0 {
                el * left / self.done as f64
            } else {
                0.0
            };
            eprintln!(
                "{}: {}/{} units, {el:.0} s elapsed, ETA {eta:.0} s",
                self.label, self.done, self.total
            );
        }
    }
}

/// The stderr reporter handed to the library.
pub struct Reporter {
    mode: Mode,
    stage: Mutex<Option<Stage>>,
}

impl Reporter {
    pub fn new(mode: Mode) -> Reporter {
        Reporter {
            mode,
            stage: Mutex::new(None),
        }
    }

    fn with_stage(&self, f: impl FnOnce(&mut Option<Stage>)) {
        if self.mode == Mode::Quiet {
            return;
        }
        // A poisoned lock only means another thread panicked while printing: keep going.
        let mut guard = self.stage.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }
}

impl mba::study::Progress for Reporter {
    fn start(&self, label: &str, total: u64) {
        self.with_stage(|s| *s = Some(Stage::new(label, total)));
    }

    fn advance(&self, n: u64) {
        self.with_stage(|s| {
            if let Some(stage) = s {
                stage.advance(n);
            }
        });
    }

    fn finish(&self) {
        self.with_stage(|s| {
            if let Some(b) = s.take().and_then(|stage| stage.bar) {
                b.finish_and_clear();
            }
        });
    }

    fn note(&self, message: &str) {
        self.with_stage(|s| match s.as_ref().and_then(|stage| stage.bar.as_ref()) {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        });
    }
}
