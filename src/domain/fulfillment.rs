//! What happens to an order after payment (docs/API.md §13): how it is handed over
//! (delivery, pickup, dine-in), the shipments that carry its items, and the refunds of its
//! captured money.

use super::{
    ids::{FulfillmentId, ProductId, RefundId},
    money::Money,
    time::Millis,
};
use serde::{Deserialize, Serialize};

/// How an order reaches its customer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentType {
    /// Shipped to an address (the retail default).
    #[default]
    Delivery,
    /// Collected at the counter (the restaurant default).
    Pickup,
    /// Served at a table.
    DineIn,
}

/// Where a shipment is; a fulfilment's status is its latest event's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// Handed to the carrier (every fulfilment starts here).
    Shipped,
    /// On its way.
    InTransit,
    /// With the courier for the last mile.
    OutForDelivery,
    /// Handed over.
    Delivered,
    /// Nobody was there.
    FailedAttempt,
    /// Sent back to the store.
    Returned,
}

/// One step of a shipment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentEvent {
    /// The status entered.
    pub status: ShipmentStatus,
    /// When.
    pub at: Millis,
    /// The carrier's or the staff member's words.
    pub note: Option<String>,
}

/// Units of one product in a shipment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilledItem {
    /// The product.
    pub product_id: ProductId,
    /// Units shipped.
    pub quantity: i64,
}

/// A shipment of some of an order's items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    /// `ful_…`
    pub id: FulfillmentId,
    /// What it carries.
    pub items: Vec<FulfilledItem>,
    /// The carrier's name.
    pub carrier: Option<String>,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// Where the customer can follow it.
    pub tracking_url: Option<String>,
    /// Every step, oldest first; never empty (the first is `shipped`).
    pub events: Vec<ShipmentEvent>,
    /// Creation.
    pub created_at: Millis,
}

/// Money given back from an order's capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// `rfn_…`; also the provider idempotency key's suffix, so a retried refund is one refund.
    pub id: RefundId,
    /// How much (the order's currency).
    pub amount: Money,
    /// Why (`cancellation`, `return`, or the staff member's words).
    pub reason: String,
    /// The provider's refund transaction.
    pub transaction_id: Option<String>,
    /// A user id, `admin` or `system`.
    pub by: String,
    /// When.
    pub at: Millis,
}
