//! Configuration: defaults < TOML file (`--config`) < `EMPORIUM_*` environment < flags.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};

/// Every setting of the server (see docs/API.md §1 for the meaning of each key).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listen address.
    pub addr: SocketAddr,
    /// sled database directory.
    pub data_dir: PathBuf,
    /// Bearer token with the `admin` role; generated and stored on first start when unset.
    pub admin_token: Option<String>,
    /// Load the demo catalog into an empty data dir.
    #[serde(default)]
    pub demo: bool,
    /// Accounts and tokens.
    pub auth: AuthConfig,
    /// Stock holds.
    pub reservations: ReservationsConfig,
    /// Carts.
    pub carts: CartsConfig,
    /// Orders.
    pub orders: OrdersConfig,
    /// Returns (docs/API.md §13).
    #[serde(default)]
    pub returns: ReturnsConfig,
    /// The payment provider.
    pub payments: PaymentsConfig,
    /// WebSocket limits.
    pub ws: WsConfig,
    /// HTTP limits.
    pub http: HttpConfig,
    /// Actor housekeeping.
    pub actors: ActorsConfig,
    /// The event log and its checkpoints.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Popularity, recommendations and product views.
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    /// Outbound webhooks (§10).
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// Emails (docs/API.md §12).
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// Product images (docs/API.md §14).
    #[serde(default)]
    pub media: MediaConfig,
}

/// `media.*`: product image uploads.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Largest image (bytes); governs the upload routes instead of `http.max_body_bytes`.
    pub max_upload_bytes: usize,
    /// How long a presigned upload URL stays valid (short in tests).
    pub upload_url_seconds: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 10 * 1024 * 1024,
            upload_url_seconds: 3600,
        }
    }
}

/// `webhooks.*`: delivery of events to registered HTTP endpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Delay before each attempt, in seconds (fractions allowed, so tests can retry fast):
    /// as many attempts as entries; after the last one the event is given up (`failed`).
    pub retry_schedule_seconds: Vec<f64>,
    /// Per attempt: an answer later than this is a failure.
    pub timeout_ms: u64,
    /// An endpoint with no successful delivery for this long (while it has failures) is
    /// disabled.
    pub disable_after_seconds: f64,
    /// Allow loopback and private-range targets (tests, on-premise receivers).
    pub allow_private_targets: bool,
    /// PEM files of certificate authorities trusted for https targets besides the webpki
    /// roots (an on-premise receiver with a certificate of its own CA). Read at start-up:
    /// a file that cannot be read or holds no certificate stops the server.
    pub extra_root_certificates: Vec<std::path::PathBuf>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            retry_schedule_seconds: vec![
                0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0,
            ],
            timeout_ms: 15_000,
            disable_after_seconds: 432_000.0,
            allow_private_targets: false,
            extra_root_certificates: Vec::new(),
        }
    }
}

impl WebhooksConfig {
    /// The delay before attempt `n` (0-based), `None` once the schedule is used up.
    pub fn delay_before(&self, attempt: usize) -> Option<std::time::Duration> {
        self.retry_schedule_seconds
            .get(attempt)
            .map(|s| std::time::Duration::from_secs_f64(s.max(0.0)))
    }
}

/// `notifications.*`: where emails go and how they are retried.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// `smtp://host:port` or `smtps://user:pass@host:port`; `None`: emails are only recorded.
    pub smtp_url: Option<String>,
    /// Sender of every email (`Name <address>`).
    pub from: String,
    /// Base of the links in emails; `None`: `http://{addr}`.
    pub public_url: Option<String>,
    /// Delay between an order's delivery and its review request.
    pub review_request_delay_seconds: u64,
    /// First retry delay after an SMTP failure; it doubles with each attempt (capped at an
    /// hour). Short in tests.
    pub retry_base_ms: u64,
    /// How long an email is retried before it is marked `failed` (24 h).
    pub retry_for_seconds: u64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Emporium <no-reply@localhost>".into(),
            public_url: None,
            review_request_delay_seconds: 259_200,
            retry_base_ms: 30_000,
            retry_for_seconds: 86_400,
        }
    }
}

/// `discovery.*` (an Emporium extension): product views and popularity.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// How often the product view counts are written to disk (and at a clean shutdown); a
    /// crash loses at most this long of views.
    pub views_flush_ms: u64,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            views_flush_ms: 10_000,
        }
    }
}

/// `storage.*` (an Emporium extension): the event log's segments and checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// A log segment is closed once it holds this many bytes; segments wholly below the
    /// checkpoint (and every consumer's cursor) are deleted.
    pub log_segment_bytes: u64,
    /// How often sled is flushed and the checkpoint moved forward. Shorter: less log to
    /// replay at start-up; longer: fewer flushes competing with the write path.
    pub checkpoint_interval_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            log_segment_bytes: 64 * 1024 * 1024,
            checkpoint_interval_ms: 1000,
        }
    }
}

/// `auth.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC key for access tokens; generated and stored on first start when unset.
    pub jwt_secret: Option<String>,
    /// Access token lifetime.
    pub access_ttl_seconds: u64,
    /// Refresh token lifetime.
    pub refresh_ttl_days: u64,
    /// Failed logins per email *and client IP* per window before 429 (per email alone, a
    /// stranger could lock the owner out from anywhere).
    pub login_max_failures: u32,
    /// Failed logins from one client IP, whatever the email, per window before 429: stops
    /// one address from spraying passwords across many accounts.
    pub login_max_failures_per_ip: u32,
    /// That window.
    pub login_window_seconds: u64,
    /// Life of a password-reset link (docs/API.md §12).
    pub password_reset_ttl_seconds: u64,
}

/// `reservations.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationsConfig {
    /// Hold time when a request names none.
    pub default_ttl_seconds: u64,
    /// Largest allowed hold.
    pub max_ttl_seconds: u64,
}

/// `carts.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartsConfig {
    /// How long a cart's hold lives after its last change.
    pub hold_seconds: u64,
    /// Untouched carts are deleted after this.
    pub ttl_days: u64,
    /// Per cart line.
    pub max_quantity_per_product: u64,
}

/// `orders.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersConfig {
    /// How long `POST /orders` waits for payment before answering 202.
    pub sync_wait_ms: u64,
    /// The watchdog raises `order.stuck` for an order `confirmed` and not started for longer
    /// than this (fractions allowed, so a test can use a second).
    #[serde(default = "default_start_alert_minutes")]
    pub start_alert_minutes: f64,
    /// … and for an order still `pending` for longer than this.
    #[serde(default = "default_pending_alert_minutes")]
    pub pending_alert_minutes: f64,
}

fn default_start_alert_minutes() -> f64 {
    20.0
}

fn default_pending_alert_minutes() -> f64 {
    15.0
}

/// `returns.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReturnsConfig {
    /// A customer may ask for a return up to this many days after delivery.
    pub window_days: u64,
}

impl Default for ReturnsConfig {
    fn default() -> Self {
        Self { window_days: 30 }
    }
}

/// `payments.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Attempts per charge on transient errors.
    pub max_attempts: u32,
    /// First retry delay, doubled each retry.
    pub backoff_ms: u64,
    /// Delay of the simulated `tok_slow` card.
    pub slow_ms: u64,
}

/// `ws.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsConfig {
    /// Topics one connection may hold.
    pub max_topics_per_connection: usize,
    /// Messages buffered per connection before it is closed as lagged.
    pub outbound_queue: usize,
    /// Events kept per topic for resume.
    pub replay_buffer: u64,
    /// Shortest gap between two deliveries of one product's stock in `latest` mode.
    pub latest_interval_ms: u64,
}

/// `http.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
    /// Addresses of reverse proxies in front of the server. Only a request from one of them
    /// has its `X-Forwarded-For` believed (the rightmost address that is not a trusted proxy
    /// is the client); from anyone else the header is ignored, as a client could write any
    /// address into it. Exact addresses, no ranges.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Browser origins (`https://shop.example`) allowed to call the API across origins;
    /// empty: no CORS headers at all.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

/// `actors.*` (an Emporium extension): one passivation policy for every kind of actor, with
/// a cap per kind (their sizes and reload costs differ).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorsConfig {
    /// An actor that is not busy and saw no message for this long is stopped (a product
    /// without holds, a cart without a hold, an order with no payment in flight; a finished
    /// order at the next sweep); its state stays on disk and the next message re-activates
    /// it. Also the period of the idle sweep.
    pub idle_seconds: u64,
    /// Most product actors kept running at once. Beyond it the oldest activations that hold
    /// nothing and have been quiet for `evictable_after_ms` are passivated, so memory stays bounded
    /// however many products traffic touches (about 10 KiB per live actor).
    pub max_active_products: usize,
    /// Most order actors kept running at once. Beyond it the oldest ones with no payment in
    /// flight are passivated, so memory stays bounded however many orders are placed.
    pub max_active_orders: usize,
    /// Most cart actors kept running at once. Beyond it the oldest ones without a stock hold
    /// are passivated.
    pub max_active_carts: usize,
    /// How long a product actor must have been quiet before the cap may passivate it: a
    /// product reloads from its snapshot and journal on disk, so a hot one is kept. Short in
    /// tests, so they need not wait a second for actors to become evictable.
    pub evictable_after_ms: u64,
}

impl ActorsConfig {
    /// The idle sweep's period (and idle time): `idle_seconds`, at least one second.
    pub fn idle_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.idle_seconds.max(1))
    }

    /// The quiet time after which the product cap may passivate an actor.
    pub fn evictable_after(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.evictable_after_ms)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            admin_token: None,
            demo: false,
            auth: AuthConfig {
                jwt_secret: None,
                access_ttl_seconds: 900,
                refresh_ttl_days: 30,
                login_max_failures: 5,
                login_max_failures_per_ip: 20,
                login_window_seconds: 900,
                password_reset_ttl_seconds: 3600,
            },
            reservations: ReservationsConfig {
                default_ttl_seconds: 900,
                max_ttl_seconds: 86_400,
            },
            carts: CartsConfig {
                hold_seconds: 600,
                ttl_days: 7,
                max_quantity_per_product: 10,
            },
            orders: OrdersConfig {
                sync_wait_ms: 5000,
                start_alert_minutes: default_start_alert_minutes(),
                pending_alert_minutes: default_pending_alert_minutes(),
            },
            returns: ReturnsConfig::default(),
            payments: PaymentsConfig {
                max_attempts: 3,
                backoff_ms: 1000,
                slow_ms: 10_000,
            },
            ws: WsConfig {
                max_topics_per_connection: 1000,
                outbound_queue: 4096,
                replay_buffer: 1024,
                latest_interval_ms: 100,
            },
            http: HttpConfig {
                max_body_bytes: 1_048_576,
                trusted_proxies: Vec::new(),
                cors_origins: Vec::new(),
            },
            actors: ActorsConfig {
                idle_seconds: 300,
                max_active_products: 20_000,
                max_active_orders: 20_000,
                max_active_carts: 20_000,
                evictable_after_ms: 1000,
            },
            storage: StorageConfig::default(),
            discovery: DiscoveryConfig::default(),
            webhooks: WebhooksConfig::default(),
            notifications: NotificationsConfig::default(),
            media: MediaConfig::default(),
        }
    }
}

/// Values given on the command line; they win over file and environment.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--addr`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<SocketAddr>,
    /// `--data-dir`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--demo`
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
}

impl Config {
    /// Layers defaults, the optional TOML file, the environment and the flags.
    pub fn load(file: Option<&std::path::Path>, overrides: Overrides) -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(format!("config file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment
            .merge(Env::prefixed("EMPORIUM_").split("__").filter(|key| {
                // Variables read elsewhere (log settings; the browser tests' switch; fault injection) are not
                // configuration keys.
                // Keys keep the variable's case (`LOG_FORMAT`), so compare without it.
                !matches!(
                    key.as_str().to_ascii_lowercase().as_str(),
                    "log" | "log_format" | "require_browser" | "fault"
                )
            }))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| e.to_string())
            .and_then(Config::validate)
    }

    fn validate(self) -> Result<Self, String> {
        let checks = [
            (
                self.ws.outbound_queue == 0,
                "ws.outbound_queue must be at least 1",
            ),
            (
                self.reservations.max_ttl_seconds == 0,
                "reservations.max_ttl_seconds must be at least 1",
            ),
            (
                self.reservations.default_ttl_seconds > self.reservations.max_ttl_seconds
                    || self.reservations.default_ttl_seconds == 0,
                "reservations.default_ttl_seconds must be between 1 and max_ttl_seconds",
            ),
            (
                self.http.max_body_bytes == 0,
                "http.max_body_bytes must be at least 1",
            ),
            (
                self.storage.log_segment_bytes < 4096,
                "storage.log_segment_bytes must be at least 4096",
            ),
            (
                self.storage.checkpoint_interval_ms == 0,
                "storage.checkpoint_interval_ms must be at least 1",
            ),
            (
                self.discovery.views_flush_ms == 0,
                "discovery.views_flush_ms must be at least 1",
            ),
            (
                self.webhooks.retry_schedule_seconds.is_empty()
                    || self
                        .webhooks
                        .retry_schedule_seconds
                        .iter()
                        .any(|s| !s.is_finite() || *s < 0.0 || *s > 1e9),
                "webhooks.retry_schedule_seconds must list at least one delay, each 0 or more seconds",
            ),
            (
                self.webhooks.timeout_ms == 0,
                "webhooks.timeout_ms must be at least 1",
            ),
            (
                !self.webhooks.disable_after_seconds.is_finite()
                    || self.webhooks.disable_after_seconds <= 0.0,
                "webhooks.disable_after_seconds must be more than 0",
            ),
        ];
        if let Some((_, message)) = checks.iter().find(|(bad, _)| *bad) {
            return Err((*message).to_owned());
        }
        if let Some(origin) = self.http.cors_origins.iter().find(|o| !is_origin(o)) {
            return Err(format!(
                "http.cors_origins: {origin:?} is not an origin like https://shop.example \
                 (scheme, host and optional port; no path, no wildcard)"
            ));
        }
        Ok(self)
    }
}

/// Whether `text` is a serialised web origin: `http(s)://host[:port]`, nothing after it.
fn is_origin(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    let host = match rest.rsplit_once(':') {
        Some((host, port))
            if (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => rest,
    };
    let ipv6 = host.starts_with('[') && host.ends_with(']');
    !host.is_empty()
        && host.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-') || (ipv6 && "[]:".contains(c))
        })
}
