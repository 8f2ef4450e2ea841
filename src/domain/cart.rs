//! Carts: lines with price snapshots and the cart's stock hold.

use super::{
    ids::{CartId, ProductId, ReservationId, StoreId, UserId},
    location::Allocation,
    money::Money,
    time::Millis,
};
use serde::{Deserialize, Serialize};

/// One line: the price is the one seen when the line was first added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// The product.
    pub product_id: ProductId,
    /// Its SKU.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Units.
    pub quantity: i64,
    /// Price snapshot.
    pub unit_price: Money,
    /// Where the cart's hold keeps these units (shown while the hold is active). A field
    /// added after storage format 2: carts carry it from format 3 on (see
    /// `persistence::legacy::CartV2`).
    pub allocations: Vec<Allocation>,
}

/// The cart's stock hold: one reservation id across all its products.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartHold {
    /// The reservation id the products hold under.
    pub reservation_id: ReservationId,
    /// When it lapses.
    pub expires_at: Millis,
}

/// A cart record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// `cart_…`
    pub id: CartId,
    /// Set by the first line, or at creation (then [`Cart::store_bound`]).
    pub store_id: Option<StoreId>,
    /// Owner, if created with a customer's token.
    pub customer_id: Option<UserId>,
    /// Lines in the order they were added.
    pub lines: Vec<CartLine>,
    /// Active hold, if any.
    pub hold: Option<CartHold>,
    /// Creation.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// Deleted after this if untouched.
    pub expires_at: Millis,
    /// Topic sequence of `cart:{id}`.
    pub version: u64,
    /// Whether `store_id` was given at creation: the cart then keeps that store even when
    /// empty (otherwise an emptied cart may start over with another store).
    pub store_bound: bool,
}

impl Cart {
    /// Sum of line totals in the store currency (`None` for an empty cart).
    pub fn subtotal(&self) -> Option<Money> {
        let first = self.lines.first()?;
        Some(Money {
            amount: self.lines.iter().fold(0i64, |sum, l| {
                sum.saturating_add(l.unit_price.amount.saturating_mul(l.quantity))
            }),
            currency: first.unit_price.currency.clone(),
        })
    }

    /// Units across lines.
    pub fn item_count(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }
}
