//! `/api/v1/webhooks` (docs/API.md §10): endpoints, their deliveries, redelivery.

use super::{
    extract::{ApiJson, ApiPath, ApiQuery, Caller, pagination},
    schema as s,
};
use crate::{
    app::App,
    domain::{
        time::rfc3339,
        webhook::{Delivery, DeliveryStatus, Endpoint},
    },
    error::AppError,
    views,
    webhooks::{EndpointPatch, NewEndpoint},
};
use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A new endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http(s)://…`; loopback, link-local and private-range targets are refused unless
    /// `webhooks.allow_private_targets`.
    url: String,
    /// Event types (docs/API.md §10), or `["*"]` for all.
    events: Vec<String>,
    /// Only this store's events (required for staff, who may name only their store).
    #[serde(default)]
    store_id: Option<String>,
    /// Free text, ≤ 500 characters.
    #[serde(default)]
    description: Option<String>,
}

/// Changes of an endpoint; `null` clears `description`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// New target (checked like on creation).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    url: Option<String>,
    /// New event types.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    events: Option<Vec<String>>,
    /// New description; `null` clears.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// `false` stops deliveries (and forgets the endpoint's place in the event stream);
    /// `true` resumes with the events from then on.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    enabled: Option<bool>,
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("must not be null")),
    }
}

/// Pagination of the endpoint list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListWebhooks {
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

/// A delivery's status, as a filter.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusFilter {
    /// Not attempted yet.
    Pending,
    /// Failed, another attempt scheduled.
    Retrying,
    /// Delivered (a 2xx).
    Delivered,
    /// Given up.
    Failed,
}

/// Pagination and filter of the delivery list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveries {
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
    /// Only deliveries in this status.
    #[param(inline)]
    status: Option<DeliveryStatusFilter>,
}

/// A webhook endpoint.
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookSchema {
    /// `whk_…`
    pub id: String,
    /// Target.
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    /// The store whose events it receives; null: every event.
    #[schema(required = true)]
    pub store_id: Option<String>,
    /// Free text.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Why it was disabled automatically.
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    /// `whsec_…`: only in the answers of create and rotate-secret.
    pub secret: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The last successful delivery (updated at most once a minute).
    #[schema(required = true, format = DateTime)]
    pub last_success_at: Option<String>,
}

/// A page of endpoints.
#[derive(Serialize, ToSchema)]
pub struct WebhookPage {
    /// This page's items.
    pub items: Vec<WebhookSchema>,
    /// From 1.
    pub page: u64,
    /// 1–100.
    pub per_page: u64,
    /// Items across all pages.
    pub total: u64,
}

/// One attempt of a delivery.
#[derive(Serialize, ToSchema)]
pub struct AttemptSchema {
    /// When it started.
    #[schema(format = DateTime)]
    pub at: String,
    /// The answer's status; null when none came.
    #[schema(required = true)]
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// What went wrong; null for a 2xx.
    #[schema(required = true)]
    pub error: Option<String>,
}

/// The delivery of one event to one endpoint.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliverySchema {
    /// `dlv_…`
    pub id: String,
    /// `evt_…` (the body's `id` and the `Emporium-Event-Id` header).
    pub event_id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `retrying`, `delivered` or `failed`.
    pub status: String,
    /// Oldest first.
    pub attempts: Vec<AttemptSchema>,
    /// When the next automatic attempt is due.
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
}

/// A page of deliveries.
#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    /// This page's items.
    pub items: Vec<DeliverySchema>,
    /// From 1.
    pub page: u64,
    /// 1–100.
    pub per_page: u64,
    /// Items across all pages.
    pub total: u64,
}

/// The endpoint as the API shows it; the secret only when `with_secret`.
fn view(e: &Endpoint, with_secret: bool) -> Value {
    let mut view = json!({
        "id": e.id,
        "url": e.url,
        "events": e.events,
        "store_id": e.store_id,
        "description": e.description,
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "created_at": rfc3339(e.created_at),
        "updated_at": rfc3339(e.updated_at),
        "last_success_at": e.last_success_at.map(rfc3339),
    });
    if with_secret {
        view["secret"] = json!(e.secret);
    }
    view
}

fn delivery_view(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "event_id": d.event_id,
        "type": d.kind,
        "status": d.status.as_str(),
        "attempts": d.attempts.iter().map(|a| json!({
            "at": rfc3339(a.at),
            "status_code": a.status_code,
            "duration_ms": a.duration_ms,
            "error": a.error,
        })).collect::<Vec<_>>(),
        "next_attempt_at": d.next_attempt_at.map(rfc3339),
    })
}

/// `POST /webhooks` (admin; staff for their own store).
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "Webhooks", security(("bearer" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "The new endpoint, with its `secret` (shown only here and by rotate-secret).", body = WebhookSchema),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let endpoint = app
        .webhooks
        .create(
            &caller,
            NewEndpoint {
                url: body.url,
                events: body.events,
                store_id: body.store_id,
                description: body.description,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(&endpoint, true))))
}

/// `GET /webhooks` (admin: all; staff: their store's), oldest first.
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "Webhooks", security(("bearer" = [])),
    params(ListWebhooks),
    responses(
        (status = 200, description = "A page of endpoints, oldest first (without secrets).", body = WebhookPage),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListWebhooks>,
) -> Result<Json<Value>, AppError> {
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let all = app.webhooks.list(&caller)?;
    Ok(Json(views::page_of(&all, page, per_page, |e| {
        view(e, false)
    })))
}

/// `GET /webhooks/{id}`.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", operation_id = "get_webhook", tag = "Webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "`whk_…`")),
    responses(
        (status = 200, description = "The endpoint (without its secret).", body = WebhookSchema),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(view(&app.webhooks.get(&caller, &id)?, false)))
}

/// `PATCH /webhooks/{id}`: `url`, `events`, `description`, `enabled`.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", operation_id = "update_webhook", tag = "Webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "`whk_…`")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The changed endpoint (without its secret).", body = WebhookSchema),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
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
    ApiJson(body, _): ApiJson<UpdateWebhook>,
) -> Result<Json<Value>, AppError> {
    let endpoint = app
        .webhooks
        .update(
            &caller,
            &id,
            EndpointPatch {
                url: body.url,
                events: body.events,
                description: body.description,
                enabled: body.enabled,
            },
        )
        .await?;
    Ok(Json(view(&endpoint, false)))
}

/// `DELETE /webhooks/{id}`: the endpoint, its deliveries and its place in the event stream.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "Webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "`whk_…`")),
    responses(
        (status = 204, description = "Deleted; nothing more is delivered to it."),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    app.webhooks.delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhooks/{id}/rotate-secret`: a new secret, in effect for the next attempt.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "Webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "`whk_…`")),
    responses(
        (status = 200, description = "The endpoint with its new `secret`.", body = WebhookSchema),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn rotate_secret(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let endpoint = app.webhooks.rotate_secret(&caller, &id).await?;
    Ok(Json(view(&endpoint, true)))
}

/// `GET /webhooks/{id}/deliveries`, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "Webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "`whk_…`"), ListDeliveries),
    responses(
        (status = 200, description = "A page of deliveries, newest first.", body = DeliveryPage),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn deliveries(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListDeliveries>,
) -> Result<Json<Value>, AppError> {
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let status = query.status.map(|s| match s {
        DeliveryStatusFilter::Pending => DeliveryStatus::Pending,
        DeliveryStatusFilter::Retrying => DeliveryStatus::Retrying,
        DeliveryStatusFilter::Delivered => DeliveryStatus::Delivered,
        DeliveryStatusFilter::Failed => DeliveryStatus::Failed,
    });
    let webhooks = Arc::clone(&app.webhooks);
    let skip = (page - 1).saturating_mul(per_page);
    let (items, total) = tokio::task::spawn_blocking(move || {
        webhooks.deliveries(&caller, &id, status, skip, per_page)
    })
    .await
    .map_err(|e| AppError::Internal(format!("listing deliveries panicked: {e}")))??;
    let items = items.iter().map(delivery_view).collect();
    Ok(Json(views::page(items, page, per_page, total)))
}

/// `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`: one more attempt, now.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", operation_id = "redeliver_webhook", tag = "Webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "`whk_…`"), ("delivery_id" = String, Path, description = "`dlv_…`")),
    responses(
        (status = 202, description = "An attempt was started; it is listed in the delivery's `attempts` when done."),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn redeliver(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath((id, delivery)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    app.webhooks.redeliver(&caller, &id, &delivery)?;
    Ok(StatusCode::ACCEPTED)
}
