//! The progress bar on the terminal while a run reads its input. Owns nothing the run's
//! outputs depend on: hidden when quiet or when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::Tally;
use crate::source::{ProgressUnit, SourceInfo};

/// The bar and the source's counter of what it read (bytes, or rows for a workbook).
pub(super) struct Progress {
    bar: ProgressBar,
    read: Arc<AtomicU64>,
}

impl Progress {
    pub(super) fn new(info: &SourceInfo, quiet: bool, read: Arc<AtomicU64>) -> Self {
        Progress {
            bar: bar(info, quiet),
            read,
        }
    }

    /// Shows how far the input is read and the rows counted so far.
    pub(super) fn show(&self, t: &Tally) {
        self.bar.set_position(self.read());
        self.bar
            .set_message(format!("{} rows · {} rejected", t.rows_read, t.rejected));
    }

    /// What the source has read so far.
    pub(super) fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn bar(info: &SourceInfo, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar =
        ProgressBar::with_draw_target(Some(info.progress_total), ProgressDrawTarget::stderr());
    let template = match info.progress_unit {
        ProgressUnit::Bytes => {
            "{spinner} {bar:20} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {wide_msg}"
        }
        ProgressUnit::Rows => {
            "{spinner} {bar:20} {human_pos}/{human_len} rows ({per_sec}, {eta}) {wide_msg}"
        }
    };
    // The one colour decision (`--color`, `NO_COLOR`) for the bar too.
    let template = if crate::style::stderr() {
        template.replace("{bar:20}", "{bar:20.cyan/blue}")
    } else {
        template.to_string()
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
