//! Secrets and first run (docs/API.md §1): a private data dir, secrets in `DATA_DIR/secrets`
//! and not in the database, `emporium admin-token show|rotate`, no operator token in the log,
//! ready only with the demo loaded, and storage opened before `listening on`.

use crate::helpers::send;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The real binary with its stdout and stderr captured, line by line.
struct Binary {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Binary {
    /// Starts `emporium serve` on port 0 with `data_dir`; `EMPORIUM_ADMIN_TOKEN` is only set
    /// when `env` sets it.
    fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_emporium"));
        command
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("EMPORIUM_ADMIN_TOKEN")
            .env_remove("EMPORIUM_LOG_FORMAT")
            .env("EMPORIUM_LOG", "info,sled=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start emporium");
        let output = Arc::new(Mutex::new(String::new()));
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for stream in [stdout, stderr] {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut all = output.lock().expect("output lock");
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        Self { child, output }
    }

    /// Everything printed so far.
    fn output(&self) -> String {
        self.output.lock().expect("output lock").clone()
    }

    /// Waits for a line containing `needle`; returns it.
    async fn line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.output().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} within 30 s; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The address of the `listening on` line.
    async fn addr(&self) -> SocketAddr {
        let line = self.line("listening on http://").await;
        let rest = line.split("listening on http://").nth(1).expect("address");
        let addr = rest.split_whitespace().next().expect("address");
        addr.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .expect("socket address")
    }

    /// SIGTERM, then waits for exit 0 (storage flushed).
    async fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("send SIGTERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                assert_eq!(exit.code(), Some(0), "{}", self.output());
                break;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let the reader threads drain the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.output()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `emporium ARGS` to completion (no admin token in the environment unless `env` has it).
fn run(args: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_emporium"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("EMPORIUM_ADMIN_TOKEN");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run emporium")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `admin_token=` value of the `generated the admin token` line.
fn generated_token(line: &str) -> String {
    line.split("admin_token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("admin_token field")
        .to_owned()
}

/// Every file below `dir` with its mode, recursively.
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        all.push((
            entry.path(),
            meta.permissions().mode() & 0o777,
            meta.is_dir(),
        ));
        if meta.is_dir() {
            all.extend(modes(&entry.path()));
        }
    }
    all
}

/// The files below `dir` (other than the secrets file) whose bytes contain `needle`, like
/// `strings data/* | grep` would find.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    modes(dir)
        .into_iter()
        .filter(|(path, _, is_dir)| !is_dir && !path.ends_with("secrets"))
        .filter(|(path, _, _)| {
            let bytes = std::fs::read(path).unwrap_or_default();
            bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
        .map(|(path, _, _)| path)
        .collect()
}

fn secrets_of(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("secrets")).expect("secrets file"))
        .expect("secrets are JSON")
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

async fn create_store_with(client: &reqwest::Client, addr: SocketAddr, token: &str) -> u16 {
    send(
        client
            .post(format!("http://{addr}/api/v1/stores"))
            .bearer_auth(token)
            .json(&json!({"name": "Shop", "kind": "retail", "currency": "USD"})),
    )
    .await
    .0
}

async fn wait_ready(client: &reqwest::Client, addr: SocketAddr) {
    crate::helpers::wait_ready(client, addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_data_dir_is_private_and_keeps_its_secrets_in_their_own_file_not_in_the_database() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let server = Binary::start(&data, &[], &[]);
    let addr = server.addr().await;
    let client = reqwest::Client::new();
    wait_ready(&client, addr).await;
    let token = generated_token(&server.line("generated the admin token").await);
    assert_eq!(create_store_with(&client, addr, &token).await, 201);

    assert_eq!(mode_of(&data), 0o700, "the data dir");
    for (path, mode, is_dir) in modes(&data) {
        let wanted = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} has mode {mode:o}", path.display());
    }
    let secrets = secrets_of(&data);
    assert_eq!(secrets["admin_token"], token.as_str());
    let jwt_secret = secrets["jwt_secret"]
        .as_str()
        .expect("jwt secret")
        .to_owned();
    let output = server.stop().await;
    assert_eq!(
        output.matches(&token).count(),
        1,
        "a generated token is logged exactly once:\n{output}"
    );
    assert_eq!(files_containing(&data, &jwt_secret), Vec::<PathBuf>::new());
    assert_eq!(files_containing(&data, &token), Vec::<PathBuf>::new());

    // Later starts use the stored token and do not log it again.
    let server = Binary::start(&data, &[], &[]);
    let addr = server.addr().await;
    wait_ready(&client, addr).await;
    assert_eq!(create_store_with(&client, addr, &token).await, 201);
    let output = server.stop().await;
    assert!(!output.contains(&token), "{output}");
}

/// Turns a data dir of the current layout back into the one of earlier versions: sled at the
/// top of the data dir, the secrets in its `meta` tree, no secrets file, world-readable modes.
fn downgrade_to_legacy(data: &Path, admin_token: &str, jwt_secret: &str) {
    let sled_dir = data.join("sled");
    for entry in std::fs::read_dir(&sled_dir).expect("sled dir").flatten() {
        std::fs::rename(entry.path(), data.join(entry.file_name())).expect("move sled file");
    }
    std::fs::remove_dir(&sled_dir).expect("remove sled dir");
    std::fs::remove_file(data.join("secrets")).expect("remove secrets");
    std::fs::remove_file(data.join("lock")).expect("remove lock");
    {
        let db = sled::open(data).expect("open legacy sled");
        let meta = db.open_tree("meta").expect("meta tree");
        meta.insert("admin_token", admin_token.as_bytes())
            .expect("insert");
        meta.insert("jwt_secret", jwt_secret.as_bytes())
            .expect("insert");
        db.flush().expect("flush");
    }
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for (path, _, is_dir) in modes(data) {
        let mode = if is_dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    assert_eq!(
        files_containing(data, jwt_secret).len(),
        1,
        "the legacy db holds it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_data_dir_moves_its_secrets_out_of_the_database_and_old_tokens_keep_working() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let client = reqwest::Client::new();
    let server = Binary::start(
        &data,
        &[],
        &[("EMPORIUM_ADMIN_TOKEN", crate::helpers::ADMIN_TOKEN)],
    );
    let addr = server.addr().await;
    wait_ready(&client, addr).await;
    let store = crate::helpers::create_store(&client, addr).await;
    let product = crate::helpers::create_product(&client, addr, &store, 7).await;
    server.stop().await;

    let admin_token = "adm_legacylegacylegacylegacylegacy1";
    let jwt_secret = "legacy-jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    downgrade_to_legacy(&data, admin_token, jwt_secret);
    // An access token the old server signed, still within its lifetime.
    let now = jsonwebtoken::get_current_timestamp();
    let user = emporium::domain::ids::UserId::generate();
    let access = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user.to_string(), "role": "customer", "store_id": null,
                "iat": now, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(jwt_secret.as_bytes()),
    )
    .expect("sign");

    let server = Binary::start(&data, &[], &[]);
    let addr = server.addr().await;
    wait_ready(&client, addr).await;
    let output = server.output();
    assert!(
        output.contains(&format!("{} had mode 0755", data.display())),
        "a loose data dir is named in a warning:\n{output}"
    );
    assert!(!output.contains("generated the admin token"), "{output}");
    assert_eq!(create_store_with(&client, addr, admin_token).await, 201);
    let (status, orders) = send(
        client
            .get(format!("http://{addr}/api/v1/orders"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(status, 200, "the old JWT key still verifies: {orders}");
    let (status, inventory) =
        send(client.get(format!("http://{addr}/api/v1/products/{product}/inventory"))).await;
    assert_eq!(status, 200, "{inventory}");
    assert_eq!(inventory["on_hand"], 7, "the data came along");
    server.stop().await;

    assert_eq!(mode_of(&data), 0o700);
    assert_eq!(mode_of(&data.join("secrets")), 0o600);
    for (path, mode, is_dir) in modes(&data) {
        let wanted = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} has mode {mode:o}", path.display());
    }
    let secrets = secrets_of(&data);
    assert_eq!(secrets["admin_token"], admin_token);
    assert_eq!(secrets["jwt_secret"], jwt_secret);
    assert_eq!(files_containing(&data, jwt_secret), Vec::<PathBuf>::new());
    assert_eq!(files_containing(&data, admin_token), Vec::<PathBuf>::new());
    assert!(!data.join("db").exists() && !data.join("conf").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_show_prints_the_stored_token_and_rotate_retires_it_while_the_server_is_stopped()
 {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let client = reqwest::Client::new();
    let server = Binary::start(&data, &[], &[]);
    let addr = server.addr().await;
    wait_ready(&client, addr).await;
    let old = generated_token(&server.line("generated the admin token").await);
    server.stop().await;

    let shown = run(&["admin-token", "show"], &data, &[]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert_eq!(text(&shown.stdout).trim(), old);

    let rotated = run(&["admin-token", "rotate"], &data, &[]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let new = text(&rotated.stdout).trim().to_owned();
    assert!(new.starts_with("adm_") && new != old, "{new}");
    let shown = run(&["admin-token", "show"], &data, &[]);
    assert_eq!(text(&shown.stdout).trim(), new);

    let server = Binary::start(&data, &[], &[]);
    let addr = server.addr().await;
    wait_ready(&client, addr).await;
    assert_eq!(create_store_with(&client, addr, &old).await, 401);
    assert_eq!(create_store_with(&client, addr, &new).await, 201);
    let output = server.stop().await;
    assert!(
        !output.contains(&new),
        "a stored token is not logged:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_commands_refuse_in_one_sentence_while_a_server_holds_the_data_dir() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let client = reqwest::Client::new();
    let server = Binary::start(&data, &[], &[]);
    let addr = server.addr().await;
    wait_ready(&client, addr).await;
    let token = generated_token(&server.line("generated the admin token").await);
    for action in ["show", "rotate"] {
        let output = run(&["admin-token", action], &data, &[]);
        assert!(!output.status.success(), "{action} must refuse");
        assert_eq!(text(&output.stdout), "", "{action} printed a token");
        let stderr = text(&output.stderr);
        assert_eq!(
            stderr.trim(),
            format!(
                "emporium: data dir {} is in use by another emporium process",
                data.display()
            ),
            "{action}"
        );
    }
    assert_eq!(create_store_with(&client, addr, &token).await, 201);
    server.stop().await;
    assert_eq!(secrets_of(&data)["admin_token"], token.as_str());
}

#[test]
fn admin_token_show_says_so_when_the_configuration_supplies_the_token_and_does_not_print_it() {
    let temp = tempfile::tempdir().expect("temp dir");
    for action in ["show", "rotate"] {
        let output = run(
            &["admin-token", action],
            temp.path(),
            &[("EMPORIUM_ADMIN_TOKEN", "operator-chosen-token")],
        );
        assert_eq!(output.status.code(), Some(1));
        let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(all.contains("set by the configuration"), "{all}");
        assert!(!all.contains("operator-chosen-token"), "{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_token_the_operator_supplied_never_appears_in_the_log() {
    let temp = tempfile::tempdir().expect("temp dir");
    let secret = "operator-secret-token-4711";
    let server = Binary::start(
        temp.path(),
        &["--demo"],
        &[("EMPORIUM_ADMIN_TOKEN", secret)],
    );
    let addr = server.addr().await;
    let client = reqwest::Client::new();
    wait_ready(&client, addr).await;
    server.line("demo ready").await;
    assert_eq!(create_store_with(&client, addr, secret).await, 201);
    let output = server.stop().await;
    assert!(!output.contains(secret), "{output}");
    assert!(!output.contains("generated the admin token"), "{output}");
    let secrets = secrets_of(temp.path());
    assert!(
        secrets.get("admin_token").is_none(),
        "an operator's token is not stored: {secrets}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_200_only_once_the_demo_catalog_is_fully_loaded() {
    let temp = tempfile::tempdir().expect("temp dir");
    let server = Binary::start(temp.path(), &["--demo"], &[]);
    let addr = server.addr().await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("http://{addr}/readyz")).send().await
            && response.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let counts = || async {
        let (status, stores) = send(client.get(format!("http://{addr}/api/v1/stores"))).await;
        assert_eq!(status, 200, "{stores}");
        let mut counts = Vec::new();
        for store in stores["items"].as_array().expect("items") {
            let id = store["id"].as_str().expect("id");
            let (_, page) = send(client.get(format!(
                "http://{addr}/api/v1/products?store_id={id}&per_page=100"
            )))
            .await;
            counts.push(page["total"].as_u64().expect("total"));
        }
        counts
    };
    let at_ready = counts().await;
    assert_eq!(at_ready.len(), 2, "both demo stores at the first 200");
    server.line("demo ready").await;
    assert_eq!(
        at_ready,
        counts().await,
        "every demo product at the first 200"
    );
    assert!(at_ready.iter().all(|&n| n > 0), "{at_ready:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_stops_with_one_sentence_before_listening() {
    let temp = tempfile::tempdir().expect("temp dir");
    let first = Binary::start(temp.path(), &[], &[]);
    let addr = first.addr().await;
    let client = reqwest::Client::new();
    wait_ready(&client, addr).await;

    let second = run(&["--addr", "127.0.0.1:0"], temp.path(), &[]);
    assert_eq!(second.status.code(), Some(1));
    let stdout = text(&second.stdout);
    let stderr = text(&second.stderr);
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert_eq!(
        stderr.trim(),
        format!(
            "emporium: data dir {} is in use by another emporium process",
            temp.path().display()
        )
    );
    // The first one is unharmed.
    let (status, _) = send(client.get(format!("http://{addr}/readyz"))).await;
    assert_eq!(status, 200);
}

#[test]
fn an_unusable_data_dir_stops_the_server_with_one_sentence_before_listening() {
    let temp = tempfile::tempdir().expect("temp dir");
    let file = temp.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    for (data, expected) in [
        (
            file.clone(),
            format!("emporium: data dir {} is not a directory", file.display()),
        ),
        (
            file.join("data"),
            format!(
                "emporium: cannot create data dir {}: Not a directory (os error 20)",
                file.join("data").display()
            ),
        ),
    ] {
        let output = run(&["--addr", "127.0.0.1:0"], &data, &[]);
        assert_eq!(output.status.code(), Some(1));
        assert!(
            !text(&output.stdout).contains("listening on"),
            "{}",
            text(&output.stdout)
        );
        assert_eq!(text(&output.stderr).trim(), expected);
    }
}

#[test]
fn help_names_the_environment_variables_and_where_the_admin_token_lives() {
    let output = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .arg("--help")
        .output()
        .expect("run emporium --help");
    assert!(output.status.success());
    let help = text(&output.stdout);
    for needle in [
        "EMPORIUM_ADMIN_TOKEN",
        "EMPORIUM_AUTH__JWT_SECRET",
        "EMPORIUM_DATA_DIR",
        "EMPORIUM_LOG",
        "EMPORIUM_LOG_FORMAT",
        "EMPORIUM_<SECTION>__<KEY>",
        "DATA_DIR/secrets",
        "emporium admin-token show",
        "admin-token",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(["admin-token", "--help"])
        .output()
        .expect("run emporium admin-token --help");
    let help = text(&output.stdout);
    assert!(help.contains("show") && help.contains("rotate"), "{help}");
}
