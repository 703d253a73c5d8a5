//! `rowferry infer FILE`: a mapping for an export nobody described yet — the `[source]` as
//! detection reads it (format, encoding, delimiter, quote, header row), one field per column
//! with the narrowest type every value fits, and a passthrough target — that `check` and
//! `validate` accept as it is.
//!
//! The whole file is read once, in bounded memory: per column, counters, the candidate types
//! still standing (each value can only rule some out) and at most [`DISTINCT`] distinct values
//! (past them, no `enum` and no `unique` is claimed). Choices, in order: a column with no value
//! is text; `boolean` when every value is one of a pair of words (true/false, yes/no, oui/non,
//! y/n, t/f, vrai/faux); `integer` (a leading zero keeps an identifier as text); `decimal` with
//! its separator and the largest scale seen; `date`/`datetime` with the one format every value
//! reads with (day first when both read, said in a comment); `uuid`, `email`, `url`; else text.
//! `required` when no value is empty; `unique` when every row has its own value; `enum` for text
//! with few distinct values over many rows. Comments say from how many values each was decided.

mod column;

use std::path::Path;

use column::Column;

use crate::plan::{self, PlanError};
use crate::source::{ReadOptions, Source, SourceError};

/// Distinct values kept per column.
pub const DISTINCT: usize = 1000;

/// Why no mapping could be inferred.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("`{}` has no column to infer a field from", .0.display())]
    NoColumn(std::path::PathBuf),
}

/// The mapping for `file` (a `sheet` of a workbook), as TOML, with `file`'s path written
/// relative to `mapping_dir`, where the mapping will be.
/// A progress bar shows on stderr unless `quiet` (or stderr is not a terminal).
pub fn infer(
    file: &Path,
    sheet: Option<&str>,
    mapping_dir: &Path,
    quiet: bool,
) -> Result<String, InferError> {
    let shown = relative(file, mapping_dir);
    let mut text = format!("[source]\npath = {}\n", quoted(&shown));
    if let Some(s) = sheet {
        text.push_str(&format!("sheet = {}\n", quoted(s)));
    }
    let plan = plan::parse(&mapping_dir.join("inferred.toml"), &text, None, &[])?;
    let mut source = Source::open(&plan.source, &ReadOptions { limit: None })?;
    let info = source.info().clone();
    if info.header.is_empty() {
        return Err(InferError::NoColumn(file.to_path_buf()));
    }
    let mut columns: Vec<Column> = info.header.iter().map(|_| Column::default()).collect();
    let mut rows = 0u64;
    let read = source.progress();
    let bar = bar(&info, quiet);
    while let Some(chunk) = source.next_chunk(crate::source::CHUNK_ROWS)? {
        rows += chunk.rows.len() as u64;
        bar.set_position(read.load(std::sync::atomic::Ordering::Relaxed));
        bar.set_message(format!("{} rows", group(rows)));
        for (i, c) in columns.iter_mut().enumerate() {
            let Ok(values) = chunk
                .frame
                .column(&format!("#{i}"))
                .and_then(|c| c.str().cloned())
            else {
                continue;
            };
            for v in values.iter() {
                c.see(v.unwrap_or(""));
            }
        }
    }
    bar.finish_and_clear();
    Ok(render(&info, &shown, &columns, rows, file))
}

/// The bar on stderr while the export is read: hidden when quiet or not on a terminal.
fn bar(info: &crate::source::SourceInfo, quiet: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar =
        ProgressBar::with_draw_target(Some(info.progress_total), ProgressDrawTarget::stderr());
    let template = match info.progress_unit {
        crate::source::ProgressUnit::Bytes => {
            "{spinner} {bar:20} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {wide_msg}"
        }
        crate::source::ProgressUnit::Rows => {
            "{spinner} {bar:20} {human_pos}/{human_len} rows ({per_sec}, {eta}) {wide_msg}"
        }
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// The mapping's text.
fn render(
    info: &crate::source::SourceInfo,
    path: &str,
    columns: &[Column],
    rows: u64,
    file: &Path,
) -> String {
    let stem = file
        .file_stem()
        .map(|s| snake(&s.to_string_lossy()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "data".into());
    let mut s = format!(
        "# A mapping rowferry inferred from {} ({} rows): check its guesses, then\n#   rowferry validate THIS_FILE\n\n",
        file.display(),
        group(rows)
    );
    s.push_str("[source]\n");
    s.push_str(&format!("path = {}\n", quoted(path)));
    if info.format == "csv" {
        s.push_str(&format!(
            "encoding = {}\n",
            quoted(&info.encoding.to_ascii_lowercase())
        ));
        s.push_str(&format!(
            "delimiter = {}\n",
            quoted(&char::from(info.delimiter).to_string())
        ));
        s.push_str(&format!(
            "quote = {}\n",
            quoted(&char::from(info.quote).to_string())
        ));
    }
    if let Some(sheet) = &info.sheet {
        s.push_str(&format!("sheet = {}\n", quoted(sheet)));
    }
    if info.header_row > 1 {
        s.push_str(&format!(
            "header_row = {}    # the lines above it are a title block\n",
            info.header_row
        ));
    }
    s.push_str(&format!("structure = {}\n\n", quoted(&stem)));
    s.push_str(&format!("[structures.{stem}.fields]\n"));
    let mut taken: Vec<String> = Vec::new();
    for (header, c) in info.header.iter().zip(columns) {
        let mut name = snake(header);
        if name.is_empty() || name.starts_with(|ch: char| ch.is_ascii_digit()) {
            name = format!("column_{}", taken.len() + 1);
        }
        let base = name.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        taken.push(name.clone());
        s.push_str(&format!("# {}\n", c.evidence()));
        let mut spec: Vec<String> = Vec::new();
        if &name != header {
            spec.push(format!("column = {}", quoted(header)));
        }
        spec.extend(c.spec(rows));
        s.push_str(&format!("{name} = {{ {} }}\n", spec.join(", ")));
    }
    s.push_str("\n# Every field, as read and typed: add targets of your own.\n[targets.all]\npath = \"all.csv\"\n");
    s
}

/// `value` as a TOML string.
pub(super) fn quoted(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}

/// `n` with thousands separators: `1,000,000`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A header as a field name: lower case, accents folded, runs of other characters as `_`.
fn snake(header: &str) -> String {
    let mut out = String::new();
    for ch in header.trim().chars() {
        let folded = match ch {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => {
                'a'
            }
            'ç' | 'Ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
            'ñ' | 'Ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
            c => c,
        };
        if folded.is_ascii_alphanumeric() {
            out.push(folded.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// `file` as the mapping in `dir` names it: relative when it can be.
fn relative(file: &Path, dir: &Path) -> String {
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (file_abs, dir_abs) = (absolute(file), absolute(dir));
    let mut common = 0;
    let f: Vec<_> = file_abs.components().collect();
    let d: Vec<_> = dir_abs.components().collect();
    while common < f.len() && common < d.len() && f[common] == d[common] {
        common += 1;
    }
    if common == 0 {
        return file_abs.display().to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    parts.extend(std::iter::repeat_n("..".to_string(), d.len() - common));
    parts.extend(
        f[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::{group, snake};

    #[test]
    fn headers_become_snake_case_names() {
        assert_eq!(snake("Prix TTC"), "prix_ttc");
        assert_eq!(snake("Date de création"), "date_de_creation");
        assert_eq!(snake("  E-mail (pro) "), "e_mail_pro");
        assert_eq!(snake("SKU"), "sku");
        assert_eq!(group(1_000_000), "1,000,000");
        assert_eq!(group(42), "42");
    }
}
