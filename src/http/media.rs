//! Product images over HTTP (docs/API.md §14, "Media"): the multipart upload, presigned
//! upload URLs and their `PUT`, deletion, and `GET /media/{file}` with immutable caching.
//!
//! The upload routes read their bodies themselves, up to `media.max_upload_bytes` (the
//! router-wide `http.max_body_bytes` is lifted for them): a body over the limit is read on
//! and dropped for a bounded while before the 413 goes out, so the client, still sending,
//! reads the answer instead of a reset connection.

use super::{
    extract::{ApiPath, ApiQuery, Caller, pagination},
    schema as s,
};
use crate::{
    app::App,
    domain::{
        error::FieldError,
        ids::{ImageId, ProductId},
        time::rfc3339,
    },
    error::AppError,
    media::{MediaError, files::WIDTHS},
    persistence::StoredImage,
    views,
};
use axum::{
    Json,
    body::{Body, Bytes},
    extract::{FromRequest, Multipart, Request, State, multipart::MultipartError},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};
use utoipa::{IntoParams, ToSchema};

/// How long, and how much past the limit, an oversized body is read and dropped.
const DRAIN_FOR: Duration = Duration::from_secs(5);
const DRAIN_EXTRA: usize = 32 << 20;
/// `Cache-Control` of every picture: its name is its content, so it never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl From<MediaError> for AppError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::NotFound => Self::NotFound,
            MediaError::UploadRefused => Self::Forbidden,
            MediaError::Unsupported => Self::UnsupportedImage,
            MediaError::Invalid { field, message } => Self::field(field, message),
            MediaError::Actor(e) => e.into(),
            MediaError::Storage(e) => e.into(),
            MediaError::Io(detail) => Self::Unavailable(detail),
        }
    }
}

/// The `multipart/form-data` body of an upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageUpload {
    /// The picture: PNG, JPEG, WebP or GIF, told by its bytes (the part's file name and
    /// `Content-Type` are ignored); at most `media.max_upload_bytes`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// An uploaded image.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Image {
    /// `img_…`
    id: String,
    /// `/media/<sha256>.<ext>`: now also in the product's `image_urls`.
    #[schema(example = "/media/3f0c…9a.png")]
    url: String,
    /// Pixels.
    width: u32,
    /// Pixels.
    height: u32,
    /// Size of the stored file.
    bytes: u64,
    /// The type found in the bytes: `image/png`, `image/jpeg`, `image/webp` or `image/gif`.
    content_type: String,
}

/// A page of a product's uploaded images.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImagePage {
    /// Oldest first.
    items: Vec<Image>,
    /// From 1.
    page: u64,
    /// 1–100.
    per_page: u64,
    /// Images across all pages.
    total: u64,
}

/// Pagination of `GET /products/{id}/images`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListImages {
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

/// A presigned upload URL.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadUrl {
    /// Path (on this server) for one `PUT` of the raw picture; no bearer token needed.
    #[schema(example = "/api/v1/uploads/prod_….1767225600000.img_….Qk9…")]
    upload_url: String,
    /// When it stops working (`media.upload_url_seconds` after it was made).
    expires_at: String,
}

/// `?w=` of `GET /media/{file}`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MediaQuery {
    /// A copy this many pixels wide, aspect ratio kept: 200, 400 or 800 (a picture that is
    /// not wider is answered as it is).
    #[param(value_type = Option<u32>)]
    w: Option<u32>,
}

fn image_json(image: &StoredImage) -> Value {
    json!({
        "id": image.id,
        "url": image.url(),
        "width": image.width,
        "height": image.height,
        "bytes": image.bytes,
        "content_type": image.content_type,
    })
}

/// The product, visible to the caller, who must be staff of its store or an admin.
fn staff_product(app: &App, caller: &Caller, raw: &str) -> Result<ProductId, AppError> {
    let id = ProductId::parse(raw).ok_or(AppError::NotFound)?;
    let view = app
        .shared
        .read_model
        .product(&id)
        .ok_or(AppError::NotFound)?;
    caller.require_store_staff(&view.catalog.store_id)?;
    Ok(id)
}

/// Reads a stream of chunks up to `limit` bytes; past it, drains the rest (bounded) and
/// answers 413.
async fn read_limited<E: std::fmt::Display>(
    mut chunks: impl Stream<Item = Result<Bytes, E>> + Unpin,
    limit: usize,
) -> Result<Vec<u8>, AppError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| AppError::InvalidBody(format!("reading the body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            let drain = async {
                let mut extra = 0usize;
                while let Some(Ok(chunk)) = chunks.next().await {
                    extra += chunk.len();
                    if extra > DRAIN_EXTRA {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_FOR, drain).await;
            return Err(AppError::PayloadTooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn multipart_error(e: MultipartError, limit: usize) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge(limit)
    } else {
        AppError::InvalidBody(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// `POST /products/{id}/images` (staff of the product's store, admin): one `file` part.
#[utoipa::path(post, path = "/api/v1/products/{id}/images", operation_id = "upload_product_image", tag = "Media", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored; its `url` is appended to the product's `image_urls` (`product.updated`).", body = Image),
        (status = 400, response = s::BadRequest),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn upload(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let product = staff_product(&app, &caller, &id)?;
    let limit = app.config.media.max_upload_bytes;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !is_multipart {
        return Err(AppError::InvalidBody(
            "expected a multipart/form-data body with one `file` part".into(),
        ));
    }
    let mut multipart = Multipart::from_request(request, &app)
        .await
        .map_err(|e| AppError::InvalidBody(format!("malformed multipart body: {e}")))?;
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            let name = if name.is_empty() { "part".into() } else { name };
            return Err(AppError::field(name, "unknown part; send only `file`"));
        }
        if file.is_some() {
            return Err(AppError::field("file", "send one `file` part only"));
        }
        let chunks = futures_util::stream::unfold(field, |mut field| async move {
            match field.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), field)),
                Ok(None) => None,
                Err(e) => Some((Err(e.body_text()), field)),
            }
        });
        file = Some(read_limited(Box::pin(chunks), limit).await?);
    }
    let bytes = file.ok_or_else(|| AppError::field("file", "is required"))?;
    let image = app
        .media
        .add(&product, ImageId::generate(), bytes, false)
        .await?;
    Ok((StatusCode::CREATED, Json(image_json(&image))))
}

/// `GET /products/{id}/images` (anyone who sees the product): its uploaded images with their
/// ids (what `DELETE` takes), oldest first.
#[utoipa::path(get, path = "/api/v1/products/{id}/images", operation_id = "list_product_images", tag = "Media", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`"), ListImages),
    responses(
        (status = 200, description = "A page of the product's uploaded images.", body = ImagePage),
        (status = 401, response = s::Unauthorized),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListImages>,
) -> Result<Json<Value>, AppError> {
    let (page, per_page) = pagination(query.page, query.per_page)?;
    let id = ProductId::parse(&id).ok_or(AppError::NotFound)?;
    if app.shared.read_model.product(&id).is_none() {
        return Err(AppError::NotFound);
    }
    let storage = app.shared.storage.clone();
    let lookup = id.clone();
    let mut images = tokio::task::spawn_blocking(move || storage.images(Some(&lookup)))
        .await
        .map_err(|e| AppError::Internal(format!("listing images: {e}")))??;
    images.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
    Ok(Json(views::page_of(&images, page, per_page, image_json)))
}

/// `POST /products/{id}/images/upload-url` (staff of the product's store, admin).
#[utoipa::path(post, path = "/api/v1/products/{id}/images/upload-url", operation_id = "create_image_upload_url", tag = "Media", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`")),
    responses(
        (status = 200, description = "A signed URL for one `PUT` of the raw picture, valid until `expires_at`.", body = UploadUrl),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn upload_url(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let product = staff_product(&app, &caller, &id)?;
    let (token, expires_at) = app.media.upload_token(&product);
    Ok(Json(json!({
        "upload_url": format!("/api/v1/uploads/{token}"),
        "expires_at": rfc3339(expires_at),
    })))
}

/// `PUT /uploads/{token}` (whoever holds the URL): the raw picture as the body.
#[utoipa::path(put, path = "/api/v1/uploads/{token}", operation_id = "put_presigned_image", tag = "Media",
    params(("token" = String, Path, description = "From `upload_url`.")),
    request_body(content = String, content_type = "application/octet-stream", description = "The raw picture (PNG, JPEG, WebP or GIF by its bytes; the declared type is ignored)."),
    responses(
        (status = 201, description = "Stored and appended to the product's `image_urls`; the URL is spent.", body = Image),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 413, response = s::PayloadTooLarge),
        (status = 415, response = s::UnsupportedMediaType),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn put_presigned(
    State(app): State<Arc<App>>,
    ApiPath(token): ApiPath<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let claim = app.media.claim_upload(&token)?;
    let bytes = read_limited(body.into_data_stream(), app.config.media.max_upload_bytes).await?;
    let image = claim.complete(bytes).await?;
    Ok((StatusCode::CREATED, Json(image_json(&image))))
}

/// `DELETE /products/{id}/images/{image_id}` (staff of the product's store, admin).
#[utoipa::path(delete, path = "/api/v1/products/{id}/images/{image_id}", operation_id = "delete_product_image", tag = "Media", security(("bearer" = [])),
    params(("id" = String, Path, description = "`prod_…`"), ("image_id" = String, Path, description = "`img_…`")),
    responses(
        (status = 204, description = "Removed from the product's `image_urls`; the file goes when no other image has the same bytes."),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath((id, image)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    let product = staff_product(&app, &caller, &id)?;
    let image = ImageId::parse(&image).ok_or(AppError::NotFound)?;
    app.media.remove(&product, &image).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak tags compare by their value.
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || tag.trim_matches('"') == etag
        })
}

/// `GET /media/{file}` (anyone): a stored picture, or `?w=` a resized copy of it.
#[utoipa::path(get, path = "/media/{file}", operation_id = "get_media", tag = "Media", security(()),
    params(("file" = String, Path, description = "`<sha256>.<ext>` from an image's `url`."), MediaQuery,
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of a copy the client has: 304 when it matches.")),
    responses(
        (status = 200, description = "The picture in its stored type, with `ETag`, `Cache-Control: public, max-age=31536000, immutable` and `X-Content-Type-Options: nosniff`.",
            content((String = "image/png"), (String = "image/jpeg"), (String = "image/webp"), (String = "image/gif"))),
        (status = 304, description = "Not modified: `If-None-Match` named this `ETag`."),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn file(
    State(app): State<Arc<App>>,
    ApiPath(file): ApiPath<String>,
    ApiQuery(query): ApiQuery<MediaQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(width) = query.w
        && !WIDTHS.contains(&width)
    {
        return Err(AppError::Validation(vec![FieldError::new(
            "w",
            "must be 200, 400 or 800",
        )]));
    }
    let served = app.media.serve(&file, query.w).await?;
    let etag = HeaderValue::from_str(&format!("\"{}\"", served.etag))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::ETAG, etag),
    ];
    if matches_etag(&headers, &served.etag) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    Ok((
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(served.kind.content_type()),
        )],
        served.bytes,
    )
        .into_response())
}
