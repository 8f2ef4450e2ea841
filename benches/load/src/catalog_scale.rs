//! `catalog-scale`: P products in a server child process: RSS after creating and after touching
//! each once, and the time from process start to `/readyz` on that data dir.

use crate::common::*;
use axum::{
    body::Body,
    http::{Method, Request},
};
use serde_json::json;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

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

/// Runs `per_item(http, i)` for `0..count` over `connections` connections.
pub async fn in_parallel(
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

pub async fn run(products: usize, connections: usize, server: Option<PathBuf>) {
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
