//! A target's files while they are written: opened on demand, at most `[run] max_open_files`
//! at once (the least recently used is closed and reopened for appending), hashed as their
//! bytes go out; a workbook is built from its spill when its file is finished.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::format::{self, Encode};
use super::{SinkError, Sinks};

/// A file being written: bytes are hashed as the buffer in front of it flushes them, in large
/// blocks.
pub(super) struct Hashed {
    pub(super) file: File,
    pub(super) hasher: Sha256,
    pub(super) bytes: u64,
    /// False for an XLSX spill: the workbook built from it is hashed instead.
    pub(super) hashing: bool,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        if self.hashing {
            self.hasher.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

pub(super) type Out = BufWriter<Hashed>;

pub(super) struct FileState {
    pub(super) rel: PathBuf,
    /// XLSX: the spill file rows are appended to until the workbook is built.
    pub(super) spill: Option<PathBuf>,
    /// XLSX: the sheets of the built workbook.
    pub(super) sheets: Vec<String>,
    /// Its `{batch}` number (1-based).
    pub(super) batch: u64,
    /// Input rows written to it.
    pub(super) rows: u64,
    /// Records written to it: rows, or groups in a grouped JSON target.
    pub(super) records: u64,
    /// The input row numbers written to it, for a target sent to an API.
    pub(super) input_rows: Vec<u64>,
    /// Open writer, if the file is open now.
    pub(super) encoder: Option<Box<dyn Encode<Out> + Send>>,
    /// Hash and size so far while the file is closed.
    pub(super) hasher: Sha256,
    pub(super) bytes: u64,
    pub(super) created: bool,
    pub(super) last_used: u64,
}

impl Sinks {
    /// Opens file `fi` of target `ti` if needed (closing the least recently used one when the
    /// cap is reached) and marks it used.
    pub(super) fn touch(&mut self, ti: usize, fi: usize) -> Result<(), SinkError> {
        self.tick += 1;
        let tick = self.tick;
        if self.targets[ti].files[fi].encoder.is_some() {
            self.targets[ti].files[fi].last_used = tick;
            return Ok(());
        }
        while self.open >= self.max_open {
            if !self.close_lru()? {
                break;
            }
        }
        let path = self.write_path(ti, fi);
        let file = loop {
            match self.open_file(ti, fi, &path) {
                Ok(f) => break f,
                // Out of file descriptors: close one and lower the cap for the rest of the run.
                Err(e) if matches!(e.raw_os_error(), Some(23 | 24)) && self.open > 0 => {
                    self.max_open = self.open.max(2) - 1;
                    self.close_lru()?;
                }
                Err(source) => return Err(SinkError::Write { path, source }),
            }
        };
        let t = &mut self.targets[ti];
        let format = t.target.format;
        let csv = t.target.csv.clone();
        let f = &mut t.files[fi];
        // CSV and JSON encoders hand on their records in blocks larger than this buffer, which
        // then go to the file as they are, without being copied again.
        let capacity = if format::built_from_spill(format) {
            256 * 1024
        } else {
            8 * 1024
        };
        let out = BufWriter::with_capacity(
            capacity,
            Hashed {
                file,
                hasher: std::mem::take(&mut f.hasher),
                bytes: f.bytes,
                hashing: f.spill.is_none(),
            },
        );
        let fresh = !f.created;
        let envelope = t.target.envelope.as_ref().map(|e| e.join("."));
        let mut encoder =
            format::encoder(format, &csv, envelope.as_deref(), out, fresh).map_err(|source| {
                SinkError::Write {
                    path: path.clone(),
                    source,
                }
            })?;
        if fresh {
            f.created = true;
            encoder
                .start(&t.header)
                .map_err(|source| SinkError::Write {
                    path: path.clone(),
                    source,
                })?;
        } else {
            encoder.resume(f.records);
        }
        f.encoder = Some(encoder);
        f.last_used = tick;
        self.open += 1;
        Ok(())
    }

    /// Where file `fi`'s bytes go while rows are written: the file, or an XLSX target's spill.
    pub(super) fn write_path(&self, ti: usize, fi: usize) -> PathBuf {
        let f = &self.targets[ti].files[fi];
        match &f.spill {
            Some(spill) => spill.clone(),
            None => self.root.join(&f.rel),
        }
    }

    pub(super) fn open_file(&self, ti: usize, fi: usize, path: &Path) -> std::io::Result<File> {
        if self.targets[ti].files[fi].created {
            OpenOptions::new().append(true).open(path)
        } else {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            File::create(path)
        }
    }

    /// Closes the least recently used open file. False when none is open.
    pub(super) fn close_lru(&mut self) -> Result<bool, SinkError> {
        let mut best: Option<(u64, usize, usize)> = None;
        for (ti, t) in self.targets.iter().enumerate() {
            for (fi, f) in t.files.iter().enumerate() {
                if f.encoder.is_some() && best.is_none_or(|(u, _, _)| f.last_used < u) {
                    best = Some((f.last_used, ti, fi));
                }
            }
        }
        let Some((_, ti, fi)) = best else {
            return Ok(false);
        };
        self.close(ti, fi)?;
        Ok(true)
    }

    pub(super) fn close(&mut self, ti: usize, fi: usize) -> Result<(), SinkError> {
        let path = self.write_path(ti, fi);
        let f = &mut self.targets[ti].files[fi];
        if let Some(encoder) = f.encoder.take() {
            let out = encoder.into_inner().map_err(|source| SinkError::Write {
                path: path.clone(),
                source,
            })?;
            let out = out.into_inner().map_err(|e| SinkError::Write {
                path,
                source: e.into_error(),
            })?;
            f.hasher = out.hasher;
            f.bytes = out.bytes;
            self.open -= 1;
        }
        Ok(())
    }

    /// Writes the end of file `fi` (a JSON array's `]`) and closes it; an XLSX target's
    /// workbook is built from its spill now.
    pub(super) fn finish_file(&mut self, ti: usize, fi: usize) -> Result<(), SinkError> {
        self.touch(ti, fi)?;
        let path = self.write_path(ti, fi);
        if let Some(encoder) = self.targets[ti].files[fi].encoder.as_mut() {
            encoder
                .finish()
                .map_err(|source| SinkError::Write { path, source })?;
        }
        self.close(ti, fi)?;
        let t = &mut self.targets[ti];
        let f = &mut t.files[fi];
        if let Some(spill) = f.spill.take() {
            let out = self.root.join(&f.rel);
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent).map_err(|source| SinkError::Write {
                    path: out.clone(),
                    source,
                })?;
            }
            let written = format::xlsx::build_target(&spill, &out, &t.names, &t.target).map_err(
                |source| SinkError::Xlsx {
                    target: t.target.name.clone(),
                    source: Box::new(source),
                },
            )?;
            f.sheets = written.sheets;
            let (hasher, bytes) = hash_file(&out)?;
            f.hasher = hasher;
            f.bytes = bytes;
            fs::remove_file(&spill).map_err(|source| SinkError::Write {
                path: spill.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// The SHA-256 and size of a finished file, read back from disk.
pub(super) fn hash_file(path: &Path) -> Result<(Sha256, u64), SinkError> {
    let err = |source| SinkError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(err)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(err)?;
    Ok((hasher, bytes))
}
