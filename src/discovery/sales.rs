//! What confirmed orders say about products: units sold per day (popularity) and which
//! products were bought together (`also_bought`).
//!
//! # Why state, not events
//!
//! Every order record in the log is the *whole* order as of that change, so the sales an
//! order stands for are a function of its latest record alone: an order that has a
//! `confirmed` entry in its history and is not `cancelled` now has sold its lines, on the
//! (UTC) day it was confirmed; any other order has sold nothing. [`Sales::apply`] keeps, per
//! order, the [`Contribution`] it last counted and replaces it with the one its new record
//! implies (subtract the old, add the new). Applying a record again, or an older record
//! followed by the newer ones again, therefore ends where applying each once ends: delivery
//! at least once (records after the saved cursor come again after a crash) can never double
//! a count, and no counted-order set has to be persisted together with the cursor.
//!
//! A cancellation of a confirmed order removes its units from the day they were sold on (and
//! its pairs from `also_bought`), so a product's count is what it kept selling, never less
//! than zero.

use crate::domain::{
    ids::{OrderId, ProductId},
    order::{Order, OrderStatus},
    time::Millis,
};
use dashmap::DashMap;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// Milliseconds per day (days are UTC days since the epoch).
const DAY_MS: i64 = 86_400_000;

/// Days in the popularity window: today and the 29 before it.
pub const WINDOW_DAYS: i64 = 30;

/// What one order counts for: its lines, on the day it was confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contribution {
    /// UTC day of the confirmation.
    day: i64,
    /// Units per product (lines of one product merged), sorted by product.
    units: Vec<(ProductId, u64)>,
}

impl Contribution {
    /// What `order` counts for now: `None` unless it was confirmed and is not cancelled.
    pub fn of(order: &Order) -> Option<Self> {
        if order.status == OrderStatus::Cancelled {
            return None;
        }
        let confirmed = order
            .history
            .iter()
            .find(|h| h.status == OrderStatus::Confirmed)?;
        let mut units: BTreeMap<&ProductId, u64> = BTreeMap::new();
        for line in &order.items {
            *units.entry(&line.product_id).or_default() += line.quantity.max(0) as u64;
        }
        Some(Self {
            day: day_of(confirmed.at),
            units: units.into_iter().map(|(p, n)| (p.clone(), n)).collect(),
        })
    }
}

/// The UTC day of an instant.
pub fn day_of(at: Millis) -> i64 {
    at.div_euclid(DAY_MS)
}

/// Popularity and co-purchases, kept in memory (see the module docs; rebuilt at start from
/// the orders and then fed from the log, see [`super::Discovery`]).
#[derive(Default)]
pub struct Sales {
    /// What each order counts for now. Only the (single) feeding task takes this lock; it
    /// also serialises the updates of the two maps below.
    counted: Mutex<HashMap<OrderId, Contribution>>,
    /// Units sold per product per UTC day, days inside the window only (older ones are
    /// dropped when the product changes, and ignored when read).
    daily: DashMap<ProductId, BTreeMap<i64, u64>, rustc_hash::FxBuildHasher>,
    /// Per product: how many counted orders also held each other product.
    pairs: DashMap<ProductId, HashMap<ProductId, u64>>,
    /// Bumped after every change of `daily`, so search can keep a popularity table until
    /// the sales change (see `read_model::search_facts::Facts::popularity`).
    generation: AtomicU64,
}

impl Sales {
    /// Units of `product` sold in the last [`WINDOW_DAYS`] UTC days (today included) by
    /// orders that were confirmed and not cancelled since. Cheap: at most 30 additions under
    /// a shard read lock, so search may call it for every hit.
    pub fn units_sold_30d(&self, product: &ProductId) -> u64 {
        self.units_sold_in_window(product, crate::domain::time::now_ms())
    }

    /// [`Sales::units_sold_30d`] as of `now` (search reads the clock once per query).
    pub fn units_sold_in_window(&self, product: &ProductId, now: Millis) -> u64 {
        let today = day_of(now);
        self.daily.get(product).map_or(0, |days| {
            days.range(today - WINDOW_DAYS + 1..=today)
                .map(|(_, n)| n)
                .sum()
        })
    }

    /// A number that changes whenever some product's units sold change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Calls `f` with every product that sold units in the window as of `now`, and how many
    /// (products without sales are not visited: they are most of the catalog).
    pub fn each_sold(&self, now: Millis, mut f: impl FnMut(&ProductId, u64)) {
        let today = day_of(now);
        for entry in self.daily.iter() {
            let units: u64 = entry
                .value()
                .range(today - WINDOW_DAYS + 1..=today)
                .map(|(_, n)| n)
                .sum();
            if units > 0 {
                f(entry.key(), units);
            }
        }
    }

    /// The products bought together with `product`, with how many counted orders held both
    /// (unordered).
    pub fn bought_with(&self, product: &ProductId) -> Vec<(ProductId, u64)> {
        self.pairs.get(product).map_or_else(Vec::new, |pairs| {
            pairs
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(p, n)| (p.clone(), *n))
                .collect()
        })
    }

    /// Takes `order`'s current record into account (idempotent, see the module docs).
    pub fn apply(&self, order: &Order) {
        self.apply_at(order, crate::domain::time::now_ms());
    }

    /// [`Sales::apply`] as of `now` (which decides the window).
    fn apply_at(&self, order: &Order, now: Millis) {
        let new = Contribution::of(order);
        let Ok(mut counted) = self.counted.lock() else {
            return;
        };
        let old = match &new {
            Some(new) => counted.insert(order.id.clone(), new.clone()),
            None => counted.remove(&order.id),
        };
        if old == new {
            return;
        }
        let oldest = day_of(now) - WINDOW_DAYS + 1;
        if let Some(old) = &old {
            self.count(old, false, oldest);
        }
        if let Some(new) = &new {
            self.count(new, true, oldest);
        }
    }

    /// Adds (or removes) one contribution to the daily units and the pairs.
    fn count(&self, c: &Contribution, add: bool, oldest: i64) {
        let change = |n: &mut u64, by: u64| {
            *n = if add {
                n.saturating_add(by)
            } else {
                n.saturating_sub(by)
            }
        };
        for (product, units) in &c.units {
            let mut days = self.daily.entry(product.clone()).or_default();
            // A day outside the window is neither added nor removed: it counts for nothing.
            if c.day >= oldest {
                change(days.entry(c.day).or_default(), *units);
                days.retain(|day, n| *day >= oldest && *n > 0);
            }
            let empty = days.is_empty();
            drop(days);
            if empty {
                self.daily.remove_if(product, |_, days| days.is_empty());
            }
        }
        self.generation.fetch_add(1, Ordering::Release);
        for (a, _) in &c.units {
            let mut pairs = self.pairs.entry(a.clone()).or_default();
            for (b, _) in c.units.iter().filter(|(b, _)| b != a) {
                change(pairs.entry(b.clone()).or_default(), 1);
            }
            pairs.retain(|_, n| *n > 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        ids::{ReservationId, StoreId},
        money::Money,
        order::{HistoryEntry, OrderLine, Payment, PaymentStatus},
    };

    const NOW: Millis = 1_800_000_000_000;

    fn product(n: u8) -> ProductId {
        ProductId::parse(&format!("prod_{}", format!("{n:02}").repeat(12))).expect("id")
    }

    fn order(
        id: u8,
        status: OrderStatus,
        confirmed_at: Option<Millis>,
        lines: &[(u8, i64)],
    ) -> Order {
        let mut history = vec![HistoryEntry {
            status: OrderStatus::Pending,
            at: NOW,
            by: "system".into(),
            reason: None,
        }];
        if let Some(at) = confirmed_at {
            history.push(HistoryEntry {
                status: OrderStatus::Confirmed,
                at,
                by: "system".into(),
                reason: None,
            });
        }
        Order {
            id: OrderId::parse(&format!("ord_{}", format!("{id:02}").repeat(12))).expect("id"),
            number: u64::from(id),
            store_id: StoreId::parse(&format!("str_{}", "ab".repeat(12))).expect("id"),
            customer_id: None,
            status,
            items: lines
                .iter()
                .map(|(p, q)| OrderLine {
                    product_id: product(*p),
                    sku: "S".into(),
                    name: "N".into(),
                    quantity: *q,
                    unit_price: Money {
                        amount: 100,
                        currency: "USD".into(),
                    },
                    allocations: Vec::new(),
                })
                .collect(),
            payment: Payment {
                status: PaymentStatus::Captured,
                method: "card".into(),
                token: "tok".into(),
                transaction_id: None,
                attempts: 1,
                decline_code: None,
                refunds: Vec::new(),
            },
            shipping_address: None,
            note: None,
            history,
            created_at: NOW,
            updated_at: NOW,
            reservation_id: ReservationId::parse(&format!("res_{}", "cd".repeat(12))).expect("id"),
            cart_id: None,
            stock_committed: true,
            version: 1,
            fulfillment_type: Default::default(),
            table: None,
            estimated_ready_at: None,
            fulfillments: Vec::new(),
        }
    }

    #[test]
    fn records_delivered_again_never_double_a_count() {
        let sales = Sales::default();
        let pending = order(1, OrderStatus::Pending, None, &[(1, 2), (2, 1)]);
        let confirmed = order(1, OrderStatus::Confirmed, Some(NOW), &[(1, 2), (2, 1)]);
        let mut cancelled = confirmed.clone();
        cancelled.status = OrderStatus::Cancelled;
        // The log once, then (after a crash before the cursor was saved) again from the start.
        for record in [&pending, &confirmed, &pending, &confirmed, &confirmed] {
            sales.apply_at(record, NOW);
        }
        assert_eq!(sales.units_sold_in_window(&product(1), NOW), 2);
        assert_eq!(sales.bought_with(&product(1)), vec![(product(2), 1)]);
        sales.apply_at(&cancelled, NOW);
        sales.apply_at(&cancelled, NOW);
        assert_eq!(sales.units_sold_in_window(&product(1), NOW), 0);
        assert!(sales.bought_with(&product(2)).is_empty());
    }

    #[test]
    fn only_the_last_thirty_days_count_and_an_old_cancellation_takes_nothing_away() {
        let sales = Sales::default();
        let old = order(
            1,
            OrderStatus::Delivered,
            Some(NOW - 31 * DAY_MS),
            &[(1, 5)],
        );
        let recent = order(
            2,
            OrderStatus::Confirmed,
            Some(NOW - 28 * DAY_MS),
            &[(1, 3)],
        );
        sales.apply_at(&old, NOW);
        sales.apply_at(&recent, NOW);
        assert_eq!(sales.units_sold_in_window(&product(1), NOW), 3);
        let mut cancelled_old = order(
            1,
            OrderStatus::Cancelled,
            Some(NOW - 31 * DAY_MS),
            &[(1, 5)],
        );
        cancelled_old.status = OrderStatus::Cancelled;
        sales.apply_at(&cancelled_old, NOW);
        assert_eq!(sales.units_sold_in_window(&product(1), NOW), 3);
        // A day later the recent order is on the window's first day: still in; then out.
        assert_eq!(sales.units_sold_in_window(&product(1), NOW + DAY_MS), 3);
        assert_eq!(sales.units_sold_in_window(&product(1), NOW + 2 * DAY_MS), 0);
    }
}
