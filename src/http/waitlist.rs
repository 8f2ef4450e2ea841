//! A sold-out product's waitlist (docs/API.md §13).

use super::{
    extract::{ApiJson, ApiPath, Caller},
    schema as s,
};
use crate::{
    actors::product::{ProductMsg, WaitlistCommand},
    app::App,
    domain::{
        ids::{ProductId, UserId},
        time::rfc3339,
        waitlist::{WaitlistEntry, positions},
    },
    error::AppError,
};
use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;

/// Getting in line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinWaitlist {
    /// 1–100 units (default 1).
    quantity: Option<i64>,
}

/// An entry as clients see it.
fn entry_view(entry: &WaitlistEntry, position: Option<usize>) -> Value {
    json!({
        "id": entry.id,
        "product_id": entry.product_id,
        "quantity": entry.quantity,
        "position": position,
        "status": entry.status.as_str(),
        "cart_id": entry.cart_id,
        "created_at": rfc3339(entry.created_at),
    })
}

/// Only customers wait in line.
fn customer(caller: &Caller) -> Result<UserId, AppError> {
    match caller {
        Caller::Customer { user_id } => Ok(user_id.clone()),
        Caller::Anonymous => Err(AppError::Unauthorized),
        _ => Err(AppError::Forbidden),
    }
}

fn product(app: &App, raw: &str) -> Result<ProductId, AppError> {
    ProductId::parse(raw)
        .filter(|id| app.shared.read_model.products.contains_key(id))
        .ok_or(AppError::NotFound)
}

/// `POST /products/{id}/waitlist` (customer; sold-out products only).
#[utoipa::path(post, path = "/api/v1/products/{id}/waitlist", operation_id = "join_waitlist", tag = "Products", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    request_body = JoinWaitlist,
    responses(
        (status = 201, description = "In line: `{id, position}` (and the rest of the entry).", body = s::WaitlistEntry),
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
pub async fn join(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<JoinWaitlist>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let customer = customer(&caller)?;
    let id = product(&app, &id)?;
    let quantity = body.quantity.unwrap_or(1);
    if !(1..=100).contains(&quantity) {
        return Err(AppError::field("quantity", "must be 1-100"));
    }
    let command = WaitlistCommand::Join { customer, quantity };
    let (entry, position) = app
        .products
        .call(&id, |reply| ProductMsg::Waitlist {
            command: Box::new(command.clone()),
            reply,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(entry_view(&entry, position))))
}

/// `DELETE /products/{id}/waitlist` (customer): leave the line.
#[utoipa::path(delete, path = "/api/v1/products/{id}/waitlist", operation_id = "leave_waitlist", tag = "Products", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    responses(
        (status = 200, description = "The entry, now `left`.", body = s::WaitlistEntry),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn leave(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let customer = customer(&caller)?;
    let id = product(&app, &id)?;
    let command = WaitlistCommand::Leave { customer };
    let (entry, position) = app
        .products
        .call(&id, |reply| ProductMsg::Waitlist {
            command: Box::new(command.clone()),
            reply,
        })
        .await?;
    Ok(Json(entry_view(&entry, position)))
}

/// Entries of one product's line with their positions.
fn line_views(line: &[WaitlistEntry], keep: impl Fn(&WaitlistEntry) -> bool) -> Vec<Value> {
    line.iter()
        .zip(positions(line))
        .filter(|(entry, _)| keep(entry))
        .map(|(entry, position)| entry_view(entry, position))
        .collect()
}

/// `GET /products/{id}/waitlist` (admin, staff of the product's store): the line in order,
/// with entries no longer waiting.
#[utoipa::path(get, path = "/api/v1/products/{id}/waitlist", operation_id = "list_waitlist", tag = "Products", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    responses(
        (status = 200, description = "The line, first in line first.", body = s::WaitlistList),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let id = product(&app, &id)?;
    let store = app
        .shared
        .read_model
        .product(&id)
        .map(|p| p.catalog.store_id.clone())
        .ok_or(AppError::NotFound)?;
    caller.require_store_staff(&store)?;
    let line = app.shared.storage.waitlist(&id)?;
    Ok(Json(json!({ "items": line_views(&line, |_| true) })))
}

/// `GET /me/waitlist` (customer): their entries, newest first.
#[utoipa::path(get, path = "/api/v1/me/waitlist", operation_id = "my_waitlist", tag = "Accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's entries, newest first.", body = s::WaitlistList),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn mine(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, AppError> {
    let me = customer(&caller)?;
    let all = app.shared.storage.all_waitlists()?;
    let mut items: Vec<(i64, Value)> = Vec::new();
    for line in all.chunk_by(|a, b| a.product_id == b.product_id) {
        for (entry, position) in line.iter().zip(positions(line)) {
            if entry.customer_id == me {
                items.push((entry.created_at, entry_view(entry, position)));
            }
        }
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.0));
    Ok(Json(
        json!({ "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>() }),
    ))
}
