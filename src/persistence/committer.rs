//! Group commit through the log: the writes that arrive while earlier groups are being
//! synced share one `write` and one `fdatasync`.
//!
//! Every writer (product, order and cart actors, the catalog, reservations, payments,
//! idempotency, accounts) hands a [`ProductWrite`] and a completion to the committer; that is
//! the only way acknowledged state reaches the disk. The threads form a pipeline:
//!
//! 1. the **writer** takes everything queued and appends it to the [log](super::log) as
//!    consecutive records with one `write` (one writer: the log's order is the queue's);
//! 2. one of [`SYNCERS`] **syncer** threads `fdatasync`s the segment. Several groups may be
//!    syncing at once: on this kind of disk one sync at a time leaves the device idle between
//!    flushes (measured: 1 200 syncs/s from one thread, 10 000 from four), and a sync covers
//!    every record written before it, so overlapping syncs lose no ordering;
//! 3. the **applier** takes the synced groups *in log order* (holding back one that finished
//!    syncing before an earlier one), applies each to sled (one batch per tree, no flush: the
//!    log made them durable) and only then calls its completions, in submission order: that
//!    is where replies are sent, read models updated and events published, so nothing is
//!    acknowledged or published before it is durable, and a reader of sled sees every write
//!    that was acknowledged.
//!
//! Another thread moves the checkpoint (see [`Storage::checkpoint`]) at the configured
//! interval. Jobs without a write (refusals that must be answered behind earlier writes,
//! [`Committer::durable`] barriers) ride along in log order and cost no fsync of their own.

use super::{
    ProductWrite, Storage, StorageError,
    log::{LogWriter, Written},
};
use std::collections::BTreeMap;
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

/// A group on its way to the applier, with the outcome of its log append.
struct Group {
    /// Position of the group in the writer's order (the applier's order).
    seq: u64,
    jobs: Vec<Job>,
    /// The LSN of the group's last record (`None` for a group without writes), or why the
    /// append failed.
    appended: Result<Option<u64>, StorageError>,
}

/// A written group on its way to a syncer.
struct ToSync {
    seq: u64,
    jobs: Vec<Job>,
    written: Written,
    started: std::time::Instant,
}

/// Threads syncing groups at once (see the module docs).
pub const SYNCERS: usize = 4;

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
        let (groups_tx, groups_rx) = std_mpsc::channel::<Group>();
        // A rendezvous: the writer hands a group over only to an idle syncer, so at most
        // SYNCERS groups sync at once and the next group gathers the jobs queued meanwhile.
        let (sync_tx, sync_rx) = std_mpsc::sync_channel::<ToSync>(0);
        let sync_rx = Arc::new(std::sync::Mutex::new(sync_rx));
        let mut spawned = spawn("emporium-log", {
            let groups_tx = groups_tx.clone();
            let failed = Arc::clone(&failed);
            move || write_groups(writer, rx, &sync_tx, &groups_tx, &failed)
        });
        for n in 0..SYNCERS {
            let (sync_rx, groups_tx) = (Arc::clone(&sync_rx), groups_tx.clone());
            spawned = spawned.and_then(|()| {
                spawn(&format!("emporium-sync-{n}"), move || {
                    sync_groups(&sync_rx, &groups_tx)
                })
            });
        }
        drop(groups_tx);
        let spawned = spawned
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

/// The writer thread: writes each group to the log and hands it to a syncer (groups without
/// writes, and every group after a failure, go straight to the applier).
fn write_groups(
    mut log: LogWriter,
    mut rx: mpsc::Receiver<Job>,
    syncers: &std_mpsc::SyncSender<ToSync>,
    applier: &std_mpsc::Sender<Group>,
    failed: &AtomicBool,
) {
    let mut broken: Option<StorageError> = None;
    for seq in 0.. {
        let mut jobs = Vec::with_capacity(256);
        if !next_group(&mut rx, &mut jobs) {
            return;
        }
        if broken.is_none() && failed.load(Ordering::Relaxed) {
            broken = Some(StorageError::Unavailable("an earlier write failed"));
        }
        let appended = if let Some(error) = &broken {
            // After a failure the file may end in a torn record; nothing more may be
            // appended behind it (start-up cuts it off).
            Err(error.clone())
        } else {
            let started = std::time::Instant::now();
            let bodies = jobs
                .iter()
                .filter_map(|job| job.write.as_ref().map(|(_, body)| body.as_slice()));
            match log.write(bodies) {
                Ok(Some(written)) => {
                    let handed = syncers.send(ToSync {
                        seq,
                        jobs,
                        written,
                        started,
                    });
                    if handed.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(None) => Ok(None),
                Err(error) => {
                    let error = StorageError::from(error);
                    broken = Some(error.clone());
                    Err(error)
                }
            }
        };
        if applier
            .send(Group {
                seq,
                jobs,
                appended,
            })
            .is_err()
        {
            return;
        }
    }
}

/// A syncer thread: syncs written groups and passes them on to the applier.
fn sync_groups(
    groups: &std::sync::Mutex<std_mpsc::Receiver<ToSync>>,
    applier: &std_mpsc::Sender<Group>,
) {
    loop {
        let next = match groups.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(ToSync {
            seq,
            jobs,
            written,
            started,
        }) = next
        else {
            return;
        };
        let appended = written.sync().map(Some).map_err(StorageError::from);
        let elapsed = started.elapsed();
        let hot = &crate::observability::HOT;
        hot.journal_batch.record(jobs.len() as f64);
        hot.journal_fsync.record(elapsed.as_secs_f64());
        tracing::trace!(
            batch = jobs.len(),
            micros = elapsed.as_micros() as u64,
            "group commit"
        );
        if applier
            .send(Group {
                seq,
                jobs,
                appended,
            })
            .is_err()
        {
            return;
        }
    }
}

/// The applier thread: takes the groups in the writer's order, applies each durable one to
/// sled, then completes its jobs. Once a group failed, every later one fails too (an earlier
/// record may not be on disk, so a later one must not be acknowledged).
fn apply_groups(
    storage: &Storage,
    groups: std_mpsc::Receiver<Group>,
    failed: &AtomicBool,
    runtime: Option<tokio::runtime::Handle>,
) {
    let state = storage.log_state();
    let mut early: BTreeMap<u64, Group> = BTreeMap::new();
    let mut next_seq = 0;
    let mut poisoned: Option<StorageError> = None;
    for group in groups {
        early.insert(group.seq, group);
        while let Some(Group {
            mut jobs, appended, ..
        }) = early.remove(&next_seq)
        {
            next_seq += 1;
            let result = match (&poisoned, appended) {
                (Some(error), _) => Err(error.clone()),
                (None, Err(error)) => Err(error),
                (None, Ok(None)) => Ok(()),
                (None, Ok(Some(last))) => {
                    state.durable.send_replace(last);
                    crate::observability::HOT.log_durable.set(last as f64);
                    let writes: Vec<ProductWrite> = jobs
                        .iter_mut()
                        .filter_map(|job| job.write.take().map(|(write, _)| write))
                        .collect();
                    storage.apply_writes(writes).map(|()| {
                        state.applied.store(last, Ordering::Release);
                    })
                }
            };
            if let Err(error) = &result {
                poisoned.get_or_insert_with(|| error.clone());
                if !failed.swap(true, Ordering::Relaxed) {
                    tracing::error!(%error, "a durable write failed; refusing writes until restart");
                }
            }
            let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
            for job in jobs {
                (job.complete)(result.clone());
            }
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
