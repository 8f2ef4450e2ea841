//! `/api/v1/reservations` (docs/API.md §6).

use super::{
    extract::{ApiJson, Caller},
    idempotency,
};
use crate::{
    app::App,
    domain::{
        ids::{ProductId, ReservationId},
        reservation::{Reservation, ReservationItem},
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

/// The reservation `raw` names, if the caller may see it: admins, and the staff of the store
/// of its first item (401 for anonymous callers, 404 for everyone else, who are not told it
/// exists). Every action on a reservation is open to whoever sees it.
fn visible(app: &App, caller: &Caller, raw: &str) -> Result<Reservation, AppError> {
    if *caller == Caller::Anonymous {
        return Err(AppError::Unauthorized);
    }
    let reservation = app.reservations.get(&reservation_id(raw)?)?;
    if matches!(caller, Caller::Admin { .. }) {
        return Ok(reservation);
    }
    let store = reservation.items.first().and_then(|item| {
        app.shared
            .read_model
            .products
            .get(&item.product_id)
            .map(|p| p.catalog.store_id.clone())
    });
    match store {
        Some(store) if caller.sees_store(&store) => Ok(reservation),
        _ => Err(AppError::NotFound),
    }
}

/// `POST /reservations` (admin, staff of the store of every item); honours
/// `Idempotency-Key`.
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<CreateReservation>,
) -> Result<Response, AppError> {
    match caller {
        Caller::Anonymous => return Err(AppError::Unauthorized),
        Caller::Customer { .. } => return Err(AppError::Forbidden),
        Caller::Admin { .. } | Caller::Staff { .. } => {}
    }
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
            // Shape first, then the store of every item (refusals are answers like any other,
            // replayed for a repeated key).
            app.reservations.validate(&request)?;
            for item in &request.items {
                let store = app
                    .shared
                    .read_model
                    .products
                    .get(&item.product_id)
                    .map(|p| p.catalog.store_id.clone())
                    .ok_or(AppError::NotFound)?;
                caller.require_store_staff(&store)?;
            }
            let reservation = app.reservations.create(request, &caller.name()).await?;
            Ok((
                StatusCode::CREATED,
                views::reservation(&reservation, now_ms()),
            ))
        },
    )
    .await)
}

/// `GET /reservations/{id}` (admin, staff of its first item's store).
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let reservation = visible(&app, &caller, &id)?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}

/// `POST /reservations/{id}/commit` (whoever sees it).
pub async fn commit(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = visible(&app, &caller, &id)?.id;
    let reservation = app.reservations.commit(&id, &caller.name()).await?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}

/// `POST /reservations/{id}/release` (whoever sees it).
pub async fn release(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = visible(&app, &caller, &id)?.id;
    let reservation = app.reservations.release(&id).await?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}

/// `POST /reservations/{id}/extend` (whoever sees it).
pub async fn extend(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<Extend>,
) -> Result<Json<Value>, AppError> {
    let id = visible(&app, &caller, &id)?.id;
    let reservation = app.reservations.extend(&id, body.ttl_seconds).await?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}
