//! The cart actor: lines with price snapshots and a stock hold that renews on every change
//! and lapses `carts.hold_seconds` after the last one (the lines stay; checkout holds again).
//!
//! A cart actor passivates like the others (see the registry) once it has no hold: its hold
//! needs the timer to record `cart.hold_expired` on time. Its other deadline, the cart's own
//! expiry, needs no running actor: housekeeping wakes carts past their lifetime.

use super::{ActorError, commerce::Commerce, product::ProductMsg, registry::Slot};
use crate::domain::{
    DomainError,
    cart::{Cart, CartHold, CartLine},
    ids::{ProductId, ReservationId},
    location::Allocation,
    time::{Millis, now_ms},
};
use crate::realtime::EventType;
use futures_util::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

/// Reply with the cart after a durable change, or the refusal.
pub type CartReply = RpcReplyPort<Result<Result<Arc<Cart>, DomainError>, ActorError>>;

/// Messages a cart actor understands.
pub enum CartMsg {
    /// The cart.
    Get {
        /// Answer.
        reply: RpcReplyPort<Result<Arc<Cart>, ActorError>>,
    },
    /// Sets a line's quantity (0 removes it), holding or giving back the difference.
    SetQuantity {
        /// The product.
        product_id: ProductId,
        /// New quantity.
        quantity: i64,
        /// Answer.
        reply: CartReply,
    },
    /// Hands the hold to a checkout: the cart keeps its lines, the order owns the held units.
    DetachHold {
        /// The cart as it was (with its hold).
        reply: RpcReplyPort<Result<Arc<Cart>, ActorError>>,
    },
    /// Deletes the cart, giving held units back when `release`.
    Delete {
        /// Whether to release the hold (false once an order sold it).
        release: bool,
        /// Answer.
        reply: RpcReplyPort<Result<(), ActorError>>,
    },
    /// The timer: the hold or the cart itself is due.
    Tick,
    /// The idle sweep: passivate if without a hold and idle for `actors.idle_seconds`.
    IdleCheck,
    /// The registry holds more than `actors.max_active_carts`: passivate unless holding.
    Evict,
}

impl super::registry::Passivates for CartMsg {
    fn evict() -> Self {
        Self::Evict
    }
    fn idle_check() -> Self {
        Self::IdleCheck
    }
}

/// Start-up arguments.
pub struct CartArgs {
    /// The cart as stored.
    pub cart: Box<Cart>,
    /// Shared services.
    pub commerce: Arc<Commerce>,
    /// Our registry cell.
    pub slot: Slot<CartMsg>,
}

/// The actor.
pub struct CartActor;

/// A running cart actor's state.
pub struct CartState {
    cart: Cart,
    commerce: Arc<Commerce>,
    slot: Slot<CartMsg>,
    timer: Option<JoinHandle<()>>,
    /// When the last message other than housekeeping arrived.
    last_message: Instant,
    /// Whether a caller's message was handled since activation. Until then the cap does not
    /// passivate the actor: the caller that activated it must be served by it.
    served: bool,
}

impl Actor for CartActor {
    type Msg = CartMsg;
    type State = CartState;
    type Arguments = CartArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<CartMsg>,
        args: CartArgs,
    ) -> Result<CartState, ActorProcessingErr> {
        let mut state = CartState {
            cart: *args.cart,
            commerce: args.commerce,
            slot: args.slot,
            timer: None,
            last_message: Instant::now(),
            served: false,
        };
        state.arm_timer(&myself);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<CartMsg>,
        state: &mut CartState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<CartMsg>,
        message: CartMsg,
        state: &mut CartState,
    ) -> Result<(), ActorProcessingErr> {
        match &message {
            CartMsg::IdleCheck | CartMsg::Evict => {}
            CartMsg::Tick => state.last_message = Instant::now(),
            _ => {
                state.last_message = Instant::now();
                state.served = true;
            }
        }
        match message {
            CartMsg::IdleCheck => {
                let idle = state.commerce.shared.config.actors.idle_every();
                if state.last_message.elapsed() >= idle {
                    state.maybe_passivate(&myself);
                }
                return Ok(());
            }
            CartMsg::Evict => {
                if state.served {
                    state.maybe_passivate(&myself);
                }
                return Ok(());
            }
            CartMsg::Get { reply } => {
                let _ = reply.send(Ok(Arc::new(state.cart.clone())));
            }
            CartMsg::SetQuantity {
                product_id,
                quantity,
                reply,
            } => {
                let result = state.set_quantity(product_id, quantity).await;
                let _ = reply.send(result);
            }
            CartMsg::DetachHold { reply } => {
                let before = state.cart.clone();
                if state.cart.hold.take().is_some() {
                    if let Err(error) = state
                        .commerce
                        .save_cart(&mut state.cart, Some(EventType::CartUpdated), false)
                        .await
                    {
                        state.cart = before;
                        let _ = reply.send(Err(error));
                        return Ok(());
                    }
                }
                let _ = reply.send(Ok(Arc::new(before)));
            }
            CartMsg::Delete { release, reply } => {
                let result = state.delete(release).await;
                let ok = result.is_ok();
                let _ = reply.send(result);
                if ok {
                    state.stop(&myself);
                }
                return Ok(());
            }
            CartMsg::Tick => {
                let now = now_ms();
                if state.cart.expires_at <= now {
                    tracing::info!(cart = %state.cart.id, "deleting an untouched cart");
                    if state.delete(true).await.is_ok() {
                        state.stop(&myself);
                        return Ok(());
                    }
                } else if state
                    .cart
                    .hold
                    .as_ref()
                    .is_some_and(|h| h.expires_at <= now)
                {
                    // The products release their holds at the same instant by themselves.
                    state.cart.hold = None;
                    if let Err(error) = state
                        .commerce
                        .save_cart(&mut state.cart, Some(EventType::CartHoldExpired), false)
                        .await
                    {
                        tracing::warn!(cart = %state.cart.id, %error, "could not record a lapsed cart hold");
                    }
                }
            }
        }
        state.arm_timer(&myself);
        Ok(())
    }
}

impl CartState {
    /// Stops the actor unless it has a hold (whose expiry its timer must record). The
    /// registry entry goes first, so no new message is routed here; one already in the
    /// mailbox fails to send and its caller goes back to the registry.
    fn maybe_passivate(&mut self, myself: &ActorRef<CartMsg>) {
        if self.cart.hold.is_some() {
            return;
        }
        tracing::debug!(cart = %self.cart.id, "passivating cart actor");
        self.stop(myself);
    }

    fn stop(&mut self, myself: &ActorRef<CartMsg>) {
        self.commerce.carts.forget(&self.cart.id, &self.slot);
        myself.stop(None);
    }

    /// Arms one timer for the earlier of the hold's expiry and the cart's own.
    fn arm_timer(&mut self, myself: &ActorRef<CartMsg>) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        let hold = self.cart.hold.as_ref().map(|h| h.expires_at);
        let deadline = hold.map_or(self.cart.expires_at, |h| h.min(self.cart.expires_at));
        let wait = Duration::from_millis(u64::try_from(deadline - now_ms()).unwrap_or(0));
        let myself = myself.clone();
        self.timer = Some(tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = myself.send_message(CartMsg::Tick);
        }));
    }

    fn active_hold(&self, now: Millis) -> Option<&CartHold> {
        self.cart.hold.as_ref().filter(|h| h.expires_at > now)
    }

    async fn set_quantity(
        &mut self,
        product_id: ProductId,
        quantity: i64,
    ) -> Result<Result<Arc<Cart>, DomainError>, ActorError> {
        let shared = &self.commerce.shared;
        let Some(product) = shared.read_model.product(&product_id) else {
            return Ok(Err(DomainError::NotFound));
        };
        let store_id = product.catalog.store_id.clone();
        if self.cart.store_id.as_ref().is_some_and(|s| s != &store_id)
            && (self.cart.store_bound || !self.cart.lines.is_empty())
        {
            return Ok(Err(DomainError::StoreMismatch));
        }
        let current = self
            .cart
            .lines
            .iter()
            .find(|l| l.product_id == product_id)
            .map_or(0, |l| l.quantity);
        if quantity > current {
            let open = shared
                .read_model
                .stores
                .get(&store_id)
                .is_some_and(|s| s.open);
            if !open {
                return Ok(Err(DomainError::StoreClosed));
            }
        }
        let now = now_ms();
        let hold_seconds = i64::try_from(shared.config.carts.hold_seconds).unwrap_or(600);
        let expires_at = now + hold_seconds * 1000;

        let mut lines = self.cart.lines.clone();
        match lines.iter_mut().find(|l| l.product_id == product_id) {
            Some(line) => line.quantity = quantity,
            None if quantity > 0 => lines.push(CartLine {
                product_id: product_id.clone(),
                sku: product.catalog.sku.clone(),
                name: product.catalog.name.clone(),
                quantity,
                unit_price: product.catalog.price.clone(),
                allocations: Vec::new(),
            }),
            None => {}
        }
        lines.retain(|l| l.quantity > 0);

        let hold = match self.active_hold(now).cloned() {
            Some(hold) => {
                // Hold exactly the new quantity of this product, then renew the others.
                let resized = self
                    .commerce
                    .products
                    .call(&product_id, |reply| ProductMsg::Resize {
                        reservation: hold.reservation_id.clone(),
                        quantity,
                        expires_at,
                        reply,
                    })
                    .await;
                let resized = match resized {
                    Ok(view) => view,
                    Err(error) => return refusal(error),
                };
                if let Some(line) = lines.iter_mut().find(|l| l.product_id == product_id) {
                    line.allocations = resized.allocations;
                }
                let others = lines.iter().filter(|l| l.product_id != product_id);
                let renewed = join_all(others.map(|line| {
                    self.commerce
                        .products
                        .call(&line.product_id, |reply| ProductMsg::Extend {
                            reservation: hold.reservation_id.clone(),
                            expires_at,
                            reply,
                        })
                }))
                .await;
                for error in renewed.into_iter().filter_map(Result::err) {
                    tracing::warn!(cart = %self.cart.id, %error, "renewing a cart hold failed");
                }
                Some(hold.reservation_id)
            }
            // No hold: a growing cart takes one for every line; a shrinking one stays unheld
            // (removing a line must never fail for lack of stock).
            None if quantity > current => {
                let reservation = ReservationId::generate();
                match self.hold_all(&reservation, &lines, expires_at).await {
                    Ok(allocations) => {
                        for (line, allocations) in lines.iter_mut().zip(allocations) {
                            line.allocations = allocations;
                        }
                    }
                    Err(error) => return refusal(error),
                }
                Some(reservation)
            }
            None => None,
        };
        self.cart.hold = hold
            .filter(|_| !lines.is_empty())
            .map(|reservation_id| CartHold {
                reservation_id,
                expires_at,
            });
        if !self.cart.store_bound {
            self.cart.store_id = (!lines.is_empty()).then_some(store_id);
        }
        self.cart.lines = lines;
        self.cart.updated_at = now;
        self.cart.expires_at = now + cart_ttl_ms(&self.commerce);
        self.commerce
            .save_cart(&mut self.cart, Some(EventType::CartUpdated), false)
            .await?;
        Ok(Ok(Arc::new(self.cart.clone())))
    }

    /// Holds every line under `reservation`, all or nothing; answers each line's
    /// allocations.
    async fn hold_all(
        &self,
        reservation: &ReservationId,
        lines: &[CartLine],
        expires_at: Millis,
    ) -> Result<Vec<Vec<Allocation>>, ActorError> {
        let outcomes = join_all(lines.iter().map(|line| {
            self.commerce
                .products
                .call(&line.product_id, |reply| ProductMsg::Resize {
                    reservation: reservation.clone(),
                    quantity: line.quantity,
                    expires_at,
                    reply,
                })
        }))
        .await;
        if outcomes.iter().all(Result::is_ok) {
            return Ok(outcomes
                .into_iter()
                .filter_map(Result::ok)
                .map(|view| view.allocations)
                .collect());
        }
        let held: Vec<&CartLine> = lines
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.is_ok())
            .map(|(l, _)| l)
            .collect();
        self.release(reservation, held.into_iter()).await;
        let mut shortages = Vec::new();
        let mut other = None;
        for error in outcomes.into_iter().filter_map(Result::err) {
            match error {
                ActorError::Refused(DomainError::InsufficientStock(mut s)) => {
                    shortages.append(&mut s)
                }
                e => other = Some(e),
            }
        }
        Err(
            other.unwrap_or(ActorError::Refused(DomainError::InsufficientStock(
                shortages,
            ))),
        )
    }

    async fn release<'a>(
        &self,
        reservation: &ReservationId,
        lines: impl Iterator<Item = &'a CartLine>,
    ) {
        self.commerce
            .products
            .release_all(reservation, lines.map(|line| &line.product_id))
            .await;
    }

    async fn delete(&mut self, release: bool) -> Result<(), ActorError> {
        if release && let Some(hold) = self.active_hold(now_ms()).cloned() {
            self.release(&hold.reservation_id, self.cart.lines.iter())
                .await;
        }
        self.commerce.save_cart(&mut self.cart, None, true).await
    }
}

/// `carts.ttl_days` in milliseconds.
pub fn cart_ttl_ms(commerce: &Commerce) -> i64 {
    i64::try_from(commerce.shared.config.carts.ttl_days)
        .unwrap_or(7)
        .saturating_mul(24 * 60 * 60 * 1000)
}

/// A product refusal becomes the cart's answer; storage trouble stays an actor error.
fn refusal(error: ActorError) -> Result<Result<Arc<Cart>, DomainError>, ActorError> {
    match error {
        ActorError::Unavailable(_) => Err(error),
        ActorError::Refused(refusal) => Ok(Err(refusal)),
        ActorError::NotFound => Ok(Err(DomainError::NotFound)),
    }
}
