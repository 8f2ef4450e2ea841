//! Orders: the lifecycle state machine and the order record.

use super::{
    DomainError,
    fulfillment::{Fulfillment, FulfillmentType, Refund},
    ids::{CartId, OrderId, ProductId, ReservationId, StoreId, UserId},
    location::Allocation,
    money::Money,
    time::Millis,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where an order is in its life (docs/API.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Durable, payment running.
    Pending,
    /// Paid; stock sold.
    Confirmed,
    /// Being picked/packed or cooked.
    Preparing,
    /// Ready for pickup or dispatch.
    Ready,
    /// Shipped or out for delivery.
    InTransit,
    /// Handed over (terminal).
    Delivered,
    /// Cancelled, refunded, stock returned (terminal).
    Cancelled,
    /// The charge was declined or the provider stayed down (terminal).
    PaymentFailed,
}

/// Who asks for a transition; decides which edges are open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The checkout saga.
    System,
    /// Staff of the order's store or an admin.
    Staff,
    /// The order's customer.
    Customer,
}

impl OrderStatus {
    /// Every status, for parsing.
    pub const ALL: [OrderStatus; 8] = [
        Self::Pending,
        Self::Confirmed,
        Self::Preparing,
        Self::Ready,
        Self::InTransit,
        Self::Delivered,
        Self::Cancelled,
        Self::PaymentFailed,
    ];

    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Preparing => "preparing",
            Self::Ready => "ready",
            Self::InTransit => "in_transit",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::PaymentFailed => "payment_failed",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// No transition leaves a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Cancelled | Self::PaymentFailed
        )
    }

    /// The statuses `actor` may move an order to from `self`.
    pub fn allowed(self, actor: Actor) -> Vec<OrderStatus> {
        use OrderStatus::*;
        let edges: &[OrderStatus] = match (self, actor) {
            (Pending, Actor::System) => &[Confirmed, PaymentFailed, Cancelled],
            // Every item is in a fulfilment (docs/API.md §13).
            (Confirmed | Preparing | Ready, Actor::System) => &[InTransit],
            // Every fulfilment was delivered.
            (InTransit, Actor::System) => &[Delivered],
            (Pending, Actor::Staff | Actor::Customer) => &[Cancelled],
            (Confirmed, Actor::Staff) => &[Preparing, Cancelled],
            (Confirmed, Actor::Customer) => &[Cancelled],
            (Preparing, Actor::Staff) => &[Ready, Cancelled],
            (Ready, Actor::Staff) => &[InTransit, Delivered],
            (InTransit, Actor::Staff) => &[Delivered],
            _ => &[],
        };
        edges.to_vec()
    }
}

/// How long after a staff transition it may be undone ([`Order::undo`]).
pub const UNDO_WINDOW_MS: Millis = 10_000;
/// The reason of the history entry an undo adds.
pub const UNDO_REASON: &str = "undo";

impl Actor {
    /// Whether this actor has the edge `from → to`.
    pub fn can(self, from: OrderStatus, to: OrderStatus) -> bool {
        from.allowed(self).contains(&to)
    }
}

/// One line of an order, priced when the order was placed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The product.
    pub product_id: ProductId,
    /// Its SKU then.
    pub sku: String,
    /// Its name then.
    pub name: String,
    /// Units.
    pub quantity: i64,
    /// Unit price then.
    pub unit_price: Money,
    /// The locations its units were sold from (empty until stock has locations).
    pub allocations: Vec<Allocation>,
}

impl OrderLine {
    /// `quantity × unit_price`.
    pub fn total(&self) -> Money {
        Money {
            amount: self.unit_price.amount.saturating_mul(self.quantity),
            currency: self.unit_price.currency.clone(),
        }
    }
}

/// The payment's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Not settled yet.
    Pending,
    /// Money taken.
    Captured,
    /// Declined or provider down.
    Failed,
    /// Money given back.
    Refunded,
}

impl PaymentStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Captured => "captured",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
        }
    }
}

/// The order's payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Settled or not.
    pub status: PaymentStatus,
    /// Always `card` for now.
    pub method: String,
    /// The card token (never shown back).
    pub token: String,
    /// The provider's transaction.
    pub transaction_id: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Why it failed.
    pub decline_code: Option<String>,
    /// Money given back, oldest first.
    pub refunds: Vec<Refund>,
}

/// One status change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The status entered.
    pub status: OrderStatus,
    /// When.
    pub at: Millis,
    /// A user id, `admin` or `system`.
    pub by: String,
    /// Why, when the caller said (a cancellation's `reason`).
    pub reason: Option<String>,
}

/// An order record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// `ord_…`
    pub id: OrderId,
    /// Human-readable number (`EM-000123`).
    pub number: u64,
    /// The store.
    pub store_id: StoreId,
    /// The customer (admins may order without one).
    pub customer_id: Option<UserId>,
    /// Lifecycle status.
    pub status: OrderStatus,
    /// What was bought.
    pub items: Vec<OrderLine>,
    /// Payment state.
    pub payment: Payment,
    /// Free-form address fields.
    pub shipping_address: Option<BTreeMap<String, String>>,
    /// Customer note.
    pub note: Option<String>,
    /// Every status entered.
    pub history: Vec<HistoryEntry>,
    /// Creation.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// The hold the order sells from.
    pub reservation_id: ReservationId,
    /// The cart it came from (deleted once confirmed).
    pub cart_id: Option<CartId>,
    /// Whether the hold was committed (so a cancellation returns units to `on_hand`).
    pub stock_committed: bool,
    /// Topic sequence of `order:{id}`: +1 per published event.
    pub version: u64,
    /// Delivery, pickup or dine-in.
    pub fulfillment_type: FulfillmentType,
    /// The table of a dine-in order.
    pub table: Option<String>,
    /// When the kitchen expects it ready (set with `prep_minutes`).
    pub estimated_ready_at: Option<Millis>,
    /// Shipments of its items, oldest first.
    pub fulfillments: Vec<Fulfillment>,
}

impl Order {
    /// The store currency's total.
    pub fn total(&self) -> Money {
        let currency = self
            .items
            .first()
            .map(|l| l.unit_price.currency.clone())
            .unwrap_or_default();
        Money {
            amount: self
                .items
                .iter()
                .fold(0i64, |sum, line| sum.saturating_add(line.total().amount)),
            currency,
        }
    }

    /// `EM-000123`.
    pub fn number_text(&self) -> String {
        format!("EM-{:06}", self.number)
    }

    /// Moves to `to` if `actor` may; returns the allowed targets otherwise.
    pub fn transition(
        &mut self,
        to: OrderStatus,
        actor: Actor,
        by: &str,
        at: Millis,
    ) -> Result<OrderStatus, Vec<OrderStatus>> {
        self.transition_because(to, actor, by, None, at)
    }

    /// Takes back the last staff transition (a mis-click on the dashboard): allowed within
    /// [`UNDO_WINDOW_MS`] of it, when it moved the order forward to `preparing`, `ready` or
    /// `in_transit` (a cancellation refunded money and a delivery is final, so neither is
    /// undone; nor is a system move). The order goes back to the status before it, with a
    /// history entry of that status and the reason `undo`; a ready time set with the step is
    /// cleared. Returns the status left.
    pub fn undo(&mut self, by: &str, at: Millis) -> Result<OrderStatus, DomainError> {
        let refused = |order: &Order, to: OrderStatus| DomainError::InvalidTransition {
            from: order.status,
            to,
            allowed: Vec::new(),
        };
        let n = self.history.len();
        let (Some(last), Some(before)) = (
            self.history.last(),
            n.checked_sub(2).and_then(|i| self.history.get(i)),
        ) else {
            return Err(refused(self, self.status));
        };
        let to = before.status;
        let undoable = matches!(
            last.status,
            OrderStatus::Preparing | OrderStatus::Ready | OrderStatus::InTransit
        ) && last.status == self.status
            && last.by != "system"
            && last.reason.as_deref() != Some(UNDO_REASON)
            && at - last.at <= UNDO_WINDOW_MS
            && at >= last.at
            && Actor::Staff.can(to, last.status);
        if !undoable {
            return Err(refused(self, to));
        }
        let from = self.status;
        if from == OrderStatus::Preparing {
            self.estimated_ready_at = None;
        }
        self.status = to;
        self.updated_at = at;
        self.history.push(HistoryEntry {
            status: to,
            at,
            by: by.to_owned(),
            reason: Some(UNDO_REASON.into()),
        });
        Ok(from)
    }

    /// [`Order::transition`] with the caller's reason kept in the history entry.
    pub fn transition_because(
        &mut self,
        to: OrderStatus,
        actor: Actor,
        by: &str,
        reason: Option<String>,
        at: Millis,
    ) -> Result<OrderStatus, Vec<OrderStatus>> {
        let allowed = self.status.allowed(actor);
        if !allowed.contains(&to) {
            return Err(allowed);
        }
        let from = self.status;
        self.status = to;
        self.updated_at = at;
        self.history.push(HistoryEntry {
            status: to,
            at,
            by: by.to_owned(),
            reason,
        });
        Ok(from)
    }
}

/// Fixtures for the domain's unit tests.
#[cfg(test)]
pub mod tests_support {
    use super::*;

    /// A fresh pending order without lines.
    pub fn a_pending_order() -> Order {
        use crate::domain::ids::{OrderId, ReservationId, StoreId};
        Order {
            id: OrderId::generate(),
            number: 1,
            store_id: StoreId::generate(),
            customer_id: None,
            status: OrderStatus::Pending,
            items: Vec::new(),
            payment: Payment {
                status: PaymentStatus::Pending,
                method: "card".into(),
                token: "tok_visa".into(),
                transaction_id: None,
                attempts: 0,
                decline_code: None,
                refunds: Vec::new(),
            },
            shipping_address: None,
            note: None,
            history: vec![HistoryEntry {
                status: OrderStatus::Pending,
                at: 0,
                by: "usr".into(),
                reason: None,
            }],
            created_at: 0,
            updated_at: 0,
            reservation_id: ReservationId::generate(),
            cart_id: None,
            stock_committed: false,
            version: 0,
            fulfillment_type: Default::default(),
            table: None,
            estimated_ready_at: None,
            fulfillments: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::a_pending_order;
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn terminal_statuses_have_no_way_out() {
        for status in OrderStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for actor in [Actor::System, Actor::Staff, Actor::Customer] {
                assert!(status.allowed(actor).is_empty(), "{status:?}");
            }
        }
    }

    #[test]
    fn customers_cancel_only_before_preparation_and_staff_until_ready() {
        assert!(
            OrderStatus::Confirmed
                .allowed(Actor::Customer)
                .contains(&OrderStatus::Cancelled)
        );
        assert!(
            !OrderStatus::Preparing
                .allowed(Actor::Customer)
                .contains(&OrderStatus::Cancelled)
        );
        assert!(
            OrderStatus::Preparing
                .allowed(Actor::Staff)
                .contains(&OrderStatus::Cancelled)
        );
        assert!(
            !OrderStatus::Ready
                .allowed(Actor::Staff)
                .contains(&OrderStatus::Cancelled)
        );
        assert!(
            OrderStatus::Ready
                .allowed(Actor::Staff)
                .contains(&OrderStatus::Delivered)
        );
    }

    #[test]
    fn a_staff_step_can_be_undone_within_ten_seconds_once_and_never_a_system_one() {
        let mut order = a_pending_order();
        assert!(
            order
                .transition(OrderStatus::Confirmed, Actor::System, "system", 1)
                .is_ok()
        );
        assert!(order.undo("staff", 2).is_err());
        assert!(
            order
                .transition(OrderStatus::Preparing, Actor::Staff, "staff", 100)
                .is_ok()
        );
        order.estimated_ready_at = Some(1_000_000);
        assert!(
            order
                .clone()
                .undo("staff", 100 + UNDO_WINDOW_MS + 1)
                .is_err()
        );
        assert_eq!(order.undo("staff", 5_000), Ok(OrderStatus::Preparing));
        assert_eq!(order.status, OrderStatus::Confirmed);
        assert_eq!(order.estimated_ready_at, None);
        assert_eq!(
            order.history.last().and_then(|h| h.reason.as_deref()),
            Some(UNDO_REASON)
        );
        // An undo is not undone.
        assert!(order.undo("staff", 5_001).is_err());
    }

    /// The lifecycle of docs/API.md §8 as a plain edge list: (from, who, to).
    const EDGES: &[(OrderStatus, Actor, OrderStatus)] = {
        use Actor::*;
        use OrderStatus::*;
        &[
            (Pending, System, Confirmed),
            (Pending, System, PaymentFailed),
            (Pending, System, Cancelled),
            (Pending, Staff, Cancelled),
            (Pending, Customer, Cancelled),
            (Confirmed, Staff, Preparing),
            (Confirmed, Staff, Cancelled),
            (Confirmed, Customer, Cancelled),
            (Preparing, Staff, Ready),
            (Preparing, Staff, Cancelled),
            (Ready, Staff, InTransit),
            (Ready, Staff, Delivered),
            (InTransit, Staff, Delivered),
            (Confirmed, System, InTransit),
            (Preparing, System, InTransit),
            (Ready, System, InTransit),
            (InTransit, System, Delivered),
        ]
    };

    fn actor() -> impl Strategy<Value = Actor> {
        prop_oneof![
            Just(Actor::System),
            Just(Actor::Staff),
            Just(Actor::Customer)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any sequence of transition requests moves an order exactly along the edges of the
        /// lifecycle: a request succeeds exactly when its edge exists for that actor, a
        /// refusal lists exactly the edges open to that actor and changes nothing, every move
        /// is appended to the history, and nothing leaves a terminal status.
        #[test]
        fn any_sequence_of_transitions_follows_the_lifecycle(
            start in proptest::sample::select(OrderStatus::ALL.to_vec()),
            requests in proptest::collection::vec(
                (proptest::sample::select(OrderStatus::ALL.to_vec()), actor()),
                0..40,
            ),
        ) {
            // Any status to start from, so terminal ones are reached as often as the others.
            let mut order = a_pending_order();
            order.status = start;
            order.history[0].status = start;
            for (n, (to, who)) in requests.into_iter().enumerate() {
                let from = order.status;
                let open: BTreeSet<String> = EDGES
                    .iter()
                    .filter(|(f, a, _)| *f == from && *a == who)
                    .map(|(_, _, t)| t.as_str().to_owned())
                    .collect();
                let before = order.clone();
                let at = n as Millis + 1;
                match order.transition(to, who, "someone", at) {
                    Ok(left) => {
                        prop_assert!(open.contains(to.as_str()), "{:?} moved {:?} → {:?}", who, from, to);
                        prop_assert!(!from.is_terminal());
                        prop_assert_eq!(left, from);
                        prop_assert_eq!(order.status, to);
                        prop_assert_eq!(order.updated_at, at);
                        prop_assert_eq!(order.history.len(), before.history.len() + 1);
                        prop_assert_eq!(
                            order.history.last(),
                            Some(&HistoryEntry { status: to, at, by: "someone".into(), reason: None })
                        );
                    }
                    Err(allowed) => {
                        prop_assert!(!open.contains(to.as_str()), "{:?} refused {:?} → {:?}", who, from, to);
                        let allowed: BTreeSet<String> =
                            allowed.iter().map(|s| s.as_str().to_owned()).collect();
                        prop_assert_eq!(allowed, open);
                        prop_assert_eq!(&order, &before);
                    }
                }
            }
            // The history is a walk along the lifecycle.
            for pair in order.history.windows(2) {
                let (f, t) = (pair[0].status, pair[1].status);
                prop_assert!(EDGES.iter().any(|(ef, _, et)| *ef == f && *et == t), "{:?} → {:?}", f, t);
            }
        }
    }
}
