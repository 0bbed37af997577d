//! The Atlas-compatible endpoints through plain HTTP with `curl --digest`, against the real
//! binary: checkpoint and restore consistency, entity shapes, paging, envelope, errors.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use cairn_proto::{Log, LogContent, LogGroup};
use common::{atlas, curl, restore_and_wait, Server, SlsHttp, AK, SK};
use prost::Message;
use serde_json::{json, Value};

const KEYS: [&str; 4] = [
    "00000000000000000000000000000000",
    "40000000000000000000000000000000",
    "80000000000000000000000000000000",
    "c0000000000000000000000000000000",
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
            ],
            time_ns: None,
        }],
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
    (field(b"writer"), field(b"seq"))
}

async fn setup(http: &SlsHttp, project: &str, shards: u32) -> String {
    assert_eq!(
        http.json("POST", Some(project), "/", json!({"projectName": project}))
            .await
            .status,
        200
    );
    let r = http
        .json(
            "POST",
            Some(project),
            "/logstores",
            json!({"logstoreName": "logs", "ttl": 7, "shardCount": shards}),
        )
        .await;
    assert_eq!(r.status, 200);
    let p = http
        .send("GET", Some(project), "/", "", vec![], &[])
        .await
        .unwrap()
        .json();
    p["projectId"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoint_under_concurrent_writes_restores_a_consistent_prefix() {
    let server = Arc::new(Server::start(&[]));
    let http = Arc::new(SlsHttp::new(&server));
    let gid = setup(&http, "bkp", 4).await;
    let r = http
        .json(
            "POST",
            Some("bkp"),
            "/logstores/logs/consumergroups",
            json!({"consumerGroup": "cg", "timeout": 30}),
        )
        .await;
    assert_eq!(r.status, 200);
    let ck = json!({"shard": 2, "checkpoint": cairn_proto::encode_cursor(0)});
    let r = http
        .send(
            "POST",
            Some("bkp"),
            "/logstores/logs/consumergroups/cg",
            "type=checkpoint&consumer=c1&forceSuccess=true",
            serde_json::to_vec(&ck).unwrap(),
            &[("Content-Type", "application/json".into())],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // Writers, one per shard, each writing 0, 1, 2, … and recording what was acknowledged when.
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for (w, key) in KEYS.iter().enumerate() {
        let (http, stop, acks) = (http.clone(), stop.clone(), acks.clone());
        handles.push(tokio::spawn(async move {
            let mut acked_at = Vec::new(); // (seq, ack instant)
            let mut sent_at = Vec::new(); // (seq, send instant)
            let mut seq = 0;
            while !stop.load(Ordering::SeqCst) {
                sent_at.push((seq, std::time::Instant::now()));
                let r = http
                    .put("bkp", "logs", Some(key), &group(w, seq))
                    .await
                    .unwrap();
                assert_eq!(r.status, 200);
                acked_at.push((seq, std::time::Instant::now()));
                acks.fetch_add(1, Ordering::SeqCst);
                seq += 1;
            }
            (acked_at, sent_at)
        }));
    }
    common::wait_for_count(&acks, 200, std::time::Duration::from_secs(120)).await;
    let server2 = server.clone();
    let post_began = std::time::Instant::now();
    let (status, ckpt) = tokio::task::spawn_blocking(move || {
        atlas(
            &server2,
            "POST",
            "/groups/bkp/clusters/logs/backupCheckpoints",
            None,
        )
    })
    .await
    .unwrap();
    let post_returned = std::time::Instant::now();
    assert_eq!(status, 201, "{ckpt}");
    common::wait_for_count(&acks, 400, std::time::Duration::from_secs(120)).await;
    stop.store(true, Ordering::SeqCst);
    let mut logs = Vec::new();
    for h in handles {
        logs.push(h.await.unwrap());
    }
    assert_eq!(ckpt["restorable"], true);
    assert_eq!(ckpt["parts"].as_array().unwrap().len(), 5);
    // The consumer checkpoint moves on after the backup; the restore must bring back the old one.
    let ck2 = json!({"shard": 2, "checkpoint": cairn_proto::encode_cursor(1)});
    http.send(
        "POST",
        Some("bkp"),
        "/logstores/logs/consumergroups/cg",
        "type=checkpoint&consumer=c1&forceSuccess=true",
        serde_json::to_vec(&ck2).unwrap(),
        &[("Content-Type", "application/json".into())],
    )
    .await
    .unwrap();

    let id = ckpt["id"].as_str().unwrap().to_string();
    let body = json!({"checkpointId": id, "delivery": {"methodName": "AUTOMATED_RESTORE", "targetGroupId": gid, "targetClusterName": "restored"}});
    let (status, jobs) = atlas(
        &server,
        "POST",
        "/groups/bkp/clusters/logs/restoreJobs",
        Some(&body),
    );
    assert_eq!(status, 200, "{jobs}");
    let results = jobs["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "one job per part");
    let batch = results[0]["batchId"].as_str().unwrap().to_string();
    assert!(results.iter().all(|j| j["batchId"] == batch.as_str()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, list) = atlas(
            &server,
            "GET",
            &format!("/groups/bkp/clusters/logs/restoreJobs?batchId={batch}"),
            None,
        );
        let st: Vec<&str> = list["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["statusName"].as_str().unwrap())
            .collect();
        assert_eq!(st.len(), 5);
        if st.iter().all(|s| *s == "FINISHED") {
            break;
        }
        assert!(st.iter().all(|s| *s == "IN_PROGRESS"), "{st:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "restore did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    for (w, (acked_at, sent_at)) in logs.iter().enumerate() {
        let restored = http.pull_all("bkp", "restored", w as u32).await;
        let original = http.pull_all("bkp", "logs", w as u32).await;
        let seqs: Vec<usize> = restored
            .iter()
            .map(|(_, b)| parse(b))
            .map(|(rw, s)| {
                assert_eq!(rw, w);
                s
            })
            .collect();
        assert_eq!(
            seqs,
            (0..seqs.len()).collect::<Vec<_>>(),
            "writer {w}: a prefix with no gaps"
        );
        for (i, (c, b)) in restored.iter().enumerate() {
            assert_eq!(
                (c, b),
                (&original[i].0, &original[i].1),
                "same cursor and bytes"
            );
        }
        let acked_before_post = acked_at.iter().filter(|(_, t)| *t < post_began).count();
        assert!(
            seqs.len() >= acked_before_post,
            "writer {w}: acknowledged before the POST began but missing"
        );
        let sent_before_return = sent_at.iter().filter(|(_, t)| *t < post_returned).count();
        assert!(
            seqs.len() <= sent_before_return,
            "writer {w}: includes data sent after the POST returned"
        );
    }
    // Cursor times carry over.
    let t = |ls: &str| {
        let http = http.clone();
        let ls = ls.to_string();
        async move {
            http.send(
                "GET",
                Some("bkp"),
                &format!("/logstores/{ls}/shards/0"),
                "type=cursor_time&cursor=MA%3D%3D",
                vec![],
                &[],
            )
            .await
            .unwrap()
            .json()
        }
    };
    assert_eq!(t("restored").await, t("logs").await);
    // Consumer groups come along with their checkpoints as of the cut.
    let cps = http
        .send(
            "GET",
            Some("bkp"),
            "/logstores/restored/consumergroups/cg",
            "shard=2",
            vec![],
            &[],
        )
        .await
        .unwrap()
        .json();
    assert_eq!(cps[0]["checkpoint"], cairn_proto::encode_cursor(0).as_str());
    // Same shard layout.
    let a = http
        .send(
            "GET",
            Some("bkp"),
            "/logstores/logs/shards",
            "",
            vec![],
            &[],
        )
        .await
        .unwrap()
        .json();
    let b = http
        .send(
            "GET",
            Some("bkp"),
            "/logstores/restored/shards",
            "",
            vec![],
            &[],
        )
        .await
        .unwrap()
        .json();
    let layout = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["shardID"].clone(),
                    s["inclusiveBeginKey"].clone(),
                    s["exclusiveEndKey"].clone(),
                    s["status"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(layout(&a), layout(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_paging_envelope_and_errors() {
    let server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    let gid = setup(&http, "shape", 2).await;
    for i in 0..4 {
        assert_eq!(
            http.put("shape", "logs", None, &group(0, i))
                .await
                .unwrap()
                .status,
            200
        );
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, v) = atlas(
            &server,
            "POST",
            &format!("/groups/{gid}/clusters/logs/backupCheckpoints"),
            None,
        );
        assert_eq!(s, 201);
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    // One checkpoint, seed-shaped.
    let (s, one) = atlas(
        &server,
        "GET",
        &format!("/groups/{gid}/clusters/logs/backupCheckpoints/{}", ids[0]),
        None,
    );
    assert_eq!(s, 200);
    for k in [
        "clusterId",
        "completed",
        "groupId",
        "id",
        "links",
        "parts",
        "restorable",
        "started",
        "timestamp",
    ] {
        assert!(one.get(k).is_some(), "missing {k}: {one}");
    }
    assert_eq!(one["groupId"], gid.as_str());
    let iso = regex_like_iso(one["timestamp"].as_str().unwrap());
    assert!(iso, "{}", one["timestamp"]);
    let parts = one["parts"].as_array().unwrap();
    assert_eq!(parts[0]["replicaSetName"], "logs-shard-0");
    assert_eq!(parts[0]["shardName"], "logs-shard-0");
    assert_eq!(parts[0]["typeName"], "REPLICA_SET");
    assert!(parts[0]["tokenTimestamp"]["increment"].as_u64().unwrap() >= 1);
    let config = &parts[2];
    assert_eq!(config["replicaSetName"], "logs-config-0");
    assert_eq!(config["typeName"], "CONFIG_SERVER_REPLICA_SET");
    assert!(config.get("shardName").is_none());
    let self_link = one["links"][0]["href"].as_str().unwrap();
    assert!(
        self_link.starts_with("http://")
            && self_link.ends_with(&format!("/backupCheckpoints/{}", ids[0]))
    );
    // Pages, oldest first, with links.
    let (_, p1) = atlas(
        &server,
        "GET",
        "/groups/shape/clusters/logs/backupCheckpoints?itemsPerPage=2",
        None,
    );
    assert_eq!(p1["totalCount"], 3);
    let got: Vec<&str> = p1["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[1].as_str()]);
    let rels: Vec<&str> = p1["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, vec!["self", "next"]);
    assert!(p1["links"][1]["href"]
        .as_str()
        .unwrap()
        .contains("pageNum=2&itemsPerPage=2"));
    let (_, p2) = atlas(
        &server,
        "GET",
        "/groups/shape/clusters/logs/backupCheckpoints?itemsPerPage=2&pageNum=2&includeCount=false",
        None,
    );
    assert!(p2.get("totalCount").is_none());
    let rels: Vec<&str> = p2["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, vec!["self", "previous"]);
    assert_eq!(p2["results"][0]["id"], ids[2].as_str());
    // Envelope and pretty.
    let (_, env) = atlas(
        &server,
        "GET",
        &format!(
            "/groups/shape/clusters/logs/backupCheckpoints/{}?envelope=true",
            ids[1]
        ),
        None,
    );
    assert_eq!(env["status"], 200);
    assert_eq!(env["content"]["id"], ids[1].as_str());
    let (_, lenv) = atlas(
        &server,
        "GET",
        "/groups/shape/clusters/logs/backupCheckpoints?envelope=true",
        None,
    );
    assert_eq!(
        (lenv["status"].clone(), lenv["totalCount"].clone()),
        (json!(200), json!(3))
    );
    let raw = Command::new("curl")
        .args(["-s", "--digest", "--user", &format!("{AK}:{SK}")])
        .arg(format!(
            "{}/api/atlas/v1.0/groups/shape/clusters/logs/backupCheckpoints/{}?pretty=true",
            server.url(),
            ids[0]
        ))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&raw.stdout).contains("\n  \""),
        "pretty output is indented"
    );

    // Errors.
    let err = |(s, v): (u16, Value), status: u16, code: &str| {
        assert_eq!(s, status, "{v}");
        assert_eq!(v["errorCode"], code, "{v}");
        assert_eq!(v["error"], status);
        for k in ["detail", "parameters", "reason"] {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
    };
    err(
        atlas(
            &server,
            "GET",
            "/groups/0123456789abcdef01234567/clusters/logs/backupCheckpoints",
            None,
        ),
        404,
        "GROUP_NOT_FOUND",
    );
    err(
        atlas(
            &server,
            "GET",
            "/groups/shape/clusters/nope/backupCheckpoints",
            None,
        ),
        404,
        "CLUSTER_NAME_NOT_FOUND",
    );
    err(
        atlas(
            &server,
            "GET",
            "/groups/shape/clusters/logs/backupCheckpoints/0123456789abcdef01234567",
            None,
        ),
        404,
        "CHECKPOINT_NOT_FOUND",
    );
    err(
        atlas(
            &server,
            "GET",
            "/groups/shape/clusters/logs/restoreJobs/0123456789abcdef01234567",
            None,
        ),
        404,
        "RESTORE_JOB_NOT_FOUND",
    );
    let target = |d: Value| json!({"checkpointId": ids[0], "delivery": d});
    err(
        atlas(
            &server,
            "POST",
            "/groups/shape/clusters/logs/restoreJobs",
            Some(&json!({"checkpointId": ids[0]})),
        ),
        400,
        "MISSING_ATTRIBUTE",
    );
    err(
        atlas(
            &server,
            "POST",
            "/groups/shape/clusters/logs/restoreJobs",
            Some(&json!({"delivery": {"methodName": "AUTOMATED_RESTORE"}})),
        ),
        400,
        "MISSING_ATTRIBUTE",
    );
    err(
        atlas(
            &server,
            "POST",
            "/groups/shape/clusters/logs/restoreJobs",
            Some(&target(json!({"methodName": "HTTP"}))),
        ),
        400,
        "UNSUPPORTED_DELIVERY_METHOD",
    );
    err(
        atlas(
            &server,
            "POST",
            "/groups/shape/clusters/logs/restoreJobs",
            Some(&json!({"checkpointId": ids[0], "bogus": 1, "delivery": {}})),
        ),
        400,
        "INVALID_ATTRIBUTE",
    );
    err(
        atlas(
            &server,
            "POST",
            "/groups/shape/clusters/logs/restoreJobs",
            Some(&target(
                json!({"methodName": "AUTOMATED_RESTORE", "targetGroupId": gid, "targetClusterName": "logs"}),
            )),
        ),
        403,
        "CANNOT_RESTORE_TO_TARGET",
    );
    err(
        atlas(
            &server,
            "PATCH",
            "/groups/shape/clusters/logs/snapshotSchedule",
            Some(&json!({"clusterCheckpointIntervalMin": 7})),
        ),
        400,
        "INVALID_ATTRIBUTE",
    );
    let (s, sched) = atlas(
        &server,
        "PATCH",
        "/groups/shape/clusters/logs/snapshotSchedule",
        Some(&json!({"clusterCheckpointIntervalMin": 30})),
    );
    assert_eq!(s, 200);
    assert_eq!(sched["clusterCheckpointIntervalMin"], 30);
    assert_eq!(
        atlas(
            &server,
            "GET",
            "/groups/shape/clusters/logs/snapshotSchedule",
            None
        )
        .1["clusterCheckpointIntervalMin"],
        30
    );
    // Authentication.
    let (s, v) = curl(
        &server,
        "GET",
        "/groups/shape/clusters/logs/backupCheckpoints",
        None,
        None,
    );
    assert_eq!((s, v["error"].clone()), (401, json!(401)));
    let (s, _) = curl(
        &server,
        "GET",
        "/groups/shape/clusters/logs/backupCheckpoints",
        None,
        Some((AK, "wrong")),
    );
    assert_eq!(s, 401);
    let (s, _) = curl(
        &server,
        "GET",
        "/groups/shape/clusters/logs/backupCheckpoints",
        None,
        Some(("nobody", SK)),
    );
    assert_eq!(s, 401);
    let challenge = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null"])
        .arg(format!("{}/api/atlas/v1.0/groups", server.url()))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&challenge.stdout).to_lowercase();
    assert!(
        headers.contains("www-authenticate: digest realm=\"mms public api\""),
        "{headers}"
    );
    assert!(headers.contains("qop=\"auth\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_a_checkpoint_copies_no_log_data() {
    let server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    let gid = setup(&http, "cost", 1).await;
    // Incompressible, so that the stored data is as large as what was sent.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let big = LogGroup {
        logs: vec![Log {
            time: 1,
            contents: vec![LogContent {
                key: b"k".to_vec(),
                value: noise,
            }],
            time_ns: None,
        }],
        ..Default::default()
    }
    .encode_to_vec();
    for _ in 0..8 {
        assert_eq!(
            http.put("cost", "logs", None, &big).await.unwrap().status,
            200
        );
    }
    let (s, v) = atlas(
        &server,
        "POST",
        &format!("/groups/{gid}/clusters/logs/backupCheckpoints"),
        None,
    );
    assert_eq!(s, 201);
    // Every pinned file is the shard's own segment file (a hard link to the same inode): no
    // byte of log data was copied, whatever the size of the logstore.
    use std::os::unix::fs::MetadataExt;
    let pins = server
        .data_dir
        .join("backups")
        .join(v["id"].as_str().unwrap())
        .join("0");
    let mut pinned_bytes = 0;
    let mut copied_bytes = 0;
    for e in std::fs::read_dir(&pins).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        pinned_bytes += meta.len();
        if meta.nlink() < 2 {
            copied_bytes += meta.len();
        }
    }
    assert!(
        pinned_bytes > 8 << 20,
        "the checkpoint pins the data: {pinned_bytes}"
    );
    assert_eq!(copied_bytes, 0);
}

fn regex_like_iso(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
}

/// What the Atlas API says about a logstore's backups: checkpoints, schedule, restore jobs.
fn backup_state(server: &Server, project: &str) -> (Value, Value, Value) {
    let get = |path: &str| {
        let (status, v) = atlas(
            server,
            "GET",
            &format!("/groups/{project}/clusters/logs/{path}"),
            None,
        );
        assert_eq!(status, 200, "{path}: {v}");
        v
    };
    (
        get("backupCheckpoints"),
        get("snapshotSchedule"),
        get("restoreJobs"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_state_survives_clean_and_unclean_restarts() {
    let mut server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    setup(&http, "keep", 2).await;
    for seq in 0..50 {
        let key = KEYS[seq % 2];
        let r = http
            .put("keep", "logs", Some(key), &group(seq % 2, seq))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let (status, a) = atlas(
        &server,
        "POST",
        "/groups/keep/clusters/logs/backupCheckpoints",
        None,
    );
    assert_eq!(status, 201, "{a}");
    let id = a["id"].as_str().unwrap().to_string();
    for seq in 50..70 {
        let r = http
            .put("keep", "logs", Some(KEYS[seq % 2]), &group(seq % 2, seq))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let (status, sched) = atlas(
        &server,
        "PATCH",
        "/groups/keep/clusters/logs/snapshotSchedule",
        Some(&json!({"clusterCheckpointIntervalMin": 30, "pointInTimeWindowHours": 72})),
    );
    assert_eq!(status, 200, "{sched}");
    let jobs = restore_and_wait(&server, "keep", "logs", &id, "restored");
    assert!(
        jobs.iter().all(|j| j["statusName"] == "FINISHED"),
        "{jobs:?}"
    );
    let before = backup_state(&server, "keep");
    assert_eq!(before.0["totalCount"], 1);
    assert_eq!(before.1["clusterCheckpointIntervalMin"], 30);
    let pins = server.data_dir.join("backups").join(&id);
    assert!(pins.exists());

    server.restart_clean();
    assert_eq!(backup_state(&server, "keep"), before, "after a clean stop");
    server.restart();
    assert_eq!(backup_state(&server, "keep"), before, "after SIGKILL");
    assert!(pins.exists(), "the pins are kept");

    // A restore from the checkpoint taken before the two restarts has all of its LogGroups.
    let jobs = restore_and_wait(&server, "keep", "logs", &id, "again");
    assert!(
        jobs.iter().all(|j| j["statusName"] == "FINISHED"),
        "{jobs:?}"
    );
    let http = SlsHttp::new(&server);
    let mut total = 0;
    for shard in 0..2 {
        let restored = http.pull_all("keep", "again", shard).await;
        let original = http.pull_all("keep", "logs", shard).await;
        assert_eq!(
            restored[..],
            original[..restored.len()],
            "shard {shard}: a prefix"
        );
        assert!(
            restored.iter().all(|(_, b)| parse(b).1 < 50),
            "only the cut"
        );
        total += restored.len();
    }
    assert_eq!(total, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_checkpoint_interval_takes_checkpoints() {
    let conf = tempfile::tempdir().unwrap();
    let path = conf.path().join("cairn.toml");
    std::fs::write(
        &path,
        "[backup]\ncheckpoint_interval_min = 60\nschedule_check_secs = 1\n",
    )
    .unwrap();
    let server = Server::start(&["--config", path.to_str().unwrap()]);
    let http = SlsHttp::new(&server);
    setup(&http, "sched", 1).await;
    let (_, s) = atlas(
        &server,
        "GET",
        "/groups/sched/clusters/logs/snapshotSchedule",
        None,
    );
    assert_eq!(s["clusterCheckpointIntervalMin"], 60, "{s}");
    // The logstore has no checkpoint yet, so one is due at the next check.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, list) = atlas(
            &server,
            "GET",
            "/groups/sched/clusters/logs/backupCheckpoints",
            None,
        );
        if list["totalCount"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled checkpoint: {list}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
