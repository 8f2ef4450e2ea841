//! `/api/v1/stores` (docs/API.md §4).

use super::extract::{ApiJson, ApiQuery, Caller, pagination};
use crate::{
    app::App,
    domain::{ids::StoreId, store::StoreKind},
    error::AppError,
    views,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateStore {
    name: String,
    kind: StoreKind,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    open: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListStores {
    page: Option<usize>,
    per_page: Option<usize>,
}

/// `POST /stores` (admin).
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<CreateStore>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    caller.require_admin()?;
    let store = app
        .catalog
        .create_store(body.name, body.kind, body.currency)
        .await?;
    Ok((StatusCode::CREATED, Json(views::store(&store))))
}

/// `GET /stores` (anyone), oldest first.
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
    let total = stores.len();
    let items = stores
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(views::store)
        .collect();
    Ok(Json(views::page(items, page, per_page, total)))
}

/// `GET /stores/{id}` (anyone).
pub async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
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
pub async fn set_status(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<SetStatus>,
) -> Result<Json<Value>, AppError> {
    let id = StoreId::parse(&id)
        .filter(|id| app.shared.read_model.stores.contains_key(id))
        .ok_or(AppError::NotFound)?;
    caller.require_store_staff(&id)?;
    let store = app.catalog.set_store_open(&id, body.open).await?;
    Ok(Json(views::store(&store)))
}
