//! Costs that must not grow with the shop (issue 12): the review purchase check reads the
//! customer's own orders, not every order of every store.

use crate::helpers::*;
use emporium::{
    domain::{
        ids::{OrderId, UserId},
        order::Order,
    },
    persistence::{ProductWrite, Storage, committer::Committer, data_dir::DataDir},
};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

/// Orders of other customers written beside the buyer's: enough that reading them all
/// costs several milliseconds per review (in the debug build the tests run).
const OTHER_ORDERS: usize = 200_000;

/// The median time of `runs` calls of `call`.
async fn median<F, Fut>(runs: usize, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        call().await;
        times.push(started.elapsed());
    }
    times.sort();
    times[runs / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_purchase_check_costs_the_same_with_two_hundred_thousand_other_orders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path(), &[]);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 50).await;
    let buyer = crate::reviews::buyer(&app, &[&product], "delivered").await;
    server.kill_9();

    // Many delivered orders of the same product by other customers, written offline.
    {
        let data_dir = DataDir::open(dir.path()).expect("data dir");
        let storage = Storage::open_in(&data_dir, Default::default()).expect("storage");
        let delivered: Order = storage
            .orders()
            .map(|o| o.expect("an order"))
            .next()
            .expect("the buyer's order");
        let committer = Committer::start(storage.clone());
        for batch in 0..OTHER_ORDERS / 5_000 {
            let mut write = ProductWrite::default();
            for i in 0..5_000 {
                let mut order = delivered.clone();
                order.id = OrderId::generate();
                order.number = (batch * 5_000 + i + 10) as u64;
                order.customer_id = Some(UserId::generate());
                write.order(&order).expect("encode an order");
            }
            committer.write_durable(write).await.expect("durable");
        }
        storage.checkpoint().expect("checkpoint");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while DataDir::open(dir.path())
        .ok()
        .and_then(|d| Storage::open_in(&d, Default::default()).ok())
        .is_none()
    {
        assert!(Instant::now() < deadline, "data dir still locked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let server = ServerProcess::start(dir.path(), &[]);
    let app = TestApp::remote(server.addr);
    eventually(Duration::from_secs(60), || async {
        app.get("/readyz").await.0 == 200
    })
    .await;
    let stranger = app.customer().await;
    let review = |product: String, token: String, expected: u16| {
        let app = &app;
        async move {
            let (status, body) = app
                .call(
                    Method::POST,
                    &format!("/api/v1/products/{product}/reviews"),
                    Some(&token),
                    Some(json!({"rating": 4})),
                )
                .await;
            assert_eq!(status, expected, "{body}");
        }
    };
    // The same request up to the purchase check: an unknown product is 404 before it.
    let unknown = emporium::domain::ids::ProductId::generate().to_string();
    let baseline = median(15, || review(unknown.clone(), stranger.token.clone(), 404)).await;
    let checked = median(15, || review(product.clone(), stranger.token.clone(), 403)).await;
    assert!(
        checked < baseline * 2 + Duration::from_millis(2),
        "the purchase check took {checked:?} against {baseline:?} without it: it reads every order"
    );
    // And the check still finds the buyer's delivered order among them.
    review(product.clone(), buyer.token.clone(), 201).await;
    server.kill_9();
}
