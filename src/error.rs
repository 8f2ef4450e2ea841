//! The one error type of the request paths. Each variant is one row of the error table in
//! docs/API.md §2; `http::error` renders it as problem+json and
//! holds the conversions from the lower layers' errors, so only the edges name this type.

use crate::domain::error::{FieldError, Shortage};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the body is not JSON of the expected shape.
    #[error("{0}")]
    InvalidJson(String),
    /// 401: missing, malformed, tampered or expired token.
    #[error("authentication required")]
    Unauthorized,
    /// 403: visible resource, action not allowed.
    #[error("not allowed")]
    Forbidden,
    /// 403 `not_purchased`: only customers who received the product may review it.
    #[error("only customers who received this product can review it")]
    NotPurchased,
    /// 409 `already_reviewed`: one review per customer and product.
    #[error("you already reviewed this product; edit that review instead")]
    AlreadyReviewed,
    /// 404: no such resource (or not visible).
    #[error("not found")]
    NotFound,
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 `insufficient_stock`.
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// 409 `invalid_transition`.
    #[error("cannot go from {from} to {to}")]
    InvalidTransition {
        /// Current state.
        from: String,
        /// Requested state.
        to: String,
        /// States reachable from `from`.
        allowed: Vec<String>,
    },
    /// 409 `reservation_inactive`.
    #[error("reservation is {0}")]
    ReservationInactive(String),
    /// 409 `store_closed`.
    #[error("the store is closed")]
    StoreClosed,
    /// 409 `store_mismatch`.
    #[error("the cart already holds another store's products")]
    StoreMismatch,
    /// 402 `payment_failed`.
    #[error("payment failed: {decline_code}")]
    PaymentFailed {
        /// The order, which exists in `payment_failed`.
        order_id: String,
        /// Why.
        decline_code: String,
        /// The order object.
        order: serde_json::Value,
    },
    /// 409 `product_unavailable`.
    #[error("product is archived")]
    ProductUnavailable,
    /// 409 `sku_taken`.
    #[error("sku is already used in this store")]
    SkuTaken,
    /// 409 `email_taken`: another account has this email (compared case-insensitively).
    #[error("an account with this email already exists")]
    EmailTaken,
    /// 401 `invalid_credentials`: wrong email or password (never says which).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until an attempt can succeed again.
        retry_after_secs: u64,
    },
    /// 409 `version_mismatch`.
    #[error("expected_version is stale")]
    VersionMismatch {
        /// The version now.
        current: u64,
    },
    /// 409 `over_fulfilled` / `over_returned` / `over_refunded`: more than remains of what
    /// the order allows; `extra` carries the figures (docs/API.md §13).
    #[error("{message}")]
    OverLimit {
        /// The problem code.
        code: &'static str,
        /// For a human.
        message: String,
        /// Extension members (`product_id`, `requested`, `remaining` …).
        extra: serde_json::Map<String, serde_json::Value>,
    },
    /// 413.
    #[error("body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 414: the request line is longer than the server reads (see `http::raw_limits`).
    #[error("the request line (path and query string) is too long")]
    UriTooLong,
    /// 431: the request head is larger than the server reads (see `http::raw_limits`).
    #[error("the request headers are too large")]
    HeadersTooLarge,
    /// 415.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// 415 `unsupported_media_type`: an upload that is not PNG, JPEG, WebP or GIF by its bytes.
    #[error("the file is not a PNG, JPEG, WebP or GIF image (the type is read from its bytes)")]
    UnsupportedImage,
    /// 400 `invalid_body`: a body that is not even of its declared form (a broken multipart).
    #[error("{0}")]
    InvalidBody(String),
    /// 426 `upgrade_required`: a plain request to the WebSocket endpoint.
    #[error("this endpoint speaks WebSocket only: {0}")]
    UpgradeRequired(String),
    /// 422 `validation_failed`.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 422 `validation_failed` of a CSV import: every bad line, nothing applied.
    #[error("the file has invalid lines")]
    InvalidLines(Vec<crate::domain::error::LineError>),
    /// 422 `no_exchange_rate`: `?currency=` names a currency without a rate from the
    /// store's.
    #[error("no exchange rate from {from} to {to}")]
    NoExchangeRate {
        /// The store's currency.
        from: String,
        /// The requested one.
        to: String,
    },
    /// 422 `idempotency_key_reused`.
    #[error("Idempotency-Key was used with another request")]
    IdempotencyKeyReused,
    /// 409 with a code of its own (`default_location`, `not_sold_out`, …): a request that
    /// conflicts with the resource's state, explained in `detail`.
    #[error("{message}")]
    Conflict {
        /// The problem's `code`.
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// 503: storage failing, recovering or shutting down.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug (details go to the log only).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A single-field 422.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}
