//! Issues: what any stage can say about one row.
//!
//! An issue is data, not an error: it is attached to a row (by its spreadsheet row number and
//! physical line), names the field, the rule (a stable kebab-case [`Code`]) and the offending
//! value, and carries a sentence a user can act on. A row with an issue of severity
//! [`Severity::Error`] is rejected; a warning keeps the row.

use std::fmt;

/// The pipeline stage that raised an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Source,
    Validate,
    Enrich,
    Route,
    Sink,
    Load,
    Deliver,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Validate => "validate",
            Stage::Enrich => "enrich",
            Stage::Route => "route",
            Stage::Sink => "sink",
            Stage::Load => "load",
            Stage::Deliver => "deliver",
        }
    }
}

/// Stable issue codes, as written in `errors.csv` and documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    RaggedRow,
    BadQuoting,
    BadEncoding,
    FieldTooLong,
    MalformedRow,
    RequiredMissing,
    TypeMismatch,
    PatternMismatch,
    EnumMismatch,
    OutOfRange,
    LengthOutOfRange,
    DuplicateKey,
    CheckFailed,
    LookupMiss,
    NotInLookup,
    Unrouted,
    FormulaRisk,
    Unencodable,
    LoadFailed,
    DeliveryFailed,
}

impl Code {
    pub const ALL: [Code; 20] = [
        Code::RaggedRow,
        Code::BadQuoting,
        Code::BadEncoding,
        Code::FieldTooLong,
        Code::MalformedRow,
        Code::RequiredMissing,
        Code::TypeMismatch,
        Code::PatternMismatch,
        Code::EnumMismatch,
        Code::OutOfRange,
        Code::LengthOutOfRange,
        Code::DuplicateKey,
        Code::CheckFailed,
        Code::LookupMiss,
        Code::NotInLookup,
        Code::Unrouted,
        Code::FormulaRisk,
        Code::Unencodable,
        Code::LoadFailed,
        Code::DeliveryFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::RaggedRow => "ragged-row",
            Code::BadQuoting => "bad-quoting",
            Code::BadEncoding => "bad-encoding",
            Code::FieldTooLong => "field-too-long",
            Code::MalformedRow => "malformed-row",
            Code::RequiredMissing => "required-missing",
            Code::TypeMismatch => "type-mismatch",
            Code::PatternMismatch => "pattern-mismatch",
            Code::EnumMismatch => "enum-mismatch",
            Code::OutOfRange => "out-of-range",
            Code::LengthOutOfRange => "length-out-of-range",
            Code::DuplicateKey => "duplicate-key",
            Code::CheckFailed => "check-failed",
            Code::LookupMiss => "lookup-miss",
            Code::NotInLookup => "not-in-lookup",
            Code::Unrouted => "unrouted",
            Code::FormulaRisk => "formula-risk",
            Code::Unencodable => "unencodable",
            Code::LoadFailed => "load-failed",
            Code::DeliveryFailed => "delivery-failed",
        }
    }

    pub fn stage(self) -> Stage {
        match self {
            Code::RaggedRow
            | Code::BadQuoting
            | Code::BadEncoding
            | Code::FieldTooLong
            | Code::MalformedRow => Stage::Source,
            Code::LookupMiss | Code::NotInLookup => Stage::Enrich,
            Code::Unrouted => Stage::Route,
            Code::FormulaRisk | Code::Unencodable => Stage::Sink,
            Code::LoadFailed => Stage::Load,
            Code::DeliveryFailed => Stage::Deliver,
            _ => Stage::Validate,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an issue rejects its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding about one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The spreadsheet row of the record (the header record is row `header_row`).
    pub row: u64,
    /// The physical line where the record starts.
    pub line: u64,
    pub code: Code,
    pub severity: Severity,
    /// The declared field, empty for row-level issues (a ragged row, a check with no field).
    pub field: String,
    /// The source column the value came from, empty for row-level issues.
    pub column: String,
    /// The value as read, before any trimming or parsing.
    pub value: String,
    pub message: String,
}
