//! The output folder's protocol: a lock, a manifest of what rowferry wrote, and a commit that a
//! kill cannot split.
//!
//! - **Lock.** A run holds an exclusive lock on `OUT/.rowferry-lock` from before it looks at the
//!   folder until its commit is done; a second run into the same folder exits at once, naming the
//!   process that holds it. The lock file is never deleted (deleting a lock file races).
//! - **Manifest.** `OUT/.rowferry-manifest` lists every file (and every folder it created) that
//!   the last committed runs wrote there. Only those are ever replaced or removed: a file rowferry
//!   did not write is never deleted or overwritten, whatever ran before; a new output whose path
//!   is taken by such a file stops the run before anything moves. An input or lookup that is one
//!   of the files a commit would replace stops it too.
//! - **Commit.** A run writes its targets and report under `OUT/.rowferry-staging/`. Only when it
//!   succeeds does [`Staging::commit`] write a journal (`OUT/.rowferry-commit`: the files to set
//!   aside, the files to move in and the manifest to write, checksummed, written then renamed so
//!   it exists whole or not at all), then move the previous outputs aside into
//!   `OUT/.rowferry-previous/`, move the new ones in, write the new manifest and delete the
//!   journal. Every step is a rename or a write within the folder.
//!
//! **Recovery.** A run that dies before the journal exists leaves `OUT` exactly as it was; the
//! next run deletes its staging folder. A run that dies after it leaves a journal: the next run
//! (under the lock, before anything else) checks it — rowferry's header, its checksum, names that
//! are relative and stay inside the folder — and finishes the moves, each of which can be redone.
//! A journal that fails those checks is never acted on. A commit that fails on an I/O error (a
//! full disk) moves back what it had moved and leaves the previous outputs as they were.
//!
//! `run` replaces what the previous runs wrote (a target that wrote nothing this time leaves no
//! stale file behind); `validate` and a stopped run replace only the report.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const STAGING: &str = ".rowferry-staging";
const PREVIOUS: &str = ".rowferry-previous";
const JOURNAL: &str = ".rowferry-commit";
const MANIFEST: &str = ".rowferry-manifest";
const LOCK: &str = ".rowferry-lock";
/// Names that belong to the protocol itself, never to outputs.
pub const PREFIX: &str = ".rowferry-";
/// The report's folder: a `validate` commit replaces only what is under it.
const REPORT: &str = "_report";

/// What a commit replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Everything the previous runs wrote gives way to what this run wrote.
    Replace,
    /// Only the report is replaced (`validate`, a stopped run).
    Entries,
}

/// The output folder could not be locked, prepared or committed.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error(
        "cannot update the output folder `{path}`: {source}; check that it is writable and on a disk with free space"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "`{0}` is in the way of an output and rowferry did not write it (it is not in the folder's `.rowferry-manifest`); nothing was changed. Move it away, or choose another output folder with --out"
    )]
    Foreign(PathBuf),
    #[error(
        "`{path}` is read by this run and is one of the files it would replace in its output folder; nothing was changed. Copy it out of `{out}` first, or choose another output folder with --out"
    )]
    ReplacesInput { path: PathBuf, out: PathBuf },
    #[error("{0}; the output folder was left as it was")]
    Refused(String),
    #[error(
        "the last run into this folder was killed while committing its tables on {server}, and whether they committed cannot be told ({why}); nothing was changed. Run the same mapping again when the server answers: `{}` is finished or undone as the server says", .path.display()
    )]
    Unresolved {
        path: PathBuf,
        server: String,
        why: String,
    },
    #[error("the output folder `{0}` is a file, not a folder; choose another with --out")]
    NotAFolder(PathBuf),
    #[error(
        "the output folder `{0}` is a link to a folder that does not exist; create that folder, or choose another with --out"
    )]
    DanglingLink(PathBuf),
    #[error(
        "the output folder `{path}` is in use by another rowferry run ({holder}); wait for it to finish, or choose another output folder with --out"
    )]
    Locked { path: PathBuf, holder: String },
    #[error(
        "`{path}` is not a file rowferry can trust: {why}. Nothing was changed. If no rowferry run was interrupted in this folder, delete that file; otherwise check the folder's contents by hand first"
    )]
    Untrusted { path: PathBuf, why: String },
    #[error(
        "the commit into `{path}` failed and could not be undone ({source}); the next rowferry run in that folder will finish moving this run's outputs into place"
    )]
    Interrupted {
        path: PathBuf,
        #[source]
        source: Box<StagingError>,
    },
}

fn io(path: &Path) -> impl FnOnce(io::Error) -> StagingError + '_ {
    move |source| StagingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the committed runs wrote into an output folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    /// Files, relative to the folder, `/`-separated.
    files: BTreeSet<String>,
    /// Folders rowferry created, relative to the folder.
    dirs: BTreeSet<String>,
}

/// A commit about to happen: enough to finish it after a kill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Journal {
    /// Previous outputs this commit sets aside.
    old: Vec<String>,
    /// This run's outputs, moved in from the staging folder.
    new: Vec<String>,
    /// The manifest once the commit is done.
    manifest: Manifest,
    /// Database transactions committed once this journal is written: while they are listed, a
    /// recovery asks their servers whether they committed (see [`Staging::commit_with`]).
    #[serde(default)]
    pending: Vec<PendingCommit>,
}

/// A database transaction a commit waits on: its server (as shown, no password) and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCommit {
    pub server: String,
    pub transaction: String,
}

/// Whether a pending transaction committed (`Ok(true)`), rolled back (`Ok(false)`), or cannot
/// be told (`Err`, in words).
pub type Resolve<'a> = &'a dyn Fn(&PendingCommit) -> Result<bool, String>;

/// The header of every file of the protocol that rowferry reads back.
const MAGIC: &str = "rowferry";

/// A run's hold on its output folder and its staging folder. Dropped without a commit, it removes
/// the staging folder (a failed run leaves nothing behind); the lock goes with it.
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    dir: PathBuf,
    mode: Mode,
    /// Files this run reads; a commit never replaces them.
    protected: Vec<PathBuf>,
    committed: bool,
    faults: Faults,
    _lock: File,
}

impl Staging {
    /// Locks `out`, finishes or discards whatever a dead run left there, and creates a fresh
    /// staging folder. `protected` are the files the run reads (input, lookups, mapping).
    pub fn begin(out: &Path, mode: Mode, protected: &[PathBuf]) -> Result<Self, StagingError> {
        Self::begin_resolving(out, mode, protected, &|p| {
            Err(format!("rowferry cannot ask {} here", p.server))
        })
    }

    /// [`Staging::begin`], where a commit a kill interrupted while its databases committed is
    /// finished or undone as `resolve` says their transactions ended.
    pub fn begin_resolving(
        out: &Path,
        mode: Mode,
        protected: &[PathBuf],
        resolve: Resolve<'_>,
    ) -> Result<Self, StagingError> {
        match fs::symlink_metadata(out) {
            Ok(m) if m.file_type().is_symlink() => match fs::metadata(out) {
                Ok(t) if t.is_dir() => {}
                Ok(_) => return Err(StagingError::NotAFolder(out.to_path_buf())),
                Err(_) => return Err(StagingError::DanglingLink(out.to_path_buf())),
            },
            Ok(m) if !m.is_dir() => return Err(StagingError::NotAFolder(out.to_path_buf())),
            _ => {}
        }
        fs::create_dir_all(out).map_err(io(out))?;
        let lock = lock(out)?;
        let faults = Faults::from_env();
        recover_with(out, &faults, resolve)?;
        let dir = out.join(STAGING);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let protected = protected
            .iter()
            .filter_map(|p| fs::canonicalize(p).ok())
            .collect();
        Ok(Staging {
            out: out.to_path_buf(),
            dir,
            mode,
            protected,
            committed: false,
            faults,
            _lock: lock,
        })
    }

    /// Drops everything staged but `name` and commits in `mode` instead: a stopped run keeps
    /// only its report, so the previous targets stay as they were.
    pub fn keep_only(mut self, name: &str, mode: Mode) -> Result<Staging, StagingError> {
        for entry in names(&self.dir)? {
            if entry != name {
                remove(&self.dir.join(entry))?;
            }
        }
        self.mode = mode;
        Ok(self)
    }

    /// Where this run writes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves everything written into place (see the module documentation).
    pub fn commit(self) -> Result<(), StagingError> {
        self.commit_with(Vec::new(), || Ok(()))
    }

    /// Moves everything written into place, running `sealed` once the journal is written and
    /// before anything moves: where a run commits its database transactions. When `sealed`
    /// fails, the journal is removed and nothing moves.
    ///
    /// The order makes a failure at any point leave everything or nothing: before the journal,
    /// nothing is committed anywhere; a database that refuses its commit leaves the folder as it
    /// was; once the databases have committed, the journal makes the files' moves finish, even
    /// after a kill. The one window is a kill between the journal and the databases' commits:
    /// the journal lists the `pending` transactions, and the next run asks their servers
    /// whether they committed: it finishes the moves if one did, and undoes the commit if none
    /// did ([`Staging::begin_resolving`]). Once the databases have committed, the journal is
    /// written again without them.
    pub fn commit_with(
        mut self,
        pending: Vec<PendingCommit>,
        sealed: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), StagingError> {
        let mut journal = self.plan()?;
        journal.pending = pending;
        let path = self.out.join(JOURNAL);
        let tmp = self.out.join(format!("{JOURNAL}.tmp"));
        let written = write_sealed("commit", &tmp, &path, &journal, &self.faults);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // A kill here leaves the journal and the databases uncommitted (a fault-injection step).
        let ready = self.faults.step(&path).map_err(|e| e.to_string());
        if let Err(message) = ready.and_then(|()| sealed()) {
            let removed = fs::remove_file(&path);
            sync_dir(&self.out);
            return Err(match removed {
                Ok(()) => StagingError::Refused(message),
                Err(source) => StagingError::Io { path, source },
            });
        }
        if !journal.pending.is_empty() {
            // The databases have committed: a recovery no longer needs to ask them. Should this
            // write fail, a recovery asks and finds them committed.
            journal.pending.clear();
            if write_sealed("commit", &tmp, &path, &journal, &self.faults).is_err() {
                let _ = fs::remove_file(&tmp);
            }
        }
        match roll_forward(&self.out, &journal, &self.faults) {
            Ok(()) => {
                self.committed = true;
                // A kill from here on leaves the new outputs in place and only leftovers that
                // the next run removes.
                if self.faults.step(&self.out).is_ok() {
                    cleanup(&self.out);
                }
                Ok(())
            }
            Err(e) => match roll_back(&self.out, &journal, &self.faults) {
                Ok(()) => Err(e),
                Err(_) => {
                    self.committed = true;
                    Err(StagingError::Interrupted {
                        path: self.out.clone(),
                        source: Box::new(e),
                    })
                }
            },
        }
    }

    /// The journal of this commit, once every check has passed: nothing in the way that
    /// rowferry did not write, no input replaced.
    fn plan(&self) -> Result<Journal, StagingError> {
        let before = read_manifest(&self.out)?;
        let mut new = Vec::new();
        walk(&self.dir, "", &mut new)?;
        let new_set: BTreeSet<&str> = new.iter().map(String::as_str).collect();
        let old: Vec<String> = before
            .files
            .iter()
            .filter(|f| match self.mode {
                Mode::Replace => true,
                Mode::Entries => in_report(f) || new_set.contains(f.as_str()),
            })
            .cloned()
            .collect();
        let old_set: BTreeSet<&str> = old.iter().map(String::as_str).collect();
        let mut created = BTreeSet::new();
        for name in &new {
            let mut at = self.out.clone();
            let mut rel = String::new();
            let parts: Vec<&str> = name.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                at.push(part);
                if !rel.is_empty() {
                    rel.push('/');
                }
                rel.push_str(part);
                let last = i + 1 == parts.len();
                match fs::symlink_metadata(&at) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if !last {
                            created.insert(rel.clone());
                        }
                    }
                    Err(e) => return Err(io(&at)(e)),
                    Ok(m) => {
                        let ours = if last || !m.is_dir() || m.file_type().is_symlink() {
                            old_set.contains(rel.as_str())
                                || (m.is_dir() && before.dirs.contains(&rel))
                        } else {
                            true
                        };
                        if !ours {
                            return Err(StagingError::Foreign(at));
                        }
                    }
                }
            }
        }
        for name in &old {
            let path = self.out.join(name);
            if let Ok(real) = fs::canonicalize(&path)
                && self.protected.contains(&real)
            {
                return Err(StagingError::ReplacesInput {
                    path,
                    out: self.out.clone(),
                });
            }
        }
        let mut files: BTreeSet<String> = before
            .files
            .iter()
            .filter(|f| !old_set.contains(f.as_str()))
            .cloned()
            .collect();
        files.extend(new.iter().cloned());
        let mut dirs = before.dirs.clone();
        dirs.extend(created);
        Ok(Journal {
            old,
            new,
            manifest: Manifest { files, dirs },
            pending: Vec::new(),
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether `name` is a file of the report.
fn in_report(name: &str) -> bool {
    name.split('/').next() == Some(REPORT)
}

/// Takes the folder's lock, or says who holds it.
fn lock(out: &Path) -> Result<File, StagingError> {
    let path = out.join(LOCK);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path)
                .ok()
                .map(|t| t.trim().replace('\n', ", "))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "a process that has not said which".into());
            return Err(StagingError::Locked {
                path: out.to_path_buf(),
                holder,
            });
        }
        // A file system without locks (some network shares) runs without one, as before.
        Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {}
        Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    let command: Vec<String> = std::env::args().take(3).collect();
    let text = format!(
        "process {} ({}), since {}\n",
        std::process::id(),
        command.join(" "),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    file.set_len(0).map_err(io(&path))?;
    file.write_all(text.as_bytes()).map_err(io(&path))?;
    Ok(file)
}

/// Completes a commit whose journal exists, or discards a run that never reached one. Takes no
/// lock: the caller holds it.
pub fn recover(out: &Path) -> Result<(), StagingError> {
    recover_with(out, &Faults::none(), &|p| {
        Err(format!("rowferry cannot ask {} here", p.server))
    })
}

fn recover_with(out: &Path, faults: &Faults, resolve: Resolve<'_>) -> Result<(), StagingError> {
    if !out.is_dir() {
        return Ok(());
    }
    let path = out.join(JOURNAL);
    if fs::symlink_metadata(&path).is_ok() {
        let journal: Journal = read_sealed(&path, "commit")?;
        check_names(
            &path,
            journal
                .old
                .iter()
                .chain(&journal.new)
                .chain(&journal.manifest.files)
                .chain(&journal.manifest.dirs),
        )?;
        // A journal sets aside only files the manifest says rowferry wrote: before the new
        // manifest is written every old file is in the one on disk, and after it every old
        // file still in the folder is a new one too.
        let on_disk = read_manifest(out)?;
        if let Some(name) = journal
            .old
            .iter()
            .find(|n| !on_disk.files.contains(*n) && fs::symlink_metadata(out.join(n)).is_ok())
        {
            return Err(StagingError::Untrusted {
                path,
                why: format!(
                    "it would replace `{name}`, which the folder's `.rowferry-manifest` does not list"
                ),
            });
        }
        if !journal.pending.is_empty() && !committed(&path, &journal.pending, resolve)? {
            // No database committed: nothing had moved yet, so the commit is undone.
            fs::remove_file(&path).map_err(io(&path))?;
            sync_dir(out);
        } else {
            roll_forward(out, &journal, faults)?;
            cleanup(out);
            return Ok(());
        }
    }
    for leftover in [STAGING, PREVIOUS] {
        let p = out.join(leftover);
        if fs::symlink_metadata(&p).is_ok() {
            remove(&p)?;
        }
    }
    let tmp = out.join(format!("{JOURNAL}.tmp"));
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io(&tmp))?;
    }
    Ok(())
}

/// Whether any of the `pending` transactions of the journal at `path` committed; an answer
/// `resolve` cannot give stops the run, the folder untouched.
fn committed(
    path: &Path,
    pending: &[PendingCommit],
    resolve: Resolve<'_>,
) -> Result<bool, StagingError> {
    let mut any = false;
    for p in pending {
        match resolve(p) {
            Ok(done) => any |= done,
            Err(why) => {
                return Err(StagingError::Unresolved {
                    path: path.to_path_buf(),
                    server: p.server.clone(),
                    why,
                });
            }
        }
    }
    Ok(any)
}

/// Every name a journal or a manifest holds must be one a commit could have written.
fn check_names<'a>(
    path: &Path,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), StagingError> {
    for name in names {
        if let Some(why) = unsafe_name(name) {
            return Err(StagingError::Untrusted {
                path: path.to_path_buf(),
                why: format!("it names `{name}`, which {why}"),
            });
        }
    }
    Ok(())
}

/// Why a name from the protocol's files cannot be an output's, if it cannot.
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.contains(['\\', '\0', '\n', '\r']) {
        return Some("is empty or holds a backslash or a control character");
    }
    let path = Path::new(name);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Some("is not a plain path inside the output folder");
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Some("is not a plain path inside the output folder");
    }
    if name.starts_with(PREFIX) {
        return Some("belongs to rowferry's own bookkeeping");
    }
    None
}

/// The manifest of `out`, empty when there is none.
fn read_manifest(out: &Path) -> Result<Manifest, StagingError> {
    let path = out.join(MANIFEST);
    if fs::symlink_metadata(&path).is_err() {
        return Ok(Manifest::default());
    }
    let m: Manifest = read_sealed(&path, "manifest")?;
    check_names(&path, m.files.iter().chain(&m.dirs))?;
    Ok(m)
}

/// Sealed files: `rowferry KIND 1`, the JSON body, `sha256 HEX` of the body.
fn seal<T: Serialize>(kind: &str, value: &T) -> String {
    let body = serde_json::to_string(value).unwrap_or_default();
    let sum = crate::plan::hex(&Sha256::digest(body.as_bytes()));
    format!("{MAGIC} {kind} 1\n{body}\nsha256 {sum}\n")
}

fn read_sealed<T: for<'de> Deserialize<'de>>(path: &Path, kind: &str) -> Result<T, StagingError> {
    let untrusted = |why: &str| StagingError::Untrusted {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    let meta = fs::symlink_metadata(path).map_err(io(path))?;
    if !meta.is_file() {
        return Err(untrusted("it is not a regular file"));
    }
    let text = fs::read_to_string(path)
        .map_err(|_| untrusted("it cannot be read as text rowferry wrote"))?;
    let mut lines = text.split('\n');
    if lines.next() != Some(&format!("{MAGIC} {kind} 1")) {
        return Err(untrusted(&format!(
            "it does not start with rowferry's {kind} header"
        )));
    }
    let (Some(body), Some(sum)) = (lines.next(), lines.next()) else {
        return Err(untrusted("it is cut short"));
    };
    let expected = format!(
        "sha256 {}",
        crate::plan::hex(&Sha256::digest(body.as_bytes()))
    );
    if sum != expected || lines.ne([""]) {
        return Err(untrusted("its checksum does not match its contents"));
    }
    serde_json::from_str(body).map_err(|_| untrusted("its contents are not what rowferry writes"))
}

/// Writes a sealed file whole or not at all: to `tmp`, synced, then renamed over `path`.
fn write_sealed<T: Serialize>(
    kind: &str,
    tmp: &Path,
    path: &Path,
    value: &T,
    faults: &Faults,
) -> Result<(), StagingError> {
    faults.step(tmp).map_err(io(tmp))?;
    let mut f = File::create(tmp).map_err(io(tmp))?;
    f.write_all(seal(kind, value).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io(tmp))?;
    drop(f);
    faults.step(path).map_err(io(path))?;
    fs::rename(tmp, path).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Makes a rename durable where the platform allows it.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The files under `dir`, relative and `/`-separated; protocol names at the top are skipped.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), StagingError> {
    for name in names(dir)? {
        if prefix.is_empty() && name.starts_with(PREFIX) {
            continue;
        }
        let path = dir.join(&name);
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        if meta.is_dir() {
            walk(&path, &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Result<Vec<String>, StagingError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// The moves of a commit. Idempotent, so a recovery can redo it from any point: an old file is
/// set aside unless its new namesake is already in place (its staged copy is gone); a new file
/// is moved in while its staged copy exists.
fn roll_forward(out: &Path, j: &Journal, faults: &Faults) -> Result<(), StagingError> {
    let staging = out.join(STAGING);
    let previous = out.join(PREVIOUS);
    let new: BTreeSet<&str> = j.new.iter().map(String::as_str).collect();
    for name in &j.old {
        let from = out.join(name);
        if fs::symlink_metadata(&from).is_err() {
            continue;
        }
        if new.contains(name.as_str()) && fs::symlink_metadata(staging.join(name)).is_err() {
            continue;
        }
        let to = previous.join(name);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        faults.step(&from).map_err(io(&from))?;
        fs::rename(&from, &to).map_err(io(&from))?;
    }
    // Folders the previous runs created and no output holds any more; recreated below if a new
    // file needs them. A folder someone else put a file into stays.
    for dir in j.manifest.dirs.iter().rev() {
        let _ = fs::remove_dir(out.join(dir));
    }
    for name in &j.new {
        let staged = staging.join(name);
        if fs::symlink_metadata(&staged).is_err() {
            continue;
        }
        let to = out.join(name);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if fs::symlink_metadata(&to).is_ok() {
            // Appeared during the commit.
            return Err(StagingError::Foreign(to));
        }
        faults.step(&to).map_err(io(&to))?;
        fs::rename(&staged, &to).map_err(io(&to))?;
    }
    let manifest = Manifest {
        files: j.manifest.files.clone(),
        dirs: j
            .manifest
            .dirs
            .iter()
            .filter(|d| out.join(d).is_dir())
            .cloned()
            .collect(),
    };
    let tmp = out.join(format!("{MANIFEST}.tmp"));
    write_sealed("manifest", &tmp, &out.join(MANIFEST), &manifest, faults)?;
    let journal = out.join(JOURNAL);
    faults.step(&journal).map_err(io(&journal))?;
    fs::remove_file(&journal).map_err(io(&journal))?;
    sync_dir(out);
    Ok(())
}

/// Undoes a commit that failed before its journal was removed: new files go back to staging,
/// old ones come back from where they were set aside, then the journal goes.
fn roll_back(out: &Path, j: &Journal, faults: &Faults) -> Result<(), StagingError> {
    let journal = out.join(JOURNAL);
    if fs::symlink_metadata(&journal).is_err() {
        // The commit was complete: nothing to undo.
        return Ok(());
    }
    let staging = out.join(STAGING);
    let previous = out.join(PREVIOUS);
    for name in j.new.iter().rev() {
        let staged = staging.join(name);
        let placed = out.join(name);
        if fs::symlink_metadata(&staged).is_err() && fs::symlink_metadata(&placed).is_ok() {
            if let Some(parent) = staged.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            faults.step(&placed).map_err(io(&placed))?;
            fs::rename(&placed, &staged).map_err(io(&placed))?;
        }
    }
    for name in j.old.iter().rev() {
        let aside = previous.join(name);
        if fs::symlink_metadata(&aside).is_ok() {
            let to = out.join(name);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            faults.step(&aside).map_err(io(&aside))?;
            fs::rename(&aside, &to).map_err(io(&aside))?;
        }
    }
    // Folders this commit created for its new files, now empty again.
    let before: BTreeSet<&String> = j.manifest.dirs.iter().collect();
    for dir in before.iter().rev() {
        let _ = fs::remove_dir(out.join(dir));
    }
    faults.step(&journal).map_err(io(&journal))?;
    fs::remove_file(&journal).map_err(io(&journal))?;
    let tmp = out.join(format!("{MANIFEST}.tmp"));
    let _ = fs::remove_file(tmp);
    // Only the folders that held what was set aside are left there.
    let _ = fs::remove_dir_all(&previous);
    sync_dir(out);
    Ok(())
}

/// Removes what a finished commit set aside and its staging folder; what is left here is
/// removed by the next run.
fn cleanup(out: &Path) {
    for leftover in [PREVIOUS, STAGING] {
        let _ = fs::remove_dir_all(out.join(leftover));
    }
}

fn remove(p: &Path) -> Result<(), StagingError> {
    let meta = fs::symlink_metadata(p).map_err(io(p))?;
    if meta.is_dir() {
        fs::remove_dir_all(p).map_err(io(p))
    } else {
        fs::remove_file(p).map_err(io(p))
    }
}

/// Fault injection for the commit's tests: in builds with debug assertions (the test suite's),
/// `ROWFERRY_FAULT=commit:N:kill` aborts the process at the commit's N-th step (1-based) and
/// `ROWFERRY_FAULT=commit:N:enospc` fails that step with "no space left on device". A release
/// build has no hook.
#[derive(Debug, Default)]
struct Faults {
    #[cfg(debug_assertions)]
    at: Option<(u32, bool)>,
    #[cfg(debug_assertions)]
    steps: std::cell::Cell<u32>,
}

impl Faults {
    fn none() -> Self {
        Faults::default()
    }

    #[cfg(debug_assertions)]
    fn from_env() -> Self {
        let at = std::env::var("ROWFERRY_FAULT").ok().and_then(|v| {
            let mut parts = v.split(':');
            if parts.next() != Some("commit") {
                return None;
            }
            let n: u32 = parts.next()?.parse().ok()?;
            let kill = match parts.next()? {
                "kill" => true,
                "enospc" => false,
                _ => return None,
            };
            Some((n, kill))
        });
        Faults {
            at,
            steps: std::cell::Cell::new(0),
        }
    }

    #[cfg(not(debug_assertions))]
    fn from_env() -> Self {
        Faults::default()
    }

    #[cfg(debug_assertions)]
    fn step(&self, _what: &Path) -> io::Result<()> {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        match self.at {
            Some((at, true)) if at == n => std::process::abort(),
            Some((at, false)) if at == n => Err(io::Error::from_raw_os_error(28)),
            _ => Ok(()),
        }
    }

    #[cfg(not(debug_assertions))]
    fn step(&self, _what: &Path) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_files_round_trip_and_refuse_tampering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal {
            old: vec!["a.csv".into()],
            new: vec!["a.csv".into(), "p/b.csv".into()],
            manifest: Manifest {
                files: ["a.csv".to_string(), "p/b.csv".to_string()].into(),
                dirs: ["p".to_string()].into(),
            },
            pending: vec![PendingCommit {
                server: "postgresql://app:***@db:5432/shop".into(),
                transaction: "7312".into(),
            }],
        };
        let path = dir.path().join(JOURNAL);
        let tmp = dir.path().join("tmp");
        write_sealed("commit", &tmp, &path, &j, &Faults::none()).expect("written");
        let back: Journal = read_sealed(&path, "commit").expect("read");
        assert_eq!(back, j);
        let text = fs::read_to_string(&path).expect("text");
        fs::write(&path, text.replace("p/b.csv", "p/c.csv")).expect("write");
        assert!(matches!(
            read_sealed::<Journal>(&path, "commit"),
            Err(StagingError::Untrusted { .. })
        ));
        fs::write(&path, "replace\n/some/dir\n").expect("write");
        assert!(matches!(
            read_sealed::<Journal>(&path, "commit"),
            Err(StagingError::Untrusted { .. })
        ));
    }

    #[test]
    fn names_outside_the_folder_are_refused() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "./a",
            "a//b",
            "",
            ".rowferry-lock",
            "a\\..\\x",
        ] {
            assert!(unsafe_name(bad).is_some(), "{bad:?}");
        }
        for good in ["a.csv", "_report/report.json", "p/.hidden", "p/..x"] {
            assert_eq!(unsafe_name(good), None, "{good:?}");
        }
    }
}
