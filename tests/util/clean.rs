//! Terminal text made stable for an `insta` snapshot: the scratch folder and the repository
//! replaced by `[DIR]` and `[REPO]` here, temporary paths, timings, durations and dates by the
//! filters of [`settings`].
//!
//! ```ignore
//! let res = Job::new().mapping(toml).run("check");
//! snapshots().bind(|| insta::assert_snapshot!(res.screen()));
//! ```

use super::job::Folder;
use super::repo;

/// `text` with the folder's path (as given and as the OS resolves it) and the repository's
/// path replaced by `[DIR]` and `[REPO]`.
pub fn clean(text: &str, folder: &Folder) -> String {
    let mut text = text.to_string();
    let mut paths = vec![(folder.path().to_path_buf(), "[DIR]")];
    if let Ok(real) = folder.path().canonicalize() {
        paths.push((real, "[DIR]"));
    }
    paths.push((repo(), "[REPO]"));
    if let Ok(real) = repo().canonicalize() {
        paths.push((real, "[REPO]"));
    }
    for (path, with) in paths {
        let path = path.to_string_lossy().into_owned();
        if !path.is_empty() {
            text = text.replace(&path, with);
        }
    }
    text
}

/// What changes from run to run, as `(regex, replacement)`.
pub const FILTERS: &[(&str, &str)] = &[
    // A temporary folder the run was not given as its own (another job's, tempfile's).
    (r"(/private)?/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
    // Timestamps: 2026-01-31T12:34:56.789Z, 2026-01-31 12:34:56.
    (
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?",
        "[TIMESTAMP]",
    ),
    // Durations and rates: 12 ms, 0.4 s, 1.2s, 35.1 MB/s, 120k rows/s.
    (
        r"\b\d+(\.\d+)?\s?(k|M)?\s?(B|KB|MB|GB|KiB|MiB|GiB|rows)/s\b",
        "[RATE]",
    ),
    (r"\b\d+(\.\d+)?\s?(ns|µs|us|ms|s|min)\b", "[DURATION]"),
];

/// insta settings with [`FILTERS`]: bind a snapshot assertion to them.
pub fn snapshots() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (regex, with) in FILTERS {
        settings.add_filter(regex, *with);
    }
    settings
}
