//! Start-up of the real binary on data dirs an unlucky operator can leave: missing, empty or
//! truncated metadata, lost segment files, a second server, stray directories. Each is refused
//! with a message that says what is wrong, without a panic, and without touching the data;
//! putting things back makes the server start with everything there (design §2, §8).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{noisy_group as group, Server, SlsHttp};
use serde_json::json;

async fn logstore(http: &SlsHttp, shards: u32) {
    assert_eq!(
        http.json("POST", Some("boot"), "/", json!({"projectName": "boot"}))
            .await
            .status,
        200
    );
    let r = http
        .json(
            "POST",
            Some("boot"),
            "/logstores",
            json!({"logstoreName": "logs", "ttl": 7, "shardCount": shards}),
        )
        .await;
    assert_eq!(r.status, 200);
}

async fn put_n(http: &SlsHttp, n: usize, len: usize) {
    for i in 0..n {
        let r = http
            .put("boot", "logs", None, &group(i, len))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
}

/// Every file under `dir`, with its length, sorted.
fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let len = std::fs::metadata(&p).unwrap().len();
                out.push((p, len));
            }
        }
    }
    out.sort();
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect()
}

/// Asserts that a start on `data_dir` is refused, says all of `expected`, and does not panic.
fn refused(data_dir: &Path, extra: &[&str], expected: &[&str]) -> String {
    let out = Server::try_start_with(data_dir, extra);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "it started: {stderr}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    for e in expected {
        assert!(stderr.contains(e), "says {e:?}: {stderr}");
    }
    stderr
}

async fn count_all(http: &SlsHttp, shards: u32) -> usize {
    let mut n = 0;
    for s in 0..shards {
        n += http.pull_all("boot", "logs", s).await.len();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_empty_or_damaged_metadata_is_refused_and_the_data_kept() {
    let mut server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    logstore(&http, 2).await;
    put_n(&http, 30, 100).await;
    // A backup checkpoint, so that `backups/` holds pins too.
    let (status, ckpt) = common::atlas(
        &server,
        "POST",
        "/groups/boot/clusters/logs/backupCheckpoints",
        None,
    );
    assert_eq!(status, 201, "{ckpt}");
    server.kill();
    let data = server.data_dir.clone();
    let meta = data.join("meta.redb");
    let saved = std::fs::read(&meta).unwrap();
    let shards_before = files(&data.join("shards"));
    let backups_before = files(&data.join("backups"));
    assert!(!backups_before.is_empty());
    let untouched = |when: &str| {
        assert_eq!(files(&data.join("shards")), shards_before, "{when}");
        assert_eq!(files(&data.join("backups")), backups_before, "{when}");
    };

    std::fs::remove_file(&meta).unwrap();
    refused(
        &data,
        &[],
        &["meta.redb", "missing", "holds shard or backup data"],
    );
    assert!(!meta.exists(), "no new, empty metadata was created");
    untouched("missing");

    std::fs::write(&meta, b"").unwrap();
    refused(&data, &[], &["meta.redb", "empty"]);
    untouched("empty");

    for cut in [100, saved.len() / 2, saved.len() - 1] {
        std::fs::write(&meta, &saved[..cut]).unwrap();
        refused(&data, &[], &["meta.redb", "damaged"]);
        untouched(&format!("cut at {cut}"));
    }

    std::fs::write(&meta, &saved).unwrap();
    server.restart();
    let http = SlsHttp::new(&server);
    assert_eq!(count_all(&http, 2).await, 30, "everything is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_that_lost_segment_files_is_refused() {
    let conf = tempfile::tempdir().unwrap();
    let path = conf.path().join("cairn.toml");
    std::fs::write(&path, "[storage]\nsegment_bytes = 4096\n").unwrap();
    let config = path.to_str().unwrap();
    let mut server = Server::start(&["--config", config]);
    let http = SlsHttp::new(&server);
    logstore(&http, 1).await;
    put_n(&http, 60, 500).await;
    // SIGKILL: only what the seals recorded protects the shard, no clean stop.
    server.kill();
    let data = server.data_dir.clone();
    let segs = segments(&data.join("shards"));
    assert!(segs.len() >= 4, "{segs:?}");
    let newest = segs.last().unwrap().clone();
    let saved = std::fs::read(&newest).unwrap();
    std::fs::remove_file(&newest).unwrap();
    refused(
        &data,
        &["--config", config],
        &[
            "refusing to start",
            "shard 0 of logstore boot/logs",
            "newest segment",
        ],
    );
    std::fs::write(&newest, &saved).unwrap();

    // Every segment gone: a shard directory without segments is refused too.
    let shard_dir = newest.parent().unwrap().to_path_buf();
    let moved = tempfile::tempdir().unwrap();
    for (p, _) in files(&shard_dir) {
        std::fs::rename(&p, moved.path().join(p.file_name().unwrap())).unwrap();
    }
    refused(
        &data,
        &["--config", config],
        &["holds no segment", "boot/logs"],
    );
    for (p, _) in files(moved.path()) {
        std::fs::rename(&p, shard_dir.join(p.file_name().unwrap())).unwrap();
    }

    server.restart();
    let http = SlsHttp::new(&server);
    assert_eq!(count_all(&http, 1).await, 60);
    // After a clean stop the active segment is covered too.
    assert!(server.terminate());
    let newest = segments(&data.join("shards")).pop().unwrap();
    std::fs::remove_file(&newest).unwrap();
    refused(&data, &["--config", config], &["newest segment"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_is_told_who_holds_it() {
    let server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    logstore(&http, 1).await;
    let stderr = refused(
        &server.data_dir,
        &[],
        &["another Cairn process", "is using the data dir"],
    );
    assert!(
        stderr.contains(&format!("pid {}", server.pid())),
        "names the holder: {stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");
    put_n(&http, 1, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_directories_are_refused_never_removed() {
    let mut server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    logstore(&http, 1).await;
    server.kill();
    let stray = server.data_dir.join("shards/0123456789abcdef01234567/0");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("00000000000000000000.log"), b"someone's data").unwrap();
    refused(
        &server.data_dir,
        &[],
        &["does not account for", "0123456789abcdef01234567"],
    );
    assert!(stray.join("00000000000000000000.log").exists());
    std::fs::remove_dir_all(stray.parent().unwrap()).unwrap();
    server.restart();
}

/// Starts the binary on `data` (with the test key in the environment or without any), waits
/// until it listens, stops it, and answers what it wrote to stderr.
fn start_once(data: &Path, with_env_key: bool) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(data)
    .env("CAIRN_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(log.reopen().unwrap());
    if with_env_key {
        cmd.env("CAIRN_ACCESS_KEY_ID", common::AK)
            .env("CAIRN_ACCESS_KEY_SECRET", common::SK);
    } else {
        cmd.env_remove("CAIRN_ACCESS_KEY_ID")
            .env_remove("CAIRN_ACCESS_KEY_SECRET");
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let started = lines.any(|l| l.is_ok_and(|l| l.contains("listening on")));
    child.kill().unwrap();
    child.wait().unwrap();
    let stderr = std::fs::read_to_string(log.path()).unwrap();
    assert!(started, "it started: {stderr}");
    stderr
}

#[test]
fn the_data_dir_and_a_generated_key_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fresh");
    start_once(&data, false);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let key = data.join("root-key.json");
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&key), 0o600, "key file");
    let quiet = start_once(&data, false);
    assert!(!quiet.contains("root key"), "{quiet}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = start_once(&data, false);
    assert!(stderr.contains("may be read by other users"), "{stderr}");
    let stderr = start_once(&data, true);
    assert!(
        stderr
            .contains("CAIRN_ACCESS_KEY_SECRET are set, so the root key in this file is not used"),
        "{stderr}"
    );
}
