//! Every kind of state the APIs can create survives a SIGKILL of the real binary: after each
//! step the process is killed and started again, and what the APIs answer is what they answered
//! before (design §2, §8, §10, §13).

mod common;

use cairn_proto::{Log, LogContent, LogGroup};
use common::{atlas, restore_and_wait, Server, SlsHttp};
use prost::Message;
use serde_json::{json, Value};

fn group(seq: usize) -> Vec<u8> {
    LogGroup {
        logs: vec![Log {
            time: 1_700_000_000,
            contents: vec![LogContent {
                key: b"seq".to_vec(),
                value: seq.to_string().into_bytes(),
            }],
            time_ns: None,
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

async fn get(http: &SlsHttp, path: &str, query: &str) -> (u16, Value) {
    let r = http
        .send("GET", Some("life"), path, query, vec![], &[])
        .await
        .unwrap();
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status, v)
}

async fn post(http: &SlsHttp, path: &str, query: &str, body: Value) -> (u16, Value) {
    let r = http
        .send(
            "POST",
            Some("life"),
            path,
            query,
            serde_json::to_vec(&body).unwrap(),
            &[("Content-Type", "application/json".into())],
        )
        .await
        .unwrap();
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status, v)
}

/// Everything the APIs say about project `life`, with the data of every shard of every
/// logstore, and its backups.
async fn state(server: &Server) -> Value {
    let http = SlsHttp::new(server);
    let (status, project) = get(&http, "/", "").await;
    if status == 404 {
        return Value::Null;
    }
    assert_eq!(status, 200, "{project}");
    let (_, list) = get(&http, "/logstores", "").await;
    let mut stores = serde_json::Map::new();
    for name in list["logstores"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let (_, ls) = get(&http, &format!("/logstores/{name}"), "").await;
        // The configuration, or the error code (its request id differs on every call).
        let (status, index) = get(&http, &format!("/logstores/{name}/index"), "").await;
        // With an index: what a query answers (over the segment indexes and the logs not
        // indexed yet), not how far the indexer got.
        let counted = if status == 200 {
            let q =
                "type=log&from=0&to=4000000000&query=%2A%20%7C%20select%20count%28%2A%29%20as%20c";
            let (s, rows) = get(&http, &format!("/logstores/{name}"), q).await;
            assert_eq!(s, 200, "{rows}");
            rows
        } else {
            Value::Null
        };
        let index = if status == 200 {
            index
        } else {
            index["errorCode"].clone()
        };
        let (_, shards) = get(&http, &format!("/logstores/{name}/shards"), "").await;
        let mut data = Vec::new();
        for s in shards.as_array().unwrap() {
            let id = s["shardID"].as_u64().unwrap() as u32;
            let groups: Vec<Value> = http
                .pull_all("life", name, id)
                .await
                .into_iter()
                .map(|(c, b)| json!([c, b]))
                .collect();
            data.push(json!({"shard": id, "groups": groups}));
        }
        let (_, groups) = get(&http, &format!("/logstores/{name}/consumergroups"), "").await;
        let mut checkpoints = Vec::new();
        for g in groups.as_array().unwrap() {
            let g = g["name"].as_str().unwrap();
            let (_, cp) = get(&http, &format!("/logstores/{name}/consumergroups/{g}"), "").await;
            checkpoints.push(json!({"group": g, "checkpoints": cp}));
        }
        let path = format!("/groups/life/clusters/{name}");
        let (_, backups) = atlas(server, "GET", &format!("{path}/backupCheckpoints"), None);
        let (_, schedule) = atlas(server, "GET", &format!("{path}/snapshotSchedule"), None);
        let (_, jobs) = atlas(server, "GET", &format!("{path}/restoreJobs"), None);
        stores.insert(
            name.to_string(),
            json!({"logstore": ls, "index": [status, index], "counted": counted, "shards": shards, "data": data,
                "groups": groups,
                "checkpoints": checkpoints, "backups": backups, "schedule": schedule, "jobs": jobs}),
        );
    }
    json!({"project": project, "logstores": stores})
}

/// Kills the server, starts it again and checks that it answers as before.
async fn survives(server: &mut Server, step: &str) -> Value {
    let before = state(server).await;
    server.restart();
    let after = state(server).await;
    assert_eq!(after, before, "after SIGKILL following: {step}");
    after
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_state_survives_sigkill() {
    let conf = tempfile::tempdir().unwrap();
    let path = conf.path().join("cairn.toml");
    // Small segments, so that seals and rolls are part of what is killed.
    std::fs::write(&path, "[storage]\nsegment_bytes = 4096\n").unwrap();
    let mut server = Server::start(&["--config", path.to_str().unwrap()]);
    let http = SlsHttp::new(&server);
    assert_eq!(
        post(&http, "/", "", json!({"projectName": "life"})).await.0,
        200
    );
    let (status, _) = post(
        &http,
        "/logstores",
        "",
        json!({"logstoreName": "logs", "ttl": 7, "shardCount": 2}),
    )
    .await;
    assert_eq!(status, 200);
    survives(&mut server, "create a logstore").await;

    let http = SlsHttp::new(&server);
    for seq in 0..120 {
        assert_eq!(
            http.put("life", "logs", None, &group(seq))
                .await
                .unwrap()
                .status,
            200
        );
    }
    survives(&mut server, "put LogGroups").await;

    let http = SlsHttp::new(&server);
    let (status, split) = post(&http, "/logstores/logs/shards/0", "action=split", json!({})).await;
    assert_eq!(status, 200, "{split}");
    for seq in 120..160 {
        assert_eq!(
            http.put("life", "logs", None, &group(seq))
                .await
                .unwrap()
                .status,
            200
        );
    }
    survives(&mut server, "split a shard").await;

    let http = SlsHttp::new(&server);
    let (status, merged) = post(&http, "/logstores/logs/shards/2", "action=merge", json!({})).await;
    assert_eq!(status, 200, "{merged}");
    survives(&mut server, "merge shards").await;

    let http = SlsHttp::new(&server);
    let r = http
        .send(
            "DELETE",
            Some("life"),
            "/logstores/logs/shards/0",
            "",
            vec![],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    survives(&mut server, "delete a readonly shard").await;

    let http = SlsHttp::new(&server);
    let index = json!({"line": {"token": [",", " "]},
        "keys": {"level": {"type": "text", "token": [" "], "doc_value": true}},
        "max_text_len": 2048});
    assert_eq!(post(&http, "/logstores/logs/index", "", index).await.0, 200);
    let settings = json!({"logstoreName": "logs", "ttl": 9, "enable_tracking": true,
        "infrequentAccessTTL": 3, "encrypt_conf": {"enable": true, "encrypt_type": "default"}});
    let r = http
        .send(
            "PUT",
            Some("life"),
            "/logstores/logs",
            "",
            serde_json::to_vec(&settings).unwrap(),
            &[("Content-Type", "application/json".into())],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let tracked = json!({"__topic__": "web", "__logs__": [{"k": "v"}, {"k": "w"}]});
    let (status, body) = post(&http, "/logstores/logs/track", "APIVersion=0.6.0", tracked).await;
    assert_eq!(status, 200, "{body}");
    let after = survives(&mut server, "an index, logstore settings and tracked logs").await;
    assert_eq!(after["logstores"]["logs"]["index"][0], 200);
    assert_eq!(
        after["logstores"]["logs"]["logstore"]["infrequentAccessTTL"],
        3
    );

    let http = SlsHttp::new(&server);
    let (status, _) = post(
        &http,
        "/logstores/logs/consumergroups",
        "",
        json!({"consumerGroup": "cg", "timeout": 30, "order": true}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &http,
        "/logstores/logs/consumergroups/cg",
        "type=heartbeat&consumer=c1",
        json!([]),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &http,
        "/logstores/logs/consumergroups/cg",
        "type=checkpoint&consumer=c1&forceSuccess=true",
        json!({"shard": 1, "checkpoint": cairn_proto::encode_cursor(5)}),
    )
    .await;
    assert_eq!(status, 200);
    survives(&mut server, "consumer group and checkpoint").await;

    let (status, a) = atlas(
        &server,
        "POST",
        "/groups/life/clusters/logs/backupCheckpoints",
        None,
    );
    assert_eq!(status, 201, "{a}");
    let (status, b) = atlas(
        &server,
        "POST",
        "/groups/life/clusters/logs/backupCheckpoints",
        None,
    );
    assert_eq!(status, 201, "{b}");
    let (status, _) = atlas(
        &server,
        "PATCH",
        "/groups/life/clusters/logs/snapshotSchedule",
        Some(&json!({"clusterCheckpointIntervalMin": 60, "pointInTimeWindowHours": 48})),
    );
    assert_eq!(status, 200);
    survives(&mut server, "backup checkpoints and a schedule").await;

    let jobs = restore_and_wait(&server, "life", "logs", a["id"].as_str().unwrap(), "copy");
    assert!(
        jobs.iter().all(|j| j["statusName"] == "FINISHED"),
        "{jobs:?}"
    );
    survives(&mut server, "a restore").await;

    let b_id = b["id"].as_str().unwrap();
    let (status, _) = atlas(
        &server,
        "DELETE",
        &format!("/groups/life/clusters/logs/backupCheckpoints/{b_id}"),
        None,
    );
    assert!(status == 200 || status == 204, "{status}");
    assert!(!server.data_dir.join("backups").join(b_id).exists());
    survives(&mut server, "delete a backup checkpoint").await;

    let http = SlsHttp::new(&server);
    let r = http
        .send("DELETE", Some("life"), "/logstores/copy", "", vec![], &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    survives(&mut server, "delete a logstore").await;

    let http = SlsHttp::new(&server);
    let r = http
        .send("DELETE", Some("life"), "/", "", vec![], &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let after = survives(&mut server, "delete the project").await;
    assert_eq!(after, Value::Null);
    for dir in ["shards", "backups"] {
        let left: Vec<_> = std::fs::read_dir(server.data_dir.join(dir))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{dir} still holds {left:?}");
    }
}
