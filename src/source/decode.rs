//! Encodings: which one a CSV export is written in, and its text as UTF-8 while it streams.
//!
//! This module owns the bytes of the file: it reads them (hashing and counting every one for
//! the report's checksum and the progress bar), tells the encoding (a declared one, a BOM,
//! valid UTF-8, UTF-16 by its NUL bytes, else `chardetng`'s guess among legacy encodings) and
//! turns the text into UTF-8 for the CSV parser. UTF-8 input is handed over as read, without a
//! copy. It knows nothing of records: a byte sequence that does not decode becomes a byte that
//! is not valid UTF-8 (`0xFF`), so the record holding it is rejected as `bad-encoding` by the
//! reader, like an invalid byte in a UTF-8 file, and never reaches the data as U+FFFD.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use encoding_rs::{Decoder, DecoderResult, Encoding, UTF_8, UTF_16BE, UTF_16LE};
use sha2::{Digest, Sha256};

/// How much of the file encoding detection looks at: enough text for a statistical guess and
/// for a UTF-8 check that rarely misses a legacy byte, small enough to read at once.
pub(super) const PREFIX_BYTES: usize = 1 << 20;

/// Stands for a byte sequence that does not decode: it is not valid UTF-8, so the record that
/// holds it fails the reader's UTF-8 check and is rejected with `bad-encoding`.
const UNDECODABLE: u8 = 0xFF;

/// The file, hashed and counted as it is read: the checksum and the progress counter always
/// speak of the original bytes, whatever the encoding.
pub(super) struct Tracked {
    file: Box<dyn Read + Send>,
    hasher: Sha256,
    bytes: Arc<AtomicU64>,
}

impl Tracked {
    pub(super) fn new(file: Box<dyn Read + Send>) -> Self {
        Tracked {
            file,
            hasher: Sha256::new(),
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(super) fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes)
    }

    /// Reads the rest of the file and returns its SHA-256 (hex) and size.
    pub(super) fn finish(mut self) -> std::io::Result<(String, u64)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok(self.so_far())
    }

    /// The SHA-256 (hex) and size of the bytes read so far, reading no more: for a pipe that
    /// cannot be read to its end once the run has stopped.
    pub(super) fn so_far(self) -> (String, u64) {
        (
            crate::plan::hex(&self.hasher.finalize()),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Reads up to `PREFIX_BYTES`, fewer only at the end of the file; the flag tells whether the
    /// whole file was read.
    pub(super) fn read_prefix(&mut self) -> std::io::Result<(Vec<u8>, bool)> {
        let mut prefix = vec![0; PREFIX_BYTES];
        let mut len = 0;
        while len < prefix.len() {
            let n = self.read(&mut prefix[len..])?;
            if n == 0 {
                prefix.truncate(len);
                return Ok((prefix, true));
            }
            len += n;
        }
        Ok((prefix, false))
    }
}

impl Read for Tracked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The encoding a file is read with.
#[derive(Debug, Clone)]
pub(super) struct Choice {
    pub encoding: &'static Encoding,
    /// Length of the byte-order mark at the start of the file (0 without one).
    pub bom: usize,
    /// Told from the content, not declared.
    pub detected: bool,
    /// What the detection went by, when it was not plain (a few bytes that are not UTF-8).
    pub evidence: Option<String>,
}

/// The encoding to read a file with, from what was declared and the file's first bytes.
///
/// A BOM wins over a declaration, as in the WHATWG decode algorithm: it cannot be there by
/// accident, and decoding it as text would corrupt the first header name.
pub(super) fn choose(declared: Option<&'static Encoding>, prefix: &[u8], complete: bool) -> Choice {
    if let Some((encoding, bom)) = Encoding::for_bom(prefix) {
        let detected = declared != Some(encoding);
        return Choice {
            encoding,
            bom,
            detected,
            evidence: None,
        };
    }
    let (encoding, detected, evidence) = match declared {
        Some(e) => (e, false, None),
        None => {
            let (e, evidence) = detect(prefix, complete);
            (e, true, evidence)
        }
    };
    Choice {
        encoding,
        bom: 0,
        detected,
        evidence,
    }
}

/// Non-ASCII sequences of a prefix: how many are valid UTF-8, and how many bytes are not.
fn utf8_census(prefix: &[u8], complete: bool) -> (usize, usize) {
    let (mut valid, mut invalid) = (0, 0);
    let mut rest = prefix;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                valid += text.chars().filter(|c| !c.is_ascii()).count();
                return (valid, invalid);
            }
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                valid += std::str::from_utf8(good)
                    .map(|t| t.chars().filter(|c| !c.is_ascii()).count())
                    .unwrap_or(0);
                match e.error_len() {
                    Some(n) => {
                        invalid += n;
                        rest = &after[n..];
                    }
                    // A sequence cut by the end of the prefix is not a bad byte.
                    None if !complete => return (valid, invalid),
                    None => return (valid, invalid + after.len()),
                }
            }
        }
    }
}

/// A prefix is UTF-8 with a few bad bytes when its valid multi-byte characters outnumber its
/// bad bytes twice: a legacy encoding's accented letters are almost never valid UTF-8, so a
/// file that holds many is UTF-8, and a bad byte there is a damaged row, not another encoding.
fn mostly_utf8(valid: usize, invalid: usize) -> bool {
    valid > 0 && valid >= 2 * invalid
}

/// Detection without a BOM: UTF-16 by its NUL bytes, else UTF-8 when the prefix is valid, else
/// a statistical guess among legacy encodings.
///
/// UTF-16 is tested first because UTF-16 text made of ASCII is also valid UTF-8 (NUL is a
/// valid UTF-8 byte). A UTF-8 prefix is trusted even if a later byte turns out not to be: that
/// record is rejected `bad-encoding` rather than the whole file being decoded by a guess.
fn detect(prefix: &[u8], complete: bool) -> (&'static Encoding, Option<String>) {
    if let Some(utf16) = utf16_by_nuls(prefix) {
        return (utf16, None);
    }
    match std::str::from_utf8(prefix) {
        Ok(_) => return (UTF_8, None),
        // A sequence cut by the end of the prefix, not a bad byte.
        Err(e) if e.error_len().is_none() && !complete => return (UTF_8, None),
        Err(_) => {}
    }
    let (valid, invalid) = utf8_census(prefix, complete);
    let mib = if prefix.len() >= PREFIX_BYTES {
        "the first MiB".to_string()
    } else {
        "the file".to_string()
    };
    if mostly_utf8(valid, invalid) {
        return (
            UTF_8,
            Some(format!(
                "{valid} UTF-8 characters and {invalid} byte{} that {} not UTF-8 in {mib}: the rows holding {} are rejected as bad-encoding",
                if invalid == 1 { "" } else { "s" },
                if invalid == 1 { "is" } else { "are" },
                if invalid == 1 { "it" } else { "them" },
            )),
        );
    }
    let evidence = Some(format!(
        "{invalid} byte{} not UTF-8 in {mib}{}",
        if invalid == 1 { "" } else { "s" },
        if valid > 0 {
            format!(" against {valid} UTF-8 characters")
        } else {
            String::new()
        }
    ));
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    // The guess costs about as much per byte as decoding a whole file does: it reads the start
    // of the file as it is (its ASCII context counts), then only the lines that hold other
    // bytes, each part up to a budget.
    let (start, rest) = prefix.split_at(prefix.len().min(GUESS_BYTES));
    detector.feed(start, complete && rest.is_empty());
    let mut fed = 0;
    for line in rest.split_inclusive(|&b| b == b'\n') {
        if fed >= GUESS_BYTES {
            break;
        }
        if !line.is_ascii() {
            let line = &line[..line.len().min(GUESS_BYTES - fed)];
            detector.feed(line, false);
            fed += line.len();
        }
    }
    (
        detector.guess(None, chardetng::Utf8Detection::Deny),
        evidence,
    )
}

/// How many bytes of the start of the file, then of its non-ASCII lines, the statistical guess
/// reads.
const GUESS_BYTES: usize = 64 * 1024;

/// UTF-16 without a BOM: in text that is mostly ASCII (delimiters, digits, Latin letters) one
/// byte of each pair is NUL, always on the same side.
fn utf16_by_nuls(prefix: &[u8]) -> Option<&'static Encoding> {
    let sample = &prefix[..prefix.len().min(4096) & !1];
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    // A quarter of the pairs NUL on one side and (almost) none on the other.
    let one_side = |many: usize, few: usize| many * 4 >= pairs && few * 20 <= many;
    if one_side(odd, even) {
        Some(UTF_16LE)
    } else if one_side(even, odd) {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// The text of the file as UTF-8, after the BOM.
pub(super) enum Text {
    /// UTF-8: the reader reads the file itself, into its own buffer.
    Utf8(Tracked),
    Decoded(Box<Transcoder>),
}

/// A legacy or UTF-16 file decoded to UTF-8 into the caller's buffer.
pub(super) struct Transcoder {
    file: Tracked,
    decoder: Decoder,
    /// Bytes read from the file and not yet decoded: `raw[pos..len]`.
    raw: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    /// The decoder was told the stream ended: it must not be called again.
    finished: bool,
    /// An undecodable sequence was met when the output was full: its marker is owed.
    owed_marker: bool,
}

impl Text {
    /// The file's text, given the prefix already read from it (its first `choice.bom` bytes
    /// are the BOM). Returns the text source and the UTF-8 bytes ready to be parsed: for UTF-8
    /// the prefix itself, for other encodings nothing yet.
    pub(super) fn new(
        file: Tracked,
        choice: Choice,
        mut prefix: Vec<u8>,
        complete: bool,
    ) -> (Text, Vec<u8>) {
        prefix.drain(..choice.bom);
        if choice.encoding == UTF_8 {
            return (Text::Utf8(file), prefix);
        }
        let len = prefix.len();
        // Keep reading in blocks of the prefix's size.
        prefix.resize(PREFIX_BYTES, 0);
        let transcoder = Transcoder {
            file,
            decoder: choice.encoding.new_decoder_without_bom_handling(),
            raw: prefix,
            pos: 0,
            len,
            eof: complete,
            finished: false,
            owed_marker: false,
        };
        (Text::Decoded(Box::new(transcoder)), Vec::new())
    }

    pub(super) fn finish(self) -> std::io::Result<(String, u64)> {
        match self {
            Text::Utf8(file) => file.finish(),
            Text::Decoded(t) => t.file.finish(),
        }
    }

    /// The checksum and size of the bytes read so far ([`Tracked::so_far`]).
    pub(super) fn so_far(self) -> (String, u64) {
        match self {
            Text::Utf8(file) => file.so_far(),
            Text::Decoded(t) => t.file.so_far(),
        }
    }
}

/// Fills `dst` with the next UTF-8 bytes; 0 only at the end of the file (or when `dst` is
/// smaller than one character, which the reader avoids).
impl Read for Text {
    fn read(&mut self, dst: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Text::Utf8(file) => file.read(dst),
            Text::Decoded(t) => t.read(dst),
        }
    }
}

impl Transcoder {
    fn read(&mut self, dst: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        loop {
            if self.owed_marker {
                let Some(slot) = dst.get_mut(written) else {
                    return Ok(written);
                };
                *slot = UNDECODABLE;
                written += 1;
                self.owed_marker = false;
            }
            if self.finished {
                return Ok(written);
            }
            if self.pos == self.len && !self.eof {
                self.pos = 0;
                self.len = self.file.read(&mut self.raw)?;
                self.eof = self.len == 0;
            }
            let (result, read, out) = self.decoder.decode_to_utf8_without_replacement(
                &self.raw[self.pos..self.len],
                &mut dst[written..],
                self.eof,
            );
            self.pos += read;
            written += out;
            match result {
                DecoderResult::Malformed(..) => self.owed_marker = true,
                DecoderResult::OutputFull => return Ok(written),
                DecoderResult::InputEmpty if self.eof => {
                    self.finished = true;
                    return Ok(written);
                }
                // Return what there is rather than wait for more of the file.
                DecoderResult::InputEmpty if written > 0 => return Ok(written),
                DecoderResult::InputEmpty => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_win_and_say_so() {
        let c = choose(None, b"\xFF\xFEa\0", true);
        assert_eq!((c.encoding, c.bom, c.detected), (UTF_16LE, 2, true));
        let c = choose(Some(UTF_8), b"\xEF\xBB\xBFa", true);
        assert_eq!((c.encoding, c.bom, c.detected), (UTF_8, 3, false));
        let c = choose(Some(encoding_rs::WINDOWS_1252), b"\xFE\xFF\0a", true);
        assert_eq!((c.encoding, c.detected), (UTF_16BE, true));
    }

    #[test]
    fn utf16_without_bom_is_told_by_its_nuls() {
        let le: Vec<u8> = "a,b\n1,2\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "a,b\n1,2\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(choose(None, &le, true).encoding, UTF_16LE);
        assert_eq!(choose(None, &be, true).encoding, UTF_16BE);
        // One NUL byte in a UTF-8 file is a bad record, not UTF-16.
        assert_eq!(choose(None, b"a,b,c\n\0,2,3\n", true).encoding, UTF_8);
    }

    #[test]
    fn utf8_cut_at_the_end_of_the_prefix_is_still_utf8() {
        assert_eq!(choose(None, "ab\u{e9}".as_bytes(), true).encoding, UTF_8);
        assert_eq!(choose(None, b"ab\xC3", false).encoding, UTF_8);
        assert_ne!(choose(None, b"ab\xC3", true).encoding, UTF_8);
    }

    #[test]
    fn legacy_text_is_guessed() {
        let text = "nom;ville\nL\u{e9}a;B\u{e9}ziers\nC\u{e9}line;S\u{e8}te\nFran\u{e7}ois;N\u{ee}mes\n\u{c9}lodie;\u{c9}vry\nB\u{e9}atrice;Or\u{e9}e\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        assert_eq!(
            choose(None, &bytes, true).encoding,
            encoding_rs::WINDOWS_1252
        );
    }
}
