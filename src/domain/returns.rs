//! Returns of delivered units (docs/API.md §13): what may be returned, the return's steps,
//! and what a receipt restocks and refunds.
//!
//! Receiving is a saga (see the order actor): the return is first committed `receiving`
//! with the decided amounts and its refund id, then the units are restocked (idempotent per
//! product and return), then the money is refunded (idempotent by the refund id), then the
//! return is committed `refunded`. A crash anywhere resumes from `receiving` without doing a
//! step twice.

use super::{
    DomainError,
    fulfillment::{Fulfillment, ShipmentStatus},
    ids::{OrderId, ProductId, RefundId, ReturnId, StoreId, UserId},
    money::Money,
    order::{Order, OrderLine, OrderStatus},
    time::Millis,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a return is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    /// Asked for; staff decide.
    Requested,
    /// Accepted; the units are on their way back.
    Approved,
    /// Refused (terminal).
    Rejected,
    /// The units arrived; restock and refund are under way (a moment, or until a restart
    /// resumes them).
    Receiving,
    /// Restocked and refunded (terminal).
    Refunded,
}

impl ReturnStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Receiving => "receiving",
            Self::Refunded => "refunded",
        }
    }

    /// The statuses reachable from this one.
    pub fn allowed(self) -> &'static [ReturnStatus] {
        match self {
            Self::Requested => &[Self::Approved, Self::Rejected],
            Self::Approved => &[Self::Receiving],
            Self::Receiving => &[Self::Refunded],
            Self::Rejected | Self::Refunded => &[],
        }
    }
}

/// Why the customer sends units back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    /// Arrived broken.
    Damaged,
    /// Not what was ordered.
    WrongItem,
    /// Not as the listing said.
    NotAsDescribed,
    /// The customer no longer wants it.
    ChangedMind,
    /// Anything else (see the note).
    Other,
}

/// Units of one product asked back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnItem {
    /// The product.
    pub product_id: ProductId,
    /// Units.
    pub quantity: i64,
    /// Why.
    pub reason: ReturnReason,
}

/// Units of one product that came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedItem {
    /// The product.
    pub product_id: ProductId,
    /// Units that arrived (all are refunded).
    pub received: i64,
    /// Of those, units too damaged to sell again (not restocked).
    pub damaged: i64,
}

/// A return record (`ret_…`), stored apart from its order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    /// `ret_…`
    pub id: ReturnId,
    /// The order.
    pub order_id: OrderId,
    /// The order's store.
    pub store_id: StoreId,
    /// The order's customer.
    pub customer_id: Option<UserId>,
    /// Where it is.
    pub status: ReturnStatus,
    /// What is asked back.
    pub items: Vec<ReturnItem>,
    /// The customer's words.
    pub note: Option<String>,
    /// What arrived (set on receive).
    pub received: Vec<ReceivedItem>,
    /// Where undamaged units go back (`loc_…`; the default location when absent).
    pub location_id: Option<String>,
    /// The refund of the received units, decided on receive (its id keys the provider call).
    pub refund_id: Option<RefundId>,
    /// Its amount.
    pub refund_amount: Option<Money>,
    /// Who asked.
    pub requested_by: String,
    /// Creation.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

impl Return {
    /// Moves to `to` if the return's steps allow it.
    pub fn transition(&mut self, to: ReturnStatus, at: Millis) -> Result<(), DomainError> {
        let allowed = self.status.allowed();
        if !allowed.contains(&to) {
            return Err(DomainError::ReturnTransition {
                from: self.status.as_str(),
                to: to.as_str(),
                allowed: allowed.iter().map(|s| s.as_str()).collect(),
            });
        }
        self.status = to;
        self.updated_at = at;
        Ok(())
    }

    /// Units per product to put back on hand: received minus damaged.
    pub fn restock(&self) -> Vec<(ProductId, i64)> {
        self.received
            .iter()
            .map(|r| (r.product_id.clone(), r.received - r.damaged))
            .filter(|(_, units)| *units > 0)
            .collect()
    }
}

/// Units per product handed over: those in delivered fulfilments, or every unit of an order
/// staff marked `delivered` without fulfilments.
pub fn delivered(order: &Order) -> BTreeMap<ProductId, i64> {
    let mut units: BTreeMap<ProductId, i64> = BTreeMap::new();
    if order.fulfillments.is_empty() {
        if order.status == OrderStatus::Delivered {
            for line in &order.items {
                *units.entry(line.product_id.clone()).or_default() += line.quantity;
            }
        }
        return units;
    }
    for item in order
        .fulfillments
        .iter()
        .filter(|f| f.status() == ShipmentStatus::Delivered)
        .flat_map(|f: &Fulfillment| &f.items)
    {
        *units.entry(item.product_id.clone()).or_default() += item.quantity;
    }
    units
}

/// Units per product that may still be asked back: delivered minus those in returns that
/// were not rejected.
pub fn returnable(order: &Order, returns: &[Return]) -> BTreeMap<ProductId, i64> {
    let mut units = delivered(order);
    for item in returns
        .iter()
        .filter(|r| r.status != ReturnStatus::Rejected)
        .flat_map(|r| &r.items)
    {
        if let Some(left) = units.get_mut(&item.product_id) {
            *left -= item.quantity;
        }
    }
    units
}

/// Checks a new return's items against the order and its earlier returns.
pub fn check_return(
    order: &Order,
    returns: &[Return],
    items: &[ReturnItem],
) -> Result<(), DomainError> {
    if items.is_empty() {
        return Err(DomainError::Invalid {
            field: "items".into(),
            message: "must name at least one product".into(),
        });
    }
    let left = returnable(order, returns);
    let mut asked: BTreeMap<&ProductId, i64> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if !order.items.iter().any(|l| l.product_id == item.product_id) {
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
    for (product, quantity) in asked {
        let returnable = left.get(product).copied().unwrap_or(0).max(0);
        if quantity > returnable {
            return Err(DomainError::OverReturned {
                product_id: product.clone(),
                requested: quantity,
                returnable,
            });
        }
    }
    Ok(())
}

/// Checks a receipt against the return (each product of it once, `0 ≤ damaged ≤ received ≤`
/// the units asked back) and prices it: every received unit at its line's unit price.
pub fn price_receipt(
    lines: &[OrderLine],
    ret: &Return,
    received: &[ReceivedItem],
) -> Result<Money, DomainError> {
    let currency = lines
        .first()
        .map(|l| l.unit_price.currency.clone())
        .unwrap_or_default();
    let mut amount = 0i64;
    let mut seen = std::collections::BTreeSet::new();
    for (i, item) in received.iter().enumerate() {
        let invalid = |field: &str, message: &str| DomainError::Invalid {
            field: format!("items[{i}].{field}"),
            message: message.into(),
        };
        let asked: i64 = ret
            .items
            .iter()
            .filter(|r| r.product_id == item.product_id)
            .map(|r| r.quantity)
            .sum();
        if asked == 0 {
            return Err(invalid("product_id", "is not in this return"));
        }
        if !seen.insert(&item.product_id) {
            return Err(invalid("product_id", "each product may appear once"));
        }
        if item.received < 0 || item.received > asked {
            return Err(invalid(
                "received",
                &format!("must be between 0 and {asked}"),
            ));
        }
        if item.damaged < 0 || item.damaged > item.received {
            return Err(invalid("damaged", "must be between 0 and received"));
        }
        let price = lines
            .iter()
            .find(|l| l.product_id == item.product_id)
            .map_or(0, |l| l.unit_price.amount);
        amount = amount.saturating_add(price.saturating_mul(item.received));
    }
    Ok(Money { amount, currency })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fulfillment::{FulfilledItem, ShipmentEvent};
    use crate::domain::ids::FulfillmentId;
    use proptest::prelude::*;

    fn an_order(product: &ProductId, quantity: i64) -> Order {
        let mut order = crate::domain::order::tests_support::a_pending_order();
        order.status = OrderStatus::Delivered;
        order.items = vec![OrderLine {
            product_id: product.clone(),
            sku: "S".into(),
            name: "N".into(),
            quantity,
            unit_price: Money {
                amount: 1000,
                currency: "USD".into(),
            },
            allocations: Vec::new(),
        }];
        order.fulfillments = vec![Fulfillment {
            id: FulfillmentId::generate(),
            items: vec![FulfilledItem {
                product_id: product.clone(),
                quantity,
            }],
            carrier: None,
            tracking_number: None,
            tracking_url: None,
            events: vec![ShipmentEvent {
                status: ShipmentStatus::Delivered,
                at: 0,
                note: None,
            }],
            created_at: 0,
        }];
        order
    }

    fn a_return(order: &Order, product: &ProductId, quantity: i64) -> Return {
        Return {
            id: ReturnId::generate(),
            order_id: order.id.clone(),
            store_id: order.store_id.clone(),
            customer_id: None,
            status: ReturnStatus::Requested,
            items: vec![ReturnItem {
                product_id: product.clone(),
                quantity,
                reason: ReturnReason::Damaged,
            }],
            note: None,
            received: Vec::new(),
            location_id: None,
            refund_id: None,
            refund_amount: None,
            requested_by: "usr".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_receipt_refunds_every_received_unit_and_restocks_the_undamaged_ones() {
        let product = ProductId::generate();
        let order = an_order(&product, 3);
        let mut ret = a_return(&order, &product, 2);
        let receipt = vec![ReceivedItem {
            product_id: product.clone(),
            received: 2,
            damaged: 1,
        }];
        assert_eq!(
            price_receipt(&order.items, &ret, &receipt).map(|m| m.amount),
            Ok(2000)
        );
        ret.received = receipt;
        assert_eq!(ret.restock(), vec![(product, 1)]);
    }

    #[test]
    fn returns_follow_their_steps() {
        let product = ProductId::generate();
        let order = an_order(&product, 1);
        let mut ret = a_return(&order, &product, 1);
        assert!(ret.transition(ReturnStatus::Refunded, 1).is_err());
        assert!(ret.transition(ReturnStatus::Approved, 1).is_ok());
        assert!(ret.transition(ReturnStatus::Rejected, 2).is_err());
        assert!(ret.transition(ReturnStatus::Receiving, 2).is_ok());
        assert!(ret.transition(ReturnStatus::Refunded, 3).is_ok());
        assert!(ret.status.allowed().is_empty());
    }

    proptest! {
        /// However many returns are asked for, the accepted ones (rejected ones aside) never
        /// add up to more units than were delivered.
        #[test]
        fn accepted_returns_never_exceed_what_was_delivered(
            delivered_units in 1i64..8,
            asks in proptest::collection::vec((1i64..5, any::<bool>()), 0..12),
        ) {
            let product = ProductId::generate();
            let order = an_order(&product, delivered_units);
            let mut returns: Vec<Return> = Vec::new();
            for (quantity, reject) in asks {
                let ret = a_return(&order, &product, quantity);
                if check_return(&order, &returns, &ret.items).is_ok() {
                    let mut ret = ret;
                    if reject {
                        ret.status = ReturnStatus::Rejected;
                    }
                    returns.push(ret);
                }
            }
            let kept: i64 = returns
                .iter()
                .filter(|r| r.status != ReturnStatus::Rejected)
                .flat_map(|r| &r.items)
                .map(|i| i.quantity)
                .sum();
            prop_assert!(kept <= delivered_units);
        }
    }
}
