//! XLSX targets: the worksheet's name, by Excel's rules.

use super::super::Compiler;
use crate::plan::Format;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawTarget;

impl Compiler {
    /// XLSX: the worksheet's name (Excel's rules), by default the target's.
    pub(in crate::plan::compile) fn target_sheet(
        &mut self,
        t: &RawTarget,
        name: &str,
        format: Option<Format>,
    ) -> String {
        let Some(s) = &t.sheet else {
            return sheet_name(name);
        };
        if format.is_some() && format != Some(Format::Xlsx) {
            self.err(
                Diagnostic::at(s.span(), "`sheet` applies to XLSX targets only")
                    .label("not used by this format"),
            );
            return String::new();
        }
        let v = s.get_ref();
        // A declared name is never shortened behind the user's back: longer than Excel's 31
        // characters is an error here, while the workbook writer shortens only default names.
        let problem = sheet_name_problem(v)
            .or((v.encode_utf16().count() > 31).then_some("it is longer than 31 characters"));
        if let Some(reason) = problem {
            self.err(
                Diagnostic::at(s.span(), format!("`{v}` is not a valid Excel sheet name: {reason}"))
                    .label("invalid sheet name")
                    .help("a sheet name has 1 to 31 characters, none of [ ] : * ? / \\, does not start or end with ' and is not `History`"),
            );
        }
        v.clone()
    }
}

/// A target's name as a default sheet name: Excel's forbidden characters replaced, 31 at most.
fn sheet_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(31)
        .collect();
    let s = s.trim_matches('\'').to_string();
    if s.is_empty() || s.eq_ignore_ascii_case("history") {
        "Sheet1".into()
    } else {
        s
    }
}

/// Why `name` cannot be an Excel sheet name, if it cannot; a name longer than 31 characters is
/// fine here (the writer shortens a default name; the plan refuses a declared one).
pub fn sheet_name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("it is blank")
    } else if name.contains(['[', ']', ':', '*', '?', '/', '\\']) {
        Some("it contains one of [ ] : * ? / \\")
    } else if name.starts_with('\'') || name.ends_with('\'') {
        Some("it starts or ends with an apostrophe")
    } else if name.eq_ignore_ascii_case("history") {
        Some("Excel reserves `History`")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}
