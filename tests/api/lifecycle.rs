//! The process as an operator sees it: configuration layering, bad configuration, SIGTERM.

use crate::helpers::{ADMIN_TOKEN, ServerProcess, create_product, create_store, send, wait_ready};
use serde_json::json;
use std::{process::Command, time::Duration};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_overrides_the_config_file_and_both_are_applied() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("emporium.toml");
    std::fs::write(
        &file,
        "[reservations]\nmax_ttl_seconds = 5\ndefault_ttl_seconds = 5\n",
    )
    .expect("write config");
    let data = dir.path().join("data");
    let server = ServerProcess::start_with_args(
        &data,
        &["--config", file.to_str().expect("utf-8 path")],
        &[("EMPORIUM_RESERVATIONS__MAX_TTL_SECONDS", "7")],
    );
    let client = reqwest::Client::new();
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 5).await;
    let reserve = |ttl: u64| {
        client
            .post(format!("http://{}/api/v1/reservations", server.addr))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"items": [{"product_id": product, "quantity": 1}], "ttl_seconds": ttl}))
    };
    let (status, body) = send(reserve(7)).await;
    assert_eq!(
        status, 201,
        "the environment's 7 s must win over the file's 5 s: {body}"
    );
    let (status, body) = send(reserve(8)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "ttl_seconds");
}

#[test]
fn an_unknown_configuration_key_stops_the_server_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("EMPORIUM_RESERVATIONS__MAX_TTL_SECOND", "7")
        .output()
        .expect("run emporium");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_ttl_second"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_flushes_and_exits_zero_keeping_acknowledged_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = ServerProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 12).await;

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within 12 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(exit.code(), Some(0));
    drop(server);

    let server = ServerProcess::start(dir.path(), &[]);
    wait_ready(&client, server.addr).await;
    let (status, inventory) = send(client.get(format!(
        "http://{}/api/v1/products/{product}/inventory",
        server.addr
    )))
    .await;
    assert_eq!(status, 200);
    assert_eq!(inventory["on_hand"], 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_still_running_at_a_crash_lapses_after_the_restart_without_being_touched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 5).await;
    let (status, body) = send(
        client
            .post(format!("http://{}/api/v1/reservations", server.addr))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"items": [{"product_id": product, "quantity": 2}], "ttl_seconds": 2})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    server.kill_9();

    let server = ServerProcess::start(dir.path(), &[]);
    wait_ready(&client, server.addr).await;
    let url = format!("http://{}/api/v1/products/{product}/inventory", server.addr);
    let (_, inventory) = send(client.get(&url)).await;
    assert_eq!(
        inventory["reserved"], 2,
        "the hold has not lapsed yet: {inventory}"
    );
    // Expiry promises "at most 1 s after expires_at"; half a second more for the polling.
    let within = crate::helpers::until_after(&body["expires_at"], 1500);
    crate::helpers::eventually(within, || async {
        let (_, inventory) = send(client.get(&url)).await;
        inventory["reserved"] == 0 && inventory["available"] == 5
    })
    .await;
}
