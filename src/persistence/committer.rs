//! Group commit through the log: one `write` and one `fdatasync` serve every write that
//! arrived while the previous group was being written.
//!
//! Every writer (product, order and cart actors, the catalog, reservations, payments,
//! idempotency, accounts) hands a [`ProductWrite`] and a completion to the committer; that is
//! the only way acknowledged state reaches the disk. Two threads form a pipeline:
//!
//! 1. the **writer** takes everything queued, appends the group's writes to the
//!    [log](super::log) as consecutive records with one `write` and one `fdatasync`, and
//!    passes the group on (then takes the next group while the applier works);
//! 2. the **applier** applies the group's writes to sled (one batch per tree, no flush: the
//!    log made them durable) and only then calls the completions, in submission order: that
//!    is where replies are sent, read models updated and events published, so nothing is
//!    acknowledged or published before it is durable, and a reader of sled sees every write
//!    that was acknowledged.
//!
//! A third thread moves the checkpoint (see [`Storage::checkpoint`]) at the configured
//! interval. Jobs without a write (refusals that must be answered behind earlier writes,
//! [`Committer::durable`] barriers) ride along with their group and cost no fsync of their
//! own.

use super::{ProductWrite, Storage, StorageError, log::LogWriter};
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
    mpsc as std_mpsc,
};
use tokio::sync::{mpsc, oneshot};

/// Called once the writes submitted before it are durable (or the write failed).
pub type Completion = Box<dyn FnOnce(Result<(), StorageError>) + Send>;

struct Job {
    /// The write and its log record body (encoded by the submitting task, off the writer
    /// thread).
    write: Option<(ProductWrite, Vec<u8>)>,
    complete: Completion,
}

/// A group on its way from the writer to the applier, with the outcome of its log append.
struct Group {
    jobs: Vec<Job>,
    /// The LSN of the group's last record (or of the last before it, for a group without
    /// writes), or why the append failed.
    appended: Result<u64, StorageError>,
}

/// Most jobs one group serves; keeps one group's reply burst bounded.
const MAX_BATCH: usize = 16_384;

/// Handle to the group-commit threads.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
    failed: Arc<AtomicBool>,
    /// Dropped with the last handle, which stops the checkpoint thread.
    _stop_checkpoints: Arc<std_mpsc::Sender<()>>,
}

impl Committer {
    /// Starts the committer threads for `storage` (which must have been opened: it hands
    /// over its log writer).
    ///
    /// Writing, syncing and applying are blocking calls; on one of the runtime's (two, here)
    /// worker threads they would stall every task queued behind them. The applier enters the
    /// current runtime (when there is one) so that completions may spawn tasks and arm timers.
    pub fn start(storage: Storage) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH);
        let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
        let failed = Arc::new(AtomicBool::new(false));
        let committer = Self {
            tx,
            failed: Arc::clone(&failed),
            _stop_checkpoints: Arc::new(stop_tx),
        };
        let writer = storage
            .log_state()
            .writer
            .lock()
            .ok()
            .and_then(|mut writer| writer.take());
        let Some(writer) = writer else {
            tracing::error!("the log writer is gone (a second committer?); refusing writes");
            failed.store(true, Ordering::Relaxed);
            return committer;
        };
        let runtime = tokio::runtime::Handle::try_current().ok();
        // One group may wait between the threads while the writer syncs the next.
        let (groups_tx, groups_rx) = std_mpsc::sync_channel::<Group>(1);
        let spawned = spawn("emporium-log", {
            let storage = storage.clone();
            move || write_groups(&storage, writer, rx, groups_tx)
        })
        .and_then(|()| {
            spawn("emporium-apply", {
                let storage = storage.clone();
                let failed = Arc::clone(&failed);
                move || apply_groups(&storage, groups_rx, &failed, runtime)
            })
        })
        .and_then(|()| {
            spawn("emporium-checkpoint", {
                let failed = Arc::clone(&failed);
                move || checkpoint_regularly(&storage, &stop_rx, &failed)
            })
        });
        if let Err(error) = spawned {
            // Without the threads nothing can be made durable: refuse writes.
            tracing::error!(%error, "could not start the committer threads");
            failed.store(true, Ordering::Relaxed);
        }
        committer
    }

    /// Whether a write has ever failed. After that the in-memory state may be ahead of disk,
    /// so the server refuses writes and reports not ready until restarted.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Queues `complete` behind every earlier job (a reply that must not overtake the writes
    /// decided before it).
    pub async fn submit(&self, complete: Completion) {
        self.enqueue(Job {
            write: None,
            complete,
        })
        .await;
    }

    /// Queues a write: it becomes one log record of the next group, and `complete` runs once
    /// it is durable and applied.
    pub async fn submit_write(&self, write: ProductWrite, complete: Completion) {
        let body = write.encode();
        self.enqueue(Job {
            write: Some((write, body)),
            complete,
        })
        .await;
    }

    /// Writes `write` with the next group and waits until it is durable and applied.
    pub async fn write_durable(&self, write: ProductWrite) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.submit_write(write, reply_to(tx)).await;
        rx.await.unwrap_or(Err(StorageError::Unavailable(
            "the committer dropped a job",
        )))
    }

    /// [`Committer::write_durable`] for start-up code outside the runtime's workers (it
    /// blocks the calling thread).
    pub fn write_durable_blocking(&self, write: ProductWrite) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        let body = write.encode();
        let job = Job {
            write: Some((write, body)),
            complete: reply_to(tx),
        };
        if let Err(mpsc::error::SendError(job)) = self.tx.blocking_send(job) {
            (job.complete)(Err(StorageError::Unavailable("the committer stopped")));
        }
        rx.blocking_recv().unwrap_or(Err(StorageError::Unavailable(
            "the committer dropped a job",
        )))
    }

    /// Waits until everything submitted before this call is durable and applied.
    pub async fn durable(&self) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.submit(reply_to(tx)).await;
        rx.await.unwrap_or(Err(StorageError::Unavailable(
            "the committer dropped a job",
        )))
    }

    async fn enqueue(&self, job: Job) {
        if let Err(mpsc::error::SendError(job)) = self.tx.send(job).await {
            (job.complete)(Err(StorageError::Unavailable("the committer stopped")));
        }
    }
}

fn reply_to(tx: oneshot::Sender<Result<(), StorageError>>) -> Completion {
    Box::new(move |result| {
        let _ = tx.send(result);
    })
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map(|_| ())
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

/// The writer thread: appends each group to the log and hands it to the applier.
fn write_groups(
    storage: &Storage,
    mut log: LogWriter,
    mut rx: mpsc::Receiver<Job>,
    groups: std_mpsc::SyncSender<Group>,
) {
    let state = storage.log_state();
    let mut broken: Option<StorageError> = None;
    loop {
        let mut jobs = Vec::with_capacity(256);
        if !next_group(&mut rx, &mut jobs) {
            return;
        }
        let appended = if let Some(error) = &broken {
            // After a failed append the file may end in a torn record; nothing more may be
            // appended behind it (start-up cuts it off).
            Err(error.clone())
        } else if jobs.iter().any(|job| job.write.is_some()) {
            let started = std::time::Instant::now();
            let bodies = jobs
                .iter()
                .filter_map(|job| job.write.as_ref().map(|(_, body)| body.as_slice()));
            let result = log.append(bodies).map_err(StorageError::from);
            let elapsed = started.elapsed();
            let hot = &crate::observability::HOT;
            hot.journal_batch.record(jobs.len() as f64);
            hot.journal_fsync.record(elapsed.as_secs_f64());
            tracing::trace!(
                batch = jobs.len(),
                micros = elapsed.as_micros() as u64,
                "group commit"
            );
            match &result {
                Ok(last) => {
                    state.durable.send_replace(*last);
                }
                Err(error) => broken = Some(error.clone()),
            }
            result
        } else {
            Ok(log.next_lsn() - 1)
        };
        if groups.send(Group { jobs, appended }).is_err() {
            return;
        }
    }
}

/// The applier thread: applies each durable group to sled, then completes its jobs.
fn apply_groups(
    storage: &Storage,
    groups: std_mpsc::Receiver<Group>,
    failed: &AtomicBool,
    runtime: Option<tokio::runtime::Handle>,
) {
    let state = storage.log_state();
    for Group { mut jobs, appended } in groups {
        let result = appended.and_then(|last| {
            let writes: Vec<ProductWrite> = jobs
                .iter_mut()
                .filter_map(|job| job.write.take().map(|(write, _)| write))
                .collect();
            if !writes.is_empty() {
                storage.apply_writes(writes)?;
                state.applied.store(last, Ordering::Release);
            }
            Ok(())
        });
        if let Err(error) = &result
            && !failed.swap(true, Ordering::Relaxed)
        {
            tracing::error!(%error, "a durable write failed; refusing writes until restart");
        }
        let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
        for job in jobs {
            (job.complete)(result.clone());
        }
    }
}

/// The checkpoint thread: moves the checkpoint every interval until the committer is dropped.
fn checkpoint_regularly(storage: &Storage, stop: &std_mpsc::Receiver<()>, failed: &AtomicBool) {
    let interval = storage.log_state().options.checkpoint_interval;
    while let Err(std_mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        if let Err(error) = storage.checkpoint()
            && !failed.swap(true, Ordering::Relaxed)
        {
            tracing::error!(%error, "a checkpoint failed; refusing writes until restart");
        }
    }
}
