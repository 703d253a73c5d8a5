//! The `[run]` thresholds: when rejected rows stop a run. Owns only the rule and its message;
//! the driver decides what a stopped run writes.

use crate::plan::Plan;
use crate::report::Tally;

/// Why a `[run]` threshold stops the run, if one is exceeded. During the run the rate is
/// checked only once `min_rows` rows have been read; at the end it is always checked.
pub(super) fn exceeded(plan: &Plan, t: &Tally, at_end: bool) -> Option<String> {
    if let Some(max) = plan.run.max_errors
        && t.rejected > max
    {
        return Some(format!(
            "{} rejected rows exceed `max_errors = {max}` (stopped after row {})",
            t.rejected, t.last_row
        ));
    }
    if let Some(rate) = plan.run.max_error_rate {
        let data = t.rows_read - t.skipped;
        if data > 0 && (at_end || t.rows_read >= plan.run.min_rows) {
            let share = t.rejected as f64 / data as f64;
            if share > rate {
                return Some(format!(
                    "{:.1} % of rows rejected ({} of {data}) exceeds `max_error_rate = {rate}` (stopped after row {})",
                    share * 100.0,
                    t.rejected,
                    t.last_row
                ));
            }
        }
    }
    None
}
