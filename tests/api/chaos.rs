//! Proof under faults (issue 5): the real binary under mixed load is killed with SIGKILL at
//! random moments and restarted on the same data dir; after every restart an invariant checker
//! compares the server with every write the load acknowledged. A second test stops the server
//! with SIGTERM under load: it exits 0 within 10 s and loses nothing acknowledged.
//!
//! `CHAOS_SEED=<n>` replays a run's random choices (the seed is printed).

use crate::helpers::*;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{sync::RwLock, task::JoinHandle};
use tokio_tungstenite::tungstenite::Message;

const CRASHES: usize = 10;
const INITIAL_STOCK: i64 = 100_000;
/// Units the scarce hold product starts with: the load sells it out within a crash window or
/// two, and the restocks of the adjustment task refill it, so `available ≥ 0` is tested at 0.
const SCARCE_STOCK: i64 = 20;
/// `ws.replay_buffer` (its default): a resume from within this many events must replay.
const REPLAY_BUFFER: u64 = 1024;
/// Longest hold the load takes; holds last 1–2 s.
const MAX_HOLD_TTL: Duration = Duration::from_secs(2);
/// How long the load may take to reach its per-crash minimum before the test gives up.
const MINIMUM_WAIT: Duration = Duration::from_secs(30);
const SERVER_ENV: &[(&str, &str)] = &[("EMPORIUM_PAYMENTS__BACKOFF_MS", "10")];

/// How far a write got: never sent, sent without a 2xx answer, acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Attempt {
    #[default]
    None,
    Tried,
    Acked,
}

#[derive(Clone, Debug)]
struct Hold {
    product: String,
    quantity: i64,
    commit: Attempt,
    release: Attempt,
}

#[derive(Clone, Debug)]
struct OrderAck {
    product: String,
    quantity: i64,
    /// What `POST /orders` answered: `confirmed` (201), `pending` (202) or
    /// `payment_failed` (402).
    created: String,
    cancel: Attempt,
}

/// One adjustment the load sent (found again by its unique note).
#[derive(Clone, Debug)]
struct Adjustment {
    delta: i64,
    acked: bool,
}

/// Acknowledged writes by kind, and the scarce product's sell-outs and restocks: the load
/// must reach a minimum of each between two crashes (a server refusing everything fails).
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    holds: usize,
    commits: usize,
    releases: usize,
    adjustments: usize,
    orders: usize,
    declined: usize,
    cancels: usize,
    /// Holds of the scarce product refused with `insufficient_stock`.
    sold_out: usize,
    /// Acknowledged restocks of the scarce product.
    restocks: usize,
}

impl Counts {
    /// The least the load acknowledges of each kind between two crashes.
    fn per_crash() -> Self {
        Self {
            holds: 10,
            commits: 3,
            releases: 2,
            adjustments: 10,
            orders: 4,
            declined: 1,
            cancels: 1,
            sold_out: 0,
            restocks: 0,
        }
    }

    fn fields(&self) -> [(&'static str, usize); 9] {
        [
            ("holds", self.holds),
            ("commits", self.commits),
            ("releases", self.releases),
            ("adjustments", self.adjustments),
            ("orders", self.orders),
            ("declined orders", self.declined),
            ("cancels", self.cancels),
            ("scarce sell-outs", self.sold_out),
            ("scarce restocks", self.restocks),
        ]
    }

    /// The kinds of which fewer than `minimum` were acknowledged since `before`.
    fn short_of(&self, before: &Counts, minimum: &Counts) -> Vec<String> {
        self.fields()
            .into_iter()
            .zip(before.fields())
            .zip(minimum.fields())
            .filter(|(((_, now), (_, then)), (_, least))| now - then < *least)
            .map(|(((name, now), (_, then)), (_, least))| {
                format!("{name}: {} of {least}", now - then)
            })
            .collect()
    }
}

/// Every write the load tasks had acknowledged (a 2xx received), plus the ones they tried.
#[derive(Clone, Default)]
struct Acked {
    writes: usize,
    counts: Counts,
    /// product → note → adjustment, for every adjustment sent.
    adjustments: HashMap<String, HashMap<String, Adjustment>>,
    holds: HashMap<String, Hold>,
    orders: HashMap<String, OrderAck>,
}

/// The fixture the load works on.
#[derive(Clone)]
struct World {
    /// Products only reservations (holds, commits) touch; the last one is scarce.
    hold_products: Vec<String>,
    /// Products only orders touch.
    order_products: Vec<String>,
    store: String,
    customers: Vec<String>,
}

impl World {
    fn products(&self) -> impl Iterator<Item = &String> {
        self.hold_products.iter().chain(&self.order_products)
    }

    /// The product that sells out and is restocked during the run.
    fn scarce(&self) -> &String {
        self.hold_products.last().expect("scarce product")
    }

    fn initial_stock(&self, product: &str) -> i64 {
        if product == self.scarce() {
            SCARCE_STOCK
        } else {
            INITIAL_STOCK
        }
    }
}

/// What the load tasks share: the current server address (a write lock pauses the load), a
/// stop flag and the record of acknowledged writes.
#[derive(Clone)]
struct Shared {
    gate: Arc<RwLock<SocketAddr>>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    client: reqwest::Client,
    world: World,
}

/// Sends a request; `None` when no answer arrived (refused, reset, timed out).
async fn try_send(request: reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// How a write ended: acknowledged, or not answered / answered 5xx (the server may or may not
/// have done it: a crash or a restart). A 4xx is a refusal the load does not expect, so it
/// fails the test right there: a server refusing every write must not pass as "unavailable".
fn acked_or_tried(answer: &Option<(u16, Value)>, what: &str) -> Attempt {
    match answer {
        Some((200..=299, _)) => Attempt::Acked,
        Some((status @ 400..=499, body)) => panic!("unexpected refusal of {what}: {status} {body}"),
        _ => Attempt::Tried,
    }
}

async fn start_server(dir: PathBuf) -> ServerProcess {
    tokio::task::spawn_blocking(move || ServerProcess::start(&dir, SERVER_ENV))
        .await
        .expect("server starts")
}

/// Creates the store, products and customers.
async fn setup(client: &reqwest::Client, addr: SocketAddr) -> World {
    let store = create_store(client, addr).await;
    let mut products = Vec::new();
    for _ in 0..4 {
        products.push(create_product(client, addr, &store, INITIAL_STOCK).await);
    }
    let scarce = create_product(client, addr, &store, SCARCE_STOCK).await;
    let mut customers = Vec::new();
    for _ in 0..3 {
        let email = format!("chaos-{}@example.com", rand_suffix());
        let (status, session) = send(
            client
                .post(format!("http://{addr}/api/v1/auth/register"))
                .json(&json!({"email": email, "password": USER_PASSWORD, "name": "Chaos"})),
        )
        .await;
        assert_eq!(status, 201, "{session}");
        customers.push(access_token(&session));
    }
    let order_products = products.split_off(2);
    products.push(scarce);
    World {
        hold_products: products,
        order_products,
        store,
        customers,
    }
}

/// Holds of 1–2 s on the hold products (half of them on the scarce one): about half are
/// committed, some released, the rest left to expire. Only the scarce product may refuse a
/// hold (`insufficient_stock`); any other 4xx fails the test.
async fn hold_task(shared: Shared, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !shared.stop.load(Ordering::Relaxed) {
        let guard = shared.gate.read().await;
        let addr = *guard;
        let world = &shared.world;
        let scarce = rng.random_bool(0.5);
        let product = if scarce {
            world.scarce().clone()
        } else {
            world.hold_products[rng.random_range(0..world.hold_products.len() - 1)].clone()
        };
        let quantity = rng.random_range(1..=3);
        let ttl = rng.random_range(1..=2);
        let sent = Instant::now();
        let answer = try_send(
            shared
                .client
                .post(format!("http://{addr}/api/v1/reservations"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({
                    "items": [{"product_id": product, "quantity": quantity}], "ttl_seconds": ttl
                })),
        )
        .await;
        let body = match answer {
            Some((201, body)) => body,
            Some((409, body)) if scarce && body["code"] == "insufficient_stock" => {
                shared.acked.lock().unwrap().counts.sold_out += 1;
                drop(guard);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Some((status @ 400..=499, body)) => {
                panic!("unexpected refusal of a hold of {quantity} × {product}: {status} {body}")
            }
            _ => {
                drop(guard);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let id = id_of(&body);
        {
            let mut acked = shared.acked.lock().unwrap();
            acked.writes += 1;
            acked.counts.holds += 1;
            acked.holds.insert(
                id.clone(),
                Hold {
                    product,
                    quantity,
                    commit: Attempt::None,
                    release: Attempt::None,
                },
            );
        }
        let action = match rng.random_range(0..10) {
            0..=4 => "commit",
            5..=6 => "release",
            _ => continue,
        };
        let answer = try_send(
            shared
                .client
                .post(format!("http://{addr}/api/v1/reservations/{id}/{action}"))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await;
        // A hold may lapse before a slow commit arrives; only then is it inactive.
        let lapsed = sent.elapsed() + Duration::from_millis(300) >= Duration::from_secs(ttl);
        let outcome = match &answer {
            Some((409, body)) if lapsed && body["code"] == "reservation_inactive" => Attempt::Tried,
            _ => acked_or_tried(&answer, &format!("{action} of {id}")),
        };
        let mut acked = shared.acked.lock().unwrap();
        if outcome == Attempt::Acked {
            acked.writes += 1;
            if action == "commit" {
                acked.counts.commits += 1;
            } else {
                acked.counts.releases += 1;
            }
        }
        let hold = acked.holds.get_mut(&id).expect("recorded");
        if action == "commit" {
            hold.commit = outcome;
        } else {
            hold.release = outcome;
        }
    }
}

/// Orders of registered customers with `tok_visa`, `tok_flaky` and `tok_chargeDeclined`;
/// some of the paid ones are cancelled.
async fn order_task(shared: Shared, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !shared.stop.load(Ordering::Relaxed) {
        let guard = shared.gate.read().await;
        let addr = *guard;
        let world = &shared.world;
        let product = world.order_products[rng.random_range(0..2)].clone();
        let token = world.customers[rng.random_range(0..world.customers.len())].clone();
        let card = match rng.random_range(0..10) {
            0..=3 => "tok_visa",
            4..=7 => "tok_flaky",
            _ => "tok_chargeDeclined",
        };
        let quantity = rng.random_range(1..=2);
        let answer = try_send(
            shared
                .client
                .post(format!("http://{addr}/api/v1/orders"))
                .bearer_auth(&token)
                .json(&json!({
                    "store_id": world.store,
                    "items": [{"product_id": product, "quantity": quantity}],
                    "payment": {"method": "card", "token": card}
                })),
        )
        .await;
        let (status, order) = match answer {
            Some((status @ (201 | 202), order)) => (status, order),
            Some((402, problem))
                if card == "tok_chargeDeclined" && problem["code"] == "payment_failed" =>
            {
                (402, problem["order"].clone())
            }
            Some((status @ 400..=499, body)) => {
                panic!("unexpected refusal of an order with {card}: {status} {body}")
            }
            _ => {
                drop(guard);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let id = id_of(&order);
        let created = order["status"].as_str().expect("status").to_owned();
        let expected = match (status, card) {
            (402, _) => "payment_failed",
            (_, "tok_chargeDeclined") => panic!("a declined card was accepted: {order}"),
            (201, _) => "confirmed",
            _ => "pending",
        };
        assert_eq!(created, expected, "{order}");
        {
            let mut acked = shared.acked.lock().unwrap();
            acked.writes += 1;
            acked.counts.orders += 1;
            acked.counts.declined += usize::from(status == 402);
            acked.orders.insert(
                id.clone(),
                OrderAck {
                    product,
                    quantity,
                    created: created.clone(),
                    cancel: Attempt::None,
                },
            );
        }
        if created != "payment_failed" && rng.random_range(0..10) < 3 {
            let answer = try_send(
                shared
                    .client
                    .post(format!("http://{addr}/api/v1/orders/{id}/cancel"))
                    .bearer_auth(&token)
                    .json(&json!({"reason": "chaos"})),
            )
            .await;
            let outcome = acked_or_tried(&answer, &format!("the cancel of {created} {id}"));
            let mut acked = shared.acked.lock().unwrap();
            if outcome == Attempt::Acked {
                acked.writes += 1;
                acked.counts.cancels += 1;
            }
            acked.orders.get_mut(&id).expect("recorded").cancel = outcome;
        }
    }
}

/// Small stock adjustments on the plentiful products and, one time in sixteen, a restock of
/// the scarce one (slower than it sells, so it keeps selling out); each with a unique note
/// to find it again. None may be refused.
async fn adjust_task(shared: Shared, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let guard = shared.gate.read().await;
        let addr = *guard;
        let world = &shared.world;
        let plentiful: Vec<&String> = world.products().filter(|p| *p != world.scarce()).collect();
        let restock = rng.random_range(0..16) == 0;
        let (product, delta, reason) = if restock {
            (world.scarce().clone(), rng.random_range(5..=10), "restock")
        } else {
            let mut delta = rng.random_range(-3..=5);
            if delta == 0 {
                delta = 1;
            }
            let product = plentiful[rng.random_range(0..plentiful.len())].clone();
            (product, delta, "correction")
        };
        n += 1;
        let note = format!("chaos-{seed}-{n}");
        shared
            .acked
            .lock()
            .unwrap()
            .adjustments
            .entry(product.clone())
            .or_default()
            .insert(
                note.clone(),
                Adjustment {
                    delta,
                    acked: false,
                },
            );
        let answer = try_send(
            shared
                .client
                .post(format!(
                    "http://{addr}/api/v1/products/{product}/inventory/adjustments"
                ))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"delta": delta, "reason": reason, "note": note})),
        )
        .await;
        drop(guard);
        if acked_or_tried(
            &answer,
            &format!("adjustment {note} ({delta:+}) of {product}"),
        ) == Attempt::Acked
        {
            {
                let mut acked = shared.acked.lock().unwrap();
                acked.writes += 1;
                acked.counts.adjustments += 1;
                acked.counts.restocks += usize::from(restock);
                if let Some(adjustment) = acked
                    .adjustments
                    .get_mut(&product)
                    .and_then(|a| a.get_mut(&note))
                {
                    adjustment.acked = true;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The last `(epoch, seq)` a subscriber saw on a topic.
type Cursor = Arc<Mutex<Option<(String, u64)>>>;

/// Subscribes to `product:{id}` and follows it until the connection dies, asserting that
/// `seq` rises by exactly one per event; the last position seen is kept in `cursor`.
async fn subscriber(addr: SocketAddr, product: String, cursor: Cursor) {
    let mut ws = Ws::connect(&format!("ws://{addr}/api/v1/ws")).await;
    let reply = ws.subscribe(&format!("product:{product}")).await;
    let epoch = reply["epoch"].as_str().expect("epoch").to_owned();
    let mut seq = reply["seq"].as_u64().expect("seq");
    *cursor.lock().unwrap() = Some((epoch.clone(), seq));
    while let Some(Ok(frame)) = ws.stream.next().await {
        let Message::Text(text) = frame else { continue };
        let frame: Value = serde_json::from_str(&text).expect("json frame");
        assert_eq!(frame["type"], "event", "{frame}");
        seq += 1;
        assert_eq!(
            frame["seq"], seq,
            "gap or duplicate on product:{product}: {frame}"
        );
        *cursor.lock().unwrap() = Some((epoch.clone(), seq));
    }
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    let (status, body) = send(client.get(url).bearer_auth(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Every item of a paginated admin list.
async fn all_pages(client: &reqwest::Client, url: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let sep = if url.contains('?') { '&' } else { '?' };
        let body = get_json(client, format!("{url}{sep}per_page=100&page={page}")).await;
        let batch = body["items"].as_array().expect("items").clone();
        let total = body["total"].as_u64().expect("total") as usize;
        let empty = batch.is_empty();
        items.extend(batch);
        if empty || items.len() >= total {
            assert_eq!(items.len(), total, "{url}: pages add up to total");
            break;
        }
    }
    items
}

/// Every entry of the payments ledger, read page by page.
async fn payment_entries(client: &reqwest::Client, addr: SocketAddr) -> Vec<Value> {
    all_pages(client, &format!("http://{addr}/api/v1/admin/payments")).await
}

/// The invariant checker; the load is paused while it runs. Returns the number of checks.
struct Checker<'a> {
    client: &'a reqwest::Client,
    addr: SocketAddr,
    world: &'a World,
    checks: usize,
}

impl Checker<'_> {
    fn ok(&mut self, condition: bool, what: impl FnOnce() -> String) {
        assert!(condition, "invariant violated: {}", what());
        self.checks += 1;
    }

    /// Everything but holds and WebSocket resume.
    async fn check_state(&mut self, acked: &Acked) {
        let addr = self.addr;
        // Orders before the ledger: a payment finishing meanwhile only adds charges.
        let orders = all_pages(self.client, &format!("http://{addr}/api/v1/orders")).await;
        // Ledger: every charge and refund per order.
        let ledger = payment_entries(self.client, addr).await;
        let mut charges: HashMap<String, usize> = HashMap::new();
        let mut refunds: HashMap<String, usize> = HashMap::new();
        for entry in &ledger {
            let order = entry["order_id"].as_str().expect("order_id").to_owned();
            match entry["kind"].as_str() {
                Some("charge") => *charges.entry(order).or_default() += 1,
                Some("refund") => *refunds.entry(order).or_default() += 1,
                other => panic!("ledger kind {other:?}"),
            }
        }
        let charged = |id: &str| charges.get(id).copied().unwrap_or(0);
        let refunded = |id: &str| refunds.get(id).copied().unwrap_or(0);

        // Every order the server knows (acknowledged or not): never charged twice. What its
        // stock must show follows from its record: a sale once it was confirmed, its units
        // back once cancelled after that, nothing for a failed payment.
        let mut statuses = HashMap::new();
        // reference → (product, units): sales that must be there / may be there.
        let mut must_sell: HashMap<String, (String, i64)> = HashMap::new();
        let mut may_sell: HashMap<String, (String, i64)> = HashMap::new();
        let mut must_return: HashMap<String, (String, i64)> = HashMap::new();
        let mut may_return: HashMap<String, (String, i64)> = HashMap::new();
        for order in &orders {
            let id = id_of(order);
            let status = order["status"].as_str().expect("status").to_owned();
            let (c, r) = (charged(&id), refunded(&id));
            self.ok(c <= 1 && r <= c, || {
                format!("{id} charged {c}×, refunded {r}×")
            });
            let cancel_tried = acked
                .orders
                .get(&id)
                .is_some_and(|o| o.cancel == Attempt::Tried);
            let was_confirmed = order["history"]
                .as_array()
                .expect("history")
                .iter()
                .any(|h| h["status"] == "confirmed");
            let line = (
                order["items"][0]["product_id"]
                    .as_str()
                    .expect("product_id")
                    .to_owned(),
                order["items"][0]["quantity"].as_i64().expect("quantity"),
            );
            match status.as_str() {
                "confirmed" => {
                    // A cancel cut short by the crash may have refunded already; the client
                    // repeats it (every step is idempotent) to finish it.
                    self.ok(c == 1 && (r == 0 || cancel_tried), || {
                        format!(
                            "confirmed {id}: charged {c}×, refunded {r}×: {order} (acknowledged: {:?})",
                            acked.orders.get(&id)
                        )
                    });
                    must_sell.insert(id.clone(), line.clone());
                    if cancel_tried {
                        may_return.insert(id.clone(), line);
                    }
                }
                "cancelled" => {
                    self.ok(r == c, || {
                        format!("cancelled {id}: charged {c}×, refunded {r}×")
                    });
                    if was_confirmed {
                        must_sell.insert(id.clone(), line.clone());
                        must_return.insert(id.clone(), line);
                    }
                }
                "payment_failed" => self.ok(c == 0 && r == 0, || {
                    format!("payment_failed {id}: charged {c}×, refunded {r}×")
                }),
                other => self.ok(false, || format!("{id} is {other} after recovery: {order}")),
            }
            statuses.insert(id, status);
        }

        // Every acknowledged order is there, in a state its history allows.
        for (id, ack) in &acked.orders {
            let order = get_json(self.client, format!("http://{addr}/api/v1/orders/{id}")).await;
            let status = order["status"].as_str().expect("status");
            self.ok(statuses.get(id).map(String::as_str) == Some(status), || {
                format!("acknowledged order {id} ({status}) missing from the list")
            });
            let allowed: &[&str] = match (ack.created.as_str(), ack.cancel) {
                ("payment_failed", _) => &["payment_failed"],
                (_, Attempt::Acked) => &["cancelled"],
                ("confirmed", Attempt::None) => &["confirmed"],
                ("confirmed", Attempt::Tried) => &["confirmed", "cancelled"],
                ("pending", Attempt::None) => &["pending", "confirmed"],
                _ => &["pending", "confirmed", "cancelled"],
            };
            self.ok(allowed.contains(&status), || {
                format!("acknowledged {ack:?} of {id} is now {status}")
            });
            self.ok(
                order["items"][0]["product_id"] == ack.product.as_str()
                    && order["items"][0]["quantity"] == ack.quantity,
                || format!("{id} lost its item: {order}"),
            );
        }

        // Holds: an acknowledged commit must have sold, a tried one may have.
        for (id, hold) in &acked.holds {
            let line = (hold.product.clone(), hold.quantity);
            match hold.commit {
                Attempt::Acked => must_sell.insert(id.clone(), line),
                Attempt::Tried => may_sell.insert(id.clone(), line),
                Attempt::None => None,
            };
        }

        // Products: stock numbers and the movement log agree with what the load did.
        let mut sold = HashSet::new();
        let mut returned = HashSet::new();
        for product in self.world.products() {
            let initial = self.world.initial_stock(product);
            let inventory = inventory_at(self.client, addr, product).await;
            let on_hand = inventory["on_hand"].as_i64().expect("on_hand");
            let reserved = inventory["reserved"].as_i64().expect("reserved");
            let available = inventory["available"].as_i64().expect("available");
            self.ok(available >= 0 && reserved >= 0, || {
                format!("negative stock: {inventory}")
            });
            self.ok(available == on_hand - reserved, || {
                format!("available ≠ on_hand − reserved: {inventory}")
            });
            let mut movements = all_pages(
                self.client,
                &format!("http://{addr}/api/v1/products/{product}/inventory/movements"),
            )
            .await;
            movements.reverse(); // oldest first
            let first = &movements[0];
            self.ok(
                first["kind"] == "adjustment"
                    && first["reason"] == "initial"
                    && first["delta"] == initial,
                || format!("first movement of {product} is not the initial stock: {first}"),
            );
            let sent = acked.adjustments.get(product);
            // Units by what the load sent and the order records, not by the movements' deltas.
            let (mut adjusted, mut sales, mut returns, mut running) = (0, 0, 0, 0);
            let mut found = HashSet::new();
            for movement in &movements {
                let delta = movement["delta"].as_i64().expect("delta");
                running += delta;
                self.ok(movement["on_hand_after"] == running, || {
                    format!("{product}: on_hand_after breaks the running sum: {movement}")
                });
                let reference = movement["ref"].as_str().unwrap_or_default().to_owned();
                match movement["kind"].as_str().expect("kind") {
                    "adjustment" if movement["reason"] == "initial" => {}
                    "adjustment" => {
                        let note = movement["note"].as_str().unwrap_or_default();
                        let ours = sent.and_then(|s| s.get(note));
                        self.ok(ours.is_some_and(|a| a.delta == delta), || {
                            format!("{product}: an adjustment the load did not send: {movement}")
                        });
                        self.ok(found.insert(note.to_owned()), || {
                            format!("{product}: adjustment {note} applied twice")
                        });
                        adjusted += ours.map_or(0, |a| a.delta);
                    }
                    "sale" => {
                        let line = must_sell.get(&reference).or(may_sell.get(&reference));
                        self.ok(line.is_some_and(|(p, q)| p == product && delta == -q), || {
                            format!(
                                "{product}: a sale of nothing committed or confirmed: {movement} (expected {line:?})"
                            )
                        });
                        self.ok(sold.insert(reference.clone()), || {
                            format!("{reference} sold twice: {movement}")
                        });
                        sales += line.map_or(0, |(_, q)| *q);
                    }
                    "cancellation" => {
                        let line = must_return.get(&reference).or(may_return.get(&reference));
                        self.ok(line.is_some_and(|(p, q)| p == product && delta == *q), || {
                            format!(
                                "{product}: a return of nothing cancelled: {movement} (expected {line:?})"
                            )
                        });
                        self.ok(returned.insert(reference.clone()), || {
                            format!("{reference} returned twice: {movement}")
                        });
                        returns += line.map_or(0, |(_, q)| *q);
                    }
                    kind => panic!("movement kind {kind}"),
                }
            }
            self.ok(running == on_hand, || {
                format!("{product}: movements sum to {running}, on_hand is {on_hand}")
            });
            self.ok(on_hand == initial + adjusted - sales + returns, || {
                format!(
                    "{product}: on_hand {on_hand} ≠ {initial} + {adjusted} adjusted − {sales} sold + {returns} returned"
                )
            });
            for (note, adjustment) in sent.into_iter().flatten() {
                if adjustment.acked {
                    self.ok(found.contains(note), || {
                        format!(
                            "acknowledged adjustment {note} ({adjustment:?}) of {product} is lost"
                        )
                    });
                }
            }
            // Sold at least what was acknowledged, never more than there ever was.
            let least: i64 = must_sell
                .values()
                .filter(|(p, _)| p == product)
                .map(|(_, q)| q)
                .sum();
            self.ok(sales >= least && sales <= initial + adjusted + returns, || {
                format!(
                    "{product}: sold {sales}, acknowledged {least}, stocked {initial} + {adjusted} + {returns}"
                )
            });
        }

        // One sale per acknowledged commit and confirmed order, one return per order cancelled
        // after it was paid.
        for (reference, line) in &must_sell {
            self.ok(sold.contains(reference), || {
                format!(
                    "{reference} ({line:?}) was committed or confirmed but has no sale movement"
                )
            });
        }
        for (reference, line) in &must_return {
            self.ok(returned.contains(reference), || {
                format!("cancelled {reference} ({line:?}) returned no stock")
            });
        }
    }

    /// Holds: at `deadline` (every hold's expiry + 1 s, and at least 1 s after `/readyz`) no
    /// hold product has anything reserved, and every acknowledged hold is in a state its
    /// history allows.
    async fn check_holds(&mut self, acked: &Acked, deadline: Instant) {
        tokio::time::sleep_until(deadline.into()).await;
        for product in &self.world.hold_products {
            let inventory = inventory_at(self.client, self.addr, product).await;
            self.ok(inventory["reserved"] == 0, || {
                format!("a hold outlived its expiry by over 1 s: {inventory}")
            });
        }
        for (id, hold) in &acked.holds {
            let body = get_json(
                self.client,
                format!("http://{}/api/v1/reservations/{id}", self.addr),
            )
            .await;
            let status = body["status"].as_str().expect("status");
            let allowed: &[&str] = match (hold.commit, hold.release) {
                (Attempt::Acked, _) => &["committed"],
                (_, Attempt::Acked) => &["released"],
                (Attempt::Tried, _) => &["committed", "expired"],
                (_, Attempt::Tried) => &["released", "expired"],
                _ => &["expired"],
            };
            self.ok(allowed.contains(&status), || {
                format!("reservation {id} ({hold:?}) is {status}")
            });
            self.ok(
                body["items"][0]["quantity"] == hold.quantity
                    && body["items"][0]["product_id"] == hold.product.as_str(),
                || format!("reservation {id} changed: {body}"),
            );
        }
    }

    /// Orders cut short by the crash do not stay `pending`: recovery finishes their payment.
    /// (Their stock may stay held until the hold's own expiry: a crash between taking an
    /// order's hold and recording the order leaves a hold no order owns, which lapses at its
    /// TTL like any other hold.)
    async fn check_orders_settle(&mut self) {
        let url = format!("http://{}/api/v1/orders?status=pending", self.addr);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pending = all_pages(self.client, &url).await;
            if pending.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "invariant violated: orders still pending 10 s after /readyz: {}",
                Value::Array(pending)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.checks += 1;
    }

    /// Resuming a topic from the last position a subscriber saw before the crash gives the
    /// missed events in order or a reset, never a silent gap.
    async fn check_resume(&mut self, product: &str, cursor: &Cursor) {
        let Some((epoch, since)) = cursor.lock().unwrap().clone() else {
            return;
        };
        let version = inventory_at(self.client, self.addr, product).await["version"]
            .as_u64()
            .expect("version");
        self.ok(since <= version, || {
            format!("product:{product} published seq {since} but only {version} is durable")
        });
        let mut ws = Ws::connect(&format!("ws://{}/api/v1/ws", self.addr)).await;
        let reply = ws
            .subscribe_since(&format!("product:{product}"), &epoch, since)
            .await;
        // Holds lapsing after the restart still publish, so the topic may move on meanwhile.
        let mut seq = if reply["reset"] == true {
            let seq = reply["seq"].as_u64().expect("seq");
            self.ok(seq >= version, || {
                format!("reset behind {version}: {reply}")
            });
            // The missed events are stored: a reset is only for a gap beyond the buffer.
            self.ok(seq - since > REPLAY_BUFFER, || {
                format!("reset although {since} is within the replay buffer of {seq}: {reply}")
            });
            seq
        } else {
            let replayed = reply["replayed"].as_u64().expect("replayed or reset");
            self.ok(since + replayed >= version, || {
                format!("resume from {since} replays {replayed}, version is {version}")
            });
            since
        };
        // Every event up to a pong continues the sequence by exactly one.
        ws.send_json(json!({"op": "ping", "ref": "resume-check"}))
            .await;
        loop {
            let frame = ws.next_json().await;
            if frame["type"] == "pong" {
                break;
            }
            seq += 1;
            self.ok(frame["type"] == "event" && frame["seq"] == seq, || {
                format!("expected event {seq} after resuming from {since}: {frame}")
            });
        }
        self.ok(seq >= version, || {
            format!("resume from {since} ended at {seq}, version is {version}")
        });
        self.checks += 1;
    }
}

/// Waits until the load acknowledged at least [`Counts::per_crash`] of every kind since
/// `before`; fails when a load task stopped (an unexpected refusal) or the minimum takes
/// longer than [`MINIMUM_WAIT`].
async fn wait_for_minimum(shared: &Shared, load: &[JoinHandle<()>], before: &Counts, crash: usize) {
    let deadline = Instant::now() + MINIMUM_WAIT;
    loop {
        assert!(
            load.iter().all(|task| !task.is_finished()),
            "a load task stopped before crash {crash} (see its panic above)"
        );
        let short = shared
            .acked
            .lock()
            .unwrap()
            .counts
            .short_of(before, &Counts::per_crash());
        if short.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "before crash {crash} the server acknowledged too little: {short:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the load tasks and one subscriber per hold product and order product.
fn start_load(shared: &Shared, seed: u64) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(hold_task(shared.clone(), seed)),
        tokio::spawn(hold_task(shared.clone(), seed + 1)),
        tokio::spawn(order_task(shared.clone(), seed + 2)),
        tokio::spawn(adjust_task(shared.clone(), seed + 3)),
    ]
}

fn start_subscribers(addr: SocketAddr, world: &World, cursors: &[Cursor]) -> Vec<JoinHandle<()>> {
    [world.scarce(), &world.order_products[0]]
        .into_iter()
        .zip(cursors)
        .map(|(product, cursor)| tokio::spawn(subscriber(addr, product.clone(), cursor.clone())))
        .collect()
}

fn seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kill_9_under_load_keeps_every_invariant() {
    let started = Instant::now();
    let seed = seed();
    eprintln!("chaos: seed {seed} (CHAOS_SEED={seed} replays the choices)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let client = client();
    let mut server = start_server(dir.path().to_path_buf()).await;
    wait_ready(&client, server.addr).await;
    let world = setup(&client, server.addr).await;
    let shared = Shared {
        gate: Arc::new(RwLock::new(server.addr)),
        stop: Arc::new(AtomicBool::new(false)),
        acked: Arc::default(),
        client: client.clone(),
        world: world.clone(),
    };
    let load = start_load(&shared, seed);
    let cursors: Vec<Cursor> = vec![Arc::default(), Arc::default()];
    let mut checks = 0;
    let mut subscribers = start_subscribers(server.addr, &world, &cursors);
    let mut before = Counts::default();
    for crash in 1..=CRASHES {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1300))).await;
        wait_for_minimum(&shared, &load, &before, crash).await;
        let crashed_at = Instant::now();
        tokio::task::spawn_blocking(move || server.kill_9())
            .await
            .expect("kill -9");
        // Pause the load: in-flight requests fail, then nobody writes until the check is done.
        let mut gate = shared.gate.write().await;
        for subscriber in subscribers.drain(..) {
            subscriber
                .await
                .expect("subscriber saw no gap before the crash");
        }
        server = start_server(dir.path().to_path_buf()).await;
        wait_ready(&client, server.addr).await;
        let ready_at = Instant::now();
        *gate = server.addr;
        let acked = shared.acked.lock().unwrap().clone();
        let mut checker = Checker {
            client: &client,
            addr: server.addr,
            world: &world,
            checks: 0,
        };
        for (product, cursor) in [world.scarce(), &world.order_products[0]]
            .into_iter()
            .zip(&cursors)
        {
            checker.check_resume(product, cursor).await;
        }
        checker.check_orders_settle().await;
        checker.check_state(&acked).await;
        let deadline = (crashed_at + MAX_HOLD_TTL + Duration::from_millis(100)).max(ready_at)
            + Duration::from_secs(1);
        checker.check_holds(&acked, deadline).await;
        checks += checker.checks;
        eprintln!(
            "chaos: crash {crash} survived: {} acknowledged writes so far ({:?}), {} checks",
            acked.writes, acked.counts, checker.checks
        );
        subscribers = start_subscribers(server.addr, &world, &cursors);
        before = shared.acked.lock().unwrap().counts;
        drop(gate);
    }
    // Over the run the scarce product sold out (holds refused) and was restocked.
    let total = shared.acked.lock().unwrap().counts;
    assert!(
        total.sold_out > 0 && total.restocks > 0,
        "the scarce product never sold out and restocked: {total:?}"
    );
    shared.stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    let writes = shared.acked.lock().unwrap().writes;
    println!(
        "chaos: {CRASHES} crashes, {writes} acknowledged writes, all invariants held ({checks} checks) in {:.1?}",
        started.elapsed()
    );
    drop(subscribers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_nothing_acknowledged_and_exits_0_within_10_s() {
    let seed = seed();
    eprintln!("shutdown: seed {seed}");
    let dir = tempfile::tempdir().expect("temp dir");
    let client = client();
    let mut server = start_server(dir.path().to_path_buf()).await;
    wait_ready(&client, server.addr).await;
    let world = setup(&client, server.addr).await;
    let shared = Shared {
        gate: Arc::new(RwLock::new(server.addr)),
        stop: Arc::new(AtomicBool::new(false)),
        acked: Arc::default(),
        client: client.clone(),
        world: world.clone(),
    };
    let load = start_load(&shared, seed);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // SIGTERM while the load keeps writing.
    let pid = server.child.id().to_string();
    let stopping = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("try_wait") {
            break exit;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = stopping.elapsed();
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
    let mut gate = shared.gate.write().await;
    shared.stop.store(true, Ordering::Relaxed);
    let stopped_at = Instant::now();

    server = start_server(dir.path().to_path_buf()).await;
    wait_ready(&client, server.addr).await;
    let ready_at = Instant::now();
    *gate = server.addr;
    drop(gate);
    for task in load {
        task.await.expect("load task");
    }
    let acked = shared.acked.lock().unwrap().clone();
    assert!(acked.writes > 0, "the load wrote nothing");
    let mut checker = Checker {
        client: &client,
        addr: server.addr,
        world: &world,
        checks: 0,
    };
    checker.check_orders_settle().await;
    checker.check_state(&acked).await;
    let deadline = (stopped_at + MAX_HOLD_TTL).max(ready_at) + Duration::from_secs(1);
    checker.check_holds(&acked, deadline).await;
    println!(
        "shutdown: exit 0 after SIGTERM in {took:.1?}, {} acknowledged writes intact ({} checks)",
        acked.writes, checker.checks
    );
}
