//! `/api/v1/stores` (docs/API.md §4).

use super::{
    extract::{ApiJson, ApiPath, ApiQuery, Caller, pagination},
    idempotency::Idempotency,
    schema as s,
};
use crate::{
    app::App,
    domain::{ids::StoreId, store::StoreKind},
    error::AppError,
    views,
};
use axum::{Json, extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A new store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStore {
    /// Display name.
    name: String,
    /// Retail or restaurant.
    kind: StoreKind,
    /// ISO 4217 code (`USD`, `EUR`, `JPY`, …).
    #[schema(example = "USD")]
    currency: String,
}

/// Opens or closes a store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetStoreStatus)]
pub struct SetStatus {
    /// Whether the store takes orders.
    open: bool,
}

/// Pagination of a list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListStores {
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

/// `POST /stores` (admin); honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/stores", operation_id = "create_store", tag = "Stores", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = CreateStore,
    responses(
        (status = 201, description = "The new store.", body = s::Store),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiJson(body, raw): ApiJson<CreateStore>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            let store = app
                .catalog
                .create_store(body.name, body.kind, body.currency)
                .await?;
            Ok((StatusCode::CREATED, views::store(&store)))
        })
        .await)
}

/// `GET /stores` (anyone), oldest first.
#[utoipa::path(get, path = "/api/v1/stores", operation_id = "list_stores", tag = "Stores", security((), ("bearer" = [])),
    params(ListStores),
    responses(
        (status = 200, description = "A page of stores, oldest first.", body = s::StorePage),
        (status = 401, response = s::Unauthorized),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiQuery(query): ApiQuery<ListStores>,
) -> Result<Json<Value>, AppError> {
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let mut stores: Vec<_> = app
        .shared
        .read_model
        .stores
        .iter()
        .map(|s| s.value().clone())
        .collect();
    stores.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(Json(views::page_of(&stores, page, per_page, views::store)))
}

/// `GET /stores/{id}` (anyone).
#[utoipa::path(get, path = "/api/v1/stores/{id}", operation_id = "get_store", tag = "Stores", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`")),
    responses(
        (status = 200, description = "The store.", body = s::Store),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let id = StoreId::parse(&id).ok_or(AppError::NotFound)?;
    let store = app
        .shared
        .read_model
        .stores
        .get(&id)
        .map(|s| views::store(&s))
        .ok_or(AppError::NotFound)?;
    Ok(Json(store))
}

/// `PUT /stores/{id}/status` (admin, staff of the store).
#[utoipa::path(put, path = "/api/v1/stores/{id}/status", operation_id = "set_store_status", tag = "Stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`")),
    request_body = SetStatus,
    responses(
        (status = 200, description = "The store; `store.status_changed` is published.", body = s::Store),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn set_status(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<SetStatus>,
) -> Result<Json<Value>, AppError> {
    let id = StoreId::parse(&id)
        .filter(|id| app.shared.read_model.stores.contains_key(id))
        .ok_or(AppError::NotFound)?;
    caller.require_store_staff(&id)?;
    let store = app.catalog.set_store_open(&id, body.open).await?;
    Ok(Json(views::store(&store)))
}
