//! Helpers: run the real binary in a fresh temporary folder and read back what it wrote.
//! New tests use [`Job`] (`job.rs`); `Project` and `rowferry` are the older, lower-level way.

#![allow(dead_code)]

pub mod clean;
pub mod http_server;
pub mod job;
pub mod pg;
pub mod tree;

pub use clean::snapshots;
pub use job::{Job, Outcome};
pub use tree::{at, check_report_files, names, report_target, sha256_hex, targets_only};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `rowferry ARGS` in `cwd`.
pub fn rowferry(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_rowferry"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the rowferry binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A scratch folder holding a mapping, its inputs and the outputs of a run.
pub struct Project {
    pub dir: TempDir,
}

impl Project {
    pub fn new() -> Self {
        Project {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `name` (folders created as needed).
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(path, contents).expect("write fixture");
        self
    }

    /// `rowferry ARGS` inside the project folder.
    pub fn run(&self, args: &[&str]) -> Run {
        rowferry(self.path(), args)
    }

    /// `rowferry validate mapping.toml --out out`.
    pub fn validate(&self) -> Run {
        self.run(&["validate", "mapping.toml", "--out", "out", "--quiet"])
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// `out/_report/errors.csv` as records keyed by header.
    pub fn errors(&self) -> Vec<BTreeMap<String, String>> {
        read_csv(&self.path().join("out/_report/errors.csv"), b',')
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

    pub fn report(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("out/_report/report.json")).expect("report.json is JSON")
    }
}

/// A CSV file as records keyed by header.
pub fn read_csv(path: &Path, delimiter: u8) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let header = r.headers().expect("a header").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("a record");
            header
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A mapping over `data.csv` (comma-delimited) with the given field declarations.
pub fn mapping(fields: &str) -> String {
    format!(
        "[source]\npath = \"data.csv\"\ndelimiter = \",\"\nstructure = \"s\"\n\n[structures.s.fields]\n{fields}\n"
    )
}
