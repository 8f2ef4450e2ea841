//! The `emporium` binary: parse flags, load configuration, start logging, open the data dir,
//! then bind and serve ([`emporium::open`], [`emporium::serve`]); or an `admin-token` command.

use clap::{Parser, Subcommand};
use emporium::config::{Config, Overrides};
use std::{net::SocketAddr, path::PathBuf, process::ExitCode};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's allocator: the hot paths allocate small, short-lived buffers
/// on many threads, where glibc malloc/free took about a fifth of the CPU (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What `--help` adds after the options: the environment, and where the admin token lives.
const ENVIRONMENT_HELP: &str = "\
Environment (configuration: defaults < --config FILE < EMPORIUM_* < flags):
  EMPORIUM_ADMIN_TOKEN       the admin bearer token. Unset: one is generated on the first start,
                             logged once and kept in DATA_DIR/secrets (mode 0600); print it again
                             with `emporium admin-token show`, replace it with `... rotate`.
                             A token you supply is never logged and never stored.
  EMPORIUM_AUTH__JWT_SECRET  HMAC key of access tokens (unset: generated, in DATA_DIR/secrets)
  EMPORIUM_ADDR, EMPORIUM_DATA_DIR, EMPORIUM_DEMO
                             like --addr, --data-dir, --demo
  EMPORIUM_<SECTION>__<KEY>  any other key of docs/API.md section 1,
                             e.g. EMPORIUM_CARTS__HOLD_SECONDS=60
  EMPORIUM_LOG               log filter (default info,sled=warn)
  EMPORIUM_LOG_FORMAT        text (default) or json

The data dir is private (0700, files 0600) and used by one process at a time.";

/// A real-time commerce engine.
#[derive(Parser)]
#[command(version, about, after_help = ENVIRONMENT_HELP)]
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
    /// Print or replace the admin token kept in DATA_DIR/secrets (while no server runs).
    #[command(after_help = ENVIRONMENT_HELP)]
    AdminToken {
        #[command(subcommand)]
        action: AdminTokenCommand,
    },
    /// Rebuild the search index from the catalog (snapshots and the log), while no server
    /// runs. A server also rebuilds it by itself when it is missing or outdated.
    #[command(after_help = ENVIRONMENT_HELP)]
    Reindex(DataDirArgs),
}

#[derive(Subcommand)]
enum AdminTokenCommand {
    /// Print the stored admin token.
    Show(DataDirArgs),
    /// Replace the stored admin token with a new one and print it; the old one stops working.
    Rotate(DataDirArgs),
}

/// Which data dir an `admin-token` command works on.
#[derive(clap::Args)]
struct DataDirArgs {
    /// sled database directory (default ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (for its data_dir and admin_token).
    #[arg(long)]
    config: Option<PathBuf>,
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
    // Before anything creates a file: whatever sled or we create later (new snapshots,
    // segments) is private to the owner, 0600 / 0700.
    // SAFETY: umask only swaps the process's file-creation mask; no memory is involved.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::AdminToken { action }) => return admin_token(action),
        Some(Command::Reindex(args)) => return reindex(args),
        None => cli.serve,
    };
    if let Err(code) = init_logging(false) {
        return code;
    }
    let overrides = Overrides {
        addr: args.addr,
        data_dir: args.data_dir,
        demo: args.demo,
    };
    // The only server in this process: the demo may write its past orders on their days.
    emporium::domain::time::allow_travel();
    if let Ok(spec) = std::env::var("EMPORIUM_FAULT")
        && let Err(error) = emporium::fault::install(&spec)
    {
        eprintln!("emporium: invalid EMPORIUM_FAULT: {error}");
        return ExitCode::from(2);
    }
    let (config, runtime) = match config_and_runtime(args.config.as_deref(), overrides) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let addr = config.addr;
    let result = runtime.block_on(async {
        // Storage first: a data dir in use or unusable is reported before any `listening on`.
        let app = emporium::open(config).await.map_err(Failure::Start)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Failure::Start(format!("cannot listen on {addr}: {e}")))?;
        emporium::serve(app, listener, shutdown_signal(), axum::Router::new())
            .await
            .map_err(Failure::Run)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Start(error)) => {
            eprintln!("emporium: {error}");
            ExitCode::FAILURE
        }
        Err(Failure::Run(error)) => {
            tracing::error!(%error, "emporium stopped");
            ExitCode::FAILURE
        }
    }
}

/// How serving ended badly.
enum Failure {
    /// Before serving: one sentence for the operator.
    Start(String),
    /// While serving.
    Run(String),
}

/// The configuration (exit code 2 with one line when invalid) and a tokio runtime (exit 1
/// when it cannot start) of a command that runs the server's code.
fn config_and_runtime(
    file: Option<&std::path::Path>,
    overrides: Overrides,
) -> Result<(Config, tokio::runtime::Runtime), ExitCode> {
    let config = Config::load(file, overrides).map_err(|error| {
        eprintln!("emporium: invalid configuration: {error}");
        ExitCode::from(2)
    })?;
    let runtime = tokio::runtime::Runtime::new().map_err(|error| {
        eprintln!("emporium: cannot start the runtime: {error}");
        ExitCode::FAILURE
    })?;
    Ok((config, runtime))
}

/// `emporium reindex`: opens the data dir (refused while a server holds it), loads the
/// catalog and writes a fresh search index; progress and the figures go to the log.
fn reindex(args: DataDirArgs) -> ExitCode {
    if let Err(code) = init_logging(false) {
        return code;
    }
    let overrides = Overrides {
        data_dir: args.data_dir,
        ..Overrides::default()
    };
    let (config, runtime) = match config_and_runtime(args.config.as_deref(), overrides) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let app = tokio::task::spawn_blocking(move || emporium::app::App::open(config))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        app.reindex().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(products) => {
            eprintln!("emporium: search index rebuilt with {products} products");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("emporium: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `emporium admin-token show|rotate`: the token goes to stdout alone (for scripts), notes
/// and errors to stderr.
fn admin_token(command: AdminTokenCommand) -> ExitCode {
    if let Err(code) = init_logging(true) {
        return code;
    }
    let (args, rotate) = match command {
        AdminTokenCommand::Show(args) => (args, false),
        AdminTokenCommand::Rotate(args) => (args, true),
    };
    let overrides = Overrides {
        data_dir: args.data_dir,
        ..Overrides::default()
    };
    let config = match Config::load(args.config.as_deref(), overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("emporium: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    if config.admin_token.as_deref().is_some_and(|t| !t.is_empty()) {
        // The operator's own token: not ours to print or replace.
        eprintln!(
            "emporium: the admin token is set by the configuration (admin_token or EMPORIUM_ADMIN_TOKEN), not stored in the data dir; {}",
            if rotate {
                "change it there"
            } else {
                "it is the one you set"
            }
        );
        return ExitCode::FAILURE;
    }
    let result = if rotate {
        emporium::persistence::data_dir::rotate_admin_token(&config.data_dir)
    } else {
        emporium::persistence::data_dir::show_admin_token(&config.data_dir)
    };
    match result {
        Ok(token) => {
            println!("{token}");
            if rotate {
                eprintln!("emporium: stored a new admin token; the old one no longer works");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("emporium: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Starts logging (`EMPORIUM_LOG`, `EMPORIUM_LOG_FORMAT`) to stdout, or to stderr for
/// commands whose stdout is their answer.
fn init_logging(to_stderr: bool) -> Result<(), ExitCode> {
    let filter = EnvFilter::try_from_env("EMPORIUM_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sled=warn"));
    let writer = move || -> Box<dyn std::io::Write> {
        if to_stderr {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        }
    };
    let ansi = !to_stderr && std::io::IsTerminal::is_terminal(&std::io::stdout());
    match std::env::var("EMPORIUM_LOG_FORMAT")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "text" => tracing_subscriber::fmt()
            .with_ansi(ansi)
            .with_writer(writer)
            .with_env_filter(filter)
            .init(),
        // One JSON object per line: `timestamp`, `level`, `target`, the event's fields
        // flattened, and `span` with the request's `request_id`, `method` and `route`.
        "json" => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .with_env_filter(filter)
            .init(),
        other => {
            eprintln!("emporium: EMPORIUM_LOG_FORMAT must be text or json, not {other:?}");
            return Err(ExitCode::from(2));
        }
    }
    Ok(())
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
