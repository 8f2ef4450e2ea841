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

/// The id of a store's default location, derived from the store's id so that a product's
/// ledger can name it without looking the store up: the stock of data written before
/// locations existed lands there on upgrade, and changes without a location apply to it.
pub fn default_location_id(store: &StoreId) -> LocationId {
    let suffix = store
        .as_str()
        .strip_prefix(StoreId::PREFIX)
        .unwrap_or(store.as_str());
    LocationId::parse(&format!("{}{suffix}", LocationId::PREFIX))
        .unwrap_or_else(LocationId::generate)
}

/// The locations a hold may take units from, and in which spirit: a store's allocation
/// strategy and its locations (active or not) as the read model knows them.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// The store's strategy.
    pub strategy: AllocationStrategy,
    /// The store's locations; empty means "the ledger's default location only".
    pub locations: Vec<Location>,
}

impl Location {
    /// A store's default location as a store gets it at creation (and as stores created
    /// before locations existed get it on upgrade): "Main", a kitchen for restaurants, a
    /// warehouse otherwise.
    pub fn default_for(store: &super::store::Store) -> Self {
        Self {
            id: default_location_id(&store.id),
            store_id: store.id.clone(),
            name: "Main".into(),
            kind: match store.kind {
                super::store::StoreKind::Restaurant => LocationKind::Kitchen,
                super::store::StoreKind::Retail => LocationKind::Warehouse,
            },
            priority: 0,
            default: true,
            active: true,
            created_at: store.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_location_id_is_derived_from_its_store() {
        let store = StoreId::generate();
        let id = default_location_id(&store);
        assert_eq!(&id.as_str()[4..], &store.as_str()[4..]);
        assert_eq!(default_location_id(&store), id);
    }
}
