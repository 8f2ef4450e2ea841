//! In-memory read models rebuilt at start: stores, products with their durable stock, and the
//! SKU index. Actors update them after each durable change; HTTP reads never touch an actor.

pub mod search_facts;

use crate::{
    domain::{
        currency::ExchangeRates,
        ids::{FulfillmentId, LocationId, OrderId, ProductId, ReturnId, StoreId, UserId},
        location::{Location, Placement},
        order::Order,
        returns::Return,
        store::Store,
    },
    views::ProductView,
};
use dashmap::{DashMap, mapref::entry::Entry};
use std::sync::{Arc, RwLock};

/// The read side of the catalog.
#[derive(Default)]
pub struct ReadModel {
    /// Every store.
    pub stores: DashMap<StoreId, Store>,
    /// Every product, with stock as of its last durable change. Fx-hashed (ids are the
    /// server's own, so hash flooding is not a concern). Only [`ReadModel::put_product`]
    /// writes it, so `search_facts` always follows.
    pub products: DashMap<ProductId, ProductView, rustc_hash::FxBuildHasher>,
    /// What search filters, counts and sorts by, one slot per product, updated with every
    /// product change above (so a query reads no catalog entry but those of its page).
    pub search_facts: search_facts::Facts,
    /// Every order (orders are small and dashboards list the open ones).
    pub orders: DashMap<OrderId, Arc<Order>>,
    /// Customer → their orders, oldest first (the review purchase check reads a customer's
    /// own orders, not every order). Kept by [`ReadModel::put_order`].
    customer_orders: DashMap<UserId, Vec<OrderId>>,
    /// The admin-set exchange rates, if any (read by every `?currency=` request).
    exchange_rates: RwLock<Option<Arc<ExchangeRates>>>,
    /// Fulfilment → its order (`POST /fulfillments/{id}/events` names only the fulfilment).
    pub fulfillments: DashMap<FulfillmentId, OrderId>,
    /// Every return, as last made durable.
    pub returns: DashMap<ReturnId, Arc<Return>>,
    /// Order → its returns, oldest first (the lookup by order).
    pub order_returns: DashMap<OrderId, Vec<ReturnId>>,
    /// `(store, lower-cased sku)` → product, for uniqueness.
    skus: DashMap<(StoreId, String), ProductId>,
    /// Every store's stock locations, oldest first (the default one among them). Product
    /// actors read them to allocate holds; the locations service is their only writer.
    pub locations: DashMap<StoreId, Vec<Location>>,
}

impl ReadModel {
    /// The product's current view.
    pub fn product(&self, id: &ProductId) -> Option<ProductView> {
        self.products.get(id).map(|p| p.value().clone())
    }

    /// Records a durable product state. Stock versions only move forward, so a late update
    /// can never roll a product back.
    pub fn put_product(&self, view: ProductView) {
        match self.products.entry(view.catalog.id.clone()) {
            // The facts are written while the entry is held, so two racing updates of one
            // product leave the facts of the one that won.
            Entry::Occupied(mut entry) => {
                if entry.get().stock.version <= view.stock.version {
                    self.search_facts.put(&view);
                    entry.insert(view);
                }
            }
            Entry::Vacant(entry) => {
                self.search_facts.put(&view);
                entry.insert(view);
            }
        }
    }

    /// The exchange rates now.
    pub fn exchange_rates(&self) -> Option<Arc<ExchangeRates>> {
        // A panic while holding the lock cannot leave a half-written `Option<Arc<_>>`.
        self.exchange_rates
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the exchange rates (after they are durable).
    pub fn set_exchange_rates(&self, rates: ExchangeRates) {
        *self
            .exchange_rates
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(rates));
    }

    /// Records a durable order state, and the fulfilment ids that lead to it.
    pub fn put_order(&self, order: Arc<Order>) {
        for fulfillment in &order.fulfillments {
            self.fulfillments
                .insert(fulfillment.id.clone(), order.id.clone());
        }
        if let Some(customer) = &order.customer_id {
            let mut ids = self.customer_orders.entry(customer.clone()).or_default();
            if !ids.contains(&order.id) {
                ids.push(order.id.clone());
            }
        }
        self.orders.insert(order.id.clone(), order);
    }

    /// `customer`'s orders as last made durable, oldest first.
    pub fn orders_of(&self, customer: &UserId) -> Vec<Arc<Order>> {
        let Some(ids) = self.customer_orders.get(customer).map(|ids| ids.clone()) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| self.orders.get(id).map(|o| Arc::clone(o.value())))
            .filter(|order| order.customer_id.as_ref() == Some(customer))
            .collect()
    }

    /// Records a durable return state (and indexes it by order when new).
    pub fn put_return(&self, record: Arc<Return>) {
        let mut ids = self
            .order_returns
            .entry(record.order_id.clone())
            .or_default();
        if !ids.contains(&record.id) {
            ids.push(record.id.clone());
        }
        drop(ids);
        self.returns.insert(record.id.clone(), record);
    }

    /// The order's returns, oldest first.
    pub fn returns_of(&self, order: &OrderId) -> Vec<Arc<Return>> {
        self.order_returns
            .get(order)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| self.returns.get(id).map(|r| Arc::clone(r.value())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A store's locations, oldest first.
    pub fn locations_of(&self, store: &StoreId) -> Vec<Location> {
        self.locations
            .get(store)
            .map(|l| l.value().clone())
            .unwrap_or_default()
    }

    /// One location, wherever it is.
    pub fn location(&self, id: &LocationId) -> Option<Location> {
        self.locations
            .iter()
            .find_map(|entry| entry.value().iter().find(|l| &l.id == id).cloned())
    }

    /// Records a durable location (new or edited).
    pub fn put_location(&self, location: Location) {
        let mut entry = self.locations.entry(location.store_id.clone()).or_default();
        match entry.iter_mut().find(|l| l.id == location.id) {
            Some(existing) => *existing = location,
            None => entry.push(location),
        }
    }

    /// What a hold on a product of `store` may take from: the store's strategy and
    /// locations (empty for an unknown store: the ledger's default location alone).
    pub fn placement(&self, store: &StoreId) -> Placement {
        Placement {
            strategy: self
                .stores
                .get(store)
                .map(|s| s.allocation)
                .unwrap_or_default(),
            locations: self.locations_of(store),
        }
    }

    /// Claims `sku` in `store` for `product`; false when another product has it.
    pub fn claim_sku(&self, store: &StoreId, sku: &str, product: &ProductId) -> bool {
        match self.skus.entry((store.clone(), sku.to_ascii_lowercase())) {
            Entry::Occupied(entry) => entry.get() == product,
            Entry::Vacant(entry) => {
                entry.insert(product.clone());
                true
            }
        }
    }

    /// The product holding `sku` in `store` (case-insensitively), if any.
    pub fn sku_owner(&self, store: &StoreId, sku: &str) -> Option<ProductId> {
        self.skus
            .get(&(store.clone(), sku.to_ascii_lowercase()))
            .map(|owner| owner.value().clone())
    }

    /// Gives a claimed SKU back (a creation that failed to persist).
    pub fn release_sku(&self, store: &StoreId, sku: &str) {
        self.skus.remove(&(store.clone(), sku.to_ascii_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{OrderStatus, tests_support::a_pending_order};

    #[test]
    fn orders_of_lists_a_customers_own_orders_oldest_first_as_last_written() {
        let model = ReadModel::default();
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let order_of = |customer: &UserId| {
            let mut order = a_pending_order();
            order.customer_id = Some(customer.clone());
            order
        };
        let first = order_of(&alice);
        let second = order_of(&alice);
        model.put_order(Arc::new(first.clone()));
        model.put_order(Arc::new(order_of(&bob)));
        model.put_order(Arc::new(second.clone()));
        // A later state of the first order replaces it in place (no second entry).
        let mut delivered = first.clone();
        delivered.status = OrderStatus::Delivered;
        model.put_order(Arc::new(delivered));
        let mut guest = a_pending_order();
        guest.customer_id = None;
        model.put_order(Arc::new(guest));

        let mine = model.orders_of(&alice);
        let ids: Vec<&OrderId> = mine.iter().map(|o| &o.id).collect();
        assert_eq!(ids, vec![&first.id, &second.id]);
        assert_eq!(mine[0].status, OrderStatus::Delivered);
        assert_eq!(model.orders_of(&bob).len(), 1);
        assert!(model.orders_of(&UserId::generate()).is_empty());
    }
}
