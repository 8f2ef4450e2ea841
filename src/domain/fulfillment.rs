//! What happens to an order after payment (docs/API.md §13): how it is handed over
//! (delivery, pickup, dine-in), the shipments that carry its items, and the refunds of its
//! captured money.

use super::{
    DomainError,
    ids::{FulfillmentId, ProductId, RefundId},
    money::Money,
    order::{OrderLine, Payment, PaymentStatus},
    time::Millis,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

impl Fulfillment {
    /// The latest event's status (a fulfilment always has one; `shipped` if it somehow has
    /// none).
    pub fn status(&self) -> ShipmentStatus {
        self.events
            .last()
            .map_or(ShipmentStatus::Shipped, |e| e.status)
    }
}

impl ShipmentStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shipped => "shipped",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::FailedAttempt => "failed_attempt",
            Self::Returned => "returned",
        }
    }
}

impl FulfillmentType {
    /// The type as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Pickup => "pickup",
            Self::DineIn => "dine_in",
        }
    }
}

/// How much of an order its fulfilments cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FulfillmentStatus {
    /// Nothing shipped yet.
    Unfulfilled,
    /// Some units shipped.
    PartiallyFulfilled,
    /// Every unit shipped.
    Fulfilled,
}

impl FulfillmentStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unfulfilled => "unfulfilled",
            Self::PartiallyFulfilled => "partially_fulfilled",
            Self::Fulfilled => "fulfilled",
        }
    }
}

/// Units per product that no fulfilment carries yet (products fully shipped are left out).
pub fn unfulfilled(lines: &[OrderLine], fulfillments: &[Fulfillment]) -> BTreeMap<ProductId, i64> {
    let mut remaining: BTreeMap<ProductId, i64> = BTreeMap::new();
    for line in lines {
        *remaining.entry(line.product_id.clone()).or_default() += line.quantity;
    }
    for item in fulfillments.iter().flat_map(|f| &f.items) {
        if let Some(left) = remaining.get_mut(&item.product_id) {
            *left -= item.quantity;
        }
    }
    remaining.retain(|_, left| *left > 0);
    remaining
}

/// Whether a new fulfilment of `items` fits: at least one item, each product of the order,
/// each quantity positive, and no more units (summed per product) than remain unfulfilled
/// (else [`DomainError::OverFulfilled`]).
pub fn check_fulfilment(
    lines: &[OrderLine],
    fulfillments: &[Fulfillment],
    items: &[FulfilledItem],
) -> Result<(), DomainError> {
    if items.is_empty() {
        return Err(DomainError::Invalid {
            field: "items".into(),
            message: "must name at least one product".into(),
        });
    }
    let mut asked: BTreeMap<&ProductId, i64> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if !lines.iter().any(|l| l.product_id == item.product_id) {
            return Err(DomainError::Invalid {
                field: format!("items[{i}].product_id"),
                message: "is not a product of this order".into(),
            });
        }
        if item.quantity < 1 {
            return Err(DomainError::Invalid {
                field: format!("items[{i}].quantity"),
                message: "must be at least 1".into(),
            });
        }
        *asked.entry(&item.product_id).or_default() += item.quantity;
    }
    let remaining = unfulfilled(lines, fulfillments);
    for (product, quantity) in asked {
        let left = remaining.get(product).copied().unwrap_or(0);
        if quantity > left {
            return Err(DomainError::OverFulfilled {
                product_id: product.clone(),
                requested: quantity,
                remaining: left,
            });
        }
    }
    Ok(())
}

/// Whether nothing, some or all units are in a fulfilment.
pub fn fulfillment_status(lines: &[OrderLine], fulfillments: &[Fulfillment]) -> FulfillmentStatus {
    if fulfillments.is_empty() {
        FulfillmentStatus::Unfulfilled
    } else if unfulfilled(lines, fulfillments).is_empty() {
        FulfillmentStatus::Fulfilled
    } else {
        FulfillmentStatus::PartiallyFulfilled
    }
}

/// Whether every unit is shipped and every shipment handed over: the order is delivered.
pub fn all_delivered(lines: &[OrderLine], fulfillments: &[Fulfillment]) -> bool {
    fulfillment_status(lines, fulfillments) == FulfillmentStatus::Fulfilled
        && fulfillments
            .iter()
            .all(|f| f.status() == ShipmentStatus::Delivered)
}

/// Money given back so far: everything once the payment is `refunded` (a cancellation), else
/// the sum of the recorded refunds (intents included: their money is promised).
pub fn refunded(payment: &Payment, total: &Money) -> Money {
    let amount = if payment.status == PaymentStatus::Refunded {
        total.amount
    } else {
        payment
            .refunds
            .iter()
            .fold(0i64, |sum, r| sum.saturating_add(r.amount.amount))
    };
    Money {
        amount,
        currency: total.currency.clone(),
    }
}

/// What may still be refunded: captured minus refunded (nothing unless captured).
pub fn refundable(payment: &Payment, total: &Money) -> i64 {
    if payment.status != PaymentStatus::Captured {
        return 0;
    }
    (total.amount - refunded(payment, total).amount).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(product: &ProductId, quantity: i64) -> OrderLine {
        OrderLine {
            product_id: product.clone(),
            sku: "SKU".into(),
            name: "Thing".into(),
            quantity,
            unit_price: Money {
                amount: 250,
                currency: "USD".into(),
            },
            allocations: Vec::new(),
        }
    }

    fn shipment(items: Vec<FulfilledItem>, status: ShipmentStatus) -> Fulfillment {
        Fulfillment {
            id: FulfillmentId::generate(),
            items,
            carrier: None,
            tracking_number: None,
            tracking_url: None,
            events: vec![ShipmentEvent {
                status,
                at: 0,
                note: None,
            }],
            created_at: 0,
        }
    }

    #[test]
    fn a_partial_shipment_leaves_the_rest_unfulfilled_and_the_rest_fulfils_it() {
        let (a, b) = (ProductId::generate(), ProductId::generate());
        let lines = vec![line(&a, 3), line(&b, 1)];
        let mut done = Vec::new();
        assert_eq!(
            fulfillment_status(&lines, &done),
            FulfillmentStatus::Unfulfilled
        );
        let first = vec![FulfilledItem {
            product_id: a.clone(),
            quantity: 2,
        }];
        assert!(check_fulfilment(&lines, &done, &first).is_ok());
        done.push(shipment(first, ShipmentStatus::Delivered));
        assert_eq!(
            fulfillment_status(&lines, &done),
            FulfillmentStatus::PartiallyFulfilled
        );
        let too_many = vec![FulfilledItem {
            product_id: a.clone(),
            quantity: 2,
        }];
        assert!(matches!(
            check_fulfilment(&lines, &done, &too_many),
            Err(DomainError::OverFulfilled { remaining: 1, .. })
        ));
        done.push(shipment(
            vec![
                FulfilledItem {
                    product_id: a,
                    quantity: 1,
                },
                FulfilledItem {
                    product_id: b,
                    quantity: 1,
                },
            ],
            ShipmentStatus::Shipped,
        ));
        assert_eq!(
            fulfillment_status(&lines, &done),
            FulfillmentStatus::Fulfilled
        );
        assert!(!all_delivered(&lines, &done));
    }

    proptest! {
        /// However shipments are requested, accepted ones never carry more units of a product
        /// than were ordered, and the order counts as fulfilled exactly when none remain.
        #[test]
        fn accepted_fulfilments_never_exceed_what_was_ordered(
            ordered in proptest::collection::vec(1i64..6, 1..4),
            requests in proptest::collection::vec((0usize..4, 1i64..5), 0..20),
        ) {
            let products: Vec<ProductId> = ordered.iter().map(|_| ProductId::generate()).collect();
            let lines: Vec<OrderLine> =
                products.iter().zip(&ordered).map(|(p, q)| line(p, *q)).collect();
            let mut done = Vec::new();
            for (index, quantity) in requests {
                let Some(product) = products.get(index) else { continue };
                let items = vec![FulfilledItem { product_id: product.clone(), quantity }];
                if check_fulfilment(&lines, &done, &items).is_ok() {
                    done.push(shipment(items, ShipmentStatus::Shipped));
                }
            }
            for (product, quantity) in products.iter().zip(&ordered) {
                let shipped: i64 = done
                    .iter()
                    .flat_map(|f| &f.items)
                    .filter(|i| &i.product_id == product)
                    .map(|i| i.quantity)
                    .sum();
                prop_assert!(shipped <= *quantity);
            }
            let remaining = unfulfilled(&lines, &done);
            prop_assert_eq!(
                fulfillment_status(&lines, &done) == FulfillmentStatus::Fulfilled,
                remaining.is_empty() && !done.is_empty()
            );
        }
    }
}
