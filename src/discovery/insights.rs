//! A store owner's figures (docs/API.md §14): revenue, refunds, cancellations, checkouts,
//! new customers and top products per store and UTC hour, derived from the orders.
//!
//! Like [`super::sales`], an order's share of the figures is a function of its latest record
//! alone (its [`Share`]): applying a record replaces the order's old share with its new one,
//! so a record delivered again (at least once, after a crash) never counts twice, and the
//! hourly buckets need no store of their own: they are rebuilt at start from the orders in
//! memory, then kept up to date from the log. Day, week and month answers sum the hours.
//!
//! Accounting is by event time, as a ledger is: an order's total counts as revenue in the
//! hour it was confirmed; a later cancellation counts one `cancelled` in its own hour and
//! its refund there, so a past period's revenue never changes after the fact and
//! `net_revenue = revenue − refunds` per period.

use crate::domain::{
    ids::{OrderId, ProductId, StoreId, UserId},
    order::{Order, OrderStatus, PaymentStatus},
    time::Millis,
};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Mutex,
};

/// Milliseconds per hour.
pub const HOUR_MS: i64 = 3_600_000;

/// The hour bucket of an instant (whole hours since the epoch, UTC).
pub fn hour_of(at: Millis) -> i64 {
    at.div_euclid(HOUR_MS)
}

/// One store's figures for one hour (signed: a share is added and subtracted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Orders confirmed.
    pub orders: i64,
    /// Their totals, minor units.
    pub revenue: i64,
    /// Money refunded, minor units.
    pub refunds: i64,
    /// Orders cancelled.
    pub cancelled: i64,
    /// Orders placed (checkouts).
    pub checkouts: i64,
    /// Units and revenue per product of the orders confirmed.
    pub products: HashMap<ProductId, (i64, i64)>,
}

impl Bucket {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Bucket) {
        self.orders += other.orders;
        self.revenue += other.revenue;
        self.refunds += other.refunds;
        self.cancelled += other.cancelled;
        self.checkouts += other.checkouts;
        for (product, (units, revenue)) in &other.products {
            let entry = self.products.entry(product.clone()).or_default();
            entry.0 += units;
            entry.1 += revenue;
        }
    }
}

/// What one order counts for, hour by hour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Share {
    store: Option<StoreId>,
    /// Figures per hour.
    hours: BTreeMap<i64, Bucket>,
    /// When it was confirmed, for its customer's first order.
    confirmed: Option<(UserId, Millis)>,
}

impl Share {
    fn of(order: &Order) -> Self {
        let mut share = Share {
            store: Some(order.store_id.clone()),
            ..Share::default()
        };
        share
            .hours
            .entry(hour_of(order.created_at))
            .or_default()
            .checkouts += 1;
        let at = |status: OrderStatus| {
            order
                .history
                .iter()
                .find(|h| h.status == status)
                .map(|h| h.at)
        };
        if let Some(confirmed_at) = at(OrderStatus::Confirmed) {
            let bucket = share.hours.entry(hour_of(confirmed_at)).or_default();
            bucket.orders += 1;
            bucket.revenue += order.total().amount;
            for line in &order.items {
                let entry = bucket.products.entry(line.product_id.clone()).or_default();
                entry.0 += line.quantity;
                entry.1 += line.total().amount;
            }
            share.confirmed = order.customer_id.clone().map(|c| (c, confirmed_at));
        }
        let cancelled_at =
            at(OrderStatus::Cancelled).filter(|_| order.status == OrderStatus::Cancelled);
        if let Some(cancelled_at) = cancelled_at {
            share
                .hours
                .entry(hour_of(cancelled_at))
                .or_default()
                .cancelled += 1;
        }
        // Partial refunds (staff, returns) count once the provider made them.
        let mut refunded = 0;
        for refund in order
            .payment
            .refunds
            .iter()
            .filter(|r| r.transaction_id.is_some())
        {
            share.hours.entry(hour_of(refund.at)).or_default().refunds += refund.amount.amount;
            refunded += refund.amount.amount;
        }
        // A refunded payment gave everything back: what the partial refunds did not is the
        // cancellation's refund, at the cancellation.
        if order.payment.status == PaymentStatus::Refunded {
            let rest = order.total().amount - refunded;
            if rest > 0 {
                let at = cancelled_at.unwrap_or(order.updated_at);
                share.hours.entry(hour_of(at)).or_default().refunds += rest;
            }
        }
        share
    }
}

#[derive(Default)]
struct State {
    shares: HashMap<OrderId, Share>,
    /// Per store, hour → figures.
    stores: HashMap<StoreId, BTreeMap<i64, Bucket>>,
    /// Per store and customer, the confirmation times of their orders (the first one makes
    /// them a new customer in its period).
    customers: HashMap<StoreId, HashMap<UserId, BTreeSet<(Millis, OrderId)>>>,
}

/// The figures of every store (see the module docs).
#[derive(Default)]
pub struct Insights {
    state: Mutex<State>,
}

impl Insights {
    /// Replaces `order`'s share of the figures with what its record says now.
    pub fn apply(&self, order: &Order) {
        let share = Share::of(order);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let old = state.shares.remove(&order.id).unwrap_or_default();
        if let Some(store) = &old.store {
            let hours = state.stores.entry(store.clone()).or_default();
            for (hour, bucket) in &old.hours {
                let entry = hours.entry(*hour).or_default();
                entry.add(&negated(bucket));
                entry
                    .products
                    .retain(|_, (units, revenue)| *units != 0 || *revenue != 0);
            }
            if let Some((customer, at)) = &old.confirmed
                && let Some(times) = state
                    .customers
                    .get_mut(store)
                    .and_then(|c| c.get_mut(customer))
            {
                times.remove(&(*at, order.id.clone()));
            }
        }
        let store = order.store_id.clone();
        let hours = state.stores.entry(store.clone()).or_default();
        for (hour, bucket) in &share.hours {
            hours.entry(*hour).or_default().add(bucket);
        }
        if let Some((customer, at)) = &share.confirmed {
            state
                .customers
                .entry(store)
                .or_default()
                .entry(customer.clone())
                .or_default()
                .insert((*at, order.id.clone()));
        }
        state.shares.insert(order.id.clone(), share);
    }

    /// `store`'s figures for the hours `from ≤ hour < to`.
    pub fn figures(&self, store: &StoreId, from_hour: i64, to_hour: i64) -> Bucket {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut sum = Bucket::default();
        if let Some(hours) = state.stores.get(store) {
            for (_, bucket) in hours.range(from_hour..to_hour.max(from_hour)) {
                sum.add(bucket);
            }
        }
        sum
    }

    /// When each customer of `store` had their first confirmed order there, oldest first.
    pub fn first_orders(&self, store: &StoreId) -> Vec<Millis> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut firsts: Vec<Millis> = state
            .customers
            .get(store)
            .into_iter()
            .flat_map(|customers| customers.values())
            .filter_map(|times| times.first().map(|(at, _)| *at))
            .collect();
        firsts.sort_unstable();
        firsts
    }
}

fn negated(bucket: &Bucket) -> Bucket {
    Bucket {
        orders: -bucket.orders,
        revenue: -bucket.revenue,
        refunds: -bucket.refunds,
        cancelled: -bucket.cancelled,
        checkouts: -bucket.checkouts,
        products: bucket
            .products
            .iter()
            .map(|(p, (u, r))| (p.clone(), (-u, -r)))
            .collect(),
    }
}
