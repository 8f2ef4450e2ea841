//! `search`: P generated products in a server child process; the indexing rate of
//! `emporium reindex` on that data dir; then `/search` and `/search/suggest` latency and
//! throughput at C connections with a mix of exact, misspelt, prefix and multi-word queries;
//! and the same queries through the old substring scan of `GET /products?q=` (the code the
//! engine replaced, kept here over the same catalog in memory, so it pays no HTTP at all).

use crate::catalog_scale::in_parallel;
use crate::common::*;
use axum::http::Method;
use serde_json::json;
use std::{
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

const ADJECTIVES: &[&str] = &[
    "Basic",
    "Heavyweight",
    "Slim",
    "Classic",
    "Organic",
    "Waxed",
    "Packable",
    "Merino",
    "Vintage",
    "Everyday",
    "Premium",
    "Lightweight",
    "Relaxed",
    "Tailored",
    "Rugged",
    "Soft",
];
const MATERIALS: &[&str] = &[
    "Cotton", "Wool", "Linen", "Denim", "Canvas", "Leather", "Fleece", "Cashmere", "Nylon",
    "Corduroy", "Suede", "Silk",
];
const NOUNS: &[&str] = &[
    "T-Shirt",
    "Hoodie",
    "Sweatshirt",
    "Jeans",
    "Sneakers",
    "Jacket",
    "Scarf",
    "Belt",
    "Tote",
    "Cap",
    "Socks",
    "Shirt",
    "Chinos",
    "Cardigan",
    "Parka",
    "Beanie",
    "Blazer",
    "Shorts",
];
const COLORS: &[&str] = &[
    "Black", "White", "Navy", "Grey", "Olive", "Brown", "Blue", "Red", "Green", "Sand",
];
const BRANDS: &[&str] = &[
    "basics",
    "northfold",
    "saddler",
    "pacer",
    "indigo-works",
    "highland",
    "harbor",
    "summit",
];

/// The queries: exact words, one and two typos, prefixes (search as you type), joined words,
/// several words, and one that matches nothing.
const QUERIES: &[&str] = &[
    "hoodie",
    "hodie",
    "cotton",
    "coton tee",
    "sweatshirt",
    "swaetshrit",
    "black tshirt",
    "t shirt navy",
    "merino socks",
    "leather belt brown",
    "canv",
    "cashmer",
    "jacket",
    "denim jeans slim",
    "olive cap",
    "parka",
    "blazr",
    "xylophone",
];
const PREFIXES: &[&str] = &[
    "h", "ho", "hoo", "swe", "cot", "jea", "lea", "mer", "sn", "bla",
];

fn product_name(i: usize) -> String {
    format!(
        "{} {} {}, {}",
        ADJECTIVES[i % ADJECTIVES.len()],
        MATERIALS[(i / 7) % MATERIALS.len()],
        NOUNS[(i / 3) % NOUNS.len()],
        COLORS[(i / 11) % COLORS.len()],
    )
}

pub async fn run(products: usize, connections: usize, secs: f64, server: Option<PathBuf>) {
    let bin = server_bin(server);
    let dir = TempDir::new("search");
    let data = dir.0.join("data");
    let addr = free_addr();
    println!(
        "search: {products} products, {connections} connections, {secs} s per part, server {} (child)",
        bin.display()
    );
    let mut child = spawn_server(&bin, &data, addr, &[]);
    wait_ready(addr, Duration::from_secs(60), Some(&mut child.0)).await;
    let mut http = Http::connect(addr).await;
    let store = create_store(&mut http).await;
    let store_for = store.clone();
    let (create_secs, _) = in_parallel(
        addr,
        products,
        connections,
        "creating",
        Arc::new(move |i| {
            let name = product_name(i);
            (
                "/api/v1/products".to_owned(),
                json!({"store_id": store_for, "sku": format!("SKU-{i}"), "name": name,
                       "category": NOUNS[(i / 3) % NOUNS.len()].to_lowercase(),
                       "brand": BRANDS[i % BRANDS.len()],
                       "description": format!("{name} made of {} by {}.", MATERIALS[(i / 7) % MATERIALS.len()].to_lowercase(), BRANDS[i % BRANDS.len()]),
                       "attributes": {"color": COLORS[(i / 11) % COLORS.len()].to_lowercase()},
                       "price": {"amount": 500 + (i % 150) as i64 * 100, "currency": "USD"},
                       "initial_stock": (i % 5) as i64})
                .to_string(),
            )
        }),
    )
    .await;
    stop_server(&mut child.0).await;

    // Indexing: the whole catalog through `emporium reindex` (its log line has the rate).
    let started = Instant::now();
    let output = Command::new(&bin)
        .args(["reindex", "--data-dir"])
        .arg(&data)
        .env("EMPORIUM_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("EMPORIUM_LOG", "info")
        .output()
        .expect("run emporium reindex");
    let reindex_secs = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "reindex failed: {log} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let per_second = log
        .lines()
        .find(|l| l.contains("search index rebuilt"))
        .and_then(|l| l.split("per_second=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?")
        .to_owned();

    let mut child = spawn_server(&bin, &data, addr, &[]);
    wait_ready(addr, Duration::from_secs(120), Some(&mut child.0)).await;
    let search_paths: Vec<String> = QUERIES
        .iter()
        .map(|q| {
            format!(
                "/api/v1/search?store_id={store}&q={}&facets=category,brand,price",
                q.replace(' ', "%20")
            )
        })
        .collect();
    let suggest_paths: Vec<String> = PREFIXES
        .iter()
        .map(|q| format!("/api/v1/search/suggest?store_id={store}&q={q}"))
        .collect();
    let (search_qps, mut search_lat) =
        hammer(addr, connections, secs, search_paths, "search").await;
    let (suggest_qps, mut suggest_lat) =
        hammer(addr, connections, secs, suggest_paths, "suggest").await;
    stop_server(&mut child.0).await;

    // The old substring scan over the same catalog, in this process (no HTTP).
    let catalog: Arc<Vec<OldProduct>> = Arc::new((0..products).map(OldProduct::of).collect());
    let (scan_qps, mut scan_lat) = old_scan(catalog, connections, secs).await;

    table(
        &format!("search, {products} products, {connections} connections"),
        &["measure", "value"],
        &[
            vec![
                "creating over HTTP, products/s".into(),
                format!("{:.0}", products as f64 / create_secs),
            ],
            vec!["emporium reindex, products/s (its log)".into(), per_second],
            vec![
                "emporium reindex, whole command s".into(),
                format!("{reindex_secs:.1}"),
            ],
            vec!["/search queries/s".into(), format!("{search_qps:.0}")],
            vec![
                "/search p50 / p99 ms".into(),
                format!(
                    "{:.2} / {:.2}",
                    search_lat.pct_ms(50.0),
                    search_lat.pct_ms(99.0)
                ),
            ],
            vec![
                "/search/suggest queries/s".into(),
                format!("{suggest_qps:.0}"),
            ],
            vec![
                "/search/suggest p50 / p99 ms".into(),
                format!(
                    "{:.2} / {:.2}",
                    suggest_lat.pct_ms(50.0),
                    suggest_lat.pct_ms(99.0)
                ),
            ],
            vec![
                "old substring scan (in process), queries/s".into(),
                format!("{scan_qps:.0}"),
            ],
            vec![
                "old substring scan p50 / p99 ms".into(),
                format!(
                    "{:.2} / {:.2}",
                    scan_lat.pct_ms(50.0),
                    scan_lat.pct_ms(99.0)
                ),
            ],
        ],
    );
}

/// `connections` clients cycling through `paths` for `secs`: queries/s and latencies.
async fn hammer(
    addr: std::net::SocketAddr,
    connections: usize,
    secs: f64,
    paths: Vec<String>,
    label: &str,
) -> (f64, Latencies) {
    let paths = Arc::new(paths);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for c in 0..connections {
        let (paths, stop) = (Arc::clone(&paths), Arc::clone(&stop));
        tasks.spawn(async move {
            let mut http = Http::connect(addr).await;
            let mut latencies = Latencies::default();
            let mut i = c;
            while !stop.load(Relaxed) {
                let path = &paths[i % paths.len()];
                i += 1;
                let t = Instant::now();
                match http.call(Method::GET, path, None, None).await {
                    Ok((200, _)) => latencies.0.push(t.elapsed().as_micros() as u64),
                    Ok((s, v)) => panic!("{path}: {s} {v}"),
                    Err(e) => panic!("{path}: {e}"),
                }
            }
            latencies
        });
    }
    let started = Instant::now();
    progress(&format!("{label}: {secs} s"));
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Relaxed);
    let mut all = Latencies::default();
    while let Some(r) = tasks.join_next().await {
        all.merge(r.expect("client task"));
    }
    done_progress();
    let qps = all.0.len() as f64 / started.elapsed().as_secs_f64();
    (qps, all)
}

/// A product as the old scan saw it.
struct OldProduct {
    name: String,
    category: String,
    brand: String,
    description: String,
}

impl OldProduct {
    fn of(i: usize) -> Self {
        let name = product_name(i);
        Self {
            description: format!(
                "{name} made of {} by {}.",
                MATERIALS[(i / 7) % MATERIALS.len()].to_lowercase(),
                BRANDS[i % BRANDS.len()]
            ),
            category: NOUNS[(i / 3) % NOUNS.len()].to_lowercase(),
            brand: BRANDS[i % BRANDS.len()].to_owned(),
            name,
        }
    }
}

/// The replaced `GET /products?q=` ranking: every word a case-insensitive substring of some
/// field (lower-cased per product and query, as it did), then sorted by score.
fn old_relevance(p: &OldProduct, words: &[String]) -> Option<usize> {
    let fields = [
        (p.name.to_lowercase(), 4),
        (p.category.to_lowercase(), 2),
        (p.brand.to_lowercase(), 2),
        (p.description.to_lowercase(), 1),
    ];
    let mut score = 0;
    for word in words {
        let hit: usize = fields
            .iter()
            .filter(|(text, _)| text.contains(word.as_str()))
            .map(|(_, weight)| weight)
            .sum();
        if hit == 0 {
            return None;
        }
        score += hit;
    }
    Some(score)
}

async fn old_scan(
    catalog: Arc<Vec<OldProduct>>,
    connections: usize,
    secs: f64,
) -> (f64, Latencies) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for c in 0..connections {
        let (catalog, stop) = (Arc::clone(&catalog), Arc::clone(&stop));
        tasks.spawn_blocking(move || {
            let mut latencies = Latencies::default();
            let mut i = c;
            while !stop.load(Relaxed) {
                let q = QUERIES[i % QUERIES.len()];
                i += 1;
                let t = Instant::now();
                let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
                let mut hits: Vec<(usize, usize)> = catalog
                    .iter()
                    .enumerate()
                    .filter_map(|(n, p)| Some((old_relevance(p, &words)?, n)))
                    .collect();
                hits.sort_by(|a, b| b.cmp(a));
                std::hint::black_box(hits.len());
                latencies.0.push(t.elapsed().as_micros() as u64);
            }
            latencies
        });
    }
    let started = Instant::now();
    progress(&format!("old scan: {secs} s"));
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Relaxed);
    let mut all = Latencies::default();
    while let Some(r) = tasks.join_next().await {
        all.merge(r.expect("scan task"));
    }
    done_progress();
    (all.0.len() as f64 / started.elapsed().as_secs_f64(), all)
}
