//! REST routes (docs/API.md §3–§6) and the WebSocket upgrade, on one axum router.

mod asyncapi;
mod auth;
mod carts;
mod display_currency;
pub mod error;
mod events;
mod exchange_rates;
mod exports;
pub mod extract;
mod field_text;
mod fulfillment;
mod headers;
mod health;
mod idempotency;
mod insights;
mod locations;
mod media;
mod notifications;
pub mod openapi;
mod orders;
mod products;
pub mod raw_limits;
mod recommendations;
mod reservations;
mod reviews;
pub mod schema;
pub(crate) mod search;
pub mod socket;
mod stores;
pub mod telemetry;
mod topics;
mod unique_keys;
mod users;
mod waitlist;
mod webhooks;

use crate::{app::App, error::AppError};
use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, patch, post, put},
};
use std::sync::Arc;

/// The whole HTTP surface of the server.
pub fn router(app: Arc<App>) -> Router {
    router_with(app, Router::new())
}

/// [`router`] with `extra` routes nested under `/api/v1` behind the same middleware (ready and
/// bearer guard, body limit, request id, metrics). The load harness mounts its no-op
/// baseline handler this way, so a benchmark ratio isolates what an endpoint itself costs.
pub fn router_with(app: Arc<App>, extra: Router<Arc<App>>) -> Router {
    let api = Router::new()
        .route("/stores", get(stores::list).post(stores::create))
        .route(
            "/stores/{id}",
            get(stores::get).patch(locations::update_store),
        )
        .route(
            "/stores/{id}/locations",
            get(locations::list).post(locations::create),
        )
        .route("/locations/{id}", patch(locations::update))
        .route("/stores/{id}/status", put(stores::set_status))
        .route("/stores/{id}/insights", get(insights::get))
        .route("/stores/{id}/exports/orders.csv", get(exports::orders))
        .route(
            "/stores/{id}/exports/movements.csv",
            get(exports::movements),
        )
        .route(
            "/stores/{id}/imports/products",
            post(exports::import_products),
        )
        .route(
            "/stores/{id}/synonyms",
            get(search::get_synonyms).put(search::set_synonyms),
        )
        .route("/search", get(search::search))
        .route("/search/suggest", get(search::suggest))
        .route("/products", get(products::list).post(products::create))
        .route(
            "/products/{id}",
            get(products::get)
                .patch(products::update)
                .delete(products::archive),
        )
        .route("/products/{id}/inventory", get(products::inventory))
        .route("/products/{id}/recommendations", get(recommendations::get))
        .route(
            "/products/{id}/inventory/adjustments",
            post(products::adjust),
        )
        .route(
            "/products/{id}/waitlist",
            get(waitlist::list)
                .post(waitlist::join)
                .delete(waitlist::leave),
        )
        .route(
            "/products/{id}/inventory/transfers",
            post(locations::transfer),
        )
        .route(
            "/products/{id}/inventory/movements",
            get(products::movements),
        )
        .route(
            "/products/{id}/reviews",
            get(reviews::list).post(reviews::create),
        )
        .route(
            "/products/{id}/reviews/{review_id}",
            put(reviews::update).delete(reviews::delete),
        )
        // The upload routes read their bodies up to `media.max_upload_bytes` themselves.
        .route(
            "/products/{id}/images",
            post(media::upload)
                .layer(DefaultBodyLimit::disable())
                .get(media::list),
        )
        .route("/products/{id}/images/upload-url", post(media::upload_url))
        .route("/products/{id}/images/{image_id}", delete(media::delete))
        .route(
            "/uploads/{token}",
            put(media::put_presigned).layer(DefaultBodyLimit::disable()),
        )
        .route("/reservations", post(reservations::create))
        .route("/reservations/{id}", get(reservations::get))
        .route("/reservations/{id}/commit", post(reservations::commit))
        .route("/reservations/{id}/release", post(reservations::release))
        .route("/reservations/{id}/extend", post(reservations::extend))
        .route("/carts", post(carts::create))
        .route("/carts/{id}", get(carts::get).delete(carts::delete))
        .route(
            "/carts/{id}/items/{product_id}",
            put(carts::set_item).delete(carts::remove_item),
        )
        .route("/orders", get(orders::list).post(orders::create))
        .route("/orders/{id}", get(orders::get))
        .route("/orders/{id}/status", put(orders::set_status))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/orders/{id}/fulfillments", post(fulfillment::create))
        .route("/orders/{id}/refunds", post(fulfillment::refund))
        .route("/orders/{id}/undo", post(fulfillment::undo))
        .route("/orders/{id}/returns", post(fulfillment::create_return))
        .route("/fulfillments/{id}/events", post(fulfillment::event))
        .route("/returns", get(fulfillment::list))
        .route("/returns/{id}/approve", post(fulfillment::approve))
        .route("/returns/{id}/reject", post(fulfillment::reject))
        .route("/returns/{id}/receive", post(fulfillment::receive))
        .route("/orders/{id}/events", get(events::order))
        .route("/events", get(events::topic))
        .route("/admin/payments", get(orders::ledger))
        .route(
            "/admin/exchange-rates",
            get(exchange_rates::get).put(exchange_rates::set),
        )
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/ws", get(socket::upgrade))
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/verify-email", post(auth::verify_email))
        .route("/auth/password-reset", post(auth::request_password_reset))
        .route(
            "/auth/password-reset/confirm",
            post(auth::confirm_password_reset),
        )
        .route("/me", get(auth::me))
        .route("/me/password", post(users::change_password))
        .route("/me/waitlist", get(waitlist::mine))
        .route("/users", get(users::list).post(auth::create_user))
        .route("/users/{id}", get(users::get).patch(users::update))
        .route(
            "/me/notification-preferences",
            get(notifications::get_preferences).put(notifications::set_preferences),
        )
        .route("/notifications", get(notifications::list))
        .route("/notifications/{id}", get(notifications::get))
        .merge(extra)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            display_currency::convert,
        ))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), guard));
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(telemetry::render))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/asyncapi.json", get(asyncapi::document))
        .route("/api/docs", get(openapi::docs_page))
        .route("/", get(crate::web::storefront))
        .route("/dashboard", get(crate::web::dashboard))
        .route("/insights", get(crate::web::insights))
        .route("/verify", get(crate::web::account))
        .route("/reset-password", get(crate::web::account))
        .route("/assets/{file}", get(crate::web::asset))
        .route("/media/{file}", get(media::file))
        .nest("/api/v1", api)
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(app.config.http.max_body_bytes));
    let mut router = router.with_state(Arc::clone(&app));
    // CORS answers preflights itself, before routing would call them 405.
    if let Some(cors) = headers::cors(&app.config.http.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(middleware::from_fn(headers::secure))
        // Outermost: request id, span, access log and request metrics for every answer.
        .layer(middleware::from_fn(telemetry::track))
}

/// Answers 503 while recovery runs or after storage failed, so no request sees a half-built
/// read model or writes into a database that cannot flush; and 401 for a present but invalid
/// `Authorization` header on every route, public reads included, so a client with a broken
/// token learns it at once instead of silently reading as anonymous (the credential
/// endpoints excepted, see [`auth::ignores_bearer`]).
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if !app.is_ready() {
        return AppError::Unavailable("not ready".into()).into_response();
    }
    if auth::ignores_bearer(request.uri().path()) {
        return next.run(request).await;
    }
    match extract::bearer(request.headers()) {
        Ok(None) => {}
        Ok(Some(token)) => {
            if let Err(error) = extract::caller_from_token(&app, token) {
                return error.into_response();
            }
        }
        Err(error) => return error.into_response(),
    }
    next.run(request).await
}

/// Fuzzing entry point (`fuzz/fuzz_targets/request_json.rs`): runs `bytes` through the JSON
/// body decoder for every request body type. Errors are fine; a panic is a bug.
pub fn fuzz_decode_bodies(bytes: &[u8]) {
    use extract::decode;
    let _ = decode::<stores::CreateStore>(bytes);
    let _ = decode::<stores::SetStatus>(bytes);
    let _ = decode::<locations::CreateLocation>(bytes);
    let _ = decode::<locations::UpdateLocation>(bytes);
    let _ = decode::<locations::UpdateStore>(bytes);
    let _ = decode::<locations::CreateTransfer>(bytes);
    let _ = decode::<waitlist::JoinWaitlist>(bytes);
    let _ = decode::<products::CreateProduct>(bytes);
    let _ = decode::<products::UpdateProduct>(bytes);
    let _ = decode::<products::Adjust>(bytes);
    let _ = decode::<reviews::WriteReview>(bytes);
    let _ = decode::<reservations::CreateReservation>(bytes);
    let _ = decode::<reservations::Extend>(bytes);
    let _ = decode::<auth::Register>(bytes);
    let _ = decode::<auth::Login>(bytes);
    let _ = decode::<auth::RefreshToken>(bytes);
    let _ = decode::<auth::CreateUser>(bytes);
    let _ = decode::<users::UpdateUser>(bytes);
    let _ = decode::<users::ChangePassword>(bytes);
    let _ = decode::<carts::SetQuantity>(bytes);
    let _ = decode::<carts::CreateCart>(bytes);
    let _ = decode::<orders::CreateOrder>(bytes);
    let _ = decode::<orders::SetStatus>(bytes);
    let _ = decode::<orders::CancelBody>(bytes);
    let _ = decode::<fulfillment::CreateFulfillment>(bytes);
    let _ = decode::<fulfillment::CreateShipmentEvent>(bytes);
    let _ = decode::<fulfillment::CreateRefund>(bytes);
    let _ = decode::<fulfillment::CreateReturn>(bytes);
    let _ = decode::<fulfillment::ReceiveReturn>(bytes);
}
