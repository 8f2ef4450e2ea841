//! Product views for the funnel (docs/API.md §11, §14): every `GET /api/v1/products/{id}`
//! counts one, per product and per UTC hour, under the product's store, so that the insights
//! can sum a store's views per hour with one range read.
//!
//! Counting is an atomic increment of a cell in memory (a map read under a shard read lock;
//! the first view of a product in an hour also reads what an earlier run stored for that
//! hour), so a product page costs no write to disk. The counts are written to sled every
//! `discovery.views_flush_ms` and at a clean shutdown ([`Views::persist`]), so they survive a
//! restart; a crash (`kill -9`) loses the views of the last interval at most. Views are not
//! acknowledged writes: nobody was promised that they were kept, so they do not go through
//! the log. Cells of hours that are over and written are dropped from memory, so memory
//! holds about two hours of viewed products whatever the history on disk.

use crate::{
    domain::{
        ids::{ProductId, StoreId},
        time::{Millis, now_ms},
    },
    persistence::{Storage, StorageResult},
};
use dashmap::DashMap;
use std::{
    collections::{BTreeMap, HashMap},
    sync::atomic::{AtomicU64, Ordering},
};

/// Milliseconds per hour bucket.
const HOUR_MS: i64 = 3_600_000;

/// Which views a cell counts: a store's product in one hour.
type Key = (StoreId, i64, ProductId);

/// One product's views in one hour.
struct Cell {
    /// Views counted (including those an earlier run stored).
    count: AtomicU64,
    /// The count last written to sled, so a flush writes only what changed.
    persisted: AtomicU64,
}

/// View counters per product and hour (see the module docs).
pub struct Views {
    /// The hours still being counted or not written yet.
    cells: DashMap<Key, Cell>,
    /// Every written count, keyed by [`encode_key`].
    tree: sled::Tree,
}

/// The hour bucket of an instant: whole hours since the epoch (UTC).
pub fn hour_of(at: Millis) -> i64 {
    at.div_euclid(HOUR_MS)
}

/// `store id, 0`: the prefix of a store's entries.
fn store_prefix(store: &StoreId) -> Vec<u8> {
    let mut key = Vec::with_capacity(store.as_str().len() + 9 + 30);
    key.extend_from_slice(store.as_str().as_bytes());
    key.push(0);
    key
}

/// `store id, 0, hour (big-endian, hours before 1970 as 0), product id`: a store's hours sort
/// together, in time order.
fn encode_key((store, hour, product): &Key) -> Vec<u8> {
    let mut key = store_prefix(store);
    key.extend_from_slice(&(*hour).max(0).to_be_bytes());
    key.extend_from_slice(product.as_str().as_bytes());
    key
}

/// Reads a stored key back.
fn decode_key(key: &[u8]) -> Option<Key> {
    let split = key.iter().position(|b| *b == 0)?;
    let store = StoreId::parse(std::str::from_utf8(&key[..split]).ok()?)?;
    let hour = i64::from_be_bytes(key.get(split + 1..split + 9)?.try_into().ok()?);
    let product = ProductId::parse(std::str::from_utf8(key.get(split + 9..)?).ok()?)?;
    Some((store, hour, product))
}

/// Reads a stored count (a malformed one counts as 0: views are best effort).
fn decode_count(value: &[u8]) -> u64 {
    value.try_into().map(u64::from_be_bytes).unwrap_or_default()
}

impl Views {
    /// The counters of `storage` kept in its derived tree `name` (`views`, `cart_adds`);
    /// nothing is loaded: earlier hours are read from disk.
    pub fn open(storage: &Storage, name: &str) -> StorageResult<Self> {
        Ok(Self {
            cells: DashMap::new(),
            tree: storage.derived_tree(name)?,
        })
    }

    /// Counts one view of `product` (of `store`) at `at`.
    pub fn record(&self, product: &ProductId, store: &StoreId, at: Millis) {
        let key = (store.clone(), hour_of(at), product.clone());
        if let Some(cell) = self.cells.get(&key) {
            cell.count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The first view of this product this hour: start from what an earlier run stored.
        let base = match self.tree.get(encode_key(&key)) {
            Ok(value) => value.map_or(0, |v| decode_count(&v)),
            Err(error) => {
                tracing::warn!(%error, "reading a stored view count failed; counting from 0");
                0
            }
        };
        self.cells
            .entry(key)
            .or_insert_with(|| Cell {
                count: AtomicU64::new(base),
                persisted: AtomicU64::new(base),
            })
            .count
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Every count whose key `keep` accepts, stored ones overlaid by those in memory.
    fn counts(
        &self,
        stored: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        keep: impl Fn(&Key) -> bool,
    ) -> StorageResult<HashMap<Key, u64>> {
        let mut counts = HashMap::new();
        for entry in stored {
            let (key, value) = entry?;
            if let Some(key) = decode_key(&key).filter(|k| keep(k)) {
                counts.insert(key, decode_count(&value));
            }
        }
        for cell in self.cells.iter().filter(|c| keep(c.key())) {
            counts.insert(cell.key().clone(), cell.count.load(Ordering::Relaxed));
        }
        Ok(counts)
    }

    /// Views of `store`'s products per hour bucket ([`hour_of`]) with `from ≤ hour < to`, for
    /// the funnel of the insights: one range read of the store's stored hours.
    pub fn store_views_by_hour(
        &self,
        store: &StoreId,
        from: i64,
        to: i64,
    ) -> StorageResult<BTreeMap<i64, u64>> {
        let (from, to) = (from.max(0), to.max(0));
        let mut start = store_prefix(store);
        start.extend_from_slice(&from.to_be_bytes());
        let mut end = store_prefix(store);
        end.extend_from_slice(&to.to_be_bytes());
        let counts = self.counts(self.tree.range(start..end), |(s, hour, _)| {
            s == store && (from..to).contains(hour)
        })?;
        let mut hours = BTreeMap::new();
        for ((_, hour, _), count) in counts {
            *hours.entry(hour).or_default() += count;
        }
        Ok(hours)
    }

    /// Every view of `product` counted so far. Reads every stored count: for reports and
    /// tests, not for request paths.
    pub fn product_views(&self, product: &ProductId) -> StorageResult<u64> {
        let counts = self.counts(self.tree.iter(), |(_, _, p)| p == product)?;
        Ok(counts.values().sum())
    }

    /// Writes the counters that changed since the last call to sled and flushes it, then
    /// drops the cells of finished hours that are written; returns how many were written.
    /// Each entry is the whole count, so a repeated or interrupted persist leaves a correct
    /// (at worst older) value.
    pub async fn persist(&self, storage: &Storage) -> StorageResult<usize> {
        let mut batch = sled::Batch::default();
        let mut written = Vec::new();
        for cell in self.cells.iter() {
            let count = cell.count.load(Ordering::Relaxed);
            if count != cell.persisted.load(Ordering::Relaxed) {
                batch.insert(encode_key(cell.key()), &count.to_be_bytes());
                written.push((cell.key().clone(), count));
            }
        }
        if !written.is_empty() {
            self.tree.apply_batch(batch)?;
            storage.flush_derived().await?;
            for (key, count) in &written {
                if let Some(cell) = self.cells.get(key) {
                    cell.persisted.store(*count, Ordering::Relaxed);
                }
            }
        }
        // No view can fall into an hour that is over (views are counted at the time of the
        // request), so a written cell of one is final. The previous hour is kept for
        // requests that began just before the hour turned.
        let current = hour_of(now_ms());
        self.cells.retain(|(_, hour, _), cell| {
            *hour >= current - 1
                || cell.count.load(Ordering::Relaxed) != cell.persisted.load(Ordering::Relaxed)
        });
        Ok(written.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_reads_back_and_sorts_by_store_then_hour() {
        let (store, product) = (StoreId::generate(), ProductId::generate());
        let key = (store.clone(), 493_112, product.clone());
        assert_eq!(decode_key(&encode_key(&key)), Some(key.clone()));
        assert_eq!(decode_key(b"garbage"), None);
        let later = (store, 493_113, ProductId::generate());
        assert!(encode_key(&key) < encode_key(&later));
        assert_eq!(decode_count(&7u64.to_be_bytes()), 7);
    }

    #[tokio::test]
    async fn a_store_reads_its_views_per_hour_from_memory_and_disk_alike() {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(dir.path()).expect("storage");
        let views = Views::open(&storage, "views").expect("views");
        let (shop, other) = (StoreId::generate(), StoreId::generate());
        let (a, b) = (ProductId::generate(), ProductId::generate());
        let now = now_ms();
        let (old, hour) = (hour_of(now) - 30, hour_of(now));
        for (product, store, at) in [
            (&a, &shop, now - 30 * HOUR_MS),
            (&a, &shop, now - 30 * HOUR_MS),
            (&b, &shop, now - 30 * HOUR_MS),
            (&a, &shop, now),
            (&b, &other, now),
        ] {
            views.record(product, store, at);
        }
        let expected = BTreeMap::from([(old, 3), (hour, 1)]);
        assert_eq!(
            views.store_views_by_hour(&shop, old, hour + 1).unwrap(),
            expected
        );
        assert_eq!(views.persist(&storage).await.unwrap(), 4);
        // The finished hour left memory; its counts come from disk now.
        assert_eq!(views.cells.len(), 2);
        assert_eq!(
            views.store_views_by_hour(&shop, old, hour + 1).unwrap(),
            expected
        );
        assert_eq!(
            views.store_views_by_hour(&shop, old + 1, hour).unwrap(),
            BTreeMap::new()
        );
        // A later run adds to what was stored.
        drop(views);
        let views = Views::open(&storage, "views").expect("views");
        views.record(&a, &shop, now);
        assert_eq!(views.product_views(&a).unwrap(), 4);
        assert_eq!(
            views.store_views_by_hour(&shop, hour, hour + 1).unwrap()[&hour],
            2
        );
    }
}
