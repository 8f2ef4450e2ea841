//! Everything that touches the disk: the [log] under every write, and sled holding the state
//! the log has been applied to.
//!
//! The write path: an entity writer (actor or service) builds a [`ProductWrite`] and hands it
//! to the [`committer::Committer`], which appends the writes of a whole group to the log with
//! one `write` and one `fdatasync`, then applies them to sled (without flushing it) and only
//! then replies and publishes. sled is flushed at a *checkpoint* (every
//! `storage.checkpoint_interval_ms`, and at shutdown), which records the log position whose
//! writes are all in sled; start-up re-applies the log after it. Log segments wholly below
//! the checkpoint and below every consumer's cursor are deleted, so the disk stays bounded.
//!
//! sled's trees (one batch per tree per group):
//!
//! - `entities`: per-product journal (`j`), published events (`e`), inventory movements (`m`),
//!   snapshots (`s`) and reviews (`r`); orders (`o`) and carts (`k`).
//! - `catalog`: stores. `reservations`: reservation records. `idempotency`: stored answers for
//!   `Idempotency-Key`. `meta`: settings and the checkpoint (never secrets: those live in
//!   `DATA_DIR/secrets`, see [`data_dir`]). `users`: accounts and refresh tokens (layout in
//!   `users.rs`). `payments`: the simulated provider's ledger. `webhooks`: webhook endpoints and
//!   deliveries (layout in `webhooks.rs`). `cursors`: each log consumer's
//!   position.
//!
//! Nothing written here is acknowledged until its log record is durable.

pub mod codec;
pub mod committer;
pub mod consumer;
pub mod data_dir;
mod exchange_rates;
mod keys;
mod legacy;
mod legacy_layout;
pub mod log;
mod media;
mod notifications;
pub mod secrets;
mod users;
mod webhooks;
mod write;

pub use media::StoredImage;
pub use write::{MalformedRecord, Op, ProductWrite, Tree};

use crate::domain::{
    cart::Cart,
    ids::{CartId, ProductId, ReservationId, StoreId},
    money::Money,
    order::Order,
    product::{Product, ProductChange},
    reservation::Reservation,
    review::Review,
    store::Store,
    time::Millis,
    waitlist::WaitlistEntry,
};
use codec::CodecError;
use log::{LogError, Lsn};
use serde::{Deserialize, Serialize};
use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// Storage failed; the details go to the log, the client gets a 503. Causes are kept as
/// sources (shared, because one failed group commit fails every job in it).
#[derive(Clone, Debug, thiserror::Error)]
pub enum StorageError {
    /// sled refused a read or write.
    #[error("database: {0}")]
    Database(#[source] Arc<sled::Error>),
    /// A stored value could not be encoded or decoded.
    #[error("stored value: {0}")]
    Codec(#[source] Arc<CodecError>),
    /// The log could not be read or written (or is damaged).
    #[error(transparent)]
    Log(Arc<LogError>),
    /// A log record's body is not a write.
    #[error(transparent)]
    Record(Arc<MalformedRecord>),
    /// A file of the data dir could not be handled.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A stored key or index entry has an impossible shape.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The committer is gone or failed before this write (the server refuses writes).
    #[error("{0}")]
    Unavailable(&'static str),
    /// Anything else, with its explanation (start-up steps, background tasks).
    #[error("{0}")]
    Other(String),
}

impl StorageError {
    /// An IO failure on `path`.
    pub fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            action,
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        Self::Database(Arc::new(e))
    }
}

impl From<CodecError> for StorageError {
    fn from(e: CodecError) -> Self {
        Self::Codec(Arc::new(e))
    }
}

impl From<LogError> for StorageError {
    fn from(e: LogError) -> Self {
        Self::Log(Arc::new(e))
    }
}

impl From<MalformedRecord> for StorageError {
    fn from(e: MalformedRecord) -> Self {
        Self::Record(Arc::new(e))
    }
}

/// Result of a storage call.
pub type StorageResult<T> = Result<T, StorageError>;

/// How the log is laid out and checkpointed (`storage.*` in the config).
#[derive(Clone, Copy, Debug)]
pub struct StorageOptions {
    /// A segment is closed once it holds this many bytes.
    pub log_segment_bytes: u64,
    /// How often sled is flushed and the checkpoint moved (then old segments deleted).
    pub checkpoint_interval: std::time::Duration,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            log_segment_bytes: 64 * 1024 * 1024,
            checkpoint_interval: std::time::Duration::from_secs(1),
        }
    }
}

impl From<&crate::config::StorageConfig> for StorageOptions {
    fn from(config: &crate::config::StorageConfig) -> Self {
        Self {
            log_segment_bytes: config.log_segment_bytes,
            checkpoint_interval: std::time::Duration::from_millis(
                config.checkpoint_interval_ms.max(1),
            ),
        }
    }
}

/// Lets one sled flush run at a time from async code and lets the callers who queued behind
/// it share the next one.
///
/// Why: `sled::Db::flush_async` runs on sled's own small thread pool and holds sled's
/// concurrency-control read lock while it waits for the IO buffers to be written, which is
/// work queued on that same pool. A dozen log consumers saving their cursors at once (ten
/// webhook workers, notifications, search) filled the pool with flushes blocked behind the
/// applier's batch (a writer of that lock), nobody was left to write the buffers, and every
/// write of the process stopped for good (seen in the webhooks benchmark, 3 runs in 4). One
/// flush at a time keeps the pool free, and coalescing keeps the queue short: a flush that
/// *started* after a caller's write covers it, so the caller need not run its own.
#[derive(Default)]
pub(crate) struct FlushGate {
    /// Flushes started (numbered from 1).
    started: AtomicU64,
    /// The number of the last flush that succeeded; held while one runs.
    done: tokio::sync::Mutex<u64>,
}

impl FlushGate {
    /// Returns once a flush that started after this call has succeeded.
    async fn flush(&self, db: &sled::Db) -> StorageResult<()> {
        let seen = self.started.load(Ordering::SeqCst);
        let mut done = self.done.lock().await;
        if *done > seen {
            // Flush `seen + 1` or a later one started after our writes and succeeded.
            return Ok(());
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        db.flush_async().await?;
        *done = number;
        Ok(())
    }
}

/// Key in `meta` of the checkpoint: the LSN (big-endian `u64`) up to which every log record
/// is applied to sled and flushed.
const CHECKPOINT: &[u8] = b"log_checkpoint";

/// Log records re-applied to sled per batch at start-up.
const REPLAY_BATCH: usize = 1024;

/// The log's side of the storage, shared by every clone of it.
pub(crate) struct LogState {
    /// The `log/` folder.
    pub(crate) dir: PathBuf,
    /// The writer, until the committer takes it.
    pub(crate) writer: Mutex<Option<log::LogWriter>>,
    /// The last LSN applied to sled.
    pub(crate) applied: AtomicU64,
    /// The last durable LSN, for consumers waiting for more.
    pub(crate) durable: tokio::sync::watch::Sender<Lsn>,
    /// The last checkpoint (also serialises checkpoints).
    checkpointed: Mutex<Lsn>,
    /// Options it was opened with.
    pub(crate) options: StorageOptions,
}

/// Key in `meta` of the order number the id counter counts from (big-endian `u64`): a
/// database rewritten from a legacy one starts a fresh sled counter, and order numbers must
/// keep growing.
const ORDER_NUMBER_BASE: &[u8] = b"order_number_base";

/// One entry of a product's journal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Position in the product's journal (1-based, gap-free).
    pub idx: u64,
    /// When the change was decided.
    pub at: Millis,
    /// The change.
    pub change: ProductChange,
}

/// A product as of journal position `idx`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// Last journal record folded into `product`.
    pub idx: u64,
    /// The state.
    pub product: Product,
}

/// A published event as it was sent on `product:{id}`, kept for resume after restarts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Topic sequence (= product version after the event).
    pub seq: u64,
    /// When it happened.
    pub at: Millis,
    /// `stock.changed`, `stock.low` or `product.updated`.
    pub name: String,
    /// The event's `data`, as JSON text (bincode cannot carry arbitrary JSON values).
    pub data: String,
}

/// The kind of an inventory movement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MovementKind {
    /// A manual change (or the initial stock).
    Adjustment,
    /// Held units sold.
    Sale,
    /// Sold units came back.
    Cancellation,
    /// Returned units were received back into stock (a return's restock).
    Return,
    /// Units moved between two locations of the store (two movements: out and in).
    Transfer,
}

impl MovementKind {
    /// The kind as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adjustment => "adjustment",
            Self::Sale => "sale",
            Self::Cancellation => "cancellation",
            Self::Return => "return",
            Self::Transfer => "transfer",
        }
    }
}

/// One change of `on_hand`, for the audit log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Movement {
    /// `mov_…`
    pub id: String,
    /// When.
    pub at: Millis,
    /// What kind.
    pub kind: MovementKind,
    /// Signed change of `on_hand`.
    pub delta: i64,
    /// `on_hand` right after.
    pub on_hand_after: i64,
    /// Adjustment reason, if an adjustment.
    pub reason: Option<String>,
    /// Adjustment note.
    pub note: Option<String>,
    /// Order or reservation id.
    pub reference: Option<String>,
    /// `admin`, a user id, or `system`.
    pub by: String,
    /// The location whose `on_hand` changed (`None` for movements recorded before
    /// locations: those were all at the default location). Stored from format 2 on.
    pub location_id: Option<crate::domain::ids::LocationId>,
}

/// The embedded database.
#[derive(Clone)]
pub struct Storage {
    db: sled::Db,
    entities: sled::Tree,
    catalog: sled::Tree,
    reservations: sled::Tree,
    idempotency: sled::Tree,
    meta: sled::Tree,
    users: sled::Tree,
    payments: sled::Tree,
    webhooks: sled::Tree,
    cursors: sled::Tree,
    log: Arc<LogState>,
    /// Serialises the read-compare-write updates of `users` (see `users.rs`).
    users_lock: Arc<tokio::sync::Mutex<()>>,
    /// One sled flush at a time from async code, shared by the callers that wait meanwhile
    /// (see [`FlushGate`]).
    flush_gate: Arc<FlushGate>,
    /// Added to sled's id counter for order numbers (see [`ORDER_NUMBER_BASE`]).
    order_number_base: u64,
    /// Keeps the data dir locked for as long as the database is open.
    _data_dir: Option<data_dir::DataDir>,
}

impl Storage {
    /// Opens (or creates) the database and log of an opened data dir, replaying the log after
    /// the last checkpoint; it keeps the dir's lock.
    pub fn open_in(data_dir: &data_dir::DataDir, options: StorageOptions) -> StorageResult<Self> {
        let mut storage = Self::open_at(&data_dir.db_path(), &data_dir.log_path(), options)?;
        storage._data_dir = Some(data_dir.clone());
        Ok(storage)
    }

    /// Opens storage in `dir` laid out like a data dir (`sled/`, `log/`) but without its lock
    /// file and secrets (the server uses [`Storage::open_in`], benches this).
    pub fn open(dir: &Path) -> StorageResult<Self> {
        Self::open_at(
            &dir.join("sled"),
            &dir.join("log"),
            StorageOptions::default(),
        )
    }

    fn open_at(db_dir: &Path, log_dir: &Path, options: StorageOptions) -> StorageResult<Self> {
        // sled is flushed only at checkpoints: the log is what makes a write durable.
        let db = sled::Config::new()
            .path(db_dir)
            .cache_capacity(256 * 1024 * 1024)
            .flush_every_ms(None)
            .open()?;
        let meta = db.open_tree("meta")?;
        let order_number_base = match meta.get(ORDER_NUMBER_BASE)? {
            Some(raw) => u64::from_be_bytes(
                raw.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Malformed("order_number_base"))?,
            ),
            None => 0,
        };
        let checkpoint = match meta.get(CHECKPOINT)? {
            Some(raw) => u64::from_be_bytes(
                raw.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Malformed("log checkpoint"))?,
            ),
            None => 0,
        };
        let storage = Self {
            entities: db.open_tree("entities")?,
            catalog: db.open_tree("catalog")?,
            reservations: db.open_tree("reservations")?,
            idempotency: db.open_tree("idempotency")?,
            meta,
            users: db.open_tree("users")?,
            payments: db.open_tree("payments")?,
            webhooks: db.open_tree("webhooks")?,
            cursors: db.open_tree("cursors")?,
            log: Arc::new(LogState {
                dir: log_dir.to_path_buf(),
                writer: Mutex::new(None),
                applied: AtomicU64::new(checkpoint),
                durable: tokio::sync::watch::channel(checkpoint).0,
                checkpointed: Mutex::new(checkpoint),
                options,
            }),
            users_lock: Arc::default(),
            flush_gate: Arc::default(),
            order_number_base,
            _data_dir: None,
            db,
        };
        let mut replayed = 0u64;
        // Replayed records go to sled like live groups: many writes per batch.
        let mut pending = Vec::new();
        let opened = log::open::<StorageError>(
            log_dir,
            checkpoint,
            options.log_segment_bytes,
            |_, body| {
                pending.push(ProductWrite::decode(body)?);
                replayed += 1;
                if pending.len() >= REPLAY_BATCH {
                    storage.apply_writes(std::mem::take(&mut pending))?;
                }
                Ok(())
            },
        )?;
        storage.apply_writes(pending)?;
        if let Some((segment, bytes)) = &opened.truncated {
            tracing::warn!(
                segment = %segment.display(),
                bytes,
                "cut a torn record off the end of the log (a write interrupted by a crash, never acknowledged)"
            );
        }
        let last = opened.last;
        storage.log.applied.store(last, Ordering::Release);
        storage.log.durable.send_replace(last);
        crate::observability::HOT.log_durable.set(last as f64);
        if let Ok(mut writer) = storage.log.writer.lock() {
            *writer = Some(opened.writer);
        }
        if replayed > 0 {
            tracing::info!(replayed, last, "replayed the log after the last checkpoint");
            storage.checkpoint()?;
        }
        Ok(storage)
    }

    pub(crate) fn log_state(&self) -> &Arc<LogState> {
        &self.log
    }

    /// The last durable LSN.
    pub fn durable_lsn(&self) -> Lsn {
        *self.log.durable.borrow()
    }

    /// Makes everything applied so far durable in sled and moves the checkpoint there; then
    /// deletes the log segments nobody needs any more (below the checkpoint and below every
    /// consumer's cursor). Used by the committer's timer and at shutdown.
    pub fn checkpoint(&self) -> StorageResult<Lsn> {
        let mut checkpointed = self
            .log
            .checkpointed
            .lock()
            .map_err(|_| StorageError::Unavailable("a checkpoint panicked"))?;
        let applied = self.log.applied.load(Ordering::Acquire);
        if applied > *checkpointed {
            // Every write of records up to `applied` happened before this insert, so the
            // flush below makes them durable together with the mark.
            self.meta.insert(CHECKPOINT, &applied.to_be_bytes())?;
            self.db.flush()?;
            *checkpointed = applied;
        }
        let mut keep = *checkpointed;
        for entry in self.cursors.iter() {
            let (_, raw) = entry?;
            if let Ok(raw) = <[u8; 8]>::try_from(raw.as_ref()) {
                keep = keep.min(u64::from_be_bytes(raw));
            }
        }
        let segments = log::segments(&self.log.dir)?;
        let removed = log::remove_listed(&self.log.dir, &segments, keep)?;
        if removed > 0 {
            tracing::debug!(removed, keep, "removed log segments below the checkpoint");
        }
        let hot = &crate::observability::HOT;
        hot.log_checkpoint.set(*checkpointed as f64);
        hot.log_segments.set((segments.len() - removed) as f64);
        Ok(*checkpointed)
    }

    /// Flushes everything and checkpoints (at shutdown; request paths use the committer).
    pub fn flush(&self) -> StorageResult<()> {
        self.checkpoint().map(|_| ())
    }

    /// A sled tree of derived data that a reader of the log keeps for itself, outside the log
    /// (e.g. view counters): its writes are not acknowledged changes, go straight to sled and
    /// are durable only after [`Storage::flush_derived`]. The name is prefixed with
    /// `derived:` so it can never be one of the trees the log writes.
    pub fn derived_tree(&self, name: &str) -> StorageResult<sled::Tree> {
        Ok(self.db.open_tree(format!("derived:{name}"))?)
    }

    /// Makes the writes to [derived trees](Storage::derived_tree) durable (a sled flush).
    pub async fn flush_derived(&self) -> StorageResult<()> {
        self.flush_gate.flush(&self.db).await
    }

    /// Makes every sled write made before the call durable: a sled flush, shared with the
    /// callers already waiting (see [`FlushGate`]).
    pub(crate) async fn flush_sled(&self) -> StorageResult<()> {
        self.flush_gate.flush(&self.db).await
    }

    /// Reads a setting from `meta`.
    pub fn meta(&self, key: &str) -> StorageResult<Option<String>> {
        Ok(self
            .meta
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        match tree {
            Tree::Entities => &self.entities,
            Tree::Catalog => &self.catalog,
            Tree::Reservations => &self.reservations,
            Tree::Idempotency => &self.idempotency,
            Tree::Meta => &self.meta,
            Tree::Users => &self.users,
            Tree::Payments => &self.payments,
            Tree::Webhooks => &self.webhooks,
        }
    }

    /// Applies a group of writes (already durable in the log) to sled: one batch per tree.
    /// Readers may see one tree's part of a group before another's, never half of a tree's.
    pub(crate) fn apply_writes(
        &self,
        writes: impl IntoIterator<Item = ProductWrite>,
    ) -> StorageResult<()> {
        let mut batches: [Option<sled::Batch>; Tree::ALL.len()] = Default::default();
        for write in writes {
            for op in write.ops {
                let batch = batches[op.tree as usize - 1].get_or_insert_with(Default::default);
                match op.value {
                    Some(value) => batch.insert(op.key, value),
                    None => batch.remove(op.key),
                }
            }
        }
        for (tree, batch) in Tree::ALL.into_iter().zip(batches) {
            if let Some(batch) = batch {
                self.tree(tree).apply_batch(batch)?;
            }
        }
        Ok(())
    }

    // ---- products -------------------------------------------------------------------------

    /// Loads a product: its snapshot plus the journal records after it. Returns the product and
    /// its last journal position, or `None` for an unknown product.
    pub fn load_product(&self, id: &ProductId) -> StorageResult<Option<(Product, u64, u64)>> {
        let Some(raw) = self.entities.get(keys::snapshot(id))? else {
            return Ok(None);
        };
        let snapshot: Snapshot = legacy::decode_snapshot(&raw)?;
        let snapshot_idx = snapshot.idx;
        let mut product = snapshot.product;
        let mut idx = snapshot.idx;
        for entry in self
            .entities
            .range(keys::journal(id, snapshot.idx + 1)..keys::journal_end(id))
        {
            let (_, raw) = entry?;
            let record: JournalRecord = codec::decode(&raw)?;
            product.apply(&record.change);
            idx = record.idx;
        }
        Ok(Some((product, idx, snapshot_idx)))
    }

    /// Every review of a product, in key order.
    pub fn reviews(&self, product: &ProductId) -> StorageResult<Vec<Review>> {
        self.entities
            .scan_prefix(keys::reviews_of(product))
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    /// Whether `reservation`'s hold on `product` was sold.
    pub fn was_committed(&self, product: &ProductId, reservation: &str) -> StorageResult<bool> {
        Ok(self
            .entities
            .contains_key(keys::commit_marker(product, reservation))?)
    }

    /// Every product id that has a snapshot, in key order.
    pub fn product_ids(&self) -> impl Iterator<Item = StorageResult<ProductId>> + '_ {
        self.entities
            .scan_prefix(keys::SNAPSHOT_PREFIX)
            .map(|entry| {
                let (key, _) = entry?;
                keys::product_of_snapshot(&key).ok_or(StorageError::Malformed("snapshot key"))
            })
    }

    /// Adds to `write` the removal of journal records up to `idx` and of events older than
    /// `keep_from_seq` (called when a new snapshot makes them unnecessary).
    pub fn prune(
        &self,
        write: &mut ProductWrite,
        id: &ProductId,
        idx: u64,
        keep_from_seq: u64,
    ) -> StorageResult<()> {
        for entry in self
            .entities
            .range(keys::journal(id, 0)..=keys::journal(id, idx))
        {
            write.remove(Tree::Entities, entry?.0);
        }
        for entry in self
            .entities
            .range(keys::event(id.as_str(), 0)..keys::event(id.as_str(), keep_from_seq))
        {
            write.remove(Tree::Entities, entry?.0);
        }
        Ok(())
    }

    /// Published events of an entity (product, order, cart) with `from ≤ seq ≤ to`, in order.
    pub fn events(&self, entity: &str, from: u64, to: u64) -> StorageResult<Vec<StoredEvent>> {
        self.entities
            .range(keys::event(entity, from)..=keys::event(entity, to))
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    /// Up to `limit` movements of a product, newest first, skipping the `offset` newest.
    pub fn movements(
        &self,
        id: &ProductId,
        offset: usize,
        limit: usize,
    ) -> StorageResult<Vec<Movement>> {
        self.entities
            .range(keys::movement(id, 0)..keys::movement_end(id))
            .rev()
            .skip(offset)
            .take(limit)
            .map(|entry| {
                Ok(codec::decode_upgrading::<Movement, legacy::MovementV1>(
                    &entry?.1,
                )?)
            })
            .collect()
    }

    /// Every order.
    pub fn orders(&self) -> impl Iterator<Item = StorageResult<Order>> + '_ {
        self.orders_marked()
            .map(|entry| entry.map(|(order, _)| order))
    }

    /// Every order, each with whether its record predates fulfilment types (see
    /// [`legacy::order_predates_fulfillment`]).
    pub fn orders_marked(&self) -> impl Iterator<Item = StorageResult<(Order, bool)>> + '_ {
        self.entities.scan_prefix(keys::ORDER_PREFIX).map(|entry| {
            let raw = entry?.1;
            Ok((
                legacy::decode_order(&raw)?,
                legacy::order_predates_fulfillment(&raw),
            ))
        })
    }

    /// Every return record.
    pub fn returns(
        &self,
    ) -> impl Iterator<Item = StorageResult<crate::domain::returns::Return>> + '_ {
        self.entities
            .scan_prefix(keys::RETURN_PREFIX)
            .map(|entry| Ok(codec::decode(&entry?.1)?))
    }

    /// One cart.
    pub fn cart(&self, id: &CartId) -> StorageResult<Option<Cart>> {
        self.entities
            .get(keys::cart(id.as_str()))?
            .map(|raw| Ok(legacy::decode_cart(&raw)?))
            .transpose()
    }

    /// How many carts of `store` hold stock at `now` (the live metrics; a scan of the carts,
    /// run at most once a second and only while someone watches the store's metrics).
    pub fn active_carts(&self, store: &StoreId, now: Millis) -> StorageResult<usize> {
        let mut count = 0;
        for entry in self.entities.scan_prefix(keys::CART_PREFIX) {
            let cart: Cart = legacy::decode_cart(&entry?.1)?;
            let holding = cart.hold.as_ref().is_some_and(|h| h.expires_at > now);
            if holding && cart.store_id.as_ref() == Some(store) {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Carts whose actor must run: those with a hold, and those past their lifetime.
    pub fn carts_needing_timers(&self, now: Millis) -> StorageResult<Vec<CartId>> {
        let mut ids = Vec::new();
        for entry in self.entities.scan_prefix(keys::CART_PREFIX) {
            let cart: Cart = legacy::decode_cart(&entry?.1)?;
            if cart.hold.is_some() || cart.expires_at <= now {
                ids.push(cart.id);
            }
        }
        Ok(ids)
    }

    /// A fresh order number (monotonic across restarts; may skip after a crash).
    pub fn next_order_number(&self) -> StorageResult<u64> {
        Ok(self.order_number_base + self.db.generate_id()? + 1)
    }

    /// The payment provider's ledger entry stored under `key`.
    pub fn ledger_entry(&self, key: &str) -> StorageResult<Option<LedgerEntry>> {
        self.payments
            .get(key.as_bytes())?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Every ledger entry, oldest key first.
    pub fn ledger(&self) -> impl Iterator<Item = StorageResult<LedgerEntry>> + '_ {
        self.payments
            .iter()
            .map(|entry| Ok(codec::decode(&entry?.1)?))
    }

    // ---- stores ---------------------------------------------------------------------------

    /// Every store's search synonyms.
    pub fn synonyms(&self) -> StorageResult<Vec<(StoreId, Vec<Vec<String>>)>> {
        self.catalog
            .scan_prefix(keys::SYNONYMS_PREFIX)
            .filter_map(|entry| match entry {
                Err(e) => Some(Err(e.into())),
                Ok((key, value)) => {
                    let store = keys::store_of_synonyms(&key)?;
                    Some(
                        codec::decode(&value)
                            .map(|groups| (store, groups))
                            .map_err(Into::into),
                    )
                }
            })
            .collect()
    }

    /// Every store.
    pub fn stores(&self) -> StorageResult<Vec<Store>> {
        self.catalog
            .scan_prefix(keys::STORE_PREFIX)
            .map(|entry| Ok(legacy::decode_store(&entry?.1)?))
            .collect()
    }

    /// A product's waitlist, in line order (every status).
    pub fn waitlist(&self, product: &ProductId) -> StorageResult<Vec<WaitlistEntry>> {
        self.entities
            .range(keys::waitlist(product, 0)..keys::waitlist_end(product))
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    /// Every waitlist entry of every product (for a customer's own list).
    pub fn all_waitlists(&self) -> StorageResult<Vec<WaitlistEntry>> {
        self.entities
            .scan_prefix(keys::WAITLIST_PREFIX)
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    /// Every stock location (of every store).
    pub fn locations(&self) -> StorageResult<Vec<crate::domain::location::Location>> {
        self.catalog
            .scan_prefix(keys::LOCATION_PREFIX)
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    // ---- reservations ---------------------------------------------------------------------

    /// Reads a reservation.
    pub fn reservation(&self, id: &ReservationId) -> StorageResult<Option<Reservation>> {
        self.reservations
            .get(id.as_str().as_bytes())?
            .map(|raw| Ok(legacy::decode_reservation(&raw)?))
            .transpose()
    }

    /// Every reservation (recovery looks for interrupted commits).
    pub fn reservations(&self) -> impl Iterator<Item = StorageResult<Reservation>> + '_ {
        self.reservations
            .iter()
            .map(|entry| Ok(legacy::decode_reservation(&entry?.1)?))
    }

    // ---- idempotency ----------------------------------------------------------------------

    /// A stored answer for `key`.
    pub fn idempotent_answer(&self, key: &[u8]) -> StorageResult<Option<IdempotentAnswer>> {
        self.idempotency
            .get(key)?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Ensures the id is a store's (used where only existence matters).
    pub fn has_store(&self, id: &StoreId) -> StorageResult<bool> {
        Ok(self.catalog.contains_key(keys::store(id))?)
    }
}

/// The first answer to a request that carried an `Idempotency-Key`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdempotentAnswer {
    /// Fingerprint of method, path and body: the same key with another request is refused.
    pub fingerprint: u64,
    /// HTTP status of the first answer.
    pub status: u16,
    /// Body of the first answer.
    pub body: Vec<u8>,
    /// Content type of the first answer.
    pub content_type: String,
    /// When it was first answered; answers older than 24 h are forgotten.
    pub at: Millis,
}

/// One entry of the simulated payment provider's ledger.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// `txn_…` or `rfd_…`
    pub transaction_id: String,
    /// The order charged or refunded.
    pub order_id: String,
    /// `charge` or `refund`.
    pub kind: String,
    /// How much.
    pub amount: Money,
    /// When.
    pub at: Millis,
}
