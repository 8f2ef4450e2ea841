//! `emporium-load`: the load harness of BENCHMARKS.md.
//!
//! `cargo run --release --bin emporium-load -- <scenario> [options]`, scenarios:
//! - `flash-sale`: C connections hold 1 unit each of one hot product until it is gone; the
//!   same load against a no-op axum handler in the same process; ratio and oversell check.
//! - `fanout`: N WebSocket subscribers on one `product:` topic while stock changes at a rising
//!   rate, against a naive `tokio::sync::broadcast` WebSocket route with the same clients; then
//!   N `latest`-mode viewers of a product taking holds quickly (staleness). Both servers run as
//!   child processes (the `emporium` binary, and this binary's hidden `serve-baseline`), so
//!   each subscriber costs this process one descriptor and each server its own.
//! - `checkout`: C customers place 3-item `tok_visa` orders against a shared catalog; every
//!   order and ledger charge is verified afterwards.
//! - `catalog-scale`: P products in a server child process: RSS after creating, after
//!   touching each once, and the time from process start to `/readyz` on that data dir.
//!
//! Every server runs on 127.0.0.1 with a temporary data dir; all traffic is loopback and every
//! loop is bounded by a count or a deadline. Clients are hyper's HTTP/1 client (one
//! keep-alive connection per task) and tokio-tungstenite.

use axum::{
    Router,
    body::Body,
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message as AxMessage, Utf8Bytes},
    },
    http::{Method, Request, StatusCode},
    response::Response,
    routing::{get, post},
};
use clap::{Parser, Subcommand};
use emporium::config::Config;
use futures_util::{SinkExt, StreamExt};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::{net::TcpStream, sync::broadcast, task::JoinSet};
use tokio_tungstenite::tungstenite::Message;

/// mimalloc instead of glibc's allocator: the hot paths allocate small, short-lived buffers
/// on many threads, where glibc malloc/free took about a fifth of the CPU (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN_TOKEN: &str = "adm_loadharness";

/// `ws.latest_interval_ms` of the fanout server (passed to the child explicitly).
const LATEST_INTERVAL_MS: u64 = 100;

#[derive(Parser)]
#[command(about = "Load scenarios against a real emporium server (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Holds of one hot product until it is gone, vs a no-op handler.
    FlashSale {
        /// Concurrent connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Units of the hot product (one hold each).
        #[arg(long, default_value_t = 100_000)]
        stock: u64,
    },
    /// WebSocket fan-out to N subscribers at rising rates, vs a naive broadcast route.
    Fanout {
        /// Subscribers (capped by the open-file limit).
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        /// The server binary (default: `emporium` next to this one).
        #[arg(long)]
        server: Option<PathBuf>,
        /// Seconds per rate step.
        #[arg(long, default_value_t = 3.0)]
        step_secs: f64,
        /// First publish rate (events/s); each step doubles it.
        #[arg(long, default_value_t = 5.0)]
        start_rate: f64,
        /// Highest rate tried.
        #[arg(long, default_value_t = 2560.0)]
        max_rate: f64,
        /// Target holds/s of the `latest`-mode part.
        #[arg(long, default_value_t = 5000.0)]
        hold_rate: f64,
        /// Seconds of the `latest`-mode part.
        #[arg(long, default_value_t = 5.0)]
        latest_secs: f64,
    },
    /// Durable 3-item orders by C customers.
    Checkout {
        /// Concurrent customers.
        #[arg(long, default_value_t = 64)]
        customers: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Products in the shared catalog.
        #[arg(long, default_value_t = 100)]
        catalog: usize,
    },
    /// RSS and restart time with many products (server as a child process).
    CatalogScale {
        /// Products to create.
        #[arg(long, default_value_t = 1_000_000)]
        products: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// The server binary (default: `emporium` next to this one).
        #[arg(long)]
        server: Option<PathBuf>,
    },
    /// The fanout baseline server (a child process of `fanout`).
    #[command(hide = true)]
    ServeBaseline {
        /// Listen address.
        #[arg(long)]
        addr: SocketAddr,
        /// Capacity of the broadcast channel.
        #[arg(long, default_value_t = 4096)]
        capacity: usize,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        match cli.scenario {
            Scenario::FlashSale { connections, stock } => flash_sale(connections, stock).await,
            Scenario::Fanout {
                subscribers,
                server,
                step_secs,
                start_rate,
                max_rate,
                hold_rate,
                latest_secs,
            } => {
                fanout(
                    subscribers,
                    server,
                    step_secs,
                    start_rate,
                    max_rate,
                    hold_rate,
                    latest_secs,
                )
                .await
            }
            Scenario::Checkout {
                customers,
                secs,
                catalog,
            } => checkout(customers, secs, catalog).await,
            Scenario::CatalogScale {
                products,
                connections,
                server,
            } => catalog_scale(products, connections, server).await,
            Scenario::ServeBaseline { addr, capacity } => serve_baseline(addr, capacity).await,
        }
    });
}

// ------------------------------------------------------------------------------ plumbing

/// One keep-alive HTTP/1 connection.
struct Http {
    sender: SendRequest<Body>,
    host: String,
}

impl Http {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("http handshake");
        tokio::spawn(conn);
        Self {
            sender,
            host: addr.to_string(),
        }
    }

    /// Sends a request and reads the whole answer: status and body (JSON, or Null).
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Result<(u16, Value), String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body)),
            None => request.body(Body::empty()),
        }
        .map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(Body::new(response.into_body()), 64 << 20)
            .await
            .map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn admin(&mut self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self
            .call(
                method.clone(),
                path,
                Some(ADMIN_TOKEN),
                body.map(|b| b.to_string()),
            )
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(status < 300, "{method} {path}: {status} {value}");
        value
    }
}

/// Latencies (µs) with nearest-rank percentiles.
#[derive(Default)]
struct Latencies(Vec<u64>);

impl Latencies {
    fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }
    fn pct_ms(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1] as f64 / 1000.0
    }
}

/// A histogram of 1 ms buckets (0..10 s) shared by many client tasks.
struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: (0..10_001).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        }
    }
    fn record_ms(&self, ms: i64) {
        let i = ms.clamp(0, 10_000) as usize;
        self.buckets[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
    /// Takes (and zeroes) the counts: (count, p50 ms, p99 ms).
    fn take(&self) -> (u64, u64, u64) {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.swap(0, Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        self.count.store(0, Relaxed);
        let pct = |p: f64| {
            let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (ms, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return ms as u64;
                }
            }
            0
        };
        (total, pct(50.0), pct(99.0))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn progress(line: &str) {
    eprint!("\r\x1b[2K{line}");
    let _ = std::io::stderr().flush();
}

fn done_progress() {
    eprint!("\r\x1b[2K");
}

fn table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    println!("\n{title}");
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("| {} |", parts.join(" | "));
    };
    line(header.to_vec());
    let sep: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!(
        "|{}|",
        sep.iter()
            .map(|s| format!("-{s}-"))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// A server running in this process on 127.0.0.1:0 with a temp data dir.
struct InProcess {
    addr: SocketAddr,
    _dir: TempDir,
}

async fn start_server(tune: impl FnOnce(&mut Config)) -> InProcess {
    let dir = TempDir::new("inproc");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut config = Config {
        addr,
        data_dir: dir.0.join("data"),
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Config::default()
    };
    tune(&mut config);
    // The flash sale's baseline: a no-op handler on this same server, behind the same
    // middleware (guard, body limit, request id, metrics) as the real endpoints.
    let noop = Router::new().route("/noop", post(|| async { StatusCode::CREATED }));
    tokio::spawn(emporium::run_with_routes(
        config,
        listener,
        std::future::pending(),
        noop,
    ));
    wait_ready(addr, Duration::from_secs(60), None).await;
    InProcess { addr, _dir: dir }
}

/// Polls `GET /readyz` until it answers 200; with `child`, fails as soon as it exits.
async fn wait_ready(addr: SocketAddr, limit: Duration, mut child: Option<&mut Child>) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server child for {addr} exited before it was ready: {status}");
            }
        }
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await
        {
            drop(stream);
            let mut http = Http::connect(addr).await;
            if let Ok((200, _)) = http.call(Method::GET, "/readyz", None, None).await {
                return started.elapsed();
            }
        }
        assert!(started.elapsed() < limit, "not ready after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A temp directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "emporium-load-{label}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn create_store(http: &mut Http) -> String {
    let store = http
        .admin(
            Method::POST,
            "/api/v1/stores",
            Some(json!({"name": "Load store", "kind": "retail", "currency": "USD"})),
        )
        .await;
    store["id"].as_str().expect("store id").to_owned()
}

async fn create_product(http: &mut Http, store: &str, sku: &str, stock: u64) -> String {
    let product = http
        .admin(
            Method::POST,
            "/api/v1/products",
            Some(json!({
                "store_id": store, "sku": sku, "name": format!("Product {sku}"),
                "price": {"amount": 1999, "currency": "USD"}, "initial_stock": stock,
            })),
        )
        .await;
    product["id"].as_str().expect("product id").to_owned()
}

/// A no-op axum server (same stack as emporium, handler does nothing).
async fn noop_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new().route("/noop", post(|| async { StatusCode::CREATED }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

// ---------------------------------------------------------------------------- flash-sale

struct Run {
    ok: u64,
    sold_out: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    latencies: Latencies,
}

/// `connections` tasks POST `body` to `path` until `stop` (a 409 sold-out answer, or the
/// deadline for the no-op target).
async fn hammer(
    addr: SocketAddr,
    path: &'static str,
    body: String,
    connections: usize,
    deadline: Instant,
    until_sold_out: bool,
) -> Run {
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (body, done, stop) = (body.clone(), Arc::clone(&done), Arc::clone(&stop));
        tasks.spawn(async move {
            let mut http = Http::connect(addr).await;
            let mut run = Run {
                ok: 0,
                sold_out: 0,
                errors: 0,
                first_error: None,
                elapsed: Duration::ZERO,
                latencies: Latencies::default(),
            };
            while !stop.load(Relaxed) && Instant::now() < deadline {
                let sent = Instant::now();
                match http
                    .call(Method::POST, path, Some(ADMIN_TOKEN), Some(body.clone()))
                    .await
                {
                    Ok((201, _)) => {
                        run.ok += 1;
                        run.latencies.0.push(sent.elapsed().as_micros() as u64);
                        done.fetch_add(1, Relaxed);
                    }
                    Ok((409, v)) if until_sold_out => {
                        run.sold_out += 1;
                        run.first_error.get_or_insert(v.to_string());
                        stop.store(true, Relaxed);
                    }
                    Ok((status, v)) => {
                        run.errors += 1;
                        run.first_error.get_or_insert(format!("{status} {v}"));
                    }
                    Err(e) => {
                        run.errors += 1;
                        run.first_error.get_or_insert(e);
                        http = Http::connect(addr).await;
                    }
                }
            }
            run
        });
    }
    let mut last = 0;
    let mut total = Run {
        ok: 0,
        sold_out: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies: Latencies::default(),
    };
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                Some(run) => {
                    let run = run.expect("load task");
                    total.ok += run.ok;
                    total.sold_out += run.sold_out;
                    total.errors += run.errors;
                    total.first_error = total.first_error.take().or(run.first_error);
                    total.latencies.merge(run.latencies);
                }
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let now = done.load(Relaxed);
                progress(&format!("{path}: {now} ok, {}/s", now - last));
                last = now;
            }
        }
    }
    done_progress();
    total.elapsed = started.elapsed();
    total
}

async fn flash_sale(connections: usize, stock: u64) {
    let server = start_server(|_| {}).await;
    let noop = noop_server().await;
    let mut http = Http::connect(server.addr).await;
    let store = create_store(&mut http).await;
    let product = create_product(&mut http, &store, "HOT-1", stock).await;
    let body =
        json!({"items": [{"product_id": product, "quantity": 1}], "ttl_seconds": 600}).to_string();
    println!(
        "flash-sale: {connections} connections, {stock} units of one product, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut sale = hammer(
        server.addr,
        "/api/v1/reservations",
        body.clone(),
        connections,
        deadline,
        true,
    )
    .await;
    // The baselines for as long as the sale took (at least 3 s): the no-op handler of the same
    // server (the baseline: same middleware, same bearer check), then a bare axum
    // server with only that handler, for reference.
    let noop_secs = sale.elapsed.max(Duration::from_secs(3));
    let mut base = hammer(
        server.addr,
        "/api/v1/noop",
        body.clone(),
        connections,
        Instant::now() + noop_secs,
        false,
    )
    .await;
    let mut bare = hammer(
        noop,
        "/noop",
        body,
        connections,
        Instant::now() + noop_secs,
        false,
    )
    .await;
    let inventory = http
        .admin(
            Method::GET,
            &format!("/api/v1/products/{product}/inventory"),
            None,
        )
        .await;
    let reserved = inventory["reserved"].as_i64().unwrap_or(-1);
    let available = inventory["available"].as_i64().unwrap_or(-1);
    let oversold = (sale.ok as i64 - stock as i64).max(0);
    let rate = |r: &Run| r.ok as f64 / r.elapsed.as_secs_f64();
    let row = |name: &str, r: &mut Run| {
        vec![
            name.to_owned(),
            r.ok.to_string(),
            r.errors.to_string(),
            format!("{:.2}", r.elapsed.as_secs_f64()),
            format!("{:.0}", rate(r)),
            format!("{:.2}", r.latencies.pct_ms(50.0)),
            format!("{:.2}", r.latencies.pct_ms(99.0)),
            format!("{:.2}", r.latencies.pct_ms(99.9)),
        ]
    };
    let rows = vec![
        row("emporium holds", &mut sale),
        row("no-op, same server", &mut base),
        row("no-op, bare axum", &mut bare),
    ];
    table(
        "flash-sale",
        &[
            "target", "ok", "errors", "secs", "req/s", "p50 ms", "p99 ms", "p99.9 ms",
        ],
        &rows,
    );
    println!(
        "ratio emporium/no-op (same server) req/s: {:.3} (against bare axum: {:.3}); sold-out \
         answers {}; acknowledged holds {} of {stock} units; inventory reserved {reserved}, \
         available {available}; oversold {oversold}",
        rate(&sale) / rate(&base),
        rate(&sale) / rate(&bare),
        sale.sold_out,
        sale.ok
    );
    if let Some(e) = sale.first_error.filter(|_| sale.errors > 0) {
        println!("first error: {e}");
    }
    let consistent = reserved == sale.ok as i64 && available == stock as i64 - reserved;
    println!(
        "check: {}",
        if consistent && oversold == 0 && available == 0 {
            "OK (sold out exactly, reserved == acknowledged holds, nothing oversold)"
        } else {
            "FAILED"
        }
    );
}

// -------------------------------------------------------------------------------- fanout

/// Raises RLIMIT_NOFILE towards `wanted`; answers the soft limit in force.
fn raise_fd_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: limit.rlim_max.max(wanted),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return wanted;
            }
            let soft = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &soft) == 0 {
                return limit.rlim_max;
            }
        }
        limit.rlim_cur
    }
}

/// What the subscriber clients saw.
struct Seen {
    latency: Histogram,
    deliveries: AtomicU64,
    lagged: AtomicU64,
    closed: AtomicU64,
    subscribed: AtomicU64,
}

impl Seen {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            latency: Histogram::new(),
            deliveries: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
        })
    }
}

/// The publish time of an `event` frame: its `at` (RFC 3339, ms).
fn event_at(text: &str) -> Option<i64> {
    if !text.contains("\"type\":\"event\"") {
        return None;
    }
    let start = text.find("\"at\":\"")? + 6;
    let end = start + text[start..].find('"')?;
    chrono::DateTime::parse_from_rfc3339(&text[start..end])
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Connects `n` WebSocket clients to `url`, each sending `subscribe` (if any) and then
/// recording every event frame into `seen` until `stop`.
async fn connect_clients(
    addr: SocketAddr,
    path: &str,
    subscribe: Option<String>,
    n: usize,
    seen: &Arc<Seen>,
    stop: &Arc<AtomicBool>,
) -> JoinSet<()> {
    let mut clients = JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(128));
    for i in 0..n {
        let (seen, stop, gate) = (Arc::clone(seen), Arc::clone(stop), Arc::clone(&gate));
        let (url, subscribe) = (format!("ws://{addr}{path}"), subscribe.clone());
        clients.spawn(async move {
            let permit = gate.acquire_owned().await.expect("gate");
            let stream = TcpStream::connect(addr).await.expect("connect ws");
            stream.set_nodelay(true).expect("nodelay");
            // A small read buffer: tungstenite zeroes its whole read buffer per read.
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(4096);
            let (mut ws, _) =
                tokio_tungstenite::client_async_with_config(url, stream, Some(config))
                    .await
                    .expect("ws handshake");
            if let Some(subscribe) = subscribe {
                ws.send(Message::text(subscribe)).await.expect("subscribe");
            } else {
                seen.subscribed.fetch_add(1, Relaxed);
            }
            drop(permit);
            // Runs until the frame stream ends or the JoinSet is dropped (which aborts it).
            while !stop.load(Relaxed) {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(at) = event_at(text.as_str()) {
                            seen.latency.record_ms(now_ms() - at);
                            seen.deliveries.fetch_add(1, Relaxed);
                        } else if text.as_str().contains("\"type\":\"subscribed\"") {
                            seen.subscribed.fetch_add(1, Relaxed);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        if frame.is_some_and(|f| u16::from(f.code) == 4008) {
                            seen.lagged.fetch_add(1, Relaxed);
                        }
                        seen.closed.fetch_add(1, Relaxed);
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        seen.closed.fetch_add(1, Relaxed);
                        return;
                    }
                }
            }
            let _ = ws.close(None).await;
            // Keep `i` for debugging a stuck client.
            let _ = i;
        });
        if i % 500 == 499 {
            progress(&format!("connecting {} of {n}", i + 1));
        }
    }
    let until = Instant::now() + Duration::from_secs(120);
    while seen.subscribed.load(Relaxed) < n as u64 && Instant::now() < until {
        progress(&format!(
            "subscribed {} of {n}",
            seen.subscribed.load(Relaxed)
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    done_progress();
    clients
}

/// Waits (up to 60 s) until process `pid` (None: this one) has fewer than `limit` open
/// files: the server ends of closed client connections take a moment to go.
async fn wait_fds_below(pid: Option<u32>, limit: usize) {
    let dir = pid.map_or_else(|| "/proc/self/fd".to_owned(), |p| format!("/proc/{p}/fd"));
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let open = std::fs::read_dir(&dir).map_or(0, Iterator::count);
        if open < limit || Instant::now() >= until {
            done_progress();
            return;
        }
        progress(&format!("waiting for {open} open files of {dir} to close"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One rate step's figures.
struct Step {
    rate: f64,
    published: u64,
    deliveries: u64,
    per_sec: f64,
    p50: u64,
    p99: u64,
    lagged: u64,
    /// p99 of the publishing request (emporium: the HTTP adjustment, durable commit included).
    publish_p99: Option<u64>,
}

/// An asynchronous publisher's confirmations and request latencies.
struct Publisher {
    confirmed: AtomicU64,
    latency: Histogram,
}

/// Publishes with HTTP POSTs over a pool of keep-alive connections, each from a spawned task
/// so a slow one never delays the schedule; counts the answers with status `ok` and their
/// round trips in `stats`.
struct HttpPublisher {
    pool: Vec<tokio::sync::Mutex<Http>>,
    path: String,
    token: Option<&'static str>,
    ok: u16,
    stats: Publisher,
}

impl HttpPublisher {
    async fn new(
        addr: SocketAddr,
        connections: usize,
        path: String,
        token: Option<&'static str>,
        ok: u16,
    ) -> Arc<Self> {
        let pool = futures_util::future::join_all((0..connections).map(|_| Http::connect(addr)))
            .await
            .into_iter()
            .map(tokio::sync::Mutex::new)
            .collect();
        Arc::new(Self {
            pool,
            path,
            token,
            ok,
            stats: Publisher {
                confirmed: AtomicU64::new(0),
                latency: Histogram::new(),
            },
        })
    }

    /// Sends publish number `k` (on connection `k % pool`) without waiting for it.
    fn fire(self: &Arc<Self>, k: u64, body: String) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut http = this.pool[k as usize % this.pool.len()].lock().await;
            let sent = Instant::now();
            let answer = http
                .call(Method::POST, &this.path, this.token, Some(body))
                .await;
            if matches!(answer, Ok((status, _)) if status == this.ok) {
                this.stats
                    .latency
                    .record_ms(sent.elapsed().as_millis() as i64);
                this.stats.confirmed.fetch_add(1, Relaxed);
            }
        });
    }
}

fn step_row(target: &str, s: &Step, n: usize) -> Vec<String> {
    vec![
        target.to_owned(),
        format!("{:.0}", s.rate),
        s.published.to_string(),
        format!("{}/{}", s.deliveries, s.published * n as u64),
        format!("{:.0}", s.per_sec),
        s.p50.to_string(),
        s.p99.to_string(),
        s.lagged.to_string(),
        s.publish_p99.map_or("-".into(), |p| p.to_string()),
    ]
}

/// Publishes at rising rates with `publish(count)` paced by the caller's clock; records per
/// step. Stops after the first step with a lagged close, a p99 over 1 s, or under 90 % of
/// the expected deliveries.
#[allow(clippy::too_many_arguments)]
async fn rising<F, Fut>(
    name: &str,
    seen: &Arc<Seen>,
    n: usize,
    start_rate: f64,
    max_rate: f64,
    step_secs: f64,
    publisher: Option<&Publisher>,
    publish: F,
) -> Vec<Step>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut steps = Vec::new();
    let mut rate = start_rate;
    while rate <= max_rate {
        let _ = seen.latency.take();
        seen.deliveries.store(0, Relaxed);
        let lagged_before = seen.lagged.load(Relaxed);
        let confirmed_before = publisher.map(|p| {
            let _ = p.latency.take();
            p.confirmed.load(Relaxed)
        });
        let started = Instant::now();
        let total = (rate * step_secs).round() as u64;
        let mut published = 0;
        let mut next_progress = started;
        for k in 0..total {
            let due = started + Duration::from_secs_f64(k as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            if publish(k).await {
                published += 1;
            }
            if Instant::now() >= next_progress {
                next_progress += Duration::from_secs(1);
                progress(&format!(
                    "{name} {rate:.0}/s: published {published}, delivered {}",
                    seen.deliveries.load(Relaxed)
                ));
            }
        }
        // Asynchronous publishers: count what the server confirmed (waiting up to 5 s).
        let mut publish_p99 = None;
        if let (Some(publisher), Some(before)) = (publisher, confirmed_before) {
            let counter = &publisher.confirmed;
            let until = Instant::now() + Duration::from_secs(5);
            while counter.load(Relaxed) - before < published && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            published = counter.load(Relaxed) - before;
            publish_p99 = Some(publisher.latency.take().2);
        }
        let publish_time = started.elapsed();
        // Drain: wait until every expected delivery arrived (or 5 s).
        let expected = published * n as u64;
        let drain_until = Instant::now() + Duration::from_secs(5);
        while seen.deliveries.load(Relaxed) < expected && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = started.elapsed();
        let deliveries = seen.deliveries.load(Relaxed);
        let (_, p50, p99) = seen.latency.take();
        let lagged = seen.lagged.load(Relaxed) - lagged_before;
        done_progress();
        let step = Step {
            rate: published as f64 / publish_time.as_secs_f64(),
            published,
            deliveries,
            per_sec: deliveries as f64 / elapsed.as_secs_f64(),
            p50,
            p99,
            lagged,
            publish_p99,
        };
        let stop = lagged > 0 || p99 > 1000 || deliveries < expected * 9 / 10;
        steps.push(step);
        if stop {
            break;
        }
        rate *= 2.0;
    }
    steps
}

/// The naive baseline (`emporium-load serve-baseline`, run as a child of `fanout`): every
/// WebSocket connection on `/ws` forwards a `tokio::sync::broadcast` receiver, one `send` per
/// message. `POST /publish {"product", "seq"}` stamps a frame and sends it (200, or 503 when
/// nobody listens), so the publish crosses the process boundary as emporium's does;
/// `GET /readyz` answers 200. Runs until killed.
async fn serve_baseline(addr: SocketAddr, capacity: usize) {
    let tx = broadcast::channel::<Utf8Bytes>(capacity.max(1)).0;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("serve-baseline: bind {addr}: {e}"));
    async fn upgrade(
        State(tx): State<broadcast::Sender<Utf8Bytes>>,
        ws: WebSocketUpgrade,
    ) -> Response {
        let mut rx = tx.subscribe();
        ws.on_upgrade(move |mut socket| async move {
            loop {
                match rx.recv().await {
                    Ok(frame) => {
                        if socket.send(AxMessage::Text(frame)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = socket
                            .send(AxMessage::Close(Some(CloseFrame {
                                code: 4008,
                                reason: "lagged".into(),
                            })))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
    async fn publish(
        State(tx): State<broadcast::Sender<Utf8Bytes>>,
        axum::Json(body): axum::Json<Value>,
    ) -> (StatusCode, axum::Json<Value>) {
        let product = body["product"].as_str().unwrap_or("prd_baseline");
        let seq = body["seq"].as_u64().unwrap_or(0);
        // Stamped just before the send, like before.
        match tx.send(baseline_frame(product, seq)) {
            Ok(receivers) => (StatusCode::OK, axum::Json(json!({"receivers": receivers}))),
            Err(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"receivers": 0})),
            ),
        }
    }
    let router = Router::new()
        .route("/ws", get(upgrade))
        .route("/publish", post(publish))
        .route(
            "/readyz",
            get(|| async { axum::Json(json!({"status": "ready"})) }),
        )
        .with_state(tx);
    if let Err(e) = axum::serve(listener, router).await {
        eprintln!("serve-baseline: {e}");
        std::process::exit(1);
    }
}

/// Starts `serve-baseline` (this executable) on a free port; answers its address.
async fn spawn_baseline(capacity: usize) -> (ChildGuard, SocketAddr) {
    let exe = std::env::current_exe().expect("current exe");
    let addr = free_addr();
    let mut child = spawn_child(
        Command::new(&exe).args([
            "serve-baseline",
            "--addr",
            &addr.to_string(),
            "--capacity",
            &capacity.to_string(),
        ]),
        &format!("{} serve-baseline", exe.display()),
    );
    wait_ready(addr, Duration::from_secs(60), Some(&mut child.0)).await;
    (child, addr)
}

/// A frame shaped like emporium's `stock.changed`, stamped now.
fn baseline_frame(product: &str, seq: u64) -> Utf8Bytes {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "type": "event", "topic": format!("product:{product}"), "seq": seq,
        "event": "stock.changed",
        "data": {"product_id": product, "store_id": "sto_baseline0000000000", "on_hand": 1000 + seq,
                 "reserved": 0, "available": 1000 + seq, "version": seq, "cause": "adjustment"},
        "at": at,
    })
    .to_string()
    .into()
}

async fn fanout(
    subscribers: usize,
    server: Option<PathBuf>,
    step_secs: f64,
    start_rate: f64,
    max_rate: f64,
    hold_rate: f64,
    latest_secs: f64,
) {
    // This process holds the client ends (one descriptor per subscriber); each server is a
    // child process with its own table and inherits the limit raised here.
    let wanted = subscribers as u64 + 2048;
    let limit = raise_fd_limit(wanted);
    let n = subscribers.min(limit.saturating_sub(2048) as usize);
    if n < subscribers {
        println!(
            "note: open-file limit {limit} < {wanted} needed (the client ends in this process, \
             the server ends in each server child); capped at {n} subscribers. Raise it with \
             `ulimit -n {wanted}` as root."
        );
    }
    let bin = server_bin(server);
    println!(
        "fanout: {n} subscribers, {step_secs} s per step from {start_rate}/s doubling to \
         {max_rate}/s, {} cores, open-file limit {limit}; servers are child processes: {} and \
         the baseline (serve-baseline)",
        std::thread::available_parallelism().map_or(0, |c| c.get()),
        bin.display()
    );
    let dir = TempDir::new("fanout");
    let addr = free_addr();
    // Declared after `dir`, so dropped (killed) before the data dir is removed.
    let mut server = spawn_server(
        &bin,
        &dir.0.join("data"),
        addr,
        &[(
            "EMPORIUM_WS__LATEST_INTERVAL_MS",
            LATEST_INTERVAL_MS.to_string(),
        )],
    );
    wait_ready(addr, Duration::from_secs(60), Some(&mut server.0)).await;
    let server_pid = server.0.id();
    let mut http = Http::connect(addr).await;
    let store = create_store(&mut http).await;
    let product = create_product(&mut http, &store, "FAN-1", 1_000_000).await;

    // Emporium: durable stock adjustments over HTTP.
    let seen = Seen::new();
    let stop = Arc::new(AtomicBool::new(false));
    let subscribe = json!({"op": "subscribe", "topic": format!("product:{product}")}).to_string();
    let clients = connect_clients(addr, "/api/v1/ws", Some(subscribe), n, &seen, &stop).await;
    let adjust_path = format!("/api/v1/products/{product}/inventory/adjustments");
    let adjust_body = json!({"delta": 1, "reason": "restock"}).to_string();
    let adjusts = HttpPublisher::new(addr, 64, adjust_path, Some(ADMIN_TOKEN), 200).await;
    let emporium_steps = rising(
        "emporium",
        &seen,
        n,
        start_rate,
        max_rate,
        step_secs,
        Some(&adjusts.stats),
        |k| {
            adjusts.fire(k, adjust_body.clone());
            async { true }
        },
    )
    .await;
    stop.store(true, Relaxed);
    drop(clients);
    drop(adjusts);
    wait_fds_below(None, 4096).await;

    // Baseline: `POST /publish` to the child, which stamps the frame and sends it.
    let (baseline, base_addr) = spawn_baseline(4096).await;
    let base_seen = Seen::new();
    let base_stop = Arc::new(AtomicBool::new(false));
    let base_clients = connect_clients(base_addr, "/ws", None, n, &base_seen, &base_stop).await;
    let publishes = HttpPublisher::new(base_addr, 64, "/publish".into(), None, 200).await;
    let baseline_steps = rising(
        "baseline",
        &base_seen,
        n,
        start_rate,
        max_rate,
        step_secs,
        Some(&publishes.stats),
        |k| {
            publishes.fire(k, json!({"product": product, "seq": k}).to_string());
            async { true }
        },
    )
    .await;
    base_stop.store(true, Relaxed);
    drop(base_clients);
    drop(publishes);
    // Killing the child closes every server end at once.
    drop(baseline);
    wait_fds_below(None, 4096).await;

    let header = [
        "target",
        "events/s",
        "events",
        "delivered/expected",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "lagged",
        "publish req p99 ms",
    ];
    let mut rows: Vec<Vec<String>> = emporium_steps
        .iter()
        .map(|s| step_row("emporium", s, n))
        .collect();
    rows.extend(baseline_steps.iter().map(|s| step_row("baseline", s, n)));
    table(&format!("fanout, {n} subscribers"), &header, &rows);
    // The best step: no lagged close, every delivery, p99 <= 250 ms.
    let best = |steps: &[Step]| {
        steps
            .iter()
            .filter(|s| s.lagged == 0 && s.p99 <= 250 && s.deliveries >= s.published * n as u64)
            .map(|s| (s.rate, s.per_sec))
            .fold((0.0, 0.0), |a: (f64, f64), b| if b.1 > a.1 { b } else { a })
    };
    let (e_rate, e_per_sec) = best(&emporium_steps);
    let (b_rate, b_per_sec) = best(&baseline_steps);
    let no_lag = |steps: &[Step]| {
        steps
            .iter()
            .filter(|s| s.lagged == 0)
            .map(|s| s.rate)
            .fold(0.0, f64::max)
    };
    println!(
        "highest rate with every delivery, p99 <= 250 ms and no lagged close: emporium \
         {e_rate:.0} events/s = {e_per_sec:.0} deliveries/s; baseline {b_rate:.0} events/s = \
         {b_per_sec:.0} deliveries/s; ratio {:.2}",
        e_per_sec / b_per_sec.max(1.0)
    );
    println!(
        "highest rate with no lagged close: emporium {:.0} events/s, baseline {:.0} events/s",
        no_lag(&emporium_steps),
        no_lag(&baseline_steps)
    );
    println!(
        "publish req p99 = round trip of the publishing HTTP request: emporium's stock \
         adjustment (durable commit included), the baseline's POST /publish (stamp and send)"
    );

    // Latest mode: viewers of a product taking holds quickly, on the same emporium child
    // (once it has closed the server ends of the first subscribers).
    wait_fds_below(Some(server_pid), 4096).await;
    let hot = create_product(&mut http, &store, "FAN-HOT", 10_000_000).await;
    let viewers = Seen::new();
    let viewers_stop = Arc::new(AtomicBool::new(false));
    let subscribe =
        json!({"op": "subscribe", "topic": format!("product:{hot}"), "mode": "latest"}).to_string();
    let viewer_clients = connect_clients(
        addr,
        "/api/v1/ws",
        Some(subscribe),
        n,
        &viewers,
        &viewers_stop,
    )
    .await;
    let _ = viewers.latency.take();
    viewers.deliveries.store(0, Relaxed);
    let body =
        json!({"items": [{"product_id": hot, "quantity": 1}], "ttl_seconds": 600}).to_string();
    let holds = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(latest_secs);
    let writers = 64usize;
    let per_writer = hold_rate / writers as f64;
    let mut tasks = JoinSet::new();
    for _ in 0..writers {
        let (holds, body) = (Arc::clone(&holds), body.clone());
        tasks.spawn(async move {
            let mut http = Http::connect(addr).await;
            let begin = Instant::now();
            let mut k = 0u64;
            while Instant::now() < deadline {
                let due = begin + Duration::from_secs_f64(k as f64 / per_writer);
                tokio::time::sleep_until(due.into()).await;
                k += 1;
                if let Ok((201, _)) = http
                    .call(
                        Method::POST,
                        "/api/v1/reservations",
                        Some(ADMIN_TOKEN),
                        Some(body.clone()),
                    )
                    .await
                {
                    holds.fetch_add(1, Relaxed);
                }
            }
        });
    }
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress(&format!(
            "latest: {} holds, {} deliveries",
            holds.load(Relaxed),
            viewers.deliveries.load(Relaxed)
        ));
    }
    while tasks.join_next().await.is_some() {}
    let hold_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    done_progress();
    let elapsed = started.elapsed().as_secs_f64();
    let deliveries = viewers.deliveries.load(Relaxed);
    let (_, p50, p99) = viewers.latency.take();
    viewers_stop.store(true, Relaxed);
    drop(viewer_clients);
    table(
        &format!("latest mode, {n} viewers"),
        &[
            "holds",
            "holds/s",
            "deliveries",
            "deliveries/s",
            "per viewer/s",
            "staleness p50 ms",
            "staleness p99 ms",
            "lagged",
        ],
        &[vec![
            holds.load(Relaxed).to_string(),
            format!("{:.0}", holds.load(Relaxed) as f64 / hold_secs),
            deliveries.to_string(),
            format!("{:.0}", deliveries as f64 / elapsed),
            format!("{:.1}", deliveries as f64 / elapsed / n as f64),
            p50.to_string(),
            p99.to_string(),
            viewers.lagged.load(Relaxed).to_string(),
        ]],
    );
    println!(
        "staleness = receive time - the event's `at` (ms resolution) of every frame a viewer \
         gets, so it includes the conflation wait (ws.latest_interval_ms = \
         {LATEST_INTERVAL_MS})"
    );
    drop(http);
    stop_server(&mut server.0).await;
}

// ------------------------------------------------------------------------------ checkout

async fn checkout(customers: usize, secs: f64, catalog: usize) {
    let server = start_server(|_| {}).await;
    let addr = server.addr;
    let mut http = Http::connect(addr).await;
    let store = create_store(&mut http).await;
    let mut products = Vec::new();
    for i in 0..catalog.max(3) {
        products.push(create_product(&mut http, &store, &format!("CK-{i}"), 10_000_000).await);
    }
    let mut tokens = Vec::new();
    for i in 0..customers {
        let (status, session) = http
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(
                    json!({"email": format!("load-{i}-{:x}@example.com", rand::random::<u32>()),
                           "password": "correct horse battery", "name": "Load"})
                    .to_string(),
                ),
            )
            .await
            .expect("register");
        assert_eq!(status, 201, "{session}");
        tokens.push(session["access_token"].as_str().expect("token").to_owned());
        progress(&format!("registered {} of {customers}", i + 1));
    }
    done_progress();
    println!(
        "checkout: {customers} customers, {secs} s, 3-item orders from {} products, tok_visa, {} cores",
        products.len(),
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    let products = Arc::new(products);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut tasks = JoinSet::new();
    for token in tokens {
        let (products, done, store) = (Arc::clone(&products), Arc::clone(&done), store.clone());
        tasks.spawn(async move {
            let mut http = Http::connect(addr).await;
            let mut lat = Latencies::default();
            let mut orders = Vec::new();
            let mut errors = (0u64, None::<String>);
            while Instant::now() < deadline {
                let mut picked = Vec::new();
                while picked.len() < 3 {
                    let p = &products[rand::random_range(0..products.len())];
                    if !picked.contains(p) {
                        picked.push(p.clone());
                    }
                }
                let items: Vec<Value> = picked
                    .iter()
                    .enumerate()
                    .map(|(i, p)| json!({"product_id": p, "quantity": i + 1}))
                    .collect();
                let body = json!({"store_id": store, "items": items,
                                  "payment": {"method": "card", "token": "tok_visa"}});
                let sent = Instant::now();
                match http
                    .call(
                        Method::POST,
                        "/api/v1/orders",
                        Some(&token),
                        Some(body.to_string()),
                    )
                    .await
                {
                    Ok((201, order)) => {
                        lat.0.push(sent.elapsed().as_micros() as u64);
                        done.fetch_add(1, Relaxed);
                        orders.push(order);
                    }
                    Ok((status, v)) => {
                        errors.0 += 1;
                        errors.1.get_or_insert(format!("{status} {v}"));
                    }
                    Err(e) => {
                        errors.0 += 1;
                        errors.1.get_or_insert(e);
                        http = Http::connect(addr).await;
                    }
                }
            }
            (lat, orders, errors)
        });
    }
    let mut lat = Latencies::default();
    let mut orders = Vec::new();
    let mut errors = (0u64, None::<String>);
    let mut last = 0;
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                Some(r) => {
                    let (l, o, e) = r.expect("customer task");
                    lat.merge(l);
                    orders.extend(o);
                    errors.0 += e.0;
                    errors.1 = errors.1.take().or(e.1);
                }
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let now = done.load(Relaxed);
                progress(&format!("checkout: {now} orders, {}/s", now - last));
                last = now;
            }
        }
    }
    done_progress();
    let elapsed = started.elapsed().as_secs_f64();
    // Verify: every order confirmed (as answered and as read back), one charge per order of
    // its total in the ledger.
    progress("verifying");
    let ledger = http
        .admin(Method::GET, "/api/v1/admin/payments", None)
        .await;
    let mut charges: std::collections::HashMap<String, Vec<i64>> = Default::default();
    for e in ledger["items"].as_array().into_iter().flatten() {
        if e["kind"] == "charge" {
            let amount = e["amount"]
                .as_i64()
                .or_else(|| e["amount"]["amount"].as_i64())
                .unwrap_or(-1);
            charges
                .entry(e["order_id"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(amount);
        }
    }
    let mut bad = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let id = order["id"].as_str().unwrap_or_default();
        let total = order["total"]["amount"].as_i64().unwrap_or(-2);
        if order["status"] != "confirmed" {
            bad.push(format!("{id}: answered {}", order["status"]));
        }
        match charges.get(id).map(Vec::as_slice) {
            Some([amount]) if *amount == total => {}
            other => bad.push(format!("{id}: charges {other:?}, total {total}")),
        }
        if i % 50 == 0 || i + 1 == orders.len() {
            let read = http
                .admin(Method::GET, &format!("/api/v1/orders/{id}"), None)
                .await;
            if read["status"] != "confirmed" || read["total"] != order["total"] {
                bad.push(format!("{id}: reads back as {read}"));
            }
        }
    }
    let total_charges: usize = charges.values().map(Vec::len).sum();
    done_progress();
    table(
        "checkout",
        &[
            "orders", "errors", "secs", "orders/s", "p50 ms", "p99 ms", "p99.9 ms",
        ],
        &[vec![
            orders.len().to_string(),
            errors.0.to_string(),
            format!("{elapsed:.2}"),
            format!("{:.0}", orders.len() as f64 / elapsed),
            format!("{:.2}", lat.pct_ms(50.0)),
            format!("{:.2}", lat.pct_ms(99.0)),
            format!("{:.2}", lat.pct_ms(99.9)),
        ]],
    );
    if let Some(e) = errors.1 {
        println!("first error: {e}");
    }
    println!(
        "check: {} orders, {total_charges} ledger charges, {} problems{}",
        orders.len(),
        bad.len(),
        if bad.is_empty() {
            " — OK (every order confirmed with exactly one charge of its total; every 50th read back)".to_owned()
        } else {
            format!(
                ": {}",
                bad.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            )
        }
    );
}

// ------------------------------------------------------------------------- catalog-scale

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A child process killed (SIGKILL) and reaped when dropped, unless it already exited: every
/// exit path of a scenario, a panic included, ends its servers.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Spawns `command` as a child that gets SIGKILL if the spawning thread dies first (even by a
/// signal that skips the drop guards; the scenarios spawn from the main thread, which runs
/// `block_on`). Children inherit this process's rlimits, so raise the open-file limit first.
fn spawn_child(command: &mut Command, label: &str) -> ChildGuard {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
    // is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    ChildGuard(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {label}: {e}")),
    )
}

/// The `emporium` binary: `server`, or `emporium` next to this executable.
fn server_bin(server: Option<PathBuf>) -> PathBuf {
    let bin = server.unwrap_or_else(|| {
        std::env::current_exe()
            .expect("current exe")
            .with_file_name("emporium")
    });
    assert!(
        bin.exists(),
        "{} not found: build it (cargo build --release --bins) or pass --server",
        bin.display()
    );
    bin
}

/// Starts the `emporium` binary on `addr` with `data`, the harness's admin token, warn-level
/// logs, and `env` (`EMPORIUM_*` configuration keys).
fn spawn_server(bin: &Path, data: &Path, addr: SocketAddr, env: &[(&str, String)]) -> ChildGuard {
    let mut command = Command::new(bin);
    command
        .args(["--addr", &addr.to_string(), "--data-dir"])
        .arg(data)
        .env("EMPORIUM_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("EMPORIUM_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    spawn_child(&mut command, &bin.display().to_string())
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

async fn stop_server(child: &mut Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `per_item(http, i)` for `0..count` over `connections` connections.
async fn in_parallel(
    addr: SocketAddr,
    count: usize,
    connections: usize,
    label: &str,
    per_item: Arc<dyn Fn(usize) -> (String, String) + Send + Sync>,
) -> (f64, Vec<String>) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (next, per_item) = (Arc::clone(&next), Arc::clone(&per_item));
        tasks.spawn(async move {
            let mut http = Http::connect(addr).await;
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Relaxed) as usize;
                if i >= count {
                    return out;
                }
                let (path, body) = per_item(i);
                match http
                    .call(Method::POST, &path, Some(ADMIN_TOKEN), Some(body))
                    .await
                {
                    Ok((s, v)) if s < 300 => out.push(v["id"].as_str().unwrap_or("").to_owned()),
                    Ok((s, v)) => panic!("{path}: {s} {v}"),
                    Err(e) => panic!("{path}: {e}"),
                }
            }
        });
    }
    let mut ids = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                Some(r) => ids.extend(r.expect("task")),
                None => break,
            },
            _ = tick.tick() => {
                let n = next.load(Relaxed).min(count as u64);
                progress(&format!("{label}: {n} of {count}, {:.0}/s", n as f64 / started.elapsed().as_secs_f64()));
            }
        }
    }
    done_progress();
    (started.elapsed().as_secs_f64(), ids)
}

async fn catalog_scale(products: usize, connections: usize, server: Option<PathBuf>) {
    let bin = server_bin(server);
    let idle = [("EMPORIUM_ACTORS__IDLE_SECONDS", "300".to_owned())];
    let dir = TempDir::new("catalog");
    let data = dir.0.join("data");
    let addr = free_addr();
    println!(
        "catalog-scale: {products} products, {connections} connections, server {} (child)",
        bin.display()
    );
    let mut child = spawn_server(&bin, &data, addr, &idle);
    let first_ready = wait_ready(addr, Duration::from_secs(60), Some(&mut child.0)).await;
    let rss_empty = rss_kib(child.0.id());
    let mut http = Http::connect(addr).await;
    let store = create_store(&mut http).await;
    let store_for = store.clone();
    let (create_secs, ids) = in_parallel(
        addr,
        products,
        connections,
        "creating",
        Arc::new(move |i| {
            (
                "/api/v1/products".to_owned(),
                json!({"store_id": store_for, "sku": format!("SKU-{i}"), "name": format!("Item {i}"),
                       "price": {"amount": 100 + (i % 900) as i64, "currency": "USD"},
                       "initial_stock": 100})
                .to_string(),
            )
        }),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_created = rss_kib(child.0.id());
    let actors_created = product_actors(&mut http).await;
    let ids = Arc::new(ids);
    let ids_for = Arc::clone(&ids);
    let (touch_secs, _) = in_parallel(
        addr,
        ids.len(),
        connections,
        "touching",
        Arc::new(move |i| {
            (
                format!("/api/v1/products/{}/inventory/adjustments", ids_for[i]),
                json!({"delta": 1, "reason": "restock"}).to_string(),
            )
        }),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_touched = rss_kib(child.0.id());
    let actors_touched = product_actors(&mut http).await;
    stop_server(&mut child.0).await;
    let restart = Instant::now();
    let mut child = spawn_server(&bin, &data, addr, &idle);
    let ready = wait_ready(addr, Duration::from_secs(600), Some(&mut child.0)).await;
    let ready_total = restart.elapsed();
    let rss_restarted = rss_kib(child.0.id());
    let disk = du(&data);
    stop_server(&mut child.0).await;
    let per_actor = match (actors_touched, actors_created) {
        (Some(t), Some(c)) if t > c => {
            format!(
                "{:.0}",
                (rss_touched.saturating_sub(rss_created) as f64 * 1024.0) / (t - c) as f64
            )
        }
        _ => "n/a".into(),
    };
    let mib = |k: u64| format!("{:.0}", k as f64 / 1024.0);
    table(
        &format!("catalog-scale, {products} products"),
        &["measure", "value"],
        &[
            vec![
                "first start to /readyz (empty dir) ms".into(),
                first_ready.as_millis().to_string(),
            ],
            vec!["RSS empty MiB".into(), mib(rss_empty)],
            vec![
                "create secs (products/s)".into(),
                format!("{create_secs:.1} ({:.0})", products as f64 / create_secs),
            ],
            vec!["RSS after creating MiB".into(), mib(rss_created)],
            vec![
                "product actors after creating".into(),
                fmt_opt(actors_created),
            ],
            vec![
                "touch secs (touches/s)".into(),
                format!("{touch_secs:.1} ({:.0})", products as f64 / touch_secs),
            ],
            vec!["RSS after touching each once MiB".into(), mib(rss_touched)],
            vec![
                "product actors after touching".into(),
                fmt_opt(actors_touched),
            ],
            vec![
                "bytes per active actor (RSS delta / actor delta)".into(),
                per_actor,
            ],
            vec![
                "restart: process start to /readyz ms".into(),
                format!(
                    "{} (ready poll {})",
                    ready_total.as_millis(),
                    ready.as_millis()
                ),
            ],
            vec!["RSS after restart MiB".into(), mib(rss_restarted)],
            vec![
                "data dir MiB".into(),
                format!("{:.0}", disk as f64 / (1 << 20) as f64),
            ],
        ],
    );
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}

/// `emporium_actors_active{kind="product"}` from `/metrics`.
async fn product_actors(http: &mut Http) -> Option<u64> {
    // /metrics is text, not JSON: fetch it raw.
    let request = Request::builder()
        .uri("/metrics")
        .header("host", &http.host)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .ok()?;
    http.sender.ready().await.ok()?;
    let response = http.sender.send_request(request).await.ok()?;
    let bytes = axum::body::to_bytes(Body::new(response.into_body()), 16 << 20)
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .find(|l| l.starts_with("emporium_actors_active{") && l.contains("kind=\"product\""))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

fn du(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
