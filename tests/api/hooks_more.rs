//! More of issue 13: webhook delivery under load and across a crash in the middle of a
//! stream of deliveries, fulfilment and return events, https receivers, SSE metrics and
//! lagging SSE clients, the emails of shipments and returns.

use crate::helpers::*;
use axum::{body::Bytes, extract::State, http::StatusCode, http::Uri};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

/// What a receiver got: `(path, JSON body)` in arrival order.
type Got = Arc<Mutex<Vec<(String, Value)>>>;

/// A real HTTP receiver on 127.0.0.1 that records `(path, body)` and answers 200.
struct Receiver {
    addr: SocketAddr,
    got: Got,
    server: tokio::task::JoinHandle<()>,
}

async fn record(State(got): State<Got>, uri: Uri, body: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    got.lock()
        .expect("lock")
        .push((uri.path().to_owned(), body));
    StatusCode::OK
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let got: Got = Arc::default();
        let router = axum::Router::new()
            .fallback(record)
            .with_state(Arc::clone(&got));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, got, server }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The bodies received at `path`, in arrival order.
    fn at(&self, path: &str) -> Vec<Value> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body.clone())
            .collect()
    }

    fn count(&self) -> usize {
        self.got.lock().expect("lock").len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The `on_hand` of each distinct event in arrival order (a redelivery keeps its id and its
/// data, which is asserted).
fn first_arrivals(bodies: &[Value]) -> Vec<i64> {
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut order = Vec::new();
    for body in bodies {
        let id = body["id"].as_str().expect("id").to_owned();
        let on_hand = body["data"]["on_hand"].as_i64().expect("on_hand");
        match seen.get(&id) {
            Some(earlier) => assert_eq!(*earlier, on_hand, "a redelivery keeps its id"),
            None => {
                seen.insert(id, on_hand);
                order.push(on_hand);
            }
        }
    }
    order
}

#[tokio::test]
async fn ten_endpoints_get_every_event_of_sixteen_concurrent_writers_in_order() {
    // Many consumers saving cursors at once while writes go on used to stall every write
    // of the process for good (sled's flush pool filled with flushes blocked behind the
    // applier).
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|c| {
        c.webhooks.allow_private_targets = true;
    })
    .await;
    let store = app.create_store().await;
    let mut products = Vec::new();
    for _ in 0..16 {
        products.push(app.create_product(&store, 0).await);
    }
    for n in 0..10 {
        let (status, body) = app
            .admin_post(
                "/api/v1/webhooks",
                json!({"url": receiver.url(&format!("/hook/{n}")), "events": ["stock.changed"], "store_id": store}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let per_writer = 40;
    let mut writers = Vec::new();
    for product in &products {
        let (client, addr, product) = (app.client.clone(), app.addr, product.clone());
        writers.push(tokio::spawn(async move {
            for _ in 0..per_writer {
                adjust_stock(&client, addr, &product, 1).await;
            }
        }));
    }
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(120), writer)
            .await
            .expect("the writes finish (no stall)")
            .expect("writer");
    }
    let expected = 16 * per_writer as usize * 10;
    eventually(Duration::from_secs(60), || async {
        receiver.count() >= expected
    })
    .await;
    for n in 0..10 {
        let bodies = receiver.at(&format!("/hook/{n}"));
        let mut per_product: HashMap<String, Vec<Value>> = HashMap::new();
        for body in bodies {
            let product = body["data"]["product_id"]
                .as_str()
                .expect("product_id")
                .to_owned();
            per_product.entry(product).or_default().push(body);
        }
        assert_eq!(per_product.len(), 16, "endpoint {n}");
        for (product, bodies) in per_product {
            assert_eq!(
                first_arrivals(&bodies),
                (1..=per_writer).collect::<Vec<i64>>(),
                "endpoint {n}, product {product}: every change once, in order"
            );
        }
    }
}

#[tokio::test]
async fn no_webhook_is_lost_when_the_server_is_killed_while_deliveries_are_being_recorded() {
    // Successful deliveries are recorded in batches behind the POSTs; a kill -9 in the
    // middle of a stream must only repeat deliveries (same ids), never skip one.
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("emporium.toml");
    std::fs::write(
        &config,
        "[webhooks]\nallow_private_targets = true\ntimeout_ms = 2000\nretry_schedule_seconds = [0, 0.1, 0.1, 0.1, 0.1, 0.1]\n",
    )
    .expect("config");
    let data = dir.path().join("data");
    let config_arg = config.to_str().expect("utf-8 path");
    let client = reqwest::Client::new();

    let server = ServerProcess::start_with_args(&data, &["--config", config_arg], &[]);
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 0).await;
    for path in ["/a", "/b"] {
        let (status, hook) = send(
            client
                .post(format!("http://{}/api/v1/webhooks", server.addr))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"url": receiver.url(path), "events": ["stock.changed"], "store_id": store})),
        )
        .await;
        assert_eq!(status, 201, "{hook}");
    }
    let total = 300;
    let writer = {
        let (client, addr, product) = (client.clone(), server.addr, product.clone());
        tokio::spawn(async move {
            for _ in 0..total {
                let (status, _) = send(
                    client
                        .post(format!(
                            "http://{addr}/api/v1/products/{product}/inventory/adjustments"
                        ))
                        .bearer_auth(ADMIN_TOKEN)
                        .json(&json!({"delta": 1, "reason": "restock"})),
                )
                .await;
                assert_eq!(status, 200);
            }
        })
    };
    // Killed while events are being made and delivered.
    eventually(Duration::from_secs(30), || async {
        receiver.count() >= 100
    })
    .await;
    server.kill_9();
    let _ = writer.await;
    let made = first_arrivals(&receiver.at("/a")).len().max(1);
    assert!(made < total as usize, "the kill came mid-stream");

    let server = ServerProcess::start_with_args(&data, &["--config", config_arg], &[]);
    wait_ready(&client, server.addr).await;
    let on_hand = inventory_at(&client, server.addr, &product).await["on_hand"]
        .as_i64()
        .expect("on_hand");
    assert!(on_hand > 0, "some adjustments were acknowledged");
    eventually(Duration::from_secs(60), || async {
        ["/a", "/b"]
            .iter()
            .all(|path| first_arrivals(&receiver.at(path)).last() == Some(&on_hand))
    })
    .await;
    for path in ["/a", "/b"] {
        assert_eq!(
            first_arrivals(&receiver.at(path)),
            (1..=on_hand).collect::<Vec<i64>>(),
            "{path}: every acknowledged change, in order, none lost"
        );
    }
    drop(server);
}

/// An order shipped with tracking and delivered, then a return rejected and a second one
/// approved and received. Answers (order, first return, second return).
async fn ship_deliver_and_return(
    app: &TestApp,
    token: &str,
    order: &Value,
) -> (String, String, String) {
    let order_id = id_of(order);
    let product = order["items"][0]["product_id"]
        .as_str()
        .expect("product_id")
        .to_owned();
    let (status, shipment) = app
        .admin_post(
            &format!("/api/v1/orders/{order_id}/fulfillments"),
            json!({"items": [{"product_id": product, "quantity": 1}], "carrier": "DHL",
                "tracking_number": "JD014600003828", "tracking_url": "https://track.example/JD014600003828"}),
        )
        .await;
    assert_eq!(status, 201, "{shipment}");
    let (status, body) = app
        .admin_post(
            &format!("/api/v1/fulfillments/{}/events", id_of(&shipment)),
            json!({"status": "delivered"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ask = || async {
        let (status, ret) = app
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/orders/{order_id}/returns"),
                Some(token),
                Some(
                    json!({"items": [{"product_id": product, "quantity": 1, "reason": "damaged"}]}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{ret}");
        id_of(&ret)
    };
    let rejected = ask().await;
    let (status, body) = app
        .admin_post_empty(&format!("/api/v1/returns/{rejected}/reject"))
        .await;
    assert_eq!(status, 200, "{body}");
    let refunded = ask().await;
    let (status, body) = app
        .admin_post_empty(&format!("/api/v1/returns/{refunded}/approve"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .admin_post(
            &format!("/api/v1/returns/{refunded}/receive"),
            json!({"items": [{"product_id": product, "received": 1, "damaged": 0}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "refunded");
    (order_id, rejected, refunded)
}

#[tokio::test]
async fn the_shipped_email_carries_the_tracking_and_each_return_decision_is_emailed() {
    use crate::notifications::{SmtpServer, app_with_smtp, confirmed_order, fresh_email};
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(smtp.url()).await;
    let email = fresh_email("ship");
    let (_, token, order) = confirmed_order(&app, &email, 5).await;
    let number = order["number"].as_str().expect("number").to_owned();
    ship_deliver_and_return(&app, &token, &order).await;

    let shipped = smtp.wait_for(&email, "is in transit").await;
    // The HTML part escapes `/` in attributes (`&#x2f;`, read back as `/` by any client).
    let html = shipped.html.replace("&#x2f;", "/");
    for text in [&shipped.text, &html] {
        assert!(text.contains("DHL"), "{text}");
        assert!(text.contains("JD014600003828"), "{text}");
        assert!(
            text.contains("https://track.example/JD014600003828"),
            "{text}"
        );
    }
    let delivered = smtp.wait_for(&email, "is delivered").await;
    assert!(
        !delivered.text.contains("JD014600003828"),
        "{}",
        delivered.text
    );

    for status in ["rejected", "approved", "refunded"] {
        let mail = smtp
            .wait_for(&email, &format!("for order {number} is {status}"))
            .await;
        assert!(mail.text.contains(&number), "{}", mail.text);
        assert!(
            mail.text.contains(&format!("is now {status}")),
            "{}",
            mail.text
        );
        assert!(mail.html.contains(status), "{}", mail.html);
    }
    let refunded = smtp.wait_for(&email, "is refunded").await;
    assert!(refunded.text.contains("Refunded: "), "{}", refunded.text);
    // One email per decision: the customer's own request and the inner receiving step send
    // none.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let returns = smtp
        .mails_to(&email)
        .into_iter()
        .filter(|m| m.subject.contains("Your return"))
        .count();
    assert_eq!(returns, 3);
}

#[tokio::test]
async fn fulfilment_and_return_changes_are_webhook_events() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|c| c.webhooks.allow_private_targets = true).await;
    let (status, hook) = app
        .admin_post(
            "/api/v1/webhooks",
            json!({"url": receiver.url("/in"), "events": ["fulfillment.created", "fulfillment.updated", "return.requested", "return.updated"]}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let cart = app.cart_with(&shopper.token, &product, 1).await;
    let (status, order) = app.checkout(&shopper.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let (order_id, rejected, refunded) =
        ship_deliver_and_return(&app, &shopper.token, &order).await;

    eventually(Duration::from_secs(10), || async {
        receiver.at("/in").len() >= 7
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.at("/in");
    let seen: Vec<(String, String)> = got
        .iter()
        .map(|b| {
            (
                b["type"].as_str().expect("type").to_owned(),
                b["data"]["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("fulfillment.created", "shipped"),
        ("fulfillment.updated", "delivered"),
        ("return.requested", "requested"),
        ("return.updated", "rejected"),
        ("return.requested", "requested"),
        ("return.updated", "approved"),
        ("return.updated", "refunded"),
    ]
    .iter()
    .map(|(t, s)| ((*t).to_owned(), (*s).to_owned()))
    .collect();
    assert_eq!(seen, expected, "{got:#?}");
    for body in &got {
        assert_eq!(body["store_id"], store.as_str());
        assert_eq!(body["data"]["order_id"], order_id.as_str());
    }
    assert_eq!(got[0]["data"]["tracking_number"], "JD014600003828");
    assert_eq!(got[0]["data"]["carrier"], "DHL");
    assert_eq!(got[3]["data"]["id"], rejected.as_str());
    assert_eq!(got[6]["data"]["id"], refunded.as_str());
    assert_eq!(got[6]["data"]["refund_amount"]["currency"], "USD");
}

/// A TLS listener for `axum::serve`: TCP accepted, then the rustls handshake (a failed
/// handshake is logged by nobody and the next connection is taken).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A certificate authority of the test's own (PEM) and a certificate it signed for
/// 127.0.0.1 and localhost with its key (DER).
fn own_ca_and_certificate() -> (
    String,
    tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    tokio_rustls::rustls::pki_types::PrivateKeyDer<'static>,
) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Emporium test CA");
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let ca_cert = ca.self_signed(&ca_key).expect("ca certificate");
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("leaf params");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .expect("leaf certificate");
    let key =
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    (ca_cert.pem(), leaf_cert.der().clone(), key)
}

#[tokio::test]
async fn an_https_receiver_signed_by_a_configured_root_gets_its_events_and_others_refuse_it() {
    let (ca_pem, certificate, key) = own_ca_and_certificate();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let tls = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .expect("server config");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let got: Got = Arc::default();
    let router = axum::Router::new()
        .fallback(record)
        .with_state(Arc::clone(&got));
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
    };
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("ca file");

    // Trusting the CA: delivered over TLS.
    let app = spawn_app_with(|c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.extra_root_certificates = vec![ca_file.clone()];
    })
    .await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;
    let url = format!("https://{addr}/tls");
    let (status, hook) = app
        .admin_post(
            "/api/v1/webhooks",
            json!({"url": url, "events": ["stock.changed"], "store_id": store}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    adjust_stock(&app.client, app.addr, &product, 1).await;
    eventually(Duration::from_secs(10), || async {
        !got.lock().expect("lock").is_empty()
    })
    .await;
    let (path, body) = got.lock().expect("lock")[0].clone();
    assert_eq!(path, "/tls");
    assert_eq!(body["type"], "stock.changed");
    assert_eq!(body["data"]["on_hand"], 2);

    // Without it the certificate is unknown: the attempt fails and nothing arrives.
    let other = spawn_app_with(|c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_schedule_seconds = vec![0.0];
    })
    .await;
    let store = other.create_store().await;
    let product = other.create_product(&store, 1).await;
    let (status, hook) = other
        .admin_post(
            "/api/v1/webhooks",
            json!({"url": format!("https://{addr}/untrusted"), "events": ["stock.changed"], "store_id": store}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    adjust_stock(&other.client, other.addr, &product, 1).await;
    let deliveries = format!("/api/v1/webhooks/{}/deliveries", id_of(&hook));
    eventually(Duration::from_secs(10), || async {
        other.admin_get(&deliveries).await.1["items"][0]["status"] == "failed"
    })
    .await;
    let (_, list) = other.admin_get(&deliveries).await;
    assert_eq!(
        list["items"][0]["attempts"][0]["status_code"],
        Value::Null,
        "{list}"
    );
    assert!(
        got.lock()
            .expect("lock")
            .iter()
            .all(|(p, _)| p != "/untrusted"),
        "no request got through"
    );
    server.abort();
}
