//! `/api/v1/reservations` (docs/API.md §6).

use super::{
    extract::{ApiJson, ApiPath, Caller},
    idempotency::Idempotency,
    schema as s,
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
use axum::{Json, extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

/// Units of one product to hold.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReservationItemRequest)]
pub struct Item {
    /// `prod_…`
    product_id: String,
    /// 1–1000000.
    quantity: i64,
}

/// A hold on several products, all or nothing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReservation {
    /// 1–100 distinct products.
    items: Vec<Item>,
    /// 1…`reservations.max_ttl_seconds` (default `reservations.default_ttl_seconds`).
    ttl_seconds: Option<u64>,
    /// Client text, ≤ 200 characters.
    #[serde(rename = "ref")]
    client_ref: Option<String>,
}

/// A new lifetime for an active reservation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extend {
    /// Seconds from now, 1…`reservations.max_ttl_seconds`.
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
#[utoipa::path(post, path = "/api/v1/reservations", operation_id = "create_reservation", tag = "Reservations", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = CreateReservation,
    responses(
        (status = 201, description = "The reservation, `active`.", body = s::Reservation),
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
    idempotency: Idempotency,
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
                allocations: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let request = NewReservation {
        items,
        ttl_seconds: body.ttl_seconds,
        client_ref: body.client_ref,
    };
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
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
        })
        .await)
}

/// `GET /reservations/{id}` (admin, staff of its first item's store).
#[utoipa::path(get, path = "/api/v1/reservations/{id}", operation_id = "get_reservation", tag = "Reservations", security(("bearer" = [])),
    params(("id" = String, Path, description = "`res_…`")),
    responses(
        (status = 200, description = "The reservation.", body = s::Reservation),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let reservation = visible(&app, &caller, &id)?;
    Ok(Json(views::reservation(&reservation, now_ms())))
}

/// `POST /reservations/{id}/commit` (whoever sees it); honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/reservations/{id}/commit", operation_id = "commit_reservation", tag = "Reservations", security(("bearer" = [])),
    params(("id" = String, Path, description = "`res_…`"), ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    responses(
        (status = 200, description = "The reservation, `committed` (repeats answer 200 again).", body = s::Reservation),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn commit(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, AppError> {
    let id = visible(&app, &caller, &id)?.id;
    Ok(idempotency
        .run(&app, &caller, &Value::Null, || async {
            let reservation = app.reservations.commit(&id, &caller.name()).await?;
            Ok((StatusCode::OK, views::reservation(&reservation, now_ms())))
        })
        .await)
}

/// `POST /reservations/{id}/release` (whoever sees it); honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/reservations/{id}/release", operation_id = "release_reservation", tag = "Reservations", security(("bearer" = [])),
    params(("id" = String, Path, description = "`res_…`"), ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    responses(
        (status = 200, description = "The reservation, `released` (or `expired`).", body = s::Reservation),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn release(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, AppError> {
    let id = visible(&app, &caller, &id)?.id;
    Ok(idempotency
        .run(&app, &caller, &Value::Null, || async {
            let reservation = app.reservations.release(&id).await?;
            Ok((StatusCode::OK, views::reservation(&reservation, now_ms())))
        })
        .await)
}

/// `POST /reservations/{id}/extend` (whoever sees it); honours `Idempotency-Key` (a retried
/// extension would otherwise move `expires_at` again).
#[utoipa::path(post, path = "/api/v1/reservations/{id}/extend", operation_id = "extend_reservation", tag = "Reservations", security(("bearer" = [])),
    params(("id" = String, Path, description = "`res_…`"), ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = Extend,
    responses(
        (status = 200, description = "The reservation with its new `expires_at`.", body = s::Reservation),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn extend(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, raw): ApiJson<Extend>,
) -> Result<Response, AppError> {
    let id = visible(&app, &caller, &id)?.id;
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            let reservation = app.reservations.extend(&id, body.ttl_seconds).await?;
            Ok((StatusCode::OK, views::reservation(&reservation, now_ms())))
        })
        .await)
}
