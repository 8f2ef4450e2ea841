//! The storefront (`/`) and the staff dashboard (`/dashboard`): static HTML, CSS and
//! JavaScript modules from `web/`, embedded in the binary so `emporium --demo` plus a browser
//! is the whole product with no build step and no network. The pages speak only the public
//! REST and WebSocket API (docs/API.md), so they double as its reference client.

use crate::error::AppError;
use axum::{
    extract::Path,
    http::header,
    response::{IntoResponse, Response},
};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: HTML,
    body: include_str!("../web/index.html"),
};

const DASHBOARD: Asset = Asset {
    name: "dashboard.html",
    content_type: HTML,
    body: include_str!("../web/dashboard.html"),
};

const INSIGHTS: Asset = Asset {
    name: "insights.html",
    content_type: HTML,
    body: include_str!("../web/insights.html"),
};

const ACCOUNT: Asset = Asset {
    name: "account.html",
    content_type: HTML,
    body: include_str!("../web/account.html"),
};

/// Files under `/assets/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: CSS,
        body: include_str!("../web/app.css"),
    },
    Asset {
        name: "api.js",
        content_type: JS,
        body: include_str!("../web/api.js"),
    },
    Asset {
        name: "storefront.js",
        content_type: JS,
        body: include_str!("../web/storefront.js"),
    },
    Asset {
        name: "reviews.js",
        content_type: JS,
        body: include_str!("../web/reviews.js"),
    },
    Asset {
        name: "dashboard.js",
        content_type: JS,
        body: include_str!("../web/dashboard.js"),
    },
    Asset {
        name: "locations.js",
        content_type: JS,
        body: include_str!("../web/locations.js"),
    },
    Asset {
        name: "notifications.js",
        content_type: JS,
        body: include_str!("../web/notifications.js"),
    },
    Asset {
        name: "insights.js",
        content_type: JS,
        body: include_str!("../web/insights.js"),
    },
    Asset {
        name: "account.js",
        content_type: JS,
        body: include_str!("../web/account.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: SVG,
        body: include_str!("../web/favicon.svg"),
    },
];

/// Same-origin only: the pages load nothing from elsewhere except product images, and talk
/// to this server's REST and WebSocket endpoints.
const CSP: &str = "default-src 'self'; img-src 'self' data: http: https:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'; object-src 'none'";

fn serve(asset: &Asset) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, asset.content_type),
            // Revalidate every time: a new binary must never meet a stale module.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response();
    if asset.content_type == HTML {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static(CSP),
        );
        headers.insert(
            header::REFERRER_POLICY,
            header::HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

/// `GET /`: the storefront.
pub async fn storefront() -> Response {
    serve(&INDEX)
}

/// `GET /dashboard`: the staff dashboard.
pub async fn dashboard() -> Response {
    serve(&DASHBOARD)
}

/// `GET /insights`: the owner's figures and charts.
pub async fn insights() -> Response {
    serve(&INSIGHTS)
}

/// `GET /verify` and `GET /reset-password`: the page behind the links in emails (it reads
/// the token from the query and posts it).
pub async fn account() -> Response {
    serve(&ACCOUNT)
}

/// `GET /assets/{file}`: one embedded stylesheet, module or icon, or a demo product's drawn
/// picture (`demo-<sku>.svg`, see `demo::picture`); anything else is a 404.
pub async fn asset(Path(file): Path<String>) -> Result<Response, AppError> {
    if let Some(asset) = ASSETS.iter().find(|asset| asset.name == file) {
        return Ok(serve(asset));
    }
    let svg = crate::demo::picture(&file).ok_or(AppError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, SVG),
            // Drawn from the binary's own tables: stable for the life of a build.
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // An SVG opened on its own is a document: let it run nothing.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        svg,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_pages_reference_is_embedded() {
        for page in [INDEX.body, DASHBOARD.body, ACCOUNT.body, INSIGHTS.body] {
            for reference in page.split("/assets/").skip(1) {
                let name: String = reference
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                    .collect();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{name} is referenced but not embedded"
                );
            }
        }
        for module in ASSETS.iter().filter(|a| a.content_type == JS) {
            for specifier in module.body.split("from './").skip(1) {
                let name = specifier.split('\'').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} imports {name}, which is not embedded",
                    module.name
                );
            }
        }
    }
}
