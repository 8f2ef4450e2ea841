//! Finds the actor of a product, activating it from disk on first use.
//!
//! Two first requests for one product must not spawn two actors: the map holds a shared
//! `OnceCell` per product (inserted with the entry API), so the second request awaits the
//! first one's activation. An actor that passivates removes its own cell before stopping; a
//! message that still reaches it fails to send, and the caller comes back here once.

use super::{
    ActorError, Shared,
    product::{ProductActor, ProductArgs, ProductMsg},
};
use crate::domain::ids::ProductId;
use dashmap::DashMap;
use ractor::{Actor, ActorRef, RpcReplyPort, rpc::CallResult};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The cell holding one product's actor once it is running.
pub type Slot = Arc<OnceCell<ActorRef<ProductMsg>>>;

/// Product actors by id.
pub struct ProductRegistry {
    shared: Arc<Shared>,
    actors: Arc<DashMap<ProductId, Slot>>,
}

impl ProductRegistry {
    /// An empty registry.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            actors: Arc::new(DashMap::new()),
        }
    }

    /// Number of running product actors.
    pub fn active(&self) -> usize {
        self.actors.len()
    }

    async fn actor(&self, id: &ProductId) -> Result<ActorRef<ProductMsg>, ActorError> {
        if !self.shared.read_model.products.contains_key(id) {
            return Err(ActorError::NotFound);
        }
        let slot = Arc::clone(self.actors.entry(id.clone()).or_default().value());
        let result = slot
            .get_or_try_init(|| async {
                let args = ProductArgs {
                    id: id.clone(),
                    shared: Arc::clone(&self.shared),
                    actors: Arc::clone(&self.actors),
                    slot: Arc::clone(&slot),
                };
                match ProductActor::spawn(None, ProductActor, args).await {
                    Ok((actor, _)) => Ok(actor),
                    Err(error) => Err(error.to_string()),
                }
            })
            .await
            .cloned();
        match result {
            Ok(actor) => Ok(actor),
            Err(error) => {
                self.actors.remove_if(id, |_, s| Arc::ptr_eq(s, &slot));
                tracing::error!(product = %id, %error, "product actor failed to start");
                Err(ActorError::Unavailable(error))
            }
        }
    }

    /// Sends a request to the product's actor and waits for its (durable) answer. `build`
    /// may run twice: once more if the first actor was passivating.
    pub async fn call<R: Send + 'static>(
        &self,
        id: &ProductId,
        build: impl Fn(RpcReplyPort<Result<R, ActorError>>) -> ProductMsg,
    ) -> Result<R, ActorError> {
        for _ in 0..2 {
            let actor = self.actor(id).await?;
            match actor.call(&build, None).await {
                Ok(CallResult::Success(result)) => return result,
                Ok(CallResult::Timeout) => {
                    return Err(ActorError::Unavailable("actor timed out".into()));
                }
                // The actor stopped before answering (passivation or failure): forget it and
                // go through activation again.
                Ok(CallResult::SenderError) | Err(_) => {
                    self.actors.remove_if(id, |_, slot| {
                        slot.get().is_some_and(|a| a.get_id() == actor.get_id())
                    });
                }
            }
        }
        Err(ActorError::Unavailable("product actor unavailable".into()))
    }
}
