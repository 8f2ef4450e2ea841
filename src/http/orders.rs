//! `/api/v1/orders` and the payment ledger (docs/API.md §8).

use super::{
    extract::{ApiJson, ApiPath, ApiQuery, Caller, decode, pagination},
    idempotency::Idempotency,
    schema as s,
};
use crate::{
    actors::order::OrderMsg,
    app::App,
    domain::{
        fulfillment::FulfillmentType,
        ids::{CartId, OrderId, ProductId, StoreId},
        order::{Actor as Who, Order, OrderStatus},
    },
    error::AppError,
    services::orders::{self, PlaceOrder, Placed, Source, may_see_order},
    views,
};
use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;
use serde_json::Value;
use std::{collections::BTreeMap, sync::Arc};
use utoipa::{IntoParams, ToSchema};

/// How to pay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PaymentRequest)]
pub struct PaymentBody {
    /// Always `card`.
    #[schema(example = "card")]
    method: String,
    /// A card token of the payment provider (`tok_visa`, `tok_flaky`, …).
    #[schema(example = "tok_visa")]
    token: String,
}

/// Units of one product to order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OrderItemRequest)]
pub struct ItemBody {
    /// `prod_…`
    product_id: String,
    /// Units.
    quantity: i64,
}

/// A checkout: `cart_id`, or `store_id` and `items`; plus `payment`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// A cart the caller may read.
    cart_id: Option<String>,
    /// With `items`: the store ordered from.
    store_id: Option<String>,
    /// With `store_id`: what to order.
    items: Option<Vec<ItemBody>>,
    /// How to pay.
    payment: PaymentBody,
    /// Free-form address fields.
    shipping_address: Option<BTreeMap<String, String>>,
    /// ≤ 500 characters.
    note: Option<String>,
    /// `delivery`, `pickup` or `dine_in` (default: `pickup` for restaurants, `delivery` for
    /// retail).
    fulfillment_type: Option<FulfillmentType>,
    /// A dine-in order's table (required then, 1–20 characters; only for dine-in).
    table: Option<String>,
}

/// Longest table label.
const MAX_TABLE_CHARS: usize = 20;

/// A staff transition of an order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetOrderStatus)]
pub struct SetStatus {
    /// `preparing`, `ready`, `in_transit`, `delivered` or `cancelled`.
    #[schema(value_type = OrderStatus)]
    status: String,
    /// With `preparing`: minutes until ready (1–240); the order then carries
    /// `estimated_ready_at`.
    #[schema(minimum = 1, maximum = 240)]
    prep_minutes: Option<i64>,
}

/// The range of `prep_minutes`.
const PREP_MINUTES: std::ops::RangeInclusive<i64> = 1..=240;

/// Why the order is cancelled (the body is optional).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Free text, ≤ 500 characters; kept in the order's `history` entry.
    reason: Option<String>,
}

/// Longest cancellation reason kept.
const MAX_REASON_CHARS: usize = 500;

/// Filters and pagination of `GET /orders`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOrders {
    /// Only this store's orders.
    store_id: Option<String>,
    /// Comma-separated statuses (`pending,confirmed`).
    status: Option<String>,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

/// Filter and pagination of the payment ledger.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Only this order's entries.
    order_id: Option<String>,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
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
#[utoipa::path(post, path = "/api/v1/orders", operation_id = "create_order", tag = "Orders", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = CreateOrder,
    responses(
        (status = 201, description = "The order, `confirmed`: the charge succeeded within `orders.sync_wait_ms`.", body = s::Order),
        (status = 202, description = "The order, `pending`: the charge is still running (`order:{id}` tells the end).", body = s::Order),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 402, response = s::PaymentFailed),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
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
    let table = body
        .table
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if table
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_TABLE_CHARS || t.chars().any(char::is_control))
    {
        return Err(AppError::field(
            "table",
            format!("must be 1-{MAX_TABLE_CHARS} printable characters"),
        ));
    }
    match (body.fulfillment_type, &table) {
        (Some(FulfillmentType::DineIn), None) => {
            return Err(AppError::field("table", "a dine_in order needs its table"));
        }
        (Some(FulfillmentType::Delivery | FulfillmentType::Pickup) | None, Some(_)) => {
            return Err(AppError::field("table", "only dine_in orders have a table"));
        }
        _ => {}
    }
    let request = PlaceOrder {
        source,
        token: body.payment.token,
        shipping_address: body.shipping_address,
        note: body.note,
        fulfillment_type: body.fulfillment_type,
        table,
    };
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            orders::place(&app.commerce, &caller, request)
                .await
                .map(|placed| match placed {
                    Placed::Created(order) => (StatusCode::CREATED, order),
                    Placed::Accepted(order) => (StatusCode::ACCEPTED, order),
                })
                .map_err(AppError::from)
        })
        .await)
}

/// `GET /orders/{id}`.
#[utoipa::path(get, path = "/api/v1/orders/{id}", operation_id = "get_order", tag = "Orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ord_…`")),
    responses(
        (status = 200, description = "The order.", body = s::Order),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let (_, order) = visible(&app, &caller, &id)?;
    Ok(Json(views::order(&order)))
}

/// `GET /orders`: customers see theirs, staff their store's, admins all; newest first.
#[utoipa::path(get, path = "/api/v1/orders", operation_id = "list_orders", tag = "Orders", security(("bearer" = [])),
    params(ListOrders),
    responses(
        (status = 200, description = "A page of orders, newest first.", body = s::OrderPage),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
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
    // A store filter names something the caller must be able to see: an unknown store, or
    // (for staff) another store than their own, is 404 like any resource they may not see,
    // not an empty page and not 403. Customers may filter by any store: their own orders.
    let store = match query.store_id.as_deref() {
        None => None,
        Some(raw) => {
            let id = StoreId::parse(raw)
                .filter(|id| app.shared.read_model.stores.contains_key(id))
                .ok_or(AppError::NotFound)?;
            if !matches!(caller, Caller::Customer { .. }) && !caller.sees_store(&id) {
                return Err(AppError::NotFound);
            }
            Some(id)
        }
    };
    let mut found: Vec<Arc<Order>> = app
        .shared
        .read_model
        .orders
        .iter()
        .map(|o| Arc::clone(o.value()))
        .filter(|o| may_see_order(&caller, o))
        .filter(|o| store.as_ref().is_none_or(|id| &o.store_id == id))
        .filter(|o| statuses.as_ref().is_none_or(|s| s.contains(&o.status)))
        .collect();
    found.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Ok(Json(views::page_of(&found, page, per_page, |o| {
        views::order(o)
    })))
}

/// `PUT /orders/{id}/status` (staff of the store, admin); honours `Idempotency-Key` (a
/// repeated transition is otherwise a 409).
#[utoipa::path(put, path = "/api/v1/orders/{id}/status", operation_id = "set_order_status", tag = "Orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ord_…`"), ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = SetStatus,
    responses(
        (status = 200, description = "The order; `order.status_changed` is published.", body = s::Order),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn set_status(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, raw): ApiJson<SetStatus>,
) -> Result<Response, AppError> {
    let (id, order) = visible(&app, &caller, &id)?;
    caller.require_store_staff(&order.store_id)?;
    let to = OrderStatus::parse(&body.status)
        .ok_or_else(|| AppError::field("status", "unknown status"))?;
    if let Some(minutes) = body.prep_minutes {
        if to != OrderStatus::Preparing {
            return Err(AppError::field(
                "prep_minutes",
                "only with the status preparing",
            ));
        }
        if !PREP_MINUTES.contains(&minutes) {
            return Err(AppError::field("prep_minutes", "must be between 1 and 240"));
        }
    }
    let prep_minutes = body.prep_minutes;
    let by = caller.name();
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            let order = app
                .commerce
                .call_order(&id, |reply| OrderMsg::SetStatus {
                    to,
                    prep_minutes,
                    by: by.clone(),
                    reply,
                })
                .await??;
            Ok((StatusCode::OK, views::order(&order)))
        })
        .await)
}

/// `POST /orders/{id}/cancel` with an optional `{"reason"}` body; honours `Idempotency-Key`.
/// Cancelling a cancelled order answers it again (200), like a repeated release.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", operation_id = "cancel_order", tag = "Orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ord_…`"), ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body(content = Option<CancelBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "The order, `cancelled` (also when it already was); a captured payment is refunded; the reason is in the last `history` entry.", body = s::Order),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 413, response = s::PayloadTooLarge),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn cancel(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiPath(id): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge(app.config.http.max_body_bytes)
        } else {
            AppError::InvalidJson(format!("could not read the body: {rejection}"))
        }
    })?;
    let (reason, raw) = if body.is_empty() {
        (None, Value::Null)
    } else {
        let (body, raw) = decode::<CancelBody>(&body)?;
        (body.reason, raw)
    };
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(AppError::field(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
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
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            let order = app
                .commerce
                .call_order(&id, |reply| OrderMsg::Cancel {
                    who,
                    by: by.clone(),
                    reason: reason.clone(),
                    reply,
                })
                .await??;
            Ok((StatusCode::OK, views::order(&order)))
        })
        .await)
}

/// `GET /admin/payments?order_id=…&page=…&per_page=…` (admin): the provider's ledger,
/// oldest first, paginated like every list.
#[utoipa::path(get, path = "/api/v1/admin/payments", operation_id = "list_payments", tag = "Orders", security(("bearer" = [])),
    params(LedgerQuery),
    responses(
        (status = 200, description = "A page of ledger entries, oldest first.", body = s::LedgerPage),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn ledger(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<LedgerQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let mut total = 0;
    let mut items = Vec::new();
    let skip = (page - 1).saturating_mul(per_page);
    for entry in app.shared.storage.ledger() {
        let entry = entry?;
        if query
            .order_id
            .as_ref()
            .is_some_and(|id| &entry.order_id != id)
        {
            continue;
        }
        if total >= skip && items.len() < per_page {
            items.push(views::ledger_entry(&entry));
        }
        total += 1;
    }
    Ok(Json(views::page(items, page, per_page, total)))
}
