//! What every scenario shares: the HTTP/1 client, latency statistics, the result table, the
//! in-process server, temp dirs and child processes that die with the harness.

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode},
    routing::post,
};
use emporium::config::Config;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::net::TcpStream;

pub const ADMIN_TOKEN: &str = "adm_loadharness";

/// One keep-alive HTTP/1 connection.
pub struct Http {
    pub sender: SendRequest<Body>,
    pub host: String,
}

impl Http {
    pub async fn connect(addr: SocketAddr) -> Self {
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
    pub async fn call(
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

    pub async fn admin(&mut self, method: Method, path: &str, body: Option<Value>) -> Value {
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
pub struct Latencies(pub Vec<u64>);

impl Latencies {
    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }
    pub fn pct_ms(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1] as f64 / 1000.0
    }
}

/// A histogram of 1 ms buckets (0..10 s) shared by many client tasks.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            buckets: (0..10_001).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        }
    }
    pub fn record_ms(&self, ms: i64) {
        let i = ms.clamp(0, 10_000) as usize;
        self.buckets[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
    /// Takes (and zeroes) the counts: (count, p50 ms, p99 ms).
    pub fn take(&self) -> (u64, u64, u64) {
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

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn progress(line: &str) {
    eprint!("\r\x1b[2K{line}");
    let _ = std::io::stderr().flush();
}

pub fn done_progress() {
    eprint!("\r\x1b[2K");
}

pub fn table(title: &str, header: &[&str], rows: &[Vec<String>]) {
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
pub struct InProcess {
    pub addr: SocketAddr,
    _dir: TempDir,
}

pub async fn start_server(tune: impl FnOnce(&mut Config)) -> InProcess {
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
pub async fn wait_ready(
    addr: SocketAddr,
    limit: Duration,
    mut child: Option<&mut Child>,
) -> Duration {
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
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
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
    /// Removes the dir, unless `LOAD_KEEP_DIRS` is set (to look at a data dir afterwards).
    fn drop(&mut self) {
        if std::env::var_os("LOAD_KEEP_DIRS").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn create_store(http: &mut Http) -> String {
    let store = http
        .admin(
            Method::POST,
            "/api/v1/stores",
            Some(json!({"name": "Load store", "kind": "retail", "currency": "USD"})),
        )
        .await;
    store["id"].as_str().expect("store id").to_owned()
}

pub async fn create_product(http: &mut Http, store: &str, sku: &str, stock: u64) -> String {
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
pub async fn noop_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new().route("/noop", post(|| async { StatusCode::CREATED }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// A child process killed (SIGKILL) and reaped when dropped, unless it already exited: every
/// exit path of a scenario, a panic included, ends its servers.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Spawns `command` as a child that dies with this process (see [`die_with_parent`]), its
/// stdout discarded and its stderr shared. Children inherit this process's rlimits, so raise
/// the open-file limit first.
pub fn spawn_child(command: &mut Command, label: &str) -> ChildGuard {
    die_with_parent(command);
    ChildGuard(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {label}: {e}")),
    )
}

/// Makes `command`'s process get SIGKILL if the spawning thread dies first (even by a signal
/// that skips the drop guards; the scenarios spawn from the main thread, which runs
/// `block_on`). Set after any `uid`/`gid` change of `command` (a change of credentials
/// clears it; std runs `pre_exec` hooks after those).
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
    // is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// The `emporium` binary: `server`, or `emporium` next to this executable.
pub fn server_bin(server: Option<PathBuf>) -> PathBuf {
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
pub fn spawn_server(
    bin: &Path,
    data: &Path,
    addr: SocketAddr,
    env: &[(&str, String)],
) -> ChildGuard {
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

pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

pub async fn stop_server(child: &mut Child) {
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
