//! Product views for the funnel (docs/API.md §11, §14): every `GET /api/v1/products/{id}`
//! counts one, per product and per UTC hour, tagged with the product's store so that the
//! insights can sum a store's views per hour.
//!
//! Counting is an atomic increment of an existing cell (a map read under a shard read lock),
//! so a product page costs no write to disk. The counts are written to sled every
//! `discovery.views_flush_ms` and at a clean shutdown ([`Views::persist`]), so they survive a
//! restart; a crash (`kill -9`) loses the views of the last interval at most. Views are not
//! acknowledged writes: nobody was promised that they were kept, so they do not go through
//! the log.

use crate::{
    domain::{
        ids::{ProductId, StoreId},
        time::Millis,
    },
    persistence::{Storage, StorageError, StorageResult},
};
use dashmap::DashMap;
use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
};

/// Milliseconds per hour bucket.
const HOUR_MS: i64 = 3_600_000;

/// Name of the derived sled tree holding the counts.
const TREE: &str = "views";

/// One product's views in one hour.
struct Cell {
    /// The product's store (products never move between stores).
    store: StoreId,
    /// Views counted.
    count: AtomicU64,
    /// The count last written to sled, so a flush writes only what changed.
    persisted: AtomicU64,
}

/// View counters per product and hour (see the module docs).
pub struct Views {
    cells: DashMap<(ProductId, i64), Cell>,
    tree: sled::Tree,
}

/// The hour bucket of an instant: whole hours since the epoch (UTC).
pub fn hour_of(at: Millis) -> i64 {
    at.div_euclid(HOUR_MS)
}

/// `product id, 0, hour (big-endian)`: one product's hours sort together, in time order.
fn key(product: &ProductId, hour: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(product.as_str().len() + 9);
    key.extend_from_slice(product.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&hour.to_be_bytes());
    key
}

/// `count (big-endian), store id`.
fn value(store: &StoreId, count: u64) -> Vec<u8> {
    let mut value = count.to_be_bytes().to_vec();
    value.extend_from_slice(store.as_str().as_bytes());
    value
}

/// Reads a stored entry back.
fn decode(key: &[u8], value: &[u8]) -> Option<((ProductId, i64), StoreId, u64)> {
    let split = key.iter().position(|b| *b == 0)?;
    let product = ProductId::parse(std::str::from_utf8(&key[..split]).ok()?)?;
    let hour = i64::from_be_bytes(key.get(split + 1..)?.try_into().ok()?);
    let count = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let store = StoreId::parse(std::str::from_utf8(value.get(8..)?).ok()?)?;
    Some(((product, hour), store, count))
}

impl Views {
    /// The counters as last persisted in `storage`. Blocking (start-up).
    pub fn open(storage: &Storage) -> StorageResult<Self> {
        let tree = storage.derived_tree(TREE)?;
        let cells = DashMap::new();
        for entry in tree.iter() {
            let (k, v) = entry?;
            let (key, store, count) =
                decode(&k, &v).ok_or(StorageError::Malformed("view counter"))?;
            cells.insert(
                key,
                Cell {
                    store,
                    count: AtomicU64::new(count),
                    persisted: AtomicU64::new(count),
                },
            );
        }
        Ok(Self { cells, tree })
    }

    /// Counts one view of `product` (of `store`) at `at`.
    pub fn record(&self, product: &ProductId, store: &StoreId, at: Millis) {
        let key = (product.clone(), hour_of(at));
        if let Some(cell) = self.cells.get(&key) {
            cell.count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.cells
            .entry(key)
            .or_insert_with(|| Cell {
                store: store.clone(),
                count: AtomicU64::new(0),
                persisted: AtomicU64::new(0),
            })
            .count
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Every view of `product` counted so far.
    pub fn product_views(&self, product: &ProductId) -> u64 {
        self.cells
            .iter()
            .filter(|cell| &cell.key().0 == product)
            .map(|cell| cell.count.load(Ordering::Relaxed))
            .sum()
    }

    /// Views of `store`'s products per hour bucket ([`hour_of`]) with `from ≤ hour < to`, for
    /// the funnel of the insights. Scans every counter: meant for reports, not for hot paths.
    pub fn store_views_by_hour(&self, store: &StoreId, from: i64, to: i64) -> BTreeMap<i64, u64> {
        let mut hours = BTreeMap::new();
        for cell in self.cells.iter() {
            let hour = cell.key().1;
            if &cell.store == store && (from..to).contains(&hour) {
                *hours.entry(hour).or_default() += cell.count.load(Ordering::Relaxed);
            }
        }
        hours
    }

    /// Writes the counters that changed since the last call to sled and flushes it; returns
    /// how many were written. Each entry is the whole count, so a repeated or interrupted
    /// persist leaves a correct (at worst older) value.
    pub async fn persist(&self, storage: &Storage) -> StorageResult<usize> {
        let mut batch = sled::Batch::default();
        let mut written = Vec::new();
        for cell in self.cells.iter() {
            let count = cell.count.load(Ordering::Relaxed);
            if count != cell.persisted.load(Ordering::Relaxed) {
                let (product, hour) = cell.key();
                batch.insert(key(product, *hour), value(&cell.store, count));
                written.push((cell.key().clone(), count));
            }
        }
        if written.is_empty() {
            return Ok(0);
        }
        self.tree.apply_batch(batch)?;
        storage.flush_derived().await?;
        for (key, count) in &written {
            if let Some(cell) = self.cells.get(key) {
                cell.persisted.store(*count, Ordering::Relaxed);
            }
        }
        Ok(written.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_counter_reads_back() {
        let product = ProductId::generate();
        let store = StoreId::generate();
        let (k, v) = (key(&product, 493_112), value(&store, 42));
        assert_eq!(decode(&k, &v), Some(((product, 493_112), store, 42)));
        assert_eq!(decode(b"garbage", &v), None);
    }
}
