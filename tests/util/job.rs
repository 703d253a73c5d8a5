//! The test builder: a scratch folder with a mapping and its files, the real binary run in it,
//! and what the run left behind read back.
//!
//! ```ignore
//! let job = Job::new()
//!     .mapping("[source]\npath = \"data.csv\"\n[targets.t]\npath = \"t.csv\"\n")
//!     .input("data.csv", "a\n1\n");
//! let res = job.run("run"); // rowferry run mapping.toml --out out --quiet
//! assert_eq!(res.code, 0, "{}", res.stderr);
//! assert_eq!(res.read("out/t.csv"), "a\n1\n");
//! assert_eq!(res.report()["rows"]["read"], 1);
//! ```
//!
//! Builder methods (`mapping`, `input`, `file`, `args`, `env`, …) take the job by value; `write`
//! changes a file between two runs of the same job. `run` borrows the job, so one job can be
//! run again and again in the same folder; every [`Outcome`] keeps the folder alive.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use tempfile::TempDir;

use super::{read_csv, repo};

/// A folder holding a mapping, its inputs and the outputs of its runs; every reading helper.
#[derive(Clone)]
pub struct Folder {
    dir: Rc<TempDir>,
    /// The output folder (`--out`), absolute.
    out: PathBuf,
}

impl Folder {
    /// The scratch folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The output folder given to `--out`, absolute.
    pub fn out_dir(&self) -> &Path {
        &self.out
    }

    /// `name` (relative to the scratch folder) as text.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// `name` (relative to the scratch folder) as bytes.
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// Whether `name` (relative to the scratch folder) exists.
    pub fn exists(&self, name: &str) -> bool {
        self.path().join(name).exists()
    }

    /// `name` relative to the output folder, as text.
    pub fn output(&self, name: &str) -> String {
        let path = self.out.join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// `_report/report.json` of the output folder.
    pub fn report(&self) -> serde_json::Value {
        serde_json::from_str(&self.output("_report/report.json")).expect("report.json is JSON")
    }

    /// `_report/errors.csv` as records keyed by header.
    pub fn errors(&self) -> Vec<BTreeMap<String, String>> {
        read_csv(&self.out.join("_report/errors.csv"), b',')
    }

    /// `_report/rejects.csv` as records keyed by header.
    pub fn rejects(&self) -> Vec<BTreeMap<String, String>> {
        read_csv(&self.out.join("_report/rejects.csv"), b',')
    }

    /// `(row, field, code)` of every issue of severity error.
    pub fn error_codes(&self) -> Vec<(u64, String, String)> {
        self.codes("error")
    }

    /// `(row, field, code)` of every issue of severity warning.
    pub fn warning_codes(&self) -> Vec<(u64, String, String)> {
        self.codes("warning")
    }

    fn codes(&self, severity: &str) -> Vec<(u64, String, String)> {
        self.errors()
            .into_iter()
            .filter(|e| e["severity"] == severity)
            .map(|e| {
                (
                    e["row"].parse().expect("row number"),
                    e["field"].clone(),
                    e["code"].clone(),
                )
            })
            .collect()
    }

    /// Every file of the output folder with its bytes (see [`super::tree::files`]).
    pub fn tree(&self) -> BTreeMap<String, Vec<u8>> {
        super::tree::files(&self.out)
    }

    /// The files of the output folder outside `_report/`.
    pub fn targets(&self) -> BTreeMap<String, Vec<u8>> {
        super::tree::targets_only(&self.tree())
    }
}

/// A run to be made: the folder, the mapping argument, `--out`, extra arguments, environment.
pub struct Job {
    folder: Folder,
    cwd: Option<PathBuf>,
    mapping: String,
    out_arg: String,
    quiet: bool,
    args: Vec<String>,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
}

impl Job {
    /// An empty scratch folder; the mapping will be `mapping.toml`, the output folder `out`.
    pub fn new() -> Self {
        let dir = Rc::new(tempfile::tempdir().expect("a temporary folder"));
        let out = dir.path().join("out");
        Job {
            folder: Folder { dir, out },
            cwd: None,
            mapping: "mapping.toml".to_string(),
            out_arg: "out".to_string(),
            quiet: true,
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
        }
    }

    /// A shipped mapping (`mappings/…`) run from the repository root, its outputs in the
    /// scratch folder's `out` (given as an absolute path).
    pub fn shipped(mapping: &str) -> Self {
        let mut job = Job::new();
        job.cwd = Some(repo());
        job.mapping = mapping.to_string();
        job.out_arg = job.folder.out.to_string_lossy().into_owned();
        job
    }

    /// Writes `toml` to `mapping.toml`.
    pub fn mapping(self, toml: impl AsRef<[u8]>) -> Self {
        self.file("mapping.toml", toml)
    }

    /// Writes `toml` to `name` and runs that mapping instead of `mapping.toml`.
    pub fn mapping_at(mut self, name: &str, toml: impl AsRef<[u8]>) -> Self {
        self.mapping = name.to_string();
        self.file(name, toml)
    }

    /// Writes the input file `name` (the mapping's `[source] path`).
    pub fn input(self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        self.file(name, contents)
    }

    /// Writes any file (a lookup, a file already in the output folder…), folders created.
    pub fn file(self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        self.write(name, contents);
        self
    }

    /// Arguments added to every run of this job (`--set …`, `--limit 2`…).
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Removes an environment variable from every run.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env_remove.push(key.to_string());
        self
    }

    /// Runs without `--quiet`, so that the terminal summary is printed.
    pub fn loud(mut self) -> Self {
        self.quiet = false;
        self
    }

    /// Writes `name` now: a change between two runs of this job.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(path, contents).expect("write fixture");
        self
    }

    /// `rowferry CMD MAPPING [--out OUT] [--quiet] ARGS…`: `--out` for every command but
    /// `check`, `--quiet` unless [`Job::loud`].
    pub fn command(&self, cmd: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rowferry"));
        command
            .current_dir(self.cwd.as_deref().unwrap_or(self.path()))
            .arg(cmd)
            .arg(&self.mapping);
        if cmd != "check" {
            command.args(["--out", &self.out_arg]);
            if self.quiet {
                command.arg("--quiet");
            }
        }
        command.args(&self.args);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        for k in &self.env_remove {
            command.env_remove(k);
        }
        command
    }

    /// Runs `rowferry CMD …` (see [`Job::command`]) and waits for it.
    pub fn run(&self, cmd: &str) -> Outcome {
        self.run_with(cmd, &[])
    }

    /// [`Job::run`] with arguments for this run only.
    pub fn run_with(&self, cmd: &str, extra: &[&str]) -> Outcome {
        let mut command = self.command(cmd);
        command.args(extra);
        self.output(&mut command)
    }

    /// `rowferry ARGS` exactly as given, in the job's working folder (no mapping, `--out` or
    /// `--quiet` added; the job's environment still applies).
    pub fn exec(&self, args: &[&str]) -> Outcome {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rowferry"));
        command
            .current_dir(self.cwd.as_deref().unwrap_or(self.path()))
            .args(args);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        for k in &self.env_remove {
            command.env_remove(k);
        }
        self.output(&mut command)
    }

    /// Runs a command made by [`Job::command`] and perhaps changed (an environment variable
    /// for this run only…), and waits for it.
    pub fn output(&self, command: &mut Command) -> Outcome {
        let out = command.output().expect("the rowferry binary runs");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir: self.folder.clone(),
        }
    }
}

impl Default for Job {
    fn default() -> Self {
        Job::new()
    }
}

impl Deref for Job {
    type Target = Folder;
    fn deref(&self) -> &Folder {
        &self.folder
    }
}

/// What one run did: exit code, both streams, and the folder it ran in (kept alive).
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: Folder,
}

impl Outcome {
    /// stdout then stderr, cleaned for a snapshot (see [`super::clean::clean`]).
    pub fn screen(&self) -> String {
        let mut text = String::new();
        if !self.stdout.is_empty() {
            text.push_str("--- stdout\n");
            text.push_str(&self.stdout);
        }
        if !self.stderr.is_empty() {
            text.push_str("--- stderr\n");
            text.push_str(&self.stderr);
        }
        format!(
            "exit code {}\n{}",
            self.code,
            super::clean::clean(&text, self)
        )
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outcome")
            .field("code", &self.code)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("dir", &self.path())
            .finish()
    }
}

impl Deref for Outcome {
    type Target = Folder;
    fn deref(&self) -> &Folder {
        &self.dir
    }
}
