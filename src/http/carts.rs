//! `/api/v1/carts` (docs/API.md §8).

use super::extract::{ApiJson, Caller};
use crate::{
    actors::cart::CartMsg,
    app::App,
    domain::{
        cart::Cart,
        ids::{CartId, ProductId},
        time::now_ms,
    },
    error::AppError,
    services::orders::may_read_cart,
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
pub struct SetQuantity {
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

/// `POST /carts` (anyone): a customer's cart belongs to them; others are reachable by id.
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let customer_id = match &caller {
        Caller::Customer { user_id } => Some(user_id.clone()),
        _ => None,
    };
    let now = now_ms();
    let mut cart = Cart {
        id: CartId::generate(),
        store_id: None,
        customer_id,
        lines: Vec::new(),
        hold: None,
        created_at: now,
        updated_at: now,
        expires_at: now + crate::actors::cart::cart_ttl_ms(&app.commerce),
        version: 0,
    };
    app.commerce.save_cart(&mut cart, None, false).await?;
    Ok((StatusCode::CREATED, Json(views::cart(&cart, now))))
}

/// `GET /carts/{id}`.
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let cart = visible_cart(&app, &caller, &id).await?;
    Ok(Json(views::cart(&cart, now_ms())))
}

/// `PUT /carts/{id}/items/{product_id}`: sets the line's quantity (0 removes it).
pub async fn set_item(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((id, product)): Path<(String, String)>,
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
pub async fn remove_item(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((id, product)): Path<(String, String)>,
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
    let cart = app
        .commerce
        .call_cart(&cart.id, |reply| CartMsg::SetQuantity {
            product_id: product_id.clone(),
            quantity,
            reply,
        })
        .await??;
    Ok(Json(views::cart(&cart, now_ms())))
}

/// `DELETE /carts/{id}` → 204; held units go back at once.
pub async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
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
