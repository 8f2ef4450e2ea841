//! Reservations: a multi-product stock hold with one expiry, as integrations see it.

use super::{
    ids::{ProductId, ReservationId},
    location::Allocation,
    time::Millis,
};
use serde::{Deserialize, Serialize};

/// Where a reservation is in its life. `Committing` is internal: it marks a multi-product
/// commit in flight so recovery can finish it after a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReservationStatus {
    /// Holding stock until `expires_at`.
    Active,
    /// Commit decided and pinned; per-product commits may still be running.
    Committing,
    /// Sold.
    Committed,
    /// Given back.
    Released,
    /// Lapsed (recorded once a client touched it after expiry).
    Expired,
}

/// One line of a reservation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationItem {
    /// The product held.
    pub product_id: ProductId,
    /// Units held.
    pub quantity: i64,
    /// Where they are held (filled in when the hold is granted). A field added after
    /// storage format 1: records carry it from format 2 on (see
    /// `persistence::legacy::ReservationV1`).
    pub allocations: Vec<Allocation>,
}

/// A reservation record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// `res_…`
    pub id: ReservationId,
    /// Stored status (see [`Reservation::public_status`]).
    pub status: ReservationStatus,
    /// What is held.
    pub items: Vec<ReservationItem>,
    /// When the holds lapse.
    pub expires_at: Millis,
    /// Creation time.
    pub created_at: Millis,
    /// Client text.
    pub client_ref: Option<String>,
    /// Who created it (`admin` or a user id).
    pub created_by: String,
}

impl Reservation {
    /// The status a client sees at `now`: an active reservation past its expiry is `expired`
    /// even before anyone touched it, and an in-flight commit still reads as `active`.
    pub fn public_status(&self, now: Millis) -> &'static str {
        match self.status {
            ReservationStatus::Active if now >= self.expires_at => "expired",
            ReservationStatus::Active | ReservationStatus::Committing => "active",
            ReservationStatus::Committed => "committed",
            ReservationStatus::Released => "released",
            ReservationStatus::Expired => "expired",
        }
    }
}
