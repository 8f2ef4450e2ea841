//! Emporium: a real-time commerce engine.
//!
//! Every product's stock is owned by its own actor ([`actors`]); changes are decided by pure
//! rules ([`domain`]), made durable with a group commit ([`persistence`]) before anyone hears
//! of them, and then pushed to WebSocket subscribers ([`realtime`]). REST lives in [`http`]; the
//! storefront and staff dashboard pages, embedded in the binary, in [`web`].
//!
//! [`run`] serves on an already bound listener until a shutdown future resolves, so tests can
//! bind port 0 and drive a real server.

pub mod actors;
pub mod app;
pub mod auth;
pub mod config;
pub mod context;
pub mod demo;
pub mod discovery;
pub mod domain;
pub mod error;
pub mod fault;
pub mod http;
pub mod media;
pub mod notifications;
pub mod observability;
pub mod payments;
pub mod persistence;
pub mod read_model;
pub mod realtime;
pub mod search;
pub mod services;
pub mod views;
pub mod web;
pub mod webhooks;

use std::{future::Future, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then drains requests (up to [`SHUTDOWN_GRACE`]) and
/// flushes storage.
pub async fn run(
    config: config::Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    run_with_routes(config, listener, shutdown, axum::Router::new()).await
}

/// [`run`] with `extra` routes under `/api/v1` behind the server's own middleware (see
/// [`http::router_with`]); the load harness uses it for its no-op baseline.
pub async fn run_with_routes(
    config: config::Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    extra: axum::Router<Arc<app::App>>,
) -> Result<(), String> {
    let app = open(config).await?;
    serve(app, listener, shutdown, extra).await
}

/// Opens the data dir and storage and assembles the server, before anything is announced: a
/// data dir in use or unusable fails here, with one sentence naming it.
pub async fn open(config: config::Config) -> Result<Arc<app::App>, String> {
    observability::install();
    tokio::task::spawn_blocking(move || app::App::open(config))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Serves an [opened](open) app on `listener` until `shutdown` resolves (see [`run`]). The
/// server is ready once recovery has finished and, with `demo`, the demo catalog is loaded.
pub async fn serve(
    app: Arc<app::App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    extra: axum::Router<Arc<app::App>>,
) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    observability::install();
    let upkeep = observability::spawn_upkeep();
    tracing::info!("listening on http://{addr}");
    {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            if let Err(error) = app.restore().await {
                tracing::error!(%error, "recovery failed; the server stays not ready");
                return;
            }
            app.spawn_housekeeping();
            if let Err(error) = app.spawn_notifications(addr) {
                tracing::error!(%error, "starting notifications failed; the server stays not ready");
                return;
            }
            if app.config.demo
                && let Err(error) = demo::seed(&app).await
            {
                tracing::error!(%error, "loading the demo catalog failed; the server stays not ready");
                return;
            }
            app.mark_ready();
        });
    }
    let router = http::router_with(Arc::clone(&app), extra);
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let app_for_shutdown = Arc::clone(&app);
    // hyper's own 414/431 answers become problem+json with an access-log line; the peer
    // address goes with each request, so login throttling knows the client IP.
    let service = router.into_make_service_with_connect_info::<http::raw_limits::PeerAddr>();
    let server = axum::serve(http::raw_limits::Listener(listener), service).with_graceful_shutdown(
        async move {
            shutdown.await;
            tracing::info!("shutting down: draining requests");
            app_for_shutdown.begin_shutdown();
            let _ = drained_tx.send(());
        },
    );
    let serve = async { server.await.map_err(|e| e.to_string()) };
    let grace = async {
        if drained_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = serve => result?,
        () = grace => tracing::warn!("in-flight requests did not finish within the grace period"),
    }
    upkeep.abort();
    app.stop_background().await;
    let storage = app.shared.storage.clone();
    tokio::task::spawn_blocking(move || storage.flush())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    tracing::info!("storage flushed; bye");
    Ok(())
}
