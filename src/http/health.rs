//! Liveness and readiness.

use crate::{app::App, error::AppError};
use axum::{Json, extract::State};
use serde_json::{Value, json};
use std::sync::Arc;

/// 200 while the process runs.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 once recovery has finished and storage is writable, else 503.
pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<Value>, AppError> {
    if app.is_ready() {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(AppError::Unavailable("not ready".into()))
    }
}
