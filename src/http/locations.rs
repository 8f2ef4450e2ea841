//! Stock locations, a store's allocation strategy and transfers between locations
//! (docs/API.md §13).

use super::{
    extract::{ApiJson, ApiPath, Caller},
    schema as s,
};
use crate::{
    actors::product::{ProductMsg, Transfer},
    app::App,
    domain::{
        ids::{LocationId, ProductId, StoreId},
        location::{AllocationStrategy, LocationKind},
    },
    error::AppError,
    views,
};
use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;

/// A new location.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    /// 1–200 characters.
    name: String,
    /// Warehouse, shop or kitchen.
    kind: LocationKind,
    /// 0–1 000 000 (default 0); lower gives units first under `priority`.
    priority: Option<i64>,
}

/// Changes to a location; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLocation {
    /// 1–200 characters.
    name: Option<String>,
    /// 0–1 000 000.
    priority: Option<i64>,
    /// An inactive location gives nothing to new holds (the default one cannot be
    /// deactivated: 409 `default_location`).
    active: Option<bool>,
}

/// Changes to a store; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStore {
    /// How holds pick the store's locations.
    allocation: Option<AllocationStrategy>,
}

/// A move of available units between two locations of the product's store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    /// `loc_…` the units leave.
    from: String,
    /// `loc_…` they arrive at (not `from`).
    to: String,
    /// 1–1 000 000 000; at most what is available at `from`.
    quantity: i64,
    /// ≤ 1000 characters.
    note: Option<String>,
}

fn store_id(app: &App, raw: &str) -> Result<StoreId, AppError> {
    StoreId::parse(raw)
        .filter(|id| app.shared.read_model.stores.contains_key(id))
        .ok_or(AppError::NotFound)
}

/// A location of `store` named by a request field; anything else is a 422 on `field`.
pub(super) fn store_location(
    app: &App,
    store: &StoreId,
    raw: &str,
    field: &str,
) -> Result<LocationId, AppError> {
    LocationId::parse(raw)
        .and_then(|id| app.shared.read_model.location(&id))
        .filter(|l| &l.store_id == store)
        .map(|l| l.id)
        .ok_or_else(|| AppError::field(field, "must be a location of the product's store"))
}

/// `POST /stores/{id}/locations` (admin, staff of the store).
#[utoipa::path(post, path = "/api/v1/stores/{id}/locations", operation_id = "create_location", tag = "Stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`")),
    request_body = CreateLocation,
    responses(
        (status = 201, description = "The new location.", body = s::Location),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<CreateLocation>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = store_id(&app, &id)?;
    caller.require_store_staff(&id)?;
    let location = app
        .catalog
        .create_location(&id, body.name, body.kind, body.priority.unwrap_or(0))
        .await?;
    Ok((StatusCode::CREATED, Json(views::location(&location))))
}

/// `GET /stores/{id}/locations` (anyone), oldest first.
#[utoipa::path(get, path = "/api/v1/stores/{id}/locations", operation_id = "list_locations", tag = "Stores", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`")),
    responses(
        (status = 200, description = "The store's locations, oldest first.", body = s::LocationList),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let id = store_id(&app, &id)?;
    let items: Vec<Value> = app
        .shared
        .read_model
        .locations_of(&id)
        .iter()
        .map(views::location)
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `PATCH /locations/{id}` (admin, staff of its store).
#[utoipa::path(patch, path = "/api/v1/locations/{id}", operation_id = "update_location", tag = "Stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "`loc_…`")),
    request_body = UpdateLocation,
    responses(
        (status = 200, description = "The location.", body = s::Location),
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
pub async fn update(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<UpdateLocation>,
) -> Result<Json<Value>, AppError> {
    let location = LocationId::parse(&id)
        .and_then(|id| app.shared.read_model.location(&id))
        .ok_or(AppError::NotFound)?;
    caller.require_store_staff(&location.store_id)?;
    let location = app
        .catalog
        .update_location(&location.id, body.name, body.priority, body.active)
        .await?;
    Ok(Json(views::location(&location)))
}

/// `PATCH /stores/{id}` (admin, staff of the store): the allocation strategy.
#[utoipa::path(patch, path = "/api/v1/stores/{id}", operation_id = "update_store", tag = "Stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`")),
    request_body = UpdateStore,
    responses(
        (status = 200, description = "The store.", body = s::Store),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn update_store(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<UpdateStore>,
) -> Result<Json<Value>, AppError> {
    let id = store_id(&app, &id)?;
    caller.require_store_staff(&id)?;
    let store = match body.allocation {
        Some(allocation) => app.catalog.set_store_allocation(&id, allocation).await?,
        None => app
            .shared
            .read_model
            .stores
            .get(&id)
            .map(|s| s.clone())
            .ok_or(AppError::NotFound)?,
    };
    Ok(Json(views::store(&store)))
}

/// `POST /products/{id}/inventory/transfers` (admin, staff of the product's store).
#[utoipa::path(post, path = "/api/v1/products/{id}/inventory/transfers", operation_id = "transfer_inventory", tag = "Products", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    request_body = CreateTransfer,
    responses(
        (status = 200, description = "The stock after the transfer (two `transfer` movements).", body = s::Inventory),
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
pub async fn transfer(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<CreateTransfer>,
) -> Result<Json<Value>, AppError> {
    let id = ProductId::parse(&id).ok_or(AppError::NotFound)?;
    let current = app
        .shared
        .read_model
        .product(&id)
        .ok_or(AppError::NotFound)?;
    let store = &current.catalog.store_id;
    caller.require_store_staff(store)?;
    let from = store_location(&app, store, &body.from, "from")?;
    let to = store_location(&app, store, &body.to, "to")?;
    if from == to {
        return Err(AppError::field("to", "must differ from `from`"));
    }
    if !(1..=crate::domain::stock::MAX_UNITS).contains(&body.quantity) {
        return Err(AppError::field("quantity", "must be 1-1000000000"));
    }
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(AppError::field("note", "must be at most 1000 characters"));
    }
    let transfer = Transfer {
        from,
        to,
        quantity: body.quantity,
        note: body.note,
    };
    let view = app
        .products
        .call(&id, |reply| ProductMsg::Transfer {
            transfer: Box::new(transfer.clone()),
            by: caller.name(),
            reply,
        })
        .await?;
    Ok(Json(views::inventory(&view)))
}
