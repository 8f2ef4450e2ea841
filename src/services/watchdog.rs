//! The order watchdog (docs/API.md §13): an order `pending` for longer than
//! `orders.pending_alert_minutes`, or `confirmed` and not started for longer than
//! `orders.start_alert_minutes`, raises `order.stuck` on `store:{id}:orders`, once per order
//! and reason while the server runs (a restart may raise a still-stuck order again, which a
//! dashboard shows as the same badge).

use crate::{
    context::Shared,
    domain::{
        ids::OrderId,
        order::{Order, OrderStatus},
        time::{Millis, now_ms, rfc3339},
    },
    realtime::EventType,
    views,
};
use serde_json::json;
use std::{collections::HashSet, sync::Arc, time::Duration};

/// Why an order is stuck.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stuck {
    /// Payment still running.
    PendingTooLong,
    /// Paid, nobody started it.
    NotStarted,
}

impl Stuck {
    /// The reason as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingTooLong => "pending_too_long",
            Self::NotStarted => "not_started",
        }
    }
}

/// Whether `order` is stuck at `now`, and since when it waits. `pending_ms` and `start_ms`
/// are the configured limits.
pub fn stuck(
    order: &Order,
    now: Millis,
    pending_ms: i64,
    start_ms: i64,
) -> Option<(Stuck, Millis)> {
    let since = order
        .history
        .iter()
        .rev()
        .find(|h| h.status == order.status)
        .map_or(order.updated_at, |h| h.at);
    match order.status {
        OrderStatus::Pending if now - since > pending_ms => Some((Stuck::PendingTooLong, since)),
        OrderStatus::Confirmed if now - since > start_ms => Some((Stuck::NotStarted, since)),
        _ => None,
    }
}

fn minutes_ms(minutes: f64) -> i64 {
    (minutes.max(0.0) * 60_000.0) as i64
}

/// Checks every open order now and then until aborted.
pub async fn run(shared: Arc<Shared>) {
    let pending_ms = minutes_ms(shared.config.orders.pending_alert_minutes);
    let start_ms = minutes_ms(shared.config.orders.start_alert_minutes);
    // A tenth of the shortest limit, between 100 ms and 30 s: alerts are late by at most that.
    let every = Duration::from_millis((pending_ms.min(start_ms) / 10).clamp(100, 30_000) as u64);
    let mut raised: HashSet<(OrderId, Stuck)> = HashSet::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = now_ms();
        let found: Vec<(Arc<Order>, Stuck, Millis)> = shared
            .read_model
            .orders
            .iter()
            .filter_map(|o| {
                stuck(o.value(), now, pending_ms, start_ms)
                    .map(|(why, since)| (Arc::clone(o.value()), why, since))
            })
            .collect();
        for (order, why, since) in found {
            if !raised.insert((order.id.clone(), why)) {
                continue;
            }
            tracing::info!(order = %order.id, reason = why.as_str(), "order stuck");
            shared.hub.publish_volatile(
                &format!("store:{}:orders", order.store_id),
                EventType::OrderStuck,
                &json!({
                    "order_id": order.id,
                    "reason": why.as_str(),
                    "since": rfc3339(since),
                    "order": views::order(&order),
                }),
                now,
                || {},
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests_support::a_pending_order;

    #[test]
    fn an_order_is_stuck_only_past_its_limit_and_in_a_waiting_status() {
        let mut order = a_pending_order();
        assert_eq!(stuck(&order, 10, 10, 5), None);
        assert_eq!(stuck(&order, 11, 10, 5), Some((Stuck::PendingTooLong, 0)));
        order.status = OrderStatus::Preparing;
        assert_eq!(stuck(&order, 1_000, 10, 5), None);
    }
}
