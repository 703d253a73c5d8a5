//! The run's threads and the channels between them: the reader thread, the validating thread,
//! and the writer threads that write the targets' files.
//!
//! The reader hands chunks over a small bounded channel to the validating thread, which hands
//! each chunk with its verdict on to the driver; the driver hands each writer the rows of the
//! targets it owns. This module turns a thread that could not start, panicked or stopped early
//! into the run's typed error. It must not know what a stage does with a chunk, nor the run's
//! policy (thresholds, conservation, commit).

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::plan::{Binding, Plan};
use crate::project::{Projected, TargetRows};
use crate::sink::{self, SinkError, Sinks, TargetReport};
use crate::source::{CHUNK_ROWS, Chunk, Fingerprint, Source, SourceError};
use crate::validate::{Validated, Validator};

use super::RunError;

/// What the reader thread hands on: a chunk, the end of the input, or why reading stopped.
enum FromReader {
    Chunk(Chunk),
    Done(Fingerprint),
    Failed(SourceError),
}

/// What the validating thread hands on: a chunk with its verdict, or the end of the input.
enum FromValidator {
    Chunk(Chunk, Validated),
    Done(Fingerprint),
    Failed(RunError),
}

/// The reader and validating threads, and the channel their chunks come out of.
pub(super) struct Upstream {
    chunks: mpsc::Receiver<FromValidator>,
    /// Set when the input was read to its end.
    read_to_end: Option<Fingerprint>,
    reader: JoinHandle<Option<Fingerprint>>,
    validating: JoinHandle<()>,
}

/// How much of the input a run read.
pub(super) enum InputRead {
    /// All of it.
    ToEnd(Fingerprint),
    /// The run stopped first; a pipe gives the checksum of what it read.
    Stopped { pipe_read: Option<Fingerprint> },
}

impl Upstream {
    /// Starts reading `source` on one thread and validating its chunks on another, so the next
    /// chunk's rules are evaluated while the driver enriches, routes and reports the current one.
    pub(super) fn start(source: Source, validator: Validator) -> Result<Self, RunError> {
        let path = source.info().path.clone();
        let cannot_start = |what: &str, e: std::io::Error| SourceError::Read {
            path: path.clone(),
            line: 0,
            message: format!("cannot start the {what} thread: {e}"),
        };
        let (tx, rx) = mpsc::sync_channel::<FromReader>(2);
        let reader = std::thread::Builder::new()
            .name("rowferry-read".into())
            .spawn(move || read_all(source, tx))
            .map_err(|e| cannot_start("reader", e))?;
        let (checked_tx, chunks) = mpsc::sync_channel::<FromValidator>(1);
        let validating = std::thread::Builder::new()
            .name("rowferry-check".into())
            .spawn(move || check_all(validator, rx, checked_tx))
            .map_err(|e| cannot_start("validating", e))?;
        Ok(Upstream {
            chunks,
            read_to_end: None,
            reader,
            validating,
        })
    }

    /// The next chunk with its verdict; `None` at the end of the input, or when a stage stopped
    /// before it (found out by [`Upstream::join`]).
    pub(super) fn next(&mut self) -> Result<Option<(Chunk, Validated)>, RunError> {
        match self.chunks.recv() {
            Ok(FromValidator::Chunk(chunk, validated)) => Ok(Some((chunk, validated))),
            Ok(FromValidator::Done(f)) => {
                self.read_to_end = Some(f);
                Ok(None)
            }
            Ok(FromValidator::Failed(e)) => Err(e),
            Err(mpsc::RecvError) => Ok(None),
        }
    }

    /// Closes the channel and joins both threads. A run `stopped` (by a threshold, or by a
    /// writer's error, reported when it is joined) leaves them blocked on a closed channel: they
    /// end on their own. Otherwise the input is read to its end: anything else would be rows
    /// lost without a word, an error.
    pub(super) fn join(self, stopped: bool) -> Result<InputRead, RunError> {
        drop(self.chunks);
        let validating_ended = self.validating.join();
        let reader_ended = self.reader.join();
        match self.read_to_end {
            Some(f) => Ok(InputRead::ToEnd(f)),
            None if stopped => Ok(InputRead::Stopped {
                pipe_read: reader_ended.ok().flatten(),
            }),
            None => Err(RunError::Internal {
                stage: if reader_ended.is_err() {
                    "reading the input"
                } else if validating_ended.is_err() {
                    "validating rows"
                } else {
                    "handing rows between stages"
                },
                message: "the stage stopped before the end of the input".into(),
            }),
        }
    }
}

/// Reads every chunk and hands it on. When the run stops first (the receiver is gone), a pipe,
/// which cannot be read again for its checksum, gives the checksum of what it read.
fn read_all(mut source: Source, tx: mpsc::SyncSender<FromReader>) -> Option<Fingerprint> {
    let path = source.info().path.clone();
    loop {
        let next = crate::panics::contain(|| source.next_chunk(CHUNK_ROWS)).unwrap_or_else(|e| {
            Err(SourceError::Read {
                path: path.clone(),
                line: 0,
                message: format!("the reader failed on this input: {e}"),
            })
        });
        match next {
            Ok(Some(chunk)) => {
                if tx.send(FromReader::Chunk(chunk)).is_err() {
                    return if source.info().stream {
                        source.read_so_far()
                    } else {
                        None
                    };
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(FromReader::Failed(e));
                return None;
            }
        }
    }
    let _ = tx.send(match source.finish() {
        Ok(f) => FromReader::Done(f),
        Err(e) => FromReader::Failed(e),
    });
    None
}

/// Validates every chunk the reader sends, in order, and hands each on with its verdict.
fn check_all(
    mut validator: Validator,
    rx: mpsc::Receiver<FromReader>,
    tx: mpsc::SyncSender<FromValidator>,
) {
    for message in rx {
        let checked = match message {
            FromReader::Chunk(chunk) => {
                match crate::panics::contain(|| validator.validate(&chunk)) {
                    Ok(Ok(validated)) => FromValidator::Chunk(chunk, validated),
                    Ok(Err(e)) => FromValidator::Failed(e.into()),
                    Err(message) => FromValidator::Failed(RunError::Internal {
                        stage: "validating rows",
                        message,
                    }),
                }
            }
            FromReader::Done(f) => FromValidator::Done(f),
            FromReader::Failed(e) => FromValidator::Failed(e.into()),
        };
        let last = !matches!(checked, FromValidator::Chunk(..));
        if tx.send(checked).is_err() || last {
            return;
        }
    }
}

/// At most this many writer threads: beyond it, the targets' files are not what holds a run up.
const MAX_WRITERS: usize = 4;

/// A thread writing the files of its share of the targets.
struct TargetWriter {
    share: sink::Share,
    tx: mpsc::SyncSender<Vec<Option<TargetRows>>>,
    handle: JoinHandle<Result<Vec<TargetReport>, SinkError>>,
}

/// The writer threads: `None` when the run writes no target (a dry run); none when every
/// target is a table on a server.
pub(super) struct Writers(Option<Vec<TargetWriter>>);

impl Writers {
    /// Starts the writer threads, writing into `staging`, when the run `writes_targets`.
    /// Targets are written on threads of their own, overlapping the next chunk's validation;
    /// with more than one core, targets are shared among writers (see `sink::shares`).
    pub(super) fn start(
        plan: &Plan,
        binding: &Binding,
        staging: &Path,
        writes_targets: bool,
    ) -> Result<Self, SinkError> {
        if !writes_targets {
            return Ok(Writers(None));
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut writers = Vec::new();
        for share in sink::shares(plan, binding, cores.min(MAX_WRITERS)) {
            let mut sinks = Sinks::new(plan, binding, staging, &share)?;
            let (tx, rx) = mpsc::sync_channel::<Vec<Option<TargetRows>>>(2);
            let handle = std::thread::Builder::new()
                .name("rowferry-write".into())
                .spawn(move || -> Result<Vec<TargetReport>, SinkError> {
                    for rows in rx {
                        sinks.write(rows)?;
                    }
                    sinks.finish()
                })
                .map_err(|e| SinkError::Write {
                    path: staging.to_path_buf(),
                    source: e,
                })?;
            writers.push(TargetWriter { share, tx, handle });
        }
        Ok(Writers(Some(writers)))
    }

    /// Hands each writer the rows of the targets it owns. False when a writer has stopped (on
    /// an error, reported when it is joined).
    pub(super) fn hand(&self, projected: Projected) -> bool {
        let mut rows = projected.targets;
        for w in self.0.iter().flatten() {
            let mine = w
                .share
                .targets
                .iter()
                .map(|&ti| rows.get_mut(ti).and_then(Option::take))
                .collect();
            if w.tx.send(mine).is_err() {
                return false;
            }
        }
        true
    }

    /// Closes the writers' channels and joins them: each plan target's report (`None` for a
    /// target no writer owns: a table on a server), or the first writer's error (a panic is
    /// one too). `None` exactly when the run writes no target.
    pub(super) fn join(
        self,
        targets: usize,
        staging: &Path,
    ) -> Result<Option<Vec<Option<TargetReport>>>, RunError> {
        let Some(writers) = self.0 else {
            return Ok(None);
        };
        let mut reports: Vec<Option<TargetReport>> = vec![None; targets];
        let mut failed = None;
        for TargetWriter { share, tx, handle } in writers {
            drop(tx);
            let result = handle.join().unwrap_or_else(|_| {
                Err(SinkError::Write {
                    path: staging.to_path_buf(),
                    source: std::io::Error::other("a writer thread panicked"),
                })
            });
            match result {
                Ok(written) => {
                    for (ti, report) in share.targets.into_iter().zip(written) {
                        reports[ti] = Some(report);
                    }
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        sink::remove_spill(staging)?;
        Ok(Some(reports))
    }
}
