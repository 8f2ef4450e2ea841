//! The event log under every write (issue 11): torn tails after `kill -9`, a damaged older
//! record, a consumer with a durable cursor killed at random points, bounded disk.
//!
//! Log format (src/persistence/log.rs): `len u32 LE | crc32c u32 | lsn u64 LE | body`, in
//! segment files `DATA_DIR/log/<first lsn, 20 digits>.seg`.

use crate::helpers::*;
use rand::Rng;
use serde_json::json;
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const HEADER: usize = 16;

/// Every adjustment is replayed from the log at start-up, not read from a flushed sled.
const NO_CHECKPOINTS: (&str, &str) = ("EMPORIUM_STORAGE__CHECKPOINT_INTERVAL_MS", "3600000");

fn segments(data_dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(data_dir.join("log"))
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    found.sort();
    found
}

/// `(offset, lsn, length)` of each whole record of a segment's bytes.
fn records(bytes: &[u8]) -> Vec<(usize, u64, usize)> {
    let mut found = Vec::new();
    let mut at = 0;
    while at + HEADER <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        if at + HEADER + len > bytes.len() {
            break;
        }
        let lsn = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().expect("8 bytes"));
        found.push((at, lsn, HEADER + len));
        at += HEADER + len;
    }
    found
}

/// The number of the log's last whole record, read from the segment files.
fn last_record_lsn(data_dir: &Path) -> u64 {
    segments(data_dir)
        .iter()
        .filter_map(|s| records(&fs::read(s).expect("segment")).last().map(|r| r.1))
        .max()
        .expect("records")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "lock" {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test]
async fn every_torn_tail_after_kill_9_is_cut_and_every_acknowledged_write_is_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[NO_CHECKPOINTS]);
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 100).await;
    let (acknowledged, attempted) = adjust_until_killed(server, &product, 60, 100).await;
    assert!(acknowledged >= 60, "{acknowledged} acknowledged");

    let last_segment = segments(dir.path()).pop().expect("a segment");
    let bytes = fs::read(&last_segment).expect("segment");
    let whole = records(&bytes);
    let &(offset, lsn, len) = whole.last().expect("records");
    let whole_end = offset + len;
    // What a crash in the middle of the next write could leave: a prefix of a record (here a
    // copy of the last one renumbered, its checksum now stale, like any torn write's), or
    // garbage.
    let mut template = bytes[offset..whole_end].to_vec();
    template[8..16].copy_from_slice(&(lsn + 1).to_le_bytes());
    let mut rng = rand::rng();
    let mut tails: Vec<Vec<u8>> = [1, 3, 4, 8, 12, 15, 16, 17, len / 2, len - 1]
        .into_iter()
        .map(|n| template[..n].to_vec())
        .collect();
    tails.push(template.clone()); // whole length, stale checksum
    tails.push((0..64).map(|_| rng.random()).collect());
    tails.push((0..5000).map(|_| rng.random()).collect());
    tails.push(vec![0; 40]);

    for (case, tail) in tails.iter().enumerate() {
        let copy = tempfile::tempdir().expect("temp dir");
        copy_dir(dir.path(), copy.path());
        let segment = copy
            .path()
            .join("log")
            .join(last_segment.file_name().expect("name"));
        let mut torn = bytes[..whole_end].to_vec();
        torn.extend_from_slice(tail);
        fs::write(&segment, &torn).expect("write torn tail");

        let server = ServerProcess::start(copy.path(), &[NO_CHECKPOINTS]);
        wait_ready(&client, server.addr).await;
        let inventory = inventory_at(&client, server.addr, &product).await;
        let on_hand = inventory["on_hand"].as_i64().expect("on_hand");
        assert!(
            (100 + acknowledged..=100 + attempted).contains(&on_hand),
            "case {case} ({} bytes of tail): on_hand {on_hand}, {acknowledged} acknowledged of {attempted}",
            tail.len()
        );
        assert_eq!(
            inventory["version"],
            json!(1 + on_hand - 100),
            "case {case}: one event per applied write"
        );
        assert_eq!(
            fs::read(&segment).expect("segment").len(),
            whole_end,
            "case {case}: the tail is cut at the last whole record"
        );
        // The log goes on after the cut, and the next start reads it whole.
        adjust_stock(&client, server.addr, &product, 1).await;
        server.kill_9();
        let server = ServerProcess::start(copy.path(), &[NO_CHECKPOINTS]);
        wait_ready(&client, server.addr).await;
        assert_eq!(
            inventory_at(&client, server.addr, &product).await["on_hand"],
            json!(on_hand + 1),
            "case {case}: the write after the cut survives a restart"
        );
        server.kill_9();
    }
}

/// Waits for the process to exit (at most 20 s) and returns its exit code and stderr.
fn exit_of(mut child: std::process::Child) -> (Option<i32>, String) {
    use std::io::Read;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit on a damaged log");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr text");
    (status.code(), stderr)
}

#[tokio::test]
async fn a_damaged_older_record_stops_start_up_naming_the_segment_and_offset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[]);
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 5).await;
    for _ in 0..5 {
        adjust_stock(&client, server.addr, &product, 1).await;
    }
    server.kill_9();

    let segment = segments(dir.path()).pop().expect("a segment");
    let mut bytes = fs::read(&segment).expect("segment");
    let found = records(&bytes);
    assert!(found.len() >= 4, "{} records", found.len());
    let (offset, _, len) = found[1];
    bytes[offset + HEADER + len / 3] ^= 0x20;
    fs::write(&segment, &bytes).expect("damage");

    let child = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("EMPORIUM_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start emporium");
    let (code, stderr) = exit_of(child);
    assert_eq!(code, Some(1), "{stderr}");
    let named = segment.display().to_string();
    assert!(stderr.contains(&named), "names the segment: {stderr}");
    assert!(
        stderr.contains(&format!("offset {offset}")),
        "names offset {offset}: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
}

#[tokio::test]
async fn a_consumer_killed_at_random_points_gets_every_record_in_order_without_a_gap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = dir.path().join("probe.txt");
    let fault = format!("probe_consumer:{}", probe.display());
    let env = [("EMPORIUM_FAULT", fault.as_str())];
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &env);
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 0).await;
    let mut on_hand = 0;
    let mut first = Some(server);
    for _ in 0..4 {
        let server = match first.take() {
            Some(server) => server,
            None => ServerProcess::start(dir.path(), &env),
        };
        wait_ready(&client, server.addr).await;
        let wait = rand::rng().random_range(20..40);
        let (acknowledged, _) = adjust_until_killed(server, &product, wait, on_hand).await;
        on_hand += acknowledged;
    }
    // A last start: the consumer catches up with the whole log.
    let server = ServerProcess::start(dir.path(), &env);
    wait_ready(&client, server.addr).await;
    let last_lsn = last_record_lsn(dir.path());
    eventually(Duration::from_secs(10), || async {
        fs::read_to_string(&probe)
            .unwrap_or_default()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("e "))
            .is_some_and(|lsn| lsn == last_lsn.to_string())
    })
    .await;
    drop(server);

    let text = fs::read_to_string(&probe).expect("probe output");
    let (mut saved, mut last_delivered, mut starts) = (0u64, 0u64, 0);
    let mut expected_next = None;
    for line in text.lines() {
        let (kind, lsn) = line.split_once(' ').expect("kind and lsn");
        let lsn: u64 = lsn.parse().expect("number");
        match kind {
            "start" => {
                starts += 1;
                assert!(
                    lsn >= saved && lsn <= last_delivered.max(saved),
                    "restarted at {lsn}: last saved {saved}, last delivered {last_delivered}"
                );
                expected_next = Some(lsn + 1);
            }
            "e" => {
                assert_eq!(Some(lsn), expected_next, "in order, no gap");
                expected_next = Some(lsn + 1);
                last_delivered = lsn;
            }
            "c" => {
                assert_eq!(lsn, last_delivered, "saves what it has handled");
                saved = lsn;
            }
            other => panic!("unexpected line {other}"),
        }
    }
    assert_eq!(starts, 5, "one start per server start");
    assert_eq!(last_delivered, last_lsn);
}

#[tokio::test]
async fn segments_below_the_checkpoint_are_deleted_so_the_log_stays_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("EMPORIUM_STORAGE__LOG_SEGMENT_BYTES", "4096"),
        ("EMPORIUM_STORAGE__CHECKPOINT_INTERVAL_MS", "20"),
    ];
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &env);
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 0).await;
    for _ in 0..300 {
        adjust_stock(&client, server.addr, &product, 1).await;
    }
    // 300 adjustments fill well over 20 segments of 4 KiB; all but the newest go once a
    // checkpoint has passed them.
    eventually(Duration::from_secs(10), || async {
        segments(dir.path()).len() <= 2
    })
    .await;
    // The gauges say the same: the last durable record is the log's last, the checkpoint
    // caught up with it once writes stopped, and two segments at most are kept.
    let last_lsn = last_record_lsn(dir.path());
    let addr = server.addr;
    eventually(Duration::from_secs(10), || async {
        let text = metrics_text(&client, addr).await;
        let sample = |series: &str| metric_sample(&text, series);
        sample("emporium_log_durable_lsn") == Some(last_lsn as f64)
            && sample("emporium_log_checkpoint_lsn") == Some(last_lsn as f64)
            && sample("emporium_log_segments").is_some_and(|n| (1.0..=2.0).contains(&n))
    })
    .await;
    server.kill_9();
    let server = ServerProcess::start(dir.path(), &env);
    wait_ready(&client, server.addr).await;
    assert_eq!(
        inventory_at(&client, server.addr, &product).await["on_hand"],
        json!(300)
    );
}
