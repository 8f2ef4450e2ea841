//! The `emporium` binary: parse flags, load configuration, start logging, call [`emporium::run`].

use clap::{Parser, Subcommand};
use emporium::config::{Config, Overrides};
use std::{net::SocketAddr, path::PathBuf, process::ExitCode};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's allocator: the hot paths allocate small, short-lived buffers
/// on many threads, where glibc malloc/free took about a fifth of the CPU (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A real-time commerce engine.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Listen address (default 127.0.0.1:8080).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// sled database directory (default ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Load the demo catalog when the data directory has no stores.
    #[arg(long)]
    demo: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    let filter = EnvFilter::try_from_env("EMPORIUM_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sled=warn"));
    match std::env::var("EMPORIUM_LOG_FORMAT")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "text" => tracing_subscriber::fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_env_filter(filter)
            .init(),
        // One JSON object per line: `timestamp`, `level`, `target`, the event's fields
        // flattened, and `span` with the request's `request_id`, `method` and `route`.
        "json" => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init(),
        other => {
            eprintln!("emporium: EMPORIUM_LOG_FORMAT must be text or json, not {other:?}");
            return ExitCode::from(2);
        }
    }
    let overrides = Overrides {
        addr: args.addr,
        data_dir: args.data_dir,
        demo: args.demo,
    };
    if let Ok(spec) = std::env::var("EMPORIUM_FAULT")
        && let Err(error) = emporium::fault::install(&spec)
    {
        eprintln!("emporium: invalid EMPORIUM_FAULT: {error}");
        return ExitCode::from(2);
    }
    let config = match Config::load(args.config.as_deref(), overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("emporium: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("emporium: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
        emporium::run(config, listener, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "emporium stopped");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
