//! Log consumers with durable cursors: the outbox under everything that reacts to changes
//! after they are acknowledged (search, notifications, webhooks, insights).
//!
//! A [`Consumer`] reads every record after its cursor, in log order, and only records that
//! are durable. It saves its cursor when it has finished with a record ([`Consumer::save`]);
//! after a crash it starts again right after the last *saved* cursor, so delivery is at least
//! once: the records between the saved cursor and the crash come again, nothing is skipped.
//! While a consumer's cursor lags, the log segments it still needs are kept (see
//! [`Storage::checkpoint`]).

use super::{
    JournalRecord, ProductWrite, Storage, StorageError, StorageResult, StoredEvent, Tree, codec,
    keys, legacy, log,
};
use crate::domain::waitlist::{WaitlistEntry, WaitlistStatus};
use crate::domain::{
    order::Order,
    product::{Catalog, ProductChange},
    review::Review,
    store::Store,
    time::Millis,
};
use log::{LogReader, Lsn};
use std::sync::Arc;
use tokio::sync::watch;

/// Where a consumer without a saved cursor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At the oldest record still in the log.
    Oldest,
    /// After the last durable record: only changes from now on.
    Now,
}

/// One durable record of the log.
pub struct LogEvent {
    /// Its position.
    pub lsn: Lsn,
    /// What it changed.
    pub write: ProductWrite,
}

impl LogEvent {
    /// The published events (product, order, cart topics) this record carries, as
    /// `(entity id, event)`.
    pub fn events(&self) -> impl Iterator<Item = (String, StoredEvent)> + '_ {
        self.write.ops().iter().filter_map(|op| {
            if op.tree != Tree::Entities {
                return None;
            }
            let entity = op.key.strip_prefix(b"e")?;
            let end = entity.iter().position(|b| *b == 0)?;
            let entity = std::str::from_utf8(&entity[..end]).ok()?;
            let event = codec::decode::<StoredEvent>(op.value.as_ref()?).ok()?;
            Some((entity.to_owned(), event))
        })
    }

    /// The order records this record writes (each one the whole order as of this change), in
    /// the order they were written. A record whose order value cannot be decoded is skipped
    /// (start-up would have refused a damaged log; a value of a newer format is not ours).
    pub fn orders(&self) -> impl Iterator<Item = Order> + '_ {
        self.write.ops().iter().filter_map(|op| {
            if op.tree != Tree::Entities || !op.key.starts_with(keys::ORDER_PREFIX) {
                return None;
            }
            legacy::decode_order(op.value.as_ref()?).ok()
        })
    }
}

impl LogEvent {
    /// The catalog fields of every product this record created or changed (a new product's
    /// first snapshot, a PATCH or an archive), in the record's order.
    pub fn catalogs(&self) -> impl Iterator<Item = Arc<Catalog>> + '_ {
        self.write.ops().iter().filter_map(|op| {
            if op.tree != Tree::Entities {
                return None;
            }
            let value = op.value.as_ref()?;
            match op.key.first()? {
                b's' => legacy::decode_snapshot(value)
                    .ok()
                    .map(|s| s.product.catalog),
                b'j' => match codec::decode::<JournalRecord>(value).ok()?.change {
                    ProductChange::Updated(catalog) => Some(catalog),
                    // Stock and ratings are read live from the read model, not indexed.
                    ProductChange::Stock(_) | ProductChange::Rated(_) => None,
                },
                _ => None,
            }
        })
    }
}

impl LogEvent {
    /// The waitlist entries this record marks served (units were held for them in a cart).
    pub fn waitlist_served(&self) -> impl Iterator<Item = WaitlistEntry> + '_ {
        self.write
            .ops()
            .iter()
            .filter(|op| op.tree == Tree::Entities && op.key.starts_with(keys::WAITLIST_PREFIX))
            .filter_map(|op| codec::decode::<WaitlistEntry>(op.value.as_ref()?).ok())
            .filter(|entry| entry.status == WaitlistStatus::Served)
    }

    /// The stores whose status (open or closed) this record changed, with the time of the
    /// change (a store's creation is not one).
    pub fn store_status_changes(&self) -> impl Iterator<Item = (Store, Millis)> + '_ {
        self.write.ops().iter().filter_map(|op| {
            if op.tree != Tree::Catalog {
                return None;
            }
            let id = op.key.strip_prefix(keys::STORE_STATUS_PREFIX)?;
            let at = codec::decode::<Millis>(op.value.as_ref()?).ok()?;
            let store_key = [keys::STORE_PREFIX, id].concat();
            let store = self.write.ops().iter().find_map(|op| {
                (op.tree == Tree::Catalog && op.key.as_ref() == store_key.as_slice())
                    .then(|| super::legacy::decode_store(op.value.as_ref()?).ok())
                    .flatten()
            })?;
            Some((store, at))
        })
    }

    /// The return records this record wrote (each the whole return as of this change).
    pub fn returns(&self) -> impl Iterator<Item = crate::domain::returns::Return> + '_ {
        self.write.ops().iter().filter_map(|op| {
            if op.tree != Tree::Entities || !op.key.starts_with(keys::RETURN_PREFIX) {
                return None;
            }
            codec::decode(op.value.as_ref()?).ok()
        })
    }

    /// The reviews this record wrote (new or edited; tell them apart by `updated_at`).
    pub fn reviews(&self) -> impl Iterator<Item = Review> + '_ {
        self.write.ops().iter().filter_map(|op| {
            if op.tree != Tree::Entities || op.key.first() != Some(&b'r') {
                return None;
            }
            codec::decode::<Review>(op.value.as_ref()?).ok()
        })
    }
}

/// A named reader of the log with a cursor kept in sled.
pub struct Consumer {
    name: String,
    storage: Storage,
    /// Taken while a blocking read runs.
    reader: Option<LogReader>,
    durable: watch::Receiver<Lsn>,
}

impl Storage {
    /// The consumer called `name`, positioned after its saved cursor (or at `start` when it
    /// has none yet; that position is saved at once, so the log keeps what it will read).
    pub fn consumer(&self, name: &str, start: Start) -> StorageResult<Consumer> {
        let state = self.log_state();
        let position = match self.cursors.get(name.as_bytes())? {
            Some(raw) => u64::from_be_bytes(
                raw.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Malformed("consumer cursor"))?,
            ),
            None => {
                let position = match start {
                    Start::Now => *state.durable.borrow(),
                    Start::Oldest => log::segments(&state.dir)?
                        .first()
                        .map_or(*state.durable.borrow(), |(first, _)| first - 1),
                };
                self.cursors
                    .insert(name.as_bytes(), &position.to_be_bytes())?;
                self.db.flush()?;
                position
            }
        };
        Ok(Consumer {
            name: name.to_owned(),
            storage: self.clone(),
            reader: Some(LogReader::new(&state.dir, position)),
            durable: state.durable.subscribe(),
        })
    }
}

impl Storage {
    /// Moves the saved cursor of consumer `name` to `lsn`, for a reader that keeps its own
    /// position with its output (the search index records the log position of each commit)
    /// and must start exactly there.
    pub fn set_cursor(&self, name: &str, lsn: Lsn) -> StorageResult<()> {
        self.cursors.insert(name.as_bytes(), &lsn.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }
}

impl Consumer {
    /// The last record handed out.
    pub fn position(&self) -> Lsn {
        self.reader.as_ref().map_or(0, LogReader::position)
    }

    /// Up to `max` records after the last one handed out, waiting until there is at least
    /// one. `Err` when the log cannot be read (or the storage is gone).
    pub async fn next(&mut self, max: usize) -> StorageResult<Vec<LogEvent>> {
        let position = self.position();
        let durable = *self
            .durable
            .wait_for(|durable| *durable > position)
            .await
            .map_err(|_| StorageError::Unavailable("the log was closed"))?;
        let mut reader = self
            .reader
            .take()
            .ok_or(StorageError::Unavailable("a read of this consumer failed"))?;
        let (reader, read) = tokio::task::spawn_blocking(move || {
            let read = reader.read(durable, max.max(1));
            (reader, read)
        })
        .await
        .map_err(|e| StorageError::Other(format!("a log read panicked: {e}")))?;
        self.reader = Some(reader);
        read?
            .into_iter()
            .map(|(lsn, body)| {
                Ok(LogEvent {
                    lsn,
                    write: ProductWrite::decode(&body)?,
                })
            })
            .collect()
    }

    /// Waits until a record after the last one handed out is durable. Unlike
    /// [`Consumer::next`] it is cancel-safe, so a consumer that saves its cursor lazily can
    /// race it against a timer.
    pub async fn wait(&mut self) -> StorageResult<()> {
        let position = self.position();
        self.durable
            .wait_for(|durable| *durable > position)
            .await
            .map(|_| ())
            .map_err(|_| StorageError::Unavailable("the log was closed"))
    }

    /// Saves `lsn` as this consumer's cursor, durably: after a crash it resumes after it.
    pub async fn save(&self, lsn: Lsn) -> StorageResult<()> {
        self.saver().save(lsn).await
    }

    /// A handle that saves this consumer's cursor from another task (a reader that hands
    /// the slow part of finishing records to a helper task, like a webhook worker's
    /// recorder).
    pub fn saver(&self) -> CursorSaver {
        CursorSaver {
            name: self.name.clone(),
            storage: self.storage.clone(),
        }
    }

    /// The last durable LSN now: every record after it is newer than this call.
    pub fn durable(&self) -> Lsn {
        *self.durable.borrow()
    }
}

/// Saves one consumer's cursor (see [`Consumer::saver`]).
pub struct CursorSaver {
    name: String,
    storage: Storage,
}

impl CursorSaver {
    /// [`Consumer::save`].
    pub async fn save(&self, lsn: Lsn) -> StorageResult<()> {
        self.storage
            .cursors
            .insert(self.name.as_bytes(), &lsn.to_be_bytes())?;
        self.storage.flush_sled().await
    }
}
