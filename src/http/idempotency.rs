//! `Idempotency-Key`: the first answer to a (caller, key) is stored durably for 24 h; the same
//! request again gets the identical status and body, another request with that key a 422.
//! Requests sharing a key run one at a time, so two racing requests create one thing.
//!
//! Every state-changing `POST` takes an [`Idempotency`] and runs its work through
//! [`Idempotency::run`] (the notes of docs/API.md list them), so a retried request never
//! applies twice.

use super::{error::PROBLEM_JSON, extract::Caller};
use crate::{app::App, domain::time::now_ms, error::AppError, persistence::IdempotentAnswer};
use axum::{
    extract::FromRequestParts,
    http::{HeaderValue, StatusCode, header, request::Parts},
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

/// A request's `Idempotency-Key` (if any) and the route it was sent to (method and path, so
/// one key reused on another resource is another request). A malformed key is a 422 before
/// anything runs.
pub struct Idempotency {
    key: Option<String>,
    route: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let key = match parts.headers.get("idempotency-key") {
            None => None,
            Some(value) => Some(valid_key(value)?.to_owned()),
        };
        // Inside `/api/v1` the path is seen without that prefix (`POST /orders`), as the
        // fingerprints stored before this extractor existed were.
        let route = format!("{} {}", parts.method, parts.uri.path());
        Ok(Self { key, route })
    }
}

impl Idempotency {
    /// Runs `handler` at most once per (caller, key) and replays its answer; `body` is the
    /// request's JSON (`Value::Null` without a body), part of what makes it "the same request".
    pub async fn run<F, Fut>(self, app: &App, caller: &Caller, body: &Value, handler: F) -> Response
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(StatusCode, Value), AppError>>,
    {
        let Some(key) = self.key else {
            return render(handler().await);
        };
        answer_once(app, &caller.name(), &key, &self.route, body, handler).await
    }
}

fn valid_key(value: &HeaderValue) -> Result<&str, AppError> {
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => Ok(k),
        _ => Err(AppError::field(
            "Idempotency-Key",
            format!("must be 1-{MAX_KEY_LEN} visible ASCII characters"),
        )),
    }
}

/// The stored answer to (caller, key) if there is one, else `handler`'s, stored.
async fn answer_once<F, Fut>(
    app: &App,
    caller: &str,
    key: &str,
    route: &str,
    body: &Value,
    handler: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), AppError>>,
{
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
        let mut write = crate::persistence::ProductWrite::default();
        write.idempotent_answer(&storage_key, &answer)?;
        app.shared.committer.write_durable(write).await
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
