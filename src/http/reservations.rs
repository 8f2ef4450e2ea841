//! `/api/v1/reservations` (docs/API.md §6).

use super::{
    extract::{ApiJson, Caller},
    idempotency,
};
use crate::{
    app::App,
    domain::{
        ids::{ProductId, ReservationId},
        reservation::ReservationItem,
        time::now_ms,
    },
    error::AppError,
    services::reservations::NewReservation,
    views,
};
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    product_id: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateReservation {
    items: Vec<Item>,
    ttl_seconds: Option<u64>,
    #[serde(rename = "ref")]
    client_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extend {
    ttl_seconds: u64,
}

fn reservation_id(raw: &str) -> Result<ReservationId, AppError> {
    ReservationId::parse(raw).ok_or(AppError::NotFound)
}

/// `POST /reservations` (admin); honours `Idempotency-Key`.
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<CreateReservation>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let items = body
        .items
        .into_iter()
        .map(|item| {
            Ok(ReservationItem {
                product_id: ProductId::parse(&item.product_id).ok_or(AppError::NotFound)?,
                quantity: item.quantity,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let request = NewReservation {
        items,
        ttl_seconds: body.ttl_seconds,
        client_ref: body.client_ref,
    };
    Ok(idempotency::run(
        &app,
        &caller.name(),
        &headers,
        "POST /reservations",
        &raw,
        || async {
            let reservation = app.reservations.create(request, &caller.name()).await?;
            Ok((
                StatusCode::CREATED,
                views::reservation(&reservation, now_ms()),
            ))
        },
    )
    .await)
}

/// `GET /reservations/{id}` (admin).
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let reservation = app.reservations.get(&reservation_id(&id)?)?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}

/// `POST /reservations/{id}/commit` (admin).
pub async fn commit(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let reservation = app
        .reservations
        .commit(&reservation_id(&id)?, &caller.name())
        .await?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}

/// `POST /reservations/{id}/release` (admin).
pub async fn release(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let reservation = app.reservations.release(&reservation_id(&id)?).await?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}

/// `POST /reservations/{id}/extend` (admin).
pub async fn extend(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<Extend>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let reservation = app
        .reservations
        .extend(&reservation_id(&id)?, body.ttl_seconds)
        .await?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}
