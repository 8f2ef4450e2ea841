//! Actors: one per product (stock and catalog), found or activated through the registry.

pub mod cart;
pub mod commerce;
pub mod order;
pub mod product;
pub mod registry;

use crate::{
    config::Config, persistence::Storage, persistence::committer::Committer, read_model::ReadModel,
    realtime::Hub,
};
use std::sync::Arc;

pub use registry::ProductRegistry;

/// What every actor needs from the rest of the server.
pub struct Shared {
    /// Settings.
    pub config: Arc<Config>,
    /// The database.
    pub storage: Storage,
    /// Group commit.
    pub committer: Committer,
    /// Live updates.
    pub hub: Arc<Hub>,
    /// Read models updated after every durable change.
    pub read_model: Arc<ReadModel>,
}

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
