//! Group commit: one batch and one fsync serve every write that arrived while the previous
//! group ran.
//!
//! Entity writers (product, order and cart actors, the catalog) hand their [`ProductWrite`]
//! and a completion to the committer; other writers insert into sled themselves and hand
//! only a completion. The committer (a thread of its own) takes everything queued, applies
//! every entity write of the group as *one* sled batch (sled 0.34 syncs its IO buffer at the
//! end of each atomic batch, so one batch per write would cost a device sync per write), runs
//! one `flush`, and only then calls the completions, in submission order: that is where
//! replies are sent and events published, so nothing is acknowledged or published before it
//! is on disk.
//!
//! A consequence worth knowing: an entity write is visible to sled readers only once its
//! group is applied, a moment after the actor decided it. Actors keep their own state in
//! memory; the few that read their own earlier writes back from sled wait for
//! [`Committer::durable`] first.

use super::{ProductWrite, Storage, StorageError};
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
    /// The entity write to apply with the group, if any.
    write: Option<ProductWrite>,
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
    /// Starts the committer for `storage` on a thread of its own.
    ///
    /// Applying a group's batch and waiting for its flush are blocking sled calls; on one of
    /// the runtime's (two, here) worker threads they would stall every task queued behind
    /// them. The thread enters the current runtime (when there is one) so that completions
    /// may spawn tasks and arm timers.
    pub fn start(storage: Storage) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH);
        let failed = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Handle::try_current().ok();
        let flag = Arc::clone(&failed);
        let started = std::thread::Builder::new()
            .name("emporium-commit".into())
            .spawn(move || run(storage, rx, flag, runtime));
        if let Err(error) = started {
            // Without a committer nothing can be made durable: refuse writes.
            tracing::error!(%error, "could not start the committer thread");
            failed.store(true, Ordering::Relaxed);
        }
        Self { tx, failed }
    }

    /// Whether a flush has ever failed. After that the in-memory state may be ahead of disk,
    /// so the server refuses writes and reports not ready until restarted.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Queues `complete` behind every earlier job; `dirty` says whether the caller wrote.
    pub async fn submit(&self, dirty: bool, complete: Completion) {
        self.enqueue(Job {
            dirty,
            write: None,
            complete,
        })
        .await;
    }

    /// Queues an entity write: it is applied (atomically) with its group, and `complete` runs
    /// once it is durable.
    pub async fn submit_write(&self, write: ProductWrite, complete: Completion) {
        self.enqueue(Job {
            dirty: true,
            write: Some(write),
            complete,
        })
        .await;
    }

    /// Applies `write` with the next group and waits until it is durable.
    pub async fn write_durable(&self, write: ProductWrite) -> Result<(), StorageError> {
        self.wait_for(Some(write)).await
    }

    async fn enqueue(&self, job: Job) {
        if let Err(mpsc::error::SendError(job)) = self.tx.send(job).await {
            (job.complete)(Err(StorageError("committer stopped".into())));
        }
    }

    /// Waits until everything written before this call is durable.
    pub async fn durable(&self) -> Result<(), StorageError> {
        self.wait_for(None).await
    }

    /// Queues a dirty job (with `write`, if any) and waits for its completion.
    async fn wait_for(&self, write: Option<ProductWrite>) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Job {
            dirty: true,
            write,
            complete: Box::new(move |result| {
                let _ = tx.send(result);
            }),
        })
        .await;
        rx.await
            .unwrap_or_else(|_| Err(StorageError("committer dropped a job".into())))
    }
}

/// Takes every queued job (at least one; blocks until there is one), up to [`MAX_BATCH`].
fn next_group(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) -> bool {
    let Some(first) = rx.blocking_recv() else {
        return false;
    };
    batch.push(first);
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    true
}

fn run(
    storage: Storage,
    mut rx: mpsc::Receiver<Job>,
    failed: Arc<AtomicBool>,
    runtime: Option<tokio::runtime::Handle>,
) {
    let db = storage.db().clone();
    let mut batch = Vec::with_capacity(256);
    while next_group(&mut rx, &mut batch) {
        let result = if batch.iter().any(|job| job.dirty) {
            let started = std::time::Instant::now();
            let writes: Vec<ProductWrite> = batch
                .iter_mut()
                .filter_map(|job| job.write.take())
                .collect();
            let applied = if writes.is_empty() {
                Ok(())
            } else {
                storage.apply_writes(writes)
            };
            let flushed = match applied {
                Ok(()) if crate::fault::flush_fails() => {
                    Err(StorageError("injected fault: flush failed".into()))
                }
                Ok(()) => db.flush().map_err(StorageError::from),
                Err(error) => Err(error),
            };
            let elapsed = started.elapsed();
            let hot = &crate::observability::HOT;
            hot.journal_batch.record(batch.len() as f64);
            hot.journal_fsync.record(elapsed.as_secs_f64());
            tracing::trace!(
                batch = batch.len(),
                micros = elapsed.as_micros() as u64,
                "group commit"
            );
            flushed.map(|_| ())
        } else {
            Ok(())
        };
        if let Err(error) = &result {
            failed.store(true, Ordering::Relaxed);
            tracing::error!(%error, "flush failed; refusing writes until restart");
        }
        let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
        for job in batch.drain(..) {
            (job.complete)(result.clone());
        }
    }
}
