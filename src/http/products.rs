//! `/api/v1/products` and inventory (docs/API.md §5).

use super::extract::{ApiJson, ApiQuery, Caller, pagination};
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
    views::{self, ProductView},
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::{collections::BTreeMap, sync::Arc};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    store_id: String,
    sku: String,
    name: String,
    price: Money,
    description: Option<String>,
    category: Option<String>,
    brand: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    image_urls: Vec<String>,
    #[serde(default)]
    initial_stock: i64,
    #[serde(default)]
    low_stock_threshold: i64,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    category: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    brand: Option<Option<String>>,
    price: Option<Money>,
    attributes: Option<BTreeMap<String, String>>,
    image_urls: Option<Vec<String>>,
    low_stock_threshold: Option<i64>,
    status: Option<ProductStatus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    delta: i64,
    reason: AdjustmentReason,
    note: Option<String>,
    expected_version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListProducts {
    store_id: Option<String>,
    category: Option<String>,
    brand: Option<String>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: Option<bool>,
    q: Option<String>,
    status: Option<ProductStatus>,
    sort: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    page: Option<usize>,
    per_page: Option<usize>,
}

fn product_id(raw: &str) -> Result<ProductId, AppError> {
    ProductId::parse(raw).ok_or(AppError::NotFound)
}

fn view_of(app: &App, id: &ProductId) -> Result<ProductView, AppError> {
    app.shared.read_model.product(id).ok_or(AppError::NotFound)
}

/// `POST /products` (admin, staff of `store_id`).
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<CreateProduct>,
) -> Result<(StatusCode, Json<Value>), AppError> {
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
    let view = app.catalog.create_product(new, &caller.name()).await?;
    Ok((StatusCode::CREATED, Json(views::product(&view))))
}

/// `GET /products/{id}` (anyone).
pub async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(views::product(&view_of(&app, &product_id(&id)?)?)))
}

/// `GET /products/{id}/inventory` (anyone).
pub async fn inventory(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(views::inventory(&view_of(&app, &product_id(&id)?)?)))
}

/// `PATCH /products/{id}` (admin, staff of the product's store).
pub async fn update(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
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
    };
    let errors = patch.validate(&current.catalog.price.currency);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let view = app
        .products
        .call(&id, |reply| ProductMsg::Update {
            patch: patch.clone(),
            reply,
        })
        .await?;
    Ok(Json(views::product(&view)))
}

/// `DELETE /products/{id}` (admin, staff of the product's store): archives.
pub async fn archive(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
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
            patch: CatalogPatch {
                status: Some(ProductStatus::Archived),
                ..CatalogPatch::default()
            },
            reply,
        })
        .await?;
    Ok(Json(views::product(&view)))
}

/// `POST /products/{id}/inventory/adjustments` (admin, staff of the product's store).
pub async fn adjust(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<Adjust>,
) -> Result<Json<Value>, AppError> {
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
    let view = app
        .products
        .call(&id, |reply| ProductMsg::Adjust {
            delta: body.delta,
            reason: body.reason,
            note: body.note.clone(),
            by: caller.name(),
            expected_version: body.expected_version,
            reply,
        })
        .await?;
    Ok(Json(views::inventory(&view)))
}

/// `GET /products/{id}/inventory/movements` (admin, staff of the product's store), newest
/// first. The movements are the store's private books: other users get 404.
pub async fn movements(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
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
    let store_id = match query.store_id.as_deref() {
        None => None,
        Some(raw) => match StoreId::parse(raw) {
            Some(id) => Some(id),
            // An unknown store simply has no products.
            None => return Ok(Json(views::page(Vec::new(), page, per_page, 0))),
        },
    };
    let words: Vec<String> = query
        .q
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let status = query.status.unwrap_or(ProductStatus::Active);
    let mut matches: Vec<(usize, ProductView)> = app
        .shared
        .read_model
        .products
        .iter()
        .filter_map(|entry| {
            let p = entry.value();
            let c = &p.catalog;
            let keep = c.status == status
                && store_id.as_ref().is_none_or(|s| &c.store_id == s)
                && query
                    .category
                    .as_ref()
                    .is_none_or(|x| c.category.as_ref() == Some(x))
                && query
                    .brand
                    .as_ref()
                    .is_none_or(|x| c.brand.as_ref() == Some(x))
                && query.min_price.is_none_or(|min| c.price.amount >= min)
                && query.max_price.is_none_or(|max| c.price.amount <= max)
                && (query.in_stock != Some(true) || p.stock.available > 0);
            if !keep {
                return None;
            }
            let score = relevance(p, &words)?;
            Some((score, p.clone()))
        })
        .collect();
    let by_created = |a: &ProductView, b: &ProductView| {
        (b.catalog.created_at, &b.catalog.id).cmp(&(a.catalog.created_at, &a.catalog.id))
    };
    match sort {
        Some("price") => matches.sort_by(|(_, a), (_, b)| {
            a.catalog
                .price
                .amount
                .cmp(&b.catalog.price.amount)
                .then_with(|| by_created(a, b))
        }),
        Some("-price") => matches.sort_by(|(_, a), (_, b)| {
            b.catalog
                .price
                .amount
                .cmp(&a.catalog.price.amount)
                .then_with(|| by_created(a, b))
        }),
        Some("name") => matches.sort_by(|(_, a), (_, b)| {
            a.catalog
                .name
                .to_lowercase()
                .cmp(&b.catalog.name.to_lowercase())
                .then_with(|| by_created(a, b))
        }),
        None if !words.is_empty() => {
            matches.sort_by(|(sa, a), (sb, b)| sb.cmp(sa).then_with(|| by_created(a, b)))
        }
        _ => matches.sort_by(|(_, a), (_, b)| by_created(a, b)),
    }
    let total = matches.len();
    let items = matches
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(_, p)| views::product(p))
        .collect();
    Ok(Json(views::page(items, page, per_page, total)))
}

/// How well a product matches every query word (name counts most); `None` when a word
/// matches nowhere. No words: everything matches equally.
fn relevance(p: &ProductView, words: &[String]) -> Option<usize> {
    let c = &p.catalog;
    let fields = [
        (c.name.to_lowercase(), 4),
        (c.category.as_deref().unwrap_or_default().to_lowercase(), 2),
        (c.brand.as_deref().unwrap_or_default().to_lowercase(), 2),
        (
            c.description.as_deref().unwrap_or_default().to_lowercase(),
            1,
        ),
    ];
    let mut score = 0;
    for word in words {
        let hit: usize = fields
            .iter()
            .filter(|(text, _)| text.contains(word.as_str()))
            .map(|(_, weight)| weight)
            .sum();
        if hit == 0 {
            return None;
        }
        score += hit;
    }
    Some(score)
}
