//! Product actors are bounded: idle ones passivate, and `actors.max_active_products` caps how
//! many run at once, without losing state (the next message re-activates from disk) and
//! without stopping an actor whose holds still need its expiry timer.
//!
//! These tests run the real binary: the `emporium_actors_active` gauge is process-wide, so
//! an in-process server would see other tests' actors.

use crate::helpers::*;
use std::time::Duration;

/// `emporium_actors_active{kind="product"}` from the server's `/metrics`.
async fn product_actors(client: &reqwest::Client, server: &ServerProcess) -> u64 {
    let text = client
        .get(format!("http://{}/metrics", server.addr))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find(|l| l.starts_with("emporium_actors_active{") && l.contains("kind=\"product\""))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no emporium_actors_active{{kind=\"product\"}} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_passivates_the_oldest_quiet_actors_and_they_come_back_with_their_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[("EMPORIUM_ACTORS__MAX_ACTIVE_PRODUCTS", "4")]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let mut products = Vec::new();
    for _ in 0..12 {
        products.push(create_product(&client, addr, &store, 10).await);
    }
    // The first ten become active and then quiet.
    for product in &products[..10] {
        adjust_stock(&client, addr, product, 1).await;
    }
    assert_eq!(product_actors(&client, &server).await, 10);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    // New activations push the count over the cap: the quiet ones are passivated.
    for product in &products[10..] {
        adjust_stock(&client, addr, product, 1).await;
    }
    eventually(Duration::from_secs(10), || async {
        product_actors(&client, &server).await <= 4
    })
    .await;
    // Every product still has its writes: a re-activated actor loads them from disk.
    for product in &products {
        let adjusted = adjust_stock(&client, addr, product, 1).await;
        assert_eq!(adjusted["on_hand"], 12, "{adjusted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_actors_passivate_but_one_with_a_hold_stays_until_its_hold_lapses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[("EMPORIUM_ACTORS__IDLE_SECONDS", "1")]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let idle = create_product(&client, addr, &store, 10).await;
    let held = create_product(&client, addr, &store, 10).await;
    adjust_stock(&client, addr, &idle, 1).await;
    reserve_stock(&client, addr, &held, 3, Some(4)).await;
    assert_eq!(product_actors(&client, &server).await, 2);
    // The idle one goes within a couple of sweeps; the holder stays while it holds.
    eventually(Duration::from_secs(4), || async {
        product_actors(&client, &server).await == 1
    })
    .await;
    let inventory = inventory_at(&client, addr, &held).await;
    assert_eq!(inventory["reserved"], 3, "{inventory}");
    // Its timer releases the hold; then it passivates too.
    eventually(Duration::from_secs(10), || async {
        inventory_at(&client, addr, &held).await["reserved"] == 0
    })
    .await;
    eventually(Duration::from_secs(5), || async {
        product_actors(&client, &server).await == 0
    })
    .await;
    assert_eq!(inventory_at(&client, addr, &idle).await["on_hand"], 11);
}
