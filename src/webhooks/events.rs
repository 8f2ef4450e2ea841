//! Webhook events derived from durable log records.
//!
//! The derivation is a pure function of the record (plus the product → store map for the
//! few product events whose data does not name the store, which never changes), so every
//! worker derives the same events in the same order from the same record, and an event's
//! position — record LSN, index among the record's events — is its id on every attempt and
//! after a crash.

use crate::{
    domain::{
        fulfillment::Fulfillment,
        ids::{ProductId, StoreId},
        order::{Order, PaymentStatus},
        returns::ReturnStatus,
        time::{Millis, rfc3339},
        webhook::EventPosition,
    },
    persistence::consumer::LogEvent,
    read_model::ReadModel,
    views,
};
use serde_json::{Value, json};

/// One event as it is POSTed.
#[derive(Clone, Debug)]
pub struct WebhookEvent {
    /// Where it comes from (its id).
    pub position: EventPosition,
    /// `order.created`, `stock.changed`, …
    pub kind: String,
    /// When it happened.
    pub created_at: Millis,
    /// The store it belongs to; `None` for store-less events (`user.registered` of a
    /// customer).
    pub store_id: Option<StoreId>,
    /// The event's data, as on the WebSocket.
    pub data: Value,
}

impl WebhookEvent {
    /// The request body: `{"id","type","created_at","store_id","data"}`.
    pub fn body(&self) -> String {
        json!({
            "id": self.position.event_id(),
            "type": self.kind,
            "created_at": rfc3339(self.created_at),
            "store_id": self.store_id,
            "data": self.data,
        })
        .to_string()
    }
}

/// Collects the events of one record in a fixed order.
struct Events {
    lsn: u64,
    out: Vec<WebhookEvent>,
}

impl Events {
    fn push(&mut self, kind: &str, created_at: Millis, store_id: Option<StoreId>, data: Value) {
        let index = u16::try_from(self.out.len()).unwrap_or(u16::MAX);
        self.out.push(WebhookEvent {
            position: EventPosition {
                lsn: self.lsn,
                index,
            },
            kind: kind.to_owned(),
            created_at,
            store_id,
            data,
        });
    }
}

/// The events of `record`, in this order: new orders (`order.created`), the published
/// topic events (stock, product, order status, cart), payment changes, fulfilment changes,
/// return changes, store status changes, new reviews, new users.
pub fn derive(record: &LogEvent, read_model: &ReadModel) -> Vec<WebhookEvent> {
    let mut events = Events {
        lsn: record.lsn,
        out: Vec::new(),
    };
    let orders: Vec<Order> = record.orders().collect();
    for order in &orders {
        if order.version == 0 && order.history.len() <= 1 {
            events.push(
                "order.created",
                order.created_at,
                Some(order.store_id.clone()),
                views::order(order),
            );
        }
    }
    let mut status_changes: Vec<(String, String)> = Vec::new();
    for (entity, stored) in record.events() {
        let Ok(data) = serde_json::from_str::<Value>(&stored.data) else {
            continue;
        };
        if stored.name == "order.status_changed" {
            let from = data["from"].as_str().unwrap_or_default().to_owned();
            status_changes.push((entity.clone(), from));
        }
        let store = store_of(&entity, &data, read_model);
        events.push(&stored.name, stored.at, store, data);
    }
    for order in &orders {
        let change = status_changes
            .iter()
            .find(|(id, _)| id == order.id.as_str());
        let kind = match (order.payment.status, change) {
            (PaymentStatus::Captured, Some((_, from))) if from == "pending" => "payment.captured",
            (PaymentStatus::Failed, Some((_, from))) if from == "pending" => "payment.failed",
            (PaymentStatus::Refunded, _) => "payment.refunded",
            _ => continue,
        };
        events.push(
            kind,
            order.updated_at,
            Some(order.store_id.clone()),
            views::order(order),
        );
    }
    for order in &orders {
        for (kind, fulfillment) in fulfillment_changes(order) {
            events.push(
                kind,
                order.updated_at,
                Some(order.store_id.clone()),
                views::fulfillment(order, fulfillment),
            );
        }
    }
    for record in record.returns() {
        let kind = match record.status {
            ReturnStatus::Requested => "return.requested",
            // The saga's inner step: the API shows `refunded` a moment later.
            ReturnStatus::Receiving => continue,
            ReturnStatus::Approved | ReturnStatus::Rejected | ReturnStatus::Refunded => {
                "return.updated"
            }
        };
        events.push(
            kind,
            record.updated_at,
            Some(record.store_id.clone()),
            views::return_record(&record),
        );
    }
    for (store, at) in record.store_status_changes() {
        let id = store.id.clone();
        events.push("store.status_changed", at, Some(id), views::store(&store));
    }
    for review in record.reviews() {
        if review.created_at != review.updated_at {
            continue;
        }
        let store = read_model
            .products
            .get(&review.product_id)
            .map(|p| p.catalog.store_id.clone());
        events.push(
            "review.created",
            review.created_at,
            store,
            views::review(&review),
        );
    }
    for user in record.registered_users() {
        events.push(
            "user.registered",
            user.created_at,
            user.store_id.clone(),
            user.view(),
        );
    }
    events.out
}

/// The fulfilments an order record created (`fulfillment.created`: its only event is the
/// first, made with this change) or moved on (`fulfillment.updated`: its latest event is
/// this change). Both are stamped with the order's `updated_at` in the same write, which is
/// how a record tells them from the fulfilments it merely carries.
fn fulfillment_changes(order: &Order) -> impl Iterator<Item = (&'static str, &Fulfillment)> {
    order.fulfillments.iter().filter_map(|f| {
        let latest = f.events.last()?;
        if latest.at != order.updated_at {
            return None;
        }
        let kind = if f.events.len() == 1 && f.created_at == order.updated_at {
            "fulfillment.created"
        } else {
            "fulfillment.updated"
        };
        Some((kind, f))
    })
}

/// The store of a topic event: named in its data (stock, product, cart and order events),
/// else the store of the product it is about (`stock.low`).
fn store_of(entity: &str, data: &Value, read_model: &ReadModel) -> Option<StoreId> {
    let named = data["store_id"]
        .as_str()
        .or_else(|| data["order"]["store_id"].as_str())
        .and_then(StoreId::parse);
    named.or_else(|| {
        let product = ProductId::parse(entity)?;
        read_model
            .products
            .get(&product)
            .map(|p| p.catalog.store_id.clone())
    })
}
