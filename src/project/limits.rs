//! What a target's file can hold: the limits the projection checks before a row is written.
//!
//! A value past one of them rejects its row (`unencodable`) instead of failing the write or
//! being altered: a character the target's encoding does not have, text longer than an XLSX
//! cell holds.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// Characters (UTF-16 code units, as Excel counts) in one XLSX cell.
pub const XLSX_CELL_CHARS: usize = 32_767;

/// The first character of `value` that `encoding` cannot write, if any.
pub fn unencodable(value: &str, encoding: &'static Encoding) -> Option<char> {
    if encoding == UTF_8 || encoding == UTF_16LE || encoding == UTF_16BE {
        return None;
    }
    if value.is_ascii() && encoding.is_ascii_compatible() {
        return None;
    }
    let (_, _, had_errors) = encoding.encode(value);
    if !had_errors {
        return None;
    }
    let mut buf = [0u8; 4];
    value
        .chars()
        .find(|c| encoding.encode(c.encode_utf8(&mut buf)).2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmappable_characters_are_found_before_the_write() {
        assert_eq!(unencodable("Łódź", encoding_rs::WINDOWS_1252), Some('Ł'));
        assert_eq!(unencodable("Zoë", encoding_rs::WINDOWS_1252), None);
        assert_eq!(unencodable("日本", UTF_16LE), None);
        assert_eq!(unencodable("€", encoding_rs::ISO_8859_2), Some('€'));
    }
}
