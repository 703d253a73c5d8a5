//! Atomic outputs: everything is written to a staging folder and moved into place at the end.
//!
//! A run writes its targets and report under `OUT/.rowferry-staging/`. Only when the run
//! succeeds does [`Staging::commit`] move them into `OUT`: it first records the names it is about
//! to move in a journal (`OUT/.rowferry-commit`, written then renamed, so it exists whole or not
//! at all), then moves the previous outputs aside into `OUT/.rowferry-previous/`, moves the new
//! ones in, and deletes the journal and what was set aside. Every step is a rename within one
//! file system.
//!
//! A run that dies before the journal exists leaves `OUT` exactly as it was; the next run deletes
//! its staging folder. A run that dies during the moves leaves a journal: the next run first
//! completes those moves (every step can be redone), so `OUT` is never left half old, half new.
//!
//! `run` replaces the whole output folder (a target that wrote nothing this time leaves no stale
//! file behind); `validate` replaces only the report.

use std::fs;
use std::path::{Path, PathBuf};

const STAGING: &str = ".rowferry-staging";
const PREVIOUS: &str = ".rowferry-previous";
const JOURNAL: &str = ".rowferry-commit";
/// Names that belong to the commit protocol itself, never to outputs.
const PREFIX: &str = ".rowferry-";

/// What a commit replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The output folder becomes exactly what this run wrote.
    Replace,
    /// Only the entries this run wrote are replaced (the report of `validate`).
    Entries,
}

/// The output folder could not be prepared or committed.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error(
        "cannot update the output folder `{path}`: {source}; check that it is writable and on a disk with free space"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the output folder `{0}` holds files rowferry did not write (it has no `_report/report.json`); a run replaces its whole output folder, so choose another with --out, or empty this one"
    )]
    NotOurs(PathBuf),
    #[error("the output folder `{0}` is a file, not a folder; choose another with --out")]
    NotAFolder(PathBuf),
    #[error(
        "the commit journal `{0}` is damaged; the previous run died while moving its outputs into place. Check the folder's contents by hand, then delete the journal"
    )]
    Journal(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StagingError + '_ {
    move |source| StagingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A run's staging folder.
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    dir: PathBuf,
    mode: Mode,
}

impl Staging {
    /// Finishes or discards whatever a dead run left in `out`, checks that `out` is rowferry's
    /// to replace (for [`Mode::Replace`]) and creates a fresh staging folder.
    pub fn begin(out: &Path, mode: Mode) -> Result<Self, StagingError> {
        if out.exists() && !out.is_dir() {
            return Err(StagingError::NotAFolder(out.to_path_buf()));
        }
        recover(out)?;
        if mode == Mode::Replace && out.is_dir() {
            let foreign = entries(out)?.iter().any(|n| !n.starts_with(PREFIX));
            if foreign && !out.join("_report").join("report.json").is_file() {
                return Err(StagingError::NotOurs(out.to_path_buf()));
            }
        }
        let dir = out.join(STAGING);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Staging {
            out: out.to_path_buf(),
            dir,
            mode,
        })
    }

    /// Drops everything staged but `name` and commits in `mode` instead: a stopped run keeps
    /// only its report, so the previous targets stay as they were.
    pub fn keep_only(self, name: &str, mode: Mode) -> Result<Staging, StagingError> {
        for entry in entries(&self.dir)? {
            if entry != name {
                remove(&self.dir.join(entry))?;
            }
        }
        Ok(Staging { mode, ..self })
    }

    /// Where this run writes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves everything written into place (see the module documentation).
    pub fn commit(self) -> Result<(), StagingError> {
        let names = entries(&self.dir)?;
        let journal = self.out.join(JOURNAL);
        let tmp = self.out.join(format!("{JOURNAL}.tmp"));
        let mut text = String::from(match self.mode {
            Mode::Replace => "replace\n",
            Mode::Entries => "entries\n",
        });
        for n in &names {
            text.push_str(n);
            text.push('\n');
        }
        fs::write(&tmp, text).map_err(io(&tmp))?;
        fs::rename(&tmp, &journal).map_err(io(&journal))?;
        roll_forward(&self.out, self.mode, &names)
    }
}

/// The names in a folder, sorted.
fn entries(dir: &Path) -> Result<Vec<String>, StagingError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Completes a commit whose journal exists, or discards a run that never reached one.
fn recover(out: &Path) -> Result<(), StagingError> {
    if !out.is_dir() {
        return Ok(());
    }
    let journal = out.join(JOURNAL);
    if journal.is_file() {
        let text = fs::read_to_string(&journal).map_err(io(&journal))?;
        let mut lines = text.lines();
        let mode = match lines.next() {
            Some("replace") => Mode::Replace,
            Some("entries") => Mode::Entries,
            _ => return Err(StagingError::Journal(journal)),
        };
        let names: Vec<String> = lines.map(str::to_string).collect();
        return roll_forward(out, mode, &names);
    }
    for leftover in [STAGING, PREVIOUS] {
        let p = out.join(leftover);
        if p.exists() {
            fs::remove_dir_all(&p).map_err(io(&p))?;
        }
    }
    let tmp = out.join(format!("{JOURNAL}.tmp"));
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io(&tmp))?;
    }
    Ok(())
}

/// The moves of a commit. Idempotent: a name still in staging is new and not in place yet; a
/// name in `out` that is not in `names` is old.
fn roll_forward(out: &Path, mode: Mode, names: &[String]) -> Result<(), StagingError> {
    let staging = out.join(STAGING);
    let previous = out.join(PREVIOUS);
    fs::create_dir_all(&previous).map_err(io(&previous))?;
    let set_aside = |name: &str| -> Result<(), StagingError> {
        let from = out.join(name);
        let to = previous.join(name);
        if to.exists() {
            remove(&to)?;
        }
        fs::rename(&from, &to).map_err(io(&from))
    };
    if mode == Mode::Replace {
        for name in entries(out)? {
            if !name.starts_with(PREFIX) && !names.contains(&name) {
                set_aside(&name)?;
            }
        }
    }
    for name in names {
        let staged = staging.join(name);
        if !staged.exists() {
            continue;
        }
        if out.join(name).exists() {
            set_aside(name)?;
        }
        let to = out.join(name);
        fs::rename(&staged, &to).map_err(io(&to))?;
    }
    let journal = out.join(JOURNAL);
    fs::remove_file(&journal).map_err(io(&journal))?;
    remove(&previous)?;
    if staging.exists() {
        remove(&staging)?;
    }
    Ok(())
}

fn remove(p: &Path) -> Result<(), StagingError> {
    if p.is_dir() {
        fs::remove_dir_all(p).map_err(io(p))
    } else {
        fs::remove_file(p).map_err(io(p))
    }
}
