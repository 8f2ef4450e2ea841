//! What cart and order actors share: the product actors, the payment provider, their own
//! registries, and the helpers that persist and publish an order or cart change.

use super::{
    ActorError, ProductRegistry, Shared,
    cart::{CartActor, CartArgs, CartMsg},
    order::{OrderActor, OrderArgs, OrderMsg},
    registry::{Registry, Slot},
};
use crate::realtime::EventType;
use crate::{
    domain::{
        cart::Cart,
        ids::{CartId, OrderId},
        order::{Order, OrderStatus},
        returns::Return,
        time::now_ms,
    },
    payments::PaymentProvider,
    persistence::{ProductWrite, StoredEvent},
    views,
};
use ractor::{Actor, RpcReplyPort};
use serde_json::json;
use std::sync::Arc;

/// Services for carts and orders.
pub struct Commerce {
    /// Storage, committer, hub, read models, config.
    pub shared: Arc<Shared>,
    /// Stock.
    pub products: Arc<ProductRegistry>,
    /// The card processor.
    pub provider: Arc<dyn PaymentProvider>,
    /// Order actors.
    pub orders: Registry<OrderId, OrderMsg>,
    /// Cart actors.
    pub carts: Registry<CartId, CartMsg>,
    /// One lock per cart being checked out: checkouts of one cart run one at a time, so a
    /// double-clicked "buy" cannot make two orders (and two charges) from one cart.
    pub checkouts: dashmap::DashMap<CartId, Arc<tokio::sync::Mutex<()>>>,
}

impl Commerce {
    /// Calls the order's actor (activating it from the read model).
    pub async fn call_order<R: Send + 'static>(
        self: &Arc<Self>,
        id: &OrderId,
        build: impl Fn(RpcReplyPort<Result<R, ActorError>>) -> OrderMsg,
    ) -> Result<R, ActorError> {
        let spawn = |slot: Slot<OrderMsg>| {
            let order = self
                .shared
                .read_model
                .orders
                .get(id)
                .map(|o| (*o.value()).clone());
            let commerce = Arc::clone(self);
            async move {
                let order = order.ok_or(ActorError::NotFound)?;
                OrderActor::spawn(
                    None,
                    OrderActor,
                    OrderArgs {
                        order: Box::new((*order).clone()),
                        commerce,
                        slot,
                    },
                )
                .await
                .map(|(actor, _)| actor)
                .map_err(|e| ActorError::Unavailable(e.to_string()))
            }
        };
        self.orders.call(id, spawn, build).await
    }

    /// Calls the cart's actor (activating it from disk).
    pub async fn call_cart<R: Send + 'static>(
        self: &Arc<Self>,
        id: &CartId,
        build: impl Fn(RpcReplyPort<Result<R, ActorError>>) -> CartMsg,
    ) -> Result<R, ActorError> {
        let spawn = |slot: Slot<CartMsg>| {
            let commerce = Arc::clone(self);
            let id = id.clone();
            async move {
                let cart = commerce
                    .shared
                    .storage
                    .cart(&id)
                    .map_err(|e| ActorError::Unavailable(e.to_string()))?
                    .ok_or(ActorError::NotFound)?;
                CartActor::spawn(
                    None,
                    CartActor,
                    CartArgs {
                        cart: Box::new(cart),
                        commerce,
                        slot,
                    },
                )
                .await
                .map(|(actor, _)| actor)
                .map_err(|e| ActorError::Unavailable(e.to_string()))
            }
        };
        self.carts.call(id, spawn, build).await
    }

    /// Makes an order change durable, then updates the read model and publishes: a new order
    /// as `order.created` on `store:{id}:orders`; a status change (`from`) as
    /// `order.status_changed` on `order:{id}` (with the next version) and on the store topic.
    pub async fn save_order(
        &self,
        order: &mut Order,
        from: Option<OrderStatus>,
        created: bool,
    ) -> Result<(), ActorError> {
        self.save_order_with(order, from, created, None).await
    }

    /// Makes a return change durable on its own (the order unchanged), then updates the
    /// read model.
    pub async fn save_return(&self, record: &Return) -> Result<(), ActorError> {
        let mut write = ProductWrite::default();
        write
            .return_record(record)
            .map_err(|e| ActorError::Unavailable(e.to_string()))?;
        self.shared
            .committer
            .write_durable(write)
            .await
            .map_err(|e| ActorError::Unavailable(e.to_string()))?;
        self.shared.read_model.put_return(Arc::new(record.clone()));
        Ok(())
    }

    /// [`Commerce::save_order`], with a return record written in the same atomic write (a
    /// received return and the refund it adds to its order are one change).
    pub async fn save_order_with(
        &self,
        order: &mut Order,
        from: Option<OrderStatus>,
        created: bool,
        record: Option<&Return>,
    ) -> Result<(), ActorError> {
        let at = now_ms();
        let mut write = ProductWrite::default();
        if let Some(record) = record {
            write
                .return_record(record)
                .map_err(|e| ActorError::Unavailable(e.to_string()))?;
        }
        let changed = from.map(|from| {
            order.version += 1;
            json!({"from": from.as_str(), "to": order.status.as_str(), "order": views::order(order)})
        });
        let unavailable =
            |e: crate::persistence::StorageError| ActorError::Unavailable(e.to_string());
        write.order(order).map_err(unavailable)?;
        if let Some(data) = &changed {
            write
                .event_of(
                    order.id.as_str(),
                    &StoredEvent {
                        seq: order.version,
                        at,
                        name: EventType::OrderStatusChanged.as_str().into(),
                        data: data.to_string(),
                    },
                )
                .map_err(unavailable)?;
        }
        self.shared
            .committer
            .write_durable(write)
            .await
            .map_err(unavailable)?;
        if let Some(record) = record {
            self.shared.read_model.put_return(Arc::new(record.clone()));
        }

        let snapshot = Arc::new(order.clone());
        let store_topic = format!("store:{}:orders", order.store_id);
        let read_model = Arc::clone(&self.shared.read_model);
        let update = {
            let snapshot = Arc::clone(&snapshot);
            move || {
                read_model.put_order(Arc::clone(&snapshot));
            }
        };
        let hub = &self.shared.hub;
        if created {
            hub.publish_volatile(
                &store_topic,
                EventType::OrderCreated,
                &views::order(order),
                at,
                update,
            );
        } else if let Some(data) = changed {
            hub.publish_volatile(
                &store_topic,
                EventType::OrderStatusChanged,
                &data,
                at,
                update,
            );
            hub.publish_durable(
                &format!("order:{}", order.id),
                order.version,
                EventType::OrderStatusChanged,
                &data,
                at,
            );
        } else {
            update();
        }
        Ok(())
    }

    /// Makes a cart change durable and publishes `event` (if any) on `cart:{id}` with the next
    /// version. `None` for a deleted cart.
    pub async fn save_cart(
        &self,
        cart: &mut Cart,
        event: Option<EventType>,
        deleted: bool,
    ) -> Result<(), ActorError> {
        let at = now_ms();
        let unavailable =
            |e: crate::persistence::StorageError| ActorError::Unavailable(e.to_string());
        let mut write = ProductWrite::default();
        if deleted {
            write.delete_cart(&cart.id);
        } else {
            if event.is_some() {
                cart.version += 1;
            }
            write.cart(cart).map_err(unavailable)?;
        }
        let data = views::cart(cart, at);
        if let (Some(name), false) = (event, deleted) {
            write
                .event_of(
                    cart.id.as_str(),
                    &StoredEvent {
                        seq: cart.version,
                        at,
                        name: name.as_str().into(),
                        data: data.to_string(),
                    },
                )
                .map_err(unavailable)?;
        }
        self.shared
            .committer
            .write_durable(write)
            .await
            .map_err(unavailable)?;
        if let (Some(name), false) = (event, deleted) {
            self.shared.hub.publish_durable(
                &format!("cart:{}", cart.id),
                cart.version,
                name,
                &data,
                at,
            );
        }
        Ok(())
    }
}
