//! Liveness and readiness.

use crate::{app::App, error::AppError};
use axum::{Json, extract::State};
use serde_json::{Value, json};
use std::sync::Arc;

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "Health",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = super::schema::Health)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 once recovery has finished and storage is writable, else 503.
#[utoipa::path(get, path = "/readyz", tag = "Health",
    responses(
        (status = 200, description = "`{\"status\":\"ready\"}`", body = super::schema::Health),
        (status = 503, response = super::schema::Unavailable),
    ))]
pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<Value>, AppError> {
    if app.is_ready() {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(AppError::Unavailable("not ready".into()))
    }
}
