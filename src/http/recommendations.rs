//! `GET /api/v1/products/{id}/recommendations` (docs/API.md §11).

use super::{
    extract::{ApiPath, ApiQuery},
    schema as s,
};
use crate::{
    app::App,
    discovery::recommend::{self, Kind},
    domain::ids::ProductId,
    error::AppError,
    views,
};
use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::IntoParams;

/// Largest `limit`.
const MAX_LIMIT: usize = 20;

/// Default `limit`.
const DEFAULT_LIMIT: usize = 10;

/// Candidates of `similar` taken from the index, ranked after: enough that the ranking's
/// in-stock-first rule still has products to put first when the most alike are sold out.
const SIMILAR_CANDIDATES: usize = 200;

/// Parameters of `GET /products/{id}/recommendations`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecommendationsQuery {
    /// `also_bought` or `similar` (default).
    #[param(value_type = Option<s::RecommendationKind>)]
    kind: Option<String>,
    /// 1–20 (default 10).
    #[param(minimum = 1, maximum = 20)]
    limit: Option<usize>,
}

/// `GET /products/{id}/recommendations` (anyone).
#[utoipa::path(get, path = "/api/v1/products/{id}/recommendations", operation_id = "get_recommendations", tag = "Products", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`"), RecommendationsQuery),
    responses(
        (status = 200, description = "Recommended products of the same store, best first.", body = s::Recommendations),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<RecommendationsQuery>,
) -> Result<Json<Value>, AppError> {
    let kind = match query.kind.as_deref() {
        None => Kind::Similar,
        Some(raw) => Kind::parse(raw)
            .ok_or_else(|| AppError::field("kind", "must be also_bought or similar"))?,
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 20"));
    }
    let id = ProductId::parse(&id).ok_or(AppError::NotFound)?;
    let shared = &app.shared;
    let target = shared.read_model.product(&id).ok_or(AppError::NotFound)?;
    let similar = match kind {
        Kind::Similar => {
            super::search::read_your_writes(&app).await;
            app.search.similar_to(&target.catalog, SIMILAR_CANDIDATES)?
        }
        Kind::AlsoBought => Vec::new(),
    };
    let items: Vec<Value> = recommend::recommend(
        &shared.read_model,
        &shared.discovery.sales,
        &target,
        kind,
        &similar,
        limit,
    )
    .iter()
    .map(views::product)
    .collect();
    Ok(Json(json!({"kind": kind.as_str(), "items": items})))
}
