//! The live counters of a store (docs/API.md §14): the `store:{id}:metrics` topic answers a
//! snapshot on subscribe, then `metrics.updated` at most once a second while something
//! changes.
//!
//! The figures are read, not pushed: once a second the publisher computes the counters of
//! every store that has a subscriber and publishes those that differ from what it sent last.
//! That bounds the rate by construction (a flash sale of thousands of orders a second still
//! sends one frame a second) and costs nothing for stores nobody watches.

use crate::{
    context::Shared,
    discovery::insights::hour_of,
    domain::{
        ids::StoreId,
        product::ProductStatus,
        time::{Millis, now_ms},
    },
    realtime::EventType,
};
use serde_json::{Value, json};
use std::{collections::HashMap, sync::Arc, time::Duration};

/// Milliseconds per day.
const DAY_MS: i64 = 86_400_000;

/// The metrics topic of `store`.
pub fn topic(store: &StoreId) -> String {
    format!("store:{store}:metrics")
}

/// The counters of `store` now; `viewers` is [`viewers`]'s count, taken by the caller
/// before any hub lock is held (the hub's topics share one map, so reading it while a topic
/// entry is locked could deadlock).
pub fn snapshot(shared: &Shared, store: &StoreId, viewers: usize) -> Option<Value> {
    let currency = shared.read_model.stores.get(store)?.currency.clone();
    let now = now_ms();
    let midnight: Millis = now - now.rem_euclid(DAY_MS);
    let today = shared
        .discovery
        .insights
        .figures(store, hour_of(midnight), hour_of(now) + 1);
    let open_orders = shared
        .read_model
        .orders
        .iter()
        .filter(|o| &o.store_id == store && !o.status.is_terminal())
        .count();
    let low_stock = shared
        .read_model
        .products
        .iter()
        .filter(|p| {
            &p.catalog.store_id == store
                && p.catalog.status == ProductStatus::Active
                && p.stock.available < p.catalog.low_stock_threshold
        })
        .count();
    let active_carts = shared
        .storage
        .active_carts(store, now)
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "counting active carts failed");
            0
        });
    Some(json!({
        "store_id": store,
        "orders_today": today.orders,
        "revenue_today": {"amount": today.revenue, "currency": currency},
        "open_orders": open_orders,
        "active_carts": active_carts,
        "viewers_now": viewers,
        "low_stock": low_stock,
    }))
}

/// Live connections following `store`'s topic (its storefront pages).
pub fn viewers(shared: &Shared, store: &StoreId) -> usize {
    shared.hub.subscriber_count(&format!("store:{store}"))
}

/// Publishes changed counters of watched stores every `every`, for ever.
pub async fn run(shared: Arc<Shared>, every: Duration) {
    let mut sent: HashMap<StoreId, Value> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let stores: Vec<StoreId> = shared
            .read_model
            .stores
            .iter()
            .map(|s| s.key().clone())
            .collect();
        for store in stores {
            let topic = topic(&store);
            if shared.hub.subscriber_count(&topic) == 0 {
                sent.remove(&store);
                continue;
            }
            let Some(now) = snapshot(&shared, &store, viewers(&shared, &store)) else {
                continue;
            };
            if sent.get(&store) == Some(&now) {
                continue;
            }
            shared
                .hub
                .publish_volatile(&topic, EventType::MetricsUpdated, &now, now_ms(), || {});
            sent.insert(store, now);
        }
    }
}
