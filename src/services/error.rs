//! Why a service operation (the catalog, the reservation saga, checkout) was refused or
//! failed. `http` maps each variant to its row of the error table (docs/API.md §2).

use crate::{
    actors::ActorError,
    auth::AuthError,
    domain::{
        DomainError,
        error::{FieldError, Shortage},
    },
    persistence::StorageError,
};
use serde_json::Value;

/// A service refusal, or the failure beneath it.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A refusal of the domain rules (stock, archived product, stale version, …).
    #[error(transparent)]
    Refused(DomainError),
    /// The caller may not do this, or is not known.
    #[error(transparent)]
    Access(#[from] AuthError),
    /// No such resource, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The request's fields are invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Lines of an imported file are invalid; nothing was applied.
    #[error("the file has invalid lines")]
    InvalidLines(Vec<crate::domain::error::LineError>),
    /// Some products could not supply what was asked (all-or-nothing holds).
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// The cart already holds another store's products.
    #[error("the cart already holds another store's products")]
    StoreMismatch,
    /// The store is closed.
    #[error("the store is closed")]
    StoreClosed,
    /// Only customers with a delivered order holding the product may review it.
    #[error("only customers who received this product can review it")]
    NotPurchased,
    /// The sku is already used in this store.
    #[error("sku is already used in this store")]
    SkuTaken,
    /// The reservation is no longer active (`released`, `expired`, …).
    #[error("reservation is {0}")]
    ReservationInactive(String),
    /// The reservation cannot go from one state to another.
    #[error("cannot go from {from} to {to}")]
    ReservationTransition {
        /// Current state.
        from: String,
        /// Requested state.
        to: String,
        /// States reachable from `from`.
        allowed: Vec<String>,
    },
    /// The payment was declined; the order exists in `payment_failed`.
    #[error("payment failed: {decline_code}")]
    PaymentFailed {
        /// The order.
        order_id: String,
        /// Why.
        decline_code: String,
        /// The order's view.
        order: Value,
    },
    /// The request conflicts with the resource's state (409 with this `code`).
    #[error("{message}")]
    Conflict {
        /// The problem's `code`.
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// An actor could not be reached or its storage failed; the client may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug (details go to the log only).
    #[error("internal error: {0}")]
    Internal(String),
    /// Reading or durably writing failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ServiceError {
    /// A single-field validation error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<DomainError> for ServiceError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound => Self::NotFound,
            other => Self::Refused(other),
        }
    }
}

impl From<ActorError> for ServiceError {
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::Refused(refusal) => refusal.into(),
            ActorError::NotFound => Self::NotFound,
            ActorError::Unavailable(reason) => Self::Unavailable(reason),
        }
    }
}
