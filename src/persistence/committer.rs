//! Group commit: one fsync serves every write that arrived while the previous one ran.
//!
//! Writers insert into sled (memory only), then hand a completion to the committer. The
//! committer takes everything queued, runs one `flush_async`, and only then calls the
//! completions, in submission order: that is where replies are sent and events published, so
//! nothing is acknowledged or published before it is on disk.

use super::StorageError;
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};
use tokio::sync::{mpsc, oneshot};

/// Called once the writes submitted before it are durable (or the flush failed).
pub type Completion = Box<dyn FnOnce(Result<(), StorageError>) + Send>;

struct Job {
    /// Whether this job wrote anything. A batch of only clean jobs (refusals that must stay in
    /// order behind earlier writes) skips the fsync.
    dirty: bool,
    complete: Completion,
}

/// Most jobs one flush serves; keeps one batch's reply burst bounded.
const MAX_BATCH: usize = 16_384;

/// Handle to the group-commit task.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
    failed: Arc<AtomicBool>,
}

impl Committer {
    /// Starts the committer task for `db`.
    pub fn start(db: sled::Db) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH);
        let failed = Arc::new(AtomicBool::new(false));
        tokio::spawn(run(db, rx, Arc::clone(&failed)));
        Self { tx, failed }
    }

    /// Whether a flush has ever failed. After that the in-memory state may be ahead of disk,
    /// so the server refuses writes and reports not ready until restarted.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Queues `complete` behind every earlier job; `dirty` says whether the caller wrote.
    pub async fn submit(&self, dirty: bool, complete: Completion) {
        if let Err(mpsc::error::SendError(job)) = self.tx.send(Job { dirty, complete }).await {
            (job.complete)(Err(StorageError("committer stopped".into())));
        }
    }

    /// Waits until everything written before this call is durable.
    pub async fn durable(&self) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.submit(
            true,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        )
        .await;
        rx.await
            .unwrap_or_else(|_| Err(StorageError("committer dropped a job".into())))
    }
}

async fn run(db: sled::Db, mut rx: mpsc::Receiver<Job>, failed: Arc<AtomicBool>) {
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let result = if batch.iter().any(|job| job.dirty) {
            let started = std::time::Instant::now();
            let flushed = db.flush_async().await;
            let elapsed = started.elapsed();
            let hot = &crate::observability::HOT;
            hot.journal_batch.record(batch.len() as f64);
            hot.journal_fsync.record(elapsed.as_secs_f64());
            tracing::trace!(
                batch = batch.len(),
                micros = elapsed.as_micros() as u64,
                "group commit"
            );
            flushed.map(|_| ()).map_err(StorageError::from)
        } else {
            Ok(())
        };
        if let Err(error) = &result {
            failed.store(true, Ordering::Relaxed);
            tracing::error!(%error, "flush failed; refusing writes until restart");
        }
        for job in batch.drain(..) {
            (job.complete)(result.clone());
        }
    }
}
