//! Actors: one per product (stock and catalog), found or activated through the registry.

pub mod cart;
pub mod commerce;
pub mod order;
pub mod product;
pub mod registry;

/// What every actor needs from the rest of the server (defined below the actors, so that
/// accounts and payments can use it too).
pub use crate::context::Shared;
pub use registry::ProductRegistry;

/// Why an actor call did not produce an answer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ActorError {
    /// A business refusal.
    #[error(transparent)]
    Refused(#[from] crate::domain::DomainError),
    /// No such entity.
    #[error("not found")]
    NotFound,
    /// Storage failed or the actor could not be reached; the client may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
}
