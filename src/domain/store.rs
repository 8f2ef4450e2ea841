//! Stores: a retail shop or a restaurant with one currency.

use super::{ids::StoreId, location::AllocationStrategy, time::Millis};
use serde::{Deserialize, Serialize};

/// What a store sells; restaurants use the order lanes of a kitchen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// A shop that picks, packs and ships.
    Retail,
    /// A kitchen that prepares orders for pickup or delivery.
    Restaurant,
}

/// A store as stored and as served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    /// `str_…`
    pub id: StoreId,
    /// Display name.
    pub name: String,
    /// Retail or restaurant.
    pub kind: StoreKind,
    /// ISO 4217 code every price of the store uses.
    pub currency: String,
    /// A closed store takes no orders.
    pub open: bool,
    /// Creation time.
    pub created_at: Millis,
    /// How holds pick the store's locations. A field added after storage format 1: stores
    /// carry it from format 2 on (see `persistence::legacy::StoreV1`).
    pub allocation: AllocationStrategy,
}
