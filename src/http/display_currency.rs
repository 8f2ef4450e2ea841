//! `?currency=` on reads of products, search, carts and orders (docs/API.md §14).
//!
//! A presentation concern that cuts across four resources, so it lives in one layer instead
//! of in each handler: on the routes of [`CONVERTED_ROUTES`] it takes `currency` out of the
//! query (the handlers' strict query types never see it), lets the handler answer, and adds
//! `display_price` / `display_subtotal` / `display_total` beside every money object named
//! `price` / `subtotal` / `total` in the JSON. Stored amounts and charges never change: the
//! conversion only exists in the answer. Requests without `currency` pass through untouched.

use crate::{
    app::App,
    domain::{
        currency::{ConversionError, ExchangeRates},
        money::{Money, is_known_currency},
        time::rfc3339,
    },
    error::AppError,
};
use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{Method, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The routes (as matched, under `/api/v1`) whose answers carry converted prices.
pub const CONVERTED_ROUTES: &[&str] = &[
    "/api/v1/products",
    "/api/v1/products/{id}",
    "/api/v1/search",
    "/api/v1/carts/{id}",
    "/api/v1/orders",
    "/api/v1/orders/{id}",
];

/// The members converted, and the member each conversion is added as.
const CONVERTED_MEMBERS: &[(&str, &str)] = &[
    ("price", "display_price"),
    ("subtotal", "display_subtotal"),
    ("total", "display_total"),
];

/// Largest answer converted (a page of 100 orders is far smaller).
const MAX_CONVERTED_BODY: usize = 16 * 1024 * 1024;

/// The middleware: see the module docs.
pub async fn convert(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let converted_route = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| CONVERTED_ROUTES.contains(&path.as_str()));
    if !converted_route {
        return next.run(request).await;
    }
    let (target, rest) = match take_currency(request.uri()) {
        Ok(Some(found)) => found,
        Ok(None) => return next.run(request).await,
        Err(error) => return error.into_response(),
    };
    let rates = app.shared.read_model.exchange_rates();
    *request.uri_mut() = rest;
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // The read's own errors (404, 403, …) come first; the code is judged only on success.
    if !response.status().is_success() || !is_json {
        return response;
    }
    if !is_known_currency(&target) {
        return AppError::field(
            "currency",
            format!("{target:?} is not a supported currency"),
        )
        .into_response();
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_CONVERTED_BODY).await else {
        return AppError::Internal("an answer too large to convert".into()).into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return AppError::Internal("a JSON answer that does not parse".into()).into_response();
    };
    if let Err(error) = decorate(&mut value, rates.as_deref(), &target) {
        return match error {
            ConversionError::NoRate { from, to } => AppError::NoExchangeRate { from, to },
            ConversionError::UnknownCurrency(code) => {
                AppError::field("currency", format!("{code:?} is not a supported currency"))
            }
        }
        .into_response();
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(value.to_string()))
}

/// The `currency` parameter (its last occurrence) and the URI without it; `None` when absent.
fn take_currency(uri: &Uri) -> Result<Option<(String, Uri)>, AppError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| AppError::field("query", "is not a valid query string"))?;
    let Some(target) = pairs
        .iter()
        .rev()
        .find(|(name, _)| name == "currency")
        .map(|(_, value)| value.clone())
    else {
        return Ok(None);
    };
    let kept: Vec<&(String, String)> = pairs.iter().filter(|(n, _)| n != "currency").collect();
    let kept = serde_urlencoded::to_string(kept)
        .map_err(|_| AppError::field("query", "is not a valid query string"))?;
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{kept}", uri.path())
    };
    let rest = path_and_query
        .parse::<Uri>()
        .map_err(|_| AppError::field("query", "is not a valid query string"))?;
    Ok(Some((target.trim().to_ascii_uppercase(), rest)))
}

/// Adds a converted figure beside every money member of [`CONVERTED_MEMBERS`], at any depth.
fn decorate(
    value: &mut Value,
    rates: Option<&ExchangeRates>,
    target: &str,
) -> Result<(), ConversionError> {
    match value {
        Value::Object(object) => {
            let mut added = Map::new();
            for (member, display) in CONVERTED_MEMBERS {
                let Some(money) = object.get(*member).and_then(as_money) else {
                    continue;
                };
                added.insert((*display).to_owned(), converted(&money, rates, target)?);
            }
            for child in object.values_mut() {
                decorate(child, rates, target)?;
            }
            object.extend(added);
        }
        Value::Array(items) => {
            for item in items {
                decorate(item, rates, target)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `{"amount","currency"}` object as money.
fn as_money(value: &Value) -> Option<Money> {
    let object = value.as_object()?;
    (object.len() == 2).then_some(())?;
    Some(Money {
        amount: object.get("amount")?.as_i64()?,
        currency: object.get("currency")?.as_str()?.to_owned(),
    })
}

fn converted(
    money: &Money,
    rates: Option<&ExchangeRates>,
    target: &str,
) -> Result<Value, ConversionError> {
    let no_rate = || ConversionError::NoRate {
        from: money.currency.clone(),
        to: target.to_owned(),
    };
    let converted = match rates {
        Some(rates) => rates.convert(money, target)?,
        None if money.currency == target => {
            return Ok(
                json!({"amount": money.amount, "currency": target, "rate": "1", "rate_at": Value::Null}),
            );
        }
        None => return Err(no_rate()),
    };
    Ok(json!({
        "amount": converted.money.amount,
        "currency": converted.money.currency,
        "rate": converted.rate.to_string(),
        "rate_at": rfc3339(converted.rate_at),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_currency_parameter_is_taken_out_of_the_query_and_the_rest_kept() {
        let uri: Uri = "/api/v1/products?store_id=str_1&currency=eur&page=2"
            .parse()
            .expect("uri");
        let (target, rest) = take_currency(&uri).expect("parses").expect("present");
        assert_eq!(target, "EUR");
        assert_eq!(rest.to_string(), "/api/v1/products?store_id=str_1&page=2");
        let bare: Uri = "/api/v1/orders/ord_1?currency=JPY".parse().expect("uri");
        assert_eq!(
            take_currency(&bare)
                .expect("parses")
                .expect("present")
                .1
                .to_string(),
            "/api/v1/orders/ord_1"
        );
        let none: Uri = "/api/v1/products?page=1".parse().expect("uri");
        assert!(take_currency(&none).expect("parses").is_none());
    }
}
