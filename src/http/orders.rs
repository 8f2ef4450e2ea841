//! `/api/v1/orders` and the payment ledger (docs/API.md §8).

use super::{
    extract::{ApiJson, ApiQuery, Caller, decode, pagination},
    idempotency,
};
use crate::{
    actors::order::OrderMsg,
    app::App,
    domain::{
        ids::{CartId, OrderId, ProductId, StoreId},
        order::{Actor as Who, Order, OrderStatus},
    },
    error::AppError,
    services::orders::{self, PlaceOrder, Source, may_see_order},
    views,
};
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use serde::Deserialize;
use serde_json::Value;
use std::{collections::BTreeMap, sync::Arc};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    method: String,
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    product_id: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    cart_id: Option<String>,
    store_id: Option<String>,
    items: Option<Vec<ItemBody>>,
    payment: PaymentBody,
    shipping_address: Option<BTreeMap<String, String>>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    status: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[allow(dead_code)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOrders {
    store_id: Option<String>,
    status: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    order_id: Option<String>,
}

fn visible(app: &App, caller: &Caller, raw: &str) -> Result<(OrderId, Arc<Order>), AppError> {
    let id = OrderId::parse(raw).ok_or(AppError::NotFound)?;
    let order = app
        .shared
        .read_model
        .orders
        .get(&id)
        .map(|o| Arc::clone(o.value()))
        .filter(|o| may_see_order(caller, o))
        .ok_or(AppError::NotFound)?;
    Ok((id, order))
}

/// `POST /orders` (customer, admin); honours `Idempotency-Key`.
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<CreateOrder>,
) -> Result<Response, AppError> {
    match caller {
        Caller::Customer { .. } | Caller::Admin { .. } => {}
        Caller::Anonymous => return Err(AppError::Unauthorized),
        Caller::Staff { .. } => return Err(AppError::Forbidden),
    }
    if body.payment.method != "card" {
        return Err(AppError::field("payment.method", "must be card"));
    }
    let source = match (body.cart_id, body.store_id, body.items) {
        (Some(cart), None, None) => Source::Cart(CartId::parse(&cart).ok_or(AppError::NotFound)?),
        (None, Some(store), Some(items)) => Source::Items {
            store_id: StoreId::parse(&store).ok_or(AppError::NotFound)?,
            items: items
                .into_iter()
                .map(|i| {
                    ProductId::parse(&i.product_id)
                        .map(|p| (p, i.quantity))
                        .ok_or(AppError::NotFound)
                })
                .collect::<Result<_, _>>()?,
        },
        _ => {
            return Err(AppError::field(
                "cart_id",
                "give either cart_id, or store_id and items",
            ));
        }
    };
    let request = PlaceOrder {
        source,
        token: body.payment.token,
        shipping_address: body.shipping_address,
        note: body.note,
    };
    let scope = caller.name();
    Ok(
        idempotency::run(&app, &scope, &headers, "POST /orders", &raw, || async {
            orders::place(&app.commerce, &caller, request).await
        })
        .await,
    )
}

/// `GET /orders/{id}`.
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (_, order) = visible(&app, &caller, &id)?;
    Ok(Json(views::order(&order)))
}

/// `GET /orders`: customers see theirs, staff their store's, admins all; newest first.
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListOrders>,
) -> Result<Json<Value>, AppError> {
    if caller == Caller::Anonymous {
        return Err(AppError::Unauthorized);
    }
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let statuses = match &query.status {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|s| {
                    OrderStatus::parse(s.trim())
                        .ok_or_else(|| AppError::field("status", format!("unknown status {s:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let store = query.store_id.as_deref().map(StoreId::parse);
    let mut found: Vec<Arc<Order>> = app
        .shared
        .read_model
        .orders
        .iter()
        .map(|o| Arc::clone(o.value()))
        .filter(|o| may_see_order(&caller, o))
        .filter(|o| match &store {
            None => true,
            Some(Some(id)) => &o.store_id == id,
            Some(None) => false,
        })
        .filter(|o| statuses.as_ref().is_none_or(|s| s.contains(&o.status)))
        .collect();
    found.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let total = found.len();
    let items = found
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|o| views::order(o))
        .collect();
    Ok(Json(views::page(items, page, per_page, total)))
}

/// `PUT /orders/{id}/status` (staff of the store, admin).
pub async fn set_status(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<SetStatus>,
) -> Result<Json<Value>, AppError> {
    let (id, order) = visible(&app, &caller, &id)?;
    caller.require_store_staff(&order.store_id)?;
    let to = OrderStatus::parse(&body.status)
        .ok_or_else(|| AppError::field("status", "unknown status"))?;
    let by = caller.name();
    let order = app
        .commerce
        .call_order(&id, |reply| OrderMsg::SetStatus {
            to,
            by: by.clone(),
            reply,
        })
        .await??;
    Ok(Json(views::order(&order)))
}

/// `POST /orders/{id}/cancel` with an optional `{"reason"}` body.
pub async fn cancel(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    if !body.is_empty() {
        decode::<CancelBody>(&body)?;
    }
    let (id, order) = visible(&app, &caller, &id)?;
    let who = match &caller {
        Caller::Customer { .. } => Who::Customer,
        _ => Who::Staff,
    };
    if who == Who::Staff {
        caller.require_store_staff(&order.store_id)?;
    }
    let by = caller.name();
    let order = app
        .commerce
        .call_order(&id, |reply| OrderMsg::Cancel {
            who,
            by: by.clone(),
            reply,
        })
        .await??;
    Ok(Json(views::order(&order)))
}

/// `GET /admin/payments?order_id=…` (admin): the provider's ledger.
pub async fn ledger(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<LedgerQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let entries: Vec<Value> = app
        .shared
        .storage
        .ledger()
        .filter_map(Result::ok)
        .filter(|e| query.order_id.as_ref().is_none_or(|id| &e.order_id == id))
        .map(|e| views::ledger_entry(&e))
        .collect();
    let total = entries.len();
    Ok(Json(views::page(entries, 1, total.max(1), total)))
}
