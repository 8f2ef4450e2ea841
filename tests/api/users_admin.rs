//! Users for admins and the end of sessions (docs/API.md §12): list, filter, read and change
//! accounts; a disabled user's logins, refreshes, access tokens and WebSockets are refused at
//! once (also after a restart); a password change ends every other session.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn patch_user(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.admin_patch(&format!("/api/v1/users/{id}"), body).await
}

async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    send(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": token})),
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> u16 {
    send(app.request_as(Method::GET, "/api/v1/me", Some(token)))
        .await
        .0
}

fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_list_filter_read_and_change_users_and_nobody_else_may() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let other_store = app.create_store().await;
    let tag = rand_suffix();
    let (status, ada) = app
        .register(
            &format!("ada-{tag}@example.com"),
            USER_PASSWORD,
            "Ada Lovelace",
        )
        .await;
    assert_eq!(status, 201, "{ada}");
    let staff = app.new_user("staff", Some(&store)).await;
    let staff_id = staff["user"]["id"].as_str().expect("id").to_owned();

    // Customers and staff are refused, anonymous callers must log in.
    for token in [access_token(&ada), access_token(&staff)] {
        expect_problem(
            app.request_as(Method::GET, "/api/v1/users", Some(&token)),
            403,
            "forbidden",
        )
        .await;
        expect_problem(
            app.request_as(
                Method::PATCH,
                &format!("/api/v1/users/{staff_id}"),
                Some(&token),
            )
            .json(&json!({"disabled": true})),
            403,
            "forbidden",
        )
        .await;
    }
    expect_problem(
        app.client.get(app.url("/api/v1/users")),
        401,
        "unauthorized",
    )
    .await;

    // Filters: role, store, and text on email or name (case-insensitively).
    let (status, page) = app.admin_get("/api/v1/users?role=staff").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|u| u["role"] == "staff")
    );
    let (_, page) = app
        .admin_get(&format!("/api/v1/users?store_id={store}"))
        .await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["id"], staff_id.as_str());
    let (_, page) = app.admin_get(&format!("/api/v1/users?q=ADA-{tag}")).await;
    assert_eq!(emails(&page), [format!("ada-{tag}@example.com")]);
    let (_, page) = app
        .admin_get("/api/v1/users?q=lovelace&role=customer")
        .await;
    assert_eq!(page["total"], 1, "{page}");
    let (_, page) = app.admin_get("/api/v1/users?q=lovelace&role=admin").await;
    assert_eq!(page["total"], 0, "{page}");
    let (_, page) = app.admin_get("/api/v1/users?per_page=1&page=2").await;
    assert_eq!(
        (page["per_page"].clone(), page["total"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(page["items"].as_array().expect("items").len(), 1);
    expect_problem(
        app.admin_request(Method::GET, "/api/v1/users?role=owner"),
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        app.admin_request(Method::GET, "/api/v1/users?per_page=0"),
        422,
        "validation_failed",
    )
    .await;

    // Read one; unknown ids are 404.
    let (status, user) = app.admin_get(&format!("/api/v1/users/{staff_id}")).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["store_id"], store.as_str());
    assert!(user.get("password_hash").is_none());
    expect_problem(
        app.admin_request(Method::GET, "/api/v1/users/usr_nope"),
        404,
        "not_found",
    )
    .await;

    // Changes are validated: staff need an existing store, others none.
    let ada_id = ada["user"]["id"].as_str().expect("id").to_owned();
    for (body, field) in [
        (json!({"role": "staff"}), "store_id"),
        (json!({"role": "staff", "store_id": "str_nope"}), "store_id"),
        (json!({"store_id": store}), "store_id"),
        (json!({"name": " "}), "name"),
    ] {
        let problem = expect_problem(
            app.admin_request(Method::PATCH, &format!("/api/v1/users/{ada_id}"))
                .json(&body),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{body}: {problem}");
    }
    for body in [
        json!({"role": null}),
        json!({"disabled": "yes"}),
        json!({"email": "x@y.co"}),
    ] {
        expect_problem(
            app.admin_request(Method::PATCH, &format!("/api/v1/users/{ada_id}"))
                .json(&body),
            422,
            "validation_failed",
        )
        .await;
    }
    let (status, moved) = patch_user(
        &app,
        &staff_id,
        json!({"store_id": other_store, "name": "Moved"}),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (moved["store_id"].as_str(), moved["name"].as_str()),
        (Some(other_store.as_str()), Some("Moved"))
    );
    // Leaving staff drops the store.
    let (status, customer) = patch_user(&app, &staff_id, json!({"role": "customer"})).await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["store_id"], Value::Null);
    assert_eq!(customer["role"], "customer");
    // Their token carried the old role: it is refused now, and a new login carries the new one.
    assert_eq!(me(&app, &access_token(&staff)).await, 401);
    let (status, again) = app
        .login(
            staff["user"]["email"].as_str().expect("email"),
            USER_PASSWORD,
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["user"]["role"], "customer");
    expect_problem(
        app.admin_request(Method::PATCH, "/api/v1/users/usr_nope")
            .json(&json!({"disabled": true})),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_ends_their_logins_refreshes_tokens_and_websockets_at_once() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let session = app.new_customer().await;
    let email = session["user"]["email"].as_str().expect("email").to_owned();
    let id = session["user"]["id"].as_str().expect("id").to_owned();
    let token = access_token(&session);
    let mut ws = app.ws_as(&token).await;
    ws.subscribe(&format!("product:{product}")).await;
    // One connection authenticated by the `auth` op rather than `?token=`.
    let mut by_op = app.ws().await;
    by_op.send_json(json!({"op": "auth", "token": token})).await;
    assert_eq!(by_op.next_json().await["type"], "authenticated");
    let mut anonymous = app.ws().await;
    anonymous.subscribe(&format!("product:{product}")).await;
    assert_eq!(me(&app, &token).await, 200);

    let (status, user) = patch_user(&app, &id, json!({"disabled": true})).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["disabled"], true);
    let disabled_at = Instant::now();

    for socket in [&mut ws, &mut by_op] {
        assert_eq!(socket.close_code(Duration::from_secs(1)).await, Some(4001));
    }
    assert!(disabled_at.elapsed() < Duration::from_secs(1));
    expect_problem(
        app.request_as(Method::GET, "/api/v1/me", Some(&token)),
        401,
        "unauthorized",
    )
    .await;
    let (status, refused) = app.login(&email, USER_PASSWORD).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (401, Some("invalid_credentials")),
        "{refused}"
    );
    let (status, _) = refresh(&app, &refresh_token(&session)).await;
    assert_eq!(status, 401);
    // A WebSocket cannot be opened with the token either.
    let refused = tokio_tungstenite::connect_async(format!("{}?token={token}", app.ws_url())).await;
    assert!(refused.is_err(), "the upgrade was accepted");
    // Other connections are untouched.
    anonymous.assert_nothing_pending().await;

    // Re-enabled, the user logs in again; the old token stays refused.
    let (status, user) = patch_user(&app, &id, json!({"disabled": false})).await;
    assert_eq!((status, &user["disabled"]), (200, &json!(false)), "{user}");
    let (status, again) = app.login(&email, USER_PASSWORD).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(me(&app, &access_token(&again)).await, 200);
    assert_eq!(me(&app, &token).await, 401);
    let (status, _) = refresh(&app, &refresh_token(&again)).await;
    assert_eq!(status, 200);
}

/// Registers a customer on the server at `addr`; returns the session.
async fn register_at(client: &reqwest::Client, addr: std::net::SocketAddr) -> Value {
    let email = format!("customer-{}@example.com", rand_suffix());
    let (status, session) = send(
        client
            .post(format!("http://{addr}/api/v1/auth/register"))
            .json(&json!({"email": email, "password": USER_PASSWORD, "name": "Cus Tomer"})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disable_survives_a_restart_and_tokens_issued_before_it_stay_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[]);
    wait_ready(&client, server.addr).await;
    let addr = server.addr;
    let disabled = register_at(&client, addr).await;
    let revoked = register_at(&client, addr).await;
    let untouched = register_at(&client, addr).await;
    let id = |s: &Value| s["user"]["id"].as_str().expect("id").to_owned();
    let patch = |user: String, body: Value| {
        client
            .patch(format!("http://{addr}/api/v1/users/{user}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
    };
    assert_eq!(
        send(patch(id(&disabled), json!({"disabled": true})))
            .await
            .0,
        200
    );
    // Disabled and enabled again: sessions from before stay ended.
    for flag in [true, false] {
        assert_eq!(
            send(patch(id(&revoked), json!({"disabled": flag}))).await.0,
            200
        );
    }
    // Acknowledged writes survive kill -9.
    server.kill_9();

    let server = ServerProcess::start(dir.path(), &[]);
    wait_ready(&client, server.addr).await;
    let addr = server.addr;
    let me_at = |token: String| {
        let client = client.clone();
        async move {
            send(
                client
                    .get(format!("http://{addr}/api/v1/me"))
                    .bearer_auth(token),
            )
            .await
            .0
        }
    };
    assert_eq!(me_at(access_token(&disabled)).await, 401);
    assert_eq!(me_at(access_token(&revoked)).await, 401);
    assert_eq!(me_at(access_token(&untouched)).await, 200);
    let login = |session: &Value| {
        client
            .post(format!("http://{addr}/api/v1/auth/login"))
            .json(&json!({"email": session["user"]["email"], "password": USER_PASSWORD}))
    };
    let (status, refused) = send(login(&disabled)).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    assert_eq!(send(login(&revoked)).await.0, 200);
    let (status, user) = send(
        client
            .get(format!("http://{addr}/api/v1/users/{}", id(&disabled)))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!((status, &user["disabled"]), (200, &json!(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_ends_every_other_session_and_keeps_the_callers_refresh_token() {
    let app = spawn_app().await;
    let mine = app.new_customer().await;
    let email = mine["user"]["email"].as_str().expect("email").to_owned();
    let (status, other) = app.login(&email, USER_PASSWORD).await;
    assert_eq!(status, 200);
    let mut other_ws = app.ws_as(&access_token(&other)).await;
    let change = |token: &str, current: &str, new: &str| {
        app.request_as(Method::POST, "/api/v1/me/password", Some(token))
            .json(&json!({"current_password": current, "new_password": new}))
    };

    // Wrong current password, weak new one, anonymous and the admin token are refused.
    let token = access_token(&mine);
    expect_problem(
        change(&token, "not it at all", "a new passphrase"),
        401,
        "invalid_credentials",
    )
    .await;
    let problem = expect_problem(
        change(&token, USER_PASSWORD, "short"),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["new_password"]);
    expect_problem(
        app.client
            .post(app.url("/api/v1/me/password"))
            .json(&json!({"current_password": "x", "new_password": "yyyyyyyy"})),
        401,
        "unauthorized",
    )
    .await;
    expect_problem(
        change(ADMIN_TOKEN, "x", "a new passphrase"),
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        me(&app, &access_token(&other)).await,
        200,
        "nothing changed yet"
    );

    let (status, body) = send(change(&token, USER_PASSWORD, "a new passphrase")).await;
    assert_eq!(status, 204, "{body}");

    // The other session is over: refresh token, access token and WebSocket.
    let (status, _) = refresh(&app, &refresh_token(&other)).await;
    assert_eq!(status, 401);
    assert_eq!(me(&app, &access_token(&other)).await, 401);
    assert_eq!(
        other_ws.close_code(Duration::from_secs(1)).await,
        Some(4001)
    );
    // The caller's refresh token still works (its access token is renewed by it).
    let (status, renewed) = refresh(&app, &refresh_token(&mine)).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(me(&app, &access_token(&renewed)).await, 200);
    // Only the new password logs in.
    assert_eq!(app.login(&email, USER_PASSWORD).await.0, 401);
    assert_eq!(app.login(&email, "a new passphrase").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_users_tab_lists_filters_disables_and_changes_roles_in_chromium() {
    use crate::browser::{Driver, click, eval, fill, open, programs, screenshot, wait_until};
    use futures_util::FutureExt;
    let Some(programs) = programs() else {
        return;
    };
    let app = spawn_app().await;
    let store = app.create_store().await;
    let admin = app.new_user("admin", None).await;
    let customer = app.new_customer().await;
    let customer_id = customer["user"]["id"].as_str().expect("id").to_owned();
    let customer_email = customer["user"]["email"]
        .as_str()
        .expect("email")
        .to_owned();
    let staff = app.new_user("staff", Some(&store)).await;
    let mut driver = Driver::start(&programs).await;
    let browser = driver.session(1280, 900).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        open(&browser, &app.url("/dashboard")).await;
        fill(&browser, "#email", admin["user"]["email"].as_str().expect("email")).await;
        fill(&browser, "#password", USER_PASSWORD).await;
        click(&browser, "#signin-submit").await;
        click(&browser, "#tab-users").await;
        wait_until(
            &browser,
            "every user listed",
            "document.querySelectorAll('#users-list tr').length === 3",
        )
        .await;
        assert_eq!(
            eval(&browser, "document.querySelector('#users-total').textContent").await,
            "3"
        );

        // Filter by text, then by role.
        fill(&browser, "#users-q", &customer_email).await;
        click(&browser, "#users-filter button[type=submit]").await;
        let row = format!("#users-list tr[data-user-id='{customer_id}']");
        wait_until(
            &browser,
            "only the customer listed",
            &format!(
                "document.querySelectorAll('#users-list tr').length === 1 && !!document.querySelector(\"{row}\")"
            ),
        )
        .await;
        fill(&browser, "#users-q", "").await;
        eval(
            &browser,
            "(() => { const s = document.querySelector('#users-role'); s.value = 'staff'; return true; })()",
        )
        .await;
        click(&browser, "#users-filter button[type=submit]").await;
        let staff_id = staff["user"]["id"].as_str().expect("id");
        wait_until(
            &browser,
            "only the staff member listed",
            &format!(
                "document.querySelectorAll('#users-list tr').length === 1 && !!document.querySelector(\"#users-list tr[data-user-id='{staff_id}']\")"
            ),
        )
        .await;
        eval(
            &browser,
            "(() => { document.querySelector('#users-role').value = ''; return true; })()",
        )
        .await;
        click(&browser, "#users-filter button[type=submit]").await;

        // Disable the customer: the API refuses their token and login from then on.
        click(&browser, &format!("{row} button")).await;
        wait_until(
            &browser,
            "the customer shown disabled",
            &format!("document.querySelector(\"{row} .user-status\")?.textContent === 'Disabled'"),
        )
        .await;
        screenshot(&browser, "dashboard-users").await;
        assert_eq!(me(&app, &access_token(&customer)).await, 401);
        assert_eq!(app.login(&customer_email, USER_PASSWORD).await.0, 401);
        click(&browser, &format!("{row} button")).await;
        wait_until(
            &browser,
            "the customer shown active",
            &format!("document.querySelector(\"{row} .user-status\")?.textContent === 'Active'"),
        )
        .await;
        assert_eq!(app.login(&customer_email, USER_PASSWORD).await.0, 200);

        // Make them staff of the store: role, then store.
        eval(
            &browser,
            &format!(
                "(() => {{ const s = document.querySelector(\"{row} select[aria-label^=Role]\"); \
                 s.value = 'staff'; s.dispatchEvent(new Event('change')); return true; }})()"
            ),
        )
        .await;
        eval(
            &browser,
            &format!(
                "(() => {{ const s = document.querySelector(\"{row} select[aria-label^=Store]\"); \
                 s.value = '{store}'; s.dispatchEvent(new Event('change')); return true; }})()"
            ),
        )
        .await;
        let (_, user) = app.admin_get(&format!("/api/v1/users/{customer_id}")).await;
        let mut user = user;
        for _ in 0..100 {
            if user["role"] == "staff" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            user = app.admin_get(&format!("/api/v1/users/{customer_id}")).await.1;
        }
        assert_eq!(user["role"], "staff", "{user}");
        assert_eq!(user["store_id"], store.as_str());
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
