//! Renders [`AppError`] as `application/problem+json` (RFC 9457) with the contract's `code`
//! and extension members. Internal details go to the log, never to the client.

use crate::{
    actors::ActorError, auth::AuthError, domain::DomainError, error::AppError,
    persistence::StorageError, services::ServiceError,
};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use problem_details::ProblemDetails;
use serde_json::{Map, Value, json};

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "1";
/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl AppError {
    /// Status, code, title, detail and extension members of this error.
    pub fn problem(
        &self,
    ) -> (
        StatusCode,
        &'static str,
        &'static str,
        String,
        Map<String, Value>,
    ) {
        let mut ext = Map::new();
        let (status, code, title) = match self {
            Self::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json", "Invalid JSON"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            Self::NotPurchased => (StatusCode::FORBIDDEN, "not_purchased", "Not purchased"),
            Self::AlreadyReviewed => (StatusCode::CONFLICT, "already_reviewed", "Already reviewed"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::InsufficientStock(shortages) => {
                ext.insert(
                    "shortages".into(),
                    shortages
                        .iter()
                        .map(|s| {
                            json!({"product_id": s.product_id, "requested": s.requested, "available": s.available})
                        })
                        .collect(),
                );
                (
                    StatusCode::CONFLICT,
                    "insufficient_stock",
                    "Insufficient stock",
                )
            }
            Self::InvalidTransition { from, to, allowed } => {
                ext.insert("from".into(), json!(from));
                ext.insert("to".into(), json!(to));
                ext.insert("allowed".into(), json!(allowed));
                (
                    StatusCode::CONFLICT,
                    "invalid_transition",
                    "Invalid transition",
                )
            }
            Self::ReservationInactive(status) => {
                ext.insert("reservation_status".into(), json!(status));
                (
                    StatusCode::CONFLICT,
                    "reservation_inactive",
                    "Reservation inactive",
                )
            }
            Self::ProductUnavailable => (
                StatusCode::CONFLICT,
                "product_unavailable",
                "Product unavailable",
            ),
            Self::StoreClosed => (StatusCode::CONFLICT, "store_closed", "Store closed"),
            Self::StoreMismatch => (StatusCode::CONFLICT, "store_mismatch", "Store mismatch"),
            Self::PaymentFailed {
                order_id,
                decline_code,
                order,
            } => {
                ext.insert("order_id".into(), json!(order_id));
                ext.insert("decline_code".into(), json!(decline_code));
                ext.insert("order".into(), order.clone());
                (
                    StatusCode::PAYMENT_REQUIRED,
                    "payment_failed",
                    "Payment failed",
                )
            }
            Self::SkuTaken => (StatusCode::CONFLICT, "sku_taken", "SKU taken"),
            Self::EmailTaken => (StatusCode::CONFLICT, "email_taken", "Email taken"),
            Self::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            Self::VersionMismatch { current } => {
                ext.insert("current_version".into(), json!(current));
                (StatusCode::CONFLICT, "version_mismatch", "Version mismatch")
            }
            Self::OverLimit { code, extra, .. } => {
                ext.extend(extra.clone());
                (StatusCode::CONFLICT, *code, "Over the limit")
            }
            Self::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::UriTooLong => (StatusCode::URI_TOO_LONG, "uri_too_long", "URI too long"),
            Self::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Request headers too large",
            ),
            Self::UpgradeRequired(_) => (
                StatusCode::UPGRADE_REQUIRED,
                "upgrade_required",
                "Upgrade required",
            ),
            Self::UnsupportedImage => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body", "Invalid body"),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::Validation(errors) => {
                ext.insert(
                    "errors".into(),
                    errors
                        .iter()
                        .map(|e| json!({"field": e.field, "message": e.message}))
                        .collect(),
                );
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "Validation failed",
                )
            }
            Self::InvalidLines(errors) => {
                ext.insert(
                    "errors".into(),
                    errors
                        .iter()
                        .map(|e| json!({"line": e.line, "field": e.field, "message": e.message}))
                        .collect(),
                );
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "Validation failed",
                )
            }
            Self::NoExchangeRate { from, to } => {
                ext.insert("from".into(), json!(from));
                ext.insert("to".into(), json!(to));
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "no_exchange_rate",
                    "No exchange rate",
                )
            }
            Self::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
            ),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, *code, "Conflict"),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        };
        let detail = match self {
            Self::Unavailable(_) => {
                "The service is temporarily unavailable; retry shortly.".to_owned()
            }
            Self::Internal(_) => "An internal error occurred.".to_owned(),
            Self::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            Self::InvalidLines(errors) => errors
                .iter()
                .take(10)
                .map(|e| format!("line {} {}: {}", e.line, e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        (status, code, title, detail, ext)
    }

    /// The problem document as JSON (also stored for idempotent replays).
    pub fn problem_json(&self) -> (StatusCode, Value) {
        let (status, code, title, detail, mut ext) = self.problem();
        ext.insert("code".into(), json!(code));
        let problem = ProblemDetails::new()
            .with_status(status)
            .with_title(title)
            .with_detail(detail)
            .with_extensions(ext);
        (
            status,
            serde_json::to_value(problem).unwrap_or_else(|_| json!({"status": status.as_u16()})),
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(reason) => tracing::warn!(%reason, "answering 503"),
            Self::Internal(reason) => tracing::error!(%reason, "answering 500"),
            _ => {}
        }
        let retry_after = match &self {
            Self::RateLimited { retry_after_secs } => Some(retry_after_secs.to_string()),
            _ => None,
        };
        let (status, body) = self.problem_json();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            body.to_string(),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized => Self::Unauthorized,
            AuthError::Forbidden => Self::Forbidden,
            AuthError::NotFound => Self::NotFound,
            AuthError::InvalidCredentials => Self::InvalidCredentials,
            AuthError::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
            AuthError::EmailTaken => Self::EmailTaken,
            AuthError::Validation(errors) => Self::Validation(errors),
            AuthError::Storage(e) => e.into(),
            AuthError::Task { task, source } => {
                Self::Internal(format!("{task} task failed: {source}"))
            }
            AuthError::Internal(detail) => Self::Internal(detail),
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused(refusal) => refusal.into(),
            ServiceError::Access(e) => e.into(),
            ServiceError::NotFound => Self::NotFound,
            ServiceError::Validation(errors) => Self::Validation(errors),
            ServiceError::InvalidLines(errors) => Self::InvalidLines(errors),
            ServiceError::Internal(detail) => Self::Internal(detail),
            ServiceError::InsufficientStock(shortages) => Self::InsufficientStock(shortages),
            ServiceError::StoreMismatch => Self::StoreMismatch,
            ServiceError::StoreClosed => Self::StoreClosed,
            ServiceError::SkuTaken => Self::SkuTaken,
            ServiceError::NotPurchased => Self::NotPurchased,
            ServiceError::ReservationInactive(status) => Self::ReservationInactive(status),
            ServiceError::ReservationTransition { from, to, allowed } => {
                Self::InvalidTransition { from, to, allowed }
            }
            ServiceError::PaymentFailed {
                order_id,
                decline_code,
                order,
            } => Self::PaymentFailed {
                order_id,
                decline_code,
                order,
            },
            ServiceError::Unavailable(reason) => Self::Unavailable(reason),
            ServiceError::Conflict { code, message } => Self::Conflict { code, message },
            ServiceError::Storage(e) => e.into(),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::InsufficientStock(shortages) => Self::InsufficientStock(shortages),
            DomainError::ProductUnavailable(_) => Self::ProductUnavailable,
            DomainError::HoldNotFound => Self::ReservationInactive("expired".into()),
            DomainError::VersionMismatch { current } => Self::VersionMismatch { current },
            DomainError::OutOfRange(field) => Self::field(field, "out of range"),
            DomainError::NotFound => Self::NotFound,
            DomainError::StoreMismatch => Self::StoreMismatch,
            DomainError::StoreClosed => Self::StoreClosed,
            DomainError::AlreadyReviewed => Self::AlreadyReviewed,
            DomainError::NotReviewAuthor => Self::Forbidden,
            DomainError::Conflict(code, message) => Self::Conflict {
                code,
                message: message.into(),
            },
            DomainError::InvalidTransition { from, to, allowed } => Self::InvalidTransition {
                from: from.as_str().into(),
                to: to.as_str().into(),
                allowed: allowed.iter().map(|s| s.as_str().to_owned()).collect(),
            },
            DomainError::ReturnTransition { from, to, allowed } => Self::InvalidTransition {
                from: from.into(),
                to: to.into(),
                allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
            },
            DomainError::Invalid { field, message } => Self::field(field, message),
            ref over @ DomainError::OverFulfilled {
                ref product_id,
                requested,
                remaining,
            } => Self::OverLimit {
                code: "over_fulfilled",
                message: over.to_string(),
                extra: extension(
                    json!({"product_id": product_id, "requested": requested, "remaining": remaining}),
                ),
            },
            ref over @ DomainError::OverReturned {
                ref product_id,
                requested,
                returnable,
            } => Self::OverLimit {
                code: "over_returned",
                message: over.to_string(),
                extra: extension(
                    json!({"product_id": product_id, "requested": requested, "returnable": returnable}),
                ),
            },
            ref closed @ DomainError::ReturnWindowClosed { days } => Self::OverLimit {
                code: "return_window_closed",
                message: closed.to_string(),
                extra: extension(json!({"window_days": days})),
            },
            ref over @ DomainError::OverRefunded {
                requested,
                refundable,
            } => Self::OverLimit {
                code: "over_refunded",
                message: over.to_string(),
                extra: extension(json!({"requested": requested, "refundable": refundable})),
            },
        }
    }
}

/// The members of a JSON object (empty for anything else).
fn extension(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(members) => members,
        _ => Map::new(),
    }
}

impl From<ActorError> for AppError {
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::Refused(refusal) => refusal.into(),
            ActorError::NotFound => Self::NotFound,
            ActorError::Unavailable(reason) => Self::Unavailable(reason),
        }
    }
}

impl From<crate::search::SearchError> for AppError {
    fn from(e: crate::search::SearchError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        Self::Unavailable(e.to_string())
    }
}
