//! The order actor: runs the checkout saga (charge with retries, then commit the hold, or
//! release it) and the lifecycle afterwards (staff transitions, cancellation with refund and
//! stock return). Every change is durable before it is answered or published.
//!
//! The charge runs in a task of its own so that a slow card never blocks the actor; its
//! outcome comes back as a message. Every attempt uses the key `charge:{order_id}`, so a
//! retry or a resumed saga after a restart can never charge twice.
//!
//! An order actor passivates like the others (see the registry): while its saga has work in
//! flight it stays; otherwise the idle sweep stops it once idle (a finished order at once),
//! and the registry's cap stops the oldest ones. The next message re-activates it from the
//! read model, which holds every order as last made durable.

mod aftersale;

pub use aftersale::{Acted, OrderCommand, has_unfinished_saga};

use super::{ActorError, commerce::Commerce, product::ProductMsg, registry::Slot};
use crate::{
    domain::{
        DomainError,
        order::{Actor as Who, Order, OrderStatus, PaymentStatus},
        time::now_ms,
    },
    payments::{Charge, ChargeOutcome},
};
use futures_util::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Reply carrying the order after a (durable) change.
pub type OrderReply = RpcReplyPort<Result<Arc<Order>, ActorError>>;

/// Messages an order actor understands.
pub enum OrderMsg {
    /// Starts (or resumes after a restart) the payment of a pending order.
    Resume,
    /// The charge task finished.
    PaymentSettled {
        /// What the provider said last.
        outcome: ChargeOutcome,
        /// Attempts made.
        attempts: u32,
    },
    /// Answers once the order has left `pending`.
    WaitSettled {
        /// Answer.
        reply: OrderReply,
    },
    /// A command of docs/API.md §13 on a settled order: fulfilments, shipment events,
    /// refunds and returns (boxed: the largest message).
    Act {
        /// What to do.
        command: Box<OrderCommand>,
        /// Answer (`Err` carries a business refusal).
        reply: RpcReplyPort<Result<Result<Acted, DomainError>, ActorError>>,
    },
    /// A staff transition.
    SetStatus {
        /// Target.
        to: OrderStatus,
        /// With `preparing`: minutes until ready (sets `estimated_ready_at`).
        prep_minutes: Option<i64>,
        /// Who.
        by: String,
        /// Answer (`Err` carries an invalid transition as a refusal).
        reply: RpcReplyPort<Result<Result<Arc<Order>, DomainError>, ActorError>>,
    },
    /// Cancellation by the customer or staff.
    Cancel {
        /// Customer or staff rules.
        who: Who,
        /// Who.
        by: String,
        /// The caller's reason, kept in the history entry.
        reason: Option<String>,
        /// Answer.
        reply: RpcReplyPort<Result<Result<Arc<Order>, DomainError>, ActorError>>,
    },
    /// The idle sweep: passivate if not busy and idle for `actors.idle_seconds`, or finished.
    IdleCheck,
    /// The registry holds more than `actors.max_active_orders`: passivate unless busy.
    Evict,
}

impl super::registry::Passivates for OrderMsg {
    fn evict() -> Self {
        Self::Evict
    }
    fn idle_check() -> Self {
        Self::IdleCheck
    }
}

/// Start-up arguments.
pub struct OrderArgs {
    /// The order as last persisted.
    pub order: Box<Order>,
    /// Shared services.
    pub commerce: Arc<Commerce>,
    /// Our registry cell.
    pub slot: Slot<OrderMsg>,
}

/// The actor.
pub struct OrderActor;

/// A running order actor's state.
pub struct OrderState {
    order: Order,
    commerce: Arc<Commerce>,
    /// Our registry cell (passivation removes exactly this one).
    slot: Slot<OrderMsg>,
    waiters: Vec<OrderReply>,
    charging: bool,
    /// When the last message other than housekeeping arrived.
    last_message: Instant,
    /// Whether a caller's message was handled since activation. Until then the cap does not
    /// passivate the actor: the caller that activated it must be served by it.
    served: bool,
}

impl Actor for OrderActor {
    type Msg = OrderMsg;
    type State = OrderState;
    type Arguments = OrderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<OrderMsg>,
        args: OrderArgs,
    ) -> Result<OrderState, ActorProcessingErr> {
        if args.order.status == OrderStatus::Pending {
            myself.send_message(OrderMsg::Resume)?;
        }
        Ok(OrderState {
            order: *args.order,
            commerce: args.commerce,
            slot: args.slot,
            waiters: Vec::new(),
            charging: false,
            last_message: Instant::now(),
            served: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<OrderMsg>,
        message: OrderMsg,
        state: &mut OrderState,
    ) -> Result<(), ActorProcessingErr> {
        match &message {
            OrderMsg::IdleCheck | OrderMsg::Evict => {}
            OrderMsg::Resume | OrderMsg::PaymentSettled { .. } => {
                state.last_message = Instant::now();
            }
            OrderMsg::WaitSettled { .. }
            | OrderMsg::SetStatus { .. }
            | OrderMsg::Cancel { .. }
            | OrderMsg::Act { .. } => {
                state.last_message = Instant::now();
                state.served = true;
            }
        }
        match message {
            OrderMsg::IdleCheck => {
                let idle = state.commerce.shared.config.actors.idle_every();
                let done = state.order.status.is_terminal();
                if done || state.last_message.elapsed() >= idle {
                    state.maybe_passivate(&myself);
                }
            }
            OrderMsg::Evict => {
                if state.served {
                    state.maybe_passivate(&myself);
                }
            }
            OrderMsg::Resume => state.start_charge(&myself),
            OrderMsg::PaymentSettled { outcome, attempts } => {
                state.charging = false;
                state.settle(&myself, outcome, attempts).await;
            }
            OrderMsg::WaitSettled { reply } => {
                if state.order.status == OrderStatus::Pending {
                    state.waiters.push(reply);
                } else {
                    let _ = reply.send(Ok(Arc::new(state.order.clone())));
                }
            }
            OrderMsg::SetStatus {
                to,
                prep_minutes,
                by,
                reply,
            } => {
                let result = state.set_status(to, prep_minutes, &by).await;
                let _ = reply.send(result);
            }
            OrderMsg::Act { command, reply } => {
                let result = state.act(*command).await;
                let _ = reply.send(result);
            }
            OrderMsg::Cancel {
                who,
                by,
                reason,
                reply,
            } => {
                let result = state.cancel(who, &by, reason).await;
                let _ = reply.send(result);
            }
        }
        Ok(())
    }
}

impl OrderState {
    /// Whether the saga still needs this actor: a pending order waits for its charge task
    /// (whose outcome comes back as a message to this very actor, and so would be lost), a
    /// charge still running on an order cancelled meanwhile must be refunded when it lands,
    /// and waiters expect an answer. A confirmed or later order is not busy: all of it is
    /// durable and in the read model, so it comes back intact.
    fn busy(&self) -> bool {
        self.order.status == OrderStatus::Pending || self.charging || !self.waiters.is_empty()
    }

    /// Stops the actor unless busy. The registry entry goes first, so no new message is routed
    /// here; one already in the mailbox fails to send and its caller goes back to the registry.
    fn maybe_passivate(&mut self, myself: &ActorRef<OrderMsg>) {
        if self.busy() {
            return;
        }
        self.commerce.orders.forget(&self.order.id, &self.slot);
        tracing::debug!(order = %self.order.id, "passivating order actor");
        myself.stop(Some("idle".into()));
    }

    fn start_charge(&mut self, myself: &ActorRef<OrderMsg>) {
        if self.order.status != OrderStatus::Pending || self.charging {
            return;
        }
        self.charging = true;
        let commerce = Arc::clone(&self.commerce);
        let charge = Charge {
            idempotency_key: format!("charge:{}", self.order.id),
            order_id: self.order.id.to_string(),
            amount: self.order.total(),
            token: self.order.payment.token.clone(),
        };
        let myself = myself.clone();
        tokio::spawn(async move {
            let config = &commerce.shared.config.payments;
            let max_attempts = config.max_attempts.max(1);
            let mut attempts = 0;
            let outcome = loop {
                attempts += 1;
                let outcome = commerce.provider.charge(charge.clone()).await;
                crate::observability::payment_attempt(match &outcome {
                    ChargeOutcome::Captured { .. } => "captured",
                    ChargeOutcome::Declined { .. } => "declined",
                    ChargeOutcome::Transient => "transient",
                });
                match outcome {
                    ChargeOutcome::Transient if attempts < max_attempts => {
                        let backoff = config
                            .backoff_ms
                            .saturating_mul(1 << (attempts - 1).min(16));
                        tokio::time::sleep(Duration::from_millis(backoff)).await;
                    }
                    outcome => break outcome,
                }
            };
            let _ = myself.send_message(OrderMsg::PaymentSettled { outcome, attempts });
        });
    }

    /// The charge finished: commit and confirm, or release and fail. A charge that lands on an
    /// order cancelled meanwhile is refunded.
    async fn settle(&mut self, myself: &ActorRef<OrderMsg>, outcome: ChargeOutcome, attempts: u32) {
        let now = now_ms();
        self.order.payment.attempts = attempts;
        if self.order.status != OrderStatus::Pending {
            if let ChargeOutcome::Captured { transaction_id } = outcome {
                self.order.payment.transaction_id = Some(transaction_id);
                self.refund().await;
                if let Err(error) = self.commerce.save_order(&mut self.order, None, false).await {
                    tracing::error!(order = %self.order.id, %error, "saving a late refund failed");
                }
            }
            return;
        }
        let result = match outcome {
            ChargeOutcome::Captured { transaction_id } => {
                self.order.payment.transaction_id = Some(transaction_id);
                match self.commit_stock().await {
                    Ok(()) => {
                        self.order.payment.status = PaymentStatus::Captured;
                        self.order.stock_committed = true;
                        self.finish(OrderStatus::Confirmed, now).await
                    }
                    Err(ActorError::Refused(_)) => {
                        // The hold lapsed despite the pin (e.g. a very long outage): do not
                        // keep money for goods we cannot give.
                        self.order.payment.status = PaymentStatus::Captured;
                        self.refund().await;
                        self.release_stock().await;
                        self.order.payment.decline_code = Some("stock_unavailable".into());
                        self.finish(OrderStatus::PaymentFailed, now).await
                    }
                    Err(error) => Err(error),
                }
            }
            ChargeOutcome::Declined { code } => {
                self.release_stock().await;
                self.order.payment.status = PaymentStatus::Failed;
                self.order.payment.decline_code = Some(code);
                self.finish(OrderStatus::PaymentFailed, now).await
            }
            ChargeOutcome::Transient => {
                self.release_stock().await;
                self.order.payment.status = PaymentStatus::Failed;
                self.order.payment.decline_code = Some("provider_unavailable".into());
                self.finish(OrderStatus::PaymentFailed, now).await
            }
        };
        match result {
            Ok(()) => {
                if self.order.status == OrderStatus::Confirmed
                    && let Some(cart) = self.order.cart_id.clone()
                {
                    // The order detached the cart's hold at checkout, so a hold the cart has
                    // now was taken afterwards (a line changed meanwhile): give it back rather
                    // than leave it to lapse.
                    let deleted = self
                        .commerce
                        .call_cart(&cart, |reply| super::cart::CartMsg::Delete {
                            release: true,
                            reply,
                        })
                        .await;
                    if let Err(error) = deleted
                        && !matches!(error, ActorError::NotFound)
                    {
                        tracing::warn!(%cart, %error, "could not delete the cart of a confirmed order");
                    }
                }
                let order = Arc::new(self.order.clone());
                for waiter in self.waiters.drain(..) {
                    let _ = waiter.send(Ok(Arc::clone(&order)));
                }
            }
            Err(error) => {
                // Storage trouble: stay pending and try again; the provider answers the same key
                // with the same capture, and commits are idempotent.
                tracing::warn!(order = %self.order.id, %error, "settling failed; retrying in 1 s");
                self.order.payment.status = PaymentStatus::Pending;
                ractor::time::send_after(Duration::from_secs(1), myself.get_cell(), || {
                    OrderMsg::Resume
                });
            }
        }
    }

    async fn finish(&mut self, to: OrderStatus, at: i64) -> Result<(), ActorError> {
        let from = self
            .order
            .transition(to, Who::System, "system", at)
            .map_err(|_| ActorError::Unavailable("invalid saga transition".into()))?;
        self.commerce
            .save_order(&mut self.order, Some(from), false)
            .await
    }

    /// Sells the held units (idempotent per product) and notes on each line where they were
    /// sold from (saved with the order's next transition).
    async fn commit_stock(&mut self) -> Result<(), ActorError> {
        let reservation = &self.order.reservation_id;
        let reference = self.order.id.to_string();
        let by = self
            .order
            .customer_id
            .as_ref()
            .map_or_else(|| "system".to_owned(), ToString::to_string);
        let outcomes = join_all(self.order.items.iter().map(|line| {
            self.commerce
                .products
                .call(&line.product_id, |reply| ProductMsg::Commit {
                    reservation: reservation.clone(),
                    reference: reference.clone(),
                    by: by.clone(),
                    reply,
                })
        }))
        .await;
        for (line, outcome) in self.order.items.iter_mut().zip(outcomes) {
            let view = outcome?;
            // A retried commit (already sold) answers no allocations: keep what we had.
            if !view.allocations.is_empty() {
                line.allocations = view.allocations;
            }
        }
        Ok(())
    }

    /// Gives the held units back (nothing held is fine).
    async fn release_stock(&self) {
        self.commerce
            .products
            .release_all(
                &self.order.reservation_id,
                self.order.items.iter().map(|line| &line.product_id),
            )
            .await;
    }

    /// Puts sold units back on hand (idempotent per product and order).
    async fn return_stock(&self, by: &str) -> Result<(), ActorError> {
        let reference = self.order.id.to_string();
        let outcomes = join_all(self.order.items.iter().map(|line| {
            self.commerce
                .products
                .call(&line.product_id, |reply| ProductMsg::GiveBack {
                    quantity: line.quantity,
                    reference: reference.clone(),
                    by: by.to_owned(),
                    reply,
                })
        }))
        .await;
        outcomes.into_iter().try_for_each(|o| o.map(|_| ()))
    }

    /// Refunds a captured payment (idempotent by key).
    async fn refund(&mut self) {
        if self.order.payment.status == PaymentStatus::Refunded
            || self.order.payment.transaction_id.is_none()
        {
            return;
        }
        // Partial refunds (docs/API.md §13) already gave some back: refund the rest.
        let total = self.order.total();
        let left = crate::domain::fulfillment::refundable(&self.order.payment, &total);
        if left == 0 && !self.order.payment.refunds.is_empty() {
            self.order.payment.status = PaymentStatus::Refunded;
            return;
        }
        let amount = crate::domain::money::Money {
            amount: if self.order.payment.refunds.is_empty() {
                total.amount
            } else {
                left
            },
            currency: total.currency,
        };
        let refunded = self
            .commerce
            .provider
            .refund(
                format!("refund:{}", self.order.id),
                self.order.id.to_string(),
                amount,
            )
            .await;
        match refunded {
            Ok(_) => self.order.payment.status = PaymentStatus::Refunded,
            Err(error) => tracing::error!(order = %self.order.id, %error, "refund failed"),
        }
    }

    async fn set_status(
        &mut self,
        to: OrderStatus,
        prep_minutes: Option<i64>,
        by: &str,
    ) -> Result<Result<Arc<Order>, DomainError>, ActorError> {
        if to == OrderStatus::Cancelled {
            return self.cancel(Who::Staff, by, None).await;
        }
        let now = now_ms();
        let from = match self.order.transition(to, Who::Staff, by, now) {
            Ok(from) => from,
            Err(allowed) => return Ok(Err(self.invalid(to, allowed))),
        };
        if let Some(minutes) = prep_minutes {
            self.order.estimated_ready_at = Some(now + minutes * 60_000);
        }
        self.commerce
            .save_order(&mut self.order, Some(from), false)
            .await?;
        Ok(Ok(Arc::new(self.order.clone())))
    }

    /// Cancels the order; an order already cancelled is answered as it is (a retried cancel
    /// succeeds, like a repeated release), keeping the first reason.
    async fn cancel(
        &mut self,
        who: Who,
        by: &str,
        reason: Option<String>,
    ) -> Result<Result<Arc<Order>, DomainError>, ActorError> {
        if self.order.status == OrderStatus::Cancelled {
            return Ok(Ok(Arc::new(self.order.clone())));
        }
        let allowed = self.order.status.allowed(who);
        if !allowed.contains(&OrderStatus::Cancelled) {
            return Ok(Err(self.invalid(OrderStatus::Cancelled, allowed)));
        }
        // Effects first, each idempotent, then the durable status: a crash in between leaves
        // the order as it was, and cancelling again finishes the job without doing anything
        // twice.
        if self.order.stock_committed {
            self.return_stock(by).await?;
        } else {
            self.release_stock().await;
        }
        if self.order.payment.status == PaymentStatus::Captured {
            self.refund().await;
        }
        let from = self
            .order
            .transition_because(OrderStatus::Cancelled, who, by, reason, now_ms())
            .map_err(|_| ActorError::Unavailable("cancel raced".into()))?;
        self.commerce
            .save_order(&mut self.order, Some(from), false)
            .await?;
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(Ok(Arc::new(self.order.clone())));
        }
        Ok(Ok(Arc::new(self.order.clone())))
    }

    fn invalid(&self, to: OrderStatus, allowed: Vec<OrderStatus>) -> DomainError {
        DomainError::InvalidTransition {
            from: self.order.status,
            to,
            allowed,
        }
    }
}

/// Holds not found at commit mean the reservation lapsed.
pub fn is_lapsed(error: &ActorError) -> bool {
    matches!(error, ActorError::Refused(DomainError::HoldNotFound))
}
