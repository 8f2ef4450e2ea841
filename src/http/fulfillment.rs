//! Fulfilments, refunds and returns of orders (docs/API.md §13). Every change runs in the
//! order's actor (see `actors::order::aftersale`); reads come from the read model.

use super::{
    extract::{ApiJson, ApiPath, ApiQuery, Caller, pagination},
    idempotency::Idempotency,
    schema as s,
};
use crate::{
    actors::order::{Acted, OrderCommand, OrderMsg},
    app::App,
    domain::{
        fulfillment::{FulfilledItem, ShipmentStatus},
        ids::{FulfillmentId, LocationId, OrderId, ProductId, ReturnId},
        order::Order,
        returns::{ReceivedItem, ReturnItem, ReturnReason},
    },
    error::AppError,
    services::orders::may_see_order,
    views,
};
use axum::{Json, extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Longest carrier name, tracking number or reason.
const MAX_TEXT: usize = 200;
/// Longest tracking URL or note.
const MAX_LONG_TEXT: usize = 2000;
/// Most lines in one fulfilment, return or receipt.
const MAX_ITEMS: usize = 100;

/// Units of one product.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FulfillmentItemRequest)]
pub struct ItemBody {
    /// `prod_…` of the order.
    product_id: String,
    /// Units (≥ 1).
    quantity: i64,
}

/// `POST /orders/{id}/fulfillments`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFulfillment {
    /// What the shipment carries.
    items: Vec<ItemBody>,
    /// ≤ 200 characters.
    carrier: Option<String>,
    /// ≤ 200 characters.
    tracking_number: Option<String>,
    /// An http(s) URL.
    tracking_url: Option<String>,
}

/// `POST /fulfillments/{id}/events`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShipmentEvent {
    /// The status entered (not `shipped`: every fulfilment starts there).
    status: ShipmentStatus,
    /// ≤ 2000 characters.
    note: Option<String>,
}

/// A money amount in the order's currency.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MoneyRequest)]
pub struct MoneyBody {
    /// Minor units (≥ 1).
    amount: i64,
    /// ISO 4217; must be the order's.
    currency: String,
}

/// `POST /orders/{id}/refunds`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// How much.
    amount: MoneyBody,
    /// Why (1–200 characters).
    reason: String,
}

/// Units of one product asked back.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReturnItemRequest)]
pub struct ReturnItemBody {
    /// `prod_…` of the order.
    product_id: String,
    /// Units (≥ 1).
    quantity: i64,
    /// Why.
    reason: ReturnReason,
}

/// `POST /orders/{id}/returns`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReturn {
    /// What is asked back.
    items: Vec<ReturnItemBody>,
    /// ≤ 2000 characters.
    note: Option<String>,
}

/// Units of one product that arrived.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReceivedItemRequest)]
pub struct ReceivedBody {
    /// `prod_…` of the return.
    product_id: String,
    /// Units that arrived.
    received: i64,
    /// Of those, units not to restock.
    damaged: i64,
}

/// `POST /returns/{id}/receive`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveReturn {
    /// What arrived.
    items: Vec<ReceivedBody>,
    /// Where undamaged units go back (`loc_…`; default: the default location).
    location_id: Option<String>,
}

/// `GET /returns`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListReturns {
    /// Only this order's returns.
    order_id: Option<String>,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

fn order_visible(app: &App, caller: &Caller, raw: &str) -> Result<Arc<Order>, AppError> {
    let id = OrderId::parse(raw).ok_or(AppError::NotFound)?;
    app.shared
        .read_model
        .orders
        .get(&id)
        .map(|o| Arc::clone(o.value()))
        .filter(|o| may_see_order(caller, o))
        .ok_or(AppError::NotFound)
}

/// Trims an optional text; empty is absent; longer than `max` characters is a 422.
fn text(value: Option<String>, field: &str, max: usize) -> Result<Option<String>, AppError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if value.as_ref().is_some_and(|v| v.chars().count() > max) {
        return Err(AppError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value)
}

fn product(raw: &str, field: String) -> Result<ProductId, AppError> {
    ProductId::parse(raw).ok_or_else(|| AppError::field(field, "is not a product id"))
}

fn few(len: usize) -> Result<(), AppError> {
    if len == 0 || len > MAX_ITEMS {
        return Err(AppError::field(
            "items",
            format!("must hold 1-{MAX_ITEMS} lines"),
        ));
    }
    Ok(())
}

async fn act(app: &App, order: &OrderId, command: OrderCommand) -> Result<Acted, AppError> {
    // `call_order` builds the message again when the first actor it reached had passivated.
    let acted = app
        .commerce
        .call_order(order, |reply| OrderMsg::Act {
            command: Box::new(command.clone()),
            reply,
        })
        .await??;
    Ok(acted)
}

fn fulfillment_view(order: &Order, id: &FulfillmentId) -> Result<Value, AppError> {
    order
        .fulfillments
        .iter()
        .find(|f| &f.id == id)
        .map(|f| views::fulfillment(order, f))
        .ok_or_else(|| AppError::Internal("the fulfilment vanished".into()))
}

/// `POST /orders/{id}/fulfillments` (staff of the store, admin).
#[utoipa::path(post, path = "/api/v1/orders/{id}/fulfillments", operation_id = "create_fulfillment", tag = "Fulfillment", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ord_…`")),
    request_body = CreateFulfillment,
    responses(
        (status = 201, description = "The fulfilment; when it ships the last units the order moves to `in_transit`.", body = s::Fulfillment),
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
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<CreateFulfillment>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let order = order_visible(&app, &caller, &id)?;
    caller.require_store_staff(&order.store_id)?;
    few(body.items.len())?;
    let items = body
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(FulfilledItem {
                product_id: product(&item.product_id, format!("items[{i}].product_id"))?,
                quantity: item.quantity,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let tracking_url = text(body.tracking_url, "tracking_url", MAX_LONG_TEXT)?;
    if tracking_url
        .as_ref()
        .is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://")))
    {
        return Err(AppError::field("tracking_url", "must be an http(s) URL"));
    }
    let command = OrderCommand::Fulfil {
        items,
        carrier: text(body.carrier, "carrier", MAX_TEXT)?,
        tracking_number: text(body.tracking_number, "tracking_number", MAX_TEXT)?,
        tracking_url,
    };
    match act(&app, &order.id, command).await? {
        Acted::Order(order, Some(id)) => {
            Ok((StatusCode::CREATED, Json(fulfillment_view(&order, &id)?)))
        }
        _ => Err(AppError::Internal(
            "unexpected answer to a fulfilment".into(),
        )),
    }
}

/// `POST /fulfillments/{id}/events` (staff of the store, admin: a carrier integration).
#[utoipa::path(post, path = "/api/v1/fulfillments/{id}/events", operation_id = "create_shipment_event", tag = "Fulfillment", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ful_…`")),
    request_body = CreateShipmentEvent,
    responses(
        (status = 200, description = "The fulfilment; once every unit is shipped and every fulfilment `delivered`, the order is `delivered`.", body = s::Fulfillment),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn event(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<CreateShipmentEvent>,
) -> Result<Json<Value>, AppError> {
    let id = FulfillmentId::parse(&id).ok_or(AppError::NotFound)?;
    let order_id = app
        .shared
        .read_model
        .fulfillments
        .get(&id)
        .map(|o| o.value().clone())
        .ok_or(AppError::NotFound)?;
    let order = order_visible(&app, &caller, order_id.as_str())?;
    caller.require_store_staff(&order.store_id)?;
    if body.status == ShipmentStatus::Shipped {
        return Err(AppError::field(
            "status",
            "every fulfilment starts shipped; send a later status",
        ));
    }
    let command = OrderCommand::ShipmentEvent {
        fulfillment: id,
        status: body.status,
        note: text(body.note, "note", MAX_LONG_TEXT)?,
    };
    match act(&app, &order.id, command).await? {
        Acted::Order(order, Some(id)) => Ok(Json(fulfillment_view(&order, &id)?)),
        _ => Err(AppError::Internal(
            "unexpected answer to a shipment event".into(),
        )),
    }
}

/// `POST /orders/{id}/refunds` (staff of the store, admin); honours `Idempotency-Key`, so a
/// client retrying a refund whose answer it lost does not refund twice.
#[utoipa::path(post, path = "/api/v1/orders/{id}/refunds", operation_id = "create_refund", tag = "Fulfillment", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ord_…`"), ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = CreateRefund,
    responses(
        (status = 201, description = "The refund (one provider refund, keyed by its id); the order lists it in `payment.refunds`.", body = s::RefundView),
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
pub async fn refund(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, raw): ApiJson<CreateRefund>,
) -> Result<Response, AppError> {
    let order = order_visible(&app, &caller, &id)?;
    caller.require_store_staff(&order.store_id)?;
    if body.amount.amount < 1 {
        return Err(AppError::field("amount.amount", "must be at least 1"));
    }
    if body.amount.currency != order.total().currency {
        return Err(AppError::field(
            "amount.currency",
            "must be the order's currency",
        ));
    }
    let reason = text(Some(body.reason), "reason", MAX_TEXT)?
        .ok_or_else(|| AppError::field("reason", "must not be empty"))?;
    let command = OrderCommand::Refund {
        amount: body.amount.amount,
        reason,
        by: caller.name(),
    };
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            match act(&app, &order.id, command.clone()).await? {
                Acted::Refund(order, id) => order
                    .payment
                    .refunds
                    .iter()
                    .find(|r| r.id == id)
                    .map(|r| (StatusCode::CREATED, views::refund(r)))
                    .ok_or_else(|| AppError::Internal("the refund vanished".into())),
                _ => Err(AppError::Internal("unexpected answer to a refund".into())),
            }
        })
        .await)
}

fn answer_return(acted: Acted) -> Result<Json<Value>, AppError> {
    match acted {
        Acted::Return(record) => Ok(Json(views::return_record(&record))),
        _ => Err(AppError::Internal("unexpected answer to a return".into())),
    }
}

/// `POST /orders/{id}/returns` (its customer within `returns.window_days` of delivery;
/// staff of the store, admin).
#[utoipa::path(post, path = "/api/v1/orders/{id}/returns", operation_id = "create_return", tag = "Fulfillment", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ord_…`")),
    request_body = CreateReturn,
    responses(
        (status = 201, description = "The return, `requested`.", body = s::Return),
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
pub async fn create_return(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<CreateReturn>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let order = order_visible(&app, &caller, &id)?;
    let customer = match &caller {
        Caller::Customer { user_id } => Some(user_id.clone()),
        Caller::Anonymous => return Err(AppError::Unauthorized),
        _ => {
            caller.require_store_staff(&order.store_id)?;
            None
        }
    };
    few(body.items.len())?;
    let items = body
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(ReturnItem {
                product_id: product(&item.product_id, format!("items[{i}].product_id"))?,
                quantity: item.quantity,
                reason: item.reason,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let command = OrderCommand::RequestReturn {
        items,
        note: text(body.note, "note", MAX_LONG_TEXT)?,
        by: caller.name(),
        customer,
    };
    let acted = act(&app, &order.id, command).await?;
    Ok((StatusCode::CREATED, answer_return(acted)?))
}

/// The return and its order, for staff of its store (customers may only read returns).
fn staff_return(app: &App, caller: &Caller, raw: &str) -> Result<(ReturnId, OrderId), AppError> {
    let id = ReturnId::parse(raw).ok_or(AppError::NotFound)?;
    let record = app
        .shared
        .read_model
        .returns
        .get(&id)
        .map(|r| Arc::clone(r.value()))
        .ok_or(AppError::NotFound)?;
    let order = order_visible(app, caller, record.order_id.as_str())?;
    caller.require_store_staff(&order.store_id)?;
    Ok((id, order.id.clone()))
}

/// `POST /returns/{id}/approve` (staff of the store, admin).
#[utoipa::path(post, path = "/api/v1/returns/{id}/approve", operation_id = "approve_return", tag = "Fulfillment", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ret_…`")),
    responses(
        (status = 200, description = "The return, `approved`.", body = s::Return),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn approve(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    decide(&app, &caller, &id, true).await
}

/// `POST /returns/{id}/reject` (staff of the store, admin).
#[utoipa::path(post, path = "/api/v1/returns/{id}/reject", operation_id = "reject_return", tag = "Fulfillment", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ret_…`")),
    responses(
        (status = 200, description = "The return, `rejected`.", body = s::Return),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn reject(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    decide(&app, &caller, &id, false).await
}

/// Approves or rejects a requested return (the two endpoints differ only in the decision).
async fn decide(
    app: &Arc<App>,
    caller: &Caller,
    id: &str,
    approve: bool,
) -> Result<Json<Value>, AppError> {
    let (id, order) = staff_return(app, caller, id)?;
    answer_return(act(app, &order, OrderCommand::DecideReturn { id, approve }).await?)
}

/// `POST /returns/{id}/receive` (staff of the store, admin).
#[utoipa::path(post, path = "/api/v1/returns/{id}/receive", operation_id = "receive_return", tag = "Fulfillment", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ret_…`")),
    request_body = ReceiveReturn,
    responses(
        (status = 200, description = "The return, `refunded`: undamaged units restocked (movement `return`), every received unit refunded in one provider refund. A repeat answers the same and does nothing.", body = s::Return),
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
pub async fn receive(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<ReceiveReturn>,
) -> Result<Json<Value>, AppError> {
    let (id, order) = staff_return(&app, &caller, &id)?;
    few(body.items.len())?;
    let items = body
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(ReceivedItem {
                product_id: product(&item.product_id, format!("items[{i}].product_id"))?,
                received: item.received,
                damaged: item.damaged,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let location_id = match body.location_id {
        None => None,
        Some(raw) => {
            // Units go back to an active location of the order's store, or nowhere.
            let location = LocationId::parse(&raw)
                .and_then(|id| app.shared.read_model.location(&id))
                .filter(|l| {
                    l.active
                        && app
                            .shared
                            .read_model
                            .orders
                            .get(&order)
                            .is_some_and(|o| o.store_id == l.store_id)
                })
                .ok_or_else(|| {
                    AppError::field("location_id", "is not an active location of this store")
                })?;
            Some(location.id.to_string())
        }
    };
    let command = OrderCommand::ReceiveReturn {
        id,
        items,
        location_id,
        by: caller.name(),
    };
    answer_return(act(&app, &order, command).await?)
}

/// `GET /returns?order_id=…`: customers see their own, staff their store's, admins all.
#[utoipa::path(get, path = "/api/v1/returns", operation_id = "list_returns", tag = "Fulfillment", security(("bearer" = [])),
    params(ListReturns),
    responses(
        (status = 200, description = "A page of returns, newest first.", body = s::ReturnPage),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListReturns>,
) -> Result<Json<Value>, AppError> {
    if caller == Caller::Anonymous {
        return Err(AppError::Unauthorized);
    }
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let read_model = &app.shared.read_model;
    let mut found: Vec<_> = match &query.order_id {
        Some(raw) => {
            let order = order_visible(&app, &caller, raw)?;
            read_model.returns_of(&order.id)
        }
        None => read_model
            .returns
            .iter()
            .map(|r| Arc::clone(r.value()))
            .filter(|r| match &caller {
                Caller::Customer { user_id } => r.customer_id.as_ref() == Some(user_id),
                other => other.sees_store(&r.store_id),
            })
            .collect(),
    };
    found.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Ok(Json(views::page_of(&found, page, per_page, |r| {
        views::return_record(r)
    })))
}

/// `POST /orders/{id}/undo` (staff of the store, admin): takes back the last staff status
/// change if it was made less than 10 s ago (the dashboard's Undo).
#[utoipa::path(post, path = "/api/v1/orders/{id}/undo", operation_id = "undo_order_status", tag = "Orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ord_…`")),
    responses(
        (status = 200, description = "The order back in its previous status (history entry with reason `undo`); `order.status_changed` is published.", body = s::Order),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn undo(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let order = order_visible(&app, &caller, &id)?;
    caller.require_store_staff(&order.store_id)?;
    match act(&app, &order.id, OrderCommand::Undo { by: caller.name() }).await? {
        Acted::Order(order, _) => Ok(Json(views::order(&order))),
        _ => Err(AppError::Internal("unexpected answer to an undo".into())),
    }
}
