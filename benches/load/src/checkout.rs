//! `checkout`: C customers place 3-item `tok_visa` orders; every order and ledger charge is
//! verified; then the same orders as one PostgreSQL transaction each.

use crate::{common::*, postgres};
use axum::http::Method;
use serde_json::{Value, json};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

pub async fn run(
    customers: usize,
    secs: f64,
    catalog: usize,
    pg_rows: i32,
    options: &postgres::Options,
) {
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
    let ledger = ledger(&mut http).await;
    let mut charges: std::collections::HashMap<String, Vec<i64>> = Default::default();
    for e in &ledger {
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
    // The same orders as one PostgreSQL transaction each, from as many connections.
    let mut pg = postgres::baseline(options, "checkout", |cluster| {
        postgres::checkout(cluster, customers, secs, pg_rows)
    })
    .await;
    let mut rows = vec![vec![
        format!("emporium, HTTP, {customers} customers"),
        orders.len().to_string(),
        errors.0.to_string(),
        format!("{elapsed:.2}"),
        format!("{:.0}", orders.len() as f64 / elapsed),
        format!("{:.2}", lat.pct_ms(50.0)),
        format!("{:.2}", lat.pct_ms(99.0)),
        format!("{:.2}", lat.pct_ms(99.9)),
    ]];
    if let Some(pg) = pg.as_mut() {
        rows.push(vec![
            format!("{}, {customers} connections", pg.version),
            pg.ok.to_string(),
            pg.errors.to_string(),
            format!("{:.2}", pg.elapsed.as_secs_f64()),
            format!("{:.0}", pg.per_sec()),
            format!("{:.2}", pg.latencies.pct_ms(50.0)),
            format!("{:.2}", pg.latencies.pct_ms(99.0)),
            format!("{:.2}", pg.latencies.pct_ms(99.9)),
        ]);
        match pg.pgbench.as_mut() {
            Some(Ok(bench)) => rows.push(vec![
                format!("{}, pgbench -c {customers} -j 2", bench.version),
                bench.ok.to_string(),
                bench.errors.to_string(),
                format!("{:.2}", bench.elapsed.as_secs_f64()),
                format!("{:.0}", bench.per_sec()),
                format!("{:.2}", bench.latencies.pct_ms(50.0)),
                format!("{:.2}", bench.latencies.pct_ms(99.0)),
                format!("{:.2}", bench.latencies.pct_ms(99.9)),
            ]),
            Some(Err(why)) => println!("pgbench cross-check: skipped ({why})"),
            None => {}
        }
    }
    table(
        "checkout",
        &[
            "target", "orders", "errors", "secs", "orders/s", "p50 ms", "p99 ms", "p99.9 ms",
        ],
        &rows,
    );
    if let Some(pg) = pg.as_mut() {
        println!(
            "ratio emporium/PostgreSQL orders/s: {:.2}, p99 {:.2} (PostgreSQL: one transaction \
             per order: 3 guarded `UPDATE products SET available = available - q WHERE id = $1 \
             AND available >= q` on random rows of {pg_rows}, then INSERT order, its 3 items \
             and a payment; no HTTP; check: {}{})",
            orders.len() as f64 / elapsed / pg.per_sec(),
            lat.pct_ms(99.0) / pg.latencies.pct_ms(99.0).max(0.001),
            pg.check,
            pg.first_error
                .as_ref()
                .map_or(String::new(), |e| format!("; first error: {e}"))
        );
    }
    if let Some(Some(Ok(bench))) = pg.as_ref().map(|pg| &pg.pgbench) {
        println!(
            "ratio emporium/pgbench orders/s: {:.2} (the same transaction from PostgreSQL's \
             C client, `pgbench -n -M prepared`, on the same cluster right after)",
            orders.len() as f64 / elapsed / bench.per_sec()
        );
    }
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

/// Every ledger entry: `GET /api/v1/admin/payments` page by page (100 per page, oldest first).
async fn ledger(http: &mut Http) -> Vec<Value> {
    let mut entries = Vec::new();
    for page in 1.. {
        let answer = http
            .admin(
                Method::GET,
                &format!("/api/v1/admin/payments?page={page}&per_page=100"),
                None,
            )
            .await;
        let items = answer["items"].as_array().cloned().unwrap_or_default();
        let last = items.len() < 100;
        entries.extend(items);
        if last {
            break;
        }
    }
    entries
}
