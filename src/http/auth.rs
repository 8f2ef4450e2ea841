//! `/api/v1/auth/*`, `/api/v1/me` and `/api/v1/users` (docs/API.md §7).
//!
//! Token answers carry `Cache-Control: no-store` (as OAuth 2.0 asks of token endpoints) so no
//! proxy or browser cache keeps a copy of the tokens. Bodies with passwords are never logged.

use super::extract::{ApiJson, Caller};
use crate::{
    app::App,
    auth::{NewUser, Session, users::Role},
    error::AppError,
};
use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    email: String,
    password: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshToken {
    refresh_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    password: String,
    name: String,
    role: Role,
    store_id: Option<String>,
}

/// A session answer that caches must not keep.
fn session_response(status: StatusCode, session: &Session) -> Response {
    let mut response = (status, Json(session.view())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /auth/register` (anyone): a customer account, logged in.
pub async fn register(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<Register>,
) -> Result<Response, AppError> {
    let session = app
        .auth
        .register(body.email, body.password, body.name)
        .await?;
    Ok(session_response(StatusCode::CREATED, &session))
}

/// `POST /auth/login` (anyone).
pub async fn login(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<Login>,
) -> Result<Response, AppError> {
    let session = app.auth.login(&body.email, body.password).await?;
    Ok(session_response(StatusCode::OK, &session))
}

/// `POST /auth/refresh` (holder of a refresh token): a new pair; the old token is spent.
pub async fn refresh(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<RefreshToken>,
) -> Result<Response, AppError> {
    let session = app.auth.refresh(&body.refresh_token).await?;
    Ok(session_response(StatusCode::OK, &session))
}

/// `POST /auth/logout` (holder of a refresh token) → 204.
pub async fn logout(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<RefreshToken>,
) -> Result<StatusCode, AppError> {
    app.auth.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me` (any logged-in user). The admin token belongs to no account: 404.
pub async fn me(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, AppError> {
    let user_id = match &caller {
        Caller::Anonymous => return Err(AppError::Unauthorized),
        other => other.user_id().ok_or(AppError::NotFound)?,
    };
    let user = app.auth.user(user_id)?.ok_or(AppError::Unauthorized)?;
    Ok(Json(user.view()))
}

/// `POST /users` (admin): an account of any role; staff belong to an existing store.
pub async fn create_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    caller.require_admin()?;
    let user = app
        .auth
        .create_user(NewUser {
            email: body.email,
            password: body.password,
            name: body.name,
            role: body.role,
            store_id: body.store_id,
        })
        .await?;
    tracing::info!(by = %caller.name(), user = %user.id, "admin created an account");
    Ok((StatusCode::CREATED, Json(user.view())))
}

/// Whether `path` is a credential endpoint that takes its credentials from the body and so
/// ignores `Authorization`: a stale access token that a client still sends along must not make
/// its refresh, login or logout fail.
pub fn ignores_bearer(path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    matches!(
        path,
        "/auth/register" | "/auth/login" | "/auth/refresh" | "/auth/logout"
    )
}
