//! The load stage on a thread of its own, one chunk behind the compute thread: while a
//! database takes chunk N's rows (a PostgreSQL `COPY` is as long as the rest of the run), the
//! compute thread reads, validates, enriches and projects chunk N+1. Chunk N is reported and
//! handed to the writers only once its verdict — the rows the databases refused — is in, so
//! nothing changes for the rows: a refused row still reaches no file target. A threshold is
//! then checked a chunk later, and the chunk loaded meanwhile is rolled back with the rest.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::load::{LoadError, Loader, Refused};
use crate::project::Projected;

use super::RunError;

/// One chunk's rows for the loader: its projection, its row numbers and lines.
struct Job {
    projected: Projected,
    rows: Vec<u64>,
    lines: Vec<u64>,
}

/// A chunk loaded: its projection (without the database targets' rows) and the rows refused.
pub(super) struct Done {
    pub(super) projected: Projected,
    pub(super) refused: Refused,
}

/// The loader's thread and its two channels.
pub(super) struct Loading {
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Result<Done, LoadError>>,
    handle: JoinHandle<Loader>,
}

impl Loading {
    /// Starts the loader's thread.
    pub(super) fn start(mut loader: Loader) -> Result<Loading, RunError> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(1);
        let (tx, done) = mpsc::sync_channel(2);
        let handle = std::thread::Builder::new()
            .name("rowferry-load".into())
            .spawn(move || {
                for mut job in rx {
                    let loaded = loader
                        .load(&mut job.projected, (&job.rows, &job.lines))
                        .map(|refused| Done {
                            projected: job.projected,
                            refused,
                        });
                    let failed = loaded.is_err();
                    if tx.send(loaded).is_err() || failed {
                        break;
                    }
                }
                loader
            })
            .map_err(|e| RunError::Internal {
                stage: "starting the load",
                message: e.to_string(),
            })?;
        Ok(Loading {
            jobs: Some(jobs),
            done,
            handle,
        })
    }

    /// Hands the loader a chunk's projection (taken out of `projected`), with the chunk's row
    /// numbers and lines.
    pub(super) fn submit(
        &self,
        projected: &mut Projected,
        (rows, lines): (&[u64], &[u64]),
    ) -> Result<(), RunError> {
        let job = Job {
            projected: std::mem::take(projected),
            rows: rows.to_vec(),
            lines: lines.to_vec(),
        };
        match self.jobs.as_ref().map(|j| j.send(job)) {
            Some(Ok(())) => Ok(()),
            // The loader stopped: its error is the next verdict.
            _ => Ok(()),
        }
    }

    /// The verdict on the oldest chunk handed over.
    pub(super) fn receive(&self) -> Result<Done, RunError> {
        match self.done.recv() {
            Ok(done) => Ok(done?),
            Err(_) => Err(RunError::Internal {
                stage: "loading rows into the databases",
                message: "the loader stopped without a verdict".into(),
            }),
        }
    }

    /// Waits for the chunk being loaded, if any, and gives the loader back.
    pub(super) fn finish(mut self) -> Result<Loader, RunError> {
        drop(self.jobs.take());
        self.handle.join().map_err(|_| RunError::Internal {
            stage: "loading rows into the databases",
            message: "the loader's thread panicked".into(),
        })
    }
}
