//! One acknowledged change as it goes into the log and then into sled: a list of key
//! operations on named trees, applied atomically.
//!
//! A write is a list of operations, not a `sled::Batch`, because the
//! [committer](super::committer::Committer) makes it one record of the
//! [log](super::log) first, and applies the operations of a whole group to sled afterwards
//! (one batch per tree per group). Replaying a record at start-up applies the same
//! operations again: each one sets a key to a whole value or removes it, so applying a record
//! twice leaves what applying it once leaves.

use super::{
    IdempotentAnswer, JournalRecord, LedgerEntry, Movement, Snapshot, StorageResult, StoredEvent,
    codec, keys,
};
use crate::domain::{
    cart::Cart,
    ids::{CartId, ProductId, ReservationId, StoreId},
    order::Order,
    reservation::Reservation,
    returns::Return,
    review::Review,
    store::Store,
};

/// The sled trees a write can touch (its tag is part of the log format: never renumber).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tree {
    /// Products' journals, events, movements, snapshots; orders; carts.
    Entities = 1,
    /// Stores.
    Catalog = 2,
    /// Reservation records.
    Reservations = 3,
    /// Stored `Idempotency-Key` answers.
    Idempotency = 4,
    /// Settings.
    Meta = 5,
    /// Accounts and refresh tokens.
    Users = 6,
    /// The payment provider's ledger.
    Payments = 7,
    /// Webhook endpoints and their deliveries (layout in `webhooks.rs`).
    Webhooks = 8,
}

impl Tree {
    /// Every tree, for building one batch each.
    pub const ALL: [Tree; 8] = [
        Tree::Entities,
        Tree::Catalog,
        Tree::Reservations,
        Tree::Idempotency,
        Tree::Meta,
        Tree::Users,
        Tree::Payments,
        Tree::Webhooks,
    ];

    fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|tree| *tree as u8 == tag)
    }
}

/// One key set to a value (or removed) in one tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// The tree.
    pub tree: Tree,
    /// The key.
    pub key: sled::IVec,
    /// The new value; `None` removes the key.
    pub value: Option<sled::IVec>,
}

/// A log record's body could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("malformed log record: {0}")]
pub struct MalformedRecord(&'static str);

/// Everything one acknowledged change puts on disk, applied atomically (see the module docs).
#[derive(Default)]
pub struct ProductWrite {
    pub(super) ops: Vec<Op>,
}

impl ProductWrite {
    /// Appends a product journal record.
    pub fn journal(&mut self, product: &ProductId, record: &JournalRecord) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::journal(product, record.idx),
            codec::encode(record)?,
        );
        Ok(())
    }

    /// Records a published event of a product for later replay.
    pub fn event(&mut self, product: &ProductId, event: &StoredEvent) -> StorageResult<()> {
        self.event_of(product.as_str(), event)
    }

    /// Records a published event of any durable topic's entity (product, order, cart).
    pub fn event_of(&mut self, entity: &str, event: &StoredEvent) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::event(entity, event.seq),
            codec::encode(event)?,
        );
        Ok(())
    }

    /// Writes a return record.
    pub fn return_record(&mut self, record: &Return) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::return_record(record.id.as_str()),
            codec::encode(record)?,
        );
        Ok(())
    }

    /// Writes an order record.
    pub fn order(&mut self, order: &Order) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::order(order.id.as_str()),
            codec::encode_v3(order)?,
        );
        Ok(())
    }

    /// Writes a cart record.
    pub fn cart(&mut self, cart: &Cart) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::cart(cart.id.as_str()),
            codec::encode_v3(cart)?,
        );
        Ok(())
    }

    /// Deletes a cart record.
    pub fn delete_cart(&mut self, id: &CartId) {
        self.remove(Tree::Entities, keys::cart(id.as_str()));
    }

    /// Records an inventory movement, numbered `n` (1-based).
    pub fn movement(&mut self, product: &ProductId, n: u64, m: &Movement) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::movement(product, n),
            codec::encode_v2(m)?,
        );
        Ok(())
    }

    /// Replaces a product's snapshot (format 2: products carry their rating since then).
    pub fn snapshot(&mut self, snapshot: &Snapshot) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::snapshot(&snapshot.product.catalog.id),
            codec::encode_v3(snapshot)?,
        );
        Ok(())
    }

    /// Writes a review (new or edited) of its product.
    pub fn review(&mut self, review: &Review) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::review(&review.product_id, review.id.as_str()),
            codec::encode(review)?,
        );
        Ok(())
    }

    /// Removes a review.
    pub fn delete_review(&mut self, review: &Review) {
        self.remove(
            Tree::Entities,
            keys::review(&review.product_id, review.id.as_str()),
        );
    }

    /// Marks that `reservation`'s hold on `product` was sold, so a retried commit (after a
    /// crash between the sale and the reservation record) is recognised as done.
    pub fn commit_marker(&mut self, product: &ProductId, reservation: &str) {
        self.put(
            Tree::Entities,
            keys::commit_marker(product, reservation),
            vec![1u8],
        );
    }

    /// Writes a reservation record.
    pub fn reservation(&mut self, r: &Reservation) -> StorageResult<()> {
        self.put(
            Tree::Reservations,
            r.id.as_str().as_bytes().to_vec(),
            codec::encode_v2(r)?,
        );
        Ok(())
    }

    /// Removes a reservation record (one whose holds were refused).
    pub fn delete_reservation(&mut self, id: &ReservationId) {
        self.remove(Tree::Reservations, id.as_str().as_bytes().to_vec());
    }

    /// Writes a store.
    pub fn store(&mut self, store: &Store) -> StorageResult<()> {
        self.put(
            Tree::Catalog,
            keys::store(&store.id),
            codec::encode_v2(store)?,
        );
        Ok(())
    }

    /// Writes a waitlist entry (new or changed).
    pub fn waitlist_entry(
        &mut self,
        entry: &crate::domain::waitlist::WaitlistEntry,
    ) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            keys::waitlist(&entry.product_id, entry.seq),
            codec::encode(entry)?,
        );
        Ok(())
    }

    /// Writes a stock location (new or edited).
    pub fn location(&mut self, location: &crate::domain::location::Location) -> StorageResult<()> {
        self.put(
            Tree::Catalog,
            keys::location(&location.id),
            codec::encode(location)?,
        );
        Ok(())
    }

    /// Writes a store whose `open` changed at `at`, with a marker (one key per store, the
    /// time of its last change) that tells log readers this was a status change, so that
    /// webhooks can derive `store.status_changed` from the record alone.
    pub fn store_status_changed(
        &mut self,
        store: &Store,
        at: crate::domain::time::Millis,
    ) -> StorageResult<()> {
        self.store(store)?;
        self.put(
            Tree::Catalog,
            keys::store_status(&store.id),
            codec::encode(&at)?,
        );
        Ok(())
    }

    /// Writes a store's search synonyms (groups of words that match one another).
    pub fn synonyms(&mut self, store: &StoreId, groups: &[Vec<String>]) -> StorageResult<()> {
        self.put(
            Tree::Catalog,
            keys::synonyms(store),
            codec::encode(&groups.to_vec())?,
        );
        Ok(())
    }

    /// Stores the payment provider's ledger entry under `key`.
    pub fn ledger_entry(&mut self, key: &str, entry: &LedgerEntry) -> StorageResult<()> {
        self.put(
            Tree::Payments,
            key.as_bytes().to_vec(),
            codec::encode(entry)?,
        );
        Ok(())
    }

    /// Stores the answer to an `Idempotency-Key` request.
    pub fn idempotent_answer(
        &mut self,
        key: &[u8],
        answer: &IdempotentAnswer,
    ) -> StorageResult<()> {
        self.put(Tree::Idempotency, key.to_vec(), codec::encode(answer)?);
        Ok(())
    }

    /// Sets a key of a tree whose layout another module owns (`users.rs`).
    pub(super) fn put(
        &mut self,
        tree: Tree,
        key: impl Into<sled::IVec>,
        value: impl Into<sled::IVec>,
    ) {
        self.ops.push(Op {
            tree,
            key: key.into(),
            value: Some(value.into()),
        });
    }

    /// Removes a key (see [`ProductWrite::put`]).
    pub(super) fn remove(&mut self, tree: Tree, key: impl Into<sled::IVec>) {
        self.ops.push(Op {
            tree,
            key: key.into(),
            value: None,
        });
    }

    /// The write as a log record's body: per operation, the tree tag, the key's length
    /// (`u32` LE) and bytes, then `0` for a removal or `1`, the value's length and bytes.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .ops
            .iter()
            .map(|op| 10 + op.key.len() + op.value.as_ref().map_or(0, |v| v.len()))
            .sum();
        let mut out = Vec::with_capacity(size);
        for op in &self.ops {
            out.push(op.tree as u8);
            out.extend_from_slice(&(op.key.len() as u32).to_le_bytes());
            out.extend_from_slice(&op.key);
            match &op.value {
                None => out.push(0),
                Some(value) => {
                    out.push(1);
                    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                    out.extend_from_slice(value);
                }
            }
        }
        out
    }

    /// Reads a body written by [`ProductWrite::encode`].
    pub fn decode(mut bytes: &[u8]) -> Result<Self, MalformedRecord> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], MalformedRecord> {
            if bytes.len() < n {
                return Err(MalformedRecord("cut short"));
            }
            let (head, rest) = bytes.split_at(n);
            *bytes = rest;
            Ok(head)
        }
        fn length(bytes: &mut &[u8]) -> Result<usize, MalformedRecord> {
            let raw = take(bytes, 4)?;
            Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize)
        }
        let mut ops = Vec::new();
        while !bytes.is_empty() {
            let tag = take(&mut bytes, 1)?[0];
            let tree = Tree::from_tag(tag).ok_or(MalformedRecord("unknown tree"))?;
            let key_len = length(&mut bytes)?;
            let key = sled::IVec::from(take(&mut bytes, key_len)?);
            let value = match take(&mut bytes, 1)?[0] {
                0 => None,
                1 => {
                    let len = length(&mut bytes)?;
                    Some(sled::IVec::from(take(&mut bytes, len)?))
                }
                _ => return Err(MalformedRecord("bad value marker")),
            };
            ops.push(Op { tree, key, value });
        }
        Ok(Self { ops })
    }

    /// Appends `other`'s operations after this write's (two writes made one record).
    pub fn append(&mut self, mut other: ProductWrite) {
        self.ops.append(&mut other.ops);
    }

    /// Whether the write changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_survives_its_encoding_and_garbage_is_refused() {
        let mut write = ProductWrite::default();
        write.put(Tree::Users, b"u\0a".to_vec(), b"value".to_vec());
        write.remove(Tree::Reservations, b"res_1".to_vec());
        write.put(Tree::Payments, Vec::new(), Vec::new());
        let bytes = write.encode();
        let back = ProductWrite::decode(&bytes).expect("decodes");
        assert_eq!(back.ops(), write.ops());
        for cut in 1..bytes.len() {
            if let Ok(partial) = ProductWrite::decode(&bytes[..cut]) {
                assert!(
                    partial.ops().len() < 3,
                    "a prefix never decodes to the whole write"
                );
            }
        }
        assert!(ProductWrite::decode(&[9, 0, 0, 0, 0, 0]).is_err());
        assert!(ProductWrite::decode(&[1, 0, 0, 0, 0, 7]).is_err());
    }
}
