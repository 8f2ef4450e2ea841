//! The stock ledger of one product: on-hand units, timed holds, and the rules that keep
//! `available = on_hand − reserved ≥ 0` whatever happens.
//!
//! Commands (`hold`, `commit`, …) only *decide*: they return the [`StockChange`]s to record,
//! or a refusal, and never mutate. [`Ledger::apply`] is the only mutation, so replaying a
//! journal of changes rebuilds exactly the state that produced it.

use super::{
    error::{DomainError, Shortage},
    ids::{LocationId, ProductId, ReservationId},
    location::{Allocation, AllocationStrategy, Placement},
    time::Millis,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Largest quantity one hold or adjustment may move; keeps every sum far from overflow.
pub const MAX_UNITS: i64 = 1_000_000_000;

/// Units held for one reservation until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Units held.
    pub quantity: i64,
    /// When the hold lapses by itself (wall clock, persisted and shown to clients).
    pub expires_at: Millis,
    /// Where the units are held, per location (sums to `quantity`).
    pub allocations: Vec<Allocation>,
}

/// The units of one location.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Units there.
    pub on_hand: i64,
    /// Units there promised to active holds.
    pub reserved: i64,
}

impl Level {
    /// Units there free to hold or move.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// Why held units went back to `available`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReleaseCause {
    /// The holder gave them back.
    Release,
    /// The hold lapsed.
    Expiry,
}

/// Why `on_hand` was adjusted by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentReason {
    /// Stock the product was created with.
    Initial,
    /// New units arrived.
    Restock,
    /// A customer brought units back.
    Return,
    /// A count corrected the books.
    Correction,
    /// Units were damaged.
    Damage,
    /// Units went missing.
    Shrinkage,
}

impl AdjustmentReason {
    /// The reason as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Restock => "restock",
            Self::Return => "return",
            Self::Correction => "correction",
            Self::Damage => "damage",
            Self::Shrinkage => "shrinkage",
        }
    }
}

/// One recorded change of a ledger. Journaled as is; replay applies them in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockChange {
    /// Units moved from available to reserved.
    Held {
        /// The holder.
        reservation: ReservationId,
        /// Units held.
        quantity: i64,
        /// When the hold lapses.
        expires_at: Millis,
    },
    /// A hold's expiry moved; no units move and nothing is published.
    Extended {
        /// The holder.
        reservation: ReservationId,
        /// New expiry.
        expires_at: Millis,
    },
    /// Held units went back to available.
    Released {
        /// The former holder.
        reservation: ReservationId,
        /// Units returned.
        quantity: i64,
        /// Released by hand or lapsed.
        cause: ReleaseCause,
    },
    /// Held units were sold: they leave both `reserved` and `on_hand`.
    Committed {
        /// The former holder.
        reservation: ReservationId,
        /// Units sold.
        quantity: i64,
    },
    /// Sold units came back because their order was cancelled.
    Returned {
        /// Units back on hand.
        quantity: i64,
    },
    /// `on_hand` changed by hand.
    Adjusted {
        /// Signed change of `on_hand`.
        delta: i64,
        /// Why.
        reason: AdjustmentReason,
        /// Free text from the person adjusting.
        note: Option<String>,
        /// Who adjusted (`admin` or a user id).
        by: String,
    },
    /// Units moved from available to reserved at the named locations (every hold since
    /// locations; [`StockChange::Held`] is the older form, all at the default location).
    /// Like `Held`, it replaces the reservation's previous hold, if any.
    HeldAt {
        /// The holder.
        reservation: ReservationId,
        /// Units held in all.
        quantity: i64,
        /// When the hold lapses.
        expires_at: Millis,
        /// Units per location (sums to `quantity`).
        allocations: Vec<Allocation>,
    },
    /// `on_hand` of one location changed by hand ([`StockChange::Adjusted`] is the older
    /// form, at the default location).
    AdjustedAt {
        /// Signed change of the location's `on_hand`.
        delta: i64,
        /// Why.
        reason: AdjustmentReason,
        /// Free text from the person adjusting.
        note: Option<String>,
        /// Who adjusted (`admin` or a user id).
        by: String,
        /// Where.
        location: LocationId,
    },
    /// Available units moved from one location to another; totals do not change.
    Transferred {
        /// Where they leave.
        from: LocationId,
        /// Where they arrive.
        to: LocationId,
        /// Units moved.
        quantity: i64,
        /// Free text.
        note: Option<String>,
        /// Who moved them.
        by: String,
    },
}

/// What a change published, in order; each entry takes the next version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StockSignal {
    /// `stock.changed` with its cause.
    Changed(StockCause),
    /// `stock.low`: available fell below the threshold.
    Low,
}

/// The `cause` of a `stock.changed` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockCause {
    /// A hold was taken.
    Reservation,
    /// A hold was given back.
    Release,
    /// A hold lapsed.
    Expiry,
    /// Held units were sold.
    Sale,
    /// Stock was adjusted by hand.
    Adjustment,
    /// A sale was cancelled and its units came back.
    Cancellation,
}

impl StockCause {
    /// The cause as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reservation => "reservation",
            Self::Release => "release",
            Self::Expiry => "expiry",
            Self::Sale => "sale",
            Self::Adjustment => "adjustment",
            Self::Cancellation => "cancellation",
        }
    }
}

/// The public numbers of a ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevels {
    /// Units in the building.
    pub on_hand: i64,
    /// Units promised to active holds.
    pub reserved: i64,
    /// `on_hand − reserved`.
    pub available: i64,
    /// The product's event sequence.
    pub version: u64,
}

/// The stock of one product.
///
/// Only [`Ledger::apply`] mutates it, which keeps `holds` and the expiry index in step; the
/// index is not stored but rebuilt when a ledger is decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredLedger")]
pub struct Ledger {
    /// Units in the building.
    pub on_hand: i64,
    /// Sum of all active holds (kept, not recomputed, so reads are O(1)).
    pub reserved: i64,
    /// Active holds by holder.
    pub holds: BTreeMap<ReservationId, Hold>,
    /// The product's event sequence: +1 per published event.
    pub version: u64,
    /// Whether `stock.low` was already sent for the current dip below the threshold.
    pub low_alerted: bool,
    /// Number of `on_hand` movements so far (numbers the movement log).
    pub movements: u64,
    /// Units per location; their sums are `on_hand` and `reserved`.
    pub locations: BTreeMap<LocationId, Level>,
    /// The store's default location: where changes that name no location apply (older
    /// journal records among them). `None` only for a bare ledger in tests.
    pub home: Option<LocationId>,
    /// Every hold ordered by expiry, so the actor's timer and expiry sweeps cost O(log n) and
    /// O(due) instead of a scan of every hold (a flash sale keeps tens of thousands).
    #[serde(skip_serializing)]
    expiries: BTreeSet<(Millis, ReservationId)>,
}

/// A ledger as stored: every field but the derived expiry index (same layout as
/// [`Ledger`]'s serialisation, which skips the index).
#[derive(Deserialize)]
struct StoredLedger {
    on_hand: i64,
    reserved: i64,
    holds: BTreeMap<ReservationId, Hold>,
    version: u64,
    low_alerted: bool,
    movements: u64,
    locations: BTreeMap<LocationId, Level>,
    home: Option<LocationId>,
}

impl From<StoredLedger> for Ledger {
    fn from(stored: StoredLedger) -> Self {
        let expiries = stored
            .holds
            .iter()
            .map(|(reservation, hold)| (hold.expires_at, reservation.clone()))
            .collect();
        Self {
            on_hand: stored.on_hand,
            reserved: stored.reserved,
            holds: stored.holds,
            version: stored.version,
            low_alerted: stored.low_alerted,
            movements: stored.movements,
            locations: stored.locations,
            home: stored.home,
            expiries,
        }
    }
}

impl Ledger {
    /// A ledger written before locations, upgraded: all its units and holds are at `home`,
    /// the store's default location.
    pub fn upgraded(
        on_hand: i64,
        holds: BTreeMap<ReservationId, (i64, Millis)>,
        version: u64,
        low_alerted: bool,
        movements: u64,
        home: LocationId,
    ) -> Self {
        let holds: BTreeMap<ReservationId, Hold> = holds
            .into_iter()
            .map(|(reservation, (quantity, expires_at))| {
                let hold = Hold {
                    quantity,
                    expires_at,
                    allocations: vec![Allocation {
                        location_id: home.clone(),
                        quantity,
                    }],
                };
                (reservation, hold)
            })
            .collect();
        let reserved = holds.values().map(|h| h.quantity).sum();
        StoredLedger {
            on_hand,
            reserved,
            holds,
            version,
            low_alerted,
            movements,
            locations: BTreeMap::from([(home.clone(), Level { on_hand, reserved })]),
            home: Some(home),
        }
        .into()
    }

    /// Units free to hold.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// The public numbers.
    pub fn levels(&self) -> StockLevels {
        StockLevels {
            on_hand: self.on_hand,
            reserved: self.reserved,
            available: self.available(),
            version: self.version,
        }
    }

    /// The earliest hold expiry, for the actor's single timer.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.expiries.first().map(|(at, _)| *at)
    }

    /// An empty ledger whose unlocated changes land in `home` (the store's default
    /// location).
    pub fn located(home: LocationId) -> Self {
        Self {
            home: Some(home),
            ..Self::default()
        }
    }

    /// The units of one location (zero for a location that never had any).
    pub fn level(&self, location: &LocationId) -> Level {
        self.locations.get(location).copied().unwrap_or_default()
    }

    /// The locations a new hold may take from, in the order it takes from them: the
    /// placement's active locations by its strategy (priority: lowest number first, ties by
    /// most available; most stock: most available first; then by id, so the order is
    /// deterministic). An empty placement means the default location alone.
    fn hold_order(&self, placement: &Placement) -> Vec<(LocationId, i64)> {
        if placement.locations.is_empty() {
            return self
                .home
                .iter()
                .map(|home| (home.clone(), self.level(home).available()))
                .collect();
        }
        let mut order: Vec<(i64, i64, LocationId)> = placement
            .locations
            .iter()
            .filter(|l| l.active)
            .map(|l| (l.priority, self.level(&l.id).available(), l.id.clone()))
            .collect();
        match placement.strategy {
            AllocationStrategy::Priority => order.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then(b.1.cmp(&a.1))
                    .then_with(|| a.2.cmp(&b.2))
            }),
            AllocationStrategy::MostStock => {
                order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.2.cmp(&b.2)))
            }
        }
        order
            .into_iter()
            .map(|(_, available, id)| (id, available.max(0)))
            .collect()
    }

    /// A bare ledger (no default location, no placement) keeps totals only, as ledgers did
    /// before locations (tests and benches).
    fn unlocated(&self, placement: &Placement) -> bool {
        self.home.is_none() && placement.locations.is_empty()
    }

    /// Units a new hold could take under `placement`.
    pub fn holdable(&self, placement: &Placement) -> i64 {
        self.hold_order(placement).iter().map(|(_, a)| a).sum()
    }

    /// Adds `quantity` units to `allocations`, taken in hold order; `None` when the
    /// placement's locations have fewer available.
    fn allocate(
        &self,
        placement: &Placement,
        quantity: i64,
        mut allocations: Vec<Allocation>,
    ) -> Option<Vec<Allocation>> {
        let mut missing = quantity;
        for (location, available) in self.hold_order(placement) {
            if missing == 0 {
                break;
            }
            let take = available.min(missing);
            if take <= 0 {
                continue;
            }
            missing -= take;
            match allocations.iter_mut().find(|a| a.location_id == location) {
                Some(existing) => existing.quantity += take,
                None => allocations.push(Allocation {
                    location_id: location,
                    quantity: take,
                }),
            }
        }
        (missing == 0).then_some(allocations)
    }

    fn shortage(&self, product: &ProductId, requested: i64, available: i64) -> DomainError {
        DomainError::InsufficientStock(vec![Shortage {
            product_id: product.clone(),
            requested,
            available,
        }])
    }

    /// Decide a hold of `quantity` units for `reservation` until `expires_at`, at the
    /// default location. See [`Ledger::hold_in`].
    pub fn hold(
        &self,
        product: &ProductId,
        reservation: &ReservationId,
        quantity: i64,
        expires_at: Millis,
    ) -> Result<Vec<StockChange>, DomainError> {
        self.hold_in(
            product,
            reservation,
            quantity,
            expires_at,
            &Placement::default(),
        )
    }

    /// Decide a hold of `quantity` units for `reservation` until `expires_at`, taken from
    /// the placement's active locations in its order and split across them when one is not
    /// enough. Holding again for a reservation that already holds is a no-op, so a retried
    /// saga step cannot hold twice.
    pub fn hold_in(
        &self,
        product: &ProductId,
        reservation: &ReservationId,
        quantity: i64,
        expires_at: Millis,
        placement: &Placement,
    ) -> Result<Vec<StockChange>, DomainError> {
        if !(1..=MAX_UNITS).contains(&quantity) {
            return Err(DomainError::OutOfRange("quantity"));
        }
        if self.holds.contains_key(reservation) {
            return Ok(Vec::new());
        }
        if self.unlocated(placement) {
            if quantity > self.available() {
                return Err(self.shortage(product, quantity, self.available()));
            }
            return Ok(vec![StockChange::Held {
                reservation: reservation.clone(),
                quantity,
                expires_at,
            }]);
        }
        let allocations = self
            .allocate(placement, quantity, Vec::new())
            .ok_or_else(|| self.shortage(product, quantity, self.holdable(placement)))?;
        Ok(vec![StockChange::HeldAt {
            reservation: reservation.clone(),
            quantity,
            expires_at,
            allocations,
        }])
    }

    /// Decide to make `reservation` hold exactly `quantity` units (a cart line changing),
    /// at the default location. See [`Ledger::resize_in`].
    pub fn resize(
        &self,
        product: &ProductId,
        reservation: &ReservationId,
        quantity: i64,
        expires_at: Millis,
    ) -> Result<Vec<StockChange>, DomainError> {
        self.resize_in(
            product,
            reservation,
            quantity,
            expires_at,
            &Placement::default(),
        )
    }

    /// Decide to make `reservation` hold exactly `quantity` units (a cart line changing):
    /// raising holds only the difference (allocated like a new hold), lowering gives the
    /// rest back (from the locations taken from last), 0 releases.
    pub fn resize_in(
        &self,
        product: &ProductId,
        reservation: &ReservationId,
        quantity: i64,
        expires_at: Millis,
        placement: &Placement,
    ) -> Result<Vec<StockChange>, DomainError> {
        if !(0..=MAX_UNITS).contains(&quantity) {
            return Err(DomainError::OutOfRange("quantity"));
        }
        if quantity == 0 {
            return Ok(self.release(reservation, ReleaseCause::Release));
        }
        if self.unlocated(placement) {
            let held = self.holds.get(reservation).map_or(0, |h| h.quantity);
            let more = quantity - held;
            if more > self.available() {
                return Err(self.shortage(product, more, self.available()));
            }
            return Ok(vec![StockChange::Held {
                reservation: reservation.clone(),
                quantity,
                expires_at,
            }]);
        }
        let (held, current) = self
            .holds
            .get(reservation)
            .map_or((0, Vec::new()), |h| (h.quantity, h.allocations.clone()));
        let allocations = if quantity >= held {
            let more = quantity - held;
            self.allocate(placement, more, current)
                .ok_or_else(|| self.shortage(product, more, self.holdable(placement)))?
        } else {
            let mut fewer = held - quantity;
            let mut kept = current;
            while fewer > 0 {
                let Some(last) = kept.last_mut() else { break };
                let give = last.quantity.min(fewer);
                last.quantity -= give;
                fewer -= give;
                if last.quantity == 0 {
                    kept.pop();
                }
            }
            kept
        };
        Ok(vec![StockChange::HeldAt {
            reservation: reservation.clone(),
            quantity,
            expires_at,
            allocations,
        }])
    }

    /// Decide the return of `quantity` sold units to `on_hand` (a cancelled order).
    pub fn give_back(&self, quantity: i64) -> Result<Vec<StockChange>, DomainError> {
        if !(1..=MAX_UNITS).contains(&quantity) {
            return Err(DomainError::OutOfRange("quantity"));
        }
        Ok(vec![StockChange::Returned { quantity }])
    }

    /// Decide to sell what `reservation` holds.
    pub fn commit(&self, reservation: &ReservationId) -> Result<Vec<StockChange>, DomainError> {
        let hold = self
            .holds
            .get(reservation)
            .ok_or(DomainError::HoldNotFound)?;
        Ok(vec![StockChange::Committed {
            reservation: reservation.clone(),
            quantity: hold.quantity,
        }])
    }

    /// Decide to give back what `reservation` holds; nothing to give back is not an error.
    pub fn release(&self, reservation: &ReservationId, cause: ReleaseCause) -> Vec<StockChange> {
        self.holds
            .get(reservation)
            .map(|hold| StockChange::Released {
                reservation: reservation.clone(),
                quantity: hold.quantity,
                cause,
            })
            .into_iter()
            .collect()
    }

    /// Decide a new expiry for an active hold.
    pub fn extend(
        &self,
        reservation: &ReservationId,
        expires_at: Millis,
    ) -> Result<Vec<StockChange>, DomainError> {
        if !self.holds.contains_key(reservation) {
            return Err(DomainError::HoldNotFound);
        }
        Ok(vec![StockChange::Extended {
            reservation: reservation.clone(),
            expires_at,
        }])
    }

    /// Decide the release of every hold whose expiry is at or before `now`.
    pub fn expire_due(&self, now: Millis) -> Vec<StockChange> {
        self.expiries
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter_map(|(_, reservation)| {
                let hold = self.holds.get(reservation)?;
                Some(StockChange::Released {
                    reservation: reservation.clone(),
                    quantity: hold.quantity,
                    cause: ReleaseCause::Expiry,
                })
            })
            .collect()
    }

    /// Decide a manual change of `on_hand` at `location` (the default location when
    /// `None`). Held units cannot be removed.
    #[allow(clippy::too_many_arguments)]
    pub fn adjust(
        &self,
        product: &ProductId,
        delta: i64,
        reason: AdjustmentReason,
        note: Option<String>,
        by: String,
        expected_version: Option<u64>,
        location: Option<LocationId>,
    ) -> Result<Vec<StockChange>, DomainError> {
        if delta == 0 || delta.abs() > MAX_UNITS {
            return Err(DomainError::OutOfRange("delta"));
        }
        if let Some(expected) = expected_version
            && expected != self.version
        {
            return Err(DomainError::VersionMismatch {
                current: self.version,
            });
        }
        let after = self.on_hand + delta;
        if after > MAX_UNITS * 1000 {
            return Err(DomainError::OutOfRange("delta"));
        }
        if after < self.reserved {
            return Err(self.shortage(product, -delta, self.available()));
        }
        let Some(location) = location.or_else(|| self.home.clone()) else {
            return Ok(vec![StockChange::Adjusted {
                delta,
                reason,
                note,
                by,
            }]);
        };
        let level = self.level(&location);
        if level.on_hand + delta < level.reserved {
            return Err(self.shortage(product, -delta, level.available()));
        }
        Ok(vec![StockChange::AdjustedAt {
            delta,
            reason,
            note,
            by,
            location,
        }])
    }

    /// Decide moving `quantity` available units from `from` to `to`.
    pub fn transfer(
        &self,
        product: &ProductId,
        from: &LocationId,
        to: &LocationId,
        quantity: i64,
        note: Option<String>,
        by: String,
    ) -> Result<Vec<StockChange>, DomainError> {
        if !(1..=MAX_UNITS).contains(&quantity) {
            return Err(DomainError::OutOfRange("quantity"));
        }
        if from == to {
            return Err(DomainError::OutOfRange("to"));
        }
        let available = self.level(from).available();
        if quantity > available {
            return Err(self.shortage(product, quantity, available));
        }
        Ok(vec![StockChange::Transferred {
            from: from.clone(),
            to: to.clone(),
            quantity,
            note,
            by,
        }])
    }

    /// The units of the default location, created on first use.
    fn home_level(&mut self) -> Option<&mut Level> {
        let home = self.home.clone()?;
        Some(self.locations.entry(home).or_default())
    }

    /// Changes one location's levels (nothing for an unlocated ledger's `None`).
    fn shift(&mut self, location: Option<&LocationId>, on_hand: i64, reserved: i64) {
        let level = match location {
            Some(location) => Some(self.locations.entry(location.clone()).or_default()),
            None => self.home_level(),
        };
        if let Some(level) = level {
            level.on_hand += on_hand;
            level.reserved += reserved;
        }
    }

    /// Takes a hold out of the books; returns it.
    fn remove_hold(&mut self, reservation: &ReservationId, sold: bool) -> Option<Hold> {
        let hold = self.holds.remove(reservation)?;
        self.expiries
            .remove(&(hold.expires_at, reservation.clone()));
        self.reserved -= hold.quantity;
        if sold {
            self.on_hand -= hold.quantity;
        }
        let sold = if sold { 1 } else { 0 };
        for a in &hold.allocations {
            self.shift(Some(&a.location_id), -a.quantity * sold, -a.quantity);
        }
        Some(hold)
    }

    /// Puts a hold into the books, replacing the reservation's previous one; returns the
    /// units it held before.
    fn put_hold(&mut self, reservation: &ReservationId, hold: Hold) -> i64 {
        let previous = self
            .remove_hold(reservation, false)
            .map_or(0, |h| h.quantity);
        self.expiries.insert((hold.expires_at, reservation.clone()));
        self.reserved += hold.quantity;
        for a in &hold.allocations {
            self.shift(Some(&a.location_id), 0, a.quantity);
        }
        self.holds.insert(reservation.clone(), hold);
        previous
    }

    /// The movements a change makes in the movement log (0 for holds, 2 for a transfer,
    /// one per location for a sale split across locations).
    pub fn movements_of(&self, change: &StockChange) -> u64 {
        match change {
            StockChange::Committed { reservation, .. } => self
                .holds
                .get(reservation)
                .map_or(1, |h| h.allocations.len().max(1) as u64),
            StockChange::Returned { .. }
            | StockChange::Adjusted { .. }
            | StockChange::AdjustedAt { .. } => 1,
            StockChange::Transferred { .. } => 2,
            _ => 0,
        }
    }

    /// Apply one decided change. Returns the events it publishes, each of which has already
    /// taken its version (the last one's version is `self.version`). `threshold` is the
    /// product's low-stock threshold, which lives with the catalog fields.
    pub fn apply(&mut self, change: &StockChange, threshold: i64) -> Vec<StockSignal> {
        self.movements += self.movements_of(change);
        let cause = match change {
            StockChange::Held {
                reservation,
                quantity,
                expires_at,
            } => {
                let allocations = self
                    .home
                    .iter()
                    .map(|home| Allocation {
                        location_id: home.clone(),
                        quantity: *quantity,
                    })
                    .collect();
                let hold = Hold {
                    quantity: *quantity,
                    expires_at: *expires_at,
                    allocations,
                };
                if *quantity >= self.put_hold(reservation, hold) {
                    StockCause::Reservation
                } else {
                    StockCause::Release
                }
            }
            StockChange::HeldAt {
                reservation,
                quantity,
                expires_at,
                allocations,
            } => {
                let hold = Hold {
                    quantity: *quantity,
                    expires_at: *expires_at,
                    allocations: allocations.clone(),
                };
                if *quantity >= self.put_hold(reservation, hold) {
                    StockCause::Reservation
                } else {
                    StockCause::Release
                }
            }
            StockChange::Extended {
                reservation,
                expires_at,
            } => {
                if let Some(hold) = self.holds.get_mut(reservation) {
                    self.expiries
                        .remove(&(hold.expires_at, reservation.clone()));
                    self.expiries.insert((*expires_at, reservation.clone()));
                    hold.expires_at = *expires_at;
                }
                return Vec::new();
            }
            StockChange::Released {
                reservation, cause, ..
            } => {
                self.remove_hold(reservation, false);
                match cause {
                    ReleaseCause::Release => StockCause::Release,
                    ReleaseCause::Expiry => StockCause::Expiry,
                }
            }
            StockChange::Committed { reservation, .. } => {
                self.remove_hold(reservation, true);
                StockCause::Sale
            }
            StockChange::Returned { quantity } => {
                self.on_hand += quantity;
                self.shift(None, *quantity, 0);
                StockCause::Cancellation
            }
            StockChange::Adjusted { delta, .. } => {
                self.on_hand += delta;
                self.shift(None, *delta, 0);
                StockCause::Adjustment
            }
            StockChange::AdjustedAt {
                delta, location, ..
            } => {
                self.on_hand += delta;
                self.shift(Some(location), *delta, 0);
                StockCause::Adjustment
            }
            StockChange::Transferred {
                from, to, quantity, ..
            } => {
                self.shift(Some(from), -quantity, 0);
                self.shift(Some(to), *quantity, 0);
                StockCause::Adjustment
            }
        };
        self.version += 1;
        let mut signals = vec![StockSignal::Changed(cause)];
        signals.extend(self.check_low(threshold));
        signals
    }

    /// Re-evaluates the low-stock alert after a change of stock or threshold: `stock.low` is
    /// sent once per dip below the threshold and re-armed when stock recovers.
    pub fn check_low(&mut self, threshold: i64) -> Option<StockSignal> {
        let below = self.available() < threshold;
        if below && !self.low_alerted {
            self.low_alerted = true;
            self.version += 1;
            return Some(StockSignal::Low);
        }
        if !below {
            self.low_alerted = false;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pid() -> ProductId {
        ProductId::parse("prod_000000000000000000000000").expect("valid id")
    }

    fn res(n: u8) -> ReservationId {
        ReservationId::parse(&format!("res_{:0>24}", n)).expect("valid id")
    }

    fn run(ledger: &mut Ledger, changes: Vec<StockChange>) {
        for change in &changes {
            ledger.apply(change, 3);
        }
    }

    #[test]
    fn a_hold_beyond_available_is_refused_with_the_shortage() {
        let mut ledger = Ledger::default();
        run(
            &mut ledger,
            vec![StockChange::Adjusted {
                delta: 2,
                reason: AdjustmentReason::Initial,
                note: None,
                by: "admin".into(),
            }],
        );
        let refusal = ledger.hold(&pid(), &res(1), 3, 10).unwrap_err();
        assert_eq!(
            refusal,
            DomainError::InsufficientStock(vec![Shortage {
                product_id: pid(),
                requested: 3,
                available: 2
            }])
        );
    }

    #[test]
    fn low_stock_is_signalled_once_per_dip() {
        let mut ledger = Ledger::default();
        let signals = ledger.apply(
            &StockChange::Adjusted {
                delta: 4,
                reason: AdjustmentReason::Initial,
                note: None,
                by: "admin".into(),
            },
            3,
        );
        assert_eq!(signals, vec![StockSignal::Changed(StockCause::Adjustment)]);
        let hold = ledger.hold(&pid(), &res(1), 2, 10).expect("enough stock");
        let signals = ledger.apply(&hold[0], 3);
        assert_eq!(
            signals,
            vec![
                StockSignal::Changed(StockCause::Reservation),
                StockSignal::Low
            ]
        );
        assert_eq!(ledger.version, 3);
        let hold = ledger.hold(&pid(), &res(2), 1, 10).expect("enough stock");
        assert_eq!(ledger.apply(&hold[0], 3).len(), 1);
    }

    #[test]
    fn expiry_releases_only_due_holds() {
        let mut ledger = Ledger::default();
        run(
            &mut ledger,
            vec![
                StockChange::Adjusted {
                    delta: 10,
                    reason: AdjustmentReason::Initial,
                    note: None,
                    by: "admin".into(),
                },
                StockChange::Held {
                    reservation: res(1),
                    quantity: 2,
                    expires_at: 100,
                },
                StockChange::Held {
                    reservation: res(2),
                    quantity: 3,
                    expires_at: 200,
                },
            ],
        );
        let due = ledger.expire_due(150);
        assert_eq!(due.len(), 1);
        run(&mut ledger, due);
        assert_eq!(ledger.reserved, 3);
        assert_eq!(ledger.next_expiry(), Some(200));
    }

    /// One step of a random workload over a small set of reservations.
    #[derive(Clone, Debug)]
    enum Op {
        Hold(u8, i64, Millis),
        Commit(u8),
        Release(u8),
        Extend(u8, Millis),
        Expire(Millis),
        Adjust(i64),
        Resize(u8, i64, Millis),
        GiveBack(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8, 1i64..20, 0i64..1000).prop_map(|(r, q, e)| Op::Hold(r, q, e)),
            (0u8..8).prop_map(Op::Commit),
            (0u8..8).prop_map(Op::Release),
            (0u8..8, 0i64..1000).prop_map(|(r, e)| Op::Extend(r, e)),
            (0i64..1000).prop_map(Op::Expire),
            (-30i64..30).prop_map(Op::Adjust),
            (0u8..8, 0i64..20, 0i64..1000).prop_map(|(r, q, e)| Op::Resize(r, q, e)),
            (1i64..5).prop_map(Op::GiveBack),
        ]
    }

    /// Products the random workloads spread over (a reservation id may hold on several).
    const PRODUCTS: usize = 3;
    /// The low-stock threshold the workloads apply changes with.
    const THRESHOLD: i64 = 5;

    fn pid_n(n: usize) -> ProductId {
        ProductId::parse(&format!("prod_{n:0>24}")).expect("valid id")
    }

    /// The ledger's rules written out the plainest way: on-hand units and holds by holder.
    #[derive(Clone, Debug, Default)]
    struct Model {
        on_hand: i64,
        holds: BTreeMap<u8, (i64, Millis)>,
    }

    impl Model {
        fn reserved(&self) -> i64 {
            self.holds.values().map(|(q, _)| q).sum()
        }

        fn available(&self) -> i64 {
            self.on_hand - self.reserved()
        }

        fn short(&self, product: &ProductId, requested: i64) -> DomainError {
            DomainError::InsufficientStock(vec![Shortage {
                product_id: product.clone(),
                requested,
                available: self.available(),
            }])
        }

        /// Performs `op` on the model; the refusal the ledger must answer, if any.
        fn step(&mut self, product: &ProductId, op: &Op) -> Result<(), DomainError> {
            match *op {
                Op::Hold(r, q, e) => {
                    if self.holds.contains_key(&r) {
                        return Ok(());
                    }
                    if q > self.available() {
                        return Err(self.short(product, q));
                    }
                    self.holds.insert(r, (q, e));
                }
                Op::Commit(r) => {
                    let (q, _) = self.holds.remove(&r).ok_or(DomainError::HoldNotFound)?;
                    self.on_hand -= q;
                }
                Op::Release(r) => {
                    self.holds.remove(&r);
                }
                Op::Extend(r, e) => {
                    self.holds.get_mut(&r).ok_or(DomainError::HoldNotFound)?.1 = e;
                }
                Op::Expire(now) => self.holds.retain(|_, (_, e)| *e > now),
                Op::Adjust(d) => {
                    if d == 0 {
                        return Err(DomainError::OutOfRange("delta"));
                    }
                    if self.on_hand + d < self.reserved() {
                        return Err(self.short(product, -d));
                    }
                    self.on_hand += d;
                }
                Op::Resize(r, 0, _) => {
                    self.holds.remove(&r);
                }
                Op::Resize(r, q, e) => {
                    let more = q - self.holds.get(&r).map_or(0, |(held, _)| *held);
                    if more > self.available() {
                        return Err(self.short(product, more));
                    }
                    self.holds.insert(r, (q, e));
                }
                Op::GiveBack(q) => self.on_hand += q,
            }
            Ok(())
        }
    }

    fn decide(
        ledger: &Ledger,
        product: &ProductId,
        op: &Op,
    ) -> Result<Vec<StockChange>, DomainError> {
        match *op {
            Op::Hold(r, q, e) => ledger.hold(product, &res(r), q, e),
            Op::Commit(r) => ledger.commit(&res(r)),
            Op::Release(r) => Ok(ledger.release(&res(r), ReleaseCause::Release)),
            Op::Extend(r, e) => ledger.extend(&res(r), e),
            Op::Expire(now) => Ok(ledger.expire_due(now)),
            Op::Adjust(d) => ledger.adjust(
                product,
                d,
                AdjustmentReason::Correction,
                None,
                "admin".into(),
                None,
                None,
            ),
            Op::Resize(r, q, e) => ledger.resize(product, &res(r), q, e),
            Op::GiveBack(q) => ledger.give_back(q),
        }
    }

    fn initial(on_hand: i64) -> StockChange {
        StockChange::Adjusted {
            delta: on_hand,
            reason: AdjustmentReason::Initial,
            note: None,
            by: "admin".into(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever clients do, each ledger answers exactly as the model does (a hold is
        /// refused exactly when it asks for more than is available, a negative adjustment
        /// exactly when it would dig into held units, …) and the books balance: nothing
        /// oversold, `reserved` is exactly the active holds, each published event took one
        /// version, the movement log sums to `on_hand`, and replay rebuilds the state.
        #[test]
        fn any_sequence_keeps_the_books_balanced(
            stock in proptest::collection::vec(0i64..30, PRODUCTS),
            ops in proptest::collection::vec((0..PRODUCTS, op()), 0..200),
        ) {
            let products: Vec<ProductId> = (0..PRODUCTS).map(pid_n).collect();
            let mut ledgers = vec![Ledger::default(); PRODUCTS];
            let mut models = vec![Model::default(); PRODUCTS];
            let mut journals: Vec<Vec<StockChange>> = vec![Vec::new(); PRODUCTS];
            let mut movement_sums = [0i64; PRODUCTS];
            for (p, units) in stock.into_iter().enumerate() {
                let change = initial(units);
                ledgers[p].apply(&change, THRESHOLD);
                journals[p].push(change);
                models[p].on_hand = units;
                movement_sums[p] = units;
            }
            for (p, op) in ops {
                let (ledger, model) = (&mut ledgers[p], &mut models[p]);
                let before = ledger.clone();
                let decided = decide(ledger, &products[p], &op);
                // Deciding never mutates.
                prop_assert_eq!(&*ledger, &before);
                let expected = model.step(&products[p], &op);
                prop_assert_eq!(decided.as_ref().map(|_| ()).map_err(Clone::clone), expected, "{:?}", op);
                if let Ok(changes) = decided {
                        let mut signals = 0;
                        let mut movements = 0;
                        for change in &changes {
                            match change {
                                StockChange::Committed { quantity, .. } => movement_sums[p] -= quantity,
                                StockChange::Adjusted { delta, .. } => movement_sums[p] += delta,
                                StockChange::Returned { quantity } => movement_sums[p] += quantity,
                                _ => {}
                            }
                            movements += u64::from(matches!(
                                change,
                                StockChange::Committed { .. } | StockChange::Adjusted { .. } | StockChange::Returned { .. }
                            ));
                            signals += ledger.apply(change, THRESHOLD).len() as u64;
                        }
                        prop_assert_eq!(ledger.version, before.version + signals);
                        prop_assert_eq!(ledger.movements, before.movements + movements);
                        journals[p].extend(changes);
                }
                // The ledger holds what the model holds.
                prop_assert_eq!(ledger.on_hand, model.on_hand);
                let holds: BTreeMap<ReservationId, Hold> = model
                    .holds
                    .iter()
                    .map(|(r, (quantity, expires_at))| {
                        (res(*r), Hold { quantity: *quantity, expires_at: *expires_at, allocations: Vec::new() })
                    })
                    .collect();
                prop_assert_eq!(&ledger.holds, &holds);
                prop_assert_eq!(ledger.reserved, model.reserved());
                prop_assert!(ledger.available() >= 0);
                prop_assert!(ledger.on_hand >= 0);
                prop_assert_eq!(ledger.low_alerted, ledger.available() < THRESHOLD);
                prop_assert_eq!(movement_sums[p], ledger.on_hand);
                // The expiry index agrees with a scan of every hold.
                prop_assert_eq!(
                    ledger.next_expiry(),
                    ledger.holds.values().map(|h| h.expires_at).min()
                );
                let due = 500;
                let mut swept: Vec<_> = ledger.expire_due(due);
                let mut scanned: Vec<_> = ledger
                    .holds
                    .iter()
                    .filter(|(_, h)| h.expires_at <= due)
                    .map(|(r, h)| StockChange::Released {
                        reservation: r.clone(),
                        quantity: h.quantity,
                        cause: ReleaseCause::Expiry,
                    })
                    .collect();
                let key = |c: &StockChange| format!("{c:?}");
                swept.sort_by_key(key);
                scanned.sort_by_key(key);
                prop_assert_eq!(swept, scanned);
            }
            for (ledger, journal) in ledgers.iter().zip(&journals) {
                // A stored ledger decodes to the same ledger, index included.
                let config = bincode::config::standard();
                let bytes = bincode::serde::encode_to_vec(ledger, config).expect("encode");
                let (decoded, _): (Ledger, usize) =
                    bincode::serde::decode_from_slice(&bytes, config).expect("decode");
                prop_assert_eq!(&decoded, ledger);
                let mut replayed = Ledger::default();
                for change in journal {
                    replayed.apply(change, THRESHOLD);
                }
                prop_assert_eq!(&replayed, ledger);
            }
        }
    }

    /// How long the saga pins a committing reservation's holds (as the coordinator does).
    const PIN: Millis = 1_000;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The reservation saga over several ledgers, cut short by a crash after any step and
        /// followed by an expiry sweep and recovery: holds are all or nothing (refused exactly
        /// when one product has fewer units than asked, and then nothing stays held), and a
        /// commit that was recorded sells every product's units exactly once while one that
        /// was not sells none; after the holds' expiry nothing is reserved.
        #[test]
        fn the_reservation_saga_sells_every_product_or_none(
            stock in proptest::collection::vec(0i64..6, PRODUCTS),
            wanted in proptest::collection::btree_map(0..PRODUCTS, 1i64..4, 1..=PRODUCTS),
            crash_after in 0usize..12,
            sweep_at in 0i64..PIN,
        ) {
            let products: Vec<ProductId> = (0..PRODUCTS).map(pid_n).collect();
            let mut ledgers: Vec<Ledger> = stock
                .iter()
                .map(|units| {
                    let mut ledger = Ledger::default();
                    ledger.apply(&initial(*units), THRESHOLD);
                    ledger
                })
                .collect();
            let reservation = res(1);
            let (held_until, commit_at) = (100, 50);
            // The steps of the saga, in order; a crash stops it after `crash_after` of them.
            let mut steps = 0usize;
            let mut step = || {
                steps += 1;
                steps <= crash_after
            };
            // 1. Hold every item, or give back what was taken.
            let refused = wanted.iter().any(|(p, q)| *q > stock[*p]);
            let mut taken = Vec::new();
            let mut held_all = true;
            for (&p, &q) in &wanted {
                match ledgers[p].hold(&products[p], &reservation, q, held_until) {
                    Ok(changes) => {
                        run(&mut ledgers[p], changes);
                        taken.push(p);
                    }
                    Err(_) => held_all = false,
                }
            }
            prop_assert_eq!(held_all, !refused);
            if !held_all {
                for p in taken {
                    let changes = ledgers[p].release(&reservation, ReleaseCause::Release);
                    run(&mut ledgers[p], changes);
                }
                for (ledger, units) in ledgers.iter().zip(&stock) {
                    prop_assert_eq!((ledger.on_hand, ledger.reserved), (*units, 0));
                }
                return Ok(());
            }
            // 2. Pin every hold, 3. record `Committing`, 4. commit each product.
            let mut committing = false;
            let mut sold: BTreeSet<usize> = BTreeSet::new();
            'saga: {
                for &p in wanted.keys() {
                    if !step() {
                        break 'saga;
                    }
                    let changes = ledgers[p].extend(&reservation, commit_at + PIN).expect("held");
                    run(&mut ledgers[p], changes);
                }
                if !step() {
                    break 'saga;
                }
                committing = true;
                for &p in wanted.keys() {
                    if !step() {
                        break 'saga;
                    }
                    let changes = ledgers[p].commit(&reservation).expect("pinned hold");
                    run(&mut ledgers[p], changes);
                    sold.insert(p);
                }
            }
            // The crash: time passes and due holds lapse; then recovery finishes a recorded
            // commit (a product that already sold answers "no hold" and is remembered as sold).
            for ledger in &mut ledgers {
                let due = ledger.expire_due(sweep_at);
                run(ledger, due);
            }
            if committing {
                for &p in wanted.keys() {
                    match ledgers[p].commit(&reservation) {
                        Ok(changes) => {
                            run(&mut ledgers[p], changes);
                            prop_assert!(sold.insert(p), "product {} sold twice", p);
                        }
                        Err(DomainError::HoldNotFound) => {
                            prop_assert!(sold.contains(&p), "product {}'s pinned hold lapsed", p)
                        }
                        Err(other) => prop_assert!(false, "commit refused: {:?}", other),
                    }
                }
            }
            for ledger in &mut ledgers {
                let due = ledger.expire_due(commit_at + PIN);
                run(ledger, due);
            }
            for (p, (ledger, units)) in ledgers.iter().zip(&stock).enumerate() {
                let expected = if committing { units - wanted.get(&p).copied().unwrap_or(0) } else { *units };
                prop_assert_eq!((ledger.on_hand, ledger.reserved), (expected, 0), "product {}", p);
            }
        }
    }

    /// Three locations of one store; the placement of each step varies which are active
    /// and the strategy.
    const PLACES: usize = 3;

    fn loc(n: usize) -> LocationId {
        LocationId::parse(&format!("loc_{n:0>24}")).expect("valid id")
    }

    fn placement(active: [bool; PLACES], most_stock: bool) -> Placement {
        use crate::domain::{ids::StoreId, location::Location};
        let store = StoreId::parse("str_000000000000000000000000").expect("valid id");
        Placement {
            strategy: if most_stock {
                AllocationStrategy::MostStock
            } else {
                AllocationStrategy::Priority
            },
            locations: (0..PLACES)
                .map(|n| Location {
                    id: loc(n),
                    store_id: store.clone(),
                    name: format!("L{n}"),
                    kind: crate::domain::location::LocationKind::Warehouse,
                    priority: (PLACES - n) as i64 % 2,
                    default: n == 0,
                    active: active[n],
                    created_at: 0,
                })
                .collect(),
        }
    }

    /// One step of a per-location workload.
    #[derive(Clone, Debug)]
    enum LocOp {
        Hold(u8, i64),
        Resize(u8, i64),
        Commit(u8),
        Release(u8),
        Expire(Millis),
        Adjust(Option<usize>, i64),
        Transfer(usize, usize, i64),
        GiveBack(i64),
    }

    fn loc_op() -> impl Strategy<Value = LocOp> {
        prop_oneof![
            (0u8..6, 1i64..25).prop_map(|(r, q)| LocOp::Hold(r, q)),
            (0u8..6, 0i64..25).prop_map(|(r, q)| LocOp::Resize(r, q)),
            (0u8..6).prop_map(LocOp::Commit),
            (0u8..6).prop_map(LocOp::Release),
            (0i64..1000).prop_map(LocOp::Expire),
            (proptest::option::of(0..PLACES), -20i64..20).prop_map(|(l, d)| LocOp::Adjust(l, d)),
            (0..PLACES, 0..PLACES, 1i64..20).prop_map(|(f, t, q)| LocOp::Transfer(f, t, q)),
            (1i64..5).prop_map(LocOp::GiveBack),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever happens per location (holds split across the active locations by either
        /// strategy, resizes, sales, expiries, located adjustments, transfers), no location
        /// goes negative or holds more than it has, the locations sum to the product's
        /// figures, each hold's allocations sum to its quantity and to the locations'
        /// `reserved`, a hold is refused exactly when the active locations have fewer
        /// available units, inactive locations never give units, and replay rebuilds it all.
        #[test]
        fn per_location_books_balance_and_replay(
            stock in proptest::collection::vec(0i64..15, PLACES),
            ops in proptest::collection::vec(
                (loc_op(), proptest::array::uniform3(proptest::bool::weighted(0.8)), any::<bool>()),
                0..150,
            ),
        ) {
            let product = pid();
            let mut ledger = Ledger::located(loc(0));
            let mut journal = Vec::new();
            for (n, units) in stock.iter().enumerate() {
                if *units > 0 {
                    let changes = ledger
                        .adjust(&product, *units, AdjustmentReason::Restock, None, "admin".into(), None, Some(loc(n)))
                        .expect("restock");
                    for change in &changes {
                        ledger.apply(change, THRESHOLD);
                    }
                    journal.extend(changes);
                }
            }
            for (op, active, most_stock) in ops {
                let place = placement(active, most_stock);
                let before = ledger.clone();
                let holdable = ledger.holdable(&place);
                let decided = match &op {
                    LocOp::Hold(r, q) => ledger.hold_in(&product, &res(*r), *q, 100, &place),
                    LocOp::Resize(r, q) => ledger.resize_in(&product, &res(*r), *q, 100, &place),
                    LocOp::Commit(r) => ledger.commit(&res(*r)),
                    LocOp::Release(r) => Ok(ledger.release(&res(*r), ReleaseCause::Release)),
                    LocOp::Expire(now) => Ok(ledger.expire_due(*now)),
                    LocOp::Adjust(l, d) => ledger.adjust(&product, *d, AdjustmentReason::Correction, None, "admin".into(), None, l.map(loc)),
                    LocOp::Transfer(f, t, q) => ledger.transfer(&product, &loc(*f), &loc(*t), *q, None, "admin".into()),
                    LocOp::GiveBack(q) => ledger.give_back(*q),
                };
                prop_assert_eq!(&ledger, &before);
                match (&op, &decided) {
                    (LocOp::Hold(r, q), result) if !before.holds.contains_key(&res(*r)) => {
                        prop_assert_eq!(result.is_ok(), *q <= holdable, "{:?}", op);
                    }
                    (LocOp::Transfer(f, t, q), result) if f != t => {
                        prop_assert_eq!(result.is_ok(), *q <= before.level(&loc(*f)).available());
                    }
                    _ => {}
                }
                if let Ok(changes) = decided {
                    for change in &changes {
                        if let StockChange::HeldAt { reservation, allocations, .. } = change {
                            let previous = before.holds.get(reservation);
                            for a in allocations {
                                let had = previous
                                    .and_then(|h| h.allocations.iter().find(|p| p.location_id == a.location_id))
                                    .map_or(0, |p| p.quantity);
                                // Only active locations give new units.
                                if a.quantity > had {
                                    let n: usize = (0..PLACES).find(|n| loc(*n) == a.location_id).expect("known");
                                    prop_assert!(active[n], "inactive {} gave units", n);
                                }
                            }
                        }
                        ledger.apply(change, THRESHOLD);
                    }
                    journal.extend(changes);
                }
                let mut on_hand = 0;
                let mut reserved = 0;
                for level in ledger.locations.values() {
                    prop_assert!(level.on_hand >= 0 && level.reserved >= 0, "{:?}", level);
                    prop_assert!(level.reserved <= level.on_hand, "{:?}", level);
                    on_hand += level.on_hand;
                    reserved += level.reserved;
                }
                prop_assert_eq!(on_hand, ledger.on_hand);
                prop_assert_eq!(reserved, ledger.reserved);
                let mut held_at: BTreeMap<LocationId, i64> = BTreeMap::new();
                for hold in ledger.holds.values() {
                    prop_assert!(hold.allocations.iter().all(|a| a.quantity > 0));
                    prop_assert_eq!(hold.allocations.iter().map(|a| a.quantity).sum::<i64>(), hold.quantity);
                    for a in &hold.allocations {
                        *held_at.entry(a.location_id.clone()).or_default() += a.quantity;
                    }
                }
                for (id, level) in &ledger.locations {
                    prop_assert_eq!(held_at.get(id).copied().unwrap_or(0), level.reserved);
                }
            }
            let mut replayed = Ledger::located(loc(0));
            for change in &journal {
                replayed.apply(change, THRESHOLD);
            }
            prop_assert_eq!(&replayed, &ledger);
            let config = bincode::config::standard();
            let bytes = bincode::serde::encode_to_vec(&ledger, config).expect("encode");
            let (decoded, _): (Ledger, usize) =
                bincode::serde::decode_from_slice(&bytes, config).expect("decode");
            prop_assert_eq!(&decoded, &ledger);
        }
    }

    #[test]
    fn a_hold_splits_across_locations_in_priority_order() {
        let product = pid();
        let mut ledger = Ledger::located(loc(0));
        for n in 0..PLACES {
            let changes = ledger
                .adjust(
                    &product,
                    2,
                    AdjustmentReason::Restock,
                    None,
                    "a".into(),
                    None,
                    Some(loc(n)),
                )
                .expect("restock");
            run(&mut ledger, changes);
        }
        // Priorities: loc 0 → 1, loc 1 → 0, loc 2 → 1 (ties by most available, then id).
        let changes = ledger
            .hold_in(&product, &res(1), 3, 100, &placement([true; PLACES], false))
            .expect("enough");
        let StockChange::HeldAt { allocations, .. } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(
            allocations,
            &vec![
                Allocation {
                    location_id: loc(1),
                    quantity: 2
                },
                Allocation {
                    location_id: loc(0),
                    quantity: 1
                },
            ]
        );
        run(&mut ledger, changes);
        assert_eq!(ledger.holdable(&placement([true, true, false], false)), 1);
    }
}
