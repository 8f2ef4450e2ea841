//! Discovery signals besides search (docs/API.md §11): popularity (units sold in the last 30
//! days), co-purchases for `also_bought`, `similar` products, and product views for the
//! funnel.
//!
//! # How popularity is fed
//!
//! [`Sales`] is derived from the orders alone and kept in memory, with no store of its own:
//!
//! 1. At start, [`Discovery::follow`] first opens the log consumer `discovery`: its durable
//!    cursor, or on the very first start the oldest record still in the log (everything older
//!    is in sled, hence in the read model rebuilt at start). *Then* it counts every order of
//!    the orders read model; each order there is at least as new as that position.
//! 2. It then reads the log from the cursor and applies each order record it carries.
//!    Records between the cursor and the state just counted are applied a second time; that
//!    is harmless because [`Sales::apply`] replaces an order's contribution instead of adding
//!    to it (see [`sales`]), so the counts end exactly where the orders are, whatever is
//!    delivered again. Nothing can be missed either: a change acknowledged while the read
//!    model was being read (an order confirmed by a payment resumed at start) is after the
//!    cursor, so it comes from the log. (Starting a first run at the log's end instead would
//!    lose a change that was durable but not yet in the read model at that moment.)
//!
//! The cursor is saved at most once a second ([`CURSOR_SAVE_EVERY`]; within a second after
//! the last record when the log goes quiet), not per batch: a save flushes sled, which the
//! write path leaves to the checkpoints. The cursor only bounds how much log is replayed at
//! the next start and which segments are kept; one left a second behind costs a few
//! replayed records, never a wrong count. Rebuilding
//! from the read model costs one pass over orders that are in memory anyway.
//!
//! Views ([`views`]) are counted in memory and written to a derived sled tree periodically
//! and at shutdown.

pub mod insights;
pub mod recommend;
pub mod sales;
pub mod views;

pub use insights::Insights;
pub use sales::Sales;
pub use views::Views;

use crate::{
    domain::{ids::ProductId, order::Order},
    persistence::{Storage, StorageError, StorageResult, consumer::Start},
    read_model::ReadModel,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Name of the log consumer (and of its cursor).
pub const CONSUMER: &str = "discovery";

/// Shortest time between two saves of the consumer's cursor.
pub const CURSOR_SAVE_EVERY: Duration = Duration::from_secs(1);

/// Records read from the log per batch.
const BATCH: usize = 256;

/// Popularity, co-purchases and views, shared by the HTTP handlers and (later) search.
pub struct Discovery {
    /// Units sold and co-purchases, from confirmed orders.
    pub sales: Sales,
    /// Product views per hour.
    pub views: Views,
    /// Additions to carts per product and hour (the funnel's second step), counted like views.
    pub cart_adds: Views,
    /// A store owner's figures per hour, from the orders.
    pub insights: Insights,
}

impl Discovery {
    /// Loads the persisted view counts; sales start empty until [`Discovery::follow`] runs.
    /// Blocking (start-up).
    pub fn open(storage: &Storage) -> StorageResult<Self> {
        Ok(Self {
            sales: Sales::default(),
            views: Views::open(storage, "views")?,
            cart_adds: Views::open(storage, "cart_adds")?,
            insights: Insights::default(),
        })
    }

    /// Units of `product` sold in the last 30 days (see [`Sales::units_sold_30d`]).
    pub fn units_sold_30d(&self, product: &ProductId) -> u64 {
        self.sales.units_sold_30d(product)
    }

    /// Counts the orders of `read_model`, then follows the log for ever (see the module
    /// docs). Returns only when the log cannot be read.
    pub async fn follow(
        self: Arc<Self>,
        storage: &Storage,
        read_model: &ReadModel,
    ) -> StorageResult<()> {
        // The position first: every order counted below is at least as new as it.
        let mut consumer = storage.consumer(CONSUMER, Start::Oldest)?;
        // Counting every order is CPU work that may take a while on a big history: off the
        // async workers.
        let orders: Vec<Arc<Order>> = read_model
            .orders
            .iter()
            .map(|o| Arc::clone(o.value()))
            .collect();
        let me = Arc::clone(&self);
        tokio::task::spawn_blocking(move || {
            for order in &orders {
                me.sales.apply(order);
                me.insights.apply(order);
            }
        })
        .await
        .map_err(|e| StorageError::Other(format!("counting the orders failed: {e}")))?;
        // The last record handled but not saved yet, and when the cursor was last saved.
        let mut unsaved = None;
        let mut saved_at = Instant::now();
        loop {
            if let Some(lsn) = unsaved {
                // Save once the interval is over, also when no record comes meanwhile (a
                // cursor left behind would keep log segments from being deleted).
                let due = CURSOR_SAVE_EVERY.saturating_sub(saved_at.elapsed());
                match tokio::time::timeout(due, consumer.wait()).await {
                    Ok(more) => more?,
                    Err(_) => {
                        consumer.save(lsn).await?;
                        (unsaved, saved_at) = (None, Instant::now());
                        continue;
                    }
                }
            }
            let records = consumer.next(BATCH).await?;
            for record in &records {
                for order in record.orders() {
                    self.sales.apply(&order);
                    self.insights.apply(&order);
                }
            }
            unsaved = records.last().map(|r| r.lsn).or(unsaved);
            if let Some(lsn) = unsaved
                && saved_at.elapsed() >= CURSOR_SAVE_EVERY
            {
                consumer.save(lsn).await?;
                (unsaved, saved_at) = (None, Instant::now());
            }
        }
    }

    /// Persists the view counts every `every`, for ever.
    pub async fn persist_views_every(&self, storage: &Storage, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            for (what, counters) in [
                ("product views", &self.views),
                ("cart adds", &self.cart_adds),
            ] {
                if let Err(error) = counters.persist(storage).await {
                    tracing::warn!(%error, "persisting {what} failed; retrying next interval");
                }
            }
        }
    }
}
