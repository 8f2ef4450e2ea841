//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the REST API, generated from the
//! handlers' `#[utoipa::path]` annotations, their input types and [`super::schema`]; and
//! `GET /api/docs`, a self-contained page that renders it (no CDN, no external assets).

use super::{
    asyncapi, display_currency, events, exchange_rates, exports, fulfillment, insights, media,
    notifications, search, socket, telemetry, webhooks,
};
use super::{
    auth, carts, health, locations, orders, products, recommendations, reservations, reviews,
    schema, stores, users, waitlist,
};
use axum::{
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Response},
};
use std::sync::LazyLock;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Emporium",
        description = "Real-time commerce engine: stores, products and live stock, reservations, \
accounts, carts, orders and payments. Every error is `application/problem+json` (RFC 9457) \
with a `code` (see the `Problem` schema). Live updates: the WebSocket at `/api/v1/ws` \
(docs/API.md §9).",
        license(name = "MIT", identifier = "MIT"),
    ),
    modifiers(&BearerAuth, &RawLimits, &DisplayCurrency),
    paths(
        health::healthz,
        health::readyz,
        telemetry::render,
        document,
        stores::list,
        stores::create,
        stores::get,
        stores::set_status,
        locations::create,
        locations::list,
        locations::update,
        locations::update_store,
        locations::transfer,
        waitlist::join,
        waitlist::leave,
        waitlist::list,
        waitlist::mine,
        search::search,
        search::suggest,
        search::get_synonyms,
        search::set_synonyms,
        products::list,
        products::create,
        products::get,
        products::update,
        products::archive,
        products::inventory,
        products::adjust,
        products::movements,
        reviews::create,
        reviews::list,
        reviews::update,
        reviews::delete,
        recommendations::get,
        reservations::create,
        reservations::get,
        reservations::commit,
        reservations::release,
        reservations::extend,
        auth::register,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::verify_email,
        auth::request_password_reset,
        auth::confirm_password_reset,
        auth::me,
        auth::create_user,
        users::list,
        users::get,
        users::update,
        users::change_password,
        notifications::list,
        notifications::get,
        notifications::get_preferences,
        notifications::set_preferences,
        carts::create,
        carts::get,
        carts::set_item,
        carts::remove_item,
        carts::delete,
        orders::create,
        orders::list,
        orders::get,
        orders::set_status,
        orders::cancel,
        orders::ledger,
        fulfillment::create,
        fulfillment::event,
        fulfillment::refund,
        fulfillment::create_return,
        fulfillment::list,
        fulfillment::approve,
        fulfillment::reject,
        fulfillment::receive,
        fulfillment::undo,
        socket::upgrade,
        asyncapi::document,
        events::topic,
        events::order,
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::update,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::deliveries,
        webhooks::redeliver,
        exchange_rates::get,
        exchange_rates::set,
        exports::orders,
        exports::movements,
        exports::import_products,
        insights::get,
        media::upload,
        media::list,
        media::upload_url,
        media::put_presigned,
        media::delete,
        media::file,
    ),
    components(schemas(schema::Problem, schema::ProductSort, schema::ReviewSort, schema::RecommendationKind, schema::StockChanged, schema::StockLow, schema::OrderStatusChanged, schema::OrderStuck, schema::StoreMetrics), responses(
        schema::BadRequest,
        schema::Unauthorized,
        schema::PaymentFailed,
        schema::Forbidden,
        schema::NotFound,
        schema::Conflict,
        schema::PayloadTooLarge,
        schema::UnsupportedMediaType,
        schema::Unprocessable,
        schema::RateLimited,
        schema::UpgradeRequired,
        schema::Unavailable,
        schema::UriTooLong,
        schema::HeadersTooLarge,
    )),
    tags(
        (name = "Health", description = "Liveness, readiness and metrics."),
        (name = "Stores", description = "docs/API.md §4."),
        (name = "Products", description = "Catalog and stock (docs/API.md §5)."),
        (name = "Reviews", description = "Verified-purchase reviews and ratings (docs/API.md §11)."),
        (name = "Reservations", description = "Stock holds (docs/API.md §6)."),
        (name = "Accounts", description = "Registration, tokens and users (docs/API.md §7)."),
        (name = "Carts", description = "docs/API.md §8."),
        (name = "Orders", description = "Orders and payments (docs/API.md §8)."),
        (name = "WebSocket", description = "Live updates (docs/API.md §9)."),
        (name = "Search", description = "Search, suggestions and synonyms (docs/API.md §11)."),
        (name = "Webhooks", description = "Signed event deliveries to registered endpoints (docs/API.md §10)."),
        (name = "Notifications", description = "Emails and their preferences (docs/API.md §12)."),
        (name = "Insights", description = "A store owner's figures (docs/API.md §14)."),
        (name = "Currencies", description = "Exchange rates and converted display prices (docs/API.md §14)."),
    ),
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme: the admin token or an access token from `/auth/login`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token, or an access token from `/api/v1/auth/login`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// 414 and 431 can answer any operation (the server refuses such requests before routing,
/// see `http::raw_limits`), so every operation lists them.
struct RawLimits;

impl Modify for RawLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Ref, RefOr};
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, name) in [("414", "UriTooLong"), ("431", "HeadersTooLarge")] {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
                }
            }
        }
    }
}

/// The `currency` query parameter of the reads that convert prices for display
/// ([`display_currency::CONVERTED_ROUTES`]), and their 422 (an unknown code or no rate).
struct DisplayCurrency;

impl Modify for DisplayCurrency {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            Ref, RefOr,
            path::{ParameterBuilder, ParameterIn},
            schema::{ObjectBuilder, Type},
        };
        for route in display_currency::CONVERTED_ROUTES {
            let Some(operation) = openapi
                .paths
                .paths
                .get_mut(*route)
                .and_then(|item| item.get.as_mut())
            else {
                continue;
            };
            let parameter = ParameterBuilder::new()
                .name("currency")
                .parameter_in(ParameterIn::Query)
                .description(Some(
                    "ISO 4217 code: adds `display_price`, `display_subtotal` and `display_total` \
converted at the latest exchange rate (422 `validation_failed` for an unknown code, \
`no_exchange_rate` without a rate).",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .examples([serde_json::json!("EUR")]),
                ))
                .build();
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(parameter);
            operation
                .responses
                .responses
                .entry("422".to_owned())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unprocessable")));
        }
    }
}

/// The document as JSON text, built once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes")
});

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "openapi", tag = "Health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.",
        body = Object, content_type = "application/json")))]
pub async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// `GET /api/docs`: an endpoint list rendered in the browser from the document.
pub async fn docs_page() -> Response {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(&DOCS_CSP)
                    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        Html(DOCS_PAGE),
    )
        .into_response()
}

const DOCS_PAGE: &str = include_str!("api_docs.html");

/// The docs page may run its one inline script and style (allowed by hash, so an injected
/// one would not run), fetch the document from this origin, and nothing else.
static DOCS_CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        inline_hash(DOCS_PAGE, "script"),
        inline_hash(DOCS_PAGE, "style"),
    )
});

/// `'sha256-…'` of the text inside the first `<tag>…</tag>` of `page` (`'none'` without one).
fn inline_hash(page: &str, tag: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    page.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map_or_else(
            || "'none'".to_owned(),
            |(body, _)| {
                let digest = sha2::Sha256::digest(body.as_bytes());
                format!(
                    "'sha256-{}'",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                )
            },
        )
}
