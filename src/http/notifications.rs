//! `/api/v1/notifications` and `/api/v1/me/notification-preferences` (docs/API.md §12).

use super::{
    extract::{ApiJson, ApiPath, ApiQuery, Caller, pagination},
    schema as s,
};
use crate::{
    app::App,
    domain::{
        ids::NotificationId,
        notification::{Notification, Preferences, Status, Template},
    },
    error::AppError,
    notifications::{preferences_view, view, view_with_bodies},
};
use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Filters and pagination of `GET /notifications`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListNotifications {
    /// Only this template (`order_confirmation`, …).
    template: Option<String>,
    /// Only this status (`queued`, `sent`, `failed`, `suppressed`, `recorded`).
    status: Option<String>,
    /// Only notifications about this id (an order, product or user).
    #[serde(rename = "ref")]
    #[param(rename = "ref")]
    reference: Option<String>,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

/// New preferences; a field left out keeps its value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPreferences {
    /// `payment_failed`, `order_status`, `return_update`.
    order_updates: Option<bool>,
    /// `review_request`.
    review_requests: Option<bool>,
    /// `low_stock` (staff).
    low_stock: Option<bool>,
}

/// Whether `caller` may see `n`: admins all, staff their store's, customers their own.
fn may_see(caller: &Caller, n: &Notification) -> bool {
    match caller {
        Caller::Admin { .. } => true,
        Caller::Staff { store_id, user_id } => {
            n.store_id.as_ref() == Some(store_id) || n.user_id.as_ref() == Some(user_id)
        }
        Caller::Customer { user_id } => n.user_id.as_ref() == Some(user_id),
        Caller::Anonymous => false,
    }
}

/// `GET /notifications`: admins see all, staff their store's, customers their own; newest
/// first.
#[utoipa::path(get, path = "/api/v1/notifications", operation_id = "list_notifications", tag = "Notifications", security(("bearer" = [])),
    params(ListNotifications),
    responses(
        (status = 200, description = "A page of notifications, newest first.", body = s::NotificationPage),
        (status = 401, response = s::Unauthorized),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListNotifications>,
) -> Result<Json<Value>, AppError> {
    if caller == Caller::Anonymous {
        return Err(AppError::Unauthorized);
    }
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let template = query
        .template
        .as_deref()
        .map(|t| {
            Template::parse(t)
                .ok_or_else(|| AppError::field("template", format!("unknown template {t:?}")))
        })
        .transpose()?;
    let status = query
        .status
        .as_deref()
        .map(|t| {
            Status::parse(t)
                .ok_or_else(|| AppError::field("status", format!("unknown status {t:?}")))
        })
        .transpose()?;
    let storage = app.shared.storage.clone();
    let caller_for_scan = caller.clone();
    let mut found: Vec<Notification> = tokio::task::spawn_blocking(move || {
        storage
            .notifications()
            .filter(|n| may_see(&caller_for_scan, n))
            .filter(|n| template.is_none_or(|t| n.template == t))
            .filter(|n| status.is_none_or(|s| n.status == s))
            .filter(|n| {
                query
                    .reference
                    .as_deref()
                    .is_none_or(|r| n.reference.as_deref() == Some(r))
            })
            .collect()
    })
    .await
    .map_err(|e| AppError::Internal(format!("listing notifications: {e}")))?;
    found.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Ok(Json(crate::views::page_of(&found, page, per_page, view)))
}

/// `GET /notifications/{id}`: one the caller may see, with its text and HTML bodies.
#[utoipa::path(get, path = "/api/v1/notifications/{id}", operation_id = "get_notification", tag = "Notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "`ntf_…`")),
    responses(
        (status = 200, description = "The notification with its bodies.", body = s::NotificationDetail),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    if caller == Caller::Anonymous {
        return Err(AppError::Unauthorized);
    }
    let id = NotificationId::parse(&id).ok_or(AppError::NotFound)?;
    let n = app
        .shared
        .storage
        .notification(&id)?
        .filter(|n| may_see(&caller, n))
        .ok_or(AppError::NotFound)?;
    Ok(Json(view_with_bodies(&n)))
}

/// The logged-in user (the admin token belongs to no account: 404, like `GET /me`).
fn user_of(caller: &Caller) -> Result<crate::domain::ids::UserId, AppError> {
    match caller {
        Caller::Anonymous => Err(AppError::Unauthorized),
        other => other.user_id().cloned().ok_or(AppError::NotFound),
    }
}

/// `GET /me/notification-preferences` (any logged-in user).
#[utoipa::path(get, path = "/api/v1/me/notification-preferences", operation_id = "get_notification_preferences", tag = "Notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's preferences.", body = s::NotificationPreferences),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get_preferences(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    let user = user_of(&caller)?;
    Ok(Json(preferences_view(
        &app.notifications.preferences(&user)?,
    )))
}

/// `PUT /me/notification-preferences` (any logged-in user): an opted-out email is recorded
/// `suppressed`; account and order confirmation/cancellation emails always go.
#[utoipa::path(put, path = "/api/v1/me/notification-preferences", operation_id = "set_notification_preferences", tag = "Notifications", security(("bearer" = [])),
    request_body = SetPreferences,
    responses(
        (status = 200, description = "The caller's preferences as now stored.", body = s::NotificationPreferences),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn set_preferences(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<SetPreferences>,
) -> Result<Json<Value>, AppError> {
    let user = user_of(&caller)?;
    let current = app.notifications.preferences(&user)?;
    let next = Preferences {
        order_updates: body.order_updates.unwrap_or(current.order_updates),
        review_requests: body.review_requests.unwrap_or(current.review_requests),
        low_stock: body.low_stock.unwrap_or(current.low_stock),
    };
    app.notifications.set_preferences(&user, &next).await?;
    Ok(Json(preferences_view(&next)))
}
