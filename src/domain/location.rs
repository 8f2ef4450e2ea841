//! Stock locations (docs/API.md §13): the places a store keeps units in, and the share of a
//! hold or a sale each one gives.
//!
//! Shared by the stock ledger (which keeps levels per location), reservations, carts and
//! orders (which show where their units come from) and fulfilment and returns (which ship
//! from and restock to a location).

use super::{
    ids::{LocationId, StoreId},
    time::Millis,
};
use serde::{Deserialize, Serialize};

/// What a location is; only informs people, allocation does not look at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    /// A stockroom or distribution centre.
    Warehouse,
    /// A shop floor.
    Shop,
    /// A restaurant kitchen.
    Kitchen,
}

/// How a store picks the locations a hold takes units from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStrategy {
    /// Lowest `priority` number first, ties by most available.
    #[default]
    Priority,
    /// Most available first.
    MostStock,
}

/// A stock location as stored and served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// `loc_…`
    pub id: LocationId,
    /// The store it belongs to.
    pub store_id: StoreId,
    /// Display name.
    pub name: String,
    /// Warehouse, shop or kitchen.
    pub kind: LocationKind,
    /// Lower numbers are taken from first under [`AllocationStrategy::Priority`].
    pub priority: i64,
    /// The store's first location: `initial_stock` and unlocated adjustments land here.
    pub default: bool,
    /// An inactive location gives no units to new holds.
    pub active: bool,
    /// Creation time.
    pub created_at: Millis,
}

/// Units of one line that come from one location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Allocation {
    /// Where the units are.
    #[schema(value_type = String)]
    pub location_id: LocationId,
    /// How many.
    pub quantity: i64,
}
