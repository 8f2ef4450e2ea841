//! Exchange rates and `?currency=` display prices (docs/API.md §14).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn set_rates(app: &TestApp, body: Value) -> (u16, Value) {
    app.admin_put("/api/v1/admin/exchange-rates", body).await
}

async fn store_in(app: &TestApp, currency: &str) -> String {
    let (status, store) = app
        .admin_post(
            "/api/v1/stores",
            json!({"name": format!("{currency} shop"), "kind": "retail", "currency": currency}),
        )
        .await;
    assert_eq!(status, 201, "{store}");
    id_of(&store)
}

async fn product_priced(app: &TestApp, store: &str, amount: i64, currency: &str) -> String {
    let (status, product) = app
        .admin_post(
            "/api/v1/products",
            json!({"store_id": store, "sku": format!("FX-{}", rand_suffix()), "name": "Priced",
                   "price": {"amount": amount, "currency": currency}, "initial_stock": 5}),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    id_of(&product)
}

#[tokio::test]
async fn admins_set_rates_everyone_reads_them_and_bad_rates_are_refused_by_field() {
    let app = spawn_app().await;
    let (status, empty) = app.get("/api/v1/admin/exchange-rates").await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["rates"], json!({}));
    assert!(empty["updated_at"].is_null());

    let (status, rates) = set_rates(
        &app,
        json!({"base": "USD", "rates": {"EUR": "0.92", "JPY": "151.30"}}),
    )
    .await;
    assert_eq!(status, 200, "{rates}");
    assert_eq!(rates["rates"], json!({"EUR": "0.92", "JPY": "151.30"}));
    assert_rfc3339_millis(&rates["updated_at"]);
    let (_, read) = app.get("/api/v1/admin/exchange-rates").await;
    assert_eq!(read, rates);

    let customer = app.customer().await;
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/v1/admin/exchange-rates",
            Some(&customer.token),
            Some(json!({"base": "USD", "rates": {}})),
        )
        .await;
    assert_eq!(status, 403);

    let refused = expect_problem(
        app.admin_request(Method::PUT, "/api/v1/admin/exchange-rates")
            .json(&json!({"base": "USD", "rates": {"EUR": "-1", "GBP": "abc", "XYZ": "1"}})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        error_fields(&refused),
        ["rates.EUR", "rates.GBP", "rates.XYZ"]
    );
    // Nothing of a refused change was applied.
    let (_, after) = app.get("/api/v1/admin/exchange-rates").await;
    assert_eq!(after, rates);
}

#[tokio::test]
async fn prices_convert_half_to_even_to_the_target_exponent_and_through_the_base() {
    let app = spawn_app().await;
    let (status, _) = set_rates(
        &app,
        json!({"base": "USD", "rates": {"EUR": "0.92", "GBP": "0.79", "JPY": "150.5", "BHD": "0.376"}}),
    )
    .await;
    assert_eq!(status, 200);
    let usd = store_in(&app, "USD").await;
    let product = product_priced(&app, &usd, 100, "USD").await;

    let (status, jpy) = app
        .get(&format!("/api/v1/products/{product}?currency=JPY"))
        .await;
    assert_eq!(status, 200, "{jpy}");
    // 1.00 USD × 150.5 = 150.5 JPY → 150 (half to even; yen have no minor unit).
    assert_eq!(jpy["display_price"]["amount"], 150);
    assert_eq!(jpy["display_price"]["currency"], "JPY");
    assert_eq!(jpy["display_price"]["rate"], "150.5");
    assert_rfc3339_millis(&jpy["display_price"]["rate_at"]);
    // The price itself stays the store's.
    assert_eq!(jpy["price"], json!({"amount": 100, "currency": "USD"}));

    let dear = product_priced(&app, &usd, 1999, "USD").await;
    let (_, bhd) = app
        .get(&format!("/api/v1/products/{dear}?currency=bhd"))
        .await;
    // 19.99 × 0.376 = 7.51624 BHD → 7.516 (three places) = 7516 fils.
    assert_eq!(bhd["display_price"]["amount"], 7516, "{bhd}");

    // A EUR store's price shown in GBP goes through the base: 92.00 EUR = 100 USD = 79.00 GBP.
    let eur = store_in(&app, "EUR").await;
    let euro_product = product_priced(&app, &eur, 9200, "EUR").await;
    let (_, gbp) = app
        .get(&format!("/api/v1/products/{euro_product}?currency=GBP"))
        .await;
    assert_eq!(gbp["display_price"]["amount"], 7900, "{gbp}");

    // Lists convert every item and keep their other parameters.
    let (status, page) = app
        .get(&format!(
            "/api/v1/products?store_id={usd}&currency=EUR&per_page=1"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["per_page"], 1);
    assert!(
        page["items"][0]["display_price"]["amount"].is_i64(),
        "{page}"
    );

    // Without `currency` nothing is added.
    let (_, plain) = app.get(&format!("/api/v1/products/{product}")).await;
    assert!(plain.get("display_price").is_none());
}

#[tokio::test]
async fn an_unknown_code_or_a_missing_rate_is_a_422() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;
    let unknown = expect_problem(
        app.client
            .get(app.url(&format!("/api/v1/products/{product}?currency=XYZ"))),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&unknown), ["currency"]);
    // No rates at all yet.
    expect_problem(
        app.client
            .get(app.url(&format!("/api/v1/products/{product}?currency=EUR"))),
        422,
        "no_exchange_rate",
    )
    .await;
    let (status, _) = set_rates(&app, json!({"base": "USD", "rates": {"EUR": "0.92"}})).await;
    assert_eq!(status, 200);
    let problem = expect_problem(
        app.client
            .get(app.url(&format!("/api/v1/products/{product}?currency=JPY"))),
        422,
        "no_exchange_rate",
    )
    .await;
    assert_eq!(
        (problem["from"].clone(), problem["to"].clone()),
        (json!("USD"), json!("JPY"))
    );
}

#[tokio::test]
async fn carts_orders_and_search_show_converted_totals_while_the_charge_stays_in_the_store_currency()
 {
    let app = spawn_app().await;
    let (status, _) = set_rates(&app, json!({"base": "USD", "rates": {"EUR": "0.5"}})).await;
    assert_eq!(status, 200);
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let customer = app.customer().await;
    let cart = app.cart_with(&customer.token, &product, 2).await;

    let (status, shown) = app
        .call(
            Method::GET,
            &format!("/api/v1/carts/{cart}?currency=EUR"),
            Some(&customer.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    // 2 × 19.99 USD = 39.98 USD × 0.5 = 19.99 EUR.
    assert_eq!(shown["display_subtotal"]["amount"], 1999, "{shown}");

    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let order_id = id_of(&order);
    let (status, shown) = app
        .call(
            Method::GET,
            &format!("/api/v1/orders/{order_id}?currency=EUR"),
            Some(&customer.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["display_total"]["amount"], 1999);
    assert_eq!(shown["display_total"]["currency"], "EUR");
    assert_eq!(shown["total"], json!({"amount": 3998, "currency": "USD"}));
    let ledger = app.ledger(&order_id).await;
    assert_eq!(
        ledger[0]["amount"],
        json!({"amount": 3998, "currency": "USD"})
    );

    let (status, list) = app
        .call(
            Method::GET,
            "/api/v1/orders?currency=EUR",
            Some(&customer.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["display_total"]["amount"], 1999);

    eventually(std::time::Duration::from_secs(5), || async {
        let (status, hits) = app
            .get(&format!("/api/v1/search?store_id={store}&currency=EUR"))
            .await;
        status == 200 && hits["items"][0]["product"]["display_price"]["amount"] == 1000
    })
    .await;
}

/// The storefront's currency picker lists the currencies with a rate and shows each card's
/// converted price beside the store's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_storefront_shows_converted_prices_beside_the_store_price_in_chromium() {
    use crate::browser::{Driver, eval, open, programs, screenshot, wait_until};
    use futures_util::FutureExt;
    use std::panic::AssertUnwindSafe;
    let Some(programs) = programs() else {
        return;
    };
    let app = spawn_app().await;
    let (status, _) = set_rates(&app, json!({"base": "USD", "rates": {"EUR": "0.92"}})).await;
    assert_eq!(status, 200);
    let store = app.create_store().await;
    let product = app.create_product(&store, 3).await;

    let mut driver = Driver::start(&programs).await;
    let browser = driver.session(1280, 900).await;
    let outcome = AssertUnwindSafe(async {
        open(&browser, &app.url(&format!("/?store={store}"))).await;
        let card = format!("li[data-product-id='{product}']");
        wait_until(
            &browser,
            "the card to show",
            &format!("document.querySelector({}) !== null", json!(card)),
        )
        .await;
        wait_until(
            &browser,
            "the picker to offer EUR",
            "[...document.querySelectorAll('#currency-select option')].some(o => o.value === 'EUR')",
        )
        .await;
        eval(
            &browser,
            "(() => { const s = document.querySelector('#currency-select'); s.value = 'EUR'; \
             s.dispatchEvent(new Event('change')); return true; })()",
        )
        .await;
        // 19.99 USD × 0.92 = 18.3908 → 18.39 EUR.
        wait_until(
            &browser,
            "the converted price",
            &format!(
                "(document.querySelector({})?.textContent || '').includes('18.39')",
                json!(format!("{card} .display-price"))
            ),
        )
        .await;
        let own = eval(
            &browser,
            &format!(
                "document.querySelector({}).textContent",
                json!(format!("{card} .price"))
            ),
        )
        .await;
        assert!(own.as_str().is_some_and(|t| t.contains("19.99")), "{own}");
        screenshot(&browser, "storefront-currency-picker").await;
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
