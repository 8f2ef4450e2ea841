//! Business refusals. These are ordinary replies from actors and services, never actor
//! failures; the HTTP layer maps each one to its problem+json answer.

use super::{ids::ProductId, order::OrderStatus};

/// One product that could not supply what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortage {
    /// The product that is short.
    pub product_id: ProductId,
    /// Units asked for.
    pub requested: i64,
    /// Units that were available when the request was decided.
    pub available: i64,
}

/// Why a domain command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Not enough available units (for holds) or on-hand units above the held ones
    /// (for negative adjustments).
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// The product is archived and cannot be held.
    #[error("product is archived")]
    ProductUnavailable(ProductId),
    /// The hold is no longer there: it was released, expired or committed.
    #[error("no active hold for this reservation")]
    HoldNotFound,
    /// `expected_version` did not match.
    #[error("stale expected_version")]
    VersionMismatch {
        /// The product's version now.
        current: u64,
    },
    /// The change would overflow a counter: a client-supplied number was absurd.
    #[error("{0}")]
    OutOfRange(&'static str),
    /// The entity the command names (a product put in a cart) does not exist.
    #[error("not found")]
    NotFound,
    /// A cart holds one store's products only.
    #[error("the cart already holds another store's products")]
    StoreMismatch,
    /// The store is closed: nothing more of it can be added to a cart.
    #[error("the store is closed")]
    StoreClosed,
    /// The customer already reviewed this product (one review per customer and product).
    #[error("this customer already reviewed this product")]
    AlreadyReviewed,
    /// Only a review's author may edit it (and only the author or moderators delete it).
    #[error("not the author of this review")]
    NotReviewAuthor,
    /// A field of the command is wrong (checked where the state is: e.g. a product that is
    /// not in the order).
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A fulfilment asks for more units than remain unfulfilled.
    #[error("only {remaining} units of {product_id} remain unfulfilled")]
    OverFulfilled {
        /// The product.
        product_id: ProductId,
        /// Units asked for.
        requested: i64,
        /// Units not yet in a fulfilment.
        remaining: i64,
    },
    /// A return asks for more units than were delivered and not yet returned.
    #[error("only {returnable} units of {product_id} can be returned")]
    OverReturned {
        /// The product.
        product_id: ProductId,
        /// Units asked for.
        requested: i64,
        /// Units delivered minus units already in a return.
        returnable: i64,
    },
    /// A refund asks for more than was captured minus what was refunded.
    #[error("only {refundable} (minor units) can still be refunded")]
    OverRefunded {
        /// Minor units asked for.
        requested: i64,
        /// Minor units still refundable.
        refundable: i64,
    },
    /// The customer asks for a return after `returns.window_days`.
    #[error("returns are accepted up to {days} days after delivery")]
    ReturnWindowClosed {
        /// The window.
        days: u64,
    },
    /// A return's status has no such step.
    #[error("a return cannot go from {from} to {to}")]
    ReturnTransition {
        /// Current status.
        from: &'static str,
        /// Requested status.
        to: &'static str,
        /// Statuses reachable from `from`.
        allowed: Vec<&'static str>,
    },
    /// The order's state machine has no such step for this caller.
    #[error("cannot go from {} to {}", from.as_str(), to.as_str())]
    InvalidTransition {
        /// Current state.
        from: OrderStatus,
        /// Requested state.
        to: OrderStatus,
        /// States reachable from `from` for this caller.
        allowed: Vec<OrderStatus>,
    },
    /// The request conflicts with the entity's state: 409 with this code (`not_sold_out`,
    /// `already_waiting`) and message.
    #[error("{1}")]
    Conflict(&'static str, &'static str),
}

/// One invalid field of one line of an imported file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// The line of the file (the header is line 1).
    pub line: u64,
    /// The column.
    pub field: String,
    /// What is wrong, for a human.
    pub message: String,
}

/// One invalid field of a request, as listed in a 422 `validation_failed` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field (`items[2].quantity`).
    pub field: String,
    /// What is wrong, for a human.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
