//! Reservations: all-or-nothing holds across products, and their commit, release and extend.
//!
//! Each product's hold lives in its actor with its own expiry, so whatever happens to this
//! coordinator (a crash mid-saga included), holds lapse by themselves. Operations on one
//! reservation are serialised by a striped lock.
//!
//! Commit is the delicate step: every product must sell, or none. The coordinator first pins
//! the holds of a multi-product reservation (extends them by [`PIN_GRACE_MS`]) so none can
//! lapse half-way, records `Committing` durably, then commits each product (idempotently:
//! a product remembers which reservations it sold). Recovery finishes any `Committing`
//! reservation before the server turns ready.

use crate::{
    actors::{ActorError, ProductRegistry, Shared, product::ProductMsg},
    domain::{
        DomainError,
        error::FieldError,
        ids::{ProductId, ReservationId},
        reservation::{Reservation, ReservationItem, ReservationStatus},
        time::now_ms,
    },
    persistence::ProductWrite,
    services::error::ServiceError,
};
use futures_util::future::join_all;
use std::{
    collections::HashSet,
    hash::{Hash, Hasher},
    sync::Arc,
};
use tokio::sync::Mutex;

/// How long a commit in flight keeps its holds from lapsing.
pub const PIN_GRACE_MS: i64 = 10 * 60 * 1000;
/// Most products in one reservation.
pub const MAX_ITEMS: usize = 100;
/// Most units of one product in one reservation.
pub const MAX_QUANTITY: i64 = 1_000_000;

const LOCK_STRIPES: usize = 64;

/// A validated request for a new reservation.
pub struct NewReservation {
    /// What to hold.
    pub items: Vec<ReservationItem>,
    /// Hold time; `None` means the configured default.
    pub ttl_seconds: Option<u64>,
    /// Client text.
    pub client_ref: Option<String>,
}

/// The reservation coordinator.
pub struct Reservations {
    shared: Arc<Shared>,
    products: Arc<ProductRegistry>,
    locks: Vec<Mutex<()>>,
}

impl Reservations {
    /// A coordinator over `products`.
    pub fn new(shared: Arc<Shared>, products: Arc<ProductRegistry>) -> Self {
        Self {
            shared,
            products,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn lock_for(&self, id: &ReservationId) -> &Mutex<()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        &self.locks[(hasher.finish() as usize) % LOCK_STRIPES]
    }

    /// Checks the request against the contract's limits.
    pub fn validate(&self, request: &NewReservation) -> Result<(), ServiceError> {
        let mut errors = Vec::new();
        if request.items.is_empty() || request.items.len() > MAX_ITEMS {
            errors.push(FieldError::new(
                "items",
                format!("must hold 1-{MAX_ITEMS} products"),
            ));
        }
        let mut seen = HashSet::new();
        for (i, item) in request.items.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                errors.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}"),
                ));
            }
            if !seen.insert(&item.product_id) {
                errors.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    "each product may appear once",
                ));
            }
        }
        let max = self.shared.config.reservations.max_ttl_seconds;
        if let Some(ttl) = request.ttl_seconds
            && !(1..=max).contains(&ttl)
        {
            errors.push(FieldError::new(
                "ttl_seconds",
                format!("must be between 1 and {max}"),
            ));
        }
        if request
            .client_ref
            .as_ref()
            .is_some_and(|r| r.chars().count() > 200)
        {
            errors.push(FieldError::new("ref", "must be at most 200 characters"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Validation(errors))
        }
    }

    /// Holds every item or nothing.
    pub async fn create(
        &self,
        request: NewReservation,
        by: &str,
    ) -> Result<Reservation, ServiceError> {
        self.validate(&request)?;
        for item in &request.items {
            if !self
                .shared
                .read_model
                .products
                .contains_key(&item.product_id)
            {
                return Err(ServiceError::NotFound);
            }
        }
        let ttl = request
            .ttl_seconds
            .unwrap_or(self.shared.config.reservations.default_ttl_seconds);
        let now = now_ms();
        let reservation = Reservation {
            id: ReservationId::generate(),
            status: ReservationStatus::Active,
            items: request.items,
            expires_at: now + i64::try_from(ttl).unwrap_or(i64::MAX / 2) * 1000,
            created_at: now,
            client_ref: request.client_ref,
            created_by: by.to_owned(),
        };
        // The record travels with the first product's hold and is written in the same atomic
        // write: one group commit for both, and no record at all when that hold is refused.
        // If another product refuses, the record is removed again; a crash in between leaves
        // a record nobody was told about, whose holds lapse by themselves.
        let (id, expires_at) = (&reservation.id, reservation.expires_at);
        let outcomes = join_all(reservation.items.iter().enumerate().map(|(i, item)| {
            let reservation = &reservation;
            self.products
                .call(&item.product_id, move |reply| ProductMsg::Hold {
                    reservation: id.clone(),
                    quantity: item.quantity,
                    expires_at,
                    record: (i == 0).then(|| Box::new(reservation.clone())),
                    reply,
                })
        }))
        .await;
        if outcomes.iter().any(Result::is_err) {
            let held: Vec<&ProductId> = reservation
                .items
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| outcome.is_ok())
                .map(|(item, _)| &item.product_id)
                .collect();
            self.release_all(id, held).await;
            if outcomes.first().is_some_and(Result::is_ok)
                && let Err(error) = self
                    .shared
                    .committer
                    .write_durable({
                        let mut removal = ProductWrite::default();
                        removal.delete_reservation(id);
                        removal
                    })
                    .await
            {
                tracing::warn!(reservation = %id, %error, "could not remove a refused reservation");
            }
            return Err(combine_refusals(
                outcomes.into_iter().filter_map(Result::err),
            ));
        }
        let mut reservation = reservation;
        for (item, outcome) in reservation.items.iter_mut().zip(outcomes) {
            if let Ok(view) = outcome {
                item.allocations = view.allocations;
            }
        }
        // The first product wrote the record with its own allocations only; the others'
        // are known now. (A crash before this write leaves them unshown, not unheld.)
        if reservation.items.len() > 1 {
            self.save(&reservation).await?;
        }
        Ok(reservation)
    }

    /// Reads a reservation.
    pub fn get(&self, id: &ReservationId) -> Result<Reservation, ServiceError> {
        self.shared
            .storage
            .reservation(id)?
            .ok_or(ServiceError::NotFound)
    }

    /// Sells every held unit. Repeating a commit answers the committed reservation again.
    pub async fn commit(&self, id: &ReservationId, by: &str) -> Result<Reservation, ServiceError> {
        let _guard = self.lock_for(id).lock().await;
        let mut reservation = self.get(id)?;
        match reservation.status {
            ReservationStatus::Committed => return Ok(reservation),
            ReservationStatus::Released => {
                return Err(ServiceError::ReservationInactive("released".into()));
            }
            ReservationStatus::Expired => {
                return Err(ServiceError::ReservationInactive("expired".into()));
            }
            ReservationStatus::Active => {
                if now_ms() >= reservation.expires_at {
                    return Err(self.mark_expired(&mut reservation).await);
                }
                if reservation.items.len() > 1 && !self.pin(&reservation).await? {
                    return Err(self.mark_expired(&mut reservation).await);
                }
                reservation.status = ReservationStatus::Committing;
                self.save(&reservation).await?;
            }
            ReservationStatus::Committing => {}
        }
        self.finish_commit(&mut reservation, by).await?;
        Ok(reservation)
    }

    /// Commits every product of a `Committing` reservation and records it `Committed`.
    pub async fn finish_commit(
        &self,
        reservation: &mut Reservation,
        by: &str,
    ) -> Result<(), ServiceError> {
        let outcomes = join_all(reservation.items.iter().map(|item| {
            let id = reservation.id.clone();
            self.products
                .call(&item.product_id, move |reply| ProductMsg::Commit {
                    reservation: id.clone(),
                    reference: id.to_string(),
                    by: by.to_owned(),
                    reply,
                })
        }))
        .await;
        let mut lapsed = 0;
        for outcome in outcomes {
            match outcome {
                Ok(_) => {}
                Err(ActorError::Refused(DomainError::HoldNotFound)) => lapsed += 1,
                Err(other) => return Err(other.into()),
            }
        }
        if lapsed == reservation.items.len() {
            // Nothing was sold: the (single) hold lapsed before the commit reached it.
            return Err(self.mark_expired(reservation).await);
        }
        if lapsed > 0 {
            tracing::error!(reservation = %reservation.id, lapsed, "commit found lapsed holds after pinning; sold what was held");
        }
        reservation.status = ReservationStatus::Committed;
        self.save(reservation).await
    }

    /// Gives every held unit back. Repeating a release answers 200 again.
    pub async fn release(&self, id: &ReservationId) -> Result<Reservation, ServiceError> {
        let _guard = self.lock_for(id).lock().await;
        let mut reservation = self.get(id)?;
        match reservation.status {
            ReservationStatus::Committed | ReservationStatus::Committing => {
                Err(ServiceError::ReservationTransition {
                    from: "committed".into(),
                    to: "released".into(),
                    allowed: Vec::new(),
                })
            }
            ReservationStatus::Released | ReservationStatus::Expired => Ok(reservation),
            ReservationStatus::Active => {
                self.release_all(
                    &reservation.id,
                    reservation.items.iter().map(|i| &i.product_id).collect(),
                )
                .await;
                reservation.status = if now_ms() >= reservation.expires_at {
                    ReservationStatus::Expired
                } else {
                    ReservationStatus::Released
                };
                self.save(&reservation).await?;
                Ok(reservation)
            }
        }
    }

    /// Moves the expiry of an active reservation to `ttl_seconds` from now.
    pub async fn extend(
        &self,
        id: &ReservationId,
        ttl_seconds: u64,
    ) -> Result<Reservation, ServiceError> {
        let max = self.shared.config.reservations.max_ttl_seconds;
        if !(1..=max).contains(&ttl_seconds) {
            return Err(ServiceError::field(
                "ttl_seconds",
                format!("must be between 1 and {max}"),
            ));
        }
        let _guard = self.lock_for(id).lock().await;
        let mut reservation = self.get(id)?;
        let status = reservation.public_status(now_ms());
        if status != "active" || reservation.status == ReservationStatus::Committing {
            return Err(ServiceError::ReservationInactive(status.to_owned()));
        }
        let expires_at = now_ms() + i64::try_from(ttl_seconds).unwrap_or(0) * 1000;
        if !self.extend_holds(&reservation, expires_at).await? {
            return Err(self.mark_expired(&mut reservation).await);
        }
        reservation.expires_at = expires_at;
        self.save(&reservation).await?;
        Ok(reservation)
    }

    /// Finishes commits interrupted by a crash (recovery, before the server turns ready).
    pub async fn recover(&self) -> Result<usize, ServiceError> {
        let pending: Vec<Reservation> = self
            .shared
            .storage
            .reservations()
            .filter_map(Result::ok)
            .filter(|r| r.status == ReservationStatus::Committing)
            .collect();
        let count = pending.len();
        for mut reservation in pending {
            let by = reservation.created_by.clone();
            if let Err(error) = self.finish_commit(&mut reservation, &by).await {
                tracing::warn!(reservation = %reservation.id, %error, "could not finish an interrupted commit");
            }
        }
        Ok(count)
    }

    /// Extends every hold to at least `now + PIN_GRACE_MS`; false when one has lapsed.
    async fn pin(&self, reservation: &Reservation) -> Result<bool, ServiceError> {
        let until = reservation.expires_at.max(now_ms() + PIN_GRACE_MS);
        self.extend_holds(reservation, until).await
    }

    async fn extend_holds(
        &self,
        reservation: &Reservation,
        until: i64,
    ) -> Result<bool, ServiceError> {
        let outcomes = join_all(reservation.items.iter().map(|item| {
            let id = reservation.id.clone();
            self.products
                .call(&item.product_id, move |reply| ProductMsg::Extend {
                    reservation: id.clone(),
                    expires_at: until,
                    reply,
                })
        }))
        .await;
        let mut all_held = true;
        for outcome in outcomes {
            match outcome {
                Ok(_) => {}
                Err(ActorError::Refused(DomainError::HoldNotFound)) => all_held = false,
                Err(other) => return Err(other.into()),
            }
        }
        Ok(all_held)
    }

    async fn release_all(&self, id: &ReservationId, products: Vec<&ProductId>) {
        self.products.release_all(id, products).await;
    }

    /// Records the reservation as expired and gives back whatever is still held.
    async fn mark_expired(&self, reservation: &mut Reservation) -> ServiceError {
        self.release_all(
            &reservation.id,
            reservation.items.iter().map(|i| &i.product_id).collect(),
        )
        .await;
        reservation.status = ReservationStatus::Expired;
        match self.save(reservation).await {
            Ok(()) => ServiceError::ReservationInactive("expired".into()),
            Err(error) => error,
        }
    }

    async fn save(&self, reservation: &Reservation) -> Result<(), ServiceError> {
        let mut write = ProductWrite::default();
        write.reservation(reservation)?;
        self.shared.committer.write_durable(write).await?;
        Ok(())
    }
}

/// One answer for several refused holds: storage trouble first, then unknown or archived
/// products, then every shortage together.
fn combine_refusals(errors: impl Iterator<Item = ActorError>) -> ServiceError {
    let mut shortages = Vec::new();
    let mut worst: Option<ServiceError> = None;
    for error in errors {
        match error {
            ActorError::Refused(DomainError::InsufficientStock(mut s)) => shortages.append(&mut s),
            ActorError::Unavailable(reason) => return ServiceError::Unavailable(reason),
            other => {
                let mapped = ServiceError::from(other);
                if worst.is_none() || matches!(mapped, ServiceError::NotFound) {
                    worst = Some(mapped);
                }
            }
        }
    }
    worst.unwrap_or(ServiceError::InsufficientStock(shortages))
}
