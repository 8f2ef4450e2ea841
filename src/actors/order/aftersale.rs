//! What happens to an order after payment (docs/API.md §13), in its actor so that the order
//! has one writer: fulfilments and their shipment events (which move the order to
//! `in_transit` and `delivered`), refunds, and returns.
//!
//! Money leaves through durable sagas: a refund is first recorded in `payment.refunds` with
//! no transaction (the intent, durable), then the provider is called with the key
//! `refund:{rfn_id}` (it answers a repeated key with the first refund), then the transaction
//! is recorded. A received return is first committed `receiving` with the decided amounts and
//! its refund intent (one write), then restocked (the product actor keeps a marker per return,
//! so a repeat restocks nothing), then refunded, then committed `refunded`. A crash anywhere
//! leaves an intent that [`OrderCommand::Resume`] (sent at start-up) finishes without doing a
//! step twice.

use super::OrderState;
use crate::{
    actors::{ActorError, product::ProductMsg},
    domain::{
        DomainError,
        fulfillment::{
            self, FulfilledItem, Fulfillment, FulfillmentStatus, Refund, ShipmentEvent,
            ShipmentStatus,
        },
        ids::{FulfillmentId, RefundId, ReturnId, UserId},
        money::Money,
        order::{Actor as Who, Order, OrderStatus, PaymentStatus},
        returns::{self, ReceivedItem, Return, ReturnItem, ReturnStatus},
        time::{Millis, now_ms},
    },
};
use std::sync::Arc;

/// A command of §13 on one order.
#[derive(Clone)]
pub enum OrderCommand {
    /// Ship some of the items.
    Fulfil {
        /// What the shipment carries.
        items: Vec<FulfilledItem>,
        /// The carrier's name.
        carrier: Option<String>,
        /// Its tracking number.
        tracking_number: Option<String>,
        /// Where to follow it.
        tracking_url: Option<String>,
    },
    /// A step of one shipment.
    ShipmentEvent {
        /// The shipment.
        fulfillment: FulfillmentId,
        /// The status entered.
        status: ShipmentStatus,
        /// The carrier's words.
        note: Option<String>,
    },
    /// Give some of the captured money back.
    Refund {
        /// Minor units (the order's currency).
        amount: i64,
        /// Why.
        reason: String,
        /// Who.
        by: String,
    },
    /// Ask for units back.
    RequestReturn {
        /// What.
        items: Vec<ReturnItem>,
        /// The customer's words.
        note: Option<String>,
        /// Who asks.
        by: String,
        /// Set when the order's customer asks: the return window applies.
        customer: Option<UserId>,
    },
    /// Approve (`true`) or reject a requested return.
    DecideReturn {
        /// The return.
        id: ReturnId,
        /// Approve or reject.
        approve: bool,
    },
    /// The units of an approved return arrived.
    ReceiveReturn {
        /// The return.
        id: ReturnId,
        /// What arrived.
        items: Vec<ReceivedItem>,
        /// Where undamaged units go back.
        location_id: Option<String>,
        /// Who received them.
        by: String,
    },
    /// Takes back the last staff transition within 10 s (see `Order::undo`).
    Undo {
        /// Who.
        by: String,
    },
    /// Finishes interrupted sagas (refund intents, returns left `receiving`).
    Resume,
}

/// What a command produced.
pub enum Acted {
    /// The order as changed (a fulfilment or shipment event: the fulfilment's id).
    Order(Arc<Order>, Option<FulfillmentId>),
    /// A refund of the order (the order as changed, the refund's id).
    Refund(Arc<Order>, RefundId),
    /// A return as changed.
    Return(Arc<Return>),
}

type Outcome = Result<Result<Acted, DomainError>, ActorError>;

/// Longest a `prep_minutes`-style figure or anything else stays before it is nonsense.
const DAY_MS: Millis = 86_400_000;

impl OrderState {
    /// Runs one §13 command.
    pub(super) async fn act(&mut self, command: OrderCommand) -> Outcome {
        match command {
            OrderCommand::Fulfil {
                items,
                carrier,
                tracking_number,
                tracking_url,
            } => {
                self.fulfil(items, carrier, tracking_number, tracking_url)
                    .await
            }
            OrderCommand::ShipmentEvent {
                fulfillment,
                status,
                note,
            } => self.shipment_event(fulfillment, status, note).await,
            OrderCommand::Refund { amount, reason, by } => {
                self.refund_some(amount, reason, by).await
            }
            OrderCommand::RequestReturn {
                items,
                note,
                by,
                customer,
            } => self.request_return(items, note, by, customer).await,
            OrderCommand::DecideReturn { id, approve } => self.decide_return(&id, approve).await,
            OrderCommand::ReceiveReturn {
                id,
                items,
                location_id,
                by,
            } => self.receive_return(&id, items, location_id, by).await,
            OrderCommand::Undo { by } => {
                let from = match self.order.undo(&by, now_ms()) {
                    Ok(from) => from,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let saved = self
                    .commerce
                    .save_order(&mut self.order, Some(from), false)
                    .await;
                self.keep_or_reload(saved)?;
                Ok(Ok(Acted::Order(Arc::new(self.order.clone()), None)))
            }
            OrderCommand::Resume => {
                self.resume_sagas().await?;
                Ok(Ok(Acted::Order(Arc::new(self.order.clone()), None)))
            }
        }
    }

    async fn fulfil(
        &mut self,
        items: Vec<FulfilledItem>,
        carrier: Option<String>,
        tracking_number: Option<String>,
        tracking_url: Option<String>,
    ) -> Outcome {
        use OrderStatus::*;
        if !matches!(self.order.status, Confirmed | Preparing | Ready) {
            return Ok(Err(self.invalid(InTransit, Vec::new())));
        }
        if let Err(refusal) =
            fulfillment::check_fulfilment(&self.order.items, &self.order.fulfillments, &items)
        {
            return Ok(Err(refusal));
        }
        let now = now_ms();
        let id = FulfillmentId::generate();
        self.order.fulfillments.push(Fulfillment {
            id: id.clone(),
            items,
            carrier,
            tracking_number,
            tracking_url,
            events: vec![ShipmentEvent {
                status: ShipmentStatus::Shipped,
                at: now,
                note: None,
            }],
            created_at: now,
        });
        self.order.updated_at = now;
        let status = fulfillment::fulfillment_status(&self.order.items, &self.order.fulfillments);
        let from = if status == FulfillmentStatus::Fulfilled {
            self.order
                .transition(InTransit, Who::System, "system", now)
                .ok()
        } else {
            None
        };
        let saved = self.commerce.save_order(&mut self.order, from, false).await;
        self.keep_or_reload(saved)?;
        Ok(Ok(Acted::Order(Arc::new(self.order.clone()), Some(id))))
    }

    async fn shipment_event(
        &mut self,
        id: FulfillmentId,
        status: ShipmentStatus,
        note: Option<String>,
    ) -> Outcome {
        let now = now_ms();
        let Some(shipment) = self.order.fulfillments.iter_mut().find(|f| f.id == id) else {
            return Err(ActorError::NotFound);
        };
        shipment.events.push(ShipmentEvent {
            status,
            at: now,
            note,
        });
        self.order.updated_at = now;
        let from = if self.order.status == OrderStatus::InTransit
            && fulfillment::all_delivered(&self.order.items, &self.order.fulfillments)
        {
            self.order
                .transition(OrderStatus::Delivered, Who::System, "system", now)
                .ok()
        } else {
            None
        };
        let saved = self.commerce.save_order(&mut self.order, from, false).await;
        self.keep_or_reload(saved)?;
        Ok(Ok(Acted::Order(Arc::new(self.order.clone()), Some(id))))
    }

    async fn refund_some(&mut self, amount: i64, reason: String, by: String) -> Outcome {
        let total = self.order.total();
        let refundable = fulfillment::refundable(&self.order.payment, &total);
        if amount > refundable {
            return Ok(Err(DomainError::OverRefunded {
                requested: amount,
                refundable,
            }));
        }
        let id = RefundId::generate();
        let now = now_ms();
        self.order.payment.refunds.push(Refund {
            id: id.clone(),
            amount: Money {
                amount,
                currency: total.currency,
            },
            reason,
            transaction_id: None,
            by,
            at: now,
        });
        // A change of the order like any other (webhook derivation tells this record from a
        // fulfilment's by the time).
        self.order.updated_at = now;
        // The intent first: after a crash from here on, the refund is finished, never lost
        // and never made twice.
        let saved = self.commerce.save_order(&mut self.order, None, false).await;
        self.keep_or_reload(saved)?;
        self.settle_refunds().await?;
        Ok(Ok(Acted::Refund(Arc::new(self.order.clone()), id)))
    }

    /// Calls the provider for every refund intent without a transaction, then records them.
    async fn settle_refunds(&mut self) -> Result<(), ActorError> {
        let mut settled = false;
        for index in 0..self.order.payment.refunds.len() {
            let refund = &self.order.payment.refunds[index];
            if refund.transaction_id.is_some() {
                continue;
            }
            let transaction = self
                .commerce
                .provider
                .refund(
                    format!("refund:{}", refund.id),
                    self.order.id.to_string(),
                    refund.amount.clone(),
                )
                .await
                .map_err(ActorError::Unavailable)?;
            self.order.payment.refunds[index].transaction_id = Some(transaction);
            settled = true;
        }
        if !settled {
            return Ok(());
        }
        let total = self.order.total();
        if self.order.payment.status == PaymentStatus::Captured
            && fulfillment::refundable(&self.order.payment, &total) == 0
        {
            self.order.payment.status = PaymentStatus::Refunded;
        }
        self.order.updated_at = now_ms();
        let saved = self.commerce.save_order(&mut self.order, None, false).await;
        self.keep_or_reload(saved)
    }

    async fn request_return(
        &mut self,
        items: Vec<ReturnItem>,
        note: Option<String>,
        by: String,
        customer: Option<UserId>,
    ) -> Outcome {
        let now = now_ms();
        if customer.is_some() {
            let window = self.commerce.shared.config.returns.window_days as i64 * DAY_MS;
            let closed = delivered_at(&self.order).is_some_and(|at| now > at + window);
            if closed {
                return Ok(Err(DomainError::ReturnWindowClosed {
                    days: self.commerce.shared.config.returns.window_days,
                }));
            }
        }
        let earlier = self.commerce.shared.read_model.returns_of(&self.order.id);
        let earlier: Vec<Return> = earlier.iter().map(|r| (**r).clone()).collect();
        if let Err(refusal) = returns::check_return(&self.order, &earlier, &items) {
            return Ok(Err(refusal));
        }
        let record = Return {
            id: ReturnId::generate(),
            order_id: self.order.id.clone(),
            store_id: self.order.store_id.clone(),
            customer_id: self.order.customer_id.clone(),
            status: ReturnStatus::Requested,
            items,
            note,
            received: Vec::new(),
            location_id: None,
            refund_id: None,
            refund_amount: None,
            requested_by: by,
            created_at: now,
            updated_at: now,
        };
        self.commerce.save_return(&record).await?;
        Ok(Ok(Acted::Return(Arc::new(record))))
    }

    fn return_of_order(&self, id: &ReturnId) -> Result<Return, ActorError> {
        self.commerce
            .shared
            .read_model
            .returns
            .get(id)
            .map(|r| (**r.value()).clone())
            .filter(|r| r.order_id == self.order.id)
            .ok_or(ActorError::NotFound)
    }

    async fn decide_return(&mut self, id: &ReturnId, approve: bool) -> Outcome {
        let mut record = self.return_of_order(id)?;
        let to = if approve {
            ReturnStatus::Approved
        } else {
            ReturnStatus::Rejected
        };
        if let Err(refusal) = record.transition(to, now_ms()) {
            return Ok(Err(refusal));
        }
        self.commerce.save_return(&record).await?;
        Ok(Ok(Acted::Return(Arc::new(record))))
    }

    async fn receive_return(
        &mut self,
        id: &ReturnId,
        items: Vec<ReceivedItem>,
        location_id: Option<String>,
        by: String,
    ) -> Outcome {
        let mut record = self.return_of_order(id)?;
        match record.status {
            // A repeated receive: done already, nothing happens twice.
            ReturnStatus::Refunded => return Ok(Ok(Acted::Return(Arc::new(record)))),
            // Interrupted earlier: finish what was decided then.
            ReturnStatus::Receiving => {}
            _ => {
                let amount = match returns::price_receipt(&self.order.items, &record, &items) {
                    Ok(amount) => amount,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let refundable = fulfillment::refundable(&self.order.payment, &self.order.total());
                if amount.amount > refundable {
                    return Ok(Err(DomainError::OverRefunded {
                        requested: amount.amount,
                        refundable,
                    }));
                }
                let now = now_ms();
                if let Err(refusal) = record.transition(ReturnStatus::Receiving, now) {
                    return Ok(Err(refusal));
                }
                let refund_id = RefundId::generate();
                record.received = items;
                record.location_id = location_id;
                record.refund_id = Some(refund_id.clone());
                record.refund_amount = Some(amount.clone());
                if amount.amount > 0 {
                    self.order.payment.refunds.push(Refund {
                        id: refund_id,
                        amount,
                        reason: "return".into(),
                        transaction_id: None,
                        by: by.clone(),
                        at: now,
                    });
                }
                self.order.updated_at = now;
                // The intent: the return `receiving` with its amounts and the refund to make,
                // in one write.
                let saved = self
                    .commerce
                    .save_order_with(&mut self.order, None, false, Some(&record))
                    .await;
                self.keep_or_reload(saved)?;
            }
        }
        let record = self.finish_receipt(record, &by).await?;
        Ok(Ok(Acted::Return(Arc::new(record))))
    }

    /// Restock, refund, then commit `refunded`: each step idempotent, so a receipt resumed
    /// after a crash does each exactly once.
    async fn finish_receipt(&mut self, mut record: Return, by: &str) -> Result<Return, ActorError> {
        for (product, units) in record.restock() {
            self.commerce
                .products
                .call(&product, |reply| ProductMsg::Restock {
                    quantity: units,
                    reference: record.id.to_string(),
                    location_id: record.location_id.clone(),
                    by: by.to_owned(),
                    reply,
                })
                .await?;
        }
        crate::fault::crash_during_return_receipt();
        self.settle_refunds().await?;
        record
            .transition(ReturnStatus::Refunded, now_ms())
            .map_err(ActorError::Refused)?;
        self.commerce.save_return(&record).await?;
        Ok(record)
    }

    /// Finishes the returns left `receiving` and the refunds left without a transaction.
    async fn resume_sagas(&mut self) -> Result<(), ActorError> {
        let receiving: Vec<Return> = self
            .commerce
            .shared
            .read_model
            .returns_of(&self.order.id)
            .iter()
            .filter(|r| r.status == ReturnStatus::Receiving)
            .map(|r| (**r).clone())
            .collect();
        for record in receiving {
            self.finish_receipt(record, "system").await?;
        }
        self.settle_refunds().await
    }

    /// After a failed save the actor's copy may be ahead of what is durable: go back to the
    /// read model's (the last durable state) and pass the error on.
    fn keep_or_reload(&mut self, saved: Result<(), ActorError>) -> Result<(), ActorError> {
        if saved.is_err()
            && let Some(durable) = self.commerce.shared.read_model.orders.get(&self.order.id)
        {
            self.order = (**durable.value()).clone();
        }
        saved
    }
}

/// When the order was handed over: its `delivered` history entry, else the latest delivered
/// shipment event (a partly delivered order).
pub fn delivered_at(order: &Order) -> Option<Millis> {
    order
        .history
        .iter()
        .rev()
        .find(|h| h.status == OrderStatus::Delivered)
        .map(|h| h.at)
        .or_else(|| {
            order
                .fulfillments
                .iter()
                .flat_map(|f| &f.events)
                .filter(|e| e.status == ShipmentStatus::Delivered)
                .map(|e| e.at)
                .max()
        })
}

/// Whether the order has a saga to finish after a restart (see the module docs).
pub fn has_unfinished_saga(order: &Order, returns: &[Arc<Return>]) -> bool {
    order
        .payment
        .refunds
        .iter()
        .any(|r| r.transaction_id.is_none())
        || returns.iter().any(|r| r.status == ReturnStatus::Receiving)
}
