//! Running out of resources, with the real binary: a full disk answers a clear error and writes
//! resume without a restart once space is freed; ten thousand shards start and serve under a
//! limit of 4,096 file descriptors (design §7).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{atlas, noisy_group as group, restore_and_wait, seq_of, Server, SlsHttp};
use serde_json::json;

/// A tmpfs of a given size, unmounted when dropped. Mounting needs root, as the test command
/// runs in CI; anywhere else this test fails saying so rather than pass without testing.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("mount is installed");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill a disk and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn logstore(http: &SlsHttp, project: &str, name: &str, shards: u32) {
    let r = http
        .json(
            "POST",
            Some(project),
            "/logstores",
            json!({"logstoreName": name, "ttl": 7, "shardCount": shards}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn project(http: &SlsHttp, name: &str) {
    let r = http
        .json("POST", Some(name), "/", json!({"projectName": name}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_disk_full_and_writes_resume_once_space_is_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("disk");
    let _disk = Tmpfs::mount(&mnt, "24m");
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![7u8; 12 << 20]).unwrap();
    let mut server = Server::start_on(mnt.join("data"), None, &[], None);
    let http = SlsHttp::new(&server);
    project(&http, "full").await;
    logstore(&http, "full", "logs", 1).await;

    let mut acked = Vec::new();
    let refusal = loop {
        let seq = acked.len();
        let r = http
            .put("full", "logs", None, &group(seq, 256 << 10))
            .await
            .unwrap();
        match r.status {
            200 => acked.push(seq),
            _ => break r,
        }
        assert!(seq < 200, "24 MiB cannot hold 200 LogGroups of 256 KiB");
    };
    assert_eq!(refusal.status, 507, "{:?}", refusal.body);
    let err = refusal.json();
    assert_eq!(err["errorCode"], "DiskFull", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{err}"
    );
    assert!(
        acked.len() > 10,
        "some LogGroups fit before the disk filled"
    );
    // Still full: the same answer, not a shard that refuses everything from now on.
    let again = http
        .put("full", "logs", None, &group(acked.len(), 256 << 10))
        .await
        .unwrap();
    assert_eq!(again.status, 507);

    std::fs::remove_file(&filler).unwrap();
    for _ in 0..10 {
        let seq = acked.len();
        let r = http
            .put("full", "logs", None, &group(seq, 256 << 10))
            .await
            .unwrap();
        assert_eq!(
            r.status, 200,
            "writes resume without a restart: {:?}",
            r.body
        );
        acked.push(seq);
    }

    server.restart();
    let http = SlsHttp::new(&server);
    let got: Vec<usize> = http
        .pull_all("full", "logs", 0)
        .await
        .iter()
        .map(|(_, b)| seq_of(b))
        .collect();
    assert_eq!(got, acked, "every acknowledged LogGroup, once, in order");
}

/// Fills the file system of `dir` up to `keep` free bytes with a file in `dir`.
fn fill(dir: &Path, keep: u64) -> PathBuf {
    let path = dir.join("filler");
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .unwrap();
    let avail: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::fs::write(&path, vec![1u8; avail.saturating_sub(keep) as usize]).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_fails_in_the_background_says_so_in_its_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("disk");
    let _disk = Tmpfs::mount(&mnt, "32m");
    let server = Server::start_on(mnt.join("data"), None, &[], None);
    let http = SlsHttp::new(&server);
    project(&http, "full").await;
    logstore(&http, "full", "logs", 1).await;
    for seq in 0..16 {
        let r = http
            .put("full", "logs", None, &group(seq, 256 << 10))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let (status, ckpt) = atlas(
        &server,
        "POST",
        "/groups/full/clusters/logs/backupCheckpoints",
        None,
    );
    assert_eq!(status, 201, "{ckpt}");
    let id = ckpt["id"].as_str().unwrap().to_string();
    let shards_before: Vec<_> = std::fs::read_dir(server.data_dir.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    // Room for the metadata, not for a copy of the 4 MiB segment the cut falls in.
    let filler = fill(&mnt, 1 << 20);
    let jobs = restore_and_wait(&server, "full", "logs", &id, "copy");
    for j in &jobs {
        assert_eq!(j["statusName"], "BROKEN", "{j}");
        let reason = j["statusReason"].as_str().unwrap_or_default();
        assert!(reason.contains("disk is full"), "{j}");
    }
    let shards_after: Vec<_> = std::fs::read_dir(server.data_dir.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        shards_after, shards_before,
        "the failed restore removed what it built"
    );
    let r = http
        .send("GET", Some("full"), "/logstores/copy", "", vec![], &[])
        .await
        .unwrap();
    assert_eq!(r.status, 404, "no logstore was created");

    std::fs::remove_file(&filler).unwrap();
    let jobs = restore_and_wait(&server, "full", "logs", &id, "copy");
    assert!(
        jobs.iter().all(|j| j["statusName"] == "FINISHED"),
        "{jobs:?}"
    );
    assert_eq!(http.pull_all("full", "copy", 0).await.len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_changes_resume_once_a_full_disk_has_space_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("disk");
    let _disk = Tmpfs::mount(&mnt, "16m");
    let mut server = Server::start_on(mnt.join("data"), None, &[], None);
    let http = SlsHttp::new(&server);
    let filler = fill(&mnt, 0);
    let mut created = Vec::new();
    let refusal = loop {
        let name = format!("p{:05}", created.len());
        let r = http
            .json(
                "POST",
                Some(&name),
                "/",
                json!({"projectName": name, "description": "x".repeat(500)}),
            )
            .await;
        match r.status {
            200 => created.push(name),
            _ => break r,
        }
        assert!(
            created.len() < 20_000,
            "the metadata store never needed more space"
        );
    };
    assert_eq!(refusal.status, 507, "{:?}", refusal.body);
    assert_eq!(refusal.json()["errorCode"], "DiskFull");
    std::fs::remove_file(&filler).unwrap();
    // The store refused everything after its I/O error; it is opened again and takes changes.
    for _ in 0..3 {
        let name = format!("p{:05}", created.len());
        let r = http
            .json("POST", Some(&name), "/", json!({"projectName": name}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        created.push(name);
    }
    server.restart();
    let http = SlsHttp::new(&server);
    let r = http
        .send("GET", None, "/", "size=500", vec![], &[])
        .await
        .unwrap();
    assert_eq!(
        r.json()["total"],
        created.len(),
        "every acknowledged change, and only those"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_fails_writes_until_they_are_back() {
    // A connection cap far above the descriptor limit (a misconfiguration, warned about at
    // start) lets idle sockets take every descriptor; a shard then cannot open its next segment.
    let conf = tempfile::tempdir().unwrap();
    let path = conf.path().join("cairn.toml");
    std::fs::write(
        &path,
        // Timeouts far past the test's length: the idle sockets must stay until dropped.
        "[http]\nmax_connections = 5000\nheader_read_timeout_secs = 600\n\
         idle_timeout_secs = 600\n[storage]\nsegment_bytes = 4096\n",
    )
    .unwrap();
    let mut server = Server::start_with_fd_limit(&["--config", path.to_str().unwrap()], 256);
    // One client, one keep-alive connection, opened before the descriptors run out.
    let http = SlsHttp::new(&server);
    project(&http, "fds").await;
    logstore(&http, "fds", "logs", 1).await;
    let mut acked = Vec::new();
    for seq in 0..3 {
        let r = http
            .put("fds", "logs", None, &group(seq, 1000))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        acked.push(seq);
    }
    // Idle sockets, one at a time, each waited for until the server has accepted it, until
    // the server holds every descriptor its limit allows.
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let mut idle = Vec::new();
    while fds(server.pid()) < 256 {
        let before = fds(server.pid());
        idle.push(std::net::TcpStream::connect(server.addr).unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while fds(server.pid()) <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "the server accepts no more at {before}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let busy = loop {
        let seq = acked.len();
        let r = http
            .put("fds", "logs", None, &group(seq, 1000))
            .await
            .unwrap();
        match r.status {
            200 => acked.push(seq),
            _ => break r,
        }
        assert!(seq < 60, "some roll needed a descriptor by now");
    };
    assert_eq!(busy.status, 503, "{:?}", busy.body);
    assert_eq!(busy.json()["errorCode"], "ServerBusy", "{:?}", busy.body);
    drop(idle);
    // The idle sockets are closed; as soon as the server has let go of them, writes resume.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let seq = acked.len();
        let r = http
            .put("fds", "logs", None, &group(seq, 1000))
            .await
            .unwrap();
        if r.status == 200 {
            acked.push(seq);
            break;
        }
        assert_eq!(r.status, 503, "{:?}", r.body);
        assert!(
            std::time::Instant::now() < deadline,
            "writes did not resume"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for _ in 0..10 {
        let seq = acked.len();
        let r = http
            .put("fds", "logs", None, &group(seq, 1000))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        acked.push(seq);
    }
    server.restart();
    let http = SlsHttp::new(&server);
    let got: Vec<usize> = http
        .pull_all("fds", "logs", 0)
        .await
        .iter()
        .map(|(_, b)| seq_of(b))
        .collect();
    assert_eq!(got, acked, "every acknowledged LogGroup, once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_shards_start_and_serve_under_4096_descriptors() {
    const STORES: usize = 100;
    const SHARDS: u32 = 100;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start_on(data, Some(tmp), &[], Some(4096));
    let http = SlsHttp::new(&server);
    project(&http, "many").await;
    for i in 0..STORES {
        logstore(&http, "many", &format!("ls{i:03}"), SHARDS).await;
    }
    server.restart_clean();
    let http = SlsHttp::new(&server);
    // One LogGroup into every shard (routed by its begin key), then read back from every one.
    for i in 0..STORES {
        let ls = format!("ls{i:03}");
        let shards = http
            .send(
                "GET",
                Some("many"),
                &format!("/logstores/{ls}/shards"),
                "",
                vec![],
                &[],
            )
            .await
            .unwrap()
            .json();
        let shards = shards.as_array().unwrap();
        assert_eq!(shards.len(), SHARDS as usize);
        for s in shards {
            let key = s["inclusiveBeginKey"].as_str().unwrap();
            let seq = i * SHARDS as usize + s["shardID"].as_u64().unwrap() as usize;
            let r = http
                .put("many", &ls, Some(key), &group(seq, 64))
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{ls} shard {}: {:?}", s["shardID"], r.body);
        }
    }
    server.restart();
    let http = SlsHttp::new(&server);
    for i in 0..STORES {
        let ls = format!("ls{i:03}");
        for shard in 0..SHARDS {
            let got = http.pull_all("many", &ls, shard).await;
            assert_eq!(got.len(), 1, "{ls} shard {shard}");
            assert_eq!(seq_of(&got[0].1), i * SHARDS as usize + shard as usize);
        }
    }
}
