//! Everything that touches sled. One database, a few trees:
//!
//! - `entities`: per-product journal (`j`), published events (`e`), inventory movements (`m`)
//!   and snapshots (`s`). Keeping them in one tree lets a product's whole write go in one
//!   atomic [`sled::Batch`], so a crash never leaves a journal record without its event or
//!   movement.
//! - `catalog`: stores. `reservations`: reservation records. `idempotency`: stored answers for
//!   `Idempotency-Key`. `meta`: settings (never secrets: those live in `DATA_DIR/secrets`,
//!   see [`data_dir`]). `users`: accounts and refresh tokens (layout in `users.rs`).
//!
//! Nothing written here is acknowledged until the [`committer::Committer`] has flushed it.

pub mod codec;
pub mod committer;
pub mod data_dir;
mod keys;
mod legacy;
mod legacy_layout;
pub mod secrets;
mod users;

use crate::domain::{
    cart::Cart,
    ids::{CartId, ProductId, ReservationId, StoreId},
    money::Money,
    order::Order,
    product::{Product, ProductChange},
    reservation::Reservation,
    store::Store,
    time::Millis,
};
use codec::CodecError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Storage failed; the details go to the log, the client gets a 503.
#[derive(Clone, Debug, thiserror::Error)]
#[error("storage failure: {0}")]
pub struct StorageError(pub String);

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<CodecError> for StorageError {
    fn from(e: CodecError) -> Self {
        Self(e.to_string())
    }
}

/// Result of a storage call.
pub type StorageResult<T> = Result<T, StorageError>;

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
}

impl MovementKind {
    /// The kind as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adjustment => "adjustment",
            Self::Sale => "sale",
            Self::Cancellation => "cancellation",
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
}

/// Everything one entity write (a product's, an order's or a cart's) puts on disk, applied
/// atomically.
///
/// A write is a list of key operations, not a `sled::Batch`, because the
/// [committer](committer::Committer) merges every write of a group commit into *one* batch:
/// sled 0.34 seals (writes and syncs) its IO buffer at the end of every atomic batch, so a
/// batch per write cost a device sync per write and capped a hot product at a few thousand
/// writes a second. One batch per group keeps each write atomic (a superset is) and costs one
/// sync per group.
#[derive(Default)]
pub struct ProductWrite {
    ops: Vec<(sled::IVec, Option<sled::IVec>)>,
    /// Reservation records, applied (one insert each) just before the group's entity batch
    /// so that the batch's IO buffer carries them too.
    reservation_ops: Vec<(sled::IVec, Option<sled::IVec>)>,
}

impl ProductWrite {
    /// Appends a journal record.
    pub fn journal(&mut self, product: &ProductId, record: &JournalRecord) -> StorageResult<()> {
        self.put(keys::journal(product, record.idx), codec::encode(record)?);
        Ok(())
    }

    /// Records a published event for later replay.
    pub fn event(&mut self, product: &ProductId, event: &StoredEvent) -> StorageResult<()> {
        self.event_of(product.as_str(), event)
    }

    /// Records a published event of any durable topic's entity (product, order, cart).
    pub fn event_of(&mut self, entity: &str, event: &StoredEvent) -> StorageResult<()> {
        self.put(keys::event(entity, event.seq), codec::encode(event)?);
        Ok(())
    }

    /// Writes an order record.
    pub fn order(&mut self, order: &Order) -> StorageResult<()> {
        self.put(keys::order(order.id.as_str()), codec::encode_v2(order)?);
        Ok(())
    }

    /// Writes a cart record.
    pub fn cart(&mut self, cart: &Cart) -> StorageResult<()> {
        self.put(keys::cart(cart.id.as_str()), codec::encode_v2(cart)?);
        Ok(())
    }

    /// Deletes a cart record.
    pub fn delete_cart(&mut self, id: &CartId) {
        self.remove(keys::cart(id.as_str()).into());
    }

    /// Records an inventory movement, numbered `n` (1-based).
    pub fn movement(&mut self, product: &ProductId, n: u64, m: &Movement) -> StorageResult<()> {
        self.put(keys::movement(product, n), codec::encode(m)?);
        Ok(())
    }

    /// Replaces the snapshot.
    pub fn snapshot(&mut self, snapshot: &Snapshot) -> StorageResult<()> {
        self.put(
            keys::snapshot(&snapshot.product.catalog.id),
            codec::encode(snapshot)?,
        );
        Ok(())
    }

    /// Marks that `reservation`'s hold on `product` was sold, so a retried commit (after a
    /// crash between the sale and the reservation record) is recognised as done.
    pub fn commit_marker(&mut self, product: &ProductId, reservation: &str) {
        self.put(keys::commit_marker(product, reservation), vec![1u8]);
    }

    fn put(&mut self, key: impl Into<sled::IVec>, value: impl Into<sled::IVec>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    fn remove(&mut self, key: sled::IVec) {
        self.ops.push((key, None));
    }

    /// Writes a reservation record.
    pub fn reservation(&mut self, r: &Reservation) -> StorageResult<()> {
        self.reservation_ops.push((
            r.id.as_str().as_bytes().into(),
            Some(codec::encode(r)?.into()),
        ));
        Ok(())
    }
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
    /// Added to sled's id counter for order numbers (see [`ORDER_NUMBER_BASE`]).
    order_number_base: u64,
    /// Keeps the data dir locked for as long as the database is open.
    _data_dir: Option<data_dir::DataDir>,
}

impl Storage {
    /// Opens (or creates) the database of an opened data dir; it keeps the dir's lock.
    pub fn open_in(data_dir: &data_dir::DataDir) -> StorageResult<Self> {
        let mut storage = Self::open(&data_dir.db_path())?;
        storage._data_dir = Some(data_dir.clone());
        Ok(storage)
    }

    /// Opens (or creates) a sled database right in `dir` (no lock file, no secrets; the
    /// server uses [`Storage::open_in`], benches this).
    pub fn open(dir: &Path) -> StorageResult<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(256 * 1024 * 1024)
            .open()?;
        let meta = db.open_tree("meta")?;
        let order_number_base = match meta.get(ORDER_NUMBER_BASE)? {
            Some(raw) => u64::from_be_bytes(
                raw.as_ref()
                    .try_into()
                    .map_err(|_| StorageError("malformed order_number_base".into()))?,
            ),
            None => 0,
        };
        Ok(Self {
            entities: db.open_tree("entities")?,
            catalog: db.open_tree("catalog")?,
            reservations: db.open_tree("reservations")?,
            idempotency: db.open_tree("idempotency")?,
            meta,
            users: db.open_tree("users")?,
            payments: db.open_tree("payments")?,
            order_number_base,
            _data_dir: None,
            db,
        })
    }

    /// The database handle, for the committer's flushes.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Flushes everything written so far (used at shutdown; request paths use the committer).
    pub fn flush(&self) -> StorageResult<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Reads a secret or setting from `meta`.
    pub fn meta(&self, key: &str) -> StorageResult<Option<String>> {
        Ok(self
            .meta
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Writes a secret or setting to `meta` (the caller flushes).
    pub fn set_meta(&self, key: &str, value: &str) -> StorageResult<()> {
        self.meta.insert(key, value.as_bytes())?;
        Ok(())
    }

    // ---- products -------------------------------------------------------------------------

    /// Applies a group of writes: their reservation records one insert each, then every
    /// entity operation as one atomic batch; durable after the next flush. Request paths never
    /// call this directly: they hand a [`ProductWrite`] to the
    /// [committer](committer::Committer).
    pub fn apply_writes(&self, writes: Vec<ProductWrite>) -> StorageResult<()> {
        let mut batch = sled::Batch::default();
        for write in writes {
            for (key, value) in write.reservation_ops {
                match value {
                    Some(value) => self.reservations.insert(key, value)?,
                    None => self.reservations.remove(key)?,
                };
            }
            for (key, value) in write.ops {
                match value {
                    Some(value) => batch.insert(key, value),
                    None => batch.remove(key),
                }
            }
        }
        self.entities.apply_batch(batch)?;
        Ok(())
    }

    /// Loads a product: its snapshot plus the journal records after it. Returns the product and
    /// its last journal position, or `None` for an unknown product.
    pub fn load_product(&self, id: &ProductId) -> StorageResult<Option<(Product, u64, u64)>> {
        let Some(raw) = self.entities.get(keys::snapshot(id))? else {
            return Ok(None);
        };
        let snapshot: Snapshot = codec::decode(&raw)?;
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
                keys::product_of_snapshot(&key)
                    .ok_or_else(|| StorageError("malformed snapshot key".into()))
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
            write.remove(entry?.0);
        }
        for entry in self
            .entities
            .range(keys::event(id.as_str(), 0)..keys::event(id.as_str(), keep_from_seq))
        {
            write.remove(entry?.0);
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
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    /// Every order.
    pub fn orders(&self) -> impl Iterator<Item = StorageResult<Order>> + '_ {
        self.entities.scan_prefix(keys::ORDER_PREFIX).map(|entry| {
            Ok(codec::decode_upgrading::<Order, legacy::OrderV1>(
                &entry?.1,
            )?)
        })
    }

    /// One cart.
    pub fn cart(&self, id: &CartId) -> StorageResult<Option<Cart>> {
        self.entities
            .get(keys::cart(id.as_str()))?
            .map(|raw| Ok(codec::decode_upgrading::<Cart, legacy::CartV1>(&raw)?))
            .transpose()
    }

    /// Carts whose actor must run: those with a hold, and those past their lifetime.
    pub fn carts_needing_timers(&self, now: Millis) -> StorageResult<Vec<CartId>> {
        let mut ids = Vec::new();
        for entry in self.entities.scan_prefix(keys::CART_PREFIX) {
            let cart: Cart = codec::decode_upgrading::<Cart, legacy::CartV1>(&entry?.1)?;
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

    /// Stores a ledger entry under `key` (durable after the next flush).
    pub fn put_ledger_entry(&self, key: &str, entry: &LedgerEntry) -> StorageResult<()> {
        self.payments
            .insert(key.as_bytes(), codec::encode(entry)?)?;
        Ok(())
    }

    /// Every ledger entry, oldest key first.
    pub fn ledger(&self) -> impl Iterator<Item = StorageResult<LedgerEntry>> + '_ {
        self.payments
            .iter()
            .map(|entry| Ok(codec::decode(&entry?.1)?))
    }

    // ---- stores ---------------------------------------------------------------------------

    /// Writes a store (durable after the next flush).
    pub fn put_store(&self, store: &Store) -> StorageResult<()> {
        self.catalog
            .insert(keys::store(&store.id), codec::encode(store)?)?;
        Ok(())
    }

    /// Every store.
    pub fn stores(&self) -> StorageResult<Vec<Store>> {
        self.catalog
            .scan_prefix(keys::STORE_PREFIX)
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    // ---- reservations ---------------------------------------------------------------------

    /// Writes a reservation (durable after the next flush).
    pub fn put_reservation(&self, r: &Reservation) -> StorageResult<()> {
        self.reservations
            .insert(r.id.as_str().as_bytes(), codec::encode(r)?)?;
        Ok(())
    }

    /// Removes a reservation record (one whose holds were refused).
    pub fn delete_reservation(&self, id: &ReservationId) -> StorageResult<()> {
        self.reservations.remove(id.as_str().as_bytes())?;
        Ok(())
    }

    /// Reads a reservation.
    pub fn reservation(&self, id: &ReservationId) -> StorageResult<Option<Reservation>> {
        self.reservations
            .get(id.as_str().as_bytes())?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Every reservation (recovery looks for interrupted commits).
    pub fn reservations(&self) -> impl Iterator<Item = StorageResult<Reservation>> + '_ {
        self.reservations
            .iter()
            .map(|entry| Ok(codec::decode(&entry?.1)?))
    }

    // ---- idempotency ----------------------------------------------------------------------

    /// A stored answer for `key`.
    pub fn idempotent_answer(&self, key: &[u8]) -> StorageResult<Option<IdempotentAnswer>> {
        self.idempotency
            .get(key)?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Stores an answer for `key` (durable after the next flush).
    pub fn put_idempotent_answer(
        &self,
        key: &[u8],
        answer: &IdempotentAnswer,
    ) -> StorageResult<()> {
        self.idempotency.insert(key, codec::encode(answer)?)?;
        Ok(())
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
