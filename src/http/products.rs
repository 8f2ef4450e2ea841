//! `/api/v1/products` and inventory (docs/API.md §5).

use super::{
    extract::{ApiJson, ApiPath, ApiQuery, Caller, pagination},
    idempotency::Idempotency,
    schema as s, search,
};
use crate::{
    actors::product::ProductMsg,
    app::App,
    domain::{
        ids::{ProductId, StoreId},
        money::Money,
        product::{CatalogPatch, NewProduct, ProductStatus},
        stock::AdjustmentReason,
    },
    error::AppError,
    search::query::{Filters, Sort},
    views::{self, ProductView},
};
use axum::{Json, extract::State, http::StatusCode, response::Response};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::{collections::BTreeMap, sync::Arc};
use utoipa::{IntoParams, ToSchema};

/// A new product.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// `str_…`
    store_id: String,
    /// 1–64 of `[A-Za-z0-9._-]`, unique per store case-insensitively.
    #[schema(example = "TEE-BLUE-M")]
    sku: String,
    /// 1–200 characters.
    name: String,
    /// In the store's currency.
    price: Money,
    /// ≤ 10000 characters.
    description: Option<String>,
    /// ≤ 100 characters.
    category: Option<String>,
    /// ≤ 100 characters.
    brand: Option<String>,
    /// String → string, ≤ 50 pairs.
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    /// ≤ 20 http(s) URLs.
    #[serde(default)]
    image_urls: Vec<String>,
    /// ≥ 0 (default 0).
    #[serde(default)]
    initial_stock: i64,
    /// ≥ 0 (default 0).
    #[serde(default)]
    low_stock_threshold: i64,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(super) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A field that may be left out but not set to `null` (nothing to clear it to): `null` is a
/// 422 for that field instead of being read as "unchanged".
pub(super) fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("must not be null")),
    }
}

/// Any of the catalog fields; `null` clears `description`, `category` and `brand` and is
/// refused (422) for the others.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    /// 1–200 characters.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    name: Option<String>,
    /// ≤ 10000 characters; `null` clears.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// ≤ 100 characters; `null` clears.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    category: Option<Option<String>>,
    /// ≤ 100 characters; `null` clears.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    brand: Option<Option<String>>,
    /// In the store's currency; existing cart lines keep their price.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    price: Option<Money>,
    /// Replaces every attribute.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    attributes: Option<BTreeMap<String, String>>,
    /// Replaces every image.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    image_urls: Option<Vec<String>>,
    /// ≥ 0.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    low_stock_threshold: Option<i64>,
    /// `archived` withdraws the product.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    status: Option<ProductStatus>,
}

/// A manual change of `on_hand`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    /// Signed change, not 0; `on_hand + delta` may not drop below `reserved`.
    delta: i64,
    /// Why (`initial` is refused: it is reserved for the creation movement).
    reason: AdjustmentReason,
    /// ≤ 1000 characters.
    note: Option<String>,
    /// Refuse with 409 `version_mismatch` unless the stock version is this.
    expected_version: Option<u64>,
    /// `loc_…` of the product's store whose units change (default: the default location).
    location_id: Option<String>,
}

/// Filters, sort and pagination of `GET /products`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProducts {
    /// Only this store's products (a malformed id answers an empty page).
    store_id: Option<String>,
    /// Exact category.
    category: Option<String>,
    /// Exact brand.
    brand: Option<String>,
    /// Lowest price in minor units.
    #[param(minimum = 0)]
    min_price: Option<i64>,
    /// Highest price in minor units.
    #[param(minimum = 0)]
    max_price: Option<i64>,
    /// `true`: only products with `available > 0`.
    in_stock: Option<bool>,
    /// Words matched against name, description, category and brand (≤ 200 characters).
    #[param(max_length = 200)]
    q: Option<String>,
    /// Default `active`.
    status: Option<ProductStatus>,
    /// Default `-created_at` (with `q`: relevance).
    #[param(value_type = Option<s::ProductSort>)]
    sort: Option<String>,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

/// Pagination of a list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

fn product_id(raw: &str) -> Result<ProductId, AppError> {
    ProductId::parse(raw).ok_or(AppError::NotFound)
}

fn view_of(app: &App, id: &ProductId) -> Result<ProductView, AppError> {
    app.shared.read_model.product(id).ok_or(AppError::NotFound)
}

/// `POST /products` (admin, staff of `store_id`); honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/products", operation_id = "create_product", tag = "Products", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = CreateProduct,
    responses(
        (status = 201, description = "The new product.", body = s::Product),
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
    ApiJson(body, raw): ApiJson<CreateProduct>,
) -> Result<Response, AppError> {
    if caller == Caller::Anonymous {
        return Err(AppError::Unauthorized);
    }
    let store_id = StoreId::parse(&body.store_id).ok_or(AppError::NotFound)?;
    caller.require_store_staff(&store_id)?;
    let new = NewProduct {
        store_id,
        sku: body.sku,
        name: body.name,
        description: body.description,
        category: body.category,
        brand: body.brand,
        price: body.price,
        attributes: body.attributes,
        image_urls: body.image_urls,
        initial_stock: body.initial_stock,
        low_stock_threshold: body.low_stock_threshold,
    };
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            let view = app.catalog.create_product(new, &caller.name()).await?;
            Ok((StatusCode::CREATED, views::product(&view)))
        })
        .await)
}

/// `GET /products/{id}` (anyone); counts one product view (docs/API.md §11).
#[utoipa::path(get, path = "/api/v1/products/{id}", operation_id = "get_product", tag = "Products", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    responses(
        (status = 200, description = "The product.", body = s::Product),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let view = view_of(&app, &product_id(&id)?)?;
    app.shared.discovery.views.record(
        &view.catalog.id,
        &view.catalog.store_id,
        crate::domain::time::now_ms(),
    );
    Ok(Json(views::product(&view)))
}

/// `GET /products/{id}/inventory` (anyone).
#[utoipa::path(get, path = "/api/v1/products/{id}/inventory", operation_id = "get_inventory", tag = "Products", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    responses(
        (status = 200, description = "The product's stock.", body = s::Inventory),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn inventory(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(views::inventory(&view_of(&app, &product_id(&id)?)?)))
}

/// `PATCH /products/{id}` (admin, staff of the product's store).
#[utoipa::path(patch, path = "/api/v1/products/{id}", operation_id = "update_product", tag = "Products", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    request_body = UpdateProduct,
    responses(
        (status = 200, description = "The product; `product.updated` is published.", body = s::Product),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn update(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<UpdateProduct>,
) -> Result<Json<Value>, AppError> {
    let id = product_id(&id)?;
    let current = view_of(&app, &id)?;
    caller.require_store_staff(&current.catalog.store_id)?;
    let patch = CatalogPatch {
        name: body.name,
        description: body.description,
        category: body.category,
        brand: body.brand,
        price: body.price,
        attributes: body.attributes,
        image_urls: body.image_urls,
        low_stock_threshold: body.low_stock_threshold,
        status: body.status,
        image_edit: None,
    };
    let errors = patch.validate(&current.catalog.price.currency);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let view = app
        .products
        .call(&id, |reply| ProductMsg::Update {
            patch: Box::new(patch.clone()),
            reply,
        })
        .await?;
    Ok(Json(views::product(&view)))
}

/// `DELETE /products/{id}` (admin, staff of the product's store): archives.
#[utoipa::path(delete, path = "/api/v1/products/{id}", operation_id = "archive_product", tag = "Products", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    responses(
        (status = 200, description = "The product, `archived`.", body = s::Product),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn archive(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let id = product_id(&id)?;
    let current = view_of(&app, &id)?;
    caller.require_store_staff(&current.catalog.store_id)?;
    if current.catalog.status == ProductStatus::Archived {
        return Ok(Json(views::product(&current)));
    }
    let view = app
        .products
        .call(&id, |reply| ProductMsg::Update {
            patch: Box::new(CatalogPatch {
                status: Some(ProductStatus::Archived),
                ..CatalogPatch::default()
            }),
            reply,
        })
        .await?;
    Ok(Json(views::product(&view)))
}

/// `POST /products/{id}/inventory/adjustments` (admin, staff of the product's store); honours
/// `Idempotency-Key`, so a retried adjustment is applied once.
#[utoipa::path(post, path = "/api/v1/products/{id}/inventory/adjustments", operation_id = "adjust_inventory", tag = "Products", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`"), ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = Adjust,
    responses(
        (status = 200, description = "The stock after the adjustment.", body = s::Inventory),
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
pub async fn adjust(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, raw): ApiJson<Adjust>,
) -> Result<Response, AppError> {
    let id = product_id(&id)?;
    let current = view_of(&app, &id)?;
    caller.require_store_staff(&current.catalog.store_id)?;
    if body.delta == 0 {
        return Err(AppError::field("delta", "must not be 0"));
    }
    if body.reason == AdjustmentReason::Initial {
        return Err(AppError::field(
            "reason",
            "must be restock, return, correction, damage or shrinkage",
        ));
    }
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(AppError::field("note", "must be at most 1000 characters"));
    }
    let location = body
        .location_id
        .as_deref()
        .map(|raw| {
            super::locations::store_location(&app, &current.catalog.store_id, raw, "location_id")
        })
        .transpose()?;
    Ok(idempotency
        .run(&app, &caller, &raw, || async {
            let view = app
                .products
                .call(&id, |reply| ProductMsg::Adjust {
                    delta: body.delta,
                    reason: body.reason,
                    note: body.note.clone(),
                    by: caller.name(),
                    expected_version: body.expected_version,
                    location: location.clone(),
                    reply,
                })
                .await?;
            Ok((StatusCode::OK, views::inventory(&view)))
        })
        .await)
}

/// `GET /products/{id}/inventory/movements` (admin, staff of the product's store), newest
/// first. The movements are the store's private books: other users get 404.
#[utoipa::path(get, path = "/api/v1/products/{id}/inventory/movements", operation_id = "list_movements", tag = "Products", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`"), Page),
    responses(
        (status = 200, description = "A page of movements, newest first.", body = s::MovementPage),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn movements(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<Page>,
) -> Result<Json<Value>, AppError> {
    if caller == Caller::Anonymous {
        return Err(AppError::Unauthorized);
    }
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let id = product_id(&id)?;
    let view = view_of(&app, &id)?;
    caller.require_sees_store(&view.catalog.store_id)?;
    let offset = (page - 1).saturating_mul(per_page);
    let storage = app.shared.storage.clone();
    let found = tokio::task::spawn_blocking(move || storage.movements(&id, offset, per_page))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    let items = found.iter().map(views::movement).collect();
    let total = usize::try_from(view.movements).unwrap_or(usize::MAX);
    Ok(Json(views::page(items, page, per_page, total)))
}

/// `GET /products` (anyone): filters, sort, pagination.
#[utoipa::path(get, path = "/api/v1/products", operation_id = "list_products", tag = "Products", security((), ("bearer" = [])),
    params(ListProducts),
    responses(
        (status = 200, description = "A page of products.", body = s::ProductPage),
        (status = 401, response = s::Unauthorized),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiQuery(query): ApiQuery<ListProducts>,
) -> Result<Json<Value>, AppError> {
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let sort = match query.sort.as_deref() {
        None => None,
        Some(s @ ("price" | "-price" | "name" | "-created_at")) => Some(s),
        Some(_) => {
            return Err(AppError::field(
                "sort",
                "must be price, -price, name or -created_at",
            ));
        }
    };
    for (field, value) in [
        ("min_price", query.min_price),
        ("max_price", query.max_price),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(AppError::field(field, "must be at least 0"));
        }
    }
    if query.q.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(AppError::field("q", "must be at most 200 characters"));
    }
    let (store, unknown_store) = match query.store_id.as_deref() {
        None => (None, false),
        // An unknown store simply has no products.
        Some(raw) => match StoreId::parse(raw) {
            Some(id) => (Some(id), false),
            None => (None, true),
        },
    };
    let parsed = search::Parsed {
        q: query.q,
        filters: Filters {
            store,
            status: query.status.unwrap_or(ProductStatus::Active),
            categories: query.category.into_iter().collect(),
            brands: query.brand.into_iter().collect(),
            min_price: query.min_price,
            max_price: query.max_price,
            in_stock: query.in_stock == Some(true),
            min_rating: None,
            attributes: Default::default(),
        },
        facets: Vec::new(),
        sort: sort.and_then(Sort::parse),
        page,
        per_page,
        unknown_store,
    };
    // The same engine as `/search`, with this list's contract: every word must match.
    let (results, _) = search::answer(&app, &parsed, true).await?;
    let items = results
        .items
        .iter()
        .map(|found| views::product(&found.product))
        .collect();
    Ok(Json(views::page(items, page, per_page, results.total)))
}
