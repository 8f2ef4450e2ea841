//! `/api/v1/admin/exchange-rates` (docs/API.md §14): the rates `?currency=` converts with.

use super::{
    extract::{ApiJson, Caller},
    schema as s,
};
use crate::{
    app::App,
    domain::{currency::ExchangeRates, time::rfc3339},
    error::AppError,
    services,
};
use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Arc};
use utoipa::ToSchema;

/// The base a server without rates reports.
const DEFAULT_BASE: &str = "USD";

/// New rates, replacing all the old ones.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRates {
    /// ISO 4217 code every rate is quoted against.
    #[schema(example = "USD")]
    base: String,
    /// Code → units per one `base`, as decimal strings (`"0.92"`, `"151.30"`): positive,
    /// at most 12 decimal places.
    #[schema(example = json!({"EUR": "0.92", "JPY": "151.30"}))]
    rates: BTreeMap<String, String>,
}

fn view(rates: Option<&ExchangeRates>) -> Value {
    match rates {
        Some(r) => json!({
            "base": r.base,
            "rates": r.rates.iter().map(|(code, rate)| (code.clone(), Value::String(rate.to_string()))).collect::<serde_json::Map<_, _>>(),
            "updated_at": rfc3339(r.updated_at),
        }),
        None => json!({"base": DEFAULT_BASE, "rates": {}, "updated_at": null}),
    }
}

/// `GET /admin/exchange-rates` (anyone: storefronts show converted prices).
#[utoipa::path(get, path = "/api/v1/admin/exchange-rates", operation_id = "get_exchange_rates", tag = "Currencies", security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The rates; empty with `updated_at: null` before an admin set any.", body = s::ExchangeRates),
        (status = 401, response = s::Unauthorized),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(State(app): State<Arc<App>>) -> Json<Value> {
    Json(view(app.shared.read_model.exchange_rates().as_deref()))
}

/// `PUT /admin/exchange-rates` (admin): replaces every rate.
#[utoipa::path(put, path = "/api/v1/admin/exchange-rates", operation_id = "set_exchange_rates", tag = "Currencies", security(("bearer" = [])),
    request_body = SetRates,
    responses(
        (status = 200, description = "The rates now.", body = s::ExchangeRates),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn set(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<SetRates>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let base = body.base.trim().to_ascii_uppercase();
    let rates = body
        .rates
        .into_iter()
        .map(|(code, rate)| (code.trim().to_ascii_uppercase(), rate.trim().to_owned()))
        .collect();
    let rates = services::currency::set_rates(&app.shared, &base, &rates).await?;
    Ok(Json(view(Some(&rates))))
}
