//! Returns (docs/API.md §13): request, approve or reject, receive with restock and one refund;
//! a repeated receive does nothing twice, and a `kill -9` in the middle of a receipt is
//! finished after the restart with the stock and the refund made exactly once.

use crate::helpers::{ADMIN_TOKEN, ServerProcess, id_of, send, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use std::net::SocketAddr;

/// A client of one server (in-process or the real binary).
struct Api {
    client: reqwest::Client,
    addr: SocketAddr,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = self
            .client
            .request(method, format!("http://{}{path}", self.addr))
            .bearer_auth(token);
        send(match body {
            Some(body) => request.json(&body),
            None => request,
        })
        .await
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, ADMIN_TOKEN, body).await
    }

    /// A store, a product of `stock` units, a customer, and a delivered order of `units`.
    /// Returns (product, customer token, order id).
    async fn delivered_order(&self, stock: i64, units: i64) -> (String, String, String) {
        let (status, store) = self
            .admin(
                Method::POST,
                "/api/v1/stores",
                Some(json!({"name": "Shop", "kind": "retail", "currency": "USD"})),
            )
            .await;
        assert_eq!(status, 201, "{store}");
        let store = id_of(&store);
        let (status, product) = self
            .admin(
                Method::POST,
                "/api/v1/products",
                Some(json!({"store_id": store, "sku": "RET-1", "name": "Mug",
                    "price": {"amount": 1999, "currency": "USD"}, "initial_stock": stock})),
            )
            .await;
        assert_eq!(status, 201, "{product}");
        let product = id_of(&product);
        let (status, session) = send(
            self.client
                .post(format!("http://{}/api/v1/auth/register", self.addr))
                .json(
                    &json!({"email": format!("ret{}@example.com", crate::helpers::rand_suffix()),
                    "password": "correct horse battery", "name": "R"}),
                ),
        )
        .await;
        assert_eq!(status, 201, "{session}");
        let token = session["access_token"].as_str().expect("token").to_owned();
        let (status, order) = self
            .call(
                Method::POST,
                "/api/v1/orders",
                &token,
                Some(json!({"store_id": store,
                    "items": [{"product_id": product, "quantity": units}],
                    "payment": {"method": "card", "token": "tok_visa"}})),
            )
            .await;
        assert_eq!(status, 201, "{order}");
        let order = id_of(&order);
        let (status, shipment) = self
            .admin(
                Method::POST,
                &format!("/api/v1/orders/{order}/fulfillments"),
                Some(json!({"items": [{"product_id": product, "quantity": units}]})),
            )
            .await;
        assert_eq!(status, 201, "{shipment}");
        let (status, body) = self
            .admin(
                Method::POST,
                &format!("/api/v1/fulfillments/{}/events", id_of(&shipment)),
                Some(json!({"status": "delivered"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (product, token, order)
    }

    async fn on_hand(&self, product: &str) -> i64 {
        let (status, inventory) = self
            .admin(
                Method::GET,
                &format!("/api/v1/products/{product}/inventory"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{inventory}");
        inventory["on_hand"].as_i64().expect("on_hand")
    }

    async fn return_movements(&self, product: &str) -> usize {
        let (status, page) = self
            .admin(
                Method::GET,
                &format!("/api/v1/products/{product}/inventory/movements?per_page=100"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|m| m["kind"] == "return")
            .count()
    }

    /// The refund amounts of the provider's ledger for `order`.
    async fn ledger_refunds(&self, order: &str) -> Vec<i64> {
        let (status, page) = self
            .admin(
                Method::GET,
                &format!("/api/v1/admin/payments?order_id={order}&per_page=100"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["kind"] == "refund")
            .filter_map(|e| e["amount"]["amount"].as_i64())
            .collect()
    }

    /// The customer asks 2 units back; staff approve. Returns the return id.
    async fn approved_return(&self, product: &str, token: &str, order: &str) -> String {
        let (status, ret) = self
            .call(
                Method::POST,
                &format!("/api/v1/orders/{order}/returns"),
                token,
                Some(
                    json!({"items": [{"product_id": product, "quantity": 2, "reason": "damaged"}],
                    "note": "one arrived cracked"}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{ret}");
        assert_eq!(ret["status"], "requested");
        let id = id_of(&ret);
        assert!(id.starts_with("ret_"), "{id}");
        let (status, approved) = self
            .admin(Method::POST, &format!("/api/v1/returns/{id}/approve"), None)
            .await;
        assert_eq!(status, 200, "{approved}");
        assert_eq!(approved["status"], "approved");
        id
    }

    async fn receive(&self, id: &str, product: &str) -> (u16, Value) {
        self.admin(
            Method::POST,
            &format!("/api/v1/returns/{id}/receive"),
            Some(json!({"items": [{"product_id": product, "received": 2, "damaged": 1}]})),
        )
        .await
    }
}

#[tokio::test]
async fn a_return_of_two_of_three_units_one_damaged_restocks_one_and_refunds_two_once() {
    let app = spawn_app().await;
    let api = Api {
        client: app.client.clone(),
        addr: app.addr,
    };
    let (product, token, order) = api.delivered_order(5, 3).await;
    assert_eq!(api.on_hand(&product).await, 2);

    // More than delivered is refused; a return out of order too.
    let (status, problem) = api
        .call(
            Method::POST,
            &format!("/api/v1/orders/{order}/returns"),
            &token,
            Some(json!({"items": [{"product_id": product, "quantity": 4, "reason": "other"}]})),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "over_returned");
    let id = api.approved_return(&product, &token, &order).await;
    let (status, problem) = api
        .admin(Method::POST, &format!("/api/v1/returns/{id}/reject"), None)
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "invalid_transition");
    // Two of three are in a return: two more are too many.
    let (status, problem) = api
        .call(
            Method::POST,
            &format!("/api/v1/orders/{order}/returns"),
            &token,
            Some(json!({"items": [{"product_id": product, "quantity": 2, "reason": "other"}]})),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "over_returned");

    let (status, received) = api.receive(&id, &product).await;
    assert_eq!(status, 200, "{received}");
    assert_eq!(received["status"], "refunded");
    assert_eq!(received["refund_amount"]["amount"], 3998);
    assert_eq!(api.on_hand(&product).await, 3);
    assert_eq!(api.return_movements(&product).await, 1);
    assert_eq!(api.ledger_refunds(&order).await, vec![3998]);

    // Again: the same answer, nothing twice.
    let (status, again) = api.receive(&id, &product).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "refunded");
    assert_eq!(api.on_hand(&product).await, 3);
    assert_eq!(api.return_movements(&product).await, 1);
    assert_eq!(api.ledger_refunds(&order).await, vec![3998]);

    let (status, body) = api
        .call(
            Method::GET,
            &format!("/api/v1/orders/{order}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payment"]["refunded"]["amount"], 3998);
    assert_eq!(body["payment"]["refunds"][0]["reason"], "return");
    let (status, list) = api
        .call(
            Method::GET,
            &format!("/api/v1/returns?order_id={order}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["id"], id.as_str());
}

#[tokio::test]
async fn a_kill_9_in_the_middle_of_a_receipt_restocks_and_refunds_exactly_once_after_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(
        dir.path(),
        &[("EMPORIUM_FAULT", "crash_during_return_receipt")],
    );
    let api = Api {
        client: client.clone(),
        addr: server.addr,
    };
    crate::helpers::wait_ready(&client, api.addr).await;
    let (product, token, order) = api.delivered_order(5, 3).await;
    let id = api.approved_return(&product, &token, &order).await;
    // The server aborts between the restock and the refund: no answer.
    let cut = client
        .post(format!("http://{}/api/v1/returns/{id}/receive", api.addr))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"items": [{"product_id": product, "received": 2, "damaged": 1}]}))
        .send()
        .await;
    assert!(
        cut.is_err(),
        "the receipt should have been cut off: {cut:?}"
    );
    drop(server);

    let server = ServerProcess::start(dir.path(), &[]);
    let api = Api {
        client: client.clone(),
        addr: server.addr,
    };
    crate::helpers::wait_ready(&client, api.addr).await;
    let (status, list) = api
        .admin(
            Method::GET,
            &format!("/api/v1/returns?order_id={order}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["status"], "refunded", "{list}");
    assert_eq!(api.on_hand(&product).await, 3);
    assert_eq!(api.return_movements(&product).await, 1);
    assert_eq!(api.ledger_refunds(&order).await, vec![3998]);

    // The client retries: answered, nothing twice.
    let (status, again) = api.receive(&id, &product).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "refunded");
    assert_eq!(api.on_hand(&product).await, 3);
    assert_eq!(api.ledger_refunds(&order).await, vec![3998]);
}
