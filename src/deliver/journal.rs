//! The delivery journal (`deliveries.journal` in the output folder): one line per batch the
//! server acknowledged, appended and synced before the batch is reported done, so a resumed
//! delivery sends exactly the batches that are not in it.
//!
//! The format is text, one line per batch: `KEY ID STATUS UNIX_MS` (the idempotency key, the
//! batch number, the `2xx` status and when it was recorded), after a `#` comment line that says
//! what the file is. A line is appended whole with its newline and synced before `record`
//! returns.
//!
//! A kill (`kill -9`, power loss) during an append can leave a torn last line, one without its
//! newline. [`Journal::open`] ignores it, and the next [`Journal::record`] cuts it off before
//! appending: the batch it named was never reported done, so it is sent again, and its
//! `Idempotency-Key` lets the server recognise it. That same at-least-once window exists between
//! the server's `2xx` and the sync of its line; the key covers it too. Any other line that is not
//! a record is damage rowferry did not do, and is an error rather than a guess.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{DeliverError, Delivery, Verdict};

/// The first line of a journal.
const HEADER: &str = "# rowferry delivery journal: KEY ID STATUS UNIX_MS per acknowledged batch\n";

/// What the journal says of one acknowledged batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    pub status: u16,
    pub unix_ms: u64,
}

/// The journal as read, and appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    acknowledged: HashMap<String, Entry>,
    /// Bytes up to the end of the last whole line.
    valid_len: u64,
    /// Bytes of a torn last line, ignored and cut off before the next append.
    torn: u64,
    /// Open for appending once something has been recorded.
    file: Option<File>,
}

impl Journal {
    /// Reads the journal at `path` if there is one (a missing file is an empty journal; the file
    /// is created by the first [`Journal::record`]). A torn last line, left by a kill during an
    /// append, is ignored ([`Journal::torn_bytes`] says how long it was).
    pub fn open(path: &Path) -> Result<Journal, DeliverError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(DeliverError::JournalRead {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let valid_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut acknowledged = HashMap::new();
        for (index, line) in bytes[..valid_len].split(|&b| b == b'\n').enumerate() {
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let (key, entry) = parse(line).map_err(|problem| DeliverError::JournalDamaged {
                path: path.to_path_buf(),
                line: index + 1,
                problem,
            })?;
            acknowledged.insert(key, entry);
        }
        Ok(Journal {
            path: path.to_path_buf(),
            acknowledged,
            valid_len: valid_len as u64,
            torn: (bytes.len() - valid_len) as u64,
            file: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the server acknowledged the batch with this idempotency key.
    pub fn is_acknowledged(&self, key: &str) -> bool {
        self.acknowledged.contains_key(key)
    }

    /// What the journal says of the batch with this key.
    pub fn entry(&self, key: &str) -> Option<Entry> {
        self.acknowledged.get(key).copied()
    }

    /// How many batches are acknowledged.
    pub fn len(&self) -> usize {
        self.acknowledged.len()
    }

    pub fn is_empty(&self) -> bool {
        self.acknowledged.is_empty()
    }

    /// The length of the torn last line [`Journal::open`] found and ignored (0 when none).
    pub fn torn_bytes(&self) -> u64 {
        self.torn
    }

    /// Appends an acknowledged batch and syncs it to disk before returning. A delivery whose
    /// verdict is not [`Verdict::Acknowledged`] is not written (the journal holds only what a
    /// server acknowledged), nor is a key already there.
    pub fn record(&mut self, delivery: &Delivery) -> Result<(), DeliverError> {
        let Verdict::Acknowledged { status } = delivery.verdict else {
            return Ok(());
        };
        if self.is_acknowledged(&delivery.key) {
            return Ok(());
        }
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let line = format!("{} {} {status} {unix_ms}\n", delivery.key, delivery.id);
        self.append(line.as_bytes())
            .map_err(|source| DeliverError::JournalWrite {
                path: self.path.clone(),
                source,
            })?;
        self.acknowledged.insert(
            delivery.key.clone(),
            Entry {
                id: delivery.id,
                status,
                unix_ms,
            },
        );
        Ok(())
    }

    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            let existed = self.path.exists();
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            if self.torn > 0 {
                file.set_len(self.valid_len)?;
                self.torn = 0;
            }
            if self.valid_len == 0 {
                // A new (or empty) journal says what it is.
                file.set_len(0)?;
                file.write_all(HEADER.as_bytes())?;
                self.valid_len = HEADER.len() as u64;
            }
            file.sync_all()?;
            if !existed {
                sync_parent(&self.path)?;
            }
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("the journal is not open"));
        };
        file.write_all(line)?;
        file.sync_data()?;
        self.valid_len += line.len() as u64;
        Ok(())
    }
}

/// `KEY ID STATUS UNIX_MS`.
fn parse(line: &[u8]) -> Result<(String, Entry), String> {
    let text = std::str::from_utf8(line).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let fields: Vec<&str> = text.split(' ').collect();
    let [key, id, status, unix_ms] = fields[..] else {
        return Err(format!(
            "it has {} fields where a record has 4 (KEY ID STATUS UNIX_MS)",
            fields.len()
        ));
    };
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("its key is not hexadecimal".to_owned());
    }
    let number = |what: &str, text: &str| {
        text.parse::<u64>()
            .map_err(|_| format!("its {what} `{text}` is not a number"))
    };
    let status = u16::try_from(number("status", status)?)
        .ok()
        .filter(|s| (200..300).contains(s))
        .ok_or_else(|| "its status is not a 2xx".to_owned())?;
    Ok((
        key.to_owned(),
        Entry {
            id: number("batch number", id)?,
            status,
            unix_ms: number("time", unix_ms)?,
        },
    ))
}

/// A new file's name is durable only once its folder is synced.
#[cfg(unix)]
fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> io::Result<()> {
    Ok(())
}
