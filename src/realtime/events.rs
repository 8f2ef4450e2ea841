//! The event types of the live channel (docs/API.md §9). The hub publishes only these, so the
//! list here is every event a WebSocket or SSE client can receive; the AsyncAPI document
//! (`http::asyncapi`) is generated from it, and its exhaustive matches make a new event type
//! undocumented only if it is added without its description.

use std::fmt;

/// One kind of live event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A product's stock levels changed.
    StockChanged,
    /// A product's available stock fell below its threshold.
    StockLow,
    /// A product's catalog fields changed (or it was archived).
    ProductUpdated,
    /// A store opened or closed.
    StoreStatusChanged,
    /// An order became durable as `pending`.
    OrderCreated,
    /// An order moved from one status to another.
    OrderStatusChanged,
    /// An order waits too long (the watchdog).
    OrderStuck,
    /// A cart's lines or holds changed.
    CartUpdated,
    /// A hold of a cart expired.
    CartHoldExpired,
    /// A store's live counters changed (at most once a second).
    MetricsUpdated,
}

/// The JSON shape of an event's `data`, by the name of a schema of the OpenAPI document's
/// components (the REST types), so both documents describe one set of types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A component schema used as it is (`Product`, `Order`, …).
    Schema(&'static str),
}

impl EventType {
    /// Every event type, in the order of docs/API.md §9.
    pub const ALL: [Self; 10] = [
        Self::StockChanged,
        Self::StockLow,
        Self::ProductUpdated,
        Self::StoreStatusChanged,
        Self::OrderCreated,
        Self::OrderStatusChanged,
        Self::OrderStuck,
        Self::CartUpdated,
        Self::CartHoldExpired,
        Self::MetricsUpdated,
    ];

    /// The name on the wire (`event` of a frame, `event:` of an SSE message).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StockChanged => "stock.changed",
            Self::StockLow => "stock.low",
            Self::ProductUpdated => "product.updated",
            Self::StoreStatusChanged => "store.status_changed",
            Self::OrderCreated => "order.created",
            Self::OrderStatusChanged => "order.status_changed",
            Self::OrderStuck => "order.stuck",
            Self::CartUpdated => "cart.updated",
            Self::CartHoldExpired => "cart.hold_expired",
            Self::MetricsUpdated => "metrics.updated",
        }
    }

    /// The type a wire name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// The topics it is published on, as patterns.
    pub const fn topics(self) -> &'static [&'static str] {
        match self {
            Self::StockChanged | Self::ProductUpdated => &["product:{id}", "store:{id}"],
            Self::StockLow => &["product:{id}"],
            Self::StoreStatusChanged => &["store:{id}"],
            Self::OrderCreated | Self::OrderStuck => &["store:{id}:orders"],
            Self::OrderStatusChanged => &["order:{id}", "store:{id}:orders"],
            Self::CartUpdated | Self::CartHoldExpired => &["cart:{id}"],
            Self::MetricsUpdated => &["store:{id}:metrics"],
        }
    }

    /// What happened, for people reading the document.
    pub const fn summary(self) -> &'static str {
        match self {
            Self::StockChanged => {
                "A product's stock levels changed; `cause` says why. Conflated in `latest` mode."
            }
            Self::StockLow => {
                "Sent once when a product's available stock drops below its threshold."
            }
            Self::ProductUpdated => "A product's catalog fields changed, or it was archived.",
            Self::StoreStatusChanged => "A store opened or closed.",
            Self::OrderCreated => {
                "An order is durable as `pending`; every later change is \
                                   an `order.status_changed`."
            }
            Self::OrderStatusChanged => "An order moved from `from` to `to`.",
            Self::OrderStuck => {
                "An order waits too long: `pending` past `orders.pending_alert_minutes`, or \
                 `confirmed` and not started past `orders.start_alert_minutes` (`reason` \
                 `pending_too_long` or `not_started`); once per order and reason."
            }
            Self::CartUpdated => "A cart's lines or holds changed.",
            Self::CartHoldExpired => "A hold of a cart expired and its units went back.",
            Self::MetricsUpdated => {
                "A store's live counters changed: sent at most once a second, only when \
                 something changed (staff of the store, admins)."
            }
        }
    }

    /// The shape of its `data`.
    pub const fn payload(self) -> Payload {
        Payload::Schema(match self {
            Self::StockChanged => "StockChanged",
            Self::StockLow => "StockLow",
            Self::ProductUpdated => "Product",
            Self::StoreStatusChanged => "Store",
            Self::OrderCreated => "Order",
            Self::OrderStatusChanged => "OrderStatusChanged",
            Self::OrderStuck => "OrderStuck",
            Self::CartUpdated | Self::CartHoldExpired => "Cart",
            Self::MetricsUpdated => "StoreMetrics",
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back_from_its_wire_name() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
        }
        assert_eq!(EventType::parse("order.deleted"), None);
    }
}
