//! `Idempotency-Key`: the first answer to a (caller, key) is stored durably for 24 h; the same
//! request again gets the identical status and body, another request with that key a 422.
//! Requests sharing a key run one at a time, so two racing requests create one thing.

use super::error::PROBLEM_JSON;
use crate::{app::App, domain::time::now_ms, error::AppError, persistence::IdempotentAnswer};
use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use std::{
    future::Future,
    hash::{Hash, Hasher},
};

/// How long an answer is kept.
const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest accepted key.
const MAX_KEY_LEN: usize = 255;

/// Runs `handler` at most once per (caller, key) and replays its answer.
pub async fn run<F, Fut>(
    app: &App,
    caller: &str,
    headers: &HeaderMap,
    route: &str,
    body: &Value,
    handler: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), AppError>>,
{
    let Some(key) = headers.get("idempotency-key") else {
        return render(handler().await);
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => k,
        _ => {
            return AppError::field(
                "Idempotency-Key",
                format!("must be 1-{MAX_KEY_LEN} visible ASCII characters"),
            )
            .into_response();
        }
    };
    let storage_key = [caller.as_bytes(), b"\0", key.as_bytes()].concat();
    let fingerprint = fingerprint(route, body);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    storage_key.hash(&mut hasher);
    let stripe = (hasher.finish() as usize) % app.idempotency_locks.len();
    let _guard = app.idempotency_locks[stripe].lock().await;

    match app.shared.storage.idempotent_answer(&storage_key) {
        Ok(Some(answer)) if now_ms() - answer.at < RETENTION_MS => {
            return if answer.fingerprint == fingerprint {
                replay(answer)
            } else {
                AppError::IdempotencyKeyReused.into_response()
            };
        }
        Ok(_) => {}
        Err(error) => return AppError::from(error).into_response(),
    }
    let (status, content_type, body) = match handler().await {
        Ok((status, value)) => (status, "application/json", value),
        Err(error) => {
            if error.problem().0.is_server_error() {
                // Not stored: the client should be able to retry with the same key.
                return error.into_response();
            }
            let (status, value) = error.problem_json();
            (status, PROBLEM_JSON, value)
        }
    };
    let answer = IdempotentAnswer {
        fingerprint,
        status: status.as_u16(),
        body: body.to_string().into_bytes(),
        content_type: content_type.to_owned(),
        at: now_ms(),
    };
    let stored = async {
        app.shared
            .storage
            .put_idempotent_answer(&storage_key, &answer)?;
        app.shared.committer.durable().await
    };
    if let Err(error) = stored.await {
        tracing::error!(%error, "could not store an idempotent answer");
    }
    replay(answer)
}

fn render(result: Result<(StatusCode, Value), AppError>) -> Response {
    match result {
        Ok((status, value)) => (status, axum::Json(value)).into_response(),
        Err(error) => error.into_response(),
    }
}

fn replay(answer: IdempotentAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let content_type = HeaderValue::from_str(&answer.content_type)
        .unwrap_or(HeaderValue::from_static("application/json"));
    (status, [(header::CONTENT_TYPE, content_type)], answer.body).into_response()
}

/// FNV-1a over the route and the canonical JSON body (object keys sorted), so whitespace or
/// key order do not make an identical request look different. Stable across releases,
/// unlike `std`'s hasher.
fn fingerprint(route: &str, body: &Value) -> u64 {
    let text = format!("{route}\n{body}");
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
