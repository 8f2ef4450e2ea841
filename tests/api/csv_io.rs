//! CSV exports of orders and movements, and the product import (docs/API.md §14).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

const HEADER: &str = "sku,name,price,category,brand,description,initial_stock,low_stock_threshold";

async fn import(app: &TestApp, store: &str, body: String, dry_run: bool) -> (u16, Value) {
    let query = if dry_run { "?dry_run=true" } else { "" };
    send(
        app.admin_request(
            Method::POST,
            &format!("/api/v1/stores/{store}/imports/products{query}"),
        )
        .header("content-type", "text/csv")
        .body(body),
    )
    .await
}

async fn export(app: &TestApp, store: &str, what: &str, token: Option<&str>) -> (u16, String) {
    let request = app.request_as(
        Method::GET,
        &format!("/api/v1/stores/{store}/exports/{what}"),
        token,
    );
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    if status == 200 {
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(kind.starts_with("text/csv"), "{kind}");
    }
    (status, response.text().await.expect("body"))
}

fn rows(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a CSV record"))
        .collect()
}

async fn all_products(app: &TestApp, store: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let (status, body) = app
            .get(&format!(
                "/api/v1/products?store_id={store}&per_page=100&page={page}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().expect("items").clone();
        if items.is_empty() {
            break;
        }
        out.extend(items);
    }
    out
}

#[tokio::test]
async fn a_thousand_products_round_trip_through_import_and_a_second_run_only_updates() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let mut file = format!("{HEADER}\n");
    for n in 0..1000 {
        file.push_str(&format!(
            "CSV-{n:04},\"Tee, size {n}\",{},shirts,Acme,\"A \"\"soft\"\" tee\",{},2\n",
            1000 + n,
            n % 7
        ));
    }
    let (status, dry) = import(&app, &store, file.clone(), true).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry, json!({"created": 1000, "updated": 0}));
    assert!(
        all_products(&app, &store).await.is_empty(),
        "a dry run applies nothing"
    );

    let (status, done) = import(&app, &store, file.clone(), false).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done, json!({"created": 1000, "updated": 0}));
    let products = all_products(&app, &store).await;
    assert_eq!(products.len(), 1000);
    let p = products
        .iter()
        .find(|p| p["sku"] == "CSV-0042")
        .expect("imported");
    assert_eq!(p["name"], "Tee, size 42");
    assert_eq!(p["description"], "A \"soft\" tee");
    assert_eq!(p["price"], json!({"amount": 1042, "currency": "USD"}));
    assert_eq!(p["stock"]["on_hand"], 0);
    assert_eq!(p["low_stock_threshold"], 2);

    // The same file again, one price changed: every line is an update.
    let again = file.replace(
        "CSV-0042,\"Tee, size 42\",1042",
        "CSV-0042,\"Tee, size 42\",999",
    );
    let (status, done) = import(&app, &store, again, false).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done, json!({"created": 0, "updated": 1000}));
    let (_, p) = app
        .get(&format!("/api/v1/products/{}", p["id"].as_str().unwrap()))
        .await;
    assert_eq!(p["price"]["amount"], 999);
    assert_eq!(all_products(&app, &store).await.len(), 1000);
}

#[tokio::test]
async fn a_file_with_three_bad_lines_is_refused_naming_them_and_nothing_is_applied() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let file = format!(
        "{HEADER}\nGOOD-1,Good,100,,,,1,0\nBAD 1,Bad sku,100,,,,1,0\nGOOD-2,Good,abc,,,,1,0\nGOOD-3,,100,,,,1,0\nGOOD-1,Twice,100,,,,1,0\n"
    );
    let problem = expect_problem(
        app.admin_request(
            Method::POST,
            &format!("/api/v1/stores/{store}/imports/products"),
        )
        .header("content-type", "text/csv")
        .body(file),
        422,
        "validation_failed",
    )
    .await;
    let errors: Vec<(u64, String)> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["field"].as_str().expect("field").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (3, "sku".to_owned()),
            (4, "price".to_owned()),
            (5, "name".to_owned()),
            (6, "sku".to_owned())
        ],
        "{problem}"
    );
    assert!(all_products(&app, &store).await.is_empty());

    // A wrong header is one error on line 1; a JSON body is a 415.
    let problem = expect_problem(
        app.admin_request(
            Method::POST,
            &format!("/api/v1/stores/{store}/imports/products"),
        )
        .header("content-type", "text/csv")
        .body("sku,name,cost\nA,b,1\n"),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["line"], 1);
    let (status, _) = send(
        app.admin_request(
            Method::POST,
            &format!("/api/v1/stores/{store}/imports/products"),
        )
        .json(&json!({"sku": "A"})),
    )
    .await;
    assert_eq!(status, 415);

    // Staff of another store may not import here.
    let other = app.create_store().await;
    let staff = app.staff(&other).await;
    let (status, _) = send(
        app.request_as(
            Method::POST,
            &format!("/api/v1/stores/{store}/imports/products"),
            Some(&staff.token),
        )
        .header("content-type", "text/csv")
        .body(format!("{HEADER}\nX-1,x,1,,,,0,0\n")),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn exports_list_orders_and_movements_with_formulas_neutralised() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let (status, product) = app
        .admin_post(
            "/api/v1/products",
            json!({"store_id": store, "sku": "EXP-1", "name": "=HYPERLINK(\"http://x\")",
                   "price": {"amount": 1250, "currency": "USD"}, "initial_stock": 5}),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let product = id_of(&product);
    let customer = app.customer().await;
    let cart = app.cart_with(&customer.token, &product, 2).await;
    let (status, order) = app
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&customer.token),
            Some(
                json!({"cart_id": cart, "payment": {"method": "card", "token": "tok_visa"},
                        "note": "@SUM(A1:A9)"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{order}");

    let (status, text) = export(&app, &store, "orders.csv", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with("number,order_id,created_at,status"),
        "{text}"
    );
    assert!(text.contains("\r\n"), "RFC 4180 line ends");
    let orders = rows(&text);
    assert_eq!(orders.len(), 1);
    assert_eq!(&orders[0][1], order["id"].as_str().unwrap());
    assert_eq!(&orders[0][5], "EXP-1 x2");
    assert_eq!(&orders[0][7], "25.00");
    assert_eq!(&orders[0][11], "'@SUM(A1:A9)");

    let (status, text) = export(&app, &store, "movements.csv", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    let movements = rows(&text);
    let kinds: Vec<(&str, &str)> = movements.iter().map(|r| (&r[5], &r[7])).collect();
    assert_eq!(kinds, [("adjustment", "5"), ("sale", "-2")], "{text}");

    // A window after everything is empty; a bad bound is a 422; customers are refused.
    let (status, text) = export(
        &app,
        &store,
        "orders.csv?from=2999-01-01T00:00:00Z",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert!(rows(&text).is_empty());
    let (status, _) = export(&app, &store, "orders.csv?from=yesterday", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 422);
    let (status, _) = export(&app, &store, "orders.csv", Some(&customer.token)).await;
    assert_eq!(status, 403);
}
