//! Store insights (docs/API.md §14): figures per period recomputed from the orders API.

use crate::helpers::*;
use chrono::{DateTime, Datelike, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// When `order` entered `status`, if it did.
fn entered(order: &Value, status: &str) -> Option<DateTime<Utc>> {
    order["history"]
        .as_array()?
        .iter()
        .find(|h| h["status"] == status)
        .map(|h| at(&h["at"]))
}

/// The provider-made refunds of `order` (`payment.refunds` with a transaction): time, amount.
fn partial_refunds(order: &Value) -> Vec<(DateTime<Utc>, i64)> {
    order["payment"]["refunds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == "succeeded")
        .map(|r| {
            (
                at(&r["at"]),
                r["amount"]["amount"].as_i64().expect("amount"),
            )
        })
        .collect()
}

/// The figures of `[from, to)` recomputed from the orders (the contract's definitions:
/// revenue when confirmed, a cancellation in its own hour with what it refunded, every
/// partial refund at its time).
fn recompute(orders: &[Value], from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    let within = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t >= from && t < to);
    let total = |o: &Value| o["total"]["amount"].as_i64().expect("total");
    let confirmed: Vec<&Value> = orders
        .iter()
        .filter(|o| within(entered(o, "confirmed")))
        .collect();
    let revenue: i64 = confirmed.iter().map(|o| total(o)).sum();
    let cancelled: Vec<&Value> = orders
        .iter()
        .filter(|o| o["status"] == "cancelled" && within(entered(o, "cancelled")))
        .collect();
    let partial: i64 = orders
        .iter()
        .flat_map(partial_refunds)
        .filter(|(t, _)| within(Some(*t)))
        .map(|(_, amount)| amount)
        .sum();
    // A cancellation refunds what the partial refunds left.
    let at_cancellation: i64 = cancelled
        .iter()
        .filter(|o| o["payment"]["status"] == "refunded")
        .map(|o| total(o) - partial_refunds(o).iter().map(|(_, a)| a).sum::<i64>())
        .sum();
    let refunds = partial + at_cancellation;
    // A customer is new in the span holding their first confirmed order.
    let mut firsts: std::collections::BTreeMap<String, DateTime<Utc>> = Default::default();
    for o in orders {
        if let (Some(c), Some(t)) = (o["customer_id"].as_str(), entered(o, "confirmed")) {
            let first = firsts.entry(c.to_owned()).or_insert(t);
            *first = (*first).min(t);
        }
    }
    let new_customers = firsts.values().filter(|t| within(Some(**t))).count();
    let count = confirmed.len() as i64;
    json!({
        "orders": count,
        "revenue": revenue,
        "refunds": refunds,
        "net_revenue": revenue - refunds,
        "average_order_value": if count > 0 { (revenue as f64 / count as f64).round() as i64 } else { 0 },
        "new_customers": new_customers,
        "cancelled": cancelled.len(),
    })
}

/// Asks `store`'s insights for `[from, to)` per day, week and month, checks every period and
/// the totals against [`recompute`] over `orders`, and answers the three answers.
async fn assert_equal_to_recomputation(
    app: &TestApp,
    store: &str,
    orders: &[Value],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Value> {
    let mut answers = Vec::new();
    for granularity in ["day", "week", "month"] {
        let query = format!(
            "/api/v1/stores/{store}/insights?from={}&to={}&granularity={granularity}",
            urlencode(&from.to_rfc3339()),
            urlencode(&to.to_rfc3339())
        );
        let (status, answer) = app.admin_get(&query).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["currency"], "USD");
        let series = answer["series"].as_array().expect("series");
        let mut previous: Option<DateTime<Utc>> = None;
        for period in series {
            let start = at(&period["period_start"]);
            assert_eq!(
                (start.hour_of_day(), start.minute_of_hour()),
                (0, 0),
                "{start}"
            );
            match granularity {
                "week" => assert_eq!(start.weekday(), chrono::Weekday::Mon),
                "month" => assert_eq!(start.day(), 1),
                _ => {}
            }
            if let Some(previous) = previous {
                assert!(start > previous);
            }
            previous = Some(start);
            let end = series
                .iter()
                .map(|p| at(&p["period_start"]))
                .find(|s| *s > start)
                .unwrap_or(to)
                .min(to);
            assert_eq!(
                amounts(period),
                recompute(orders, start.max(from), end),
                "{granularity} {start}"
            );
        }
        let days = (to - from).num_days();
        let expected_periods = match granularity {
            "day" => days + 1..=days + 2,
            "week" => days / 7 + 1..=days / 7 + 3,
            _ => days / 31 + 1..=days / 28 + 2,
        };
        assert!(
            expected_periods.contains(&(series.len() as i64)),
            "{granularity}: {}",
            series.len()
        );
        assert_eq!(amounts(&answer["totals"]), recompute(orders, from, to));
        answers.push(answer);
    }
    answers
}

/// An answer's figures with money as plain amounts, for comparing with [`recompute`].
fn amounts(figures: &Value) -> Value {
    let mut out = json!({});
    for field in ["orders", "new_customers", "cancelled"] {
        out[field] = figures[field].clone();
    }
    for field in ["revenue", "refunds", "net_revenue", "average_order_value"] {
        assert_eq!(figures[field]["currency"], "USD", "{figures}");
        out[field] = figures[field]["amount"].clone();
    }
    out
}

#[tokio::test]
async fn figures_per_day_week_and_month_equal_a_recomputation_from_the_orders() {
    let app = spawn_app_with(|c| c.discovery.views_flush_ms = 100).await;
    let store = app.create_store().await;
    let shirt = app.create_product(&store, 50).await;
    let mug = app.create_product(&store, 50).await;
    let (alice, bob) = (app.customer().await, app.customer().await);
    let mut placed = Vec::new();
    for (who, product, quantity, card) in [
        (&alice, &shirt, 2, "tok_visa"),
        (&bob, &mug, 1, "tok_visa"),
        (&alice, &mug, 3, "tok_visa"),
        (&bob, &shirt, 1, "tok_chargeDeclined"),
    ] {
        let cart = app.cart_with(&who.token, product, quantity).await;
        let (_, order) = app.checkout(&who.token, &cart, card).await;
        let id = order["id"].as_str().or(order["order_id"].as_str());
        placed.push(
            id.unwrap_or_else(|| panic!("no order in {order}"))
                .to_owned(),
        );
    }
    // Bob's first order is cancelled (and refunded).
    let (status, body) = app.cancel_order(&placed[1], &bob.token).await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..8 {
        let (status, _) = app.get(&format!("/api/v1/products/{shirt}")).await;
        assert_eq!(status, 200);
    }

    let now = Utc::now();
    let from = now - Duration::days(40);
    let to = now + Duration::hours(1);
    let (_, list) = app
        .admin_get(&format!("/api/v1/orders?store_id={store}&per_page=100"))
        .await;
    let orders = list["items"].as_array().expect("orders").clone();
    assert_eq!(orders.len(), 4, "{list}");

    for answer in assert_equal_to_recomputation(&app, &store, &orders, from, to).await {
        // Two confirmed orders remain counted for revenue, plus the cancelled one's.
        assert_eq!(answer["totals"]["orders"], 3);
        assert_eq!(answer["totals"]["cancelled"], 1);
        assert_eq!(answer["totals"]["new_customers"], 2);
        assert_eq!(answer["top_products"][0]["product_id"], json!(mug));
        assert_eq!(answer["top_products"][0]["units"], 4);
    }

    // The funnel: 8 views, 4 carts filled, 4 checkouts, 3 confirmed.
    eventually(std::time::Duration::from_secs(5), || async {
        let (_, answer) = app
            .admin_get(&format!("/api/v1/stores/{store}/insights"))
            .await;
        answer["funnel"]
            == json!({"product_views": 8, "cart_adds": 4, "checkouts": 4, "orders_confirmed": 3,
                      "conversion_rate": 0.375})
    })
    .await;
}

/// A week and a half of trade written on its own days: the real binary restarted on the same
/// data dir with its clock set back (`EMPORIUM_FAULT=clock_offset_ms`), a later day each time.
/// Orders confirmed on one day are cancelled or partly refunded on later ones; every day,
/// week and month, the totals and the funnel equal a recomputation from the orders API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_week_with_cancellations_and_refunds_adds_up_per_day_week_and_month() {
    const DAY_MS: i64 = 24 * 3_600_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let start_on = |days_ago: i64| {
        let fault = format!("clock_offset_ms:{}", -days_ago * DAY_MS);
        ServerProcess::start(
            dir.path(),
            &[
                ("EMPORIUM_FAULT", fault.as_str()),
                ("EMPORIUM_DISCOVERY__VIEWS_FLUSH_MS", "100"),
            ],
        )
    };
    let refund = |app: &TestApp, order: &str, amount: i64| {
        let (app, order) = (TestApp::remote(app.addr), order.to_owned());
        async move {
            let (status, body) = app
                .admin_post(
                    &format!("/api/v1/orders/{order}/refunds"),
                    json!({"amount": {"amount": amount, "currency": "USD"}, "reason": "late delivery"}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
    };
    // One order of `quantity` × `product` for `who`; answers its id.
    async fn order(
        app: &TestApp,
        who: &Shopper,
        product: &str,
        quantity: i64,
        card: &str,
    ) -> String {
        let cart = app.cart_with(&who.token, product, quantity).await;
        let (status, order) = app.checkout(&who.token, &cart, card).await;
        assert!(status == 201 || status == 402, "{status} {order}");
        order["id"]
            .as_str()
            .or(order["order_id"].as_str())
            .unwrap_or_else(|| panic!("no order in {order}"))
            .to_owned()
    }
    async fn cancel(app: &TestApp, order: &str) {
        let (status, body) = app.cancel_order(order, ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{body}");
    }
    async fn view(app: &TestApp, product: &str, times: usize) {
        for _ in 0..times {
            let (status, _) = app.get(&format!("/api/v1/products/{product}")).await;
            assert_eq!(status, 200);
        }
    }

    // Nine days ago: the shop opens; two orders confirmed, one declined.
    let server = start_on(9);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    let store = app.create_store().await;
    let shirt = app.create_product(&store, 100).await;
    let mug = app.create_product(&store, 100).await;
    let (alice, bob, carol) = (
        app.customer().await,
        app.customer().await,
        app.customer().await,
    );
    let o1 = order(&app, &alice, &shirt, 2, "tok_visa").await;
    let o2 = order(&app, &bob, &mug, 1, "tok_visa").await;
    order(&app, &carol, &shirt, 1, "tok_chargeDeclined").await;
    view(&app, &shirt, 3).await;
    server.terminate();

    // Six days ago: Carol's first confirmed order; Bob's order of day -9 is cancelled.
    let server = start_on(6);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    let o4 = order(&app, &carol, &mug, 2, "tok_visa").await;
    order(&app, &alice, &mug, 1, "tok_visa").await;
    cancel(&app, &o2).await;
    view(&app, &mug, 2).await;
    server.terminate();

    // Four days ago: part of Carol's order is refunded; Bob buys again.
    let server = start_on(4);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    refund(&app, &o4, 500).await;
    order(&app, &bob, &shirt, 3, "tok_visa").await;
    view(&app, &shirt, 1).await;
    server.terminate();

    // Yesterday: a partial refund of day -9's order; Carol's order is cancelled (the rest of
    // it is refunded); Alice buys again.
    let server = start_on(1);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    refund(&app, &o1, 300).await;
    cancel(&app, &o4).await;
    let o7 = order(&app, &alice, &shirt, 1, "tok_visa").await;
    server.terminate();

    // Today: Alice's order of yesterday is cancelled, Bob buys a mug.
    let server = start_on(0);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    cancel(&app, &o7).await;
    order(&app, &bob, &mug, 1, "tok_visa").await;
    view(&app, &mug, 2).await;

    let (_, list) = app
        .admin_get(&format!("/api/v1/orders?store_id={store}&per_page=100"))
        .await;
    let orders = list["items"].as_array().expect("orders").clone();
    assert_eq!(orders.len(), 8, "{list}");
    // The days really are apart: the orders were confirmed over nine days.
    let confirmed: Vec<DateTime<Utc>> = orders
        .iter()
        .filter_map(|o| entered(o, "confirmed"))
        .collect();
    assert_eq!(confirmed.len(), 7);
    let spread = *confirmed.iter().max().expect("max") - *confirmed.iter().min().expect("min");
    assert!(spread >= Duration::days(8), "confirmed over {spread}");

    let now = Utc::now();
    let (from, to) = (now - Duration::days(12), now + Duration::hours(1));
    let answers = assert_equal_to_recomputation(&app, &store, &orders, from, to).await;
    for answer in &answers {
        let totals = &answer["totals"];
        assert_eq!(totals["orders"], 7, "{totals}");
        assert_eq!(totals["cancelled"], 3, "{totals}");
        assert_eq!(totals["new_customers"], 3, "{totals}");
    }
    // Every day with trade shows it: days -9, -6, -4, -1 and today.
    let busy_days = answers[0]["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter(|p| p["orders"] != 0 || p["refunds"]["amount"] != 0)
        .count();
    assert!((5..=7).contains(&busy_days), "{busy_days}: {}", answers[0]);
    // Views, cart adds, checkouts and confirmations of every day (each day's server stopped
    // cleanly, so its counters were saved).
    let (_, answer) = app
        .admin_get(&format!(
            "/api/v1/stores/{store}/insights?from={}&to={}",
            urlencode(&from.to_rfc3339()),
            urlencode(&to.to_rfc3339())
        ))
        .await;
    assert_eq!(
        answer["funnel"],
        json!({"product_views": 8, "cart_adds": 8, "checkouts": 8, "orders_confirmed": 7,
               "conversion_rate": 0.875}),
        "{answer}"
    );
    server.terminate();
}

#[tokio::test]
async fn insights_are_for_the_store_s_staff_and_check_their_parameters() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let path = format!("/api/v1/stores/{store}/insights");
    let staff = app.staff(&store).await;
    let (status, _) = app.call(Method::GET, &path, Some(&staff.token), None).await;
    assert_eq!(status, 200);
    let other = app.staff(&app.create_store().await).await;
    let (status, _) = app.call(Method::GET, &path, Some(&other.token), None).await;
    assert_eq!(status, 403);
    let customer = app.customer().await;
    let (status, _) = app
        .call(Method::GET, &path, Some(&customer.token), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.get(&path).await;
    assert_eq!(status, 401);
    for bad in [
        "granularity=hour",
        "from=yesterday",
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from=1990-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&granularity=day",
    ] {
        let (status, body) = app.admin_get(&format!("{path}?{bad}")).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, empty) = app
        .admin_get(&format!(
            "{path}?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&granularity=month"
        ))
        .await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["series"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        empty["series"][1]["period_start"],
        "2026-02-01T00:00:00.000Z"
    );
    assert_eq!(empty["totals"]["revenue"]["amount"], 0);
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

trait Clock {
    fn hour_of_day(&self) -> u32;
    fn minute_of_hour(&self) -> u32;
}

impl Clock for DateTime<Utc> {
    fn hour_of_day(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
    fn minute_of_hour(&self) -> u32 {
        chrono::Timelike::minute(self)
    }
}

/// The Insights page of the demo (the real binary with `--demo`, which places two weeks of
/// orders on their days): a staff member signs in and sees the week drawn as SVG bars, the
/// figures and the top products.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_insights_page_draws_the_demo_shop_s_past_week_in_chromium() {
    use crate::browser::{Driver, click, fill, open, programs, screenshot, wait_until};
    use futures_util::FutureExt;
    use std::panic::AssertUnwindSafe;
    let Some(programs) = programs() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start_with_args(dir.path(), &["--demo"], &[]);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    // The API agrees: a week of confirmed orders in the retail store.
    let (_, stores) = app.get("/api/v1/stores").await;
    let retail = stores["items"]
        .as_array()
        .expect("stores")
        .iter()
        .find(|s| s["name"] == "Northfold Outfitters")
        .map(id_of)
        .expect("the demo's retail store");
    let (status, week) = app
        .admin_get(&format!("/api/v1/stores/{retail}/insights"))
        .await;
    assert_eq!(status, 200, "{week}");
    let days_with_orders = week["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter(|p| p["orders"] != 0)
        .count();
    assert!(days_with_orders >= 5, "{week}");

    let mut driver = Driver::start(&programs).await;
    let browser = driver.session(1280, 900).await;
    let outcome = AssertUnwindSafe(async {
        open(&browser, &app.url("/insights")).await;
        fill(&browser, "#email", "staff-retail@demo.emporium").await;
        fill(&browser, "#password", "demo-password").await;
        click(&browser, "#signin button[type=submit]").await;
        wait_until(
            &browser,
            "the revenue chart to have a bar on at least five days",
            "[...document.querySelectorAll('#chart-revenue rect.bar-0')].filter(r => Number(r.getAttribute('height')) > 0).length >= 5",
        )
        .await;
        wait_until(
            &browser,
            "the orders chart",
            "[...document.querySelectorAll('#chart-orders rect')].some(r => Number(r.getAttribute('height')) > 0)",
        )
        .await;
        wait_until(
            &browser,
            "the top products",
            "document.querySelectorAll('#top-products li').length >= 3",
        )
        .await;
        screenshot(&browser, "insights-demo").await;
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    server.terminate();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// `store:{id}:metrics`: a snapshot, then `metrics.updated` within a second of an order and
/// never more than one a second under a burst of orders.
#[tokio::test]
async fn live_metrics_follow_orders_at_most_once_a_second() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 100).await;
    let staff = app.staff(&store).await;
    let mut ws = app.ws_as(&staff.token).await;
    let subscribed = ws.subscribe(&format!("store:{store}:metrics")).await;
    assert_eq!(subscribed["snapshot"]["orders_today"], 0, "{subscribed}");
    assert_eq!(subscribed["snapshot"]["open_orders"], 0);

    let customer = app.customer().await;
    let placed = std::time::Instant::now();
    let cart = app.cart_with(&customer.token, &product, 1).await;
    let (status, _) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201);
    let update = loop {
        let frame = ws.next_event().await;
        assert_eq!(frame["event"], "metrics.updated", "{frame}");
        if frame["data"]["orders_today"] == 1 {
            break frame;
        }
    };
    assert!(placed.elapsed() < std::time::Duration::from_millis(2500));
    assert_eq!(
        update["data"]["revenue_today"],
        json!({"amount": 1999, "currency": "USD"})
    );
    assert_eq!(update["data"]["open_orders"], 1);

    // A burst of orders over about two seconds: at most one frame per second.
    let started = std::time::Instant::now();
    for _ in 0..10 {
        let (status, body) = app
            .admin_post(
                "/api/v1/orders",
                json!({"store_id": store, "items": [{"product_id": product, "quantity": 1}],
                       "payment": {"method": "card", "token": "tok_visa"}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut frames = Vec::new();
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(2500);
    while let Ok(frame) = tokio::time::timeout_at(until, ws.next_json()).await {
        // When the server sent it (frames queue while the burst is being placed).
        frames.push((at(&frame["at"]), frame["data"]["orders_today"].clone()));
        if frame["data"]["orders_today"] == 11 {
            break;
        }
    }
    assert_eq!(
        frames.last().map(|f| f.1.clone()),
        Some(json!(11)),
        "{frames:?}"
    );
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        frames.len() as f64 <= seconds.ceil() + 1.0,
        "{} frames in {seconds:.1} s",
        frames.len()
    );
    for pair in frames.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= Duration::milliseconds(800),
            "{frames:?}"
        );
    }

    // Customers may not watch it.
    let mut other = app.ws_as(&customer.token).await;
    let refused = other.try_subscribe(&format!("store:{store}:metrics")).await;
    assert_eq!(refused["type"], "error", "{refused}");
}
