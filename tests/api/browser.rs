//! The pages (`/` storefront, `/dashboard`) end to end in headless Chromium.
//!
//! Debian's `chromium` is driven by its `chromedriver` over W3C WebDriver with the `fantoccini`
//! crate (plain HTTP to localhost, no TLS). One real server from `spawn_app_with` gets a
//! demo-like restaurant through the public API, and two browser sessions (two Chromes with
//! their own profiles) act as two people at once. Screenshots of the pages land in
//! `target/screenshots/`.
//!
//! Without Chromium or chromedriver the test says so on stderr and passes, unless
//! `EMPORIUM_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure. `CHROME_BIN` and
//! `CHROMEDRIVER` override where the two programs are looked for.

use crate::helpers::{ADMIN_TOKEN, TestApp, USER_PASSWORD, id_of, rand_suffix, spawn_app_with};
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{Value, json};
use std::{
    io::Write,
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tempfile::TempDir;

const REQUIRE_BROWSER: &str = "EMPORIUM_REQUIRE_BROWSER";
/// How long any one expectation on a page may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- finding and starting the browser

pub(crate) struct Programs {
    chrome: PathBuf,
    chromedriver: PathBuf,
}

fn find_program(env_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Prints straight to stderr: `cargo test` captures `eprintln!` of passing tests, and a skip
/// must be visible.
pub(crate) fn announce(message: &str) {
    let _ = writeln!(std::io::stderr(), "\n{message}\n");
}

/// The browser and its driver, or `None` (announced) when the tests must be skipped.
pub(crate) fn programs() -> Option<Programs> {
    let chrome = find_program(
        "CHROME_BIN",
        &[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ],
    );
    let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"]);
    let missing: Vec<&str> = [
        chrome.is_none().then_some("chromium"),
        chromedriver.is_none().then_some("chromedriver"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return Some(Programs {
            chrome: chrome?,
            chromedriver: chromedriver?,
        });
    }
    let why = format!(
        "{} not found (looked on PATH, and at $CHROME_BIN / $CHROMEDRIVER when set; \
         install Debian's chromium and chromium-driver: apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    if std::env::var(REQUIRE_BROWSER).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_BROWSER}=1 but the browser tests cannot run: {why}");
    }
    announce(&format!(
        "SKIPPED: browser tests (tests/api/browser.rs) did not run: {why}. \
         Set {REQUIRE_BROWSER}=1 to make this a failure."
    ));
    None
}

/// A chromedriver process of ours; killed (by its own pid) when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
    chrome: PathBuf,
    profiles: Vec<TempDir>,
}

impl Driver {
    pub(crate) async fn start(programs: &Programs) -> Driver {
        let http = reqwest::Client::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(&programs.chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", programs.chromedriver.display()));
            let mut driver = Driver {
                child,
                url: format!("http://127.0.0.1:{port}"),
                chrome: programs.chrome.clone(),
                profiles: Vec::new(),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = driver.child.try_wait() {
                    break; // exited, e.g. the port was taken meanwhile: try another
                }
                let ready = http
                    .get(format!("{}/status", driver.url))
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success());
                if let Some(response) = ready {
                    let status: Value = response.json().await.unwrap_or_default();
                    if status["value"]["ready"] == true {
                        return driver;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("chromedriver did not come up");
    }

    /// A new headless Chrome with a fresh profile.
    pub(crate) async fn session(&mut self, width: u32, height: u32) -> Client {
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        self.profiles.push(profile);
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chrome, "args": args},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("starting a Chrome session: {e}"))
    }

    /// Emulates losing (or regaining) the network in one browser (chromedriver's
    /// `network_conditions` extension; the page gets `offline`/`online` like a real drop).
    async fn set_offline(&self, browser: &Client, offline: bool) {
        let session = browser
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let response = reqwest::Client::new()
            .post(format!(
                "{}/session/{session}/chromium/network_conditions",
                self.url
            ))
            .json(&json!({"network_conditions": {
                "offline": offline, "latency": 0,
                "download_throughput": -1, "upload_throughput": -1,
            }}))
            .send()
            .await
            .expect("network_conditions sent");
        assert!(
            response.status().is_success(),
            "network_conditions: {}",
            response.text().await.unwrap_or_default()
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- page helpers

pub(crate) fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

pub(crate) async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot saved");
}

/// `textContent` (trimmed) of the first element matching `css`, or None.
pub(crate) async fn text(browser: &Client, css: &str) -> Option<String> {
    let value = browser
        .execute(
            "const el = document.querySelector(arguments[0]); \
             return el ? el.textContent.trim().replace(/\\s+/g, ' ') : null;",
            vec![json!(css)],
        )
        .await
        .expect("script runs");
    value.as_str().map(str::to_owned)
}

/// Evaluates `expression` (a JS expression) in the page.
pub(crate) async fn eval(browser: &Client, expression: &str) -> Value {
    browser
        .execute(&format!("return ({expression});"), vec![])
        .await
        .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
}

/// Waits until `expression` is truthy in the page; on timeout saves a screenshot and fails.
pub(crate) async fn wait_until(browser: &Client, what: &str, expression: &str) -> Duration {
    let start = Instant::now();
    loop {
        let value = eval(browser, expression).await;
        if !matches!(value, Value::Null | Value::Bool(false))
            && value != json!(0)
            && value != json!("")
        {
            return start.elapsed();
        }
        if start.elapsed() > PATIENCE {
            let name = format!(
                "failed-{}",
                what.replace(|c: char| !c.is_alphanumeric(), "-")
            );
            screenshot(browser, &name).await;
            let body = text(browser, "body").await.unwrap_or_default();
            panic!(
                "waited {PATIENCE:?} for {what} ({expression}); see target/screenshots/{name}.png; \
                 page text: {body}"
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the first element matching `css` has exactly `expected` as its text.
pub(crate) async fn wait_text(browser: &Client, css: &str, expected: &str) -> Duration {
    wait_until(
        browser,
        &format!("{css} to read {expected}"),
        &format!(
            "document.querySelector({css})?.textContent.trim() === {expected}",
            css = json!(css),
            expected = json!(expected)
        ),
    )
    .await
}

pub(crate) async fn click(browser: &Client, css: &str) {
    wait_until(
        browser,
        &format!("{css} to be clickable"),
        &format!(
            "(() => {{ const el = document.querySelector({}); \
             return el && !el.disabled && el.offsetParent !== null; }})()",
            json!(css)
        ),
    )
    .await;
    // As a person would: bring it fully into view (not half under the sticky top bar).
    eval(
        browser,
        &format!(
            "(() => {{ document.querySelector({}).scrollIntoView({{block: 'center'}}); return true; }})()",
            json!(css)
        ),
    )
    .await;
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

pub(crate) async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

/// Opens a page and waits until its module finished its first load.
pub(crate) async fn open(browser: &Client, url: &str) {
    browser.goto(url).await.expect("navigate");
    wait_until(
        browser,
        "the page to be ready",
        "document.body.dataset.ready === 'true'",
    )
    .await;
}

/// Signs in on the storefront through the dialog.
pub(crate) async fn shop_sign_in(browser: &Client, email: &str) {
    click(browser, "#sign-in").await;
    fill(browser, "#auth-email", email).await;
    fill(browser, "#auth-password", USER_PASSWORD).await;
    click(browser, "#auth-submit").await;
    wait_until(
        browser,
        "the shopper to be signed in",
        "document.querySelector('#account .user-name') !== null",
    )
    .await;
}

pub(crate) fn card(product_id: &str) -> String {
    format!("li.product[data-product-id='{product_id}']")
}

fn cart_line(product_id: &str) -> String {
    format!("#cart-lines li[data-product-id='{product_id}']")
}

// ---------------------------------------------------------------- data

struct Shop {
    store_id: String,
    pizza: String,
    tiramisu: String,
    lasagne: String,
    staff_email: String,
    buyer_email: String,
}

/// A restaurant like the demo's, made through the API.
async fn seed(app: &TestApp) -> Shop {
    let (status, store) = app
        .admin_post(
            "/api/v1/stores",
            json!({"name": "Trattoria Prova", "kind": "restaurant", "currency": "USD"}),
        )
        .await;
    assert_eq!(status, 201, "{store}");
    let store_id = id_of(&store);
    let mut ids = Vec::new();
    for (sku, name, category, price, stock, threshold) in [
        ("PIZ-MARG", "Pizza Margherita", "pizza", 1150, 40, 5),
        ("DOL-TIRA", "Tiramisu", "desserts", 650, 1, 2),
        ("PAS-LASA", "Lasagne al Forno", "pasta", 1450, 3, 5),
        ("PIZ-DIAV", "Pizza Diavola", "pizza", 1290, 25, 5),
        ("BEV-LIMO", "Lemonade", "drinks", 390, 60, 10),
    ] {
        let (status, product) = app
            .admin_post(
                "/api/v1/products",
                json!({
                    "store_id": store_id, "sku": sku, "name": name, "category": category,
                    "brand": "trattoria", "price": {"amount": price, "currency": "USD"},
                    "initial_stock": stock, "low_stock_threshold": threshold,
                }),
            )
            .await;
        assert_eq!(status, 201, "{product}");
        ids.push(id_of(&product));
    }
    let staff_email = format!("staff-{}@example.com", rand_suffix());
    let (status, staff) = app
        .admin_post(
            "/api/v1/users",
            json!({"email": staff_email, "password": USER_PASSWORD, "name": "Chef Lina",
                   "role": "staff", "store_id": store_id}),
        )
        .await;
    assert_eq!(status, 201, "{staff}");
    let buyer_email = format!("buyer-{}@example.com", rand_suffix());
    let (status, buyer) = app.register(&buyer_email, USER_PASSWORD, "Bruno").await;
    assert_eq!(status, 201, "{buyer}");
    Shop {
        store_id,
        pizza: ids[0].clone(),
        tiramisu: ids[1].clone(),
        lasagne: ids[2].clone(),
        staff_email,
        buyer_email,
    }
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storefront_and_dashboard_work_live_in_chromium() {
    let Some(programs) = programs() else {
        return;
    };
    let started = Instant::now();
    let app = spawn_app_with(|_| {}).await;
    let shop = seed(&app).await;
    let mut driver = Driver::start(&programs).await;
    let first = driver.session(1280, 900).await;
    let second = driver.session(1440, 900).await;
    let outcome = AssertUnwindSafe(async {
        live_stock(&app, &shop, &first, &second).await;
        order_flow(&app, &shop, &driver, &first, &second).await;
        declined_card(&app, &shop, &first).await;
        hold_lapse_and_slow_card(&mut driver).await;
    })
    .catch_unwind()
    .await;
    // Close the sessions (chromedriver then ends its Chromes) before killing the driver.
    let _ = first.close().await;
    let _ = second.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    announce(&format!(
        "browser tests passed in {:.1?}; screenshots in {}",
        started.elapsed(),
        screenshot_dir().display()
    ));
}

/// (1) A shopper's page shows a product's stock; a second shopper buys it; the first page's
/// badge follows without a reload.
async fn live_stock(app: &TestApp, shop: &Shop, watcher: &Client, buyer: &Client) {
    let store_url = app.url(&format!("/?store={}", shop.store_id));
    open(watcher, &store_url).await;
    let badge = format!("{} .stock-badge", card(&shop.tiramisu));
    wait_text(watcher, &badge, "1 left").await;
    wait_text(watcher, "#store-name", "Trattoria Prova").await;
    wait_until(
        watcher,
        "the live connection",
        "document.querySelector('#live-status').dataset.status === 'online'",
    )
    .await;
    // A marker that a reload would wipe out.
    eval(watcher, "window.__sameDocument = 'yes'").await;

    open(buyer, &store_url).await;
    shop_sign_in(buyer, &shop.buyer_email).await;
    click(buyer, &format!("{} button.add", card(&shop.tiramisu))).await;
    wait_text(
        buyer,
        &format!("{} .qty-value", cart_line(&shop.tiramisu)),
        "1",
    )
    .await;
    wait_until(
        buyer,
        "the hold countdown",
        "/^\\d+:\\d\\d$/.test(document.querySelector('#hold .countdown')?.textContent || '')",
    )
    .await;
    click(buyer, "#pay").await;
    wait_until(
        buyer,
        "the buyer's order to be confirmed",
        "document.querySelector('#order-status')?.dataset.status === 'confirmed'",
    )
    .await;

    wait_text(watcher, &badge, "Sold out").await;
    assert_eq!(
        eval(
            watcher,
            &format!(
                "document.querySelector(\"{} button.add\").disabled",
                card(&shop.tiramisu)
            )
        )
        .await,
        json!(true),
        "a sold-out product cannot be added"
    );
    assert_eq!(
        eval(watcher, "window.__sameDocument").await,
        json!("yes"),
        "the badge changed without a reload"
    );
    let inventory = app.inventory(&shop.tiramisu).await;
    assert_eq!(inventory["on_hand"], 0, "the unit was sold: {inventory}");
    screenshot(watcher, "storefront-live-stock").await;

    // Search, sort and the in-stock filter go through the list endpoint.
    fill(watcher, "#search", "pizza").await;
    wait_text(watcher, "#result-count", "2 products").await;
    watcher
        .find(Locator::Css("#sort"))
        .await
        .expect("sort")
        .select_by_value("-price")
        .await
        .expect("sorted");
    wait_text(watcher, "#grid li.product .product-name", "Pizza Diavola").await;
    fill(watcher, "#search", "").await;
    click(watcher, "#in-stock").await;
    wait_until(
        watcher,
        "the sold-out tiramisu to be filtered out",
        &format!(
            "document.querySelector(\"{}\") === null && document.querySelectorAll('#grid li.product').length === 4",
            card(&shop.tiramisu)
        ),
    )
    .await;
    screenshot(buyer, "order-confirmed").await;
}

/// (2) A shopper checks out with tok_visa; the staff dashboard shows the order within 1 s;
/// staff advance it to preparing, ready, delivered, and the shopper's order page follows live.
/// Also: low-stock restock, the open/closed switch, and resume after a network drop.
async fn order_flow(app: &TestApp, shop: &Shop, driver: &Driver, shopper: &Client, staff: &Client) {
    // Staff sign in on the dashboard.
    open(staff, &app.url("/dashboard")).await;
    fill(staff, "#email", &shop.staff_email).await;
    fill(staff, "#password", USER_PASSWORD).await;
    click(staff, "#signin-submit").await;
    wait_text(staff, "#store-name", "Trattoria Prova").await;
    wait_until(
        staff,
        "the dashboard to go live",
        "document.querySelector('#live-status').dataset.status === 'online' \
         && document.querySelectorAll('.lane').length === 4",
    )
    .await;

    // The tiramisu order of scenario 1 waits in the new lane; staff cancel it (two clicks),
    // which refunds it and puts the unit back on the shelf.
    wait_until(
        staff,
        "the first order in the new lane",
        "document.querySelectorAll('#lane-confirmed .ticket').length === 1",
    )
    .await;
    click(staff, "#lane-confirmed .ticket button.cancel").await;
    wait_text(
        staff,
        "#lane-confirmed .ticket button.cancel",
        "Confirm cancel",
    )
    .await;
    click(staff, "#lane-confirmed .ticket button.cancel").await;
    wait_until(
        staff,
        "the cancelled order to leave the lanes",
        "document.querySelectorAll('.ticket').length === 0",
    )
    .await;
    wait_until(
        staff,
        "the cancellation and its reason in the cancelled list",
        "[...document.querySelectorAll('#cancelled-list .cancelled-reason')] \
         .some((p) => p.textContent === 'cancelled by the store')",
    )
    .await;
    assert_eq!(app.inventory(&shop.tiramisu).await["available"], 1);

    // Low stock: the lasagne (3 < 5) is listed; restocking clears it.
    let low = format!("#low-stock-list li[data-product-id='{}']", shop.lasagne);
    wait_until(
        staff,
        "the lasagne in the low-stock list",
        &format!("document.querySelector(\"{low}\") !== null"),
    )
    .await;
    assert_eq!(
        text(staff, &format!("{low} .low-level")).await.as_deref(),
        Some("3 left · min 5")
    );
    fill(staff, &format!("{low} input"), "12").await;
    click(staff, &format!("{low} button")).await;
    wait_until(
        staff,
        "the lasagne to leave the low-stock list",
        &format!("document.querySelector(\"{low}\") === null"),
    )
    .await;
    assert_eq!(app.inventory(&shop.lasagne).await["available"], 15);

    // A new shopper signs up on the storefront.
    open(shopper, &app.url(&format!("/?store={}", shop.store_id))).await;
    click(shopper, "#sign-in").await;
    click(shopper, "#tab-signup").await;
    fill(shopper, "#auth-name", "Giulia").await;
    fill(
        shopper,
        "#auth-email",
        &format!("giulia-{}@example.com", rand_suffix()),
    )
    .await;
    fill(shopper, "#auth-password", USER_PASSWORD).await;
    click(shopper, "#auth-submit").await;
    wait_text(shopper, "#account .user-name", "Giulia").await;
    wait_text(
        shopper,
        &format!("{} .stock-badge", card(&shop.tiramisu)),
        "1 left",
    )
    .await;

    // The store closes and reopens: the storefront follows live.
    click(staff, "#store-toggle").await;
    wait_until(
        shopper,
        "the closed banner",
        "!document.querySelector('#closed-banner').hidden",
    )
    .await;
    wait_text(staff, "#store-toggle-text", "Closed").await;
    click(staff, "#store-toggle").await;
    wait_until(
        shopper,
        "the closed banner to go",
        "document.querySelector('#closed-banner').hidden",
    )
    .await;

    // Two pizzas with the Visa test card.
    let add = format!("{} button.add", card(&shop.pizza));
    click(shopper, &add).await;
    wait_text(
        shopper,
        &format!("{} .qty-value", cart_line(&shop.pizza)),
        "1",
    )
    .await;
    click(shopper, &add).await;
    wait_text(
        shopper,
        &format!("{} .qty-value", cart_line(&shop.pizza)),
        "2",
    )
    .await;
    wait_text(shopper, "#subtotal", "$23.00").await;
    assert_eq!(
        eval(
            shopper,
            "document.querySelector('input[name=card]:checked').value"
        )
        .await,
        json!("tok_visa")
    );
    click(shopper, "#pay").await;
    let paid = Instant::now();
    let ticket_in = |lane: &str| {
        format!(
            "[...document.querySelectorAll('#lane-{lane} .ticket')].map(t => t.querySelector('h3').textContent)"
        )
    };
    wait_until(
        staff,
        "a ticket in the new lane",
        &format!("{}.length === 1", ticket_in("confirmed")),
    )
    .await;
    let shown_after = paid.elapsed();
    assert!(
        shown_after <= Duration::from_secs(1),
        "the dashboard showed the order {shown_after:?} after checkout"
    );
    wait_until(
        shopper,
        "the order page",
        "document.querySelector('#order-status')?.dataset.status === 'confirmed'",
    )
    .await;
    let number = text(shopper, "#order-title")
        .await
        .expect("order title")
        .trim_start_matches("Order ")
        .to_owned();
    assert_eq!(
        eval(staff, &ticket_in("confirmed")).await,
        json!([number]),
        "the dashboard shows the shopper's order"
    );
    assert_eq!(
        eval(
            staff,
            "document.querySelector('#lane-confirmed .ticket').classList.contains('flash')"
        )
        .await,
        json!(true),
        "a new order flashes"
    );
    screenshot(staff, "dashboard-new-order").await;

    // Preparing, ready, delivered (pickup): one click each; the order page follows.
    for (lane, to, label) in [
        ("confirmed", "preparing", "Preparing"),
        ("preparing", "ready", "Ready"),
        ("ready", "delivered", "Delivered"),
    ] {
        click(
            staff,
            &format!("#lane-{lane} .ticket button.advance[data-to='{to}']"),
        )
        .await;
        wait_until(
            shopper,
            &format!("the order page to show {to}"),
            &format!("document.querySelector('#order-status')?.dataset.status === '{to}'"),
        )
        .await;
        wait_text(shopper, "#order-status", label).await;
        if to != "delivered" {
            wait_until(
                staff,
                &format!("the ticket in the {to} lane"),
                &format!("{}.length === 1", ticket_in(to)),
            )
            .await;
        }
    }
    wait_until(
        staff,
        "the delivered order to leave the lanes",
        "document.querySelectorAll('.ticket').length === 0",
    )
    .await;
    screenshot(shopper, "order-delivered").await;

    // The network drops: the banner shows; an order placed meanwhile arrives on resume.
    driver.set_offline(staff, true).await;
    wait_until(
        staff,
        "the offline banner",
        "!document.querySelector('#offline-banner').hidden",
    )
    .await;
    screenshot(staff, "dashboard-offline").await;
    // An observer on the dashboard's topic: once it has the confirmation, the server has fanned
    // it out, so a page still connected would have it too.
    let mut observer = app.ws_as(ADMIN_TOKEN).await;
    observer
        .subscribe(&format!("store:{}:orders", shop.store_id))
        .await;
    let customer = app.customer().await;
    let cart = app.cart_with(&customer.token, &shop.pizza, 1).await;
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    loop {
        let event = observer.next_event().await;
        if event["event"] == "order.status_changed"
            && event["data"]["order"]["id"] == order["id"]
            && event["data"]["to"] == "confirmed"
        {
            break;
        }
    }
    assert_eq!(
        eval(staff, "document.querySelectorAll('.ticket').length").await,
        json!(0),
        "nothing arrives while offline"
    );
    driver.set_offline(staff, false).await;
    wait_until(
        staff,
        "the order placed while offline",
        &format!(
            "{}.includes({})",
            ticket_in("confirmed"),
            json!(order["number"])
        ),
    )
    .await;
    wait_until(
        staff,
        "the offline banner to go",
        "document.querySelector('#offline-banner').hidden",
    )
    .await;
    // A busy evening on a kitchen screen: orders in every lane.
    for to in ["preparing", "ready", "in_transit"] {
        let cart = app.cart_with(&customer.token, &shop.pizza, 2).await;
        let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
        assert_eq!(status, 201, "{order}");
        let steps = ["preparing", "ready", "in_transit"];
        for step in &steps[..=steps.iter().position(|s| *s == to).expect("step")] {
            let (status, body) = app
                .set_order_status(&id_of(&order), step, ADMIN_TOKEN)
                .await;
            assert_eq!(status, 200, "{body}");
        }
        wait_until(
            staff,
            &format!("an order in the {to} lane"),
            &format!("{}.includes({})", ticket_in(to), json!(order["number"])),
        )
        .await;
    }
    staff.set_window_size(1920, 1080).await.expect("resize");
    screenshot(staff, "dashboard-kitchen").await;
    staff.set_window_size(390, 844).await.expect("resize");
    screenshot(staff, "dashboard-phone").await;
}

/// (3) A declined card shows the decline reason, and the cart keeps its lines.
async fn declined_card(app: &TestApp, shop: &Shop, shopper: &Client) {
    click(shopper, "#back-to-shop").await;
    let add = format!("{} button.add", card(&shop.pizza));
    click(shopper, &add).await;
    let quantity = format!("{} .qty-value", cart_line(&shop.pizza));
    wait_text(shopper, &quantity, "1").await;
    click(shopper, "input[name=card][value=tok_chargeDeclined]").await;
    click(shopper, "#pay").await;
    wait_until(
        shopper,
        "the decline message",
        "!document.querySelector('#checkout-message').hidden",
    )
    .await;
    let message = text(shopper, "#checkout-message").await.unwrap_or_default();
    assert!(
        message.contains("declined") && message.contains("card_declined"),
        "decline reason shown: {message}"
    );
    wait_text(shopper, &quantity, "1").await;
    wait_until(
        shopper,
        "the cart to say it is not held",
        "document.querySelector('#hold').dataset.state === 'lapsed'",
    )
    .await;
    // The same cart, as the API tells it to its owner.
    let cart_id = eval(shopper, "sessionStorage.getItem('emporium.cart')").await;
    let token = eval(
        shopper,
        "JSON.parse(sessionStorage.getItem('emporium.shopper')).access_token",
    )
    .await;
    let (status, cart) = app
        .get_cart(
            cart_id.as_str().expect("cart id"),
            Some(token.as_str().expect("token")),
        )
        .await;
    assert_eq!(status, 200, "{cart}");
    assert_eq!(cart["items"][0]["quantity"], 1, "{cart}");
    // Tall enough to show the cart's lines and the decline message together.
    shopper.set_window_size(1280, 1400).await.expect("resize");
    screenshot(shopper, "checkout-declined").await;
}

/// On a phone, against a server with 2 s holds and a 1.5 s "slow" card: the cart's hold lapses
/// (the page says so and keeps the lines), then checkout with `tok_slow` answers 202 and the
/// order page goes from "awaiting payment" to confirmed by itself.
async fn hold_lapse_and_slow_card(driver: &mut Driver) {
    let app = spawn_app_with(|config| {
        config.carts.hold_seconds = 2;
        config.payments.slow_ms = 1500;
        config.orders.sync_wait_ms = 200;
    })
    .await;
    let shop = seed(&app).await;
    let phone = driver.session(390, 844).await;
    let outcome = AssertUnwindSafe(async {
        open(&phone, &app.url(&format!("/?store={}", shop.store_id))).await;
        click(&phone, &format!("{} button.add", card(&shop.pizza))).await;
        wait_text(
            &phone,
            &format!("{} .qty-value", cart_line(&shop.pizza)),
            "1",
        )
        .await;
        wait_until(
            &phone,
            "the hold-expired message",
            "!document.querySelector('#hold-alert').hidden",
        )
        .await;
        wait_text(
            &phone,
            &format!("{} .qty-value", cart_line(&shop.pizza)),
            "1",
        )
        .await;
        wait_text(
            &phone,
            &format!("{} .stock-badge", card(&shop.pizza)),
            "40 left",
        )
        .await;
        eval(
            &phone,
            "document.querySelector('#cart').scrollIntoView({block: 'start'})",
        )
        .await;
        screenshot(&phone, "storefront-phone-hold-lapsed").await;

        shop_sign_in(&phone, &shop.buyer_email).await;
        click(&phone, "input[name=card][value=tok_slow]").await;
        click(&phone, "#pay").await;
        wait_until(
            &phone,
            "the order to wait for its payment",
            "document.querySelector('#order-status')?.dataset.status === 'pending'",
        )
        .await;
        wait_text(&phone, "#order-status", "Awaiting payment").await;
        wait_until(
            &phone,
            "the slow payment to confirm the order",
            "document.querySelector('#order-status')?.dataset.status === 'confirmed'",
        )
        .await;
        wait_text(&phone, "#cart-count", "0").await;
        eval(&phone, "window.scrollTo(0, 0)").await;
        screenshot(&phone, "storefront-phone-order").await;
    })
    .catch_unwind()
    .await;
    let _ = phone.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The product dialog of the storefront (issue 12): a product's name opens it, with the rows
/// "Customers also bought" (from confirmed orders) and "Similar"; a product in a row opens
/// in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_page_shows_customers_also_bought_and_similar_rows_in_chromium() {
    let Some(programs) = programs() else {
        return;
    };
    let app = spawn_app_with(|_| {}).await;
    let shop = seed(&app).await;
    let customer = app.customer().await;
    let cart = id_of(&app.create_cart(Some(&customer.token)).await);
    for product in [&shop.pizza, &shop.tiramisu] {
        let (status, body) = app
            .set_cart_item(&cart, product, 1, Some(&customer.token))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let also_bought = format!(
        "/api/v1/products/{}/recommendations?kind=also_bought",
        shop.pizza
    );
    crate::helpers::eventually(Duration::from_secs(5), || async {
        app.get(&also_bought).await.1["items"][0]["id"] == json!(shop.tiramisu)
    })
    .await;

    let mut driver = Driver::start(&programs).await;
    let browser = driver.session(1280, 900).await;
    let outcome = AssertUnwindSafe(async {
        open(&browser, &app.url(&format!("/?store={}", shop.store_id))).await;
        click(&browser, &format!("{} .product-name a", card(&shop.pizza))).await;
        wait_text(&browser, "#product-title", "Pizza Margherita").await;
        let tiramisu_in = |row: &str| format!("#{row} li[data-product-id='{}']", shop.tiramisu);
        wait_until(
            &browser,
            "the also-bought row to list the tiramisu",
            &format!(
                "document.querySelector({}) !== null",
                json!(tiramisu_in("pd-also-bought"))
            ),
        )
        .await;
        wait_text(&browser, "#pd-also-bought-title", "Customers also bought").await;
        // The other pizza is the most alike (category, brand, the word "pizza").
        wait_text(&browser, "#pd-similar li .pd-item-name", "Pizza Diavola").await;
        screenshot(&browser, "storefront-product-recommendations").await;
        click(&browser, &format!("{} a", tiramisu_in("pd-also-bought"))).await;
        wait_text(&browser, "#product-title", "Tiramisu").await;
        wait_text(
            &browser,
            "#pd-also-bought li .pd-item-name",
            "Pizza Margherita",
        )
        .await;
        click(&browser, "#product-back").await;
        wait_until(
            &browser,
            "the catalog to show again",
            "!document.querySelector('#catalog').hidden",
        )
        .await;
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
