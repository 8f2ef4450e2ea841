//! `emporium-load`: the load harness of BENCHMARKS.md.
//!
//! `cargo run --release --bin emporium-load -- <scenario> [options]` (a crate of its own in the
//! workspace, so the server never carries its client and PostgreSQL dependencies), scenarios:
//! - `flash-sale`: C connections hold 1 unit each of one hot product until it is gone; the
//!   same load against a no-op axum handler in the same process; ratio and oversell check;
//!   then PostgreSQL's hot-row baseline (`postgres`).
//! - `fanout`: N WebSocket subscribers on one `product:` topic while stock changes at a rising
//!   rate, against a naive `tokio::sync::broadcast` WebSocket route with the same clients; then
//!   N `latest`-mode viewers of a product taking holds quickly (staleness). Both servers run as
//!   child processes (the `emporium` binary, and this binary's hidden `serve-baseline`), so
//!   each subscriber costs this process one descriptor and each server its own.
//! - `checkout`: C customers place 3-item `tok_visa` orders against a shared catalog; every
//!   order and ledger charge is verified afterwards; then the same orders as one PostgreSQL
//!   transaction each (`postgres`).
//! - `catalog-scale`: P products in a server child process: RSS after creating, after
//!   touching each once, and the time from process start to `/readyz` on that data dir.
//! - `search`: P generated products; the indexing rate of `emporium reindex`; `/search` and
//!   `/search/suggest` latency at C connections; the same queries through the old substring
//!   scan (in process).
//! - `webhooks`: E stock changes delivered to N webhook endpoints on loopback (a receiver in
//!   this process): deliveries/s and the lag from each event's commit to its arrival.
//!
//! Every server runs on 127.0.0.1 with a temporary data dir; all traffic is loopback and every
//! loop is bounded by a count or a deadline. Clients are hyper's HTTP/1 client (one
//! keep-alive connection per task) and tokio-tungstenite.

mod catalog_scale;
mod checkout;
mod common;
mod fanout;
mod flash_sale;
mod postgres;
mod search;
mod webhooks;

use clap::{Parser, Subcommand};
use std::{net::SocketAddr, path::PathBuf};

/// mimalloc instead of glibc's allocator: the hot paths allocate small, short-lived buffers
/// on many threads, where glibc malloc/free took about a fifth of the CPU (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Load scenarios against a real emporium server (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Holds of one hot product until it is gone, vs a no-op handler.
    FlashSale {
        /// Concurrent connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Units of the hot product (one hold each).
        #[arg(long, default_value_t = 100_000)]
        stock: u64,
        /// Units of PostgreSQL's hot row (one `UPDATE` each).
        #[arg(long, default_value_t = 10_000)]
        pg_stock: i32,
        #[command(flatten)]
        postgres: postgres::Options,
    },
    /// WebSocket fan-out to N subscribers at rising rates, vs a naive broadcast route.
    Fanout {
        /// Subscribers (capped by the open-file limit).
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        /// The server binary (default: `emporium` next to this one).
        #[arg(long)]
        server: Option<PathBuf>,
        /// Seconds per rate step.
        #[arg(long, default_value_t = 3.0)]
        step_secs: f64,
        /// First publish rate (events/s); each step doubles it.
        #[arg(long, default_value_t = 5.0)]
        start_rate: f64,
        /// Highest rate tried.
        #[arg(long, default_value_t = 2560.0)]
        max_rate: f64,
        /// Target holds/s of the `latest`-mode part.
        #[arg(long, default_value_t = 5000.0)]
        hold_rate: f64,
        /// Seconds of the `latest`-mode part.
        #[arg(long, default_value_t = 5.0)]
        latest_secs: f64,
    },
    /// Durable 3-item orders by C customers.
    Checkout {
        /// Concurrent customers.
        #[arg(long, default_value_t = 64)]
        customers: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Products in the shared catalog.
        #[arg(long, default_value_t = 100)]
        catalog: usize,
        /// Product rows of the PostgreSQL baseline's table.
        #[arg(long, default_value_t = 10_000)]
        pg_rows: i32,
        #[command(flatten)]
        postgres: postgres::Options,
    },
    /// RSS and restart time with many products (server as a child process).
    CatalogScale {
        /// Products to create.
        #[arg(long, default_value_t = 1_000_000)]
        products: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// The server binary (default: `emporium` next to this one).
        #[arg(long)]
        server: Option<PathBuf>,
    },
    /// Search and suggest latency over P products, indexing rate, vs the old substring scan.
    Search {
        /// Products to create.
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds per measured part.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// The server binary (default: `emporium` next to this one).
        #[arg(long)]
        server: Option<PathBuf>,
    },
    /// Webhook deliveries of E events to N endpoints on loopback.
    Webhooks {
        /// Events (durable stock changes).
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Endpoints, each receiving every event.
        #[arg(long, default_value_t = 10)]
        endpoints: usize,
        /// Concurrent writers producing the events.
        #[arg(long, default_value_t = 16)]
        connections: usize,
    },
    /// The fanout baseline server (a child process of `fanout`).
    #[command(hide = true)]
    ServeBaseline {
        /// Listen address.
        #[arg(long)]
        addr: SocketAddr,
        /// Capacity of the broadcast channel.
        #[arg(long, default_value_t = 4096)]
        capacity: usize,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        // Ctrl-C drops the scenario's future, so its guards run: server children and the
        // PostgreSQL cluster are stopped and the temp dirs removed.
        tokio::select! {
            () = run(cli.scenario) => {}
            _ = tokio::signal::ctrl_c() => eprintln!("\ninterrupted: stopping the servers"),
        }
    });
}

async fn run(scenario: Scenario) {
    match scenario {
        Scenario::FlashSale {
            connections,
            stock,
            pg_stock,
            postgres,
        } => flash_sale::run(connections, stock, pg_stock, &postgres).await,
        Scenario::Fanout {
            subscribers,
            server,
            step_secs,
            start_rate,
            max_rate,
            hold_rate,
            latest_secs,
        } => {
            fanout::run(
                subscribers,
                server,
                step_secs,
                start_rate,
                max_rate,
                hold_rate,
                latest_secs,
            )
            .await
        }
        Scenario::Checkout {
            customers,
            secs,
            catalog,
            pg_rows,
            postgres,
        } => checkout::run(customers, secs, catalog, pg_rows, &postgres).await,
        Scenario::CatalogScale {
            products,
            connections,
            server,
        } => catalog_scale::run(products, connections, server).await,
        Scenario::Search {
            products,
            connections,
            secs,
            server,
        } => search::run(products, connections, secs, server).await,
        Scenario::Webhooks {
            events,
            endpoints,
            connections,
        } => webhooks::run(events, endpoints, connections).await,
        Scenario::ServeBaseline { addr, capacity } => fanout::serve_baseline(addr, capacity).await,
    }
}
