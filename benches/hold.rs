//! Cost of a stock hold, from the pure decision to the durable actor round trip.
//!
//! - `ledger/*`: `Ledger::hold` (decide) and `Ledger::apply` (mutate), no I/O.
//! - `actor_hold_durable/*`: `ProductRegistry::call` with `ProductMsg::Hold` on a real `App`
//!   over a temp sled directory: decide, apply, journal write, group-commit fsync, reply. One
//!   call at a time and 64 in flight (time reported per hold: wall time / holds), on products
//!   with few live holds (`fresh_product/{1,64}`) and on one with 20,000+ live holds.
//!
//! Run: `cargo bench --bench hold` (under a minute on two cores).

mod common;

use criterion::{BenchmarkId, Criterion, Throughput};
use emporium::{
    actors::product::ProductMsg,
    app::App,
    config::Config,
    domain::{
        ids::{ProductId, ReservationId},
        money::Money,
        product::NewProduct,
        stock::{AdjustmentReason, Ledger, MAX_UNITS},
        store::StoreKind,
        time::now_ms,
    },
};
use futures_util::future::join_all;
use std::{
    collections::BTreeMap,
    hint::black_box,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Holds applied to one fresh copy of the ledger before it is replaced (keeps the ledger's
/// size fixed while measuring).
const CHUNK: usize = 256;
/// Calls in flight in the concurrent actor benchmarks.
const CONCURRENCY: u64 = 64;
/// Holds per product in the `fresh_product` benchmarks before a new product is taken.
const ROTATE: u64 = 2048;
/// Live holds on the product of the `*_live_holds` benchmark before measuring starts.
const LIVE_HOLDS: u64 = 20_000;
/// Hold lifetime: long enough that nothing expires during the run.
const TTL_MS: i64 = 600_000;

/// A ledger with plenty of stock and `holds` live holds.
fn ledger_with(holds: usize) -> Ledger {
    let product = ProductId::generate();
    let mut ledger = Ledger::default();
    let initial = ledger
        .adjust(
            &product,
            MAX_UNITS,
            AdjustmentReason::Initial,
            None,
            "bench".into(),
            None,
            None,
        )
        .expect("initial stock");
    for change in &initial {
        ledger.apply(change, 0);
    }
    let expires_at = now_ms() + TTL_MS;
    for _ in 0..holds {
        let changes = ledger
            .hold(&product, &ReservationId::generate(), 1, expires_at)
            .expect("hold");
        for change in &changes {
            ledger.apply(change, 0);
        }
    }
    ledger
}

fn ledger_benches(c: &mut Criterion) {
    let product = ProductId::generate();
    let expires_at = now_ms() + TTL_MS;
    let ids: Vec<ReservationId> = (0..CHUNK).map(|_| ReservationId::generate()).collect();
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(1));
    for existing in [0usize, 10_000] {
        let base = ledger_with(existing);
        // The decision alone: nothing is applied, so the ledger never changes.
        group.bench_with_input(
            BenchmarkId::new("hold_decide", existing),
            &base,
            |b, base| {
                let reservation = &ids[0];
                b.iter(|| {
                    black_box(base.hold(&product, black_box(reservation), 1, expires_at))
                        .expect("hold")
                });
            },
        );
        // Decide and apply, as the actor does. The ledger is replaced (untimed) every CHUNK
        // holds, so it always has between `existing` and `existing + CHUNK` holds.
        group.bench_with_input(
            BenchmarkId::new("hold_and_apply", existing),
            &base,
            |b, base| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters as usize;
                    while left > 0 {
                        let n = left.min(CHUNK);
                        let mut ledger = base.clone();
                        let started = Instant::now();
                        for reservation in &ids[..n] {
                            let changes = ledger
                                .hold(&product, reservation, 1, expires_at)
                                .expect("hold");
                            for change in &changes {
                                black_box(ledger.apply(change, 0));
                            }
                        }
                        total += started.elapsed();
                        black_box(&ledger);
                        left -= n;
                    }
                    total
                });
            },
        );
    }
    group.finish();
}

/// An assembled, recovered server on a temp dir, with a product holding `MAX_UNITS` units.
struct Fixture {
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        admin_token: Some("adm_bench".into()),
        ..Config::default()
    };
    let app = App::open(config).expect("open app");
    app.recover().await.expect("recover");
    Fixture { app, _dir: dir }
}

async fn new_product(app: &App, sku: &str) -> ProductId {
    let store = app
        .catalog
        .create_store("Bench store".into(), StoreKind::Retail, "USD".into())
        .await
        .expect("create store");
    let product = app
        .catalog
        .create_product(
            NewProduct {
                store_id: store.id,
                sku: sku.into(),
                name: "Bench product".into(),
                description: None,
                category: None,
                brand: None,
                price: Money {
                    amount: 100,
                    currency: "USD".into(),
                },
                attributes: BTreeMap::new(),
                image_urls: Vec::new(),
                initial_stock: MAX_UNITS,
                low_stock_threshold: 0,
            },
            "admin",
        )
        .await
        .expect("create product");
    product.catalog.id.clone()
}

async fn hold_one(app: &App, id: &ProductId) {
    let expires_at = now_ms() + TTL_MS;
    app.products
        .call(id, |reply| ProductMsg::Hold {
            reservation: ReservationId::generate(),
            quantity: 1,
            expires_at,
            record: None,
            reply,
        })
        .await
        .expect("durable hold");
}

/// The actor benchmarks' shared state: the app, every product they created, and how many
/// holds were acknowledged (for the oversell check at the end).
struct Ctx {
    app: Arc<App>,
    products: Mutex<Vec<ProductId>>,
    held: AtomicU64,
}

impl Ctx {
    async fn product(&self) -> ProductId {
        let sku = format!("BENCH-{}", self.products.lock().expect("lock").len());
        let id = new_product(&self.app, &sku).await;
        self.products.lock().expect("lock").push(id.clone());
        id
    }

    /// `count` holds on `id`, `concurrency` in flight at a time; returns the time taken,
    /// scaled to exactly `count` holds (the last round may run a few more).
    async fn holds(&self, id: &ProductId, count: u64, concurrency: u64) -> Duration {
        let rounds = count.div_ceil(concurrency);
        let started = Instant::now();
        for _ in 0..rounds {
            if concurrency == 1 {
                hold_one(&self.app, id).await;
            } else {
                join_all((0..concurrency).map(|_| hold_one(&self.app, id))).await;
            }
        }
        let elapsed = started.elapsed();
        let done = rounds * concurrency;
        self.held.fetch_add(done, Ordering::Relaxed);
        elapsed.mul_f64(count as f64 / done as f64)
    }

    /// `count` holds spread over fresh products, ROTATE holds each (product creation is not
    /// timed), so every hold lands on a product with fewer than ROTATE live holds.
    async fn holds_on_fresh_products(&self, count: u64, concurrency: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = count;
        while left > 0 {
            let n = left.min(ROTATE);
            let id = self.product().await;
            total += self.holds(&id, n, concurrency).await;
            left -= n;
        }
        total
    }
}

fn actor_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let fixture = rt.block_on(fixture());
    let ctx = Arc::new(Ctx {
        app: Arc::clone(&fixture.app),
        products: Mutex::new(Vec::new()),
        held: AtomicU64::new(0),
    });

    let mut group = c.benchmark_group("actor_hold_durable");
    group.throughput(Throughput::Elements(1));
    // One iteration is one hold; with 64 in flight the time is wall time / holds.
    for concurrency in [1, CONCURRENCY] {
        group.bench_function(BenchmarkId::new("fresh_product", concurrency), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let ctx = Arc::clone(&ctx);
                async move { ctx.holds_on_fresh_products(iters, concurrency).await }
            });
        });
    }
    // The same product throughout, which already holds LIVE_HOLDS holds when measuring
    // starts (and more by the end): shows how the cost of a hold grows with live holds.
    let busy = rt.block_on(async {
        let id = ctx.product().await;
        ctx.holds(&id, LIVE_HOLDS, CONCURRENCY).await;
        id
    });
    group.bench_function(
        BenchmarkId::new(format!("{LIVE_HOLDS}_live_holds"), CONCURRENCY),
        |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (ctx, id) = (Arc::clone(&ctx), busy.clone());
                async move { ctx.holds(&id, iters, CONCURRENCY).await }
            });
        },
    );
    group.finish();

    // No oversell and no lost hold: what the products report reserved is what was held.
    let products = ctx.products.lock().expect("lock").clone();
    let reserved: i64 = products
        .iter()
        .map(|id| {
            let view = ctx.app.shared.read_model.product(id).expect("product view");
            assert!(view.stock.available >= 0, "available went negative");
            view.stock.reserved
        })
        .sum();
    let held = ctx.held.load(Ordering::Relaxed);
    assert_eq!(
        reserved as u64, held,
        "reserved units differ from acknowledged holds"
    );
    eprintln!(
        "check: {held} durable holds acknowledged over {} products, {reserved} units reserved (match)",
        products.len()
    );
    drop(ctx);
    drop(fixture);
}

fn main() {
    let mut c = common::config();
    ledger_benches(&mut c);
    actor_benches(&mut c);
    c.final_summary();
}
