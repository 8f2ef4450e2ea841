//! Webhook endpoints and their deliveries (docs/API.md §10): the records, and the rules that
//! need no I/O (which events an endpoint takes, the delivery id of an event).

use super::{
    ids::{StoreId, WebhookId},
    time::Millis,
};
use serde::{Deserialize, Serialize};

/// Every event type an endpoint may subscribe to (`"*"` takes them all).
pub const EVENT_TYPES: &[&str] = &[
    "stock.changed",
    "stock.low",
    "product.updated",
    "store.status_changed",
    "order.created",
    "order.status_changed",
    "cart.updated",
    "cart.hold_expired",
    "payment.captured",
    "payment.failed",
    "payment.refunded",
    "fulfillment.created",
    "fulfillment.updated",
    "return.requested",
    "return.updated",
    "review.created",
    "user.registered",
];

/// A registered endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `whk_…`
    pub id: WebhookId,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// Event types it takes, or `["*"]`.
    pub events: Vec<String>,
    /// Only this store's events, when set.
    pub store_id: Option<StoreId>,
    /// Free text.
    pub description: Option<String>,
    /// Whether it receives events (its worker runs).
    pub enabled: bool,
    /// Why it was disabled automatically (`None` when an operator disabled it).
    pub disabled_reason: Option<String>,
    /// `whsec_…`, the HMAC key of the signatures.
    pub secret: String,
    /// Creation.
    pub created_at: Millis,
    /// Last change of the record.
    pub updated_at: Millis,
    /// The last successful delivery.
    pub last_success_at: Option<Millis>,
    /// The first failed attempt since the last success: auto-disable counts from here.
    pub failing_since: Option<Millis>,
}

impl Endpoint {
    /// Whether the endpoint takes an event of `kind` belonging to `store` (`None`: a
    /// store-less event such as `user.registered`, which only store-less endpoints take).
    pub fn matches(&self, kind: &str, store: Option<&StoreId>) -> bool {
        let wanted = self.events.iter().any(|e| e == "*" || e == kind);
        let scoped = match &self.store_id {
            None => true,
            Some(own) => store == Some(own),
        };
        wanted && scoped
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// Not attempted yet.
    Pending,
    /// Failed at least once; another attempt is scheduled.
    Retrying,
    /// A 2xx answer arrived.
    Delivered,
    /// Every attempt of the schedule failed (or the endpoint was disabled meanwhile).
    Failed,
}

impl DeliveryStatus {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The status named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Retrying, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Whether the worker is finished with it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed)
    }
}

/// One POST of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started.
    pub at: Millis,
    /// The answer's status, `None` when none came (refused, timed out).
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// What went wrong, `None` for a 2xx.
    pub error: Option<String>,
}

/// The delivery of one event to one endpoint, with every attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `dlv_…`, derived from the event's position (see [`delivery_id`]).
    pub id: String,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// `evt_…`
    pub event_id: String,
    /// The event's type.
    pub kind: String,
    /// The exact body sent (the same bytes on every attempt, so signatures and ids agree).
    pub body: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
    /// When the next automatic attempt is due.
    pub next_attempt_at: Option<Millis>,
}

/// The position of an event in the log: its record and its index among the events derived
/// from that record. Ids of events and deliveries are made from it, so they are the same on
/// every attempt and after a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventPosition {
    /// The log record.
    pub lsn: u64,
    /// The event's index within it.
    pub index: u16,
}

impl EventPosition {
    /// `evt_…`
    pub fn event_id(self) -> String {
        format!("evt_{:016x}{:04x}", self.lsn, self.index)
    }

    /// `dlv_…` (unique within its endpoint, which is part of every delivery path).
    pub fn delivery_id(self) -> String {
        format!("dlv_{:016x}{:04x}", self.lsn, self.index)
    }

    /// The position a `dlv_…` id names.
    pub fn from_delivery_id(id: &str) -> Option<Self> {
        let hex = id.strip_prefix("dlv_")?;
        if hex.len() != 20 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self {
            lsn: u64::from_str_radix(&hex[..16], 16).ok()?,
            index: u16::from_str_radix(&hex[16..], 16).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_id_names_its_position_and_nothing_else_parses() {
        let p = EventPosition { lsn: 77, index: 3 };
        assert_eq!(EventPosition::from_delivery_id(&p.delivery_id()), Some(p));
        assert_eq!(EventPosition::from_delivery_id("dlv_xyz"), None);
        assert_eq!(
            EventPosition::from_delivery_id("evt_00000000000000000000"),
            None
        );
    }
}
