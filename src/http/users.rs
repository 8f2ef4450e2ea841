//! `/api/v1/users` for admins (list, read, change) and `POST /api/v1/me/password`
//! (docs/API.md §12). Creating accounts is `auth::create_user`.

use super::{
    extract::{ApiJson, ApiPath, ApiQuery, Caller, ClientIp, pagination, verified_user},
    products::{not_null, nullable},
    schema as s,
};
use crate::{
    app::App,
    auth::{UserPatch, users::Role},
    domain::ids::UserId,
    error::AppError,
    views,
};
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Filters and pagination of `GET /users`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsers {
    /// Only users of this role.
    role: Option<Role>,
    /// Only the staff of this store.
    store_id: Option<String>,
    /// Case-insensitive text that the email or the name contains.
    q: Option<String>,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

/// An admin's change to an account; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// 1–200 characters.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    name: Option<String>,
    /// A new role; leaving staff drops the store, becoming staff needs one.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    role: Option<Role>,
    /// The store of a staff member (an existing one); `null` for other roles.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    store_id: Option<Option<String>>,
    /// `true` ends every session of the user at once; `false` lets them log in again.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    disabled: Option<bool>,
}

/// A password change by the account's owner.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password in use now.
    #[schema(format = Password)]
    current_password: String,
    /// 8–1024 characters.
    #[schema(format = Password)]
    new_password: String,
}

/// The user `raw` names, for an admin: 404 for a malformed or unknown id.
fn user_id(raw: &str) -> Result<UserId, AppError> {
    UserId::parse(raw).ok_or(AppError::NotFound)
}

/// `GET /users` (admin): newest first.
#[utoipa::path(get, path = "/api/v1/users", operation_id = "list_users", tag = "Accounts", security(("bearer" = [])),
    params(ListUsers),
    responses(
        (status = 200, description = "A page of accounts, newest first.", body = s::UserPage),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListUsers>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let needle = query.q.as_deref().map(str::to_lowercase);
    let mut found: Vec<_> = app
        .auth
        .users()?
        .into_iter()
        .filter(|u| query.role.is_none_or(|role| u.role == role))
        .filter(|u| {
            query
                .store_id
                .as_deref()
                .is_none_or(|store| u.store_id.as_ref().is_some_and(|id| id.as_str() == store))
        })
        .filter(|u| {
            needle.as_deref().is_none_or(|needle| {
                u.email_lower.contains(needle) || u.name.to_lowercase().contains(needle)
            })
        })
        .collect();
    found.reverse();
    Ok(Json(views::page_of(&found, page, per_page, |u| u.view())))
}

/// `GET /users/{id}` (admin).
#[utoipa::path(get, path = "/api/v1/users/{id}", operation_id = "get_user", tag = "Accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "`usr_…`")),
    responses(
        (status = 200, description = "The account.", body = s::User),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let user = app.auth.user(&user_id(&id)?)?.ok_or(AppError::NotFound)?;
    Ok(Json(user.view()))
}

/// `PATCH /users/{id}` (admin). Disabling, or changing the role or store, ends the user's
/// sessions: their tokens are refused at once and their live connections close with 4001.
#[utoipa::path(patch, path = "/api/v1/users/{id}", operation_id = "update_user", tag = "Accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "`usr_…`")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The changed account.", body = s::User),
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
    ApiJson(body, _): ApiJson<UpdateUser>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let id = user_id(&id)?;
    let patch = UserPatch {
        name: body.name,
        role: body.role,
        store_id: body.store_id,
        disabled: body.disabled,
    };
    let user = app.auth.update_user(&id, patch).await?;
    tracing::info!(by = %caller.name(), user = %user.id, disabled = user.disabled, role = user.role.as_str(), "admin changed an account");
    Ok(Json(user.view()))
}

/// `POST /me/password` (a logged-in user) → 204. Every other session of the user ends; the
/// caller's own goes on after one refresh (its access token is refused like the others).
#[utoipa::path(post, path = "/api/v1/me/password", operation_id = "change_password", tag = "Accounts", security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; every other session of the user ended."),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 429, response = s::RateLimited),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn change_password(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ClientIp(client_ip): ClientIp,
    ApiJson(body, _): ApiJson<ChangePassword>,
) -> Result<StatusCode, AppError> {
    let verified = verified_user(&app, &headers)?;
    app.auth
        .change_password(
            &verified,
            body.current_password,
            body.new_password,
            client_ip,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
