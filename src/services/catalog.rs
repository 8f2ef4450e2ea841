//! Stores and product creation. Everything after creation goes through the product's actor.

use crate::realtime::EventType;
use crate::{
    actors::Shared,
    domain::{
        error::FieldError,
        ids::{LocationId, ProductId, StoreId},
        location::{AllocationStrategy, Location, LocationKind, default_location_id},
        money::is_known_currency,
        product::{NewProduct, Product},
        review::Rating,
        stock::{AdjustmentReason, Ledger, StockChange, StockSignal},
        store::{Store, StoreKind},
        time::now_ms,
    },
    persistence::{Movement, MovementKind, ProductWrite, Snapshot, StoredEvent},
    services::error::ServiceError,
    views::{self, ProductView},
};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Checks a location's name (1–200 characters) and priority (0–1 000 000).
fn check_location_fields(name: Option<&String>, priority: Option<i64>) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    if name.is_some_and(|n| n.trim().is_empty() || n.chars().count() > 200) {
        errors.push(FieldError::new("name", "must be 1-200 characters"));
    }
    if priority.is_some_and(|p| !(0..=1_000_000).contains(&p)) {
        errors.push(FieldError::new("priority", "must be 0-1000000"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Validation(errors))
    }
}

/// Store and product creation.
pub struct Catalog {
    shared: Arc<Shared>,
    /// Serialises store status changes so each is persisted and published in one order.
    store_writes: Mutex<()>,
}

impl Catalog {
    /// The catalog service.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            store_writes: Mutex::new(()),
        }
    }

    /// Creates a store.
    pub async fn create_store(
        &self,
        name: String,
        kind: StoreKind,
        currency: String,
    ) -> Result<Store, ServiceError> {
        let mut errors = Vec::new();
        if name.trim().is_empty() || name.chars().count() > 200 {
            errors.push(FieldError::new("name", "must be 1-200 characters"));
        }
        if !is_known_currency(&currency) {
            errors.push(FieldError::new(
                "currency",
                "must be an ISO 4217 code such as USD, EUR or JPY",
            ));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let store = Store {
            id: StoreId::generate(),
            name,
            kind,
            currency,
            open: true,
            created_at: now_ms(),
            allocation: AllocationStrategy::Priority,
        };
        let location = Location::default_for(&store);
        let mut write = ProductWrite::default();
        write.store(&store)?;
        write.location(&location)?;
        self.shared.committer.write_durable(write).await?;
        self.shared.read_model.put_location(location);
        self.shared
            .read_model
            .stores
            .insert(store.id.clone(), store.clone());
        Ok(store)
    }

    /// Opens or closes a store and publishes `store.status_changed`.
    pub async fn set_store_open(&self, id: &StoreId, open: bool) -> Result<Store, ServiceError> {
        let _guard = self.store_writes.lock().await;
        let mut store = self
            .shared
            .read_model
            .stores
            .get(id)
            .map(|s| s.clone())
            .ok_or(ServiceError::NotFound)?;
        if store.open == open {
            return Ok(store);
        }
        store.open = open;
        let mut write = ProductWrite::default();
        write.store_status_changed(&store, now_ms())?;
        self.shared.committer.write_durable(write).await?;
        let data = views::store(&store);
        let read_model = Arc::clone(&self.shared.read_model);
        let stored = store.clone();
        self.shared.hub.publish_volatile(
            &format!("store:{id}"),
            EventType::StoreStatusChanged,
            &data,
            now_ms(),
            move || {
                read_model.stores.insert(stored.id.clone(), stored);
            },
        );
        Ok(store)
    }

    /// Sets how holds pick the store's locations.
    pub async fn set_store_allocation(
        &self,
        id: &StoreId,
        allocation: AllocationStrategy,
    ) -> Result<Store, ServiceError> {
        let _guard = self.store_writes.lock().await;
        let mut store = self
            .shared
            .read_model
            .stores
            .get(id)
            .map(|s| s.clone())
            .ok_or(ServiceError::NotFound)?;
        if store.allocation == allocation {
            return Ok(store);
        }
        store.allocation = allocation;
        let mut write = ProductWrite::default();
        write.store(&store)?;
        self.shared.committer.write_durable(write).await?;
        self.shared
            .read_model
            .stores
            .insert(store.id.clone(), store.clone());
        Ok(store)
    }

    /// Adds a stock location to a store (never the default: a store has one from creation).
    pub async fn create_location(
        &self,
        store: &StoreId,
        name: String,
        kind: LocationKind,
        priority: i64,
    ) -> Result<Location, ServiceError> {
        if !self.shared.read_model.stores.contains_key(store) {
            return Err(ServiceError::NotFound);
        }
        check_location_fields(Some(&name), Some(priority))?;
        let location = Location {
            id: LocationId::generate(),
            store_id: store.clone(),
            name,
            kind,
            priority,
            default: false,
            active: true,
            created_at: now_ms(),
        };
        let _guard = self.store_writes.lock().await;
        let mut write = ProductWrite::default();
        write.location(&location)?;
        self.shared.committer.write_durable(write).await?;
        self.shared.read_model.put_location(location.clone());
        Ok(location)
    }

    /// Edits a location's name, priority or activity. The default location cannot be
    /// deactivated (409 `default_location`): it is where unlocated stock lands, and it keeps
    /// every store with at least one active location.
    pub async fn update_location(
        &self,
        id: &LocationId,
        name: Option<String>,
        priority: Option<i64>,
        active: Option<bool>,
    ) -> Result<Location, ServiceError> {
        check_location_fields(name.as_ref(), priority)?;
        let _guard = self.store_writes.lock().await;
        let mut location = self
            .shared
            .read_model
            .location(id)
            .ok_or(ServiceError::NotFound)?;
        if location.default && active == Some(false) {
            return Err(ServiceError::Conflict {
                code: "default_location",
                message: "the default location cannot be deactivated".into(),
            });
        }
        if let Some(name) = name {
            location.name = name;
        }
        if let Some(priority) = priority {
            location.priority = priority;
        }
        if let Some(active) = active {
            location.active = active;
        }
        let mut write = ProductWrite::default();
        write.location(&location)?;
        self.shared.committer.write_durable(write).await?;
        self.shared.read_model.put_location(location.clone());
        Ok(location)
    }

    /// Creates a product, with its initial stock as its first movement, in one atomic write.
    pub async fn create_product(
        &self,
        new: NewProduct,
        by: &str,
    ) -> Result<ProductView, ServiceError> {
        let currency = self
            .shared
            .read_model
            .stores
            .get(&new.store_id)
            .map(|s| s.currency.clone())
            .ok_or(ServiceError::NotFound)?;
        let errors = new.validate(&currency);
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let id = ProductId::generate();
        let (store_id, sku) = (new.store_id.clone(), new.sku.clone());
        if !self.shared.read_model.claim_sku(&store_id, &sku, &id) {
            return Err(ServiceError::SkuTaken);
        }
        let result = self.persist_new_product(new, id, by).await;
        if result.is_err() {
            self.shared.read_model.release_sku(&store_id, &sku);
        }
        result
    }

    async fn persist_new_product(
        &self,
        new: NewProduct,
        id: ProductId,
        by: &str,
    ) -> Result<ProductView, ServiceError> {
        let now = now_ms();
        let initial_stock = new.initial_stock;
        let home = default_location_id(&new.store_id);
        let mut product = Product {
            catalog: Arc::new(new.into_catalog(id.clone(), now)),
            ledger: Ledger::located(home.clone()),
            rating: Rating::default(),
        };
        let mut write = ProductWrite::default();
        let mut idx = 0;
        if initial_stock > 0 {
            let change = StockChange::Adjusted {
                delta: initial_stock,
                reason: AdjustmentReason::Initial,
                note: None,
                by: by.to_owned(),
            };
            let signals = product
                .ledger
                .apply(&change, product.catalog.low_stock_threshold);
            idx = 1;
            write
                .movement(
                    &id,
                    1,
                    &Movement {
                        id: crate::domain::ids::MovementId::generate().to_string(),
                        at: now,
                        kind: MovementKind::Adjustment,
                        delta: initial_stock,
                        on_hand_after: initial_stock,
                        reason: Some(AdjustmentReason::Initial.as_str().into()),
                        note: None,
                        reference: None,
                        by: by.to_owned(),
                        location_id: Some(home),
                    },
                )
                .map_err(ServiceError::from)?;
            let levels = product.ledger.levels();
            for (seq, signal) in (1u64..).zip(&signals) {
                let (name, data) = match signal {
                    StockSignal::Changed(cause) => (
                        EventType::StockChanged,
                        views::stock_changed(&product.catalog, &levels, seq, *cause),
                    ),
                    StockSignal::Low => (
                        EventType::StockLow,
                        views::stock_low(&product.catalog, &levels),
                    ),
                };
                write
                    .event(
                        &id,
                        &StoredEvent {
                            seq,
                            at: now,
                            name: name.as_str().into(),
                            data: data.to_string(),
                        },
                    )
                    .map_err(ServiceError::from)?;
            }
        }
        write
            .snapshot(&Snapshot {
                idx,
                product: product.clone(),
            })
            .map_err(ServiceError::from)?;
        self.shared.committer.write_durable(write).await?;
        let view = ProductView {
            catalog: Arc::clone(&product.catalog),
            stock: product.ledger.levels(),
            locations: Arc::new(product.ledger.locations.clone()),
            allocations: Vec::new(),
            movements: product.ledger.movements,
            rating: product.rating,
        };
        self.shared.read_model.put_product(view.clone());
        Ok(view)
    }
}
