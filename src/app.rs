//! The assembled server: storage, committer, hub, read models, actors and services, plus
//! start-up recovery.

use crate::{
    actors::{ProductRegistry, Shared, product::ProductMsg},
    config::Config,
    domain::time::now_ms,
    persistence::{
        Storage, StorageError, committer::Committer, data_dir::DataDir, secrets::Secrets,
    },
    read_model::ReadModel,
    realtime::Hub,
    services::{catalog::Catalog, reservations::Reservations},
    views::ProductView,
};
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use tokio::sync::{Mutex, watch};

/// Stripes of the idempotency lock (requests with one key run one at a time).
const IDEMPOTENCY_STRIPES: usize = 64;

/// Everything a request handler can reach.
pub struct App {
    /// Settings.
    pub config: Arc<Config>,
    /// Services shared with the actors.
    pub shared: Arc<Shared>,
    /// Product actors.
    pub products: Arc<ProductRegistry>,
    /// Stores and product creation.
    pub catalog: Catalog,
    /// The reservation saga.
    pub reservations: Reservations,
    /// Product reviews.
    pub reviews: crate::services::reviews::Reviews,
    /// Carts, orders and payments.
    pub commerce: Arc<crate::actors::commerce::Commerce>,
    /// The admin bearer token.
    pub admin_token: String,
    /// Where it came from (it is logged only when generated, and only then).
    pub admin_token_source: AdminTokenSource,
    /// Accounts and tokens.
    pub auth: crate::auth::Auth,
    /// The search index and each store's synonyms.
    pub search: Arc<crate::search::Search>,
    /// Webhook endpoints and their delivery workers.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Emails: made from the log, sent over SMTP or recorded.
    pub notifications: Arc<crate::notifications::Notifications>,
    /// Product images: uploads, presigned URLs, resized copies.
    pub media: crate::media::Media,
    /// Set once recovery has finished.
    ready: AtomicBool,
    /// Set when shutdown begins; WebSocket connections watch it.
    shutdown: watch::Sender<bool>,
    /// Serialises requests that share an `Idempotency-Key`.
    pub idempotency_locks: Vec<Mutex<()>>,
    next_connection: AtomicU64,
    /// Tasks that hold the storage (the discovery consumer, the views' saver): stopped by
    /// [`App::stop_background`] before the storage is flushed and closed, so that a stopped
    /// server never keeps the data dir locked.
    background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl App {
    /// Opens the data dir (locking it) and storage, resolves the secrets, and assembles the
    /// server (not ready until [`App::recover`] ran). Blocking.
    pub fn open(config: Config) -> Result<Arc<Self>, StorageError> {
        let data_dir = DataDir::open(&config.data_dir)?;
        let storage = Storage::open_in(&data_dir, (&config.storage).into())?;
        let resolved = resolve_secrets(&config, &data_dir)?;
        let search = crate::search::Search::open(&data_dir.path().join("search"))
            .and_then(|search| search.load_synonyms(&storage).map(|()| search))
            .map_err(|e| StorageError::Other(e.to_string()))?;
        data_dir.tighten_created();
        let admin_token = resolved.admin_token;
        let admin_token_source = resolved.admin_token_source;
        let config = Arc::new(config);
        let shared = Arc::new(Shared {
            config: Arc::clone(&config),
            committer: Committer::start(storage.clone()),
            hub: Arc::new(Hub::new(config.ws.replay_buffer).with_latest_interval(
                std::time::Duration::from_millis(config.ws.latest_interval_ms),
            )),
            read_model: Arc::new(ReadModel::default()),
            discovery: Arc::new(crate::discovery::Discovery::open(&storage)?),
            storage,
        });
        let products = Arc::new(ProductRegistry::new(Arc::clone(&shared)));
        products.spawn_idle_sweeper();
        let auth = crate::auth::Auth::open(Arc::clone(&shared), resolved.jwt_secret)?;
        let notifications = Arc::new(crate::notifications::Notifications::new(
            Arc::clone(&shared),
            auth.links().clone(),
        )?);
        let orders = crate::actors::registry::Registry::new(config.actors.max_active_orders);
        let carts = crate::actors::registry::Registry::new(config.actors.max_active_carts);
        orders.spawn_idle_sweeper(config.actors.idle_every());
        carts.spawn_idle_sweeper(config.actors.idle_every());
        let webhooks = Arc::new(crate::webhooks::Webhooks::new(Arc::clone(&shared))?);
        let media = crate::media::Media::new(
            Arc::clone(&shared),
            Arc::clone(&products),
            data_dir.path(),
            auth.links().clone(),
        );
        Ok(Arc::new(Self {
            webhooks,
            media,
            catalog: Catalog::new(Arc::clone(&shared)),
            reservations: Reservations::new(Arc::clone(&shared), Arc::clone(&products)),
            reviews: crate::services::reviews::Reviews::new(
                Arc::clone(&shared),
                Arc::clone(&products),
            ),
            commerce: Arc::new(crate::actors::commerce::Commerce {
                shared: Arc::clone(&shared),
                products: Arc::clone(&products),
                provider: Arc::new(crate::payments::SimulatedProvider::new(Arc::clone(&shared))),
                orders,
                carts,
                checkouts: Default::default(),
            }),
            config,
            shared,
            products,
            admin_token,
            admin_token_source,
            auth,
            search: Arc::new(search),
            notifications,
            ready: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            idempotency_locks: (0..IDEMPOTENCY_STRIPES).map(|_| Mutex::new(())).collect(),
            next_connection: AtomicU64::new(1),
            background: Default::default(),
        }))
    }

    /// Replaces `store`'s search synonyms: durable first, then in effect for the next query.
    pub async fn set_synonyms(
        &self,
        store: &crate::domain::ids::StoreId,
        groups: Vec<Vec<String>>,
    ) -> Result<(), StorageError> {
        let mut write = crate::persistence::ProductWrite::default();
        write.synonyms(store, &groups)?;
        self.shared.committer.write_durable(write).await?;
        self.search.set_synonyms(
            store.clone(),
            crate::search::synonyms::Synonyms::new(groups),
        );
        Ok(())
    }

    /// Whether recovery has finished and storage is writable.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && !self.shared.committer.has_failed()
            && !*self.shutdown.borrow()
    }

    /// A receiver that turns true when shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Starts shutdown: readiness goes away and WebSocket connections close.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Stops the background tasks that hold the storage and waits until they are gone, then
    /// writes the product views one last time (at shutdown, before the final flush).
    pub async fn stop_background(&self) {
        let tasks = self
            .background
            .lock()
            .map(|mut tasks| std::mem::take(&mut *tasks))
            .unwrap_or_default();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        self.webhooks.stop().await;
        let discovery = &self.shared.discovery;
        for (what, counters) in [
            ("product views", &discovery.views),
            ("cart adds", &discovery.cart_adds),
        ] {
            if let Err(error) = counters.persist(&self.shared.storage).await {
                tracing::warn!(%error, "persisting {what} at shutdown failed");
            }
        }
    }

    /// A process-unique id for a WebSocket connection.
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Wakes the actor of every cart with a hold or past its lifetime, so `cart.hold_expired`
    /// and idle deletion happen without anyone touching the cart. Returns how many.
    pub async fn wake_carts(&self) -> Result<usize, StorageError> {
        let storage = self.shared.storage.clone();
        let carts = tokio::task::spawn_blocking(move || storage.carts_needing_timers(now_ms()))
            .await
            .map_err(|e| StorageError::Other(format!("cart sweep failed: {e}")))??;
        for id in &carts {
            if let Err(error) = self
                .commerce
                .call_cart(id, |reply| crate::actors::cart::CartMsg::Get { reply })
                .await
            {
                tracing::warn!(cart = %id, %error, "could not wake a cart");
            }
        }
        Ok(carts.len())
    }

    /// Sweeps carts every ten minutes (untouched carts expire even while the server runs);
    /// starts the discovery consumer (popularity, co-purchases) and the periodic save of
    /// product views. Runs after [`App::restore`]: the discovery consumer starts from the
    /// orders read model.
    pub fn spawn_housekeeping(self: &Arc<Self>) {
        if let Some(path) = crate::fault::probe_consumer_file() {
            spawn_probe_consumer(self.shared.storage.clone(), path);
        }
        let shared = Arc::clone(&self.shared);
        let follow = tokio::spawn(async move {
            let followed = Arc::clone(&shared.discovery)
                .follow(&shared.storage, &shared.read_model)
                .await;
            if let Err(error) = followed {
                tracing::error!(%error, "the discovery consumer stopped; popularity is frozen");
            }
        });
        let shared = Arc::clone(&self.shared);
        let persist = tokio::spawn(async move {
            let every =
                std::time::Duration::from_millis(shared.config.discovery.views_flush_ms.max(1));
            shared
                .discovery
                .persist_views_every(&shared.storage, every)
                .await;
        });
        let search = tokio::spawn(Arc::clone(&self.search).follow(
            self.shared.storage.clone(),
            Arc::clone(&self.shared.read_model),
        ));
        let watchdog = tokio::spawn(crate::services::watchdog::run(Arc::clone(&self.shared)));
        let metrics = tokio::spawn(crate::services::metrics::run(
            Arc::clone(&self.shared),
            std::time::Duration::from_secs(1),
        ));
        if let Ok(mut tasks) = self.background.lock() {
            tasks.extend([follow, persist, search, watchdog, metrics]);
        }
        if let Err(error) = self.webhooks.start() {
            tracing::error!(%error, "the webhook workers could not start; no webhooks are delivered");
        }
        let app = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { break };
                if let Err(error) = app.wake_carts().await {
                    tracing::warn!(%error, "cart sweep failed");
                }
            }
        });
    }

    /// Starts the notification consumer and sender; links in emails start with
    /// `notifications.public_url`, or `http://{addr}` (the address the server listens on).
    pub fn spawn_notifications(&self, addr: std::net::SocketAddr) -> Result<(), StorageError> {
        let public_url = self
            .config
            .notifications
            .public_url
            .clone()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| format!("http://{addr}"));
        let tasks = self
            .notifications
            .spawn(public_url.trim_end_matches('/').to_owned())?;
        if let Ok(mut background) = self.background.lock() {
            background.extend(tasks);
        }
        Ok(())
    }

    /// Loads the catalog and writes the search index afresh (`emporium reindex`; nothing else
    /// of recovery runs: no hold expires, no payment resumes). Returns the products indexed.
    pub async fn reindex(self: &Arc<Self>) -> Result<usize, StorageError> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || rebuild_read_models(&shared))
            .await
            .map_err(|e| StorageError::Other(format!("loading the catalog failed: {e}")))??;
        let search = Arc::clone(&self.search);
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || search.rebuild(&shared.storage, &shared.read_model))
            .await
            .map_err(|e| StorageError::Other(format!("reindexing failed: {e}")))?
            .map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(self.shared.read_model.products.len())
    }

    /// [`App::restore`], then the server is ready.
    pub async fn recover(self: &Arc<Self>) -> Result<(), StorageError> {
        self.restore().await?;
        self.mark_ready();
        Ok(())
    }

    /// Declares the server ready (`/readyz` 200); [`App::restore`] must have run.
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
        tracing::info!("ready");
    }

    /// Rebuilds the read models, finishes interrupted commits, releases holds that lapsed
    /// while the server was down and resumes pending payments; the server is not ready yet
    /// (so `--demo` can load its catalog first).
    pub async fn restore(self: &Arc<Self>) -> Result<(), StorageError> {
        if let Some(delay) = crate::fault::recovery_delay() {
            tokio::time::sleep(delay).await;
        }
        let started = std::time::Instant::now();
        let shared = Arc::clone(&self.shared);
        let holders = tokio::task::spawn_blocking(move || rebuild_read_models(&shared))
            .await
            .map_err(|e| StorageError::Other(format!("recovery task failed: {e}")))??;
        let interrupted = self
            .reservations
            .recover()
            .await
            .map_err(|e| StorageError::Other(e.to_string()))?;
        // Wake every product that holds stock: lapsed holds are released now, before ready,
        // and the others get their expiry timer armed (an actor that is never woken would
        // keep its holds forever).
        for id in &holders {
            if let Err(error) = self
                .products
                .call(id, |reply| ProductMsg::ExpireDue { reply: Some(reply) })
                .await
            {
                return Err(StorageError::Other(format!(
                    "expiring holds of {id}: {error}"
                )));
            }
        }
        let carts = self.wake_carts().await?;
        let pending: Vec<_> = self
            .shared
            .read_model
            .orders
            .iter()
            .filter(|o| o.status == crate::domain::order::OrderStatus::Pending)
            .map(|o| o.id.clone())
            .collect();
        for id in &pending {
            // Activating a pending order resumes its payment with the same idempotency key.
            let commerce = Arc::clone(&self.commerce);
            let id = id.clone();
            tokio::spawn(async move {
                let resumed = commerce
                    .call_order(&id, |reply| crate::actors::order::OrderMsg::WaitSettled {
                        reply,
                    })
                    .await;
                if let Err(error) = resumed {
                    tracing::warn!(order = %id, %error, "resuming a pending order failed");
                }
            });
        }
        // Refunds and return receipts a crash interrupted: finish them (each step is
        // idempotent, so nothing happens twice).
        let unfinished: Vec<_> = self
            .shared
            .read_model
            .orders
            .iter()
            .filter(|o| {
                crate::actors::order::has_unfinished_saga(
                    o.value(),
                    &self.shared.read_model.returns_of(&o.id),
                )
            })
            .map(|o| o.id.clone())
            .collect();
        for id in &unfinished {
            let resumed = self
                .commerce
                .call_order(id, |reply| crate::actors::order::OrderMsg::Act {
                    command: Box::new(crate::actors::order::OrderCommand::Resume),
                    reply,
                })
                .await;
            if let Err(error) = resumed {
                tracing::warn!(order = %id, %error, "resuming a refund or return failed");
            }
        }
        tracing::info!(
            resumed_orders = pending.len(),
            resumed_sagas = unfinished.len(),
            stores = self.shared.read_model.stores.len(),
            products = self.shared.read_model.products.len(),
            finished_commits = interrupted,
            woken_products = holders.len(),
            woken_carts = carts,
            millis = started.elapsed().as_millis() as u64,
            "recovery finished"
        );
        Ok(())
    }
}

/// Loads every store, product and order into the read models; returns the products that hold
/// stock.
fn rebuild_read_models(
    shared: &Shared,
) -> Result<Vec<crate::domain::ids::ProductId>, StorageError> {
    for location in shared.storage.locations()? {
        shared.read_model.put_location(location);
    }
    for store in shared.storage.stores()? {
        // A store created before locations has its default one on upgrade (held only in
        // memory until it is first edited; its id is derived from the store's, which is
        // where the upgraded ledgers put the stock).
        if !shared
            .read_model
            .locations_of(&store.id)
            .iter()
            .any(|l| l.default)
        {
            shared
                .read_model
                .put_location(crate::domain::location::Location::default_for(&store));
        }
        shared.read_model.stores.insert(store.id.clone(), store);
    }
    if let Some(rates) = shared.storage.exchange_rates()? {
        shared.read_model.set_exchange_rates(rates);
    }
    for entry in shared.storage.orders_marked() {
        let (mut order, predates) = entry?;
        if predates && let Some(store) = shared.read_model.stores.get(&order.store_id) {
            // Placed before orders had a type: the store's default is the best guess.
            order.fulfillment_type = crate::services::orders::default_fulfillment(store.kind);
        }
        shared.read_model.put_order(Arc::new(order));
    }
    for record in shared.storage.returns() {
        shared.read_model.put_return(Arc::new(record?));
    }
    let mut holders = Vec::new();
    for id in shared.storage.product_ids() {
        let id = id?;
        let Some((product, _, _)) = shared.storage.load_product(&id)? else {
            continue;
        };
        let catalog = Arc::clone(&product.catalog);
        shared
            .read_model
            .claim_sku(&catalog.store_id, &catalog.sku, &catalog.id);
        if !product.ledger.holds.is_empty() {
            holders.push(id);
        }
        shared.read_model.put_product(ProductView {
            catalog,
            stock: product.ledger.levels(),
            locations: Arc::new(product.ledger.locations.clone()),
            allocations: Vec::new(),
            movements: product.ledger.movements,
            rating: product.rating,
        });
    }
    Ok(holders)
}

/// Where the admin token in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminTokenSource {
    /// `admin_token` / `EMPORIUM_ADMIN_TOKEN`: the operator's; never logged, never stored.
    Configured,
    /// `DATA_DIR/secrets`, from an earlier start or `emporium admin-token rotate`.
    Stored,
    /// Generated by this start (logged once, stored for later starts).
    Generated,
}

/// The secrets this start uses.
struct ResolvedSecrets {
    admin_token: String,
    admin_token_source: AdminTokenSource,
    jwt_secret: String,
}

/// The admin token and JWT key: from the configuration, else from `DATA_DIR/secrets`, else
/// generated and stored there. A configured value is never written to the data dir.
fn resolve_secrets(config: &Config, data_dir: &DataDir) -> Result<ResolvedSecrets, StorageError> {
    let mut secrets = data_dir.secrets()?;
    let mut changed = false;
    let configured = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    let (admin_token, admin_token_source) = match configured(&config.admin_token) {
        Some(token) => (token, AdminTokenSource::Configured),
        None => match &secrets.admin_token {
            Some(token) => (token.clone(), AdminTokenSource::Stored),
            None => {
                let token = Secrets::new_admin_token();
                secrets.admin_token = Some(token.clone());
                changed = true;
                (token, AdminTokenSource::Generated)
            }
        },
    };
    let jwt_secret = match configured(&config.auth.jwt_secret) {
        Some(secret) => secret,
        None => match &secrets.jwt_secret {
            Some(secret) => secret.clone(),
            None => {
                let secret = Secrets::new_jwt_secret();
                secrets.jwt_secret = Some(secret.clone());
                changed = true;
                tracing::info!(secrets = %data_dir.secrets_path().display(), "generated the JWT secret");
                secret
            }
        },
    };
    if changed {
        data_dir.save_secrets(&secrets)?;
    }
    if admin_token_source == AdminTokenSource::Generated {
        tracing::info!(
            admin_token = %admin_token,
            secrets = %data_dir.secrets_path().display(),
            "generated the admin token (logged only this once; `emporium admin-token show` prints it again)"
        );
    }
    Ok(ResolvedSecrets {
        admin_token,
        admin_token_source,
        jwt_secret,
    })
}

/// The `probe_consumer` test hook (see [`crate::fault`]): a log consumer that reports what it
/// receives to a file.
fn spawn_probe_consumer(storage: Storage, path: std::path::PathBuf) {
    use std::io::Write;
    tokio::spawn(async move {
        let run = async {
            let mut consumer =
                storage.consumer("fault-probe", crate::persistence::consumer::Start::Oldest)?;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(StorageError::io("opening", &path))?;
            let mut report = |line: String| {
                file.write_all(line.as_bytes())
                    .map_err(StorageError::io("writing", &path))
            };
            report(format!("start {}\n", consumer.position()))?;
            loop {
                let events = consumer.next(64).await?;
                let Some(last) = events.last().map(|e| e.lsn) else {
                    continue;
                };
                let lines: String = events.iter().map(|e| format!("e {}\n", e.lsn)).collect();
                report(lines)?;
                consumer.save(last).await?;
                report(format!("c {last}\n"))?;
            }
        };
        let result: Result<(), StorageError> = run.await;
        if let Err(error) = result {
            tracing::error!(%error, "the probe consumer stopped");
        }
    });
}
