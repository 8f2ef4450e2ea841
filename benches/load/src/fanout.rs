//! `fanout`: N WebSocket subscribers on one `product:` topic at rising publish rates against
//! a naive `tokio::sync::broadcast` route (`serve-baseline`), then `latest`-mode viewers.

use crate::common::*;
use axum::{
    Router,
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message as AxMessage, Utf8Bytes},
    },
    http::{Method, StatusCode},
    response::Response,
    routing::{get, post},
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};
use tokio::{net::TcpStream, sync::broadcast, task::JoinSet};
use tokio_tungstenite::tungstenite::Message;

/// `ws.latest_interval_ms` of the fanout server (passed to the child explicitly).
const LATEST_INTERVAL_MS: u64 = 100;

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
pub async fn serve_baseline(addr: SocketAddr, capacity: usize) {
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

pub async fn run(
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
