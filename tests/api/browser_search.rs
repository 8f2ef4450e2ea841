//! The storefront's search in headless Chromium, against the demo catalog: suggestions while
//! typing (mouse and keyboard), a misspelt query corrected with highlighted names, facets that
//! narrow the grid and recount, clearing, escaping of product names, letters-only initials,
//! and live stock badges on cards rendered from search results.
//!
//! Skips like `browser.rs` without Chromium (a failure under `EMPORIUM_REQUIRE_BROWSER=1`).

use crate::browser::{
    Driver, announce, card, click, eval, fill, open, programs, screenshot, text, wait_text,
    wait_until,
};
use crate::helpers::{TestApp, adjust_stock, id_of, spawn_app_with};
use fantoccini::{Client, Locator, key::Key};
use futures_util::FutureExt;
use serde_json::{Value, json};
use std::{panic::AssertUnwindSafe, time::Instant};

/// The demo store named `name`.
async fn store_named(app: &TestApp, name: &str) -> String {
    let (status, stores) = app.get("/api/v1/stores").await;
    assert_eq!(status, 200, "{stores}");
    let store = stores["items"]
        .as_array()
        .expect("stores")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no store {name}: {stores}"));
    id_of(store)
}

/// The ids of the store's products whose name contains `word`.
async fn products_named(app: &TestApp, store_id: &str, word: &str) -> Vec<String> {
    let (status, page) = app
        .get(&format!(
            "/api/v1/products?store_id={store_id}&per_page=100"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|p| p["name"].as_str().is_some_and(|n| n.contains(word)))
        .map(id_of)
        .collect()
}

/// The ids of the cards in the grid, in order.
async fn grid_ids(browser: &Client) -> Value {
    eval(
        browser,
        "[...document.querySelectorAll('#grid li.product')].map((li) => li.dataset.productId)",
    )
    .await
}

/// `{value: count}` of one facet in the sidebar.
async fn facet_counts(browser: &Client, facet: &str) -> Value {
    eval(
        browser,
        &format!(
            "Object.fromEntries([...document.querySelectorAll('#facets [data-facet={facet}] .facet-option')] \
             .filter((o) => o.querySelector('.count')) \
             .map((o) => [o.querySelector('input').value, Number(o.querySelector('.count').textContent)]))"
        ),
    )
    .await
}

/// Types into the search box (after emptying it) and waits for the suggestion list to show
/// something containing `expected`.
async fn type_and_expect_suggestion(browser: &Client, typed: &str, expected: &str) {
    fill(browser, "#search", typed).await;
    wait_until(
        browser,
        &format!("a suggestion with {expected} while typing {typed}"),
        &format!(
            "!document.querySelector('#suggestions').hidden && \
             [...document.querySelectorAll('#suggestions li[role=option]')] \
             .some((li) => li.textContent.includes({}))",
            json!(expected)
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storefront_search_suggests_corrects_typos_and_narrows_by_facets_in_chromium() {
    let Some(programs) = programs() else {
        return;
    };
    let started = Instant::now();
    let app = spawn_app_with(|c| c.demo = true).await;
    let store_id = store_named(&app, "Northfold Outfitters").await;
    let hoodies = products_named(&app, &store_id, "Hoodie").await;
    assert_eq!(hoodies.len(), 2, "the demo has two hoodies");
    // A name a careless page would turn into markup.
    let (status, nasty) = app
        .admin_post(
            "/api/v1/products",
            json!({
                "store_id": store_id, "sku": "MUG-ZEBRA",
                "name": "Zebra <img src=x onerror=\"window.__injected=1\"> Mug",
                "category": "mugs", "brand": "northfold",
                "price": {"amount": 1500, "currency": "USD"}, "initial_stock": 5,
            }),
        )
        .await;
    assert_eq!(status, 201, "{nasty}");
    let (status, arancini) = app
        .admin_post(
            "/api/v1/products",
            json!({
                "store_id": store_id, "sku": "ARANCINI-3", "name": "Arancini (3 pcs)",
                "category": "snacks", "brand": "trattoria",
                "price": {"amount": 800, "currency": "USD"}, "initial_stock": 5,
            }),
        )
        .await;
    assert_eq!(status, 201, "{arancini}");
    let (status, long) = app
        .admin_post(
            "/api/v1/products",
            json!({
                "store_id": store_id, "sku": "FLEECE-LONG",
                "name": "Extraordinarily Comfortable Organic Brushed Fleece Pullover with Kangaroo \
                         Pocket and Ribbed Cuffs, Charcoal Melange, XXL",
                "category": "sweaters", "brand": "highland",
                "price": {"amount": 7900, "currency": "USD"}, "initial_stock": 5,
            }),
        )
        .await;
    assert_eq!(status, 201, "{long}");
    let mut driver = Driver::start(&programs).await;
    let browser = driver.session(1280, 1000).await;
    let outcome = AssertUnwindSafe(async {
        let (status, all) = app
            .get(&format!("/api/v1/search?store_id={store_id}&per_page=1"))
            .await;
        assert_eq!(status, 200, "{all}");
        let everything = all["total"].as_u64().expect("total");
        let everything_text = format!("{everything} products");
        open(&browser, &app.url(&format!("/?store={store_id}"))).await;
        wait_text(&browser, "#result-count", &everything_text).await;
        assert_eq!(
            text(&browser, &format!("{} .thumb", card(&id_of(&arancini)))).await,
            Some("AP".to_owned()),
            "initials are letters only"
        );
        let long_name = format!("{} .product-name", card(&id_of(&long)));
        assert_eq!(
            eval(
                &browser,
                &format!(
                    "(() => {{ const el = document.querySelector(\"{long_name}\"); \
                     const line = parseFloat(getComputedStyle(el).lineHeight); \
                     return [el.getBoundingClientRect().height <= 2 * line + 1, \
                             el.scrollHeight > el.clientHeight]; }})()"
                )
            )
            .await,
            json!([true, true]),
            "a long name is clamped to two lines"
        );

        // Suggestions while typing: products and categories, by mouse.
        type_and_expect_suggestion(&browser, "hoo", "Heavyweight Hoodie").await;
        type_and_expect_suggestion(&browser, "sne", "Canvas Sneakers").await;
        screenshot(&browser, "storefront-search-suggestions").await;
        // Escape closes the list and keeps the words.
        browser
            .find(Locator::Css("#search"))
            .await
            .expect("search box")
            .send_keys(&Key::Escape)
            .await
            .expect("escape");
        wait_until(
            &browser,
            "the suggestions to close",
            "document.querySelector('#suggestions').hidden",
        )
        .await;
        assert_eq!(eval(&browser, "document.querySelector('#search').value").await, json!("sne"));
        // Clicking a category suggestion ticks that category.
        type_and_expect_suggestion(&browser, "hoo", "hoodies").await;
        click(&browser, "#suggestions li[data-kind=category]").await;
        wait_text(&browser, "#result-count", "2 products").await;
        assert_eq!(
            eval(
                &browser,
                "document.querySelector('#facets [data-facet=category] input[value=hoodies]').checked"
            )
            .await,
            json!(true)
        );
        click(&browser, "#clear-filters").await;
        wait_text(&browser, "#result-count", &everything_text).await;

        // Keyboard: down to the first product suggestion, Enter brings that product into view.
        type_and_expect_suggestion(&browser, "hoo", "Heavyweight Hoodie").await;
        let first: Value = eval(
            &browser,
            "document.querySelector('#suggestions li[role=option]').dataset.productId",
        )
        .await;
        let search_box = browser.find(Locator::Css("#search")).await.expect("box");
        search_box.send_keys(&Key::Down).await.expect("down");
        wait_until(
            &browser,
            "the first suggestion to be active",
            "document.querySelector('#suggestion-0')?.getAttribute('aria-selected') === 'true' \
             && document.querySelector('#search').getAttribute('aria-activedescendant') === 'suggestion-0'",
        )
        .await;
        search_box.send_keys(&Key::Enter).await.expect("enter");
        wait_until(
            &browser,
            "the picked product in the spotlight",
            &format!(
                "document.querySelector(\"{}\")?.classList.contains('spotlight')",
                card(first.as_str().expect("a product suggestion"))
            ),
        )
        .await;

        // A misspelt query: corrected, highlighted, both hoodies.
        fill(&browser, "#search", "hodie").await;
        wait_until(
            &browser,
            "the corrected-query notice",
            "!document.querySelector('#search-notice').hidden",
        )
        .await;
        assert_eq!(
            text(&browser, "#search-notice").await,
            Some("Showing results for hoodie".to_owned())
        );
        wait_text(&browser, "#result-count", "2 products").await;
        let mut shown: Vec<String> = serde_json::from_value(grid_ids(&browser).await).expect("ids");
        shown.sort();
        let mut expected = hoodies.clone();
        expected.sort();
        assert_eq!(shown, expected, "the hoodies are the results");
        assert_eq!(
            eval(
                &browser,
                "[...document.querySelectorAll('#grid .product-name mark')].map((m) => m.textContent)"
            )
            .await,
            json!(["Hoodie", "Hoodie"]),
            "the matched word is highlighted in each name"
        );
        assert_eq!(
            eval(&browser, "document.querySelector('#sort').value").await,
            json!("relevance")
        );
        // Live stock still reaches a card rendered from search results.
        let badge = format!("{} .stock-badge", card(&hoodies[0]));
        let before = app.inventory(&hoodies[0]).await["available"]
            .as_i64()
            .expect("available");
        adjust_stock(&app.client, app.addr, &hoodies[0], 7).await;
        wait_text(&browser, &badge, &format!("{} left", before + 7)).await;
        screenshot(&browser, "storefront-search-corrected").await;

        // A query with no results says so kindly.
        fill(&browser, "#search", "qwertyuiop").await;
        wait_until(
            &browser,
            "the empty state",
            "document.querySelector('#grid .empty')?.textContent.includes('No products match')",
        )
        .await;

        // Product names are text, also inside highlights.
        fill(&browser, "#search", "zebra").await;
        wait_text(&browser, "#result-count", "1 product").await;
        let name = format!("{} .product-name", card(&id_of(&nasty)));
        wait_until(
            &browser,
            "the zebra highlight",
            &format!("document.querySelector(\"{name} mark\")?.textContent === 'Zebra'"),
        )
        .await;
        assert_eq!(
            eval(
                &browser,
                &format!(
                    "[document.querySelector(\"{name}\").textContent, \
                     document.querySelectorAll('#grid img').length, window.__injected ?? null]"
                )
            )
            .await,
            json!(["Zebra <img src=x onerror=\"window.__injected=1\"> Mug", 0, null])
        );

        // Facets: a brand narrows the grid and the other facets' counts; its own stay.
        fill(&browser, "#search", "").await;
        wait_text(&browser, "#result-count", &everything_text).await;
        let brands_before = facet_counts(&browser, "brand").await;
        let categories_before = facet_counts(&browser, "category").await;
        let northfold = brands_before["northfold"].as_u64().expect("northfold count");
        assert!(northfold >= 2 && northfold < everything, "{brands_before}");
        click(&browser, "#facets [data-facet=brand] input[value=northfold]").await;
        wait_text(&browser, "#result-count", &format!("{northfold} products")).await;
        assert_eq!(
            eval(&browser, "document.querySelectorAll('#grid li.product').length").await,
            json!(northfold)
        );
        let categories_after = facet_counts(&browser, "category").await;
        assert_ne!(categories_after, categories_before, "category counts follow the brand");
        assert_eq!(categories_after["hoodies"], 2, "{categories_after}");
        assert!(
            categories_after.get("jeans").is_none(),
            "no northfold jeans: {categories_after}"
        );
        assert_eq!(
            facet_counts(&browser, "brand").await,
            brands_before,
            "a facet's own counts ignore its own choice"
        );
        // Any of two brands.
        let basics = brands_before["basics"].as_u64().expect("basics count");
        click(&browser, "#facets [data-facet=brand] input[value=basics]").await;
        wait_text(
            &browser,
            "#result-count",
            &format!("{} products", northfold + basics),
        )
        .await;
        screenshot(&browser, "storefront-search-facets").await;
        browser.set_window_size(390, 844).await.expect("resize");
        click(&browser, "#facets-toggle").await;
        wait_until(
            &browser,
            "the facets to unfold on a phone",
            "document.querySelector('#facet-groups').offsetParent !== null",
        )
        .await;
        screenshot(&browser, "storefront-search-phone-facets").await;
        browser.set_window_size(1280, 1000).await.expect("resize");
        click(&browser, "#clear-filters").await;
        wait_text(&browser, "#result-count", &everything_text).await;
        assert_eq!(facet_counts(&browser, "category").await, categories_before);
        assert_eq!(
            eval(
                &browser,
                "document.querySelectorAll('#facets input[type=checkbox]:checked').length"
            )
            .await,
            json!(0)
        );
        assert!(
            eval(&browser, "document.querySelector('#clear-filters').hidden").await == json!(true)
        );
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    announce(&format!(
        "browser search test passed in {:.1?}",
        started.elapsed()
    ));
}
