//! The quoting of a record: where it closes, whether text follows a closing quote, whether a
//! lone CR sits inside quotes — one state machine ([`QuoteScan::step`]) for all of them.

use super::Dialect;

/// Where the last record was in the buffer, to read it again from its second line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Last {
    pub(super) start: usize,
    pub(super) first_end: usize,
    pub(super) end: usize,
    pub(super) line: u64,
}

/// Where a scan of a record's quoting is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Quoting {
    FieldStart,
    Unquoted,
    Quoted,
    /// Right after a closing quote.
    Closed,
}

/// Where a record's text leaves its quoting, as `csv_core` reads it: inside a quoted value or
/// not.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuoteScan {
    pub(super) state: Quoting,
    /// The last byte was the escape character, inside quotes.
    pub(super) escaped: bool,
}

impl Default for QuoteScan {
    fn default() -> Self {
        QuoteScan {
            state: Quoting::FieldStart,
            escaped: false,
        }
    }
}

impl QuoteScan {
    /// The state after `bytes`.
    pub(super) fn over(mut self, bytes: &[u8], d: Dialect) -> Self {
        for &b in bytes {
            self.step(b, d);
        }
        self
    }

    /// Takes byte `b`; true when it is text right after a closing quote (`"f"g`), which the
    /// parser joins to the value (and reads on, unquoted).
    pub(super) fn step(&mut self, b: u8, d: Dialect) -> bool {
        if self.escaped {
            self.escaped = false;
            return false;
        }
        let mut misplaced = false;
        self.state = match self.state {
            Quoting::FieldStart if b == d.quote => Quoting::Quoted,
            Quoting::FieldStart | Quoting::Unquoted | Quoting::Closed if b == d.delimiter => {
                Quoting::FieldStart
            }
            Quoting::FieldStart | Quoting::Unquoted => Quoting::Unquoted,
            Quoting::Quoted if Some(b) == d.escape => {
                self.escaped = true;
                Quoting::Quoted
            }
            Quoting::Quoted if b == d.quote => Quoting::Closed,
            Quoting::Quoted => Quoting::Quoted,
            Quoting::Closed if b == d.quote && d.escape.is_none() => Quoting::Quoted,
            Quoting::Closed => {
                misplaced = b != b'\r' && b != b'\n';
                Quoting::Unquoted
            }
        };
        misplaced
    }

    pub(super) fn quoted(self) -> bool {
        matches!(self.state, Quoting::Quoted)
    }
}
