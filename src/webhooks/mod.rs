//! Webhooks (docs/API.md §10): registered endpoints receive every matching event as a signed
//! POST, in order, at least once, across crashes.
//!
//! Each enabled endpoint has one worker task with its own durable log cursor
//! (`webhook:<id>`): the log is the outbox, so an event reaches an endpoint exactly when its
//! record is durable, and a crash only replays records after the saved cursor. Events are
//! derived from log records deterministically ([`events`]), so a replayed event keeps its id,
//! and a delivery already finished before the crash is recognised by its record and skipped.
//! Disabling or deleting an endpoint stops its worker and drops its cursor (the log is not
//! kept for it); enabling it again starts from the events of that moment on.

mod derived;
pub mod events;
pub mod guard;
pub mod sign;
mod worker;

use crate::{
    auth::{AuthError, Caller},
    context::Shared,
    domain::{
        error::FieldError,
        ids::{StoreId, WebhookId},
        time::now_ms,
        webhook::{Delivery, DeliveryStatus, EVENT_TYPES, Endpoint, EventPosition},
    },
    persistence::{ProductWrite, StorageError, consumer::Start},
    services::ServiceError,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::{
    sync::{oneshot, watch},
    task::JoinHandle,
};

/// Longest `description`.
const MAX_DESCRIPTION: usize = 500;
/// Longest `url`.
const MAX_URL: usize = 2048;

/// A running worker.
struct Running {
    task: JoinHandle<()>,
    endpoint: watch::Sender<Arc<Endpoint>>,
    /// Dropping it stops the worker (which then lets its recorder finish).
    _stop: oneshot::Sender<()>,
}

/// What a create request asks for.
pub struct NewEndpoint {
    /// Target.
    pub url: String,
    /// Event types or `["*"]`.
    pub events: Vec<String>,
    /// Store scope.
    pub store_id: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

/// What a PATCH changes.
#[derive(Default)]
pub struct EndpointPatch {
    /// New target.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// The webhook service: endpoint records, their workers, deliveries.
pub struct Webhooks {
    shared: Arc<Shared>,
    /// The delivery client: no redirects, guarded resolver.
    client: reqwest::Client,
    workers: Mutex<HashMap<WebhookId, Running>>,
    /// Serialises read-modify-write of endpoint records (API and workers).
    endpoint_lock: tokio::sync::Mutex<()>,
    /// Serialises read-modify-write of delivery records (a worker and a manual redeliver).
    delivery_locks: Vec<tokio::sync::Mutex<()>>,
    /// The events of recent log records, derived once for every worker.
    derived: derived::Derived,
}

/// Stripes of [`Webhooks::delivery_locks`].
const DELIVERY_STRIPES: usize = 64;

impl Webhooks {
    /// The service; no worker runs until [`Webhooks::start`].
    pub fn new(shared: Arc<Shared>) -> Result<Self, StorageError> {
        // Every endpoint's worker keeps one request in flight; endpoints often share a host
        // (one integration, several paths), and a pool smaller than their number closed a
        // connection after most requests, so the next one connected anew.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64);
        if !shared.config.webhooks.allow_private_targets {
            builder = builder.dns_resolver(Arc::new(guard::GuardedResolver));
        }
        for path in &shared.config.webhooks.extra_root_certificates {
            for certificate in root_certificates(path)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder
            .build()
            .map_err(|e| StorageError::Other(format!("building the webhook client: {e}")))?;
        Ok(Self {
            shared,
            client,
            workers: Mutex::default(),
            endpoint_lock: tokio::sync::Mutex::new(()),
            delivery_locks: (0..DELIVERY_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            derived: derived::Derived::default(),
        })
    }

    /// Starts the worker of every enabled endpoint (after recovery: the workers read the
    /// product read model).
    pub fn start(self: &Arc<Self>) -> Result<(), StorageError> {
        for endpoint in self.shared.storage.webhooks()? {
            if endpoint.enabled {
                self.spawn_worker(endpoint)?;
            }
        }
        Ok(())
    }

    /// Stops every worker and waits for them and their recorders (at shutdown, before
    /// storage closes).
    pub async fn stop(&self) {
        let running: Vec<Running> = self
            .workers
            .lock()
            .map(|mut w| w.drain().map(|(_, r)| r).collect())
            .unwrap_or_default();
        let tasks: Vec<JoinHandle<()>> = running.into_iter().map(|r| r.task).collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    fn spawn_worker(self: &Arc<Self>, endpoint: Endpoint) -> Result<(), StorageError> {
        let consumer = self
            .shared
            .storage
            .consumer(&cursor_name(&endpoint.id), Start::Now)?;
        let id = endpoint.id.clone();
        let (tx, rx) = watch::channel(Arc::new(endpoint));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(Arc::clone(self).run_worker(consumer, rx, stopped));
        let running = Running {
            task,
            endpoint: tx,
            _stop: stop,
        };
        if let Ok(mut workers) = self.workers.lock() {
            // A replaced worker (none in practice: ids are new) stops on its own.
            workers.insert(id, running);
        }
        Ok(())
    }

    /// Stops an endpoint's worker (waiting for it and its recorder) and forgets its cursor.
    async fn stop_worker(&self, id: &WebhookId) -> Result<(), StorageError> {
        let running = self.workers.lock().ok().and_then(|mut w| w.remove(id));
        if let Some(Running {
            task, _stop: stop, ..
        }) = running
        {
            drop(stop);
            let _ = task.await;
        }
        self.shared.storage.drop_cursor(&cursor_name(id))
    }

    /// Tells a running worker about its endpoint's new record.
    fn notify_worker(&self, endpoint: &Endpoint) {
        if let Ok(workers) = self.workers.lock() {
            if let Some(running) = workers.get(&endpoint.id) {
                running.endpoint.send_replace(Arc::new(endpoint.clone()));
            }
        }
    }

    /// Registers an endpoint; answers it with its secret.
    pub async fn create(
        self: &Arc<Self>,
        caller: &Caller,
        new: NewEndpoint,
    ) -> Result<Endpoint, ServiceError> {
        let store_id = match (caller, new.store_id) {
            (Caller::Admin { .. }, None) => None,
            (Caller::Admin { .. } | Caller::Staff { .. }, Some(text)) => {
                let id = StoreId::parse(&text)
                    .filter(|id| self.shared.read_model.stores.contains_key(id))
                    .ok_or_else(|| ServiceError::field("store_id", "no such store"))?;
                caller.require_store_staff(&id)?;
                Some(id)
            }
            (Caller::Staff { .. }, None) => {
                return Err(ServiceError::field(
                    "store_id",
                    "staff register webhooks for their own store: give its id",
                ));
            }
            (Caller::Anonymous, _) => return Err(AuthError::Unauthorized.into()),
            (Caller::Customer { .. }, _) => return Err(AuthError::Forbidden.into()),
        };
        let mut errors = Vec::new();
        let url = self.checked_url(&new.url, &mut errors).await;
        check_events(&new.events, &mut errors);
        check_description(new.description.as_deref(), &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let now = now_ms();
        let endpoint = Endpoint {
            id: WebhookId::generate(),
            url,
            events: dedup(new.events),
            store_id,
            description: new.description,
            enabled: true,
            disabled_reason: None,
            secret: sign::new_secret(),
            created_at: now,
            updated_at: now,
            last_success_at: None,
            failing_since: None,
        };
        let _guard = self.endpoint_lock.lock().await;
        self.put_endpoint(&endpoint).await?;
        self.spawn_worker(endpoint.clone())?;
        Ok(endpoint)
    }

    async fn checked_url(&self, text: &str, errors: &mut Vec<FieldError>) -> String {
        if text.len() > MAX_URL {
            errors.push(FieldError::new("url", "must be at most 2048 characters"));
            return String::new();
        }
        match guard::check_url(text, self.shared.config.webhooks.allow_private_targets).await {
            Ok(url) => url.to_string(),
            Err(refusal) => {
                errors.push(FieldError::new("url", refusal));
                String::new()
            }
        }
    }

    async fn put_endpoint(&self, endpoint: &Endpoint) -> Result<(), StorageError> {
        let mut write = ProductWrite::default();
        write.webhook(endpoint)?;
        self.shared.committer.write_durable(write).await
    }

    /// The endpoints the caller may see, oldest first.
    pub fn list(&self, caller: &Caller) -> Result<Vec<Endpoint>, ServiceError> {
        let scope = list_scope(caller)?;
        let mut all: Vec<Endpoint> = self
            .shared
            .storage
            .webhooks()?
            .into_iter()
            .filter(|e| scope.is_none() || e.store_id.as_ref() == scope)
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    /// One endpoint the caller may see (404 otherwise).
    pub fn get(&self, caller: &Caller, id: &str) -> Result<Endpoint, ServiceError> {
        let id = WebhookId::parse(id).ok_or(ServiceError::NotFound)?;
        let endpoint = self
            .shared
            .storage
            .webhook(&id)?
            .ok_or(ServiceError::NotFound)?;
        let visible = match caller {
            Caller::Admin { .. } => true,
            Caller::Staff { store_id, .. } => endpoint.store_id.as_ref() == Some(store_id),
            Caller::Anonymous => return Err(AuthError::Unauthorized.into()),
            Caller::Customer { .. } => false,
        };
        if visible {
            Ok(endpoint)
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// Changes an endpoint; enabling a disabled one starts it from now.
    pub async fn update(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint, ServiceError> {
        let mut errors = Vec::new();
        let url = match &patch.url {
            Some(url) => Some(self.checked_url(url, &mut errors).await),
            None => None,
        };
        if let Some(events) = &patch.events {
            check_events(events, &mut errors);
        }
        if let Some(Some(description)) = &patch.description {
            check_description(Some(description), &mut errors);
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let _guard = self.endpoint_lock.lock().await;
        let mut endpoint = self.get(caller, id)?;
        let was_enabled = endpoint.enabled;
        if let Some(url) = url {
            endpoint.url = url;
        }
        if let Some(events) = patch.events {
            endpoint.events = dedup(events);
        }
        if let Some(description) = patch.description {
            endpoint.description = description;
        }
        if let Some(enabled) = patch.enabled {
            endpoint.enabled = enabled;
            if enabled && !was_enabled {
                endpoint.disabled_reason = None;
                endpoint.failing_since = None;
            }
        }
        endpoint.updated_at = now_ms();
        if was_enabled && !endpoint.enabled {
            self.stop_worker(&endpoint.id).await?;
        }
        self.put_endpoint(&endpoint).await?;
        if endpoint.enabled && !was_enabled {
            self.spawn_worker(endpoint.clone())?;
        } else {
            self.notify_worker(&endpoint);
        }
        Ok(endpoint)
    }

    /// Replaces the secret; answers the endpoint with the new one.
    pub async fn rotate_secret(&self, caller: &Caller, id: &str) -> Result<Endpoint, ServiceError> {
        let _guard = self.endpoint_lock.lock().await;
        let mut endpoint = self.get(caller, id)?;
        endpoint.secret = sign::new_secret();
        endpoint.updated_at = now_ms();
        self.put_endpoint(&endpoint).await?;
        self.notify_worker(&endpoint);
        Ok(endpoint)
    }

    /// Deletes an endpoint, its deliveries and its cursor.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        let _guard = self.endpoint_lock.lock().await;
        let endpoint = self.get(caller, id)?;
        self.stop_worker(&endpoint.id).await?;
        let storage = self.shared.storage.clone();
        let id = endpoint.id.clone();
        let write = tokio::task::spawn_blocking(move || storage.delete_webhook(&id))
            .await
            .map_err(|e| StorageError::Other(format!("listing deliveries failed: {e}")))??;
        self.shared.committer.write_durable(write).await?;
        Ok(())
    }

    /// The endpoint's deliveries, newest first, optionally of one status: one page and the
    /// total.
    pub fn deliveries(
        &self,
        caller: &Caller,
        id: &str,
        status: Option<DeliveryStatus>,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<Delivery>, usize), ServiceError> {
        let endpoint = self.get(caller, id)?;
        let mut page = Vec::new();
        let mut total = 0;
        for delivery in self.shared.storage.deliveries(&endpoint.id) {
            let delivery = delivery?;
            if status.is_some_and(|s| s != delivery.status) {
                continue;
            }
            if total >= skip && page.len() < take {
                page.push(delivery);
            }
            total += 1;
        }
        Ok((page, total))
    }

    /// Checks a manual redelivery and starts it (one attempt, now, in the background).
    pub fn redeliver(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        delivery: &str,
    ) -> Result<(), ServiceError> {
        let endpoint = self.get(caller, id)?;
        let position = EventPosition::from_delivery_id(delivery).ok_or(ServiceError::NotFound)?;
        if self
            .shared
            .storage
            .delivery(&endpoint.id, position)?
            .is_none()
        {
            return Err(ServiceError::NotFound);
        }
        let webhooks = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = webhooks.redeliver_now(endpoint, position).await {
                tracing::warn!(%error, "a manual webhook redelivery could not be recorded");
            }
        });
        Ok(())
    }

    fn delivery_lock(&self, position: EventPosition) -> &tokio::sync::Mutex<()> {
        let stripe = (position.lsn as usize ^ usize::from(position.index)) % DELIVERY_STRIPES;
        &self.delivery_locks[stripe]
    }
}

/// The certificates of a PEM file of `webhooks.extra_root_certificates`.
fn root_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, StorageError> {
    let failed = |why: String| {
        StorageError::Other(format!(
            "webhooks.extra_root_certificates: {}: {why}",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| failed(e.to_string()))?;
    if certificates.is_empty() {
        return Err(failed("no PEM certificate in it".into()));
    }
    Ok(certificates)
}

/// The cursor of an endpoint's worker.
fn cursor_name(id: &WebhookId) -> String {
    format!("webhook:{id}")
}

/// `None`: every endpoint; `Some(store)`: that store's.
fn list_scope(caller: &Caller) -> Result<Option<&StoreId>, ServiceError> {
    match caller {
        Caller::Admin { .. } => Ok(None),
        Caller::Staff { store_id, .. } => Ok(Some(store_id)),
        Caller::Anonymous => Err(AuthError::Unauthorized.into()),
        Caller::Customer { .. } => Err(AuthError::Forbidden.into()),
    }
}

fn check_events(events: &[String], errors: &mut Vec<FieldError>) {
    if events.is_empty() {
        errors.push(FieldError::new(
            "events",
            "name at least one event type, or [\"*\"] for all",
        ));
    }
    for (i, event) in events.iter().enumerate() {
        if event != "*" && !EVENT_TYPES.contains(&event.as_str()) {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                format!("unknown event type {event:?}"),
            ));
        }
    }
}

fn check_description(description: Option<&str>, errors: &mut Vec<FieldError>) {
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        errors.push(FieldError::new(
            "description",
            "must be at most 500 characters",
        ));
    }
}

fn dedup(mut events: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    events.retain(|e| seen.insert(e.clone()));
    events
}
