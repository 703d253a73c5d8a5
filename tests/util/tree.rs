//! Output folders as maps of files, and the checks every run's outputs must pass: report.json
//! lists exactly the files on disk, with their sizes, hashes and rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Every file under `dir`, by path relative to it (with `/`), with its bytes; the folder's lock
/// and manifest (rowferry's bookkeeping, not outputs) left out.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    if dir.is_dir() {
        walk(dir, dir, &mut out);
    }
    out.retain(|name, _| name != ".rowferry-lock" && name != ".rowferry-manifest");
    out
}

/// The files of a tree outside `_report/`.
pub fn targets_only(s: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    s.iter()
        .filter(|(k, _)| !k.starts_with("_report/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A tree without `report.json` and `report.html`, which differ from run to run (times, paths).
pub fn without_report(mut s: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    s.remove("_report/report.json");
    s.remove("_report/report.html");
    s
}

/// The file names of a tree.
pub fn names(s: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    s.keys().map(String::as_str).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `mapping.toml:LINE:COL` of the first occurrence of `needle` in `text` (1-based).
pub fn at(text: &str, needle: &str) -> String {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not in the mapping"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    format!("mapping.toml:{line}:{col}")
}

/// The target `name` of a report.json.
pub fn report_target<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target `{name}` in the report"))
}

/// Every file listed in report.json's targets matches the file on disk: size, sha256, rows
/// (CSV with header, JSON arrays); and every file outside `_report` is listed.
pub fn check_report_files(out: &Path) {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("_report/report.json")).unwrap())
            .unwrap();
    let mut listed = BTreeSet::new();
    for t in r["targets"].as_array().unwrap() {
        let mut total = 0;
        for f in t["files"].as_array().unwrap() {
            let rel = f["path"].as_str().unwrap();
            let bytes = std::fs::read(out.join(rel)).unwrap();
            assert_eq!(f["bytes"], bytes.len() as u64, "{rel}");
            assert_eq!(f["sha256"], sha256_hex(&bytes), "{rel}");
            total += f["rows"].as_u64().unwrap();
            assert!(listed.insert(rel.to_string()), "{rel} listed twice");
        }
        assert_eq!(t["rows"], total, "target {}", t["name"]);
    }
    let on_disk: BTreeSet<String> = targets_only(&files(out)).into_keys().collect();
    assert_eq!(listed, on_disk);
}
