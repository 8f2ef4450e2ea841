//! Product images (docs/API.md §14, "Media"): multipart uploads typed by their bytes, the
//! size limit, `/media/` serving with immutable caching and resized copies, presigned PUT
//! URLs, deletion, access rules, and durability across `kill -9`.

use crate::helpers::*;
use reqwest::{Method, multipart};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::{io::Cursor, time::Duration};

/// A PNG of `width` × `height`; `noise` fills it with pseudo-random pixels (which do not
/// compress, so the file is about `width * height * 4` bytes).
fn png(width: u32, height: u32, noise: bool) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let picture = image::RgbaImage::from_fn(width, height, |x, y| {
        if noise {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            image::Rgba(state.to_le_bytes())
        } else {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 120, 255])
        }
    });
    let mut out = Cursor::new(Vec::new());
    picture
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `POST /products/{id}/images` with one `file` part named and typed as the caller says.
async fn upload(
    app: &TestApp,
    product: &str,
    token: Option<&str>,
    bytes: Vec<u8>,
    file_name: &str,
    mime: &str,
) -> (u16, Value) {
    let part = multipart::Part::bytes(bytes)
        .file_name(file_name.to_owned())
        .mime_str(mime)
        .expect("mime");
    let form = multipart::Form::new().part("file", part);
    send(
        app.request_as(
            Method::POST,
            &format!("/api/v1/products/{product}/images"),
            token,
        )
        .multipart(form),
    )
    .await
}

async fn image_urls(app: &TestApp, product: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/api/v1/products/{product}")).await;
    assert_eq!(status, 200, "{body}");
    body["image_urls"]
        .as_array()
        .expect("image_urls")
        .iter()
        .map(|u| u.as_str().expect("url").to_owned())
        .collect()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

async fn fixture() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;
    (app, store, product)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_png_named_jpg_is_stored_as_png_served_immutably_resized_and_deleted() {
    let (app, _, product) = fixture().await;
    let bytes = png(600, 300, false);
    let (status, image) = upload(
        &app,
        &product,
        Some(ADMIN_TOKEN),
        bytes.clone(),
        "holiday.jpg",
        "image/jpeg",
    )
    .await;
    assert_eq!(status, 201, "{image}");
    let sha = sha256_hex(&bytes);
    let url = format!("/media/{sha}.png");
    assert_eq!(image["url"], url.as_str());
    assert_eq!(image["content_type"], "image/png");
    assert_eq!(image["width"], 600);
    assert_eq!(image["height"], 300);
    assert_eq!(image["bytes"], bytes.len());
    assert!(
        image["id"].as_str().expect("id").starts_with("img_"),
        "{image}"
    );
    assert_eq!(image_urls(&app, &product).await, vec![url.clone()]);
    let (status, listed) = app.get(&format!("/api/v1/products/{product}/images")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"], serde_json::json!([image.clone()]));
    assert_eq!(listed["total"], 1);

    // Served as stored, with the caching headers.
    let response = app.client.get(app.url(&url)).send().await.expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/png");
    assert_eq!(header(&response, "etag"), format!("\"{sha}\""));
    assert_eq!(
        header(&response, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(response.bytes().await.expect("body").to_vec(), bytes);

    // The ETag revalidates.
    let response = app
        .client
        .get(app.url(&url))
        .header("if-none-match", format!("\"{sha}\""))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 304);
    assert!(response.bytes().await.expect("body").is_empty());

    // A copy 200 pixels wide, aspect ratio kept; served the same way the second time.
    for _ in 0..2 {
        let response = app
            .client
            .get(app.url(&format!("{url}?w=200")))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "content-type"), "image/png");
        let small = response.bytes().await.expect("body");
        let decoded =
            image::load_from_memory_with_format(&small, image::ImageFormat::Png).expect("a png");
        assert_eq!((decoded.width(), decoded.height()), (200, 100));
    }
    expect_problem(
        app.client.get(app.url(&format!("{url}?w=300"))),
        422,
        "validation_failed",
    )
    .await;

    // Names are checked strictly.
    for bad in [
        format!("/media/{sha}.jpg"),
        format!("/media/{sha}.svg"),
        format!("/media/{}.png", sha.to_uppercase()),
        "/media/..%2Fsecrets".to_owned(),
        "/media/%2E%2E%2F%2E%2E%2Fsecrets".to_owned(),
    ] {
        let (status, _) = app.get(&bad).await;
        assert_eq!(status, 404, "{bad}");
    }

    // Deleting removes it from the product and, unreferenced, from /media.
    let id = image["id"].as_str().expect("id");
    let (status, body) = app
        .admin_delete(&format!("/api/v1/products/{product}/images/{id}"))
        .await;
    assert_eq!(status, 204, "{body}");
    assert!(image_urls(&app, &product).await.is_empty());
    let (status, _) = app.get(&url).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .admin_delete(&format!("/api/v1/products/{product}/images/{id}"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_file_is_415_an_11_mb_file_is_413_and_a_2_mb_image_passes_the_json_limit() {
    let (app, _, product) = fixture().await;
    let problem = upload(
        &app,
        &product,
        Some(ADMIN_TOKEN),
        b"just some words, not a picture\n".to_vec(),
        "notes.png",
        "image/png",
    )
    .await;
    assert_eq!(problem.0, 415, "{}", problem.1);
    assert_eq!(problem.1["code"], "unsupported_media_type");

    let mut huge = png(16, 16, false);
    huge.resize(11 * 1024 * 1024, 0);
    let problem = upload(
        &app,
        &product,
        Some(ADMIN_TOKEN),
        huge,
        "huge.png",
        "image/png",
    )
    .await;
    assert_eq!(problem.0, 413, "{}", problem.1);
    assert_eq!(problem.1["code"], "payload_too_large");
    assert!(image_urls(&app, &product).await.is_empty());

    // Over http.max_body_bytes (1 MiB) but under media.max_upload_bytes: accepted.
    let big = png(800, 700, true);
    assert!(big.len() > 2 * 1024 * 1024, "{}", big.len());
    let (status, image) = upload(
        &app,
        &product,
        Some(ADMIN_TOKEN),
        big,
        "big.png",
        "image/png",
    )
    .await;
    assert_eq!(status, 201, "{image}");
    assert_eq!(image_urls(&app, &product).await.len(), 1);
}

async fn upload_url(app: &TestApp, product: &str) -> String {
    let (status, body) = app
        .admin_post_empty(&format!("/api/v1/products/{product}/images/upload-url"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_rfc3339_millis(&body["expires_at"]);
    body["upload_url"].as_str().expect("upload_url").to_owned()
}

async fn put(app: &TestApp, upload_url: &str, bytes: Vec<u8>) -> (u16, Value) {
    send(
        app.client
            .put(app.url(upload_url))
            .header("content-type", "application/octet-stream")
            .body(bytes),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_url_takes_one_put_and_refuses_a_second_or_an_altered_one() {
    let (app, _, product) = fixture().await;
    let url = upload_url(&app, &product).await;
    let bytes = png(300, 200, false);
    let (status, image) = put(&app, &url, bytes.clone()).await;
    assert_eq!(status, 201, "{image}");
    assert_eq!(image["content_type"], "image/png");
    assert_eq!(image["width"], 300);
    assert_eq!(
        image_urls(&app, &product).await,
        vec![image["url"].as_str().expect("url").to_owned()]
    );

    let (status, body) = put(&app, &url, bytes.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");

    // Another URL with one character of its signature changed.
    let fresh = upload_url(&app, &product).await;
    let mut altered = fresh.clone();
    let last = altered.pop().expect("a character");
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = put(&app, &altered, bytes.clone()).await;
    assert_eq!(status, 403, "{body}");
    // …and with another product id in it.
    let other = app.create_product(&app.create_store().await, 1).await;
    let moved = fresh.replace(&product, &other);
    let (status, body) = put(&app, &moved, bytes.clone()).await;
    assert_eq!(status, 403, "{body}");
    // The same checks as the multipart upload.
    let (status, body) = put(&app, &fresh, b"plain text".to_vec()).await;
    assert_eq!(status, 415, "{body}");
    let (status, body) = put(&app, &fresh, bytes).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(image_urls(&app, &other).await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_presigned_url_is_refused() {
    let app = spawn_app_with(|config| config.media.upload_url_seconds = 1).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;
    let url = upload_url(&app, &product).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = put(&app, &url, png(50, 50, false)).await;
    assert_eq!(status, 403, "{body}");
    assert!(image_urls(&app, &product).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_staff_of_the_store_or_an_admin_manage_images_and_an_unknown_product_is_404() {
    let (app, store, product) = fixture().await;
    let other_store = app.create_store().await;
    let customer = app.customer().await;
    let outsider = app.staff(&other_store).await;
    let staff = app.staff(&store).await;
    let bytes = png(40, 40, false);

    for token in [customer.token.as_str(), outsider.token.as_str()] {
        let (status, body) = upload(
            &app,
            &product,
            Some(token),
            bytes.clone(),
            "a.png",
            "image/png",
        )
        .await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/v1/products/{product}/images/upload-url"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, _) = upload(&app, &product, None, bytes.clone(), "a.png", "image/png").await;
    assert_eq!(status, 401);
    let (status, body) = upload(
        &app,
        "prod_doesnotexistdoesnotexist00",
        Some(ADMIN_TOKEN),
        bytes.clone(),
        "a.png",
        "image/png",
    )
    .await;
    assert_eq!(status, 404, "{body}");

    let (status, image) = upload(
        &app,
        &product,
        Some(&staff.token),
        bytes,
        "a.png",
        "image/png",
    )
    .await;
    assert_eq!(status, 201, "{image}");
    let path = format!("/api/v1/products/{product}/images/{}", id_of(&image));
    let (status, body) = app
        .call(Method::DELETE, &path, Some(&customer.token), None)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app
        .call(Method::DELETE, &path, Some(&staff.token), None)
        .await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_urls_take_own_media_paths_and_refuse_other_relative_paths() {
    let (app, _, product) = fixture().await;
    let path = format!("/api/v1/products/{product}");
    let own = format!("/media/{}.png", "ab".repeat(32));
    let (status, body) = app
        .admin_patch(
            &path,
            serde_json::json!({"image_urls": [own, "/assets/demo-tee.svg"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for junk in [
        "/etc/passwd",
        "../x.png",
        "//evil.example/x.png",
        "/media/x.png",
    ] {
        let (status, body) = app
            .admin_patch(&path, serde_json::json!({"image_urls": [junk]}))
            .await;
        assert_eq!(status, 422, "{junk}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_upload_survives_kill_9_with_its_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 1).await;
    let bytes = png(120, 80, false);
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(bytes.clone()).file_name("a.png"),
    );
    let (status, image) = send(
        client
            .post(format!("http://{addr}/api/v1/products/{product}/images"))
            .bearer_auth(ADMIN_TOKEN)
            .multipart(form),
    )
    .await;
    assert_eq!(status, 201, "{image}");
    server.kill_9();

    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let url = image["url"].as_str().expect("url");
    let (_, body) = send(client.get(format!("http://{addr}/api/v1/products/{product}"))).await;
    assert_eq!(body["image_urls"], serde_json::json!([url]));
    let served = client
        .get(format!("http://{addr}{url}"))
        .send()
        .await
        .expect("get");
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.expect("body").to_vec(), bytes);
}

/// The demo storefront in Chromium: every demo product has a drawn picture that loads, and a
/// product whose image link is broken falls back to its initials ("AP" for "Arancini (3 pcs)",
/// not "A(") on its card and on its page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_storefront_shows_pictures_and_initials_for_a_broken_one_in_chromium() {
    use crate::browser::{
        Driver, card, click, eval, open, programs, screenshot, wait_text, wait_until,
    };
    let Some(programs) = programs() else {
        return;
    };
    let app = spawn_app_with(|config| config.demo = true).await;
    let (_, stores) = app.get("/api/v1/stores").await;
    let restaurant = stores["items"]
        .as_array()
        .expect("stores")
        .iter()
        .find(|s| s["kind"] == "restaurant")
        .map(id_of)
        .expect("a demo restaurant");
    let (_, products) = app
        .get(&format!(
            "/api/v1/products?store_id={restaurant}&per_page=100"
        ))
        .await;
    let products = products["items"].as_array().expect("products").clone();
    for product in &products {
        let picture = product["image_urls"][0].as_str().expect("a demo picture");
        assert!(picture.starts_with("/assets/demo-"), "{product}");
    }
    let picture = products[0]["image_urls"][0].as_str().expect("picture");
    let response = app.client.get(app.url(picture)).send().await.expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/svg+xml");
    let arancini = products
        .iter()
        .find(|p| p["name"] == "Arancini (3 pcs)")
        .map(id_of)
        .expect("the arancini");
    let broken = format!("/media/{}.png", "0".repeat(64));
    let (status, body) = app
        .admin_patch(
            &format!("/api/v1/products/{arancini}"),
            serde_json::json!({"image_urls": [broken]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let mut driver = Driver::start(&programs).await;
    let browser = driver.session(1280, 900).await;
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        open(&browser, &app.url(&format!("/?store={restaurant}"))).await;
        wait_until(
            &browser,
            "the first card's picture to load",
            "document.querySelector('li.product .thumb img')?.complete \
             && document.querySelector('li.product .thumb img').naturalWidth > 0",
        )
        .await;
        let first = eval(
            &browser,
            "document.querySelector('li.product').contains(document.querySelector('li.product .thumb img'))",
        )
        .await;
        assert_eq!(first, serde_json::json!(true), "the first card has the picture");
        let thumb = format!("{} .thumb", card(&arancini));
        wait_text(&browser, &thumb, "AP").await;
        let img = eval(
            &browser,
            &format!("document.querySelector({}) === null", serde_json::json!(format!("{thumb} img"))),
        )
        .await;
        assert_eq!(img, serde_json::json!(true), "the broken image is gone");
        screenshot(&browser, "storefront-demo-pictures").await;
        click(&browser, &format!("{} .product-name a", card(&arancini))).await;
        wait_text(&browser, "#product-title", "Arancini (3 pcs)").await;
        wait_text(&browser, "#product-body .detail-image", "AP").await;
    }))
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
