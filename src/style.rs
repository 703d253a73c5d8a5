//! Whether the terminal output is coloured: one decision for every place that styles text (the
//! mapping's diagnostics on stderr, the run summary on stdout, the progress bar; clap's help
//! and usage errors get the same `--color`, read ahead of parsing in `cli`).
//!
//! `--color auto|always|never` sets the choice once, when the command line is read; `auto` (the
//! default) colours a stream only when it is a terminal and `NO_COLOR` is unset or empty
//! (<https://no-color.org>). `always` colours even with `NO_COLOR` set. Until the choice is
//! set (the library used without the command line, its tests) nothing is coloured. Files,
//! reports and notifications are never styled: only text printed on a terminal stream asks here.
//! Knows no stage.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

/// `--color`: when to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// When the stream is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always, even into a pipe or a file, and with `NO_COLOR` set.
    Always,
    /// Never.
    Never,
}

const UNSET: u8 = 0;
const AUTO: u8 = 1;
const ALWAYS: u8 = 2;
const NEVER: u8 = 3;

static CHOICE: AtomicU8 = AtomicU8::new(UNSET);

/// Sets the choice for the rest of the process (the command line does, once).
pub fn set_choice(choice: ColorChoice) {
    let value = match choice {
        ColorChoice::Auto => AUTO,
        ColorChoice::Always => ALWAYS,
        ColorChoice::Never => NEVER,
    };
    CHOICE.store(value, Ordering::Relaxed);
}

/// Whether text for standard output is coloured.
pub fn stdout() -> bool {
    decide(std::io::stdout().is_terminal())
}

/// Whether text for standard error (diagnostics, the progress bar) is coloured.
pub fn stderr() -> bool {
    decide(std::io::stderr().is_terminal())
}

fn decide(terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    resolve(CHOICE.load(Ordering::Relaxed), terminal, no_color)
}

fn resolve(choice: u8, terminal: bool, no_color: bool) -> bool {
    match choice {
        ALWAYS => true,
        AUTO => terminal && !no_color,
        _ => false,
    }
}

/// A colour of the summary's marks and counts.
#[derive(Debug, Clone, Copy)]
pub enum Paint {
    Good,
    Bad,
    Warn,
    Dim,
}

/// `text` wrapped in the ANSI escapes of `paint` when `on`, else as it is.
pub fn paint(text: &str, paint: Paint, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let code = match paint {
        Paint::Good => "32",
        Paint::Bad => "1;31",
        Paint::Warn => "33",
        Paint::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_yields_to_always_only() {
        assert!(resolve(AUTO, true, false));
        assert!(!resolve(AUTO, true, true));
        assert!(!resolve(AUTO, false, false));
        assert!(resolve(ALWAYS, false, true));
        assert!(!resolve(NEVER, true, false));
        assert!(!resolve(UNSET, true, false));
        assert_eq!(paint("x", Paint::Good, false), "x");
        assert_eq!(paint("x", Paint::Bad, true), "\x1b[1;31mx\x1b[0m");
    }
}
