//! The PostgreSQL baselines: a throwaway cluster (temp dir, 127.0.0.1, a free port, the
//! durable defaults `fsync = on`, `synchronous_commit = on`) running the same writes as a
//! scenario, from the same number of client tasks, timed the same way (one `Instant` around
//! each transaction, nearest-rank percentiles), with tokio-postgres. No HTTP is involved: it
//! is the database alone against the whole server.
//!
//! The cluster is a child of this process: stopped (fast shutdown, then SIGKILL) and its
//! directory removed when [`Cluster`] drops, which the Ctrl-C handler of `main` and a panic
//! both reach; if this process is killed outright, the postmaster gets SIGKILL
//! (`PR_SET_PDEATHSIG`) and only the temp dir stays behind.

use crate::common::{Latencies, TempDir, die_with_parent, free_addr, progress};
use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;
use tokio_postgres::{Client, NoTls};

/// The command-line switches every scenario with a PostgreSQL baseline shares.
#[derive(clap::Args, Clone)]
pub struct Options {
    /// Skip the PostgreSQL baseline.
    #[arg(long)]
    pub no_postgres: bool,
    /// Directory with `initdb` and `postgres` (default: the newest /usr/lib/postgresql/*/bin,
    /// else the PATH).
    #[arg(long)]
    pub pg_bin: Option<PathBuf>,
}

/// What the baseline's clients did.
pub struct Outcome {
    /// The server's name and version (`PostgreSQL 15.18`).
    pub version: String,
    /// Committed transactions.
    pub ok: u64,
    /// Transactions that failed (an error from the server or the connection).
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// One per committed transaction, µs.
    pub latencies: Latencies,
    /// The read-back check, one sentence.
    pub check: String,
    /// checkout: the same transaction from pgbench on the same cluster (`Err`: why not).
    pub pgbench: Option<Result<Box<Outcome>, String>>,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `baseline` against a fresh cluster when PostgreSQL is available, else prints one line
/// saying why it was skipped; a baseline that fails says so too.
pub async fn baseline<F, Fut>(options: &Options, what: &str, baseline: F) -> Option<Outcome>
where
    F: FnOnce(Arc<Cluster>) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, String>>,
{
    if options.no_postgres {
        println!("PostgreSQL baseline ({what}): skipped (--no-postgres)");
        return None;
    }
    let cluster = match Cluster::start(options).await {
        Ok(cluster) => Arc::new(cluster),
        Err(why) => {
            println!("PostgreSQL baseline ({what}): skipped ({why})");
            return None;
        }
    };
    progress(&format!("PostgreSQL baseline ({what}): running"));
    let outcome = baseline(Arc::clone(&cluster)).await;
    crate::common::done_progress();
    drop(cluster);
    match outcome {
        Ok(outcome) => Some(outcome),
        Err(why) => {
            println!("PostgreSQL baseline ({what}): failed ({why})");
            None
        }
    }
}

/// A running throwaway cluster.
pub struct Cluster {
    postmaster: Child,
    port: u16,
    /// The directory of `initdb`, `postgres` and (when installed) `pgbench`.
    bin: PathBuf,
    version: String,
    /// Declared last: removed after the postmaster is stopped (see `Drop`).
    _dir: TempDir,
}

impl Cluster {
    /// `initdb` (trust auth for `bench` on the local socket and 127.0.0.1) and `postgres` as
    /// a child process; answers once a connection succeeds. When this process runs as root
    /// (initdb refuses to), both run as the `postgres` user.
    async fn start(options: &Options) -> Result<Self, String> {
        let bin = find_bin(options.pg_bin.as_deref())?;
        let user = server_user()?;
        let dir = TempDir::new("pg");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir.0, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.0.display()))?;
        }
        let data = dir.0.join("data");
        let as_user = |command: &mut Command| {
            if let Some((uid, gid)) = user {
                command.uid(uid).gid(gid);
            }
            command.current_dir(&dir.0);
        };
        let version = Command::new(bin.join("postgres"))
            .arg("--version")
            .output()
            .map(|o| {
                // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → "PostgreSQL 15.18"
                let line = String::from_utf8_lossy(&o.stdout).into_owned();
                line.split_whitespace()
                    .nth(2)
                    .map_or_else(|| "PostgreSQL".into(), |v| format!("PostgreSQL {v}"))
            })
            .unwrap_or_else(|_| "PostgreSQL".into());
        let mut initdb = Command::new(bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "bench",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        as_user(&mut initdb);
        let out = initdb
            .output()
            .map_err(|e| format!("starting {}: {e}", bin.join("initdb").display()))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let port = free_addr().port();
        let log_path = dir.0.join("postgres.log");
        let log = File::create(&log_path).map_err(|e| format!("postgres.log: {e}"))?;
        let mut postgres = Command::new(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir.0)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=300",
                // The durable defaults, spelled out: every commit waits for its WAL fsync.
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                "-c",
                "full_page_writes=on",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        as_user(&mut postgres);
        die_with_parent(&mut postgres);
        let postmaster = postgres
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.join("postgres").display()))?;
        let mut cluster = Self {
            postmaster,
            port,
            bin,
            version,
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = cluster.postmaster.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("postgres exited ({status}): {}", log.trim()));
            }
            match cluster.connect().await {
                Ok(_) => return Ok(cluster),
                Err(e) if Instant::now() >= until => {
                    return Err(format!("postgres not ready after 60 s: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// A new connection (its driver runs as a task of its own).
    pub async fn connect(&self) -> Result<Client, String> {
        let config = format!(
            "host=127.0.0.1 port={} user=bench dbname=postgres",
            self.port
        );
        let (client, connection) = tokio_postgres::connect(&config, NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// `clients` connections, opened before the clock starts.
    pub async fn connect_many(&self, clients: usize) -> Result<Vec<Client>, String> {
        let mut all = Vec::with_capacity(clients);
        for _ in 0..clients {
            all.push(self.connect().await?);
        }
        Ok(all)
    }

    fn dir(&self) -> &Path {
        &self._dir.0
    }

    pub fn version(&self) -> String {
        self.version.clone()
    }
}

impl Drop for Cluster {
    /// Fast shutdown (SIGINT), up to 30 s, then SIGKILL; the temp dir goes after.
    fn drop(&mut self) {
        if let Ok(None) = self.postmaster.try_wait() {
            if let Ok(pid) = i32::try_from(self.postmaster.id()) {
                // SAFETY: kill only sends a signal to our own child.
                unsafe {
                    libc::kill(pid, libc::SIGINT);
                }
            }
            let until = Instant::now() + Duration::from_secs(30);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.postmaster.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.postmaster.kill();
            let _ = self.postmaster.wait();
        }
        // `_dir` (a TempDir) is removed when the fields drop, right after this.
    }
}

/// `--pg-bin`, else the newest `/usr/lib/postgresql/<version>/bin` with `initdb` and
/// `postgres`, else the directory of `initdb` on the PATH.
fn find_bin(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = explicit {
        return if usable(dir) {
            Ok(dir.to_owned())
        } else {
            Err(format!("no initdb and postgres in {}", dir.display()))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| usable(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| usable(dir))
        .ok_or_else(|| {
            "no initdb and postgres found under /usr/lib/postgresql/*/bin or on the PATH \
             (install PostgreSQL, or pass --pg-bin DIR)"
                .to_owned()
        })
}

/// The uid and gid to run the cluster as: none when this process is not root, else the
/// `postgres` user's (initdb refuses to run as root).
fn server_user() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    // SAFETY: a NUL-terminated name; the answer points into libc's static storage and is
    // read at once, on this thread, before any other getpw* call.
    let entry = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    if entry.is_null() {
        return Err("running as root and there is no `postgres` user to run initdb as".into());
    }
    // SAFETY: checked non-null just above.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some((uid, gid)))
}

/// Runs `transaction` on each connection (its client and prepared statements) in a task of
/// its own until `deadline` or `stop`, counting its `Ok(true)` (committed), `Ok(false)`
/// (refused: stops every task, e.g. sold out) and `Err` answers, timing each.
pub async fn drive<S, F, Fut>(connections: Vec<S>, deadline: Instant, transaction: F) -> Outcome
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<bool, tokio_postgres::Error>> + Send,
{
    let transaction = Arc::new(transaction);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, connection) in connections.into_iter().enumerate() {
        let (transaction, stop, done) = (
            Arc::clone(&transaction),
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        let connection = Arc::new(connection);
        tasks.spawn(async move {
            let mut latencies = Latencies::default();
            let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None::<String>);
            while !stop.load(Relaxed) && Instant::now() < deadline {
                let sent = Instant::now();
                match transaction(Arc::clone(&connection), i).await {
                    Ok(true) => {
                        latencies.0.push(sent.elapsed().as_micros() as u64);
                        ok += 1;
                        done.fetch_add(1, Relaxed);
                    }
                    Ok(false) => stop.store(true, Relaxed),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(explain(&e));
                        if e.is_closed() {
                            break;
                        }
                    }
                }
            }
            (ok, errors, first_error, latencies)
        });
    }
    let mut outcome = Outcome {
        version: String::new(),
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies: Latencies::default(),
        check: String::new(),
        pgbench: None,
    };
    let mut last = 0;
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                Some(Ok((ok, errors, first_error, latencies))) => {
                    outcome.ok += ok;
                    outcome.errors += errors;
                    outcome.first_error = outcome.first_error.take().or(first_error);
                    outcome.latencies.merge(latencies);
                }
                Some(Err(e)) => {
                    outcome.errors += 1;
                    outcome.first_error.get_or_insert(e.to_string());
                }
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let now = done.load(Relaxed);
                progress(&format!("PostgreSQL: {now} transactions, {}/s", now - last));
                last = now;
            }
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// An error with the server's message when there is one (tokio-postgres's `Display` says
/// only "db error").
fn explain(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Stock each product row starts with in the checkout baseline (never runs out in 10 s).
const CHECKOUT_STOCK: i32 = 10_000_000;

/// The checkout baseline: `clients` connections, each doing one transaction per order until
/// `secs` have passed: three guarded `UPDATE`s of random distinct rows of `rows` (quantities
/// 1, 2, 3 as the emporium scenario orders; locked in id order so two orders never deadlock;
/// rolled back if any finds too little stock), then the order, its three items and a payment.
pub async fn checkout(
    cluster: Arc<Cluster>,
    clients: usize,
    secs: f64,
    rows: i32,
) -> Result<Outcome, String> {
    let setup = cluster.connect().await?;
    setup
        .batch_execute(&format!(
            "CREATE TABLE products (id int PRIMARY KEY, available int NOT NULL);
             INSERT INTO products SELECT g, {CHECKOUT_STOCK} FROM generate_series(1, {rows}) g;
             CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL,
                 total bigint NOT NULL, status text NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now());
             CREATE TABLE order_items (order_id bigint NOT NULL REFERENCES orders,
                 product_id int NOT NULL REFERENCES products, quantity int NOT NULL,
                 unit_price bigint NOT NULL, PRIMARY KEY (order_id, product_id));
             CREATE TABLE payments (id bigserial PRIMARY KEY,
                 order_id bigint NOT NULL REFERENCES orders, kind text NOT NULL,
                 amount bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
        ))
        .await
        .map_err(|e| format!("schema: {}", explain(&e)))?;
    // Outside the schema's implicit transaction: VACUUM refuses to run in one.
    setup
        .batch_execute("VACUUM ANALYZE")
        .await
        .map_err(|e| format!("vacuum: {}", explain(&e)))?;
    let mut connections = Vec::with_capacity(clients);
    for client in cluster.connect_many(clients).await? {
        let statements = Statements::prepare(&client)
            .await
            .map_err(|e| format!("prepare: {}", explain(&e)))?;
        connections.push((client, statements));
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut outcome = drive(
        connections,
        deadline,
        move |connection, customer| async move {
            let (client, statements) = &*connection;
            let mut ids = Vec::with_capacity(3);
            while ids.len() < 3 {
                let id = rand::random_range(1..=rows);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ids.sort_unstable();
            client.batch_execute("BEGIN").await?;
            let placed = order(client, statements, &ids, customer as i32).await;
            let end = if matches!(placed, Ok(true)) {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            // A failed transaction is rolled back too, so the connection is usable again.
            let ended = client.batch_execute(end).await;
            let placed = placed?;
            ended?;
            Ok(placed)
        },
    )
    .await;
    // Read back: every committed order has its three items and one payment, and the stock
    // taken equals the quantities ordered.
    let row = setup
        .query_one(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM payments),
                    (SELECT count(*) FROM order_items),
                    (SELECT coalesce(sum(quantity), 0)::bigint FROM order_items),
                    (SELECT sum($1::bigint - available)::bigint FROM products)",
            &[&i64::from(CHECKOUT_STOCK)],
        )
        .await
        .map_err(|e| format!("read back: {}", explain(&e)))?;
    let (orders, payments, items, ordered, taken): (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let exact = orders == outcome.ok as i64
        && payments == orders
        && items == 3 * orders
        && ordered == taken;
    outcome.check = format!(
        "{orders} orders, {payments} payments, {items} items, {ordered} units ordered, \
         {taken} taken from stock{}",
        if exact { " — OK" } else { " — FAILED" }
    );
    outcome.version = cluster.version();
    outcome.pgbench = Some(
        pgbench_checkout(&cluster, clients, secs, rows)
            .await
            .map(Box::new),
    );
    Ok(outcome)
}

/// The checkout transaction as a pgbench script (three rows from three thirds of the table,
/// so distinct and in id order; the stock never runs out, so no guard ever fails).
const PGBENCH_CHECKOUT: &str = "\\set a random(1, :third)
\\set b random(:third + 1, 2 * :third)
\\set c random(2 * :third + 1, 3 * :third)
BEGIN;
UPDATE products SET available = available - 1 WHERE id = :a AND available >= 1;
UPDATE products SET available = available - 2 WHERE id = :b AND available >= 2;
UPDATE products SET available = available - 3 WHERE id = :c AND available >= 3;
INSERT INTO orders (customer, total, status) VALUES (:client_id, 11994, 'confirmed') RETURNING id \\gset
INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES (:id, :a, 1, 1999), (:id, :b, 2, 1999), (:id, :c, 3, 1999);
INSERT INTO payments (order_id, kind, amount) VALUES (:id, 'charge', 11994);
COMMIT;
";

/// A cross-check with PostgreSQL's own C client on the same cluster, after the
/// tokio-postgres run: `pgbench -n -M prepared -c C -j 2 -T secs -f checkout.sql`, with its
/// per-transaction log for the percentiles. `Err` says why it did not run.
async fn pgbench_checkout(
    cluster: &Cluster,
    clients: usize,
    secs: f64,
    rows: i32,
) -> Result<Outcome, String> {
    let pgbench = cluster.bin.join("pgbench");
    if !pgbench.is_file() {
        return Err(format!("no {}", pgbench.display()));
    }
    let script = cluster.dir().join("checkout.sql");
    std::fs::write(&script, PGBENCH_CHECKOUT).map_err(|e| format!("checkout.sql: {e}"))?;
    let mut command = Command::new(&pgbench);
    command
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
        ])
        .args(["-T", &(secs.ceil().max(1.0) as u64).to_string()])
        .args(["-D", &format!("third={}", rows / 3)])
        .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string()])
        .args(["-U", "bench", "-l", "--log-prefix"])
        .arg(cluster.dir().join("pgbench-log"))
        .arg("-f")
        .arg(&script)
        .arg("postgres")
        .current_dir(cluster.dir());
    die_with_parent(&mut command);
    progress("PostgreSQL: pgbench");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("starting {}: {e}", pgbench.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // "number of transactions actually processed: N", "number of failed transactions: N",
    // "tps = X (without initial connection time)"; the log: one line per transaction,
    // "client_id transaction_no time_us script_no time_epoch time_us".
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    let ok = field("number of transactions actually processed:").unwrap_or(0.0) as u64;
    let tps = field("tps =").unwrap_or(0.0);
    let failed = field("number of failed transactions:").unwrap_or(0.0) as u64;
    let mut latencies = Latencies::default();
    for entry in std::fs::read_dir(cluster.dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("pgbench-log")
        {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            latencies.0.extend(
                text.lines()
                    .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok()),
            );
        }
    }
    Ok(Outcome {
        version: cluster.version(),
        ok,
        errors: failed,
        first_error: None,
        // pgbench's tps leaves out connection time: the equivalent span at that rate.
        elapsed: Duration::from_secs_f64(if tps > 0.0 { ok as f64 / tps } else { secs }),
        latencies,
        check: String::new(),
        pgbench: None,
    })
}

/// One order inside an open transaction: `false` when a product has too little stock.
async fn order(
    client: &Client,
    statements: &Statements,
    ids: &[i32],
    customer: i32,
) -> Result<bool, tokio_postgres::Error> {
    let unit_price = 1999i64;
    let total = unit_price * 6;
    for (i, id) in ids.iter().enumerate() {
        let quantity = i as i32 + 1;
        if client.execute(&statements.take, &[&quantity, id]).await? == 0 {
            return Ok(false);
        }
    }
    let order: i64 = client
        .query_one(&statements.order, &[&customer, &total])
        .await?
        .get(0);
    client
        .execute(
            &statements.items,
            &[&order, &ids[0], &ids[1], &ids[2], &unit_price],
        )
        .await?;
    client
        .execute(&statements.payment, &[&order, &total])
        .await?;
    Ok(true)
}

/// The checkout baseline's statements, prepared once per connection (each `prepare` is a
/// round trip; an application's driver would cache them the same way).
struct Statements {
    take: tokio_postgres::Statement,
    order: tokio_postgres::Statement,
    items: tokio_postgres::Statement,
    payment: tokio_postgres::Statement,
}

impl Statements {
    async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            take: client
                .prepare(
                    "UPDATE products SET available = available - $1 \
                     WHERE id = $2 AND available >= $1",
                )
                .await?,
            order: client
                .prepare(
                    "INSERT INTO orders (customer, total, status) \
                     VALUES ($1, $2, 'confirmed') RETURNING id",
                )
                .await?,
            items: client
                .prepare(
                    "INSERT INTO order_items (order_id, product_id, quantity, unit_price) \
                     VALUES ($1, $2, 1, $5), ($1, $3, 2, $5), ($1, $4, 3, $5)",
                )
                .await?,
            payment: client
                .prepare("INSERT INTO payments (order_id, kind, amount) VALUES ($1, 'charge', $2)")
                .await?,
        })
    }
}

/// The flash-sale baseline: `clients` connections each running `UPDATE products SET
/// available = available - 1 WHERE id = 1 AND available >= 1` (one autocommitted statement,
/// so one durable commit each) until it updates no row.
pub async fn hot_row(cluster: Arc<Cluster>, clients: usize, stock: i32) -> Result<Outcome, String> {
    let setup = cluster.connect().await?;
    setup
        .batch_execute(&format!(
            "CREATE TABLE products (id int PRIMARY KEY, available int NOT NULL);
             INSERT INTO products VALUES (1, {stock});"
        ))
        .await
        .map_err(|e| format!("schema: {}", explain(&e)))?;
    let mut connections = Vec::with_capacity(clients);
    for client in cluster.connect_many(clients).await? {
        let take = client
            .prepare(
                "UPDATE products SET available = available - 1 WHERE id = 1 AND available >= 1",
            )
            .await
            .map_err(|e| format!("prepare: {}", explain(&e)))?;
        connections.push((client, take));
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut outcome = drive(connections, deadline, |connection, _| async move {
        let (client, take) = &*connection;
        Ok(client.execute(take, &[]).await? == 1)
    })
    .await;
    let available: i32 = setup
        .query_one("SELECT available FROM products WHERE id = 1", &[])
        .await
        .map_err(|e| format!("read back: {}", explain(&e)))?
        .get(0);
    let exact = available == 0 && outcome.ok == stock as u64;
    outcome.check = format!(
        "{} of {stock} units taken, {available} left{}",
        outcome.ok,
        if exact { " — OK" } else { " — FAILED" }
    );
    outcome.version = cluster.version();
    Ok(outcome)
}
