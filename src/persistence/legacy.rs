//! Shapes of records as format 1 ([`codec::FORMAT`](super::codec::FORMAT)) wrote them, for
//! the types that grew since, with their upgrade to today's type. Read by
//! [`codec::decode_upgrading`](super::codec::decode_upgrading) so a data directory written
//! before the change still loads.

use super::{Movement, MovementKind, Snapshot, codec};
use crate::domain::{
    cart::{Cart, CartHold, CartLine},
    fulfillment::FulfillmentType,
    ids::{CartId, OrderId, ProductId, ReservationId, StoreId, UserId},
    location::{AllocationStrategy, default_location_id},
    money::Money,
    order::{HistoryEntry, Order, OrderLine, OrderStatus, Payment, PaymentStatus},
    product::{Catalog, Product},
    reservation::{Reservation, ReservationItem, ReservationStatus},
    review::Rating,
    stock::Ledger,
    store::{Store, StoreKind},
    time::Millis,
    user::{Role, User},
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, sync::Arc};

/// A hold before locations.
#[derive(Serialize, Deserialize)]
pub struct HoldV1 {
    /// Units held.
    pub quantity: i64,
    /// Expiry.
    pub expires_at: Millis,
}

/// A stock ledger before locations (snapshot formats 1 and 2). `Serialize` too, so tests can
/// write snapshots the way those formats did.
#[derive(Default, Serialize, Deserialize)]
pub struct LedgerV1 {
    /// Units in the building.
    pub on_hand: i64,
    /// Sum of the holds.
    pub reserved: i64,
    /// Active holds.
    pub holds: BTreeMap<ReservationId, HoldV1>,
    /// Event sequence.
    pub version: u64,
    /// Low-stock alert sent.
    pub low_alerted: bool,
    /// Movement count.
    pub movements: u64,
}

impl LedgerV1 {
    /// Today's ledger: every unit and hold at the store's default location.
    fn upgrade(self, store: &StoreId) -> Ledger {
        Ledger::upgraded(
            self.on_hand,
            self.holds
                .into_iter()
                .map(|(r, h)| (r, (h.quantity, h.expires_at)))
                .collect(),
            self.version,
            self.low_alerted,
            self.movements,
            default_location_id(store),
        )
    }
}

/// A product before ratings (field order as then: bincode is positional). `Serialize` too,
/// so tests can write a snapshot the way format 1 did.
#[derive(Serialize, Deserialize)]
pub struct ProductV1 {
    /// Descriptive fields.
    pub catalog: Arc<Catalog>,
    /// Stock.
    pub ledger: LedgerV1,
}

/// A product snapshot before ratings.
#[derive(Serialize, Deserialize)]
pub struct SnapshotV1 {
    /// Last journal record folded in.
    pub idx: u64,
    /// The state.
    pub product: ProductV1,
}

impl From<SnapshotV1> for Snapshot {
    fn from(s: SnapshotV1) -> Self {
        let ledger = s.product.ledger.upgrade(&s.product.catalog.store_id);
        Self {
            idx: s.idx,
            product: Product {
                catalog: s.product.catalog,
                ledger,
                // Format 1 knew no reviews.
                rating: Rating::default(),
            },
        }
    }
}

/// A product before locations (snapshot format 2).
#[derive(Serialize, Deserialize)]
pub struct ProductV2 {
    /// Descriptive fields.
    pub catalog: Arc<Catalog>,
    /// Stock, all in one place.
    pub ledger: LedgerV1,
    /// Review aggregate.
    pub rating: Rating,
}

/// A product snapshot before locations (format 2).
#[derive(Serialize, Deserialize)]
pub struct SnapshotV2 {
    /// Last journal record folded in.
    pub idx: u64,
    /// The state.
    pub product: ProductV2,
}

impl From<SnapshotV2> for Snapshot {
    fn from(s: SnapshotV2) -> Self {
        let ledger = s.product.ledger.upgrade(&s.product.catalog.store_id);
        Self {
            idx: s.idx,
            product: Product {
                catalog: s.product.catalog,
                ledger,
                rating: s.product.rating,
            },
        }
    }
}

/// A store before allocation strategies (format 1).
#[derive(Serialize, Deserialize)]
pub struct StoreV1 {
    /// `str_…`
    pub id: StoreId,
    /// Display name.
    pub name: String,
    /// Retail or restaurant.
    pub kind: StoreKind,
    /// Currency.
    pub currency: String,
    /// Open for orders.
    pub open: bool,
    /// Creation time.
    pub created_at: Millis,
}

impl From<StoreV1> for Store {
    fn from(s: StoreV1) -> Self {
        Self {
            id: s.id,
            name: s.name,
            kind: s.kind,
            currency: s.currency,
            open: s.open,
            created_at: s.created_at,
            allocation: AllocationStrategy::Priority,
        }
    }
}

/// Decodes a store of any format.
pub fn decode_store(bytes: &[u8]) -> Result<Store, codec::CodecError> {
    codec::decode_upgrading::<Store, StoreV1>(bytes)
}

/// A movement before locations (format 1).
#[derive(Deserialize)]
pub struct MovementV1 {
    id: String,
    at: Millis,
    kind: MovementKind,
    delta: i64,
    on_hand_after: i64,
    reason: Option<String>,
    note: Option<String>,
    reference: Option<String>,
    by: String,
}

impl From<MovementV1> for Movement {
    fn from(m: MovementV1) -> Self {
        Self {
            id: m.id,
            at: m.at,
            kind: m.kind,
            delta: m.delta,
            on_hand_after: m.on_hand_after,
            reason: m.reason,
            note: m.note,
            reference: m.reference,
            by: m.by,
            location_id: None,
        }
    }
}

/// A reservation line before locations (format 1).
#[derive(Deserialize)]
pub struct ReservationItemV1 {
    product_id: ProductId,
    quantity: i64,
}

/// A reservation before locations (format 1).
#[derive(Deserialize)]
pub struct ReservationV1 {
    id: ReservationId,
    status: ReservationStatus,
    items: Vec<ReservationItemV1>,
    expires_at: Millis,
    created_at: Millis,
    client_ref: Option<String>,
    created_by: String,
}

impl From<ReservationV1> for Reservation {
    fn from(r: ReservationV1) -> Self {
        Self {
            id: r.id,
            status: r.status,
            items: r
                .items
                .into_iter()
                .map(|i| ReservationItem {
                    product_id: i.product_id,
                    quantity: i.quantity,
                    // Units held before locations are at the default location; the record
                    // did not say so, and the ledger's upgrade does.
                    allocations: Vec::new(),
                })
                .collect(),
            expires_at: r.expires_at,
            created_at: r.created_at,
            client_ref: r.client_ref,
            created_by: r.created_by,
        }
    }
}

/// Decodes a reservation of any format.
pub fn decode_reservation(bytes: &[u8]) -> Result<Reservation, codec::CodecError> {
    codec::decode_upgrading::<Reservation, ReservationV1>(bytes)
}

/// Decodes a product snapshot of any format.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, codec::CodecError> {
    codec::decode_upgrading_v3::<Snapshot, SnapshotV2, SnapshotV1>(bytes)
}

/// A history entry before cancellation reasons.
#[derive(Deserialize)]
pub struct HistoryEntryV1 {
    status: OrderStatus,
    at: Millis,
    by: String,
}

/// Reads an order record of any format.
pub fn decode_order(bytes: &[u8]) -> Result<Order, codec::CodecError> {
    codec::decode_upgrading_v3::<Order, OrderV2, OrderV1>(bytes)
}

/// Whether an order record predates fulfilment types (formats 1 and 2): its
/// `fulfillment_type` is the upgrade's default, not what the customer chose, so start-up
/// derives it from the store's kind instead.
pub fn order_predates_fulfillment(bytes: &[u8]) -> bool {
    bytes
        .first()
        .is_some_and(|format| *format < codec::FORMAT_V3)
}

/// An order line before locations (field order as then: bincode is positional).
#[derive(Serialize, Deserialize)]
pub struct OrderLineV1 {
    product_id: ProductId,
    sku: String,
    name: String,
    quantity: i64,
    unit_price: Money,
}

impl From<OrderLineV1> for OrderLine {
    fn from(l: OrderLineV1) -> Self {
        Self {
            product_id: l.product_id,
            sku: l.sku,
            name: l.name,
            quantity: l.quantity,
            unit_price: l.unit_price,
            // Sold before stock had locations: from the store's one place.
            allocations: Vec::new(),
        }
    }
}

/// A payment before partial refunds.
#[derive(Serialize, Deserialize)]
pub struct PaymentV1 {
    status: PaymentStatus,
    method: String,
    token: String,
    transaction_id: Option<String>,
    attempts: u32,
    decline_code: Option<String>,
}

impl From<PaymentV1> for Payment {
    fn from(p: PaymentV1) -> Self {
        Self {
            status: p.status,
            method: p.method,
            token: p.token,
            transaction_id: p.transaction_id,
            attempts: p.attempts,
            decline_code: p.decline_code,
            // A cancellation's full refund shows in `status`; no partial ones existed.
            refunds: Vec::new(),
        }
    }
}

/// An order before cancellation reasons (format 1; field order as then: bincode is
/// positional).
#[derive(Deserialize)]
pub struct OrderV1 {
    id: OrderId,
    number: u64,
    store_id: StoreId,
    customer_id: Option<UserId>,
    status: OrderStatus,
    items: Vec<OrderLineV1>,
    payment: PaymentV1,
    shipping_address: Option<BTreeMap<String, String>>,
    note: Option<String>,
    history: Vec<HistoryEntryV1>,
    created_at: Millis,
    updated_at: Millis,
    reservation_id: ReservationId,
    cart_id: Option<CartId>,
    stock_committed: bool,
    version: u64,
}

impl From<OrderV1> for Order {
    fn from(o: OrderV1) -> Self {
        OrderV2 {
            id: o.id,
            number: o.number,
            store_id: o.store_id,
            customer_id: o.customer_id,
            status: o.status,
            items: o.items,
            payment: o.payment,
            shipping_address: o.shipping_address,
            note: o.note,
            history: o
                .history
                .into_iter()
                .map(|h| HistoryEntry {
                    status: h.status,
                    at: h.at,
                    by: h.by,
                    reason: None,
                })
                .collect(),
            created_at: o.created_at,
            updated_at: o.updated_at,
            reservation_id: o.reservation_id,
            cart_id: o.cart_id,
            stock_committed: o.stock_committed,
            version: o.version,
        }
        .into()
    }
}

/// An order before locations, fulfilment and partial refunds (format 2).
#[derive(Deserialize)]
pub struct OrderV2 {
    id: OrderId,
    number: u64,
    store_id: StoreId,
    customer_id: Option<UserId>,
    status: OrderStatus,
    items: Vec<OrderLineV1>,
    payment: PaymentV1,
    shipping_address: Option<BTreeMap<String, String>>,
    note: Option<String>,
    history: Vec<HistoryEntry>,
    created_at: Millis,
    updated_at: Millis,
    reservation_id: ReservationId,
    cart_id: Option<CartId>,
    stock_committed: bool,
    version: u64,
}

impl From<OrderV2> for Order {
    fn from(o: OrderV2) -> Self {
        Self {
            id: o.id,
            number: o.number,
            store_id: o.store_id,
            customer_id: o.customer_id,
            status: o.status,
            items: o.items.into_iter().map(OrderLine::from).collect(),
            payment: o.payment.into(),
            shipping_address: o.shipping_address,
            note: o.note,
            history: o.history,
            created_at: o.created_at,
            updated_at: o.updated_at,
            reservation_id: o.reservation_id,
            cart_id: o.cart_id,
            stock_committed: o.stock_committed,
            version: o.version,
            // Orders before fulfilment types were all shipped or collected as their store
            // does; the kind of store decides when the order is read.
            fulfillment_type: FulfillmentType::default(),
            table: None,
            estimated_ready_at: None,
            fulfillments: Vec::new(),
        }
    }
}

/// A cart before stores bound at creation.
#[derive(Deserialize)]
pub struct CartV1 {
    id: CartId,
    store_id: Option<StoreId>,
    customer_id: Option<UserId>,
    lines: Vec<CartLineV1>,
    hold: Option<CartHold>,
    created_at: Millis,
    updated_at: Millis,
    expires_at: Millis,
    version: u64,
}

impl From<CartV1> for Cart {
    fn from(c: CartV1) -> Self {
        Self {
            id: c.id,
            store_id: c.store_id,
            customer_id: c.customer_id,
            lines: c.lines.into_iter().map(Into::into).collect(),
            hold: c.hold,
            created_at: c.created_at,
            updated_at: c.updated_at,
            expires_at: c.expires_at,
            version: c.version,
            store_bound: false,
        }
    }
}

/// A cart line before locations (formats 1 and 2).
#[derive(Deserialize)]
pub struct CartLineV1 {
    product_id: ProductId,
    sku: String,
    name: String,
    quantity: i64,
    unit_price: Money,
}

impl From<CartLineV1> for CartLine {
    fn from(l: CartLineV1) -> Self {
        Self {
            product_id: l.product_id,
            sku: l.sku,
            name: l.name,
            quantity: l.quantity,
            unit_price: l.unit_price,
            allocations: Vec::new(),
        }
    }
}

/// A cart before locations (format 2).
#[derive(Deserialize)]
pub struct CartV2 {
    id: CartId,
    store_id: Option<StoreId>,
    customer_id: Option<UserId>,
    lines: Vec<CartLineV1>,
    hold: Option<CartHold>,
    created_at: Millis,
    updated_at: Millis,
    expires_at: Millis,
    version: u64,
    store_bound: bool,
}

impl From<CartV2> for Cart {
    fn from(c: CartV2) -> Self {
        Self {
            id: c.id,
            store_id: c.store_id,
            customer_id: c.customer_id,
            lines: c.lines.into_iter().map(Into::into).collect(),
            hold: c.hold,
            created_at: c.created_at,
            updated_at: c.updated_at,
            expires_at: c.expires_at,
            version: c.version,
            store_bound: c.store_bound,
        }
    }
}

/// Decodes a cart of any format.
pub fn decode_cart(bytes: &[u8]) -> Result<Cart, codec::CodecError> {
    codec::decode_upgrading_v3::<Cart, CartV2, CartV1>(bytes)
}

/// A user before `email_verified` and `disabled` (field order as then).
#[derive(Serialize, Deserialize)]
pub struct UserV1 {
    id: UserId,
    email: String,
    email_lower: String,
    name: String,
    role: Role,
    store_id: Option<StoreId>,
    password_hash: String,
    created_at: Millis,
}

impl From<UserV1> for User {
    /// Accounts made before verification existed are taken as verified: nobody can be sent a
    /// link for them any more, and they have been in use.
    fn from(u: UserV1) -> Self {
        Self {
            id: u.id,
            email: u.email,
            email_lower: u.email_lower,
            name: u.name,
            role: u.role,
            store_id: u.store_id,
            password_hash: u.password_hash,
            created_at: u.created_at,
            email_verified: true,
            disabled: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{money::Money, order::PaymentStatus},
        persistence::codec,
    };
    use serde::Serialize;

    /// Format-1 writers, mirroring the structs above.
    #[derive(Serialize)]
    struct OldHistory<'a>(OrderStatus, Millis, &'a str);

    #[test]
    fn an_order_and_a_cart_written_by_format_1_still_load() {
        let payment = PaymentV1 {
            status: PaymentStatus::Captured,
            method: "card".into(),
            token: "tok_visa".into(),
            transaction_id: None,
            attempts: 1,
            decline_code: None,
        };
        let line = OrderLineV1 {
            product_id: crate::domain::ids::ProductId::generate(),
            sku: "A".into(),
            name: "a".into(),
            quantity: 1,
            unit_price: Money {
                amount: 5,
                currency: "USD".into(),
            },
        };
        let id = OrderId::generate();
        let old = (
            &id,
            7u64,
            StoreId::generate(),
            None::<UserId>,
            OrderStatus::Confirmed,
            vec![line],
            &payment,
            None::<BTreeMap<String, String>>,
            Some("note"),
            vec![
                OldHistory(OrderStatus::Pending, 1, "usr_1"),
                OldHistory(OrderStatus::Confirmed, 2, "system"),
            ],
            (
                1i64,
                2i64,
                ReservationId::generate(),
                None::<CartId>,
                true,
                3u64,
            ),
        );
        // Tuples encode like structs in bincode, and a nested tuple like its fields inline.
        let bytes = codec::encode(&old).expect("encodes");
        let order: Order = decode_order(&bytes).expect("a format-1 order loads");
        assert_eq!(order.id, id);
        assert_eq!(order.history.len(), 2);
        assert_eq!(order.history[1].by, "system");
        assert!(order.history.iter().all(|h| h.reason.is_none()));
        assert!(order.stock_committed);
        assert_eq!(order.version, 3);
        assert!(order.items[0].allocations.is_empty());
        assert!(order.payment.refunds.is_empty());
        assert!(order.fulfillments.is_empty());
        let round = codec::encode_v3(&order).expect("encodes");
        assert_eq!(decode_order(&round).expect("a format-3 order loads"), order);
        assert!(order_predates_fulfillment(&bytes));
        assert!(!order_predates_fulfillment(&round));

        // Format 2: the same with a reason in each history entry.
        let reasoned = |status, at, by: &str| HistoryEntry {
            status,
            at,
            by: by.into(),
            reason: Some("why".into()),
        };
        let v2 = (
            &id,
            7u64,
            StoreId::generate(),
            None::<UserId>,
            OrderStatus::Cancelled,
            &old.5,
            &payment,
            None::<BTreeMap<String, String>>,
            None::<String>,
            vec![
                reasoned(OrderStatus::Pending, 1, "usr_1"),
                reasoned(OrderStatus::Cancelled, 2, "usr_1"),
            ],
            (
                1i64,
                2i64,
                ReservationId::generate(),
                None::<CartId>,
                false,
                4u64,
            ),
        );
        let v2_bytes = codec::encode_v2(&v2).expect("encodes");
        assert!(order_predates_fulfillment(&v2_bytes));
        let order = decode_order(&v2_bytes).expect("a format-2 order loads");
        assert_eq!(order.history[1].reason.as_deref(), Some("why"));
        assert_eq!(order.items[0].quantity, 1);
        assert_eq!(order.version, 4);
        assert_eq!(order.fulfillment_type, FulfillmentType::Delivery);

        let cart_id = CartId::generate();
        let old_cart = (
            &cart_id,
            None::<StoreId>,
            None::<UserId>,
            Vec::<CartLine>::new(),
            None::<CartHold>,
            (1i64, 2i64, 3i64, 4u64),
        );
        let bytes = codec::encode(&old_cart).expect("encodes");
        let cart: Cart = decode_cart(&bytes).expect("a format-1 cart loads");
        assert_eq!(cart.id, cart_id);
        assert!(!cart.store_bound);
        assert_eq!(cart.version, 4);
    }

    #[test]
    fn a_product_snapshot_written_by_format_1_loads_without_reviews_and_takes_ratings_after() {
        use crate::{
            domain::{
                ids::ProductId,
                product::{ProductChange, ProductStatus},
            },
            persistence::{JournalRecord, ProductWrite, Storage, keys},
        };
        let id = ProductId::generate();
        let catalog = Arc::new(Catalog {
            id: id.clone(),
            store_id: StoreId::generate(),
            sku: "OLD-1".into(),
            name: "Old".into(),
            description: None,
            category: None,
            brand: None,
            price: Money {
                amount: 100,
                currency: "USD".into(),
            },
            attributes: BTreeMap::new(),
            image_urls: Vec::new(),
            status: ProductStatus::Active,
            low_stock_threshold: 0,
            created_at: 1,
            updated_at: 1,
        });
        let ledger = LedgerV1 {
            on_hand: 7,
            version: 3,
            ..LedgerV1::default()
        };
        // What the build before ratings wrote: format 1, `(idx, (catalog, ledger))`.
        let old = codec::encode(&(2u64, (&catalog, &ledger))).expect("encodes");
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(dir.path()).expect("opens");
        let mut write = ProductWrite::default();
        write.put(super::super::Tree::Entities, keys::snapshot(&id), old);
        storage.apply_writes([write]).expect("applies");
        let (product, idx, _) = storage
            .load_product(&id)
            .expect("reads")
            .expect("a format-1 snapshot loads");
        assert_eq!((idx, product.ledger.on_hand), (2, 7));
        assert_eq!(product.rating, Rating::default());

        // A rating recorded after it (a journal change appended to the enum) replays on top.
        let rated = Rating { sum: 9, count: 2 };
        let mut write = ProductWrite::default();
        write
            .journal(
                &id,
                &JournalRecord {
                    idx: 3,
                    at: 2,
                    change: ProductChange::Rated(rated),
                },
            )
            .expect("journal");
        storage.apply_writes([write]).expect("applies");
        let (product, idx, _) = storage.load_product(&id).expect("reads").expect("loads");
        assert_eq!((idx, product.rating, product.ledger.version), (3, rated, 4));
    }

    #[test]
    fn a_user_written_by_format_1_loads_verified_and_enabled() {
        let old = UserV1 {
            id: UserId::generate(),
            email: "Old@Example.com".into(),
            email_lower: "old@example.com".into(),
            name: "Old".into(),
            role: Role::Staff,
            store_id: Some(StoreId::generate()),
            password_hash: "$argon2id$x".into(),
            created_at: 42,
        };
        let bytes = codec::encode(&old).expect("encodes");
        let user: User = codec::decode_upgrading::<User, UserV1>(&bytes).expect("decodes");
        assert_eq!(user.email, "Old@Example.com");
        assert_eq!(user.role, Role::Staff);
        assert_eq!(user.created_at, 42);
        assert!(user.email_verified);
        assert!(!user.disabled);
        let again = codec::encode_v2(&user).expect("encodes");
        let back: User = codec::decode_upgrading::<User, UserV1>(&again).expect("decodes");
        assert_eq!(back.store_id, user.store_id);
    }
}
