//! `/api/v1/auth/*`, `/api/v1/me` and `/api/v1/users` (docs/API.md §7).
//!
//! Token answers carry `Cache-Control: no-store` (as OAuth 2.0 asks of token endpoints) so no
//! proxy or browser cache keeps a copy of the tokens. Bodies with passwords are never logged.

use super::{
    extract::{ApiJson, Caller, ClientIp},
    idempotency::Idempotency,
    schema as s,
};
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
use utoipa::ToSchema;

/// A new customer account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// Unique case-insensitively, ≤ 254 characters.
    #[schema(example = "ada@example.com")]
    email: String,
    /// 8–1024 characters.
    #[schema(format = Password)]
    password: String,
    /// 1–200 characters.
    name: String,
}

/// Credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Compared case-insensitively.
    email: String,
    /// The password.
    #[schema(format = Password)]
    password: String,
}

/// A refresh token from a session.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshToken {
    /// `rt_…`, single use.
    refresh_token: String,
}

/// An account of any role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Unique case-insensitively.
    email: String,
    /// 8–1024 characters.
    #[schema(format = Password)]
    password: String,
    /// 1–200 characters.
    name: String,
    /// What the user may do.
    role: Role,
    /// Required for staff (an existing store), refused otherwise.
    store_id: Option<String>,
}

/// The token of a verification link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmail {
    /// From the `welcome` email's link (`/verify?token=…`).
    token: String,
}

/// Whose password to reset.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The account's email (compared case-insensitively).
    email: String,
}

/// A reset link's token and the new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPasswordReset {
    /// From the `password_reset` email's link (`/reset-password?token=…`).
    token: String,
    /// 8–1024 characters.
    #[schema(format = Password)]
    password: String,
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
#[utoipa::path(post, path = "/api/v1/auth/register", operation_id = "register", tag = "Accounts",
    request_body = Register,
    responses(
        (status = 201, description = "The account, logged in (`Cache-Control: no-store`).", body = s::Session),
        (status = 400, response = s::BadRequest),
        (status = 409, response = s::Conflict),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
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
#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "login", tag = "Accounts",
    request_body = Login,
    responses(
        (status = 200, description = "A session (`Cache-Control: no-store`).", body = s::Session),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 429, response = s::RateLimited),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn login(
    State(app): State<Arc<App>>,
    ClientIp(client_ip): ClientIp,
    ApiJson(body, _): ApiJson<Login>,
) -> Result<Response, AppError> {
    let session = app
        .auth
        .login(&body.email, body.password, client_ip)
        .await?;
    Ok(session_response(StatusCode::OK, &session))
}

/// `POST /auth/refresh` (holder of a refresh token): a new pair; the old token is spent.
#[utoipa::path(post, path = "/api/v1/auth/refresh", operation_id = "refresh", tag = "Accounts",
    request_body = RefreshToken,
    responses(
        (status = 200, description = "A new token pair (`Cache-Control: no-store`).", body = s::Session),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn refresh(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<RefreshToken>,
) -> Result<Response, AppError> {
    let session = app.auth.refresh(&body.refresh_token).await?;
    Ok(session_response(StatusCode::OK, &session))
}

/// `POST /auth/logout` (holder of a refresh token) → 204.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "Accounts",
    request_body = RefreshToken,
    responses(
        (status = 204, description = "The refresh token is retired (also for an unknown one)."),
        (status = 400, response = s::BadRequest),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn logout(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<RefreshToken>,
) -> Result<StatusCode, AppError> {
    app.auth.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/verify-email` (holder of a verification link): marks the email verified.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", operation_id = "verify_email", tag = "Accounts",
    request_body = VerifyEmail,
    responses(
        (status = 200, description = "The account, `email_verified` true.", body = s::User),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn verify_email(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<VerifyEmail>,
) -> Result<Json<Value>, AppError> {
    let user = app.auth.verify_email(&body.token).await?;
    Ok(Json(user.view()))
}

/// `POST /auth/password-reset` (anyone) → 202 whether or not the account exists; when it
/// does, a `password_reset` email follows.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", operation_id = "request_password_reset", tag = "Accounts",
    request_body = PasswordReset,
    responses(
        (status = 202, description = "Accepted (also for an unknown email)."),
        (status = 400, response = s::BadRequest),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 429, response = s::RateLimited),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn request_password_reset(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<PasswordReset>,
) -> Result<StatusCode, AppError> {
    app.auth.request_password_reset(&body.email)?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /auth/password-reset/confirm` (holder of a reset link): sets the new password and
/// revokes every refresh token of the user.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", operation_id = "confirm_password_reset", tag = "Accounts",
    request_body = ConfirmPasswordReset,
    responses(
        (status = 200, description = "The account; its sessions are revoked.", body = s::User),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn confirm_password_reset(
    State(app): State<Arc<App>>,
    ApiJson(body, _): ApiJson<ConfirmPasswordReset>,
) -> Result<Json<Value>, AppError> {
    let user = app
        .auth
        .confirm_password_reset(&body.token, body.password)
        .await?;
    Ok(Json(user.view()))
}

/// `GET /me` (any logged-in user). The admin token belongs to no account: 404.
#[utoipa::path(get, path = "/api/v1/me", operation_id = "me", tag = "Accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account.", body = s::User),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn me(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, AppError> {
    let user_id = match &caller {
        Caller::Anonymous => return Err(AppError::Unauthorized),
        other => other.user_id().ok_or(AppError::NotFound)?,
    };
    let user = app.auth.user(user_id)?.ok_or(AppError::Unauthorized)?;
    Ok(Json(user.view()))
}

/// `POST /users` (admin): an account of any role; staff belong to an existing store. Honours
/// `Idempotency-Key` (the answer carries no credentials, unlike `/auth/*`, which do not).
#[utoipa::path(post, path = "/api/v1/users", operation_id = "create_user", tag = "Accounts", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters: the same key and body within 24 h replay the first answer.")),
    request_body = CreateUser,
    responses(
        (status = 201, description = "The account (no tokens).", body = s::User),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 409, response = s::Conflict),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn create_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    idempotency: Idempotency,
    ApiJson(body, raw): ApiJson<CreateUser>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    // The stored fingerprint is a fast, non-cryptographic hash: keep the password out of it
    // (the other fields identify the request well enough).
    let mut fingerprint = raw;
    if let Some(object) = fingerprint.as_object_mut() {
        object.remove("password");
    }
    Ok(idempotency
        .run(&app, &caller, &fingerprint, || async {
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
            Ok((StatusCode::CREATED, user.view()))
        })
        .await)
}

/// Whether `path` is a credential endpoint that takes its credentials from the body and so
/// ignores `Authorization`: a stale access token that a client still sends along must not make
/// its refresh, login or logout fail.
pub fn ignores_bearer(path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    matches!(
        path,
        "/auth/register"
            | "/auth/login"
            | "/auth/refresh"
            | "/auth/logout"
            | "/auth/verify-email"
            | "/auth/password-reset"
            | "/auth/password-reset/confirm"
    )
}
