//! `/api/v1/carts` (docs/API.md §8).

use super::{
    extract::{ApiJson, ApiPath, Caller, decode},
    idempotency::Idempotency,
    schema as s,
};
use crate::{
    actors::cart::CartMsg,
    app::App,
    domain::{
        cart::Cart,
        ids::{CartId, ProductId, StoreId},
        time::now_ms,
    },
    error::AppError,
    services::orders::may_read_cart,
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
use std::sync::Arc;
use utoipa::ToSchema;

/// A new cart (the body is optional).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCart {
    /// `str_…`: binds the cart to this store from the start, so another store's product is a
    /// 409 `store_mismatch` even while the cart is empty.
    store_id: Option<String>,
}

/// A cart line's new quantity.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// 0 (removes the line) to `carts.max_quantity_per_product`.
    quantity: i64,
}

/// The cart, if `caller` may see it (404 otherwise).
async fn visible_cart(app: &Arc<App>, caller: &Caller, raw: &str) -> Result<Arc<Cart>, AppError> {
    let id = CartId::parse(raw).ok_or(AppError::NotFound)?;
    let cart = app
        .commerce
        .call_cart(&id, |reply| CartMsg::Get { reply })
        .await?;
    if may_read_cart(caller, &cart) {
        Ok(cart)
    } else {
        Err(AppError::NotFound)
    }
}

/// `POST /carts` (anyone) with an optional `{"store_id"}` body: a customer's cart belongs to
/// them; others are reachable by id. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/carts", operation_id = "create_cart", tag = "Carts", security((), ("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body(content = Option<CreateCart>, content_type = "application/json"),
    responses(
        (status = 201, description = "An empty cart (bound to `store_id` when given).", body = s::Cart),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge(app.config.http.max_body_bytes)
        } else {
            AppError::InvalidJson(format!("could not read the body: {rejection}"))
        }
    })?;
    let (store, raw) = if body.is_empty() {
        (None, Value::Null)
    } else {
        let (body, raw) = decode::<CreateCart>(&body)?;
        (body.store_id, raw)
    };
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            let store_id = match store {
                None => None,
                Some(raw) => Some(
                    StoreId::parse(&raw)
                        .filter(|id| app.shared.read_model.stores.contains_key(id))
                        .ok_or(AppError::NotFound)?,
                ),
            };
            let cart = new_cart(&app, &caller, store_id).await?;
            Ok((StatusCode::CREATED, views::cart(&cart, now_ms())))
        })
        .await)
}

async fn new_cart(
    app: &Arc<App>,
    caller: &Caller,
    store_id: Option<StoreId>,
) -> Result<Cart, AppError> {
    let customer_id = match &caller {
        Caller::Customer { user_id } => Some(user_id.clone()),
        _ => None,
    };
    let now = now_ms();
    let mut cart = Cart {
        id: CartId::generate(),
        store_bound: store_id.is_some(),
        store_id,
        customer_id,
        lines: Vec::new(),
        hold: None,
        created_at: now,
        updated_at: now,
        expires_at: now + crate::actors::cart::cart_ttl_ms(&app.commerce),
        version: 0,
    };
    app.commerce.save_cart(&mut cart, None, false).await?;
    Ok(cart)
}

/// `GET /carts/{id}`.
#[utoipa::path(get, path = "/api/v1/carts/{id}", operation_id = "get_cart", tag = "Carts", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`cart_…`")),
    responses(
        (status = 200, description = "The cart.", body = s::Cart),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let cart = visible_cart(&app, &caller, &id).await?;
    Ok(Json(views::cart(&cart, now_ms())))
}

/// `PUT /carts/{id}/items/{product_id}`: sets the line's quantity (0 removes it).
#[utoipa::path(put, path = "/api/v1/carts/{id}/items/{product_id}", operation_id = "set_cart_item", tag = "Carts", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`cart_…`"), ("product_id" = String, Path, description = "`prod_…`")),
    request_body = SetQuantity,
    responses(
        (status = 200, description = "The cart; its hold covers the new quantity.", body = s::Cart),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn set_item(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath((id, product)): ApiPath<(String, String)>,
    ApiJson(body, _): ApiJson<SetQuantity>,
) -> Result<Json<Value>, AppError> {
    let max = app.config.carts.max_quantity_per_product;
    if !(0..=i64::try_from(max).unwrap_or(i64::MAX)).contains(&body.quantity) {
        return Err(AppError::field(
            "quantity",
            format!("must be between 0 and {max} (carts.max_quantity_per_product)"),
        ));
    }
    change(&app, &caller, &id, &product, body.quantity).await
}

/// `DELETE /carts/{id}/items/{product_id}`.
#[utoipa::path(delete, path = "/api/v1/carts/{id}/items/{product_id}", operation_id = "remove_cart_item", tag = "Carts", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`cart_…`"), ("product_id" = String, Path, description = "`prod_…`")),
    responses(
        (status = 200, description = "The cart without the line; its units go back at once.", body = s::Cart),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 409, response = s::Conflict),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn remove_item(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath((id, product)): ApiPath<(String, String)>,
) -> Result<Json<Value>, AppError> {
    change(&app, &caller, &id, &product, 0).await
}

async fn change(
    app: &Arc<App>,
    caller: &Caller,
    cart: &str,
    product: &str,
    quantity: i64,
) -> Result<Json<Value>, AppError> {
    let cart = visible_cart(app, caller, cart).await?;
    let product_id = ProductId::parse(product).ok_or(AppError::NotFound)?;
    let before = cart
        .lines
        .iter()
        .find(|l| l.product_id == product_id)
        .map_or(0, |l| l.quantity);
    let cart = app
        .commerce
        .call_cart(&cart.id, |reply| CartMsg::SetQuantity {
            product_id: product_id.clone(),
            quantity,
            reply,
        })
        .await??;
    let now = now_ms();
    // The funnel's "added to cart" (docs/API.md §14): a line that grew, counted like views.
    if quantity > before
        && let Some(store) = &cart.store_id
    {
        app.shared
            .discovery
            .cart_adds
            .record(&product_id, store, now);
    }
    Ok(Json(views::cart(&cart, now)))
}

/// `DELETE /carts/{id}` → 204; held units go back at once.
#[utoipa::path(delete, path = "/api/v1/carts/{id}", operation_id = "delete_cart", tag = "Carts", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`cart_…`")),
    responses(
        (status = 204, description = "Deleted; held units went back."),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    let cart = visible_cart(&app, &caller, &id).await?;
    app.commerce
        .call_cart(&cart.id, |reply| CartMsg::Delete {
            release: true,
            reply,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
