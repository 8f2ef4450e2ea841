//! JSON shapes of domain objects as clients see them (docs/API.md §4–§6), shared by the REST
//! answers, WebSocket snapshots and event payloads so that each shape is written once.

use crate::{
    domain::{
        ids::LocationId,
        location::{Allocation, Location},
        product::Catalog,
        reservation::Reservation,
        review::{Rating, Review},
        stock::{Level, StockCause, StockLevels},
        store::Store,
        time::{Millis, rfc3339},
    },
    persistence::Movement,
};
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Arc};

/// What the read model keeps per product: catalog fields (shared) and durable stock numbers.
#[derive(Clone, Debug)]
pub struct ProductView {
    /// Descriptive fields.
    pub catalog: Arc<Catalog>,
    /// Stock as of the last durable change.
    pub stock: StockLevels,
    /// Stock per location as of the same change (sums to `stock`).
    pub locations: Arc<BTreeMap<LocationId, Level>>,
    /// In a product actor's answer to a hold, resize, extend or commit: where that
    /// reservation's units are held (or were sold from). Empty in the read model.
    pub allocations: Vec<Allocation>,
    /// Number of inventory movements (the movement log's length).
    pub movements: u64,
    /// The review aggregate as of the last durable change: what product JSON shows as
    /// `rating`, and what search filters (`min_rating`) and sorts (`-rating`) read, through
    /// [`Rating::average_hundredths`] to stay exact.
    pub rating: Rating,
}

/// A store.
pub fn store(s: &Store) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "kind": s.kind,
        "currency": s.currency,
        "open": s.open,
        "allocation": s.allocation,
        "created_at": rfc3339(s.created_at),
    })
}

/// A product with its stock.
pub fn product(p: &ProductView) -> Value {
    let c = &p.catalog;
    json!({
        "id": c.id,
        "store_id": c.store_id,
        "sku": c.sku,
        "name": c.name,
        "description": c.description,
        "category": c.category,
        "brand": c.brand,
        "price": c.price,
        "attributes": c.attributes,
        "image_urls": c.image_urls,
        "status": c.status.as_str(),
        "low_stock_threshold": c.low_stock_threshold,
        "stock": {
            "on_hand": p.stock.on_hand,
            "reserved": p.stock.reserved,
            "available": p.stock.available,
            "version": p.stock.version,
        },
        "rating": rating(&p.rating),
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

/// A product's `rating`: `{"average": 4.33 | null, "count": 12}`.
pub fn rating(r: &Rating) -> Value {
    json!({"average": r.average(), "count": r.count})
}

/// A review.
pub fn review(r: &Review) -> Value {
    json!({
        "id": r.id,
        "product_id": r.product_id,
        "customer_id": r.customer_id,
        "author_name": r.author_name,
        "rating": r.rating,
        "title": r.title,
        "body": r.body,
        "verified_purchase": true,
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    })
}

/// `GET /products/{id}/inventory` and the `product:{id}` snapshot.
pub fn inventory(p: &ProductView) -> Value {
    json!({
        "product_id": p.catalog.id,
        "on_hand": p.stock.on_hand,
        "reserved": p.stock.reserved,
        "available": p.stock.available,
        "version": p.stock.version,
        "low_stock_threshold": p.catalog.low_stock_threshold,
        "locations": p.locations.iter().map(|(id, level)| json!({
            "location_id": id,
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "available": level.available(),
        })).collect::<Vec<_>>(),
    })
}

/// A stock location.
pub fn location(l: &Location) -> Value {
    json!({
        "id": l.id,
        "store_id": l.store_id,
        "name": l.name,
        "kind": l.kind,
        "priority": l.priority,
        "default": l.default,
        "active": l.active,
        "created_at": rfc3339(l.created_at),
    })
}

/// `stock.changed` data; `version` is the event's own sequence number.
pub fn stock_changed(c: &Catalog, levels: &StockLevels, version: u64, cause: StockCause) -> Value {
    json!({
        "product_id": c.id,
        "store_id": c.store_id,
        "on_hand": levels.on_hand,
        "reserved": levels.reserved,
        "available": levels.available,
        "version": version,
        "cause": cause.as_str(),
    })
}

/// `stock.low` data.
pub fn stock_low(c: &Catalog, levels: &StockLevels) -> Value {
    json!({
        "product_id": c.id,
        "available": levels.available,
        "threshold": c.low_stock_threshold,
    })
}

/// A reservation as of `now`.
pub fn reservation(r: &Reservation, now: Millis) -> Value {
    json!({
        "id": r.id,
        "status": r.public_status(now),
        "items": r.items.iter().map(|i| json!({"product_id": i.product_id, "quantity": i.quantity, "allocations": i.allocations})).collect::<Vec<_>>(),
        "expires_at": rfc3339(r.expires_at),
        "created_at": rfc3339(r.created_at),
        "ref": r.client_ref,
    })
}

/// An inventory movement.
pub fn movement(m: &Movement) -> Value {
    json!({
        "id": m.id,
        "at": rfc3339(m.at),
        "kind": m.kind.as_str(),
        "delta": m.delta,
        "on_hand_after": m.on_hand_after,
        "reason": m.reason,
        "note": m.note,
        "ref": m.reference,
        "by": m.by,
        "location_id": m.location_id,
    })
}

/// A page of a list: `{"items","page","per_page","total"}`.
pub fn page(items: Vec<Value>, page: usize, per_page: usize, total: usize) -> Value {
    json!({"items": items, "page": page, "per_page": per_page, "total": total})
}

/// Page `page` (1-based) of `all`, each item shown by `view`: the page of a list that is
/// already filtered and sorted in memory.
pub fn page_of<T>(all: &[T], page: usize, per_page: usize, view: impl Fn(&T) -> Value) -> Value {
    let items = all
        .iter()
        .skip(page.saturating_sub(1).saturating_mul(per_page))
        .take(per_page)
        .map(view)
        .collect();
    self::page(items, page, per_page, all.len())
}

/// Money of `amount` in `currency`.
fn money(amount: i64, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency})
}

/// An order.
pub fn order(o: &crate::domain::order::Order) -> Value {
    let total = o.total();
    json!({
        "id": o.id,
        "number": o.number_text(),
        "store_id": o.store_id,
        "customer_id": o.customer_id,
        "status": o.status.as_str(),
        "items": o.items.iter().map(|l| json!({
            "product_id": l.product_id,
            "sku": l.sku,
            "name": l.name,
            "quantity": l.quantity,
            "unit_price": l.unit_price,
            "line_total": l.total(),
            "allocations": l.allocations,
        })).collect::<Vec<_>>(),
        "subtotal": total,
        "total": total,
        "payment": {
            "status": o.payment.status.as_str(),
            "method": o.payment.method,
            "transaction_id": o.payment.transaction_id,
            "attempts": o.payment.attempts,
            "decline_code": o.payment.decline_code,
            "refunded": crate::domain::fulfillment::refunded(&o.payment, &total),
            "refunds": o.payment.refunds.iter().map(refund).collect::<Vec<_>>(),
        },
        "fulfillment_type": o.fulfillment_type.as_str(),
        "table": o.table,
        "estimated_ready_at": o.estimated_ready_at.map(rfc3339),
        "fulfillments": o.fulfillments.iter().map(|f| fulfillment(o, f)).collect::<Vec<_>>(),
        "fulfillment_status": crate::domain::fulfillment::fulfillment_status(&o.items, &o.fulfillments).as_str(),
        "shipping_address": o.shipping_address,
        "note": o.note,
        "history": o.history.iter().map(|h| json!({
            "status": h.status.as_str(), "at": rfc3339(h.at), "by": h.by, "reason": h.reason,
        })).collect::<Vec<_>>(),
        "created_at": rfc3339(o.created_at),
        "updated_at": rfc3339(o.updated_at),
    })
}

/// A refund of an order's payment (`status` `pending` until the provider answered).
pub fn refund(r: &crate::domain::fulfillment::Refund) -> Value {
    json!({
        "id": r.id,
        "amount": r.amount,
        "reason": r.reason,
        "status": if r.transaction_id.is_some() { "succeeded" } else { "pending" },
        "transaction_id": r.transaction_id,
        "by": r.by,
        "at": rfc3339(r.at),
    })
}

/// A fulfilment (shipment) of `order`.
pub fn fulfillment(
    order: &crate::domain::order::Order,
    f: &crate::domain::fulfillment::Fulfillment,
) -> Value {
    json!({
        "id": f.id,
        "order_id": order.id,
        "items": f.items.iter().map(|i| json!({"product_id": i.product_id, "quantity": i.quantity})).collect::<Vec<_>>(),
        "status": f.status().as_str(),
        "carrier": f.carrier,
        "tracking_number": f.tracking_number,
        "tracking_url": f.tracking_url,
        "events": f.events.iter().map(|e| json!({
            "status": e.status.as_str(), "at": rfc3339(e.at), "note": e.note,
        })).collect::<Vec<_>>(),
        "created_at": rfc3339(f.created_at),
    })
}

/// A return.
pub fn return_record(r: &crate::domain::returns::Return) -> Value {
    json!({
        "id": r.id,
        "order_id": r.order_id,
        "store_id": r.store_id,
        "customer_id": r.customer_id,
        "status": r.status.as_str(),
        "items": r.items.iter().map(|i| json!({
            "product_id": i.product_id, "quantity": i.quantity, "reason": i.reason,
        })).collect::<Vec<_>>(),
        "note": r.note,
        "received": r.received.iter().map(|i| json!({
            "product_id": i.product_id, "received": i.received, "damaged": i.damaged,
        })).collect::<Vec<_>>(),
        "location_id": r.location_id,
        "refund_id": r.refund_id,
        "refund_amount": r.refund_amount,
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    })
}

/// A cart as of `now` (a lapsed hold reads as `null` even before the cart processed it).
pub fn cart(c: &crate::domain::cart::Cart, now: Millis) -> Value {
    let hold =
        c.hold.as_ref().filter(|h| h.expires_at > now).map(
            |h| json!({"reservation_id": h.reservation_id, "expires_at": rfc3339(h.expires_at)}),
        );
    json!({
        "id": c.id,
        "store_id": c.store_id,
        "customer_id": c.customer_id,
        "items": c.lines.iter().map(|l| json!({
            "product_id": l.product_id,
            "sku": l.sku,
            "name": l.name,
            "quantity": l.quantity,
            "unit_price": l.unit_price,
            "line_total": money(l.unit_price.amount.saturating_mul(l.quantity), &l.unit_price.currency),
            // Where the active hold keeps them; nothing once it lapsed.
            "allocations": if hold.is_some() { l.allocations.as_slice() } else { &[] },
        })).collect::<Vec<_>>(),
        "subtotal": c.subtotal(),
        "item_count": c.item_count(),
        "hold": hold,
        "expires_at": rfc3339(c.expires_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

/// A ledger entry of the payment provider.
pub fn ledger_entry(e: &crate::persistence::LedgerEntry) -> Value {
    json!({
        "transaction_id": e.transaction_id,
        "order_id": e.order_id,
        "kind": e.kind,
        "amount": e.amount,
        "at": rfc3339(e.at),
    })
}
