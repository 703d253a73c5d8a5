//! What stops a delivery, a notification or an API read. A refused batch is not here: it is a
//! [`super::Verdict`]. No message holds a header value; URLs are masked ([`super::mask_url`]),
//! a webhook's down to its origin.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverError {
    #[error(
        "The HTTP endpoint `{url}` cannot be used: {problem}. Fix it in the target's settings; \
         nothing was sent."
    )]
    Endpoint { url: String, problem: String },

    #[error(
        "Batches {first} and {second} have the same idempotency key `{key}`, so the server would \
         keep only one of them. The key's scope must name the target and the batch number; \
         nothing was sent."
    )]
    DuplicateKey {
        key: String,
        first: u64,
        second: u64,
    },

    #[error(
        "The delivery journal `{path}` cannot be read: {source}. It records which batches the \
         server acknowledged; make it readable, then deliver again."
    )]
    JournalRead { path: PathBuf, source: io::Error },

    #[error(
        "The delivery journal `{path}` is damaged at line {line}: {problem}. Only rowferry \
         writes it; restore it from a backup, or remove it to send every batch again (the \
         server recognises batches it already has by their Idempotency-Key)."
    )]
    JournalDamaged {
        path: PathBuf,
        line: usize,
        problem: String,
    },

    #[error(
        "The delivery journal `{path}` cannot be written: {source}. Delivery stopped so that no \
         acknowledged batch goes unrecorded; make room or fix the folder's permissions, then \
         resume: acknowledged batches are not sent again."
    )]
    JournalWrite { path: PathBuf, source: io::Error },

    #[error(
        "The body of batch {id}, `{path}`, cannot be read: {source}. Delivery stopped; the \
         run's output folder is incomplete: run again, or restore the file and resume."
    )]
    BodyUnreadable {
        id: u64,
        path: PathBuf,
        source: io::Error,
    },

    #[error("`{path}` cannot be read to compute its idempotency key: {source}.")]
    KeyUnreadable { path: PathBuf, source: io::Error },

    #[error("The request to `{url}` failed: {reason}.")]
    Request { url: String, reason: String },

    #[error("`{url}` answered {status}{}.", excerpt_words(.excerpt))]
    Status {
        url: String,
        status: u16,
        excerpt: String,
    },

    #[error(
        "The API at `{url}` did not answer records: {problem}. A lookup reads a JSON array of \
         objects, an object with `records_pointer` pointing at such an array, or NDJSON."
    )]
    Records { url: String, problem: String },

    #[error(
        "Reading the API's pages from `{url}` stopped: {problem}. Check the API's paging \
         (its `Link: <…>; rel=\"next\"` headers)."
    )]
    Paging { url: String, problem: String },
}

fn excerpt_words(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!(": {excerpt}")
    }
}
