//! `_report/report.html`: the run for a person, one self-contained page.
//!
//! Rendered from what `report.json` holds (as a JSON value, so the page written at the run's end
//! and the one rewritten when deliveries amend `report.json` come from the same code) and the
//! first lines of `errors.csv` (the worst rows). The page loads nothing: its style is inline, its
//! bars are CSS, it has no script, so it reads offline and in a mail attachment. Every string
//! in it is escaped by [`escape`]: values are the user's data.
//!
//! Must not know: the pipeline, formats, rules — only the report's files.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::ReportError;

/// Rows of `errors.csv` shown as the worst rows.
const WORST_ROWS: usize = 50;

/// Bars shown per chart; the rest are summed in one line.
const BARS: usize = 30;

/// Writes `report.html` in the report folder `dir` from `report` (what `report.json` holds) and
/// `dir/errors.csv`: written to `tmp` first, then renamed, so a reader never sees half a page.
pub fn write(dir: &Path, report: &Value, tmp: &Path) -> Result<(), ReportError> {
    let worst = worst_rows(&dir.join("errors.csv"), WORST_ROWS);
    let page = render(report, &worst);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { path, source }
    };
    fs::write(tmp, page).map_err(io(tmp))?;
    let path = dir.join("report.html");
    fs::rename(tmp, &path).map_err(io(&path))
}

/// One line of `errors.csv`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorLine {
    pub row: String,
    pub line: String,
    pub stage: String,
    pub code: String,
    pub field: String,
    pub column: String,
    pub value: String,
    pub message: String,
    pub severity: String,
}

/// The first `n` lines of `errors.csv`, in the order written (by row). A file that cannot be
/// read gives none: the page is a view, and `errors.csv` itself is the record.
fn worst_rows(path: &Path, n: usize) -> Vec<ErrorLine> {
    let Ok(mut reader) = csv::ReaderBuilder::new().flexible(true).from_path(path) else {
        return Vec::new();
    };
    let at = |r: &csv::StringRecord, i: usize| r.get(i).unwrap_or_default().to_string();
    reader
        .records()
        .take(n)
        .map_while(Result::ok)
        .map(|r| ErrorLine {
            row: at(&r, 0),
            line: at(&r, 1),
            stage: at(&r, 2),
            code: at(&r, 3),
            field: at(&r, 4),
            column: at(&r, 5),
            value: at(&r, 6),
            message: at(&r, 7),
            severity: at(&r, 8),
        })
        .collect()
}

/// Text made safe in HTML text and in a double- or single-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d232a;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:16px 20px;margin:16px 0}
.meta{color:#5a6570}
.eq{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.eq span.n{padding:0 4px}
.ok{color:#116329}.bad{color:#b3261e}.warn{color:#8a5a00}
.badge{display:inline-block;border-radius:12px;padding:2px 12px;font-weight:600;color:#fff}
.badge.ok{background:#1a7f37}.badge.bad{background:#b3261e}.badge.warn{background:#9a6700}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceef1;vertical-align:top}
td.num,th.num{text-align:right}
.bar{display:flex;align-items:center;gap:8px;margin:3px 0}
.bar .label{width:260px;overflow-wrap:anywhere}
.bar .track{flex:1;background:#eceef1;border-radius:3px;height:14px;display:flex}
.bar .e{background:#cf222e;height:14px}.bar .w{background:#d4a72c;height:14px}
.bar .count{width:110px;text-align:right;font-variant-numeric:tabular-nums}
mark{background:#ffd8d3;color:#7d1a12;padding:0 2px;border-radius:2px;white-space:pre-wrap}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
dl{display:grid;grid-template-columns:200px 1fr;gap:2px 12px;margin:0}dt{color:#5a6570}dd{margin:0;overflow-wrap:anywhere}
";

/// The page for `report` (what `report.json` holds) with `worst`, the first lines of
/// `errors.csv`.
pub fn render(report: &Value, worst: &[ErrorLine]) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let s = |v: &Value| escape(&text(v));
    let command = text(&report["command"]);
    let mapping = &report["mapping"];
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>rowferry {} · {}</title><style>{STYLE}</style></head><body><main>\n",
        escape(&command),
        s(&mapping["name"]),
    );
    let _ = write!(
        h,
        "<h1>rowferry {} · {}</h1><p class=\"meta\">mapping <code>{}</code> · started {} · {} {}</p>",
        escape(&command),
        s(&mapping["name"]),
        s(&mapping["path"]),
        s(&report["started_at"]),
        s(&report["tool"]["name"]),
        s(&report["tool"]["version"]),
    );
    conservation(&mut h, report);
    targets(&mut h, report);
    issues(&mut h, report);
    worst_section(&mut h, worst);
    input(&mut h, report);
    timings(&mut h, report);
    h.push_str("</main></body></html>\n");
    h
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// A count with thousands separators: `1,234,567`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn conservation(h: &mut String, r: &Value) {
    let rows = &r["rows"];
    let holds = r["conservation"]["holds"].as_bool().unwrap_or(false);
    let status = text(&r["status"]);
    let rejected = number(&rows["rejected"]);
    let class = if !holds || status != "completed" {
        "bad"
    } else if rejected > 0 {
        "warn"
    } else {
        "ok"
    };
    let _ = write!(
        h,
        "<section id=\"outcome\"><h2>Outcome <span class=\"badge {class}\">{}</span></h2>",
        escape(&status)
    );
    if let Some(reason) = r["stop_reason"].as_str() {
        let _ = write!(h, "<p class=\"bad\">Stopped: {}</p>", escape(reason));
    }
    let n = |k: &str| format!("<span class=\"n\">{}</span>", count(number(&rows[k])));
    let _ = write!(
        h,
        "<p class=\"eq\" id=\"equation\">{} read = {} skipped + {} accepted + <span class=\"{}\">{} rejected</span></p>",
        n("read"),
        n("skipped"),
        n("accepted"),
        if rejected > 0 { "bad" } else { "ok" },
        n("rejected"),
    );
    if !r["conservation"]["routing"].is_null() {
        let _ = write!(
            h,
            "<p class=\"eq\" id=\"routing\">{} accepted = {} routed + {} unrouted</p>",
            n("accepted"),
            n("routed"),
            n("unrouted"),
        );
    }
    let _ = write!(
        h,
        "<p class=\"{}\">{}</p></section>",
        if holds { "ok" } else { "bad" },
        if holds {
            "Every row is accounted for."
        } else {
            "The counts do not add up: the run was not committed as complete."
        }
    );
}

fn targets(h: &mut String, r: &Value) {
    let empty = Vec::new();
    let targets = r["targets"].as_array().unwrap_or(&empty);
    h.push_str("<section id=\"targets\"><h2>Targets</h2>");
    if r["command"] == "validate" && !targets.is_empty() {
        h.push_str("<p class=\"meta\">Not written (validate): the rows each target would get.</p>");
    }
    if targets.is_empty() {
        h.push_str("<p class=\"meta\">No target (a validation only).</p>");
    } else {
        h.push_str(
            "<table><tr><th>target</th><th>format</th><th>where</th><th class=\"num\">rows</th>\
             <th class=\"num\">refused</th><th class=\"num\">files</th><th class=\"num\">bytes</th></tr>",
        );
        for t in targets {
            let files = t["files"].as_array().unwrap_or(&empty);
            let bytes: u64 = files.iter().map(|f| number(&f["bytes"])).sum();
            let place = match t["table"].as_str() {
                Some(table) => format!("{} · table {}", text(&t["path"]), table),
                None => text(&t["path"]),
            };
            let refused = if t["refused"].is_null() {
                String::new()
            } else {
                count(number(&t["refused"]))
            };
            let _ = write!(
                h,
                "<tr><td><b>{}</b></td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&text(&t["name"])),
                escape(&text(&t["format"])),
                escape(&place),
                count(number(&t["rows"])),
                refused,
                count(files.len() as u64),
                count(bytes),
            );
        }
        h.push_str("</table>");
        let all: Vec<&Value> = targets
            .iter()
            .flat_map(|t| t["files"].as_array().unwrap_or(&empty))
            .collect();
        if !all.is_empty() {
            h.push_str(
                "<h2>Files</h2><table><tr><th>file</th><th class=\"num\">rows</th>\
                 <th class=\"num\">bytes</th><th>sha256</th></tr>",
            );
            for f in all.iter().take(200) {
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
                    escape(&text(&f["path"])),
                    count(number(&f["rows"])),
                    count(number(&f["bytes"])),
                    escape(&text(&f["sha256"])),
                );
            }
            if all.len() > 200 {
                let _ = write!(
                    h,
                    "<tr><td colspan=\"4\" class=\"meta\">… and {} more files in report.json</td></tr>",
                    count(all.len() as u64 - 200)
                );
            }
            h.push_str("</table>");
        }
    }
    if let Some(deliveries) = r.get("deliveries").filter(|d| !d.is_null()) {
        h.push_str("<h2>Deliveries</h2>");
        match deliveries {
            Value::Array(items) => {
                // One row per target sent to an API; the columns are the first one's keys.
                let keys: Vec<String> = items
                    .first()
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                h.push_str("<table id=\"deliveries\"><tr>");
                for k in &keys {
                    let _ = write!(h, "<th>{}</th>", escape(&k.replace('_', " ")));
                }
                h.push_str("</tr>");
                for d in items {
                    h.push_str("<tr>");
                    for k in &keys {
                        let _ = write!(h, "<td>{}</td>", escape(&text(&d[k.as_str()])));
                    }
                    h.push_str("</tr>");
                }
                h.push_str("</table>");
            }
            Value::Object(map) => {
                h.push_str("<table>");
                for (name, d) in map {
                    let _ = write!(h, "<tr><td><b>{}</b></td>{}</tr>", escape(name), cells(d));
                }
                h.push_str("</table>");
            }
            other => {
                let _ = write!(h, "<p>{}</p>", escape(&text(other)));
            }
        }
    }
    h.push_str("</section>\n");
}

/// A JSON value's scalar members as table cells `key: value` (nested values as compact JSON).
fn cells(v: &Value) -> String {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("<td>{}: {}</td>", escape(k), escape(&text(v))))
            .collect(),
        other => format!("<td>{}</td>", escape(&text(other))),
    }
}

/// A horizontal bar: errors then warnings, scaled to `max`.
fn bar(h: &mut String, label: &str, errors: u64, warnings: u64, max: u64) {
    let pct = |n: u64| n as f64 * 100.0 / max.max(1) as f64;
    let _ = write!(
        h,
        "<div class=\"bar\"><span class=\"label\"><code>{}</code></span><span class=\"track\">\
         <span class=\"e\" style=\"width:{:.2}%\"></span><span class=\"w\" style=\"width:{:.2}%\"></span></span>\
         <span class=\"count\">{}</span></div>",
        escape(label),
        pct(errors),
        pct(warnings),
        count(errors + warnings),
    );
}

fn issues(h: &mut String, r: &Value) {
    let issues = &r["issues"];
    let _ = write!(
        h,
        "<section id=\"issues\"><h2>Issues</h2><p><span class=\"bad\">{} errors</span> · \
         <span class=\"warn\">{} warnings</span> <span class=\"meta\">(red: errors, amber: warnings)</span></p>",
        count(number(&issues["errors"])),
        count(number(&issues["warnings"])),
    );
    let mut by_code: Vec<(String, u64, u64)> = issues["by_code"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(c, n)| (c.clone(), number(&n["errors"]), number(&n["warnings"])))
                .collect()
        })
        .unwrap_or_default();
    let mut by_field: Vec<(String, u64)> = issues["by_field"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(f, codes)| {
                    let n = codes
                        .as_object()
                        .map(|c| c.values().map(number).sum())
                        .unwrap_or(0);
                    (f.clone(), n)
                })
                .collect()
        })
        .unwrap_or_default();
    if by_code.is_empty() {
        h.push_str("<p class=\"ok\">No issue.</p></section>\n");
        return;
    }
    by_code.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
    by_field.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    h.push_str("<h2>By code</h2><div id=\"by-code\">");
    let max = by_code.first().map_or(1, |c| c.1 + c.2);
    for (code, e, w) in by_code.iter().take(BARS) {
        bar(h, code, *e, *w, max);
    }
    more(h, by_code.len());
    h.push_str("</div><h2>By field</h2><div id=\"by-field\">");
    let max = by_field.first().map_or(1, |f| f.1);
    for (field, n) in by_field.iter().take(BARS) {
        bar(h, field, *n, 0, max);
    }
    more(h, by_field.len());
    h.push_str("</div></section>\n");
}

fn more(h: &mut String, len: usize) {
    if len > BARS {
        let _ = write!(
            h,
            "<p class=\"meta\">… and {} more in report.json</p>",
            len - BARS
        );
    }
}

fn worst_section(h: &mut String, worst: &[ErrorLine]) {
    h.push_str("<section id=\"worst\"><h2>First issues</h2>");
    if worst.is_empty() {
        h.push_str("<p class=\"ok\">None.</p></section>\n");
        return;
    }
    let _ = write!(
        h,
        "<p class=\"meta\">The first {} lines of <code>errors.csv</code>; the offending value is highlighted.</p>\
         <table><tr><th class=\"num\">row</th><th class=\"num\">line</th><th>code</th><th>field</th>\
         <th>value</th><th>message</th></tr>",
        worst.len()
    );
    for e in worst {
        let class = if e.severity == "warning" {
            "warn"
        } else {
            "bad"
        };
        let field = if e.column.is_empty() || e.column == e.field {
            escape(&e.field)
        } else {
            format!(
                "{} <span class=\"meta\">(column {})</span>",
                escape(&e.field),
                escape(&e.column)
            )
        };
        let _ = write!(
            h,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{class}\"><code>{}</code></td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.row),
            escape(&e.line),
            escape(&e.code),
            field,
            if e.value.is_empty() {
                "<span class=\"meta\">(empty)</span>".to_string()
            } else {
                format!("<mark>{}</mark>", escape(&e.value))
            },
            escape(&e.message),
        );
    }
    h.push_str("</table></section>\n");
}

fn input(h: &mut String, r: &Value) {
    let i = &r["input"];
    let detected = |v: &Value, key: &str| {
        let mut t = text(v);
        if i[key].as_bool() == Some(true) {
            t.push_str(" (detected)");
        }
        t
    };
    let mut rows: Vec<(&str, String)> = vec![
        ("path", text(&i["path"])),
        ("format", text(&i["format"])),
        ("size", format!("{} bytes", count(number(&i["bytes"])))),
        ("sha256", text(&i["sha256"])),
        ("encoding", detected(&i["encoding"], "encoding_detected")),
    ];
    if let Some(e) = i["encoding_evidence"].as_str() {
        rows.push(("encoding evidence", e.to_string()));
    }
    if i["bom"].as_bool() == Some(true) {
        rows.push(("byte order mark", "yes".into()));
    }
    if !i["delimiter"].is_null() {
        rows.push(("delimiter", detected(&i["delimiter"], "delimiter_sniffed")));
    }
    if !i["quote"].is_null() {
        rows.push(("quote", detected(&i["quote"], "quote_sniffed")));
    }
    if !i["sheet"].is_null() {
        rows.push(("sheet", text(&i["sheet"])));
    }
    rows.push((
        "header row",
        if i["has_header"].as_bool() == Some(false) {
            "none".into()
        } else {
            detected(&i["header_row"], "header_row_detected")
        },
    ));
    if let Some(cols) = i["columns"].as_array() {
        let names: Vec<String> = cols.iter().map(text).collect();
        rows.push(("columns", names.join(", ")));
    }
    if let Some(lookups) = r["lookups"].as_array() {
        for l in lookups {
            rows.push((
                "lookup",
                format!(
                    "{} · {} · {} rows",
                    text(&l["name"]),
                    text(&l["path"]),
                    count(number(&l["rows"]))
                ),
            ));
        }
    }
    h.push_str("<section id=\"input\"><h2>Input</h2><dl>");
    for (k, v) in rows {
        let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    h.push_str("</dl></section>\n");
}

fn timings(h: &mut String, r: &Value) {
    h.push_str("<section id=\"timings\"><h2>Timings and resources</h2><dl>");
    if let Some(d) = r["durations_ms"].as_object() {
        for (k, v) in d {
            let _ = write!(h, "<dt>{}</dt><dd>{} ms</dd>", escape(k), count(number(v)));
        }
    }
    let res = &r["resources"];
    let ms = |v: &Value| {
        v.as_u64()
            .map_or("—".to_string(), |n| format!("{} ms", count(n)))
    };
    let _ = write!(
        h,
        "<dt>peak memory</dt><dd>{}</dd><dt>CPU user</dt><dd>{}</dd><dt>CPU system</dt><dd>{}</dd>",
        res["peak_rss_bytes"]
            .as_u64()
            .map_or("—".to_string(), |b| format!(
                "{:.1} MiB",
                b as f64 / 1048576.0
            )),
        ms(&res["cpu_user_ms"]),
        ms(&res["cpu_system_ms"]),
    );
    h.push_str("</dl></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::json!({
            "tool": {"name": "rowferry", "version": "0.1.0"},
            "command": "validate",
            "status": "completed",
            "started_at": "2026-01-01T00:00:00Z",
            "mapping": {"name": "<b>m</b>", "path": "m.toml"},
            "input": {"path": "in.csv", "bytes": 1234, "encoding": "UTF-8", "header_row": 1,
                      "has_header": true, "columns": ["id", "<img src=x>"]},
            "rows": {"read": 10, "skipped": 1, "accepted": 6, "rejected": 3, "routed": 5, "unrouted": 1},
            "conservation": {"equation": "", "routing": "", "holds": true},
            "issues": {"errors": 3, "warnings": 1,
                       "by_code": {"pattern": {"errors": 3, "warnings": 0}, "enum": {"errors": 0, "warnings": 1}},
                       "by_field": {"email": {"pattern": 3}}},
            "targets": [{"name": "crm", "path": "crm.csv", "format": "csv", "rows": 5,
                         "files": [{"path": "crm.csv", "rows": 5, "bytes": 99, "sha256": "ab"}]}],
            "durations_ms": {"plan": 1, "run": 2, "total": 3},
            "resources": {"peak_rss_bytes": null, "cpu_user_ms": 5, "cpu_system_ms": null}
        })
    }

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn page_shows_the_counts_and_escapes_user_data() {
        let worst = [ErrorLine {
            row: "3".into(),
            code: "pattern".into(),
            field: "email".into(),
            value: "<script>alert(1)</script>".into(),
            message: "not an email".into(),
            severity: "error".into(),
            ..ErrorLine::default()
        }];
        let page = render(&sample(), &worst);
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script"), "no script element");
        assert!(!page.contains("<img"), "column names are escaped");
        assert!(!page.contains("<b>m</b>"), "the mapping's name is escaped");
        assert!(page.contains(">10</span> read"));
        assert!(page.contains(">3</span> rejected"));
        assert!(page.contains("routed"));
        assert!(page.contains("<code>pattern</code>"));
        assert!(page.contains("<b>crm</b>"));
    }

    #[test]
    fn page_is_self_contained() {
        let page = render(&sample(), &[]);
        for external in [
            "http://", "https://", "src=\"", "href=\"", "<link", "<script", "@import", "url(",
        ] {
            assert!(!page.contains(external), "the page refers to `{external}`");
        }
    }

    #[test]
    fn deliveries_are_a_table_of_escaped_values() {
        let mut r = sample();
        r["deliveries"] = serde_json::json!([
            {"target": "api", "acknowledged": 2, "refused": 1, "last": "<i>422</i>"}
        ]);
        let page = render(&r, &[]);
        assert!(page.contains("<h2>Deliveries</h2>"));
        assert!(page.contains("<th>acknowledged</th>"));
        assert!(page.contains("<td>api</td>"));
        assert!(page.contains("&lt;i&gt;422&lt;/i&gt;"));
        assert!(!page.contains("<i>"));
    }

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
    }

    #[test]
    fn worst_rows_read_errors_csv() {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let dir = tmp.path();
        fs::write(
            dir.join("errors.csv"),
            "row,line,stage,code,field,column,value,message,severity\n\
             2,2,validate,pattern,email,Email,x@,not an email,error\n\
             3,3,validate,enum,c,C,Z,not allowed,warning\n",
        )
        .expect("the scratch folder is writable");
        let rows = worst_rows(&dir.join("errors.csv"), 1);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].value, "x@");
        assert_eq!(rows[0].column, "Email");
        write(dir, &sample(), &dir.join("report.html.tmp"))
            .expect("the scratch folder is writable");
        let page =
            fs::read_to_string(dir.join("report.html")).expect("the scratch folder is writable");
        assert!(page.contains("<mark>x@</mark>"));
    }
}
