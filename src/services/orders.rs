//! Placing an order: validate, take the cart's hold over (or hold every item), record the
//! order `pending` durably, start its actor's payment saga, and wait up to
//! `orders.sync_wait_ms` for the outcome.

use crate::{
    actors::{
        ActorError,
        cart::CartMsg,
        commerce::Commerce,
        order::{OrderMsg, is_lapsed},
        product::ProductMsg,
    },
    auth::Caller,
    domain::{
        DomainError,
        cart::Cart,
        error::FieldError,
        fulfillment::FulfillmentType,
        ids::{CartId, ProductId, ReservationId, StoreId},
        order::{HistoryEntry, Order, OrderLine, OrderStatus, Payment, PaymentStatus},
        store::StoreKind,
        time::now_ms,
    },
    services::error::ServiceError,
    services::reservations::{MAX_ITEMS, MAX_QUANTITY, PIN_GRACE_MS},
    views,
};
use dashmap::DashMap;
use futures_util::future::join_all;
use serde_json::Value;
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A placed order as the caller sees it: settled (confirmed or later), or still pending
/// while the payment is retried. The edge turns it into 201 or 202.
#[derive(Debug)]
pub enum Placed {
    /// The payment settled: the order's view.
    Created(Value),
    /// The payment is still being retried: the order's view, `pending`.
    Accepted(Value),
}

/// Holds a cart's checkout lock ([`Commerce::checkouts`]); dropping it (also when the request
/// is abandoned) frees the lock and forgets it once nobody else waits for it.
struct CartCheckout<'a> {
    locks: &'a DashMap<CartId, Arc<Mutex<()>>>,
    cart: CartId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl<'a> CartCheckout<'a> {
    async fn lock(locks: &'a DashMap<CartId, Arc<Mutex<()>>>, cart: &CartId) -> Self {
        let lock = Arc::clone(&locks.entry(cart.clone()).or_default());
        Self {
            locks,
            cart: cart.clone(),
            guard: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for CartCheckout<'_> {
    fn drop(&mut self) {
        self.guard.take();
        self.locks
            .remove_if(&self.cart, |_, lock| Arc::strong_count(lock) == 1);
    }
}

/// Where the order's lines come from.
pub enum Source {
    /// A cart's lines (and its hold, if still active).
    Cart(CartId),
    /// Explicit items of one store.
    Items {
        /// The store.
        store_id: StoreId,
        /// `(product, quantity)` pairs.
        items: Vec<(ProductId, i64)>,
    },
}

/// A checkout request.
pub struct PlaceOrder {
    /// Lines.
    pub source: Source,
    /// Card token.
    pub token: String,
    /// Free-form address.
    pub shipping_address: Option<BTreeMap<String, String>>,
    /// Customer note (≤ 500).
    pub note: Option<String>,
    /// How it is handed over (`None`: the store kind's default).
    pub fulfillment_type: Option<FulfillmentType>,
    /// A dine-in order's table (checked by the edge).
    pub table: Option<String>,
}

/// Whether `caller` may read `cart`: its customer and admins; anyone for an anonymous cart.
pub fn may_read_cart(caller: &Caller, cart: &Cart) -> bool {
    match (&cart.customer_id, caller) {
        (None, _) | (Some(_), Caller::Admin { .. }) => true,
        (Some(owner), Caller::Customer { user_id }) => owner == user_id,
        _ => false,
    }
}

/// Whether `caller` may see `order`: its customer, staff of its store, admins.
pub fn may_see_order(caller: &Caller, order: &Order) -> bool {
    match caller {
        Caller::Customer { user_id } => order.customer_id.as_ref() == Some(user_id),
        other => other.sees_store(&order.store_id),
    }
}

fn validate(request: &PlaceOrder) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    if request.token.is_empty() || request.token.len() > 100 {
        errors.push(FieldError::new("payment.token", "must be 1-100 characters"));
    }
    if request
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > 500)
    {
        errors.push(FieldError::new("note", "must be at most 500 characters"));
    }
    if let Some(address) = &request.shipping_address
        && (address.len() > 20
            || address
                .iter()
                .any(|(k, v)| k.is_empty() || k.len() > 100 || v.chars().count() > 500))
    {
        errors.push(FieldError::new(
            "shipping_address",
            "at most 20 fields, keys 1-100 and values up to 500 characters",
        ));
    }
    if let Source::Items { items, .. } = &request.source {
        if items.is_empty() || items.len() > MAX_ITEMS {
            errors.push(FieldError::new(
                "items",
                format!("must hold 1-{MAX_ITEMS} products"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, (product, quantity)) in items.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(quantity) {
                errors.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}"),
                ));
            }
            if !seen.insert(product) {
                errors.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    "each product may appear once",
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Validation(errors))
    }
}

/// Places an order; answers 201 (confirmed), 202 (pending) or a problem (402, 409, …).
pub async fn place(
    commerce: &Arc<Commerce>,
    caller: &Caller,
    request: PlaceOrder,
) -> Result<Placed, ServiceError> {
    validate(&request)?;
    let _checkout = match &request.source {
        Source::Cart(cart_id) => Some(CartCheckout::lock(&commerce.checkouts, cart_id).await),
        Source::Items { .. } => None,
    };
    let shared = &commerce.shared;
    let (store_id, lines, cart) = match &request.source {
        Source::Cart(cart_id) => {
            let cart = match commerce
                .call_cart(cart_id, |reply| CartMsg::Get { reply })
                .await
            {
                Ok(cart) => cart,
                Err(ActorError::NotFound) => {
                    return checked_out(commerce, caller, cart_id)
                        .map_or(Err(ServiceError::NotFound), |order| answer(&order));
                }
                Err(error) => return Err(error.into()),
            };
            if !may_read_cart(caller, &cart) {
                return Err(ServiceError::NotFound);
            }
            // A second checkout while the first one's payment still runs (it answered 202), or
            // after it was confirmed but before the cart is deleted (a retry racing the
            // recovery that finished it), is the same checkout: answer with that order
            // instead of charging again.
            let in_flight = shared
                .read_model
                .orders
                .iter()
                .find(|o| o.cart_id.as_ref() == Some(cart_id) && live_checkout(o.status))
                .map(|o| Arc::clone(o.value()));
            if let Some(order) = in_flight {
                return answer(&order);
            }
            let Some(store_id) = cart.store_id.clone().filter(|_| !cart.lines.is_empty()) else {
                return Err(ServiceError::field("cart_id", "the cart is empty"));
            };
            let lines = cart
                .lines
                .iter()
                .map(|l| OrderLine {
                    product_id: l.product_id.clone(),
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price.clone(),
                    allocations: Vec::new(),
                })
                .collect::<Vec<_>>();
            (store_id, lines, Some(cart))
        }
        Source::Items { store_id, items } => {
            if !shared.read_model.stores.contains_key(store_id) {
                return Err(ServiceError::NotFound);
            }
            let mut lines = Vec::with_capacity(items.len());
            for (product_id, quantity) in items {
                let product = shared
                    .read_model
                    .product(product_id)
                    .ok_or(ServiceError::NotFound)?;
                if &product.catalog.store_id != store_id {
                    return Err(ServiceError::StoreMismatch);
                }
                lines.push(OrderLine {
                    product_id: product_id.clone(),
                    sku: product.catalog.sku.clone(),
                    name: product.catalog.name.clone(),
                    quantity: *quantity,
                    unit_price: product.catalog.price.clone(),
                    allocations: Vec::new(),
                });
            }
            (store_id.clone(), lines, None)
        }
    };
    let (open, kind) = shared
        .read_model
        .stores
        .get(&store_id)
        .map_or((false, StoreKind::Retail), |s| (s.open, s.kind));
    if !open {
        return Err(ServiceError::StoreClosed);
    }
    let reservation = take_hold(commerce, cart.as_deref(), &lines).await?;

    let now = now_ms();
    let by = caller.name();
    let customer_id = match caller {
        Caller::Customer { user_id } => Some(user_id.clone()),
        _ => cart.as_ref().and_then(|c| c.customer_id.clone()),
    };
    let mut order = Order {
        id: crate::domain::ids::OrderId::generate(),
        number: shared.storage.next_order_number()?,
        store_id,
        customer_id,
        status: OrderStatus::Pending,
        items: lines,
        payment: Payment {
            status: PaymentStatus::Pending,
            method: "card".into(),
            token: request.token,
            transaction_id: None,
            attempts: 0,
            decline_code: None,
            refunds: Vec::new(),
        },
        shipping_address: request.shipping_address,
        note: request.note,
        history: vec![HistoryEntry {
            status: OrderStatus::Pending,
            at: now,
            by,
            reason: None,
        }],
        created_at: now,
        updated_at: now,
        reservation_id: reservation,
        cart_id: cart.as_ref().map(|c| c.id.clone()),
        stock_committed: false,
        version: 0,
        fulfillment_type: request
            .fulfillment_type
            .unwrap_or_else(|| default_fulfillment(kind)),
        table: request.table,
        estimated_ready_at: None,
        fulfillments: Vec::new(),
    };
    commerce.save_order(&mut order, None, true).await?;
    tracing::info!(order = %order.id, number = %order.number_text(), "order placed; charging");

    let wait = Duration::from_millis(shared.config.orders.sync_wait_ms);
    let settled = tokio::time::timeout(
        wait,
        commerce.call_order(&order.id, |reply| OrderMsg::WaitSettled { reply }),
    )
    .await;
    match settled {
        Ok(Ok(order)) => answer(&order),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => {
            let current = shared
                .read_model
                .orders
                .get(&order.id)
                .map(|o| Arc::clone(o.value()))
                .unwrap_or_else(|| Arc::new(order));
            if current.status == OrderStatus::Pending {
                Ok(Placed::Accepted(views::order(&current)))
            } else {
                answer(&current)
            }
        }
    }
}

/// How a store's orders are handed over unless the customer says: restaurants' at the counter,
/// retail ones shipped.
pub fn default_fulfillment(kind: StoreKind) -> FulfillmentType {
    match kind {
        StoreKind::Restaurant => FulfillmentType::Pickup,
        StoreKind::Retail => FulfillmentType::Delivery,
    }
}

/// The order a vanished cart was checked out into, when `caller` may see it.
///
/// A cart is deleted once its order is confirmed, so checking out a cart that is gone but has
/// such an order can only be a retry of that checkout, e.g. a client whose answer a crash cut
/// off between the capture and the confirmation (the idempotency record is written with the
/// answer, so it does not exist then). Answering that order keeps the retry from ending in a
/// 404 and can never charge again.
fn checked_out(commerce: &Commerce, caller: &Caller, cart_id: &CartId) -> Option<Arc<Order>> {
    commerce
        .shared
        .read_model
        .orders
        .iter()
        .find(|o| {
            o.cart_id.as_ref() == Some(cart_id)
                && live_checkout(o.status)
                && may_see_order(caller, o)
        })
        .map(|o| Arc::clone(o.value()))
}

/// Whether an order of a cart still stands for that cart's checkout: a failed payment or a
/// cancellation leaves the cart free to be checked out again.
fn live_checkout(status: OrderStatus) -> bool {
    !matches!(status, OrderStatus::PaymentFailed | OrderStatus::Cancelled)
}

fn answer(order: &Order) -> Result<Placed, ServiceError> {
    match order.status {
        OrderStatus::PaymentFailed => Err(ServiceError::PaymentFailed {
            order_id: order.id.to_string(),
            decline_code: order
                .payment
                .decline_code
                .clone()
                .unwrap_or_else(|| "card_declined".into()),
            order: views::order(order),
        }),
        OrderStatus::Pending => Ok(Placed::Accepted(views::order(order))),
        _ => Ok(Placed::Created(views::order(order))),
    }
}

/// The order's hold: the cart's (pinned so it outlives the payment) when still active,
/// otherwise a fresh all-or-nothing hold of every line.
async fn take_hold(
    commerce: &Arc<Commerce>,
    cart: Option<&Cart>,
    lines: &[OrderLine],
) -> Result<ReservationId, ServiceError> {
    let pinned_until = now_ms() + PIN_GRACE_MS;
    if let Some(cart) = cart
        && cart.hold.as_ref().is_some_and(|h| h.expires_at > now_ms())
    {
        let detached = commerce
            .call_cart(&cart.id, |reply| CartMsg::DetachHold { reply })
            .await?;
        // A line changed between reading the cart and detaching its hold: the hold no longer
        // matches the order's lines, so give it back and hold the order's lines afresh
        // (committing it would sell units nobody pays for).
        if let Some(hold) = detached
            .hold
            .as_ref()
            .filter(|_| detached.lines != cart.lines)
        {
            let products: Vec<_> = detached.lines.iter().map(|l| &l.product_id).collect();
            release(commerce, &hold.reservation_id, products).await;
        } else if let Some(hold) = detached.hold.clone() {
            let outcomes = join_all(lines.iter().map(|line| {
                commerce
                    .products
                    .call(&line.product_id, |reply| ProductMsg::Extend {
                        reservation: hold.reservation_id.clone(),
                        expires_at: pinned_until,
                        reply,
                    })
            }))
            .await;
            if outcomes.iter().all(Result::is_ok) {
                return Ok(hold.reservation_id);
            }
            if let Some(error) = outcomes
                .into_iter()
                .filter_map(Result::err)
                .find(|e| !is_lapsed(e))
            {
                return Err(error.into());
            }
            release(commerce, &hold.reservation_id, products_of(lines)).await;
        }
    }
    let reservation = ReservationId::generate();
    let outcomes = join_all(lines.iter().map(|line| {
        commerce
            .products
            .call(&line.product_id, |reply| ProductMsg::Hold {
                reservation: reservation.clone(),
                quantity: line.quantity,
                expires_at: pinned_until,
                record: None,
                reply,
            })
    }))
    .await;
    if outcomes.iter().all(Result::is_ok) {
        return Ok(reservation);
    }
    release(commerce, &reservation, products_of(lines)).await;
    let mut shortages = Vec::new();
    for error in outcomes.into_iter().filter_map(Result::err) {
        match error {
            ActorError::Refused(DomainError::InsufficientStock(mut s)) => shortages.append(&mut s),
            other => return Err(other.into()),
        }
    }
    Err(ServiceError::InsufficientStock(shortages))
}

fn products_of(lines: &[OrderLine]) -> Vec<&ProductId> {
    lines.iter().map(|l| &l.product_id).collect()
}

async fn release(commerce: &Arc<Commerce>, reservation: &ReservationId, products: Vec<&ProductId>) {
    commerce.products.release_all(reservation, products).await;
}
