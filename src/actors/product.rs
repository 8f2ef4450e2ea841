//! The product actor: owns one product's catalog fields, stock and holds.
//!
//! Each command is decided by the pure [`Product`]/[`Ledger`](crate::domain::stock::Ledger)
//! rules, applied to the in-memory state at once (so the next message sees it), written to
//! sled, and handed to the committer together with the reply and the events. The actor does
//! not wait for the fsync: a hot product pipelines many writes into one group commit, while
//! nothing is answered or published before it is durable.

use super::{
    ActorError, Shared,
    registry::{Registry, Slot},
};
use crate::realtime::EventType;
use crate::{
    domain::{
        DomainError,
        cart::{Cart, CartHold, CartLine},
        ids::{CartId, LocationId, MovementId, ProductId, ReservationId, UserId, WaitlistId},
        location::Allocation,
        product::{CatalogPatch, Product, ProductChange, ProductSignal, ProductStatus},
        reservation::Reservation,
        review::{ReviewBook, ReviewCommand, ReviewEffect},
        stock::{AdjustmentReason, ReleaseCause, StockChange, StockSignal},
        time::{Millis, now_ms},
        waitlist::{WaitlistEntry, WaitlistStatus},
    },
    persistence::{JournalRecord, Movement, MovementKind, ProductWrite, Snapshot, StoredEvent},
    views::{self, ProductView},
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::Value;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

/// Journal records between two snapshots.
const SNAPSHOT_EVERY: u64 = 64;

/// The reply to every product command: the product as it is after the (durable) change.
pub type Reply = RpcReplyPort<Result<ProductView, ActorError>>;

/// The reply to a review command: what happened to the review (as stored, or as it was when
/// removed) and the product after the (durable) change of its rating.
pub type ReviewReply = RpcReplyPort<Result<(ReviewEffect, ProductView), ActorError>>;

/// Messages a product actor understands.
pub enum ProductMsg {
    /// Write, edit or remove a review; the product's rating follows in the same write.
    Review {
        /// The command (boxed: see [`ProductMsg::Update`]).
        command: Box<ReviewCommand>,
        /// Answer.
        reply: ReviewReply,
    },
    /// Hold units for a reservation until `expires_at`.
    Hold {
        /// The holder.
        reservation: ReservationId,
        /// Units.
        quantity: i64,
        /// Expiry (wall clock).
        expires_at: Millis,
        /// The reservation's record, to write in the same atomic write as the hold (one
        /// group commit for both) when the hold is granted.
        record: Option<Box<Reservation>>,
        /// Answer.
        reply: Reply,
    },
    /// Make a reservation hold exactly `quantity` units (carts); 0 releases.
    Resize {
        /// The holder.
        reservation: ReservationId,
        /// Units it should hold.
        quantity: i64,
        /// Expiry (wall clock).
        expires_at: Millis,
        /// Answer.
        reply: Reply,
    },
    /// Put sold units back on hand (a cancelled order).
    GiveBack {
        /// Units.
        quantity: i64,
        /// The order, for the movement log.
        reference: String,
        /// Who cancelled.
        by: String,
        /// Answer.
        reply: Reply,
    },
    /// Put returned units back on hand (a received return), once per return and product:
    /// an adjustment with reason `return` (movement kind `return`) and a marker, so a receipt
    /// resumed after a crash restocks nothing twice.
    Restock {
        /// Units.
        quantity: i64,
        /// The return (`ret_…`): the movement's reference and the marker's key.
        reference: String,
        /// Where the units go (`None`: the default location).
        location_id: Option<String>,
        /// Who received them.
        by: String,
        /// Answer.
        reply: Reply,
    },
    /// Sell what a reservation holds.
    Commit {
        /// The holder.
        reservation: ReservationId,
        /// Order or reservation id for the movement log.
        reference: String,
        /// Who sells.
        by: String,
        /// Answer.
        reply: Reply,
    },
    /// Give back what a reservation holds (nothing held is fine).
    Release {
        /// The holder.
        reservation: ReservationId,
        /// Answer.
        reply: Reply,
    },
    /// Move a hold's expiry.
    Extend {
        /// The holder.
        reservation: ReservationId,
        /// New expiry.
        expires_at: Millis,
        /// Answer.
        reply: Reply,
    },
    /// Change `on_hand` by hand.
    Adjust {
        /// Signed change.
        delta: i64,
        /// Why.
        reason: AdjustmentReason,
        /// Free text.
        note: Option<String>,
        /// Who.
        by: String,
        /// Optimistic concurrency check.
        expected_version: Option<u64>,
        /// Where (the default location when `None`); the caller checked it is the store's.
        location: Option<LocationId>,
        /// Answer.
        reply: Reply,
    },
    /// Move available units between two of the store's locations.
    Transfer {
        /// From, to, quantity, note (boxed: see [`ProductMsg::Update`]).
        transfer: Box<Transfer>,
        /// Who.
        by: String,
        /// Answer.
        reply: Reply,
    },
    /// Change catalog fields (also archive).
    Update {
        /// The change (boxed: it is by far the largest message, and every actor's mailbox
        /// allocates its slots at the size of the largest).
        patch: Box<CatalogPatch>,
        /// Answer.
        reply: Reply,
    },
    /// Release every hold that is due; sent by the actor's timer and by recovery.
    ExpireDue {
        /// Answer, when someone waits for it.
        reply: Option<Reply>,
    },
    /// Join or leave the product's waitlist (boxed: see [`ProductMsg::Update`]).
    Waitlist {
        /// The command.
        command: Box<WaitlistCommand>,
        /// Answer: the entry and its 1-based position while waiting.
        reply: WaitlistReply,
    },
    /// Periodic check whether the actor may passivate (sent to every live actor by the
    /// registry's sweeper: one task for all of them, not a timer task per actor).
    IdleCheck,
    /// The registry holds too many live product actors: passivate unless busy.
    Evict,
}

impl super::registry::Passivates for ProductMsg {
    fn evict() -> Self {
        Self::Evict
    }
    fn idle_check() -> Self {
        Self::IdleCheck
    }
}

/// The reply to a waitlist command.
pub type WaitlistReply = RpcReplyPort<Result<(WaitlistEntry, Option<usize>), ActorError>>;

/// A change of a product's waitlist.
#[derive(Clone)]
pub enum WaitlistCommand {
    /// Get in line for `quantity` units (only while sold out).
    Join {
        /// Who.
        customer: UserId,
        /// Units wanted.
        quantity: i64,
    },
    /// Leave the line.
    Leave {
        /// Who.
        customer: UserId,
    },
}

/// A transfer between two locations (checked by the caller to be the store's).
#[derive(Clone)]
pub struct Transfer {
    /// Where units leave.
    pub from: LocationId,
    /// Where they arrive.
    pub to: LocationId,
    /// How many.
    pub quantity: i64,
    /// Free text.
    pub note: Option<String>,
}

/// Start-up arguments.
pub struct ProductArgs {
    /// The product.
    pub id: ProductId,
    /// Server services.
    pub shared: Arc<Shared>,
    /// The registry, to remove ourselves when passivating.
    pub registry: Registry<ProductId, ProductMsg>,
    /// Our own registry cell (passivation removes exactly this one).
    pub slot: Slot<ProductMsg>,
}

/// The actor (stateless; all state lives in [`ProductState`]).
pub struct ProductActor;

/// A running product actor's state.
pub struct ProductState {
    product: Product,
    /// Last journal position.
    idx: u64,
    /// Journal position of the last snapshot.
    snapshot_idx: u64,
    shared: Arc<Shared>,
    registry: Registry<ProductId, ProductMsg>,
    slot: Slot<ProductMsg>,
    /// The expiry timer: the deadline it is armed for and its task.
    timer: Option<(Millis, JoinHandle<()>)>,
    last_message: Instant,
    /// This actor's share of the `emporium_holds_active` gauge.
    holds_counted: usize,
    /// Writes handed to the committer and not yet durable. The actor does not passivate
    /// while any are in flight: its successor would load the product from sled, where they
    /// are not applied yet.
    writes_in_flight: Arc<AtomicUsize>,
    /// The product's reviews, read from sled at the first review command (most activations
    /// are about stock and never need them); from then on ahead of sled like the rest.
    reviews: Option<ReviewBook>,
    /// The product's waitlist in line order (read at start: most are empty).
    waitlist: Vec<WaitlistEntry>,
}

impl Actor for ProductActor {
    type Msg = ProductMsg;
    type State = ProductState;
    type Arguments = ProductArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ProductMsg>,
        args: ProductArgs,
    ) -> Result<ProductState, ActorProcessingErr> {
        let (product, idx, snapshot_idx) = args
            .shared
            .storage
            .load_product(&args.id)?
            .ok_or_else(|| format!("product {} not found", args.id))?;
        let waitlist = args.shared.storage.waitlist(&args.id)?;
        let mut state = ProductState {
            product,
            idx,
            snapshot_idx,
            shared: args.shared,
            registry: args.registry,
            slot: args.slot,
            timer: None,
            last_message: Instant::now(),
            holds_counted: 0,
            writes_in_flight: Arc::new(AtomicUsize::new(0)),
            reviews: None,
            waitlist,
        };
        state.count_holds();
        state.arm_timer(&myself);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ProductMsg>,
        state: &mut ProductState,
    ) -> Result<(), ActorProcessingErr> {
        crate::observability::HOT
            .holds_active
            .decrement(state.holds_counted as f64);
        state.holds_counted = 0;
        if let Some((_, timer)) = state.timer.take() {
            timer.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ProductMsg>,
        message: ProductMsg,
        state: &mut ProductState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProductMsg::IdleCheck | ProductMsg::Evict => {}
            ProductMsg::ExpireDue { .. } => {
                // The timer that sent this has fired; forget it so the next one is armed.
                state.timer = None;
            }
            _ => state.last_message = Instant::now(),
        }
        let message = match message {
            ProductMsg::Review { command, reply } => {
                state.review(&myself, *command, reply).await;
                return Ok(());
            }
            ProductMsg::Waitlist { command, reply } => {
                state.waitlist_command(&myself, *command, reply).await;
                return Ok(());
            }
            other => other,
        };
        let product = &state.product;
        let ledger = &product.ledger;
        let id = &product.catalog.id;
        let stock = |r: Result<Vec<StockChange>, DomainError>| {
            r.map(|changes| changes.into_iter().map(ProductChange::Stock).collect())
        };
        let mut companion = None;
        let focus = match &message {
            ProductMsg::Hold { reservation, .. }
            | ProductMsg::Resize { reservation, .. }
            | ProductMsg::Extend { reservation, .. } => Focus::Held(reservation.clone()),
            ProductMsg::Commit { reservation, .. } => Focus::Sold(reservation.clone()),
            _ => Focus::None,
        };
        let (decided, context, reply) = match message {
            ProductMsg::Hold {
                reservation,
                quantity,
                expires_at,
                record,
                reply,
            } => {
                let decided = if product.catalog.status == ProductStatus::Archived {
                    Err(DomainError::ProductUnavailable(id.clone()))
                } else {
                    let placement = state.shared.read_model.placement(&product.catalog.store_id);
                    stock(ledger.hold_in(id, &reservation, quantity, expires_at, &placement))
                };
                companion = record;
                (decided, MovementContext::system(), Some(reply))
            }
            ProductMsg::Resize {
                reservation,
                quantity,
                expires_at,
                reply,
            } => {
                let held = ledger.holds.get(&reservation).map_or(0, |h| h.quantity);
                let decided = if product.catalog.status == ProductStatus::Archived
                    && quantity > held
                {
                    Err(DomainError::ProductUnavailable(id.clone()))
                } else {
                    let placement = state.shared.read_model.placement(&product.catalog.store_id);
                    stock(ledger.resize_in(id, &reservation, quantity, expires_at, &placement))
                };
                (decided, MovementContext::system(), Some(reply))
            }
            ProductMsg::GiveBack {
                quantity,
                reference,
                by,
                reply,
            } => (
                // A cancellation retried after a crash must not return the units twice.
                if state
                    .marker_written(id, &format!("return:{reference}"))
                    .await
                {
                    Ok(Vec::new())
                } else {
                    stock(ledger.give_back(quantity))
                },
                MovementContext {
                    reference: Some(reference),
                    by,
                },
                Some(reply),
            ),
            ProductMsg::Restock {
                quantity,
                reference,
                location_id,
                by,
                reply,
            } => (
                if state
                    .marker_written(id, &format!("restock:{reference}"))
                    .await
                {
                    Ok(Vec::new())
                } else {
                    stock(ledger.adjust(
                        id,
                        quantity,
                        AdjustmentReason::Return,
                        Some(format!("return {reference}")),
                        by.clone(),
                        None,
                        location_id.as_deref().and_then(LocationId::parse),
                    ))
                },
                MovementContext {
                    reference: Some(reference),
                    by,
                },
                Some(reply),
            ),
            ProductMsg::Commit {
                reservation,
                reference,
                by,
                reply,
            } => {
                let decided = match ledger.commit(&reservation) {
                    Err(DomainError::HoldNotFound)
                        if state.marker_written(id, reservation.as_str()).await =>
                    {
                        Ok(Vec::new())
                    }
                    other => stock(other),
                };
                (
                    decided,
                    MovementContext {
                        reference: Some(reference),
                        by,
                    },
                    Some(reply),
                )
            }
            ProductMsg::Release { reservation, reply } => (
                stock(Ok(ledger.release(&reservation, ReleaseCause::Release))),
                MovementContext::system(),
                Some(reply),
            ),
            ProductMsg::Extend {
                reservation,
                expires_at,
                reply,
            } => (
                stock(ledger.extend(&reservation, expires_at)),
                MovementContext::system(),
                Some(reply),
            ),
            ProductMsg::Adjust {
                delta,
                reason,
                note,
                by,
                expected_version,
                location,
                reply,
            } => (
                stock(ledger.adjust(
                    id,
                    delta,
                    reason,
                    note,
                    by.clone(),
                    expected_version,
                    location,
                )),
                MovementContext {
                    reference: None,
                    by,
                },
                Some(reply),
            ),
            ProductMsg::Transfer {
                transfer,
                by,
                reply,
            } => {
                let Transfer {
                    from,
                    to,
                    quantity,
                    note,
                } = *transfer;
                (
                    stock(ledger.transfer(id, &from, &to, quantity, note, by.clone())),
                    MovementContext {
                        reference: None,
                        by,
                    },
                    Some(reply),
                )
            }
            ProductMsg::Update { patch, reply } => {
                let next = patch.apply_to(&product.catalog, now_ms());
                (
                    Ok(vec![ProductChange::Updated(Arc::new(next))]),
                    MovementContext::system(),
                    Some(reply),
                )
            }
            ProductMsg::ExpireDue { reply } => (
                stock(Ok(ledger.expire_due(now_ms()))),
                MovementContext::system(),
                reply,
            ),
            ProductMsg::Review { reply, .. } => {
                // Handled above; kept exhaustive without a catch-all.
                let _ = reply.send(Err(ActorError::Unavailable("misrouted review".into())));
                return Ok(());
            }
            ProductMsg::Waitlist { reply, .. } => {
                let _ = reply.send(Err(ActorError::Unavailable("misrouted waitlist".into())));
                return Ok(());
            }
            ProductMsg::IdleCheck => {
                let idle = Duration::from_secs(state.shared.config.actors.idle_seconds.max(1));
                state.maybe_passivate(&myself, idle);
                return Ok(());
            }
            ProductMsg::Evict => {
                // Only one quiet for `actors.evictable_after_ms`: a product reloads from its
                // snapshot and journal on disk, so a hot one is kept.
                let quiet = state.shared.config.actors.evictable_after();
                state.maybe_passivate(&myself, quiet);
                return Ok(());
            }
        };
        state
            .execute(&myself, decided, context, companion, focus, reply)
            .await;
        // Units that came back go to the first in line before the next message is seen.
        state.serve_waitlist(&myself).await;
        state.count_holds();
        // Always re-arm: a timer that woke with nothing due (say, the wall clock stepped back)
        // must not leave the remaining holds without a timer.
        state.arm_timer(&myself);
        Ok(())
    }
}

/// The reservation a reply is about, whose allocations it carries: the hold as it is after
/// the change (hold, resize, extend), or the units it sold (commit).
enum Focus {
    None,
    Held(ReservationId),
    Sold(ReservationId),
}

/// Who and what a movement is attributed to.
struct MovementContext {
    reference: Option<String>,
    by: String,
}

impl MovementContext {
    fn system() -> Self {
        Self {
            reference: None,
            by: "system".into(),
        }
    }
}

/// A movement before it is numbered: kind, delta, location, reason, note.
type Entry = (
    MovementKind,
    i64,
    Option<LocationId>,
    Option<String>,
    Option<String>,
);

/// An event to publish once the write is durable.
struct Outgoing {
    seq: u64,
    name: EventType,
    data: Value,
    at: Millis,
}

impl ProductState {
    /// Brings this actor's share of the active-holds gauge up to date.
    fn count_holds(&mut self) {
        let holds = self.product.ledger.holds.len();
        if holds != self.holds_counted {
            crate::observability::HOT
                .holds_active
                .increment(holds as f64 - self.holds_counted as f64);
            self.holds_counted = holds;
        }
    }

    /// Whether a commit marker (a sold reservation, a returned order) was written for this
    /// product. Our latest writes may still sit in the committer's queue, not yet in sled, so
    /// a miss waits until they are applied and looks again.
    async fn marker_written(&self, id: &ProductId, marker: &str) -> bool {
        let storage = &self.shared.storage;
        if storage.was_committed(id, marker).unwrap_or(false) {
            return true;
        }
        if self.writes_in_flight.load(Ordering::Relaxed) == 0 {
            return false;
        }
        if let Err(error) = self.shared.committer.durable().await {
            tracing::warn!(product = %id, %error, "could not wait for earlier writes");
        }
        storage.was_committed(id, marker).unwrap_or(false)
    }

    fn view(&self) -> ProductView {
        ProductView {
            catalog: Arc::clone(&self.product.catalog),
            stock: self.product.ledger.levels(),
            locations: Arc::new(self.product.ledger.locations.clone()),
            allocations: Vec::new(),
            movements: self.product.ledger.movements,
            rating: self.product.rating,
        }
    }

    /// Applies, persists and hands the decided changes to the committer, which answers and
    /// publishes after the fsync. Refusals also go through the committer so that they are
    /// never answered before the writes they were decided after. A `companion` reservation
    /// record is written with the changes when they are granted.
    async fn execute(
        &mut self,
        myself: &ActorRef<ProductMsg>,
        decided: Result<Vec<ProductChange>, DomainError>,
        context: MovementContext,
        companion: Option<Box<Reservation>>,
        focus: Focus,
        reply: Option<Reply>,
    ) {
        let changes = match decided {
            Ok(changes) => changes,
            Err(refusal) => {
                self.answer_in_order(Err(ActorError::Refused(refusal)), reply)
                    .await;
                return;
            }
        };
        // A sale's locations are known only before it is applied.
        let sold = match &focus {
            Focus::Sold(reservation) => self.allocations_of(reservation),
            _ => Vec::new(),
        };
        if changes.is_empty() && companion.is_none() {
            let mut view = self.view();
            if let Focus::Held(reservation) = &focus {
                view.allocations = self.allocations_of(reservation);
            }
            self.answer_in_order(Ok(view), reply).await;
            return;
        }
        let (mut write, outgoing) = match self.record(changes, context) {
            Ok(recorded) => recorded,
            Err(error) => return self.fail(myself, error, reply),
        };
        let mut answer = self.view();
        answer.allocations = match &focus {
            Focus::Held(reservation) => self.allocations_of(reservation),
            Focus::Sold(_) => sold,
            Focus::None => Vec::new(),
        };
        if let Some(mut record) = companion {
            // The record travels with this product's hold: it shows where the units are.
            let product = &self.product.catalog.id;
            for item in record.items.iter_mut().filter(|i| &i.product_id == product) {
                item.allocations = answer.allocations.clone();
            }
            if let Err(error) = write.reservation(&record) {
                return self.fail(myself, error.to_string(), reply);
            }
        }
        let view = self.view();
        self.submit(myself, write, outgoing, view, answer, reply)
            .await;
    }

    /// Joins or leaves the waitlist; the entry is answered once durable.
    async fn waitlist_command(
        &mut self,
        myself: &ActorRef<ProductMsg>,
        command: WaitlistCommand,
        reply: WaitlistReply,
    ) {
        let refuse = |code, message| Err(ActorError::Refused(DomainError::Conflict(code, message)));
        let entry = match command {
            WaitlistCommand::Join { customer, quantity } => {
                if self
                    .waitlist
                    .iter()
                    .any(|e| e.customer_id == customer && e.status == WaitlistStatus::Waiting)
                {
                    let _ = reply.send(refuse(
                        "already_waiting",
                        "already waiting for this product",
                    ));
                    return;
                }
                let placement = self
                    .shared
                    .read_model
                    .placement(&self.product.catalog.store_id);
                if self.product.ledger.holdable(&placement) > 0 {
                    let _ = reply.send(refuse(
                        "not_sold_out",
                        "the product is not sold out: hold it instead",
                    ));
                    return;
                }
                let entry = WaitlistEntry {
                    id: WaitlistId::generate(),
                    product_id: self.product.catalog.id.clone(),
                    customer_id: customer,
                    quantity,
                    status: WaitlistStatus::Waiting,
                    cart_id: None,
                    seq: self.waitlist.last().map_or(1, |e| e.seq + 1),
                    created_at: now_ms(),
                };
                self.waitlist.push(entry.clone());
                entry
            }
            WaitlistCommand::Leave { customer } => {
                let Some(entry) = self
                    .waitlist
                    .iter_mut()
                    .find(|e| e.customer_id == customer && e.status == WaitlistStatus::Waiting)
                else {
                    let _ = reply.send(Err(ActorError::Refused(DomainError::NotFound)));
                    return;
                };
                entry.status = WaitlistStatus::Left;
                entry.clone()
            }
        };
        let mut write = ProductWrite::default();
        if let Err(error) = write.waitlist_entry(&entry) {
            let _ = reply.send(Err(ActorError::Unavailable(error.to_string())));
            return;
        }
        let position = self.position_of(&entry.id);
        let view = self.view();
        self.submit(
            myself,
            write,
            Vec::new(),
            view,
            (entry, position),
            Some(reply),
        )
        .await;
    }

    /// The 1-based place of a waiting entry in line.
    fn position_of(&self, id: &WaitlistId) -> Option<usize> {
        let positions = crate::domain::waitlist::positions(&self.waitlist);
        self.waitlist
            .iter()
            .zip(positions)
            .find(|(e, _)| &e.id == id)
            .and_then(|(_, p)| p)
    }

    /// While the first in line can be served from the units free to hold, holds them for
    /// `carts.hold_seconds` in a new cart of theirs (one write: the hold, the cart with its
    /// `cart.updated` event, and the entry marked served, which the notifications follower
    /// turns into a `waitlist_served` email). Strictly first come, first served: a first in
    /// line wanting more than is free waits, and so does everyone behind them.
    async fn serve_waitlist(&mut self, myself: &ActorRef<ProductMsg>) {
        while let Some(index) = self
            .waitlist
            .iter()
            .position(|e| e.status == WaitlistStatus::Waiting)
        {
            if self.product.catalog.status == ProductStatus::Archived {
                return;
            }
            let placement = self
                .shared
                .read_model
                .placement(&self.product.catalog.store_id);
            let entry = &self.waitlist[index];
            if entry.quantity > self.product.ledger.holdable(&placement) {
                return;
            }
            let now = now_ms();
            let hold_seconds = i64::try_from(self.shared.config.carts.hold_seconds).unwrap_or(600);
            let expires_at = now + hold_seconds.saturating_mul(1000);
            let reservation = ReservationId::generate();
            let changes = match self.product.ledger.hold_in(
                &self.product.catalog.id,
                &reservation,
                entry.quantity,
                expires_at,
                &placement,
            ) {
                Ok(changes) => changes,
                Err(_) => return,
            };
            let changes = changes.into_iter().map(ProductChange::Stock).collect();
            let (mut write, outgoing) = match self.record(changes, MovementContext::system()) {
                Ok(recorded) => recorded,
                Err(error) => return self.fail(myself, error, None),
            };
            let catalog = &self.product.catalog;
            let ttl_days = i64::try_from(self.shared.config.carts.ttl_days).unwrap_or(7);
            let mut cart = Cart {
                id: CartId::generate(),
                store_id: Some(catalog.store_id.clone()),
                customer_id: Some(self.waitlist[index].customer_id.clone()),
                lines: vec![CartLine {
                    product_id: catalog.id.clone(),
                    sku: catalog.sku.clone(),
                    name: catalog.name.clone(),
                    quantity: self.waitlist[index].quantity,
                    unit_price: catalog.price.clone(),
                    allocations: self.allocations_of(&reservation),
                }],
                hold: Some(CartHold {
                    reservation_id: reservation,
                    expires_at,
                }),
                created_at: now,
                updated_at: now,
                expires_at: now + ttl_days.saturating_mul(24 * 60 * 60 * 1000),
                version: 1,
                store_bound: false,
            };
            let entry = &mut self.waitlist[index];
            entry.status = WaitlistStatus::Served;
            entry.cart_id = Some(cart.id.clone());
            let entry = entry.clone();
            let data = views::cart(&cart, now);
            let stored = StoredEvent {
                seq: cart.version,
                at: now,
                name: EventType::CartUpdated.as_str().into(),
                data: data.to_string(),
            };
            let recorded = write
                .cart(&cart)
                .and_then(|()| write.event_of(cart.id.as_str(), &stored))
                .and_then(|()| write.waitlist_entry(&entry));
            if let Err(error) = recorded {
                return self.fail(myself, error.to_string(), None);
            }
            tracing::info!(product = %catalog.id, cart = %cart.id, waitlist = %entry.id, "served the first in line");
            let view = self.view();
            self.submit::<()>(myself, write, outgoing, view, (), None)
                .await;
            // Published once durable: the committer answers in order, behind the write.
            let shared = Arc::clone(&self.shared);
            cart.version = 1;
            self.shared
                .committer
                .submit(Box::new(move |durable| {
                    if durable.is_ok() {
                        shared.hub.publish_durable(
                            &format!("cart:{}", cart.id),
                            cart.version,
                            EventType::CartUpdated,
                            &data,
                            now,
                        );
                    }
                }))
                .await;
        }
    }

    /// Where `reservation`'s units are held at this product (none when it holds nothing).
    fn allocations_of(&self, reservation: &ReservationId) -> Vec<Allocation> {
        self.product
            .ledger
            .holds
            .get(reservation)
            .map(|hold| hold.allocations.clone())
            .unwrap_or_default()
    }

    /// Hands a recorded write to the committer; once it is durable, the read model gets
    /// `view`, the events go out and `answer` is sent. A failed write stops the actor (memory
    /// is ahead of disk, so the next message reloads from disk).
    async fn submit<T: Send + 'static>(
        &self,
        myself: &ActorRef<ProductMsg>,
        write: ProductWrite,
        outgoing: Vec<Outgoing>,
        view: ProductView,
        answer: T,
        reply: Option<RpcReplyPort<Result<T, ActorError>>>,
    ) {
        let shared = Arc::clone(&self.shared);
        let failed_actor = myself.clone();
        let in_flight = Arc::clone(&self.writes_in_flight);
        in_flight.fetch_add(1, Ordering::Relaxed);
        self.shared
            .committer
            .submit_write(
                write,
                Box::new(move |durable| match durable {
                    Ok(()) => {
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                        shared.read_model.put_product(view.clone());
                        publish(&shared, &view, outgoing);
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(answer));
                        }
                    }
                    Err(error) => {
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                        failed_actor.stop(Some("flush failed".into()));
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(ActorError::Unavailable(error.to_string())));
                        }
                    }
                }),
            )
            .await;
    }

    /// Decides a review command against the product's reviews and rating; a granted one
    /// becomes one write: the review record, and the journal record of the new rating (with
    /// its `product.updated` event), so the two can never disagree on disk. Refusals are
    /// answered in order behind earlier writes: a second review racing the first is refused
    /// only once the first is durable.
    async fn review(
        &mut self,
        myself: &ActorRef<ProductMsg>,
        command: ReviewCommand,
        reply: ReviewReply,
    ) {
        let book = match self.reviews.take() {
            Some(book) => book,
            None => match self.shared.storage.reviews(&self.product.catalog.id) {
                Ok(stored) => ReviewBook::new(stored),
                Err(error) => {
                    let _ = reply.send(Err(ActorError::Unavailable(error.to_string())));
                    return;
                }
            },
        };
        let decided = book.decide(&command, self.product.rating);
        let book = self.reviews.insert(book);
        let (effect, rating) = match decided {
            Ok(decided) => decided,
            Err(refusal) => {
                self.answer_in_order(Err(ActorError::Refused(refusal)), Some(reply))
                    .await;
                return;
            }
        };
        book.apply(&effect);
        let recorded = self
            .record(
                vec![ProductChange::Rated(rating)],
                MovementContext::system(),
            )
            .and_then(|(mut write, outgoing)| {
                match &effect {
                    ReviewEffect::Put(review) => {
                        write.review(review).map_err(|e| e.to_string())?;
                    }
                    ReviewEffect::Removed(review) => write.delete_review(review),
                }
                Ok((write, outgoing))
            });
        let (write, outgoing) = match recorded {
            Ok(recorded) => recorded,
            Err(error) => {
                tracing::error!(product = %self.product.catalog.id, %error, "review write failed; stopping actor");
                self.registry.forget(&self.product.catalog.id, &self.slot);
                myself.stop(Some("write failed".into()));
                let _ = reply.send(Err(ActorError::Unavailable(error)));
                return;
            }
        };
        let view = self.view();
        self.submit(
            myself,
            write,
            outgoing,
            view.clone(),
            (effect, view),
            Some(reply),
        )
        .await;
    }

    /// Applies the changes to memory and builds their journal records, events and movements.
    fn record(
        &mut self,
        changes: Vec<ProductChange>,
        context: MovementContext,
    ) -> Result<(ProductWrite, Vec<Outgoing>), String> {
        let at = now_ms();
        let id = self.product.catalog.id.clone();
        let mut write = ProductWrite::default();
        let mut outgoing = Vec::new();
        for change in changes {
            if let ProductChange::Stock(StockChange::Released {
                cause: ReleaseCause::Expiry,
                ..
            }) = &change
            {
                crate::observability::HOT.holds_expired.increment(1);
            }
            self.idx += 1;
            let record = JournalRecord {
                idx: self.idx,
                at,
                change,
            };
            write.journal(&id, &record).map_err(|e| e.to_string())?;
            // A sale's locations are its hold's, which applying removes.
            let sold_from = match &record.change {
                ProductChange::Stock(StockChange::Committed { reservation, .. }) => self
                    .product
                    .ledger
                    .holds
                    .get(reservation)
                    .map(|hold| hold.allocations.clone()),
                _ => None,
            };
            let signals = self.product.apply(&record.change);
            match (&record.change, &context.reference) {
                (ProductChange::Stock(StockChange::Committed { reservation, .. }), _) => {
                    write.commit_marker(&id, reservation.as_str());
                }
                (ProductChange::Stock(StockChange::Returned { .. }), Some(reference)) => {
                    write.commit_marker(&id, &format!("return:{reference}"));
                }
                (
                    ProductChange::Stock(
                        StockChange::Adjusted {
                            reason: AdjustmentReason::Return,
                            ..
                        }
                        | StockChange::AdjustedAt {
                            reason: AdjustmentReason::Return,
                            ..
                        },
                    ),
                    Some(reference),
                ) => {
                    // Only a received return's restock carries a reference.
                    write.commit_marker(&id, &format!("restock:{reference}"));
                }
                _ => {}
            }
            let movements = self.movements_for(&record.change, sold_from, &context, at);
            let first = self.product.ledger.movements + 1 - movements.len() as u64;
            for (n, movement) in (first..).zip(&movements) {
                write
                    .movement(&id, n, movement)
                    .map_err(|e| e.to_string())?;
            }
            for (seq, signal) in signals {
                let (name, data) = self.render(signal, seq);
                let stored = StoredEvent {
                    seq,
                    at,
                    name: name.as_str().to_owned(),
                    data: data.to_string(),
                };
                write.event(&id, &stored).map_err(|e| e.to_string())?;
                outgoing.push(Outgoing {
                    seq,
                    name,
                    data,
                    at,
                });
            }
        }
        // A snapshot carries every hold, so with many holds it is taken less often: one every
        // `holds` records keeps its cost per record constant (a flash sale's 60 000 holds make
        // a 2 MB snapshot, which sled writes as a blob), while the tail replayed on activation
        // stays no longer than the snapshot itself.
        let every = SNAPSHOT_EVERY.max(self.product.ledger.holds.len() as u64);
        if self.idx - self.snapshot_idx >= every {
            let keep_from = self
                .product
                .ledger
                .version
                .saturating_sub(self.shared.config.ws.replay_buffer);
            self.shared
                .storage
                .prune(&mut write, &id, self.idx, keep_from)
                .map_err(|e| e.to_string())?;
            write
                .snapshot(&Snapshot {
                    idx: self.idx,
                    product: self.product.clone(),
                })
                .map_err(|e| e.to_string())?;
            self.snapshot_idx = self.idx;
        }
        Ok((write, outgoing))
    }

    /// The movement-log entries of a change, in order: one per location whose `on_hand`
    /// changed (a sale split across locations makes one per location, a transfer two). Their
    /// `on_hand_after` is the product's total after each, so the last one's is today's.
    fn movements_for(
        &self,
        change: &ProductChange,
        sold_from: Option<Vec<crate::domain::location::Allocation>>,
        context: &MovementContext,
        at: Millis,
    ) -> Vec<Movement> {
        let ledger = &self.product.ledger;
        let home = ledger.home.clone();
        let ProductChange::Stock(change) = change else {
            return Vec::new();
        };
        // A return's restock (it names the return) is a `return` movement.
        let adjustment_kind = |reason: AdjustmentReason| {
            if reason == AdjustmentReason::Return && context.reference.is_some() {
                MovementKind::Return
            } else {
                MovementKind::Adjustment
            }
        };
        let entries: Vec<Entry> = match change {
            StockChange::Committed { quantity, .. } => match sold_from {
                Some(allocations) if !allocations.is_empty() => allocations
                    .into_iter()
                    .map(|a| {
                        (
                            MovementKind::Sale,
                            -a.quantity,
                            Some(a.location_id),
                            None,
                            None,
                        )
                    })
                    .collect(),
                _ => vec![(MovementKind::Sale, -quantity, home, None, None)],
            },
            StockChange::Returned { quantity } => {
                vec![(MovementKind::Cancellation, *quantity, home, None, None)]
            }
            StockChange::Adjusted {
                delta,
                reason,
                note,
                ..
            } => vec![(
                adjustment_kind(*reason),
                *delta,
                home,
                Some(reason.as_str().to_owned()),
                note.clone(),
            )],
            StockChange::AdjustedAt {
                delta,
                reason,
                note,
                location,
                ..
            } => vec![(
                adjustment_kind(*reason),
                *delta,
                Some(location.clone()),
                Some(reason.as_str().to_owned()),
                note.clone(),
            )],
            StockChange::Transferred {
                from,
                to,
                quantity,
                note,
                ..
            } => vec![
                (
                    MovementKind::Transfer,
                    -quantity,
                    Some(from.clone()),
                    None,
                    note.clone(),
                ),
                (
                    MovementKind::Transfer,
                    *quantity,
                    Some(to.clone()),
                    None,
                    note.clone(),
                ),
            ],
            _ => Vec::new(),
        };
        let mut on_hand = ledger.on_hand - entries.iter().map(|e| e.1).sum::<i64>();
        entries
            .into_iter()
            .map(|(kind, delta, location_id, reason, note)| {
                on_hand += delta;
                Movement {
                    id: MovementId::generate().to_string(),
                    at,
                    kind,
                    delta,
                    on_hand_after: on_hand,
                    reason,
                    note,
                    reference: context.reference.clone(),
                    by: context.by.clone(),
                    location_id,
                }
            })
            .collect()
    }

    fn render(&self, signal: ProductSignal, seq: u64) -> (EventType, Value) {
        let catalog = &self.product.catalog;
        let levels = self.product.ledger.levels();
        match signal {
            ProductSignal::Stock(StockSignal::Changed(cause)) => (
                EventType::StockChanged,
                views::stock_changed(catalog, &levels, seq, cause),
            ),
            ProductSignal::Stock(StockSignal::Low) => {
                (EventType::StockLow, views::stock_low(catalog, &levels))
            }
            ProductSignal::Updated => {
                let mut view = self.view();
                view.stock.version = seq;
                (EventType::ProductUpdated, views::product(&view))
            }
        }
    }

    /// Answers through the committer, behind every write queued before.
    async fn answer_in_order<T: Send + 'static>(
        &self,
        answer: Result<T, ActorError>,
        reply: Option<RpcReplyPort<Result<T, ActorError>>>,
    ) {
        let Some(reply) = reply else { return };
        self.shared
            .committer
            .submit(Box::new(move |durable| {
                let _ = reply.send(
                    durable
                        .map_err(|e| ActorError::Unavailable(e.to_string()))
                        .and(answer),
                );
            }))
            .await;
    }

    fn fail(&mut self, myself: &ActorRef<ProductMsg>, error: String, reply: Option<Reply>) {
        tracing::error!(product = %self.product.catalog.id, %error, "product write failed; stopping actor");
        self.registry.forget(&self.product.catalog.id, &self.slot);
        myself.stop(Some("write failed".into()));
        if let Some(reply) = reply {
            let _ = reply.send(Err(ActorError::Unavailable(error)));
        }
    }

    /// Arms the single timer for the earliest hold expiry (or disarms it).
    fn arm_timer(&mut self, myself: &ActorRef<ProductMsg>) {
        let next = self.product.ledger.next_expiry();
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, timer)) = self.timer.take() {
            timer.abort();
        }
        if let Some(deadline) = next {
            let wait = Duration::from_millis(u64::try_from(deadline - now_ms()).unwrap_or(0));
            let myself = myself.clone();
            let task = tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let _ = myself.send_message(ProductMsg::ExpireDue { reply: None });
            });
            self.timer = Some((deadline, task));
        }
    }

    /// Stops the actor when it holds nothing and has been idle: its state is on disk and the
    /// next message re-activates it. The registry entry goes first, so no new message is
    /// routed here; one already in the mailbox fails to send and its caller retries.
    fn maybe_passivate(&mut self, myself: &ActorRef<ProductMsg>, idle: Duration) {
        if !self.product.ledger.holds.is_empty()
            || self.last_message.elapsed() < idle
            || self.writes_in_flight.load(Ordering::Relaxed) > 0
        {
            return;
        }
        self.registry.forget(&self.product.catalog.id, &self.slot);
        tracing::debug!(product = %self.product.catalog.id, "passivating idle product actor");
        myself.stop(Some("idle".into()));
    }
}

/// Sends a durable product's events to `product:{id}` and, for the store-wide kinds, to
/// `store:{id}`.
fn publish(shared: &Shared, view: &ProductView, outgoing: Vec<Outgoing>) {
    let product_topic = format!("product:{}", view.catalog.id);
    let store_topic = format!("store:{}", view.catalog.store_id);
    for event in outgoing {
        shared
            .hub
            .publish_durable(&product_topic, event.seq, event.name, &event.data, event.at);
        if event.name != EventType::StockLow {
            shared
                .hub
                .publish_volatile(&store_topic, event.name, &event.data, event.at, || {});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ProductMsg;

    /// Every live actor's mailbox allocates blocks of message slots at this size, so it is
    /// kept small (large payloads are boxed).
    #[test]
    fn a_product_message_stays_small() {
        assert!(
            std::mem::size_of::<ProductMsg>() <= 128,
            "ProductMsg is {} bytes",
            std::mem::size_of::<ProductMsg>()
        );
    }
}
