//! `flash-sale`: C connections hold 1 unit each of one hot product until it is gone, against
//! the no-op handler of the same server, a bare axum server, and PostgreSQL's hot row.

use crate::{common::*, postgres};
use axum::http::Method;
use serde_json::json;
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

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

pub async fn run(connections: usize, stock: u64, pg_stock: i32, options: &postgres::Options) {
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
    // PostgreSQL's hot row from the same number of connections, once the server is idle.
    let mut pg = postgres::baseline(options, "hot row", |cluster| {
        postgres::hot_row(cluster, connections, pg_stock)
    })
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
    let mut rows = vec![
        row("emporium holds", &mut sale),
        row("no-op, same server", &mut base),
        row("no-op, bare axum", &mut bare),
    ];
    if let Some(pg) = pg.as_mut() {
        rows.push(vec![
            format!("{}, hot-row UPDATE", pg.version),
            pg.ok.to_string(),
            pg.errors.to_string(),
            format!("{:.2}", pg.elapsed.as_secs_f64()),
            format!("{:.0}", pg.per_sec()),
            format!("{:.2}", pg.latencies.pct_ms(50.0)),
            format!("{:.2}", pg.latencies.pct_ms(99.0)),
            format!("{:.2}", pg.latencies.pct_ms(99.9)),
        ]);
    }
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
    if let Some(pg) = &pg {
        println!(
            "ratio emporium holds/PostgreSQL hot-row UPDATEs per s: {:.2} (PostgreSQL: \
             {connections} connections, one autocommitted `UPDATE products SET available = \
             available - 1 WHERE id = 1 AND available >= 1` each until it updates no row; \
             check: {}{})",
            rate(&sale) / pg.per_sec(),
            pg.check,
            pg.first_error
                .as_ref()
                .map_or(String::new(), |e| format!("; first error: {e}"))
        );
    }
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
