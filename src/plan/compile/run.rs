//! `[run]` (`mappings/README.md` §8): the run's policies — error thresholds, `min_rows`,
//! unrouted rows, open files, the formula guard and the memory of grouped targets.

use super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawRun;
use crate::plan::{FormulaGuard, RunPolicy, Unrouted};

const DEFAULT_MIN_ROWS: u64 = 1000;
const DEFAULT_MAX_OPEN_FILES: usize = 64;
const DEFAULT_GROUP_MEMORY_MB: usize = 128;

impl Compiler {
    pub(super) fn run(&mut self, raw: Option<&RawRun>) -> RunPolicy {
        let mut policy = RunPolicy {
            max_errors: None,
            max_error_rate: None,
            min_rows: DEFAULT_MIN_ROWS,
            unrouted: Unrouted::Count,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            formula_guard: FormulaGuard::Warn,
            group_memory: DEFAULT_GROUP_MEMORY_MB << 20,
        };
        let Some(raw) = raw else { return policy };
        if let Some(g) = &raw.formula_guard {
            match g.get_ref().as_str() {
                "warn" => policy.formula_guard = FormulaGuard::Warn,
                "escape" => policy.formula_guard = FormulaGuard::Escape,
                "off" => policy.formula_guard = FormulaGuard::Off,
                other => self.err(
                    Diagnostic::at(
                        g.span(),
                        format!("`formula_guard` is `warn`, `escape` or `off`, not `{other}`"),
                    )
                    .label("unknown policy")
                    .suggest(other, ["warn", "escape", "off"]),
                ),
            }
        }
        if let Some(m) = &raw.group_memory_mb {
            match usize::try_from(*m.get_ref()) {
                Ok(v) if (1..=1 << 20).contains(&v) => policy.group_memory = v << 20,
                _ => self.err(
                    Diagnostic::at(m.span(), "`group_memory_mb` must be between 1 and 1048576")
                        .label("out of range"),
                ),
            }
        }
        if let Some(u) = &raw.unrouted {
            match u.get_ref().as_str() {
                "count" => policy.unrouted = Unrouted::Count,
                "warn" => policy.unrouted = Unrouted::Warn,
                "reject" => policy.unrouted = Unrouted::Reject,
                other => self.err(
                    Diagnostic::at(
                        u.span(),
                        format!("`unrouted` is `count`, `warn` or `reject`, not `{other}`"),
                    )
                    .label("unknown policy")
                    .suggest(other, ["count", "warn", "reject"]),
                ),
            }
        }
        if let Some(m) = &raw.max_open_files {
            match usize::try_from(*m.get_ref()) {
                Ok(v) if v >= 1 => policy.max_open_files = v,
                _ => self.err(
                    Diagnostic::at(m.span(), "`max_open_files` must be 1 or more")
                        .label("too small"),
                ),
            }
        }
        if let Some(m) = &raw.max_errors {
            match u64::try_from(*m.get_ref()) {
                Ok(v) => policy.max_errors = Some(v),
                Err(_) => self.err(
                    Diagnostic::at(m.span(), "`max_errors` must be 0 or more").label("negative"),
                ),
            }
        }
        if let Some(r) = &raw.max_error_rate {
            let v = *r.get_ref();
            if (0.0..=1.0).contains(&v) {
                policy.max_error_rate = Some(v);
            } else {
                self.err(
                    Diagnostic::at(
                        r.span(),
                        "`max_error_rate` is a share of rows between 0 and 1",
                    )
                    .label("out of range")
                    .help("write 0.05 for 5 %"),
                );
            }
        }
        if let Some(m) = &raw.min_rows {
            match u64::try_from(*m.get_ref()) {
                Ok(v) if v >= 1 => policy.min_rows = v,
                _ => self.err(
                    Diagnostic::at(m.span(), "`min_rows` must be 1 or more").label("too small"),
                ),
            }
        }
        policy
    }
}
