//! Finds the actor of an entity, activating it from disk on first use, and keeps the number
//! of running actors of each kind bounded with one policy for every kind (products, carts,
//! orders):
//!
//! - **Cap**: past the kind's `actors.max_active_*`, every activation asks the oldest running
//!   actors to passivate ([`Passivates::evict`]); each kind refuses while it is busy (stock
//!   held, writes in flight, saga work pending) and is asked again later.
//! - **Idle**: one sweeper per kind asks every running actor, once per
//!   `actors.idle_seconds`, whether it has been idle that long ([`Passivates::idle_check`]).
//!
//! Two first requests for one entity must not spawn two actors: the map holds a shared
//! `OnceCell` per entity (inserted with the entry API), so the second request awaits the
//! first one's activation. An actor that passivates removes its own cell before stopping; a
//! message that still reaches it fails to send, and the caller comes back here once.

use super::{
    ActorError, Shared,
    product::{ProductActor, ProductArgs, ProductMsg},
};
use crate::domain::ids::{ProductId, ReservationId};
use dashmap::DashMap;
use futures_util::future::join_all;
use ractor::{Actor, ActorRef, Message, RpcReplyPort, rpc::CallResult};
use std::{
    collections::VecDeque,
    fmt::Display,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::OnceCell;

/// The two housekeeping messages the registry sends to every kind of actor. Each kind
/// decides for itself whether it may stop (what "busy" means differs), and when it does it
/// [forgets](Registry::forget) its cell first and then stops.
pub trait Passivates: Message {
    /// The kind is over its cap: passivate unless busy.
    fn evict() -> Self;
    /// The periodic sweep: passivate if idle for `actors.idle_seconds` (or done for good).
    fn idle_check() -> Self;
}

/// The cell holding one entity's actor once it is running.
pub type Slot<M> = Arc<OnceCell<ActorRef<M>>>;

/// Actors of one kind by entity id, at most `cap` of them kept running (see the module docs).
pub struct Registry<K, M> {
    actors: Arc<DashMap<K, Slot<M>>>,
    /// Activations, oldest first: the candidates for passivation when more than `cap` run.
    /// May hold ids that already passivated.
    activations: Arc<Mutex<VecDeque<K>>>,
    cap: usize,
}

impl<K, M> Clone for Registry<K, M> {
    fn clone(&self) -> Self {
        Self {
            actors: Arc::clone(&self.actors),
            activations: Arc::clone(&self.activations),
            cap: self.cap,
        }
    }
}

impl<K, M> Registry<K, M>
where
    K: Clone + Eq + Hash + Display + Send + Sync + 'static,
    M: Passivates,
{
    /// An empty registry that keeps at most `cap` (at least 1) actors running.
    pub fn new(cap: usize) -> Self {
        Self {
            actors: Arc::new(DashMap::new()),
            activations: Arc::new(Mutex::new(VecDeque::new())),
            cap: cap.max(1),
        }
    }

    /// Starts the sweeper that asks every running actor, once per `every`, whether it has
    /// been idle long enough to passivate: one task for all actors of the kind rather than a
    /// timer per actor. It ends once the registry is dropped.
    pub fn spawn_idle_sweeper(&self, every: Duration) {
        let actors = Arc::downgrade(&self.actors);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(actors) = actors.upgrade() else {
                    break;
                };
                for entry in actors.iter() {
                    if let Some(actor) = entry.value().get() {
                        let _ = actor.send_message(M::idle_check());
                    }
                }
            }
        });
    }

    /// Records an activation and, past the cap, asks the oldest running actors to passivate.
    /// One that refuses (busy) stays; it is asked again when its turn comes round, and the
    /// idle sweeper passivates it later. The actor being activated is not asked: its cell is
    /// not set yet, so it does not count as running here.
    fn note_activation(&self, id: &K) {
        let Ok(mut activations) = self.activations.lock() else {
            return;
        };
        activations.push_back(id.clone());
        let active = self.active();
        let excess = active.saturating_sub(self.cap);
        // Ask a few more than the excess so that refusals do not leave us over the cap. An
        // actor asked goes to the back of the queue: if it refused, it is asked again later.
        // Entries of actors no longer running are dropped as they come round and do not
        // count.
        let mut asked = 0;
        let mut looked = 0;
        while excess > 0 && asked < excess.saturating_add(2) && looked < 1024 {
            let Some(oldest) = activations.pop_front() else {
                break;
            };
            looked += 1;
            if let Some(actor) = self.running(&oldest) {
                let _ = actor.send_message(M::evict());
                activations.push_back(oldest);
                asked += 1;
            }
        }
        // Ids of actors that passivated by themselves pile up; keep the queue bounded.
        if activations.len() > active.max(self.cap).saturating_mul(2).saturating_add(1024) {
            activations.retain(|id| self.running(id).is_some());
        }
    }

    /// Number of running actors.
    pub fn active(&self) -> usize {
        self.actors.len()
    }

    /// Calls `f` with every running actor.
    pub fn for_each_running(&self, mut f: impl FnMut(&ActorRef<M>)) {
        for entry in self.actors.iter() {
            if let Some(actor) = entry.value().get() {
                f(actor);
            }
        }
    }

    /// The actor of `id` if one is running (never activates).
    pub fn running(&self, id: &K) -> Option<ActorRef<M>> {
        self.actors.get(id).and_then(|slot| slot.get().cloned())
    }

    /// Forgets `slot` for `id` (passivation or failure): the next call activates anew.
    pub fn forget(&self, id: &K, slot: &Slot<M>) {
        self.actors.remove_if(id, |_, s| Arc::ptr_eq(s, slot));
    }

    /// The running actor of `id`, spawning it with `spawn` when there is none.
    pub async fn actor<F, Fut>(&self, id: &K, spawn: F) -> Result<ActorRef<M>, ActorError>
    where
        F: FnOnce(Slot<M>) -> Fut,
        Fut: Future<Output = Result<ActorRef<M>, ActorError>>,
    {
        let slot = Arc::clone(self.actors.entry(id.clone()).or_default().value());
        let result = slot
            .get_or_try_init(|| async {
                let actor = spawn(Arc::clone(&slot)).await?;
                self.note_activation(id);
                Ok(actor)
            })
            .await
            .cloned();
        result.map_err(|error| {
            self.forget(id, &slot);
            if !matches!(error, ActorError::NotFound) {
                tracing::error!(entity = %id, %error, "actor failed to start");
            }
            error
        })
    }

    /// Sends a request to the entity's actor and waits for its answer. `build` may run twice:
    /// once more if the first actor was stopping.
    pub async fn call<R, F, Fut>(
        &self,
        id: &K,
        spawn: F,
        build: impl Fn(RpcReplyPort<Result<R, ActorError>>) -> M,
    ) -> Result<R, ActorError>
    where
        R: Send + 'static,
        F: Fn(Slot<M>) -> Fut,
        Fut: Future<Output = Result<ActorRef<M>, ActorError>>,
    {
        for _ in 0..2 {
            let actor = self.actor(id, &spawn).await?;
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
        Err(ActorError::Unavailable(format!(
            "actor of {id} unavailable"
        )))
    }
}

/// Product actors by id.
pub struct ProductRegistry {
    shared: Arc<Shared>,
    registry: Registry<ProductId, ProductMsg>,
}

impl ProductRegistry {
    /// An empty registry capped at `actors.max_active_products`.
    pub fn new(shared: Arc<Shared>) -> Self {
        let cap = shared.config.actors.max_active_products;
        Self {
            shared,
            registry: Registry::new(cap),
        }
    }

    /// Starts the idle sweeper of product actors (see [`Registry::spawn_idle_sweeper`]).
    pub fn spawn_idle_sweeper(&self) {
        self.registry
            .spawn_idle_sweeper(self.shared.config.actors.idle_every());
    }

    /// Number of running product actors.
    pub fn active(&self) -> usize {
        self.registry.active()
    }

    /// Gives back what `reservation` holds on each of `products` (nothing held is fine). A
    /// failure is only logged: the hold still lapses by itself at its expiry.
    pub async fn release_all<'a>(
        &self,
        reservation: &ReservationId,
        products: impl IntoIterator<Item = &'a ProductId>,
    ) {
        let outcomes = join_all(products.into_iter().map(|product| {
            self.call(product, |reply| ProductMsg::Release {
                reservation: reservation.clone(),
                reply,
            })
        }))
        .await;
        for error in outcomes.into_iter().filter_map(Result::err) {
            tracing::warn!(%reservation, %error, "release failed; the hold will lapse");
        }
    }

    /// Sends a request to the product's actor and waits for its (durable) answer.
    pub async fn call<R: Send + 'static>(
        &self,
        id: &ProductId,
        build: impl Fn(RpcReplyPort<Result<R, ActorError>>) -> ProductMsg,
    ) -> Result<R, ActorError> {
        if !self.shared.read_model.products.contains_key(id) {
            return Err(ActorError::NotFound);
        }
        let spawn = |slot: Slot<ProductMsg>| {
            let args = ProductArgs {
                id: id.clone(),
                shared: Arc::clone(&self.shared),
                registry: self.registry.clone(),
                slot,
            };
            async move {
                ProductActor::spawn(None, ProductActor, args)
                    .await
                    .map(|(actor, _)| actor)
                    .map_err(|e| ActorError::Unavailable(e.to_string()))
            }
        };
        self.registry.call(id, spawn, build).await
    }
}
