//! The services every layer above shares: settings, storage and its group committer, the
//! hub and the read models. It sits below `auth`, `payments` and the actors, which all take
//! it, so none of them has to reach up into another for it.

use crate::{
    config::Config,
    discovery::Discovery,
    persistence::{Storage, committer::Committer},
    read_model::ReadModel,
    realtime::Hub,
};
use std::sync::Arc;

/// What accounts, payments and every actor need from the rest of the server.
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
    /// Popularity, co-purchases and product views (fed by its own log consumer).
    pub discovery: Arc<Discovery>,
}
