//! SIGKILL during concurrent PutLogs: every acknowledged LogGroup survives exactly once, in order,
//! under the cursor it had; nothing unacknowledged appears partially.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_proto::{Log, LogContent, LogGroup};
use common::{Server, SlsHttp};
use prost::Message;
use serde_json::json;

const WRITERS: usize = 8;
const KILL_AFTER_ACKS: usize = 1500;
const KEYS: [&str; 2] = [
    "00000000000000000000000000000000",
    "ffffffffffffffffffffffffffffffff",
];

fn group(writer: usize, seq: usize) -> Vec<u8> {
    LogGroup {
        logs: vec![Log {
            time: 1_700_000_000,
            contents: vec![
                LogContent {
                    key: b"writer".to_vec(),
                    value: writer.to_string().into_bytes(),
                },
                LogContent {
                    key: b"seq".to_vec(),
                    value: seq.to_string().into_bytes(),
                },
                LogContent {
                    key: b"pad".to_vec(),
                    value: vec![b'p'; 200 + (seq % 7) * 100],
                },
            ],
            time_ns: Some(seq as u32),
        }],
        topic: Some(format!("w{writer}")),
        ..Default::default()
    }
    .encode_to_vec()
}

fn parse(bytes: &[u8]) -> (usize, usize) {
    let g = LogGroup::decode(bytes).unwrap();
    let field = |k: &[u8]| {
        let c = g.logs[0].contents.iter().find(|c| c.key == k).unwrap();
        String::from_utf8(c.value.clone())
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    let (w, s) = (field(b"writer"), field(b"seq"));
    assert_eq!(
        bytes,
        group(w, s).as_slice(),
        "a recovered LogGroup is byte-identical to what was sent"
    );
    (w, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_concurrent_puts_loses_nothing_acknowledged() {
    sigkill_during_concurrent_puts(Server::start(&[])).await;
}

/// The same with reserved space (design §7) kept a few KiB ahead, so that the shards are
/// reserving, writing records over reserved zeros and syncing both all along until the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_reserving_space_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cairn.toml");
    std::fs::write(&config, "[storage]\npreallocate_bytes = 4096\n").unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let segments = sigkill_during_concurrent_puts(server).await;
    // Reserved zeros were there at the kill and were kept, or cut off with a torn tail.
    assert!(
        segments.iter().any(|(file, records)| file > records),
        "some segment held reserved space: {segments:?}"
    );
}

/// Eight writers put LogGroups until `server` is killed with SIGKILL; after a restart every
/// acknowledged LogGroup is there exactly once, in order, under the cursor it had. Returns the
/// size of each segment file after the restart and where its records end.
async fn sigkill_during_concurrent_puts(mut server: Server) -> Vec<(u64, u64)> {
    let http = Arc::new(SlsHttp::new(&server));
    let r = http
        .json("POST", Some("crash"), "/", json!({"projectName": "crash"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = http
        .json(
            "POST",
            Some("crash"),
            "/logstores",
            json!({"logstoreName": "logs", "ttl": 7, "shardCount": 2}),
        )
        .await;
    assert_eq!(r.status, 200);

    let acked_total = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let http = http.clone();
        let acked_total = acked_total.clone();
        writers.push(tokio::spawn(async move {
            // Highest sequence number acknowledged; sequence numbers go 0, 1, 2, … per writer.
            let mut acked: Option<usize> = None;
            for seq in 0.. {
                match http
                    .put("crash", "logs", Some(KEYS[w % 2]), &group(w, seq))
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        acked = Some(seq);
                        acked_total.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => return acked, // the server is gone
                }
            }
            acked
        }));
    }
    // A reader records which LogGroup it saw under which cursor before the crash.
    let seen_before = {
        common::wait_for_count(&acked_total, KILL_AFTER_ACKS / 2, Duration::from_secs(120)).await;
        let mut seen = Vec::new();
        for shard in 0..2 {
            for (c, bytes) in http.pull_all("crash", "logs", shard).await {
                seen.push((shard, c, bytes));
            }
        }
        seen
    };
    common::wait_for_count(&acked_total, KILL_AFTER_ACKS, Duration::from_secs(120)).await;
    server.kill();
    let mut acked = Vec::new();
    for w in writers {
        acked.push(w.await.unwrap());
    }
    assert!(
        acked.iter().all(Option::is_some),
        "every writer got acknowledgements: {acked:?}"
    );

    server.restart();
    let http = SlsHttp::new(&server);
    let mut per_writer: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut by_cursor: HashMap<(u32, u64), Vec<u8>> = HashMap::new();
    for shard in 0..2u32 {
        let groups = http.pull_all("crash", "logs", shard).await;
        for (i, (c, bytes)) in groups.iter().enumerate() {
            assert_eq!(*c, i as u64, "cursors are dense from 0");
            let (w, s) = parse(bytes);
            assert_eq!(w % 2, shard as usize, "routed to the shard owning the key");
            per_writer.entry(w).or_default().push(s);
            by_cursor.insert((shard, *c), bytes.clone());
        }
    }
    for (w, max_acked) in acked.iter().enumerate() {
        let got = per_writer.remove(&w).unwrap_or_default();
        let max_acked = max_acked.unwrap();
        // Exactly once and in order: the writer's sequence numbers form a prefix 0..n.
        assert_eq!(
            got,
            (0..got.len()).collect::<Vec<_>>(),
            "writer {w}: gaps, duplicates or reordering"
        );
        // Everything acknowledged is there; at most the one in-flight request beyond it.
        assert!(
            got.len() > max_acked,
            "writer {w}: acknowledged {max_acked} but only {} recovered",
            got.len()
        );
        assert!(
            got.len() <= max_acked + 2,
            "writer {w}: more than one unacknowledged group appeared"
        );
    }
    for (shard, c, bytes) in seen_before {
        assert_eq!(
            by_cursor.get(&(shard, c)),
            Some(&bytes),
            "cursor {c} of shard {shard} changed meaning"
        );
    }
    let segments = walk(&server.data_dir.join("shards"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| {
            // Records follow the 24-byte segment header; each is a 40-byte header, whose first
            // field is the payload length, and the payload (design §5).
            let bytes = std::fs::read(&p).unwrap();
            let mut end = 24;
            while end + 40 <= bytes.len() && bytes[end..end + 40].iter().any(|b| *b != 0) {
                end += 40 + u32::from_le_bytes(bytes[end..end + 4].try_into().unwrap()) as usize;
            }
            (bytes.len() as u64, end as u64)
        })
        .collect();
    // Writing continues after the restart.
    let r = http
        .put("crash", "logs", Some(KEYS[0]), &group(99, 0))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    segments
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_start_on_unexplained_corruption() {
    let mut server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    http.json("POST", Some("dmg"), "/", json!({"projectName": "dmg"}))
        .await;
    http.json(
        "POST",
        Some("dmg"),
        "/logstores",
        json!({"logstoreName": "logs", "ttl": 7, "shardCount": 1}),
    )
    .await;
    for i in 0..10 {
        assert_eq!(
            http.put("dmg", "logs", None, &group(0, i))
                .await
                .unwrap()
                .status,
            200
        );
    }
    server.kill();
    // Damage the middle of the records of the shard's only segment (zeros reserved for
    // further records may follow them).
    let seg = walk(&server.data_dir.join("shards"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let records_end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    assert!(records_end > 24 + 10 * 40, "ten LogGroups were written");
    let mid = records_end / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let out = Server::try_start_on(&server.data_dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("corrupt"), "names the corruption: {stderr}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_committed_before_sigkill_is_returned_unchanged() {
    let mut server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    http.json("POST", Some("ckpt"), "/", json!({"projectName": "ckpt"}))
        .await;
    http.json(
        "POST",
        Some("ckpt"),
        "/logstores",
        json!({"logstoreName": "logs", "ttl": 7, "shardCount": 2}),
    )
    .await;
    let r = http
        .json(
            "POST",
            Some("ckpt"),
            "/logstores/logs/consumergroups",
            json!({"consumerGroup": "cg", "timeout": 30, "order": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for i in 0..5 {
        assert_eq!(
            http.put("ckpt", "logs", Some(KEYS[0]), &group(0, i))
                .await
                .unwrap()
                .status,
            200
        );
    }
    let cursor = cairn_proto::encode_cursor(3);
    let body = serde_json::to_vec(&json!({"shard": 0, "checkpoint": cursor})).unwrap();
    let r = http
        .send(
            "POST",
            Some("ckpt"),
            "/logstores/logs/consumergroups/cg",
            "type=checkpoint&consumer=w1&forceSuccess=True",
            body,
            &[("Content-Type", "application/json".into())],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let before = http
        .send(
            "GET",
            Some("ckpt"),
            "/logstores/logs/consumergroups/cg",
            "",
            vec![],
            &[],
        )
        .await
        .unwrap()
        .json();
    assert_eq!(before[0]["checkpoint"], cursor.as_str());
    server.kill();
    server.restart();
    let http = SlsHttp::new(&server);
    let after = http
        .send(
            "GET",
            Some("ckpt"),
            "/logstores/logs/consumergroups/cg",
            "",
            vec![],
            &[],
        )
        .await
        .unwrap()
        .json();
    assert_eq!(after, before);
    let groups = http
        .send(
            "GET",
            Some("ckpt"),
            "/logstores/logs/consumergroups",
            "",
            vec![],
            &[],
        )
        .await
        .unwrap()
        .json();
    assert_eq!(
        groups,
        json!([{"name": "cg", "timeout": 30, "order": true}])
    );
}
