//! The kitchen flow on the dashboard in headless Chromium (docs/API.md §13): a dine-in
//! ticket shows its table, type and note; starting it shows the ready countdown; Undo within
//! 10 s puts it back. Skips like `browser.rs` without Chromium.

use crate::browser::{
    Driver, click, eval, fill, open, programs, screenshot, wait_text, wait_until,
};
use crate::helpers::{USER_PASSWORD, id_of, rand_suffix, spawn_app};
use futures_util::FutureExt;
use serde_json::json;
use std::panic::AssertUnwindSafe;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dine_in_ticket_shows_its_table_and_note_and_a_status_change_can_be_undone() {
    let Some(programs) = programs() else {
        return;
    };
    let app = spawn_app().await;
    let (status, store) = app
        .admin_post(
            "/api/v1/stores",
            json!({"name": "Kitchen Test", "kind": "restaurant", "currency": "USD"}),
        )
        .await;
    assert_eq!(status, 201, "{store}");
    let store = id_of(&store);
    let dish = app.create_product(&store, 20).await;
    let staff_email = format!("chef-{}@example.com", rand_suffix());
    let (status, body) = app
        .admin_post(
            "/api/v1/users",
            json!({"email": staff_email, "password": USER_PASSWORD, "name": "Chef",
                   "role": "staff", "store_id": store}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let customer = app.customer().await;

    let mut driver = Driver::start(&programs).await;
    let staff = driver.session(1280, 900).await;
    let outcome = AssertUnwindSafe(async {
        open(&staff, &app.url("/dashboard")).await;
        fill(&staff, "#email", &staff_email).await;
        fill(&staff, "#password", USER_PASSWORD).await;
        click(&staff, "#signin-submit").await;
        wait_text(&staff, "#store-name", "Kitchen Test").await;
        wait_until(
            &staff,
            "the dashboard to go live",
            "document.querySelector('#live-status').dataset.status === 'online'",
        )
        .await;

        let (status, order) = app
            .call(
                reqwest::Method::POST,
                "/api/v1/orders",
                Some(&customer.token),
                Some(json!({
                    "store_id": store, "items": [{"product_id": dish, "quantity": 2}],
                    "payment": {"method": "card", "token": "tok_visa"},
                    "fulfillment_type": "dine_in", "table": "T4", "note": "no onions",
                })),
            )
            .await;
        assert_eq!(status, 201, "{order}");
        let ticket = format!("#lane-confirmed .ticket[data-order-id='{}']", id_of(&order));
        wait_until(
            &staff,
            "the dine-in ticket in the new lane",
            &format!("document.querySelector({}) !== null", json!(ticket)),
        )
        .await;
        wait_text(
            &staff,
            &format!("{ticket} .ticket-type"),
            "Dine-in · Table T4",
        )
        .await;
        wait_text(&staff, &format!("{ticket} .ticket-note"), "Note: no onions").await;
        assert!(
            eval(
                &staff,
                &format!(
                    "document.querySelector({} + ' .ticket-placed') !== null",
                    json!(ticket)
                )
            )
            .await
                == json!(true)
        );
        screenshot(&staff, "kitchen-dine-in-ticket").await;

        click(&staff, &format!("{ticket} button.advance")).await;
        let preparing = format!("#lane-preparing .ticket[data-order-id='{}']", id_of(&order));
        wait_until(
            &staff,
            "the ticket in the preparing lane with its countdown",
            &format!(
                "(document.querySelector({}) || {{}}).textContent?.includes('Ready in 15 min')",
                json!(preparing)
            ),
        )
        .await;
        wait_until(
            &staff,
            "the undo toast",
            "!document.querySelector('#undo-toast').hidden",
        )
        .await;
        click(&staff, "#undo-button").await;
        wait_until(
            &staff,
            "the ticket back in the new lane",
            &format!("document.querySelector({}) !== null", json!(ticket)),
        )
        .await;
        let (status, now) = app.get_order(&id_of(&order), Some(&customer.token)).await;
        assert_eq!(status, 200, "{now}");
        assert_eq!(now["status"], "confirmed");
        assert_eq!(now["estimated_ready_at"], serde_json::Value::Null);
        screenshot(&staff, "kitchen-after-undo").await;
    })
    .catch_unwind()
    .await;
    let _ = staff.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
