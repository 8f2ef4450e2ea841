//! CSV exports and the product import of a store (docs/API.md §14).

use super::{
    extract::{ApiPath, ApiQuery, Caller},
    schema as s,
};
use crate::{
    app::App,
    domain::{ids::StoreId, time::parse_rfc3339},
    error::AppError,
    services::{
        self,
        exports::{self, Window},
    },
};
use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::IntoParams;

/// The time window of an export.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportWindow {
    /// RFC 3339: the earliest time included (default: the beginning).
    #[param(format = DateTime)]
    from: Option<String>,
    /// RFC 3339: the first time excluded (default: now and later).
    #[param(format = DateTime)]
    to: Option<String>,
}

impl ExportWindow {
    fn window(&self) -> Result<Window, AppError> {
        let parse = |field: &str, value: &Option<String>| match value {
            None => Ok(None),
            Some(text) => parse_rfc3339(text)
                .map(Some)
                .ok_or_else(|| AppError::field(field, "must be an RFC 3339 time")),
        };
        let window = Window {
            from: parse("from", &self.from)?,
            to: parse("to", &self.to)?,
        };
        if let (Some(from), Some(to)) = (window.from, window.to)
            && from > to
        {
            return Err(AppError::field("to", "must not be before from"));
        }
        Ok(window)
    }
}

/// Options of an import.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportOptions {
    /// Only check the file and answer what would be created and updated.
    dry_run: Option<bool>,
}

fn store_id(app: &App, id: &str) -> Result<StoreId, AppError> {
    StoreId::parse(id)
        .filter(|id| app.shared.read_model.stores.contains_key(id))
        .ok_or(AppError::NotFound)
}

fn csv_answer(bytes: Vec<u8>, name: &str, store: &StoreId) -> Response {
    let disposition = format!("attachment; filename=\"{name}-{store}.csv\"");
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// `GET /stores/{id}/exports/orders.csv` (staff of the store, admin): orders created in the
/// window, oldest first.
#[utoipa::path(get, path = "/api/v1/stores/{id}/exports/orders.csv", operation_id = "export_orders", tag = "Stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`"), ExportWindow),
    responses(
        (status = 200, description = "RFC 4180 CSV: `number,order_id,created_at,status,customer_id,items,item_count,total,currency,payment_status,shipping_address,note`.", body = String, content_type = "text/csv"),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn orders(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ExportWindow>,
) -> Result<Response, AppError> {
    let store = store_id(&app, &id)?;
    caller.require_store_staff(&store)?;
    let window = query.window()?;
    let bytes = exports::orders_csv(&app.shared, &store, window)?;
    Ok(csv_answer(bytes, "orders", &store))
}

/// `GET /stores/{id}/exports/movements.csv` (staff of the store, admin): inventory movements
/// in the window, oldest first.
#[utoipa::path(get, path = "/api/v1/stores/{id}/exports/movements.csv", operation_id = "export_movements", tag = "Stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`"), ExportWindow),
    responses(
        (status = 200, description = "RFC 4180 CSV: `at,movement_id,product_id,sku,location_id,kind,reason,delta,on_hand_after,reference,note,by`.", body = String, content_type = "text/csv"),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn movements(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ExportWindow>,
) -> Result<Response, AppError> {
    let store = store_id(&app, &id)?;
    caller.require_store_staff(&store)?;
    let window = query.window()?;
    let bytes = exports::movements_csv(&app.shared, &store, window)?;
    Ok(csv_answer(bytes, "movements", &store))
}

/// A `text/csv` body within `http.max_body_bytes`.
pub struct CsvBody(Bytes);

impl FromRequest<Arc<App>> for CsvBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &Arc<App>) -> Result<Self, AppError> {
        let is_csv = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("text/csv"));
        if !is_csv {
            return Err(AppError::UnsupportedMediaType);
        }
        let limit = state.config.http.max_body_bytes;
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge(limit)
                } else {
                    AppError::InvalidJson(format!("could not read the body: {rejection}"))
                }
            })
    }
}

/// `POST /stores/{id}/imports/products` (staff of the store, admin): creates new SKUs and
/// updates existing ones; one bad line and nothing is applied.
#[utoipa::path(post, path = "/api/v1/stores/{id}/imports/products", operation_id = "import_products", tag = "Stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`"), ImportOptions),
    request_body(content = String, content_type = "text/csv",
        description = "Header `sku,name,price,category,brand,description,initial_stock,low_stock_threshold` (any order); `price` in minor units; at most 10 000 lines."),
    responses(
        (status = 200, description = "What was (or, with `dry_run`, would be) created and updated.", body = s::ImportOutcome),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn import_products(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ImportOptions>,
    CsvBody(body): CsvBody,
) -> Result<Json<Value>, AppError> {
    let store = store_id(&app, &id)?;
    caller.require_store_staff(&store)?;
    let outcome = services::imports::import_products(
        &app.shared,
        &app.catalog,
        &app.products,
        &store,
        &body,
        query.dry_run.unwrap_or(false),
        &caller.name(),
    )
    .await?;
    Ok(Json(
        json!({"created": outcome.created, "updated": outcome.updated}),
    ))
}
