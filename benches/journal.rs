//! Cost of one durable journal append, with and without group commit.
//!
//! What the product actor does for a stock hold, minus the decision: build a [`ProductWrite`]
//! with one journal record (`StockChange::Held`) and one stored `stock.changed` event, hand it
//! with a completion to the [`Committer`] (started exactly as `App::open` starts it) via
//! [`Committer::submit_write`], and wait until that completion has run, i.e. until the group
//! holding the write has been applied to sled as one batch and fsynced. Time is per write:
//!
//! - `journal_append/group_commit/1`: one writer, one write in flight at a time, so every
//!   group holds one write (the committer's cost floor: one batch, one fsync, two task hops).
//! - `journal_append/group_commit/64`: 64 writers (one per product, each its own task, like
//!   product actors), each issuing its next write as soon as the last one is durable; wall
//!   time / writes. Writes that arrive while a group is being flushed share the next one.
//! - The baseline, in the same run: the same two encoded entries `insert`ed into a plain sled
//!   tree (separate database, same cache size), then a flush per write, no committer.
//!   `sled_flush_async_per_write/1` awaits `flush_async`; `sled_flush_per_write/{1,64}` runs
//!   the blocking `flush` under `spawn_blocking`, because 64 concurrent `flush_async` calls
//!   deadlock sled 0.34.7 (every thread of sled's I/O pool waits in `make_stable` for a
//!   buffer write queued behind them; sled issue #1308, fixed on sled's main branch but never
//!   released). The committer never has more than one flush in flight, so it is not exposed.
//!
//! The ratio baseline / group commit at 64 writers is what group commit buys. After each
//! group-commit benchmark the mean group size (writes per fsync) is printed, read from the
//! committer's own `emporium_journal_batch_size` histogram.
//!
//! Run: `cargo bench --bench journal` (about a minute on two cores). The figures depend on
//! the disk's fsync latency far more than on the CPU.

mod common;

use criterion::{BenchmarkId, Throughput};
use emporium::{
    domain::{
        ids::{ProductId, ReservationId},
        product::ProductChange,
        stock::StockChange,
        time::now_ms,
    },
    observability,
    persistence::{JournalRecord, ProductWrite, Storage, StoredEvent, codec, committer::Committer},
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// Writers in the concurrent benchmarks.
const WRITERS: u64 = 64;
/// A run that takes longer than this is stuck, not slow.
const STALL: Duration = Duration::from_secs(60);

/// The journal record and the stored event of one hold of `product`, as the product actor
/// builds them (journal position `idx`, event sequence `idx`).
fn hold_record(product: &ProductId, idx: u64) -> (JournalRecord, StoredEvent) {
    let at = now_ms();
    let record = JournalRecord {
        idx,
        at,
        change: ProductChange::Stock(StockChange::Held {
            reservation: ReservationId::generate(),
            quantity: 1,
            expires_at: at + 600_000,
        }),
    };
    let data = serde_json::json!({
        "product_id": product,
        "on_hand": 1_000_000,
        "reserved": idx,
        "available": 1_000_000 - idx as i64,
        "version": idx,
        "cause": "reservation",
    });
    let event = StoredEvent {
        seq: idx,
        at,
        name: "stock.changed".into(),
        data: data.to_string(),
    };
    (record, event)
}

/// The committer of a server (it owns a handle on the storage), on a temp dir.
struct Journal {
    committer: Committer,
    _dir: tempfile::TempDir,
}

impl Journal {
    /// Opens storage and starts the committer as `App::open` does (inside the runtime).
    fn open() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(dir.path()).expect("open storage");
        let committer = Committer::start(storage.clone());
        Self {
            committer,
            _dir: dir,
        }
    }

    /// One durable append: build, submit, wait for the completion (run after the fsync).
    async fn append(&self, product: &ProductId, idx: u64) {
        let (record, event) = hold_record(product, idx);
        let mut write = ProductWrite::default();
        write.journal(product, &record).expect("journal");
        write.event(product, &event).expect("event");
        let (tx, rx) = oneshot::channel();
        self.committer
            .submit_write(
                write,
                Box::new(move |durable| {
                    let _ = tx.send(durable);
                }),
            )
            .await;
        rx.await.expect("completion").expect("durable");
    }
}

/// The baseline: a plain sled database flushed after every write.
struct RawSled {
    db: sled::Db,
    tree: sled::Tree,
    /// Flush with the blocking `flush` on tokio's blocking pool instead of `flush_async`.
    blocking: bool,
    _dir: tempfile::TempDir,
}

impl RawSled {
    /// A database configured like `Storage::open` (same cache size).
    fn open(blocking: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(256 * 1024 * 1024)
            .open()
            .expect("open sled");
        let tree = db.open_tree("entities").expect("tree");
        Self {
            db,
            tree,
            blocking,
            _dir: dir,
        }
    }

    /// The same two entries, `insert`ed, then a flush of its own.
    async fn append(&self, product: &ProductId, idx: u64) {
        let (record, event) = hold_record(product, idx);
        let key = |kind: u8| {
            let mut key = vec![kind];
            key.extend_from_slice(product.as_str().as_bytes());
            key.extend_from_slice(&idx.to_be_bytes());
            key
        };
        self.tree
            .insert(key(b'j'), codec::encode(&record).expect("encode"))
            .expect("insert");
        self.tree
            .insert(key(b'e'), codec::encode(&event).expect("encode"))
            .expect("insert");
        if self.blocking {
            let db = self.db.clone();
            tokio::task::spawn_blocking(move || db.flush())
                .await
                .expect("flush task")
                .expect("flush");
        } else {
            self.db.flush_async().await.expect("flush");
        }
    }
}

/// Either target, so both run through the same driver.
trait Target: Send + Sync + 'static {
    fn append(&self, product: &ProductId, idx: u64) -> impl Future<Output = ()> + Send;
}

impl Target for Journal {
    fn append(&self, product: &ProductId, idx: u64) -> impl Future<Output = ()> + Send {
        Journal::append(self, product, idx)
    }
}

impl Target for RawSled {
    fn append(&self, product: &ProductId, idx: u64) -> impl Future<Output = ()> + Send {
        RawSled::append(self, product, idx)
    }
}

/// `writes` appends by `writers` concurrent tasks (one product each, every write waits for
/// the previous one of its writer); returns the wall time scaled to exactly `writes`.
async fn run<T: Target>(target: &Arc<T>, writes: u64, writers: u64) -> Duration {
    let per_writer = writes.div_ceil(writers);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let target = Arc::clone(target);
            tokio::spawn(async move {
                let product = ProductId::generate();
                for idx in 1..=per_writer {
                    target.append(&product, idx).await;
                }
            })
        })
        .collect();
    let joined = tokio::time::timeout(STALL, async {
        for task in tasks {
            task.await.expect("writer task");
        }
    });
    joined
        .await
        .expect("writers stalled (concurrent sled flush_async? see sled issue #1308)");
    let elapsed = started.elapsed();
    elapsed.mul_f64(writes as f64 / (per_writer * writers) as f64)
}

/// Sum and count of the committer's batch-size histogram so far.
fn batch_totals() -> (f64, f64) {
    let text = observability::install().render();
    let value = |suffix: &str| {
        let name = format!("{}{suffix} ", observability::JOURNAL_BATCH);
        text.lines()
            .find_map(|line| line.strip_prefix(&name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("_sum"), value("_count"))
}

fn main() {
    // The production metrics recorder, so the committer's histograms cost what they do in
    // the server (and report the batch sizes).
    observability::install();
    let mut c = common::config();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let journal = Arc::new(rt.block_on(async { Journal::open() }));
    let raw = Arc::new(RawSled::open(false));
    let raw_blocking = Arc::new(RawSled::open(true));

    let mut group = c.benchmark_group("journal_append");
    group.throughput(Throughput::Elements(1));
    for writers in [1, WRITERS] {
        let before = batch_totals();
        group.bench_function(BenchmarkId::new("group_commit", writers), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let journal = Arc::clone(&journal);
                async move { run(&journal, iters, writers).await }
            });
        });
        let after = batch_totals();
        let (writes, flushes) = (after.0 - before.0, after.1 - before.1);
        eprintln!(
            "group_commit/{writers}: {writes} writes in {flushes} flushes, mean batch {:.1}",
            writes / flushes.max(1.0)
        );
        // Concurrent `flush_async` calls deadlock sled 0.34 (its I/O pool fills with flushes
        // waiting for a buffer write queued behind them, sled issue #1308): one writer only.
        if writers == 1 {
            group.bench_function(
                BenchmarkId::new("sled_flush_async_per_write", writers),
                |b| {
                    b.to_async(&rt).iter_custom(|iters| {
                        let raw = Arc::clone(&raw);
                        async move { run(&raw, iters, writers).await }
                    });
                },
            );
        }
        group.bench_function(BenchmarkId::new("sled_flush_per_write", writers), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let raw = Arc::clone(&raw_blocking);
                async move { run(&raw, iters, writers).await }
            });
        });
    }
    group.finish();
    drop((journal, raw, raw_blocking));
    c.final_summary();
}
