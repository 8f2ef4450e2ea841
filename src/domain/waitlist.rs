//! The waitlist of a sold-out product (docs/API.md §13): customers in line for units that come
//! back. Only the product's actor changes it, in the same decisions as its stock, so units
//! that come back are held for the first in line before anyone else can take them.

use super::{
    ids::{CartId, ProductId, UserId, WaitlistId},
    time::Millis,
};
use serde::{Deserialize, Serialize};

/// Where an entry is in its life. Stored by variant position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitlistStatus {
    /// In line.
    Waiting,
    /// Units were held for them in a cart.
    Served,
    /// They left the line.
    Left,
}

impl WaitlistStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Served => "served",
            Self::Left => "left",
        }
    }
}

/// One place in a product's line, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistEntry {
    /// `wl_…`
    pub id: WaitlistId,
    /// The product waited for.
    pub product_id: ProductId,
    /// Who waits.
    pub customer_id: UserId,
    /// Units wanted.
    pub quantity: i64,
    /// Waiting, served or left.
    pub status: WaitlistStatus,
    /// The cart holding their units once served.
    pub cart_id: Option<CartId>,
    /// Order in the product's line (FIFO; numbers its storage key).
    pub seq: u64,
    /// When they joined.
    pub created_at: Millis,
}

/// 1-based positions among the entries still waiting, in line order; `None` for the others.
pub fn positions(line: &[WaitlistEntry]) -> Vec<Option<usize>> {
    let mut next = 0;
    line.iter()
        .map(|entry| {
            (entry.status == WaitlistStatus::Waiting).then(|| {
                next += 1;
                next
            })
        })
        .collect()
}
