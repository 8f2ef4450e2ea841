//! `/api/v1/products/{id}/reviews` (docs/API.md §11): verified-purchase reviews.

use super::{
    extract::{ApiJson, ApiPath, ApiQuery, Caller, pagination},
    schema as s,
};
use crate::{
    app::App,
    domain::{
        ids::{ProductId, ReviewId, UserId},
        review::ReviewDraft,
    },
    error::AppError,
    services::reviews::ReviewSort,
    views,
};
use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A review as its author writes it (`POST`), or its full replacement (`PUT`: a title or
/// body left out is cleared).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteReview {
    /// Whole stars, 1–5.
    #[schema(minimum = 1, maximum = 5)]
    rating: i64,
    /// ≤ 120 characters.
    #[schema(max_length = 120)]
    title: Option<String>,
    /// ≤ 5000 characters.
    #[schema(max_length = 5000)]
    body: Option<String>,
}

impl From<WriteReview> for ReviewDraft {
    fn from(w: WriteReview) -> Self {
        Self {
            rating: w.rating,
            title: w.title,
            body: w.body,
        }
    }
}

/// Sort and pagination of `GET /products/{id}/reviews`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListReviews {
    /// Default `-created_at` (newest first).
    #[param(value_type = Option<s::ReviewSort>)]
    sort: Option<String>,
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

fn review_id(raw: &str) -> Result<ReviewId, AppError> {
    ReviewId::parse(raw).ok_or(AppError::NotFound)
}

/// The signed-in user behind the caller: 401 for anonymous callers; `None` for the admin
/// token, which stands for no user.
fn signed_in(caller: &Caller) -> Result<Option<&UserId>, AppError> {
    match caller {
        Caller::Anonymous => Err(AppError::Unauthorized),
        other => Ok(other.user_id()),
    }
}

/// `POST /products/{id}/reviews` (a customer with a delivered order holding the product).
#[utoipa::path(post, path = "/api/v1/products/{id}/reviews", operation_id = "create_review", tag = "Reviews", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    request_body = WriteReview,
    responses(
        (status = 201, description = "The review; the product's `rating` includes it.", body = s::Review),
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
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<WriteReview>,
) -> Result<Response, AppError> {
    let user = signed_in(&caller)?;
    let product = product_id(&id)?;
    let draft = ReviewDraft::from(body);
    let Some(user) = user else {
        // The admin token has no orders, so it has received nothing; still report a bad
        // draft or an unknown product first, like for anyone else.
        let errors = draft.validate();
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        app.shared
            .read_model
            .product(&product)
            .ok_or(AppError::NotFound)?;
        return Err(AppError::NotPurchased);
    };
    let author = app.auth.user(user)?.ok_or(AppError::Unauthorized)?;
    let (review, _) = app
        .reviews
        .create(user, author.name, &product, draft)
        .await?;
    Ok((StatusCode::CREATED, Json(views::review(&review))).into_response())
}

/// `PUT /products/{id}/reviews/{review_id}` (its author): replaces rating, title and body.
#[utoipa::path(put, path = "/api/v1/products/{id}/reviews/{review_id}", operation_id = "update_review", tag = "Reviews", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`"), ("review_id" = String, Path, description = "`rev_…`")),
    request_body = WriteReview,
    responses(
        (status = 200, description = "The edited review; the product's `rating` follows.", body = s::Review),
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
    ApiPath((id, review)): ApiPath<(String, String)>,
    ApiJson(body, _): ApiJson<WriteReview>,
) -> Result<Json<Value>, AppError> {
    let user = signed_in(&caller)?;
    let product = product_id(&id)?;
    let review = review_id(&review)?;
    let Some(user) = user else {
        // Only the author edits; the admin token wrote nothing (it may delete instead).
        return Err(AppError::Forbidden);
    };
    let (review, _) = app
        .reviews
        .edit(user, &product, review, ReviewDraft::from(body))
        .await?;
    Ok(Json(views::review(&review)))
}

/// `DELETE /products/{id}/reviews/{review_id}` (its author, staff of the store, admin).
#[utoipa::path(delete, path = "/api/v1/products/{id}/reviews/{review_id}", operation_id = "delete_review", tag = "Reviews", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`"), ("review_id" = String, Path, description = "`rev_…`")),
    responses(
        (status = 204, description = "Deleted; the product's `rating` no longer counts it."),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath((id, review)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    let user = signed_in(&caller)?;
    let product = product_id(&id)?;
    let review = review_id(&review)?;
    let view = app
        .shared
        .read_model
        .product(&product)
        .ok_or(AppError::NotFound)?;
    // Staff of the product's store and admins moderate; anyone else may only remove their own.
    let author = if caller.require_store_staff(&view.catalog.store_id).is_ok() {
        None
    } else {
        Some(user.ok_or(AppError::Forbidden)?.clone())
    };
    app.reviews.delete(&product, review, author).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /products/{id}/reviews` (anyone): paginated, newest first unless `sort` says.
#[utoipa::path(get, path = "/api/v1/products/{id}/reviews", operation_id = "list_reviews", tag = "Reviews", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`"), ListReviews),
    responses(
        (status = 200, description = "A page of the product's reviews.", body = s::ReviewPage),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListReviews>,
) -> Result<Json<Value>, AppError> {
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let sort = match query.sort.as_deref() {
        None => ReviewSort::default(),
        Some(raw) => ReviewSort::parse(raw)
            .ok_or_else(|| AppError::field("sort", "must be -created_at, -rating or rating"))?,
    };
    let product = product_id(&id)?;
    let (reviews, total) = app.reviews.list(&product, sort, page, per_page).await?;
    let items = reviews.iter().map(views::review).collect();
    Ok(Json(views::page(items, page, per_page, total)))
}
