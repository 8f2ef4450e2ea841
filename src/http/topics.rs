//! The live topics of docs/API.md §9 as both live channels (WebSocket and SSE) need them:
//! who may see a topic, and subscribing a connection to it through the hub (snapshot, resume
//! by replay or reset). The channels differ only in how they write the hub's frames.

use super::extract::Caller;
use crate::realtime::{
    connection::Connection,
    hub::Replayed,
    protocol::{self, Since},
};
use crate::{
    app::App,
    domain::{
        ids::{CartId, OrderId, ProductId, StoreId},
        time::{Millis, now_ms},
    },
    services::orders::{may_read_cart, may_see_order},
    views,
};
use serde_json::Value;
use std::{sync::Arc, time::Duration};
use tokio::time::Instant as Deadline;

/// The instant a token that is valid until `exp` (Unix seconds) stops being valid.
pub fn deadline_of(exp: u64) -> Deadline {
    let exp_ms = Millis::try_from(exp.saturating_mul(1000)).unwrap_or(Millis::MAX);
    let left = u64::try_from(exp_ms.saturating_sub(now_ms())).unwrap_or(0);
    Deadline::now() + Duration::from_millis(left)
}

/// Stands in for "no deadline" in the pinned timer (whose branch is disabled then).
pub fn far_future() -> Deadline {
    Deadline::now() + Duration::from_secs(100 * 365 * 86_400)
}

/// Resolves once credentials of `user` from session `generation` are refused (the user was
/// disabled or their sessions revoked), listening to `signal`
/// ([`crate::auth::Auth::revocation_signal`]). Never resolves for callers without an account
/// (anonymous, the admin token). A receiver that lagged re-checks at once, since it cannot know
/// whose sessions it missed. Shared by the WebSocket and SSE streams.
pub async fn revoked(
    app: &App,
    signal: &mut tokio::sync::broadcast::Receiver<crate::domain::ids::UserId>,
    user: Option<crate::domain::ids::UserId>,
    generation: u64,
) {
    use tokio::sync::broadcast::error::RecvError;
    let Some(user) = user else {
        return std::future::pending().await;
    };
    loop {
        let recheck = match signal.recv().await {
            Ok(named) => named == user,
            Err(RecvError::Lagged(_)) => true,
            Err(RecvError::Closed) => return std::future::pending().await,
        };
        if recheck && !app.auth.admits(&user, generation) {
            return;
        }
    }
}

/// Whether `caller` may hold a subscription to `topic` (the rules of [`subscribe`]; a topic
/// whose entity is gone counts as not visible).
pub fn may_see(app: &App, caller: &Caller, topic: &str) -> bool {
    let read_model = &app.shared.read_model;
    match topic.split_once(':') {
        Some(("product", _)) => true,
        Some(("store", raw)) => match raw
            .strip_suffix(":orders")
            .or_else(|| raw.strip_suffix(":metrics"))
        {
            Some(id) => StoreId::parse(id).is_some_and(|id| caller.sees_store(&id)),
            None => true,
        },
        Some(("order", raw)) => OrderId::parse(raw)
            .and_then(|id| read_model.orders.get(&id).map(|o| Arc::clone(o.value())))
            .is_some_and(|order| may_see_order(caller, &order)),
        Some(("cart", raw)) => CartId::parse(raw)
            .and_then(|id| app.shared.storage.cart(&id).ok().flatten())
            .is_some_and(|cart| may_read_cart(caller, &cart)),
        _ => false,
    }
}

/// Subscribes `conn` to `topic` for `caller`: the hub queues the `subscribed` frame (with a
/// snapshot, or a replay count and the missed events when `since` can be resumed) and every
/// later event. `latest` conflates `stock.changed` on product and store topics and is ignored
/// on the others. False when the topic does not exist or `caller` may not see it (both are
/// `not_found` to the client).
pub fn subscribe(
    app: &App,
    conn: &Arc<Connection>,
    caller: &Caller,
    topic: &str,
    since: Option<&Since>,
    latest: bool,
    reference: Option<&Value>,
) -> bool {
    let hub = &app.shared.hub;
    let read_model = &app.shared.read_model;
    match topic.split_once(':') {
        Some(("product", raw)) => match ProductId::parse(raw) {
            Some(id) if read_model.products.contains_key(&id) => {
                let storage = app.shared.storage.clone();
                hub.subscribe_durable(
                    topic,
                    conn,
                    latest,
                    since,
                    reference,
                    || {
                        read_model
                            .product(&id)
                            .map(|p| (p.stock.version, views::inventory(&p)))
                    },
                    |from, to| replay(&storage, topic, id.as_str(), from, to),
                )
            }
            _ => false,
        },
        Some(("order", raw)) => match OrderId::parse(raw)
            .and_then(|id| read_model.orders.get(&id).map(|o| Arc::clone(o.value())))
        {
            Some(order) if may_see_order(caller, &order) => {
                let storage = app.shared.storage.clone();
                hub.subscribe_durable(
                    topic,
                    conn,
                    false,
                    since,
                    reference,
                    || {
                        read_model
                            .orders
                            .get(&order.id)
                            .map(|o| (o.version, views::order(&o)))
                    },
                    |from, to| replay(&storage, topic, order.id.as_str(), from, to),
                )
            }
            _ => false,
        },
        Some(("cart", raw)) => {
            let storage = app.shared.storage.clone();
            match CartId::parse(raw).and_then(|id| storage.cart(&id).ok().flatten()) {
                Some(cart) if may_read_cart(caller, &cart) => hub.subscribe_durable(
                    topic,
                    conn,
                    false,
                    since,
                    reference,
                    || {
                        storage
                            .cart(&cart.id)
                            .ok()
                            .flatten()
                            .map(|c| (c.version, views::cart(&c, now_ms())))
                    },
                    |from, to| replay(&storage, topic, cart.id.as_str(), from, to),
                ),
                _ => false,
            }
        }
        Some(("store", raw)) if raw.ends_with(":metrics") => {
            match StoreId::parse(raw.trim_end_matches(":metrics")) {
                Some(id) if read_model.stores.contains_key(&id) && caller.sees_store(&id) => {
                    let viewers = crate::services::metrics::viewers(&app.shared, &id);
                    hub.subscribe_volatile(topic, conn, false, since, reference, || {
                        crate::services::metrics::snapshot(&app.shared, &id, viewers)
                    })
                }
                _ => false,
            }
        }
        Some(("store", raw)) if raw.ends_with(":orders") => {
            match StoreId::parse(raw.trim_end_matches(":orders")) {
                Some(id) if read_model.stores.contains_key(&id) && caller.sees_store(&id) => hub
                    .subscribe_volatile(topic, conn, false, since, reference, || {
                        Some(open_orders(read_model, &id))
                    }),
                _ => false,
            }
        }
        Some(("store", raw)) if !raw.contains(':') => match StoreId::parse(raw) {
            Some(id) if read_model.stores.contains_key(&id) => {
                hub.subscribe_volatile(topic, conn, latest, since, reference, || {
                    read_model.stores.get(&id).map(|s| views::store(&s))
                })
            }
            _ => false,
        },
        _ => false,
    }
}

/// The `store:{id}:orders` snapshot: the store's orders not in a terminal state, oldest first.
fn open_orders(read_model: &crate::read_model::ReadModel, store: &StoreId) -> Value {
    let mut open: Vec<Arc<crate::domain::order::Order>> = read_model
        .orders
        .iter()
        .filter(|o| &o.store_id == store && !o.status.is_terminal())
        .map(|o| Arc::clone(o.value()))
        .collect();
    open.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    serde_json::json!({
        "store_id": store,
        "open_orders": open.iter().map(|o| views::order(o)).collect::<Vec<_>>(),
    })
}

/// Stored events of an entity (product, order, cart) as `event` frames, or `None` when some
/// are gone.
fn replay(
    storage: &crate::persistence::Storage,
    topic: &str,
    id: &str,
    from: u64,
    to: u64,
) -> Option<Vec<Replayed>> {
    let events = storage.events(id, from, to).ok()?;
    events
        .into_iter()
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).ok()?;
            Some((e.seq, protocol::event(topic, e.seq, &e.name, &data, e.at)))
        })
        .collect()
}
