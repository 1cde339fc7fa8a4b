//! Progress of a large update on stderr: a bar on a terminal, plain lines otherwise, nothing
//! with `--quiet`. Stdout stays for the result.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use statsig_console::Progress;

use crate::output::counted;

/// How often a plain progress line is written when stderr is not a terminal.
const PLAIN_LINE_EVERY: Duration = Duration::from_secs(2);

/// Shows a large update's progress and keeps the last report for the summary.
#[derive(Clone)]
pub struct ProgressDisplay {
    bar: Option<ProgressBar>,
    plain: bool,
    state: Arc<Mutex<DisplayState>>,
}

struct DisplayState {
    last: Progress,
    last_line: Option<Instant>,
    /// Whether `last` has been written as a plain line.
    last_written: bool,
}

impl ProgressDisplay {
    /// `ids_total`: the number of ids when known before the update (sizes the bar).
    pub fn new(quiet: bool, ids_total: Option<u64>) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = match ids_total {
                Some(total) => ProgressBar::with_draw_target(
                    Some(total),
                    ProgressDrawTarget::stderr(),
                ),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if ids_total.is_some() {
                "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ids ({per_sec}, ETA {eta}) {msg}"
            } else {
                "{spinner} [{elapsed_precise}] {human_pos} ids ({per_sec}) {msg}"
            };
            // A template this module writes: it is valid, and a bar without a style still works.
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            plain: !quiet && !terminal,
            state: Arc::new(Mutex::new(DisplayState {
                last: Progress::default(),
                last_line: None,
                last_written: false,
            })),
        }
    }

    /// The callback to hand `on_progress`.
    pub fn callback(&self) -> impl FnMut(&Progress) + Send + 'static {
        let display = self.clone();
        move |progress: &Progress| display.update(progress)
    }

    fn update(&self, progress: &Progress) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last = progress.clone();
        state.last_written = false;
        let handled = progress.ids_done + progress.duplicate_ids_skipped;
        if let Some(bar) = &self.bar {
            bar.set_position(handled);
            bar.set_message(format!("{} requests", progress.requests_done));
        } else if self.plain
            && state
                .last_line
                .is_none_or(|at| at.elapsed() >= PLAIN_LINE_EVERY)
        {
            state.last_line = Some(Instant::now());
            state.last_written = true;
            crate::output::err(plain_line(progress));
        }
    }

    /// Clears the bar (or writes the last plain line) and returns the last report.
    pub fn finish(&self) -> Progress {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        } else if self.plain && state.last.requests_done > 0 && !state.last_written {
            crate::output::err(plain_line(&state.last));
        }
        state.last.clone()
    }
}

fn plain_line(progress: &Progress) -> String {
    // "3/10 ids", "1 request": the noun agrees with the number it ends on.
    let count = |done: u64, total: Option<u64>, one: &str, many: &str| match total {
        Some(total) => format!("{done}/{}", counted(total, one, many)),
        None => counted(done, one, many),
    };
    format!(
        "progress: {}, {}, {}",
        count(
            progress.ids_done + progress.duplicate_ids_skipped,
            progress.ids_total,
            "id",
            "ids"
        ),
        counted(
            progress.overrides_done,
            "conditional override",
            "conditional overrides"
        ),
        count(
            progress.requests_done,
            progress.requests_total,
            "request",
            "requests"
        ),
    )
}
