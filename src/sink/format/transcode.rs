//! Output encodings: UTF-8 text turned into a CSV target's declared encoding as it is written.
//!
//! Encoders write UTF-8; [`Transcode`] sits between them and the file and turns it into UTF-16
//! (either byte order) or a legacy encoding such as Windows-1252, through `encoding_rs`. Writes
//! may end inside a UTF-8 sequence (the CSV writer flushes a full buffer wherever it ends): the
//! incomplete tail waits for the next write. Every value was checked before the row was written
//! (see [`crate::project::limits::unencodable`]); a character that still cannot be encoded is an I/O error, never a `?`.

use std::io::{self, Write};

use encoding_rs::{EncoderResult, Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// A writer that encodes the UTF-8 it is given.
pub struct Transcode<W: Write> {
    out: W,
    to: To,
    /// The start of a character whose last bytes have not been written yet.
    pending: Vec<u8>,
    scratch: Vec<u8>,
}

enum To {
    Utf8,
    Utf16 { big_endian: bool },
    Legacy(Box<encoding_rs::Encoder>),
}

impl<W: Write> Transcode<W> {
    pub fn new(out: W, encoding: &'static Encoding) -> Self {
        let to = if encoding == UTF_8 {
            To::Utf8
        } else if encoding == UTF_16LE || encoding == UTF_16BE {
            To::Utf16 {
                big_endian: encoding == UTF_16BE,
            }
        } else {
            To::Legacy(Box::new(encoding.new_encoder()))
        };
        Transcode {
            out,
            to,
            pending: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The underlying writer. Bytes of an incomplete character still pending are an error.
    pub fn into_inner(self) -> io::Result<W> {
        if self.pending.is_empty() {
            Ok(self.out)
        } else {
            Err(io::Error::other("the output ended inside a character"))
        }
    }
}

/// The longest prefix of `bytes` that is whole UTF-8, and whether the rest is an incomplete
/// character (rather than invalid bytes).
fn complete_prefix(bytes: &[u8]) -> io::Result<&str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) if e.error_len().is_none() => {
            // Valid up to an incomplete character at the end.
            std::str::from_utf8(&bytes[..e.valid_up_to()]).map_err(io::Error::other)
        }
        Err(e) => Err(io::Error::other(format!("invalid UTF-8 in output: {e}"))),
    }
}

impl<W: Write> Write for Transcode<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let To::Utf8 = self.to {
            return self.out.write(buf);
        }
        self.pending.extend_from_slice(buf);
        let text = complete_prefix(&self.pending)?;
        let used = text.len();
        self.scratch.clear();
        match &mut self.to {
            To::Utf8 => {}
            To::Utf16 { big_endian } => {
                for unit in text.encode_utf16() {
                    self.scratch.extend_from_slice(&if *big_endian {
                        unit.to_be_bytes()
                    } else {
                        unit.to_le_bytes()
                    });
                }
            }
            To::Legacy(encoder) => {
                let mut rest = text;
                while !rest.is_empty() {
                    self.scratch.reserve(rest.len() + 16);
                    let (result, read) = encoder.encode_from_utf8_to_vec_without_replacement(
                        rest,
                        &mut self.scratch,
                        false,
                    );
                    rest = &rest[read..];
                    if let EncoderResult::Unmappable(c) = result {
                        return Err(io::Error::other(format!(
                            "`{c}` cannot be written in {}",
                            encoder.encoding().name()
                        )));
                    }
                }
            }
        }
        self.out.write_all(&self.scratch)?;
        self.pending.drain(..used);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(encoding: &'static Encoding, pieces: &[&[u8]]) -> io::Result<Vec<u8>> {
        let mut t = Transcode::new(Vec::new(), encoding);
        for p in pieces {
            t.write_all(p)?;
        }
        t.into_inner()
    }

    #[test]
    fn unmappable_characters_are_errors() {
        assert!(through(encoding_rs::WINDOWS_1252, &["Łódź".as_bytes()]).is_err());
    }

    #[test]
    fn windows_1252_across_split_writes() {
        let text = "Zoë;Crème brûlée;€5\n".as_bytes();
        // Split inside every multi-byte character.
        for cut in 1..text.len() {
            let out = through(encoding_rs::WINDOWS_1252, &[&text[..cut], &text[cut..]])
                .expect("encodable");
            assert_eq!(
                out,
                b"Zo\xeb;Cr\xe8me br\xfbl\xe9e;\x805\n".to_vec(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn utf16_both_byte_orders() {
        let le = through(UTF_16LE, &["\u{feff}a€".as_bytes()]).expect("utf-16");
        assert_eq!(le, vec![0xFF, 0xFE, b'a', 0, 0xAC, 0x20]);
        let be = through(UTF_16BE, &["a😀".as_bytes()]).expect("utf-16");
        assert_eq!(be, vec![0, b'a', 0xD8, 0x3D, 0xDE, 0x00]);
    }

    #[test]
    fn an_output_ending_inside_a_character_is_an_error() {
        assert!(through(encoding_rs::WINDOWS_1252, &[&"é".as_bytes()[..1]]).is_err());
    }
}
