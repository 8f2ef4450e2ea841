//! OpenAPI schemas of the JSON the REST API answers (docs/API.md §3–§8).
//!
//! The answers themselves are built by [`crate::views`] with `serde_json::json!`; the types
//! here describe those shapes for the OpenAPI document (`/api/v1/openapi.json`). Every object
//! is closed (`additionalProperties: false`) and lists every member it always carries as
//! required, so a view that gains, loses or retypes a member no longer validates: the
//! integration tests and the schemathesis run in `.ci/run` check real answers against them.
//! Request bodies and query strings are described by the handlers' own input types.

use crate::{
    auth::users::Role,
    domain::{
        location::{Allocation, AllocationStrategy, LocationKind},
        money::Money,
        order::{OrderStatus, PaymentStatus},
        product::ProductStatus,
        stock::StockCause,
        store::StoreKind,
    },
};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::{ToResponse, ToSchema};

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `ok` (liveness) or `ready` (readiness).
    #[schema(example = "ok")]
    pub status: String,
}

/// A store.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// `str_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Retail or restaurant.
    pub kind: StoreKind,
    /// ISO 4217 code of every price in the store.
    pub currency: String,
    /// Whether it takes orders.
    pub open: bool,
    /// How holds pick the store's locations.
    pub allocation: AllocationStrategy,
    /// RFC 3339 UTC with milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A stock location of a store (docs/API.md §13).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// `loc_…`
    pub id: String,
    /// `str_…`
    pub store_id: String,
    /// Display name.
    pub name: String,
    /// Warehouse, shop or kitchen.
    pub kind: LocationKind,
    /// Lower numbers give units first under the `priority` strategy.
    pub priority: i64,
    /// The store's first location (cannot be deactivated).
    pub default: bool,
    /// An inactive location gives no units to new holds.
    pub active: bool,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A place in a product's waitlist.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitlistEntry {
    /// `wl_…`
    pub id: String,
    /// `prod_…`
    pub product_id: String,
    /// Units wanted.
    pub quantity: i64,
    /// 1-based place among those waiting; null once served or left.
    #[schema(required = true)]
    pub position: Option<u64>,
    /// `waiting`, `served` or `left`.
    pub status: String,
    /// The cart holding their units once served.
    #[schema(required = true)]
    pub cart_id: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Waitlist entries.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitlistList {
    /// The entries.
    pub items: Vec<WaitlistEntry>,
}

/// A store's locations, oldest first.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationList {
    /// Every location.
    pub items: Vec<Location>,
}

/// The stock of one location.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationStock {
    /// `loc_…`
    pub location_id: String,
    /// Units there.
    pub on_hand: i64,
    /// Units there promised to holds.
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
}

/// Stock numbers of a product.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stock {
    /// Units in the building.
    pub on_hand: i64,
    /// Units promised to active holds.
    pub reserved: i64,
    /// `on_hand - reserved`, never negative.
    pub available: i64,
    /// The product's event sequence.
    pub version: u64,
}

/// A product with its stock.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// `prod_…`
    pub id: String,
    /// `str_…`
    pub store_id: String,
    /// Unique per store, case-insensitively.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Category slug.
    #[schema(required = true)]
    pub category: Option<String>,
    /// Brand.
    #[schema(required = true)]
    pub brand: Option<String>,
    /// Unit price.
    pub price: Money,
    /// `price` converted for `?currency=` (only then).
    pub display_price: Option<DisplayMoney>,
    /// Free string attributes (`color`, `size`, …).
    pub attributes: BTreeMap<String, String>,
    /// Image addresses.
    pub image_urls: Vec<String>,
    /// `active` or `archived`.
    pub status: ProductStatus,
    /// `stock.low` fires when `available` drops below this.
    pub low_stock_threshold: i64,
    /// Stock as of the last durable change.
    pub stock: Stock,
    /// The review aggregate.
    pub rating: Rating,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// An amount converted for display (`?currency=`, docs/API.md §14); charges stay in the
/// store's currency.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisplayMoney {
    /// Minor units of `currency`, rounded half to even to its ISO 4217 exponent.
    pub amount: i64,
    /// The requested ISO 4217 code.
    pub currency: String,
    /// Units of `currency` per unit of the store's currency (a decimal string).
    #[schema(example = "0.92")]
    pub rate: String,
    /// When the rate was set (RFC 3339).
    #[schema(format = DateTime)]
    pub rate_at: String,
}

/// A store's figures over a span (docs/API.md §14).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Insights {
    /// The store's currency (every money figure is in it).
    pub currency: String,
    /// The span's start (RFC 3339).
    #[schema(format = DateTime)]
    pub from: String,
    /// The span's exclusive end (RFC 3339).
    #[schema(format = DateTime)]
    pub to: String,
    /// One entry per period overlapping the span, empty ones with zeros.
    pub series: Vec<InsightsPeriod>,
    /// The whole span.
    pub totals: InsightsFigures,
    /// Best sellers of the span by revenue (at most 10).
    pub top_products: Vec<TopProduct>,
    /// Views → cart adds → checkouts → confirmed orders.
    pub funnel: Funnel,
}

/// The figures of a span.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightsFigures {
    /// Orders confirmed.
    pub orders: i64,
    /// Totals of the orders confirmed.
    pub revenue: Money,
    /// Money refunded (cancellations, returns, refunds).
    pub refunds: Money,
    /// `revenue − refunds`.
    pub net_revenue: Money,
    /// `revenue / orders`, rounded; 0 without orders.
    pub average_order_value: Money,
    /// Customers whose first confirmed order in the store falls in the span.
    pub new_customers: i64,
    /// Orders cancelled.
    pub cancelled: i64,
}

/// One period of the series.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightsPeriod {
    /// The period's start (UTC midnight; weeks start on Monday).
    #[schema(format = DateTime)]
    pub period_start: String,
    /// Orders confirmed.
    pub orders: i64,
    /// Totals of the orders confirmed.
    pub revenue: Money,
    /// Money refunded.
    pub refunds: Money,
    /// `revenue − refunds`.
    pub net_revenue: Money,
    /// `revenue / orders`, rounded; 0 without orders.
    pub average_order_value: Money,
    /// New customers.
    pub new_customers: i64,
    /// Orders cancelled.
    pub cancelled: i64,
}

/// A best seller.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopProduct {
    /// `prod_…`
    pub product_id: String,
    /// Its name now.
    pub name: String,
    /// Units in orders confirmed in the span.
    pub units: i64,
    /// Their revenue.
    pub revenue: Money,
}

/// The funnel of a span.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Funnel {
    /// `GET /products/{id}` reads of the store's products.
    pub product_views: u64,
    /// Cart lines that grew.
    pub cart_adds: u64,
    /// Orders placed.
    pub checkouts: i64,
    /// Orders confirmed.
    pub orders_confirmed: i64,
    /// `orders_confirmed / product_views`, from 0 to 1 (0 without views).
    #[schema(minimum = 0, maximum = 1)]
    pub conversion_rate: f64,
}

/// What a product import did (docs/API.md §14).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportOutcome {
    /// New SKUs (with `dry_run`: that would be created).
    pub created: u64,
    /// Existing SKUs (with `dry_run`: that would be updated).
    pub updated: u64,
}

/// The exchange rates (docs/API.md §14).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRates {
    /// The currency every rate is quoted against.
    #[schema(example = "USD")]
    pub base: String,
    /// ISO 4217 code → units per one `base` (decimal strings).
    pub rates: BTreeMap<String, String>,
    /// When they were set (RFC 3339); `null` before an admin set any.
    #[schema(required = true, format = DateTime)]
    pub updated_at: Option<String>,
}

/// A product's review aggregate.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rating {
    /// Mean stars with two decimals (`4.33`); `null` without reviews.
    #[schema(required = true, minimum = 1, maximum = 5)]
    pub average: Option<f64>,
    /// Number of reviews.
    pub count: u64,
}

/// A verified-purchase review.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// `rev_…`
    pub id: String,
    /// `prod_…`
    pub product_id: String,
    /// `usr_…` of the author.
    pub customer_id: String,
    /// The author's name when they wrote it.
    pub author_name: String,
    /// Whole stars, 1–5.
    #[schema(minimum = 1, maximum = 5)]
    pub rating: u8,
    /// ≤ 120 characters.
    #[schema(required = true)]
    pub title: Option<String>,
    /// ≤ 5000 characters.
    #[schema(required = true)]
    pub body: Option<String>,
    /// Always `true`: only customers who received the product can review it.
    pub verified_purchase: bool,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Sort orders of `GET /products/{id}/reviews`.
#[derive(Serialize, ToSchema)]
pub enum ReviewSort {
    /// Newest first (the default).
    #[serde(rename = "-created_at")]
    CreatedDesc,
    /// Most stars first.
    #[serde(rename = "-rating")]
    RatingDesc,
    /// Fewest stars first.
    #[serde(rename = "rating")]
    RatingAsc,
}

/// `GET /products/{id}/inventory`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// `prod_…`
    pub product_id: String,
    /// Units in the building.
    pub on_hand: i64,
    /// Units promised to active holds.
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
    /// The product's event sequence.
    pub version: u64,
    /// Low-stock threshold.
    pub low_stock_threshold: i64,
    /// Stock per location (the figures above are their sums).
    pub locations: Vec<LocationStock>,
}

/// `data` of a `stock.changed` event (docs/API.md §9).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockChanged {
    /// `prod_…`
    pub product_id: String,
    /// `str_…`
    pub store_id: String,
    /// Units in the building.
    pub on_hand: i64,
    /// Units promised to active holds.
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
    /// The product's event sequence after this change.
    pub version: u64,
    /// Why the levels changed.
    pub cause: StockCause,
}

/// `data` of a `stock.low` event: sent once when `available` drops below `threshold`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockLow {
    /// `prod_…`
    pub product_id: String,
    /// Units left to sell.
    pub available: i64,
    /// The product's low-stock threshold.
    pub threshold: i64,
}

/// `data` of an `order.status_changed` event.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusChanged {
    /// The status before.
    pub from: OrderStatus,
    /// The status now.
    pub to: OrderStatus,
    /// The order as of this change.
    pub order: Order,
}

/// The kind of an inventory movement.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// A manual change (or the initial stock).
    Adjustment,
    /// Held units sold.
    Sale,
    /// Sold units came back.
    Cancellation,
    /// Returned units were received back into stock (a return's restock).
    Return,
    /// Units moved between two locations.
    Transfer,
}

/// One change of `on_hand`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Movement {
    /// `mov_…`
    pub id: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// What kind.
    pub kind: MovementKind,
    /// Signed change of `on_hand`.
    pub delta: i64,
    /// `on_hand` right after.
    pub on_hand_after: i64,
    /// The adjustment reason (`initial`, `restock`, …), null for sales and cancellations.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// The adjustment's note.
    #[schema(required = true)]
    pub note: Option<String>,
    /// The order or reservation id.
    #[serde(rename = "ref")]
    #[schema(required = true)]
    pub reference: Option<String>,
    /// A user id, `admin` or `system`.
    pub by: String,
    /// The location whose units changed (null for movements recorded before locations,
    /// which were all at the default location).
    #[schema(required = true)]
    pub location_id: Option<String>,
}

/// Sort orders of `GET /products`.
#[derive(Serialize, ToSchema)]
pub enum ProductSort {
    /// Cheapest first.
    #[serde(rename = "price")]
    Price,
    /// Dearest first.
    #[serde(rename = "-price")]
    PriceDesc,
    /// By name, case-insensitively.
    #[serde(rename = "name")]
    Name,
    /// Newest first (the default without `q`).
    #[serde(rename = "-created_at")]
    CreatedDesc,
}

/// A reservation's status as of now.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Holding.
    Active,
    /// Sold.
    Committed,
    /// Given back.
    Released,
    /// Lapsed.
    Expired,
}

/// One product of a reservation.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationItem {
    /// `prod_…`
    pub product_id: String,
    /// Units held.
    pub quantity: i64,
    /// Where they are held, per location.
    pub allocations: Vec<Allocation>,
}

/// A stock hold across products.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    /// `res_…`
    pub id: String,
    /// As of now.
    pub status: ReservationStatus,
    /// What is held.
    pub items: Vec<ReservationItem>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The client's reference text.
    #[serde(rename = "ref")]
    #[schema(required = true)]
    pub client_ref: Option<String>,
}

/// A line of a cart or an order.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// `prod_…`
    pub product_id: String,
    /// The product's SKU when the line was added.
    pub sku: String,
    /// The product's name when the line was added.
    pub name: String,
    /// Units.
    pub quantity: i64,
    /// The price when the line was first added.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
    /// Where the units come from: a cart's active hold, an order's sale (empty before
    /// the sale, and for orders placed before locations).
    pub allocations: Vec<Allocation>,
}

/// The hold a cart keeps on its units.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartHold {
    /// `res_…`
    pub reservation_id: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// A cart.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cart {
    /// `cart_…`
    pub id: String,
    /// The store of its products; null while empty.
    #[schema(required = true)]
    pub store_id: Option<String>,
    /// The owning customer, null for anonymous carts.
    #[schema(required = true)]
    pub customer_id: Option<String>,
    /// Lines.
    pub items: Vec<Line>,
    /// Null while empty.
    #[schema(required = true)]
    pub subtotal: Option<Money>,
    /// `subtotal` converted for `?currency=` (only then, and only when not null).
    pub display_subtotal: Option<DisplayMoney>,
    /// Units across lines.
    pub item_count: i64,
    /// Null when nothing is held (empty cart or lapsed hold).
    #[schema(required = true)]
    pub hold: Option<CartHold>,
    /// RFC 3339: the cart is deleted after this.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// An order's payment.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// Settled or not.
    pub status: PaymentStatus,
    /// Always `card`.
    pub method: String,
    /// The provider's transaction.
    #[schema(required = true)]
    pub transaction_id: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Why it failed.
    #[schema(required = true)]
    pub decline_code: Option<String>,
    /// Money given back so far (all of it once `refunded`).
    pub refunded: Money,
    /// Refunds, oldest first (docs/API.md §13).
    pub refunds: Vec<RefundView>,
}

/// A refund of an order's payment.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Refund)]
pub struct RefundView {
    /// `rfn_…`
    pub id: String,
    /// How much.
    pub amount: Money,
    /// `return`, or the staff member's words.
    pub reason: String,
    /// `pending` until the provider answered, then `succeeded`.
    #[schema(example = "succeeded")]
    pub status: String,
    /// The provider's refund transaction (`rfd_…`), null while pending.
    #[schema(required = true)]
    pub transaction_id: Option<String>,
    /// A user id or `admin`.
    pub by: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
}

/// Units of one product in a fulfilment.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilledItem {
    /// `prod_…`
    pub product_id: String,
    /// Units.
    pub quantity: i64,
}

/// One step of a shipment.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentEvent {
    /// The status entered.
    pub status: crate::domain::fulfillment::ShipmentStatus,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// The carrier's words.
    #[schema(required = true)]
    pub note: Option<String>,
}

/// A fulfilment: a shipment of some of an order's items.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fulfillment {
    /// `ful_…`
    pub id: String,
    /// `ord_…`
    pub order_id: String,
    /// What it carries.
    pub items: Vec<FulfilledItem>,
    /// The latest event's status.
    pub status: crate::domain::fulfillment::ShipmentStatus,
    /// The carrier.
    #[schema(required = true)]
    pub carrier: Option<String>,
    /// Its tracking number.
    #[schema(required = true)]
    pub tracking_number: Option<String>,
    /// Where to follow it.
    #[schema(required = true)]
    pub tracking_url: Option<String>,
    /// Every step, oldest first.
    pub events: Vec<ShipmentEvent>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Units of one product asked back.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnItem {
    /// `prod_…`
    pub product_id: String,
    /// Units.
    pub quantity: i64,
    /// Why.
    pub reason: crate::domain::returns::ReturnReason,
}

/// Units of one product that came back.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedItem {
    /// `prod_…`
    pub product_id: String,
    /// Units that arrived (all refunded).
    pub received: i64,
    /// Of those, units not restocked.
    pub damaged: i64,
}

/// A return of delivered units.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Return {
    /// `ret_…`
    pub id: String,
    /// `ord_…`
    pub order_id: String,
    /// `str_…`
    pub store_id: String,
    /// The order's customer.
    #[schema(required = true)]
    pub customer_id: Option<String>,
    /// `requested`, `approved`, `rejected`, `receiving` (a receipt under way) or `refunded`.
    pub status: crate::domain::returns::ReturnStatus,
    /// What is asked back.
    pub items: Vec<ReturnItem>,
    /// The customer's words.
    #[schema(required = true)]
    pub note: Option<String>,
    /// What arrived (empty until received).
    pub received: Vec<ReceivedItem>,
    /// Where undamaged units went back.
    #[schema(required = true)]
    pub location_id: Option<String>,
    /// The refund of the received units (`rfn_…`), once received.
    #[schema(required = true)]
    pub refund_id: Option<String>,
    /// Its amount.
    #[schema(required = true)]
    pub refund_amount: Option<Money>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// `metrics.updated` and the `store:{id}:metrics` snapshot (docs/API.md §14).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreMetrics {
    /// `str_…`
    pub store_id: String,
    /// Orders confirmed since UTC midnight.
    pub orders_today: i64,
    /// Their totals.
    pub revenue_today: Money,
    /// Orders not in a terminal status.
    pub open_orders: u64,
    /// Carts of the store holding stock now.
    pub active_carts: u64,
    /// Live connections following the store's topic (its storefront pages).
    pub viewers_now: u64,
    /// Active products below their low-stock threshold.
    pub low_stock: u64,
}

/// `order.stuck`: an order waits too long (docs/API.md §13, the watchdog).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderStuck {
    /// `ord_…`
    pub order_id: String,
    /// `pending_too_long` or `not_started`.
    #[schema(example = "not_started")]
    pub reason: String,
    /// RFC 3339: since when it waits (placed, or confirmed).
    #[schema(format = DateTime)]
    pub since: String,
    /// The order now.
    pub order: Order,
}

/// One status an order entered.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// The status entered.
    pub status: OrderStatus,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// A user id, `admin` or `system`.
    pub by: String,
    /// The caller's reason (a cancellation's `reason`), else `null`.
    pub reason: Option<String>,
}

/// An order.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// `ord_…`
    pub id: String,
    /// `EM-000123`.
    pub number: String,
    /// `str_…`
    pub store_id: String,
    /// The customer (null when an admin ordered without a cart of a customer).
    #[schema(required = true)]
    pub customer_id: Option<String>,
    /// Lifecycle status.
    pub status: OrderStatus,
    /// What was bought.
    pub items: Vec<Line>,
    /// Sum of the lines.
    pub subtotal: Money,
    /// What is charged.
    pub total: Money,
    /// `subtotal` converted for `?currency=` (only then).
    pub display_subtotal: Option<DisplayMoney>,
    /// `total` converted for `?currency=` (only then); the charge stays `total`.
    pub display_total: Option<DisplayMoney>,
    /// Payment state.
    pub payment: Payment,
    /// Free-form address fields.
    #[schema(required = true)]
    pub shipping_address: Option<BTreeMap<String, String>>,
    /// Customer note.
    #[schema(required = true)]
    pub note: Option<String>,
    /// Every status entered, oldest first.
    pub history: Vec<HistoryEntry>,
    /// `delivery`, `pickup` or `dine_in`.
    pub fulfillment_type: crate::domain::fulfillment::FulfillmentType,
    /// A dine-in order's table.
    #[schema(required = true)]
    pub table: Option<String>,
    /// RFC 3339: when the kitchen expects it ready (set with `prep_minutes`).
    #[schema(required = true, format = DateTime)]
    pub estimated_ready_at: Option<String>,
    /// Shipments, oldest first.
    pub fulfillments: Vec<Fulfillment>,
    /// `unfulfilled`, `partially_fulfilled` or `fulfilled`.
    #[schema(example = "unfulfilled")]
    pub fulfillment_status: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A ledger entry of the payment provider.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// `txn_…` or `rfd_…`
    pub transaction_id: String,
    /// The order charged or refunded.
    pub order_id: String,
    /// `charge` or `refund`.
    pub kind: String,
    /// How much.
    pub amount: Money,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
}

/// An account.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// `usr_…`
    pub id: String,
    /// As registered.
    pub email: String,
    /// Display name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The store of a staff member; null otherwise.
    #[schema(required = true)]
    pub store_id: Option<String>,
    /// Whether the user followed the verification link of their `welcome` email.
    pub email_verified: bool,
    /// A disabled user cannot log in, and their tokens and connections are refused.
    pub disabled: bool,
}

/// A logged-in session (register, login, refresh).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The account.
    pub user: User,
    /// HS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// `rt_…`, single use.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

macro_rules! page {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// This page's items.
            pub items: Vec<$item>,
            /// From 1.
            pub page: u64,
            /// 1–100.
            pub per_page: u64,
            /// Items across all pages.
            pub total: u64,
        }
    };
}

page!(StorePage, Store, "A page of stores.");
page!(ProductPage, Product, "A page of products.");
page!(MovementPage, Movement, "A page of inventory movements.");
page!(ReviewPage, Review, "A page of a product's reviews.");
page!(OrderPage, Order, "A page of orders.");
page!(UserPage, User, "A page of accounts.");
page!(ReturnPage, Return, "A page of returns.");
page!(
    LedgerPage,
    LedgerEntry,
    "A page of ledger entries, oldest first."
);

/// Which recommendation (`GET /products/{id}/recommendations`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    /// Products of the same store bought in the same confirmed orders, most often first.
    AlsoBought,
    /// Products of the same store sharing category, brand, attributes and words.
    Similar,
}

/// `GET /products/{id}/recommendations`: in-stock products first; never the product itself
/// nor archived products.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recommendations {
    /// The kind asked for (default `similar`).
    pub kind: RecommendationKind,
    /// At most `limit` products, best first.
    pub items: Vec<Product>,
}

/// A product that is short of stock.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Shortage {
    /// `prod_…`
    pub product_id: String,
    /// Units asked for.
    pub requested: i64,
    /// Units available when the request was decided.
    pub available: i64,
}

/// One invalid field.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldError {
    /// Dotted path (`items[0].quantity`, `price.amount`), or a CSV column.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// CSV imports: the line of the file (the header is line 1).
    pub line: Option<u64>,
}

/// An error: `application/problem+json` (RFC 9457) with the contract's `code` and the
/// extension members of that code (docs/API.md §2).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// The HTTP status.
    pub status: u16,
    /// Machine-readable code (`not_found`, `insufficient_stock`, …).
    #[schema(example = "not_found")]
    pub code: String,
    /// Short summary of the code.
    pub title: String,
    /// What went wrong in this request.
    pub detail: String,
    /// `insufficient_stock`: every shortage.
    pub shortages: Option<Vec<Shortage>>,
    /// `invalid_transition`: the current state; `no_exchange_rate`: the store's currency.
    pub from: Option<String>,
    /// `invalid_transition`: the requested state; `no_exchange_rate`: the requested currency.
    pub to: Option<String>,
    /// `invalid_transition`: states reachable from `from`.
    pub allowed: Option<Vec<String>>,
    /// `reservation_inactive`: the reservation's status.
    pub reservation_status: Option<String>,
    /// `payment_failed`: the order, which exists in `payment_failed`.
    pub order_id: Option<String>,
    /// `payment_failed`: why.
    pub decline_code: Option<String>,
    /// `payment_failed`: the order object.
    pub order: Option<Order>,
    /// `version_mismatch`: the version now.
    pub current_version: Option<u64>,
    /// `validation_failed`: every invalid field.
    pub errors: Option<Vec<FieldError>>,
}

/// Declares one reusable problem+json response per status.
macro_rules! problem_response {
    ($($name:ident => $doc:literal),* $(,)?) => {
        $(
            #[doc = $doc]
            #[derive(ToResponse)]
            #[response(content_type = "application/problem+json")]
            pub struct $name(pub Problem);
        )*
    };
}

problem_response! {
    BadRequest => "`invalid_json`: the body is not JSON, or not a JSON object; `invalid_body`: a malformed multipart body.",
    Unauthorized => "`unauthorized` (missing, malformed, tampered or expired token) or `invalid_credentials`.",
    PaymentFailed => "`payment_failed`: the charge was declined or the provider stayed down; the order exists.",
    Forbidden => "`forbidden`: the resource is visible, the action is not allowed for this caller; `not_purchased`: only customers who received the product can review it.",
    NotFound => "`not_found`: no such resource, or not visible to this caller.",
    Conflict => "A state conflict: `insufficient_stock`, `invalid_transition`, `reservation_inactive`, `store_closed`, `store_mismatch`, `product_unavailable`, `sku_taken`, `email_taken`, `version_mismatch` or `already_reviewed`.",
    PayloadTooLarge => "`payload_too_large`: the body is over `http.max_body_bytes` (image uploads: `media.max_upload_bytes`).",
    UnsupportedMediaType => "`unsupported_media_type`: the body is not `application/json`, or an upload is not a PNG, JPEG, WebP or GIF image by its bytes.",
    Unprocessable => "`validation_failed` (with `errors`), `idempotency_key_reused` or `no_exchange_rate`.",
    RateLimited => "`rate_limited`: too many attempts; see `Retry-After`.",
    UpgradeRequired => "`upgrade_required`: a plain HTTP request to the WebSocket endpoint.",
    Unavailable => "`unavailable`: recovering, shutting down or storage failing; see `Retry-After`.",
    UriTooLong => "`uri_too_long`: the request line (path and query) is over 64 KiB; the connection closes.",
    HeadersTooLarge => "`headers_too_large`: the request head is too large; the connection closes.",
}

/// An email notification (docs/API.md §12).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// `ntf_…`
    pub id: String,
    /// Always `email`.
    #[schema(example = "email")]
    pub channel: String,
    /// `welcome`, `password_reset`, `order_confirmation`, `payment_failed`, `order_status`,
    /// `order_cancelled`, `return_update`, `review_request`, `low_stock`, `webhook_disabled`.
    pub template: String,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// `queued`, `sent`, `failed`, `suppressed` or `recorded`.
    pub status: String,
    /// SMTP attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// What it is about (an order, product or user id).
    #[serde(rename = "ref")]
    #[schema(required = true)]
    pub reference: Option<String>,
    /// When it was made.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the SMTP server accepted it.
    #[schema(format = DateTime, required = true)]
    pub sent_at: Option<String>,
}

/// A notification with its bodies (the fields are spelled out rather than flattened: a
/// flattened closed object would refuse `text` and `html` to a strict validator).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationDetail {
    /// `ntf_…`
    pub id: String,
    /// Always `email`.
    pub channel: String,
    /// See [`Notification`].
    pub template: String,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// `queued`, `sent`, `failed`, `suppressed` or `recorded`.
    pub status: String,
    /// SMTP attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// What it is about (an order, product or user id).
    #[serde(rename = "ref")]
    #[schema(required = true)]
    pub reference: Option<String>,
    /// When it was made.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the SMTP server accepted it.
    #[schema(format = DateTime, required = true)]
    pub sent_at: Option<String>,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

page!(
    NotificationPage,
    Notification,
    "A page of notifications, newest first."
);

/// Which optional emails the user gets.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationPreferences {
    /// `payment_failed`, `order_status`, `return_update`.
    pub order_updates: bool,
    /// `review_request`.
    pub review_requests: bool,
    /// `low_stock` (staff).
    pub low_stock: bool,
}

/// One Server-Sent Event of a `text/event-stream` answer, as a client's parser hands it over
/// (docs/API.md §9): `id` is `<epoch>:<seq>` (send it back as `Last-Event-ID` to resume),
/// `event` the type (`snapshot`, `reset` or the event's), `data` the frame as JSON text.
/// Keep-alive comments are not events.
#[derive(Serialize, ToSchema)]
pub struct SseEvent {
    /// `<epoch>:<seq>`.
    pub id: Option<String>,
    /// The event type.
    pub event: Option<String>,
    /// The frame, JSON text.
    pub data: String,
    /// A reconnection delay in ms, when the server sets one.
    pub retry: Option<u64>,
}
