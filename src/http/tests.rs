//! Endpoint tests through the router, without a socket. Authentication is exercised separately
//! (signatures in `sls_auth`, the real binary in `tests/`); here it is off so each test states
//! only the behaviour it is about.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cairn_proto::{CompressType, Log, LogContent, LogGroup, LogGroupList};
use http_body_util::BodyExt;
use prost::Message;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{app, AppState};
use crate::keys::KeyRing;
use crate::service::testing::service;

struct Harness {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

struct Resp {
    status: StatusCode,
    headers: http::HeaderMap,
    body: bytes::Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {:?}", self.body))
    }

    fn error_code(&self) -> String {
        self.json()["errorCode"].as_str().unwrap().to_string()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no header {name}"))
            .to_str()
            .unwrap()
    }
}

impl Harness {
    fn new() -> Self {
        let (svc, dir) = service();
        let state = AppState::new(
            Arc::new(svc),
            KeyRing::new(vec![]),
            false,
            vec!["localhost".into()],
            10 << 20,
        );
        Self {
            router: app(state),
            _dir: dir,
        }
    }

    async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        assert!(
            parts.headers.contains_key("x-log-requestid"),
            "every response has a request id"
        );
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn call(&self, method: &str, host: &str, uri: &str, body: Option<Value>) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", host);
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).unwrap())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    async fn put(&self, ls: &str, ct: CompressType, raw: &[u8], raw_size: Option<usize>) -> Resp {
        let body = cairn_proto::compress(ct, raw);
        let mut b = Request::builder()
            .method("POST")
            .uri(format!("/logstores/{ls}/shards/lb"))
            .header("host", "proj.localhost")
            .header("content-type", "application/x-protobuf");
        if let Some(name) = ct.as_header() {
            b = b.header("x-log-compresstype", name);
        }
        if let Some(n) = raw_size {
            b = b.header("x-log-bodyrawsize", n.to_string());
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    async fn setup(&self, shards: u32) {
        let r = self
            .call(
                "POST",
                "proj.localhost",
                "/",
                Some(json!({"projectName": "proj", "description": "d"})),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = self
            .call(
                "POST",
                "proj.localhost",
                "/logstores",
                Some(json!({"logstoreName": "ls1", "ttl": 7, "shardCount": shards})),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    async fn end_cursor(&self, shard: u32) -> String {
        let r = self
            .call(
                "GET",
                "proj.localhost",
                &format!("/logstores/ls1/shards/{shard}?type=cursor&from=end"),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        r.json()["cursor"].as_str().unwrap().to_string()
    }
}

fn group(i: u32) -> Vec<u8> {
    LogGroup {
        logs: vec![Log {
            time: 1_700_000_000 + i,
            contents: vec![LogContent {
                key: b"msg".to_vec(),
                value: format!("hello {i}").into_bytes(),
            }],
            time_ns: Some(7),
        }],
        topic: Some("topic".into()),
        source: Some("10.0.0.1".into()),
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_and_logstore_json_shapes() {
    let h = Harness::new();
    h.setup(4).await;
    let p = h.call("GET", "proj.localhost", "/", None).await.json();
    for k in [
        "projectName",
        "description",
        "status",
        "region",
        "owner",
        "createTime",
        "lastModifyTime",
    ] {
        assert!(p.get(k).is_some(), "GetProject lacks {k}: {p}");
    }
    assert!(p["createTime"].is_string());
    let list = h
        .call("GET", "localhost:7070", "/?offset=0&size=10", None)
        .await
        .json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["projects"][0]["projectName"], "proj");
    let ls = h
        .call("GET", "proj.localhost", "/logstores/ls1", None)
        .await
        .json();
    for k in [
        "logstoreName",
        "ttl",
        "shardCount",
        "enable_tracking",
        "appendMeta",
        "autoSplit",
        "maxSplitShard",
    ] {
        assert!(ls.get(k).is_some(), "GetLogStore lacks {k}: {ls}");
    }
    let shards = h
        .call("GET", "proj.localhost", "/logstores/ls1/shards", None)
        .await
        .json();
    assert_eq!(shards.as_array().unwrap().len(), 4);
    assert_eq!(
        shards[1]["inclusiveBeginKey"],
        "40000000000000000000000000000000"
    );
    assert_eq!(
        shards[3]["exclusiveEndKey"],
        "ffffffffffffffffffffffffffffffff"
    );
    assert_eq!(shards[0]["status"], "readwrite");
    let r = h
        .call(
            "POST",
            "proj.localhost",
            "/",
            Some(json!({"projectName": "proj"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "ProjectAlreadyExist")
    );
    let r = h.call("GET", "nope.localhost", "/", None).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "ProjectNotExist")
    );
    let r = h
        .call("GET", "proj.localhost", "/logstores/nope", None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "LogStoreNotExist")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_targets_are_accepted() {
    let h = Harness::new();
    h.setup(1).await;
    let req = Request::builder()
        .method("GET")
        .uri("http://proj.localhost/logstores/ls1")
        .body(Body::empty())
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["logstoreName"], "ls1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_pull_with_every_codec() {
    let h = Harness::new();
    h.setup(1).await;
    let mut sent = Vec::new();
    for (i, ct) in [
        CompressType::Lz4,
        CompressType::Zstd,
        CompressType::Deflate,
        CompressType::None,
    ]
    .into_iter()
    .enumerate()
    {
        let g = group(i as u32);
        let r = h.put("ls1", ct, &g, Some(g.len())).await;
        assert_eq!(r.status, 200, "{ct:?}: {:?}", r.body);
        sent.push(g);
    }
    for accept in ["lz4", "zstd", "deflate", ""] {
        let req = Request::builder()
            .uri("/logstores/ls1/shards/0?type=log&cursor=MA%3D%3D&count=100")
            .header("host", "proj.localhost")
            .header("accept-encoding", accept)
            .body(Body::empty())
            .unwrap();
        let r = h.send(req).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-log-count"), "4");
        assert_eq!(r.header("x-log-cursor"), cairn_proto::encode_cursor(4));
        assert_eq!(r.header("x-log-read-last-cursor"), "3");
        assert_eq!(r.header("x-log-end-of-cursor"), "1");
        assert!(!r.headers.contains_key("content-encoding"));
        let raw_len: usize = r.header("x-log-bodyrawsize").parse().unwrap();
        let ct = CompressType::from_header(
            r.headers
                .get("x-log-compresstype")
                .map(|v| v.to_str().unwrap()),
        )
        .unwrap();
        let raw = cairn_proto::decompress(ct, &r.body, Some(raw_len), 1 << 30).unwrap();
        let list = LogGroupList::decode(raw.as_slice()).unwrap();
        let got: Vec<Vec<u8>> = list.log_groups.iter().map(|g| g.encode_to_vec()).collect();
        assert_eq!(got, sent, "accept-encoding {accept:?}");
    }
    // At the end: no groups, the same cursor back.
    let c4 = cairn_proto::encode_cursor(4);
    let r = h
        .call(
            "GET",
            "proj.localhost",
            &format!("/logstores/ls1/shards/0?type=log&cursor={c4}&count=10"),
            None,
        )
        .await;
    assert_eq!(
        (r.header("x-log-count"), r.header("x-log-cursor")),
        ("0", c4.as_str())
    );
    assert_eq!(r.header("x-log-bodyrawsize"), "0");
    assert!(r.body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_put_bodies_are_rejected_and_change_nothing() {
    let h = Harness::new();
    h.setup(1).await;
    let g = group(1);
    let before = h.end_cursor(0).await;

    let mut truncated = g.clone();
    truncated.truncate(g.len() - 4);
    let r = h.put("ls1", CompressType::None, &truncated, None).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "PostBodyInvalid")
    );
    let r = h
        .put("ls1", CompressType::Lz4, &truncated, Some(truncated.len()))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "PostBodyInvalid")
    );

    let r = h.put("ls1", CompressType::Lz4, &g, Some(g.len() + 5)).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "PostBodyUncompressError")
    );
    let r = h
        .put("ls1", CompressType::Zstd, &g, Some(g.len() - 1))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "PostBodyUncompressError")
    );
    let r = h.put("ls1", CompressType::Lz4, &g, None).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "MissingBodyRawSize")
    );

    let req = Request::builder()
        .method("POST")
        .uri("/logstores/ls1/shards/lb")
        .header("host", "proj.localhost")
        .header("x-log-compresstype", "lz4")
        .header("x-log-bodyrawsize", "12")
        .body(Body::from(vec![0xffu8; 12]))
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "PostBodyUncompressError")
    );

    let req = Request::builder()
        .method("POST")
        .uri("/logstores/ls1/shards/lb")
        .header("host", "proj.localhost")
        .header("x-log-compresstype", "snappy")
        .header("x-log-bodyrawsize", g.len().to_string())
        .body(Body::from(g.clone()))
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "InvalidCompressType")
    );

    let req = Request::builder()
        .method("POST")
        .uri("/logstores/ls1/shards/lb")
        .header("host", "proj.localhost")
        .header("x-log-compresstype", "lz4")
        .header("x-log-bodyrawsize", "abc")
        .body(Body::from(g.clone()))
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "InvalidBodyRawSize")
    );

    // Over 10 MB raw: refused by the declared size and by the plain body size.
    let r = h
        .put("ls1", CompressType::Lz4, &g, Some((10 << 20) + 1))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (413, "PostBodyTooLarge")
    );
    let big = LogGroup {
        logs: vec![Log {
            time: 1,
            contents: vec![LogContent {
                key: b"k".to_vec(),
                value: vec![b'a'; (10 << 20) + 10],
            }],
            time_ns: None,
        }],
        ..Default::default()
    }
    .encode_to_vec();
    let r = h.put("ls1", CompressType::None, &big, None).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (413, "PostBodyTooLarge")
    );
    let r = h.put("ls1", CompressType::Lz4, &big, Some(big.len())).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (413, "PostBodyTooLarge")
    );

    let r = h.put("nope", CompressType::Lz4, &g, Some(g.len())).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "LogStoreNotExist")
    );

    assert_eq!(
        h.end_cursor(0).await,
        before,
        "rejected writes changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_get_sls_errors() {
    let h = Harness::new();
    h.setup(2).await;
    let cases: Vec<(&str, &str, Option<Value>, u16, &str)> = vec![
        (
            "GET",
            "/logstores/ls1/shards/0?type=log&cursor=%%%&count=10",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "GET",
            "/logstores/ls1/shards/0?type=log&cursor=LTE%3D&count=10",
            None,
            400,
            "InvalidCursor",
        ),
        (
            "GET",
            "/logstores/ls1/shards/0?type=log&cursor=OTk%3D&count=10",
            None,
            400,
            "InvalidCursor",
        ),
        (
            "GET",
            "/logstores/ls1/shards/0?type=cursor_time&cursor=OTk%3D",
            None,
            400,
            "InvalidCursor",
        ),
        (
            "GET",
            "/logstores/ls1/shards/0?type=log&cursor=MA%3D%3D&count=0",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "GET",
            "/logstores/ls1/shards/0?type=log&cursor=MA%3D%3D&count=1001",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "GET",
            "/logstores/ls1/shards/7?type=cursor&from=begin",
            None,
            400,
            "ShardNotExist",
        ),
        (
            "GET",
            "/logstores/ls1/shards/abc?type=cursor&from=begin",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "GET",
            "/logstores/ls1/shards/-1?type=cursor&from=begin",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "GET",
            "/logstores/ls1/shards/0?type=cursor&from=yesterday",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "GET",
            "/logstores/ls1/shards/0?type=bogus",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "POST",
            "/logstores/ls1/shards/route?key=zz",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "POST",
            "/logstores/ls1/shards/0?action=split&key=00",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "POST",
            "/logstores/ls1/shards/1?action=merge",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "DELETE",
            "/logstores/ls1/shards/0",
            None,
            400,
            "ParameterInvalid",
        ),
        (
            "POST",
            "/logstores",
            Some(json!({"logstoreName": "Bad Name", "ttl": 1, "shardCount": 1})),
            400,
            "ParameterInvalid",
        ),
        (
            "POST",
            "/logstores",
            Some(json!({"logstoreName": "ls2", "ttl": "x", "shardCount": 1})),
            400,
            "LogStoreInfoInvalid",
        ),
        (
            "POST",
            "/logstores",
            Some(json!({"logstoreName": "ls2", "ttl": 1, "shardCount": 1000})),
            400,
            "LogStoreInfoInvalid",
        ),
        (
            "POST",
            "/logstores",
            Some(json!([1, 2])),
            400,
            "LogStoreInfoInvalid",
        ),
        (
            "PUT",
            "/logstores/ls1",
            Some(json!({"logstoreName": "ls1", "ttl": 0})),
            400,
            "LogStoreInfoInvalid",
        ),
    ];
    for (method, uri, body, status, code) in cases {
        let r = h.call(method, "proj.localhost", uri, body).await;
        assert_eq!(
            (r.status.as_u16(), r.error_code().as_str()),
            (status, code),
            "{method} {uri}: {:?}",
            r.body
        );
        assert!(r.json()["errorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // Bad JSON bytes.
    let req = Request::builder()
        .method("POST")
        .uri("/logstores")
        .header("host", "proj.localhost")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "PostBodyInvalid")
    );
    let r = h
        .call(
            "POST",
            "localhost",
            "/",
            Some(json!({"projectName": "UPPER"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "ParameterInvalid")
    );
    // Nothing above created anything.
    let list = h
        .call("GET", "proj.localhost", "/logstores", None)
        .await
        .json();
    assert_eq!(list["logstores"], json!(["ls1"]));
    assert_eq!(
        h.call("GET", "proj.localhost", "/logstores/ls1", None)
            .await
            .json()["ttl"],
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_writes_and_split_merge() {
    let h = Harness::new();
    h.setup(2).await;
    let g = group(1);
    let route = |key: &'static str| {
        let g = g.clone();
        Request::builder()
            .method("POST")
            .uri(format!("/logstores/ls1/shards/route?key={key}"))
            .header("host", "proj.localhost")
            .body(Body::from(g))
            .unwrap()
    };
    assert_eq!(
        h.send(route("7fffffffffffffffffffffffffffffff"))
            .await
            .status,
        200
    );
    assert_eq!(
        h.send(route("ffffffffffffffffffffffffffffffff"))
            .await
            .status,
        200
    );
    assert_eq!(
        h.send(route("80000000000000000000000000000000"))
            .await
            .status,
        200
    );
    assert_eq!(h.end_cursor(0).await, cairn_proto::encode_cursor(1));
    assert_eq!(h.end_cursor(1).await, cairn_proto::encode_cursor(2));

    let r = h
        .call(
            "POST",
            "proj.localhost",
            "/logstores/ls1/shards/1?action=split&key=c0000000000000000000000000000000",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let split = r.json();
    assert_eq!(split[0]["shardID"], 1);
    assert_eq!(split[0]["status"], "readonly");
    assert_eq!(split[1]["shardID"], 2);
    assert_eq!(split[2]["shardID"], 3);
    assert_eq!(
        split[2]["inclusiveBeginKey"],
        "c0000000000000000000000000000000"
    );
    assert_eq!(
        h.send(route("ffffffffffffffffffffffffffffffff"))
            .await
            .status,
        200
    );
    assert_eq!(
        h.end_cursor(1).await,
        cairn_proto::encode_cursor(2),
        "readonly parent takes no writes"
    );
    assert_eq!(h.end_cursor(3).await, cairn_proto::encode_cursor(1));
    let r = h
        .call(
            "GET",
            "proj.localhost",
            "/logstores/ls1/shards/1?type=log&cursor=MA%3D%3D&count=10",
            None,
        )
        .await;
    assert_eq!(
        r.header("x-log-count"),
        "2",
        "readonly parent stays readable"
    );

    let r = h
        .call(
            "POST",
            "proj.localhost",
            "/logstores/ls1/shards/2?action=merge",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let merged = r.json();
    assert_eq!(merged[0]["shardID"], 4);
    assert_eq!(merged[0]["status"], "readwrite");
    assert_eq!(merged[1]["shardID"], 2);
    assert_eq!(merged[2]["shardID"], 3);
    let all = h
        .call("GET", "proj.localhost", "/logstores/ls1/shards", None)
        .await
        .json();
    assert_eq!(all.as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_checkpoint_as_the_reference_describes() {
    let h = Harness::new();
    h.setup(2).await;
    let base = "/logstores/ls1/consumergroups";
    let r = h
        .call(
            "POST",
            "proj.localhost",
            base,
            Some(json!({"consumerGroup": "cg1", "timeout": 20, "order": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = h
        .call(
            "POST",
            "proj.localhost",
            base,
            Some(json!({"consumerGroup": "cg1", "timeout": 20, "order": false})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "ConsumerGroupAlreadyExist")
    );
    let r = h
        .call(
            "PUT",
            "proj.localhost",
            &format!("{base}/cg1"),
            Some(json!({"order": true, "timeout": 30})),
        )
        .await;
    assert_eq!(r.status, 200);
    let list = h.call("GET", "proj.localhost", base, None).await.json();
    assert_eq!(list, json!([{"name": "cg1", "timeout": 30, "order": true}]));

    // Never committed: one element with an empty checkpoint for an existing shard, [] for a missing one.
    let r = h
        .call(
            "GET",
            "proj.localhost",
            &format!("{base}/cg1?shard=1"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        r.json(),
        json!([{"shard": 1, "checkpoint": "", "updateTime": 0, "consumer": ""}])
    );
    assert_eq!(
        h.call(
            "GET",
            "proj.localhost",
            &format!("{base}/cg1?shard=9"),
            None
        )
        .await
        .json(),
        json!([])
    );

    // Heartbeat, then a commit by the owner.
    let r = h
        .call(
            "POST",
            "proj.localhost",
            &format!("{base}/cg1?type=heartbeat&consumer=c1"),
            Some(json!([])),
        )
        .await;
    assert_eq!(r.json(), json!([0, 1]));
    let g = group(1);
    assert_eq!(
        h.put("ls1", CompressType::Lz4, &g, Some(g.len()))
            .await
            .status,
        200
    );
    let c = cairn_proto::encode_cursor(1);
    let r = h
        .call(
            "POST",
            "proj.localhost",
            &format!("{base}/cg1?type=checkpoint&consumer=c1&forceSuccess=False"),
            Some(json!({"shard": 0, "checkpoint": c})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = h
        .call(
            "POST",
            "proj.localhost",
            &format!("{base}/cg1?type=checkpoint&consumer=c2&forceSuccess=false"),
            Some(json!({"shard": 1, "checkpoint": cairn_proto::encode_cursor(0)})),
        )
        .await;
    assert_eq!(r.error_code(), "ConsumerNotExist");
    let r = h
        .call(
            "POST",
            "proj.localhost",
            &format!("{base}/cg1?type=checkpoint&consumer=c1&forceSuccess=true"),
            Some(json!({"shard": 1, "checkpoint": cairn_proto::encode_cursor(5)})),
        )
        .await;
    assert_eq!(r.error_code(), "InvalidCursor");
    let all = h
        .call("GET", "proj.localhost", &format!("{base}/cg1"), None)
        .await
        .json();
    let arr = all.as_array().unwrap();
    assert_eq!(arr.len(), 2, "without shard: every shard");
    assert_eq!(arr[0]["shard"], 0);
    assert_eq!(arr[0]["checkpoint"], c.as_str());
    assert_eq!(arr[0]["consumer"], "c1");
    let t = arr[0]["updateTime"].as_i64().unwrap();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!(
        (now_us - t).abs() < 60_000_000,
        "updateTime is in microseconds: {t}"
    );
    assert_eq!(
        arr[1],
        json!({"shard": 1, "checkpoint": "", "updateTime": 0, "consumer": ""})
    );

    // Errors of the seed.
    let r = h
        .call("GET", "nope.localhost", &format!("{base}/cg1"), None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "ProjectNotExist")
    );
    let r = h
        .call(
            "GET",
            "proj.localhost",
            "/logstores/nope/consumergroups/cg1",
            None,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "LogStoreNotExist")
    );
    let r = h
        .call("GET", "proj.localhost", &format!("{base}/nope"), None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "ConsumerGroupNotExist")
    );

    let r = h
        .call("DELETE", "proj.localhost", &format!("{base}/cg1"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        h.call("GET", "proj.localhost", base, None).await.json(),
        json!([])
    );
}

/// What the official Rust SDK needs: `dataRedundancyType` and `mode` always present (its response
/// types require them), UpdateLogStore without `logstoreName` in the body, and PullLogs'
/// `endCursor` spelling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_the_rust_sdk_needs() {
    let h = Harness::new();
    h.setup(1).await;
    let p = h.call("GET", "proj.localhost", "/", None).await.json();
    assert_eq!(p["dataRedundancyType"], "LRS");
    let list = h.call("GET", "localhost", "/", None).await.json();
    assert_eq!(list["projects"][0]["dataRedundancyType"], "LRS");
    let ls = h
        .call("GET", "proj.localhost", "/logstores/ls1", None)
        .await
        .json();
    assert_eq!(ls["mode"], "standard");

    let r = h
        .call(
            "PUT",
            "proj.localhost",
            "/logstores/ls1",
            Some(json!({"ttl": 30, "mode": "query"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let ls = h
        .call("GET", "proj.localhost", "/logstores/ls1", None)
        .await
        .json();
    assert_eq!(
        (ls["ttl"].as_u64(), ls["mode"].as_str()),
        (Some(30), Some("query"))
    );
    let r = h
        .call(
            "PUT",
            "proj.localhost",
            "/logstores/ls1",
            Some(json!({"logstoreName": "other", "ttl": 3})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "LogStoreInfoInvalid")
    );

    for i in 0..3 {
        let g = group(i);
        assert_eq!(
            h.put("ls1", CompressType::Lz4, &g, Some(g.len()))
                .await
                .status,
            200
        );
    }
    let stop = cairn_proto::encode_cursor(2);
    let r = h
        .call(
            "GET",
            "proj.localhost",
            &format!(
                "/logstores/ls1/shards/0?type=logs&cursor=MA%3D%3D&count=100&endCursor={}",
                stop.replace('=', "%3D")
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.header("x-log-count"), r.header("x-log-cursor")),
        ("2", stop.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_quote_only_an_excerpt_of_long_input() {
    let h = Harness::new();
    h.setup(1).await;
    let base = "/logstores/ls1/consumergroups";
    let r = h
        .call(
            "POST",
            "proj.localhost",
            base,
            Some(json!({"consumerGroup": "cg1", "timeout": 20, "order": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let long = "M".repeat(5_000_000);
    let r = h
        .call(
            "POST",
            "proj.localhost",
            &format!("{base}/cg1?type=checkpoint&forceSuccess=true"),
            Some(json!({"shard": 0, "checkpoint": long})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "InvalidCursor")
    );
    let message = r.json()["errorMessage"].as_str().unwrap().to_string();
    assert!(message.len() < 1000, "{} bytes", message.len());
    assert!(message.contains("… (5000000 bytes)"), "{message}");

    // A query parameter and a path segment, the same way.
    let r = h
        .call(
            "GET",
            "proj.localhost",
            &format!(
                "/logstores/ls1/shards/0?type=log&cursor={}",
                "Q".repeat(30_000)
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.len() < 1000, "{} bytes", r.body.len());
    let r = h
        .call(
            "GET",
            "proj.localhost",
            &format!("/logstores/{}", "n".repeat(30_000)),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(r.body.len() < 1000, "{} bytes", r.body.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_put_logs_bodies_and_groups_without_logs_are_refused() {
    let h = Harness::new();
    h.setup(1).await;
    let before = h.end_cursor(0).await;
    let no_logs = LogGroup {
        topic: Some("t".into()),
        ..Default::default()
    }
    .encode_to_vec();
    for (raw, ct) in [
        (&[][..], CompressType::None),
        (&[][..], CompressType::Lz4),
        (&no_logs[..], CompressType::None),
        (&no_logs[..], CompressType::Lz4),
    ] {
        let r = h.put("ls1", ct, raw, Some(raw.len())).await;
        assert_eq!(
            (r.status.as_u16(), r.error_code().as_str()),
            (400, "PostBodyInvalid"),
            "{ct:?} {raw:?}"
        );
    }
    assert_eq!(h.end_cursor(0).await, before, "no cursor was taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_kept_in_the_metadata_store_are_at_most_a_mib() {
    let h = Harness::new();
    h.setup(1).await;
    let big = json!({"logstoreName": "big", "ttl": 1, "shardCount": 1,
        "encrypt_conf": {"pad": "x".repeat(1 << 20)}});
    let r = h
        .call("POST", "proj.localhost", "/logstores", Some(big))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (413, "PostBodyTooLarge")
    );
    let index = json!({"line": {"token": [","]}, "pad": "x".repeat(1 << 20)});
    let r = h
        .call(
            "POST",
            "proj.localhost",
            "/logstores/ls1/index",
            Some(index),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (413, "PostBodyTooLarge")
    );
    let r = h
        .call("GET", "proj.localhost", "/logstores/big", None)
        .await;
    assert_eq!(r.status, 404, "nothing was created");
    let r = h
        .call("GET", "proj.localhost", "/logstores/ls1/index", None)
        .await;
    assert_eq!(r.error_code(), "IndexConfigNotExist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_kept_as_metadata_nests_at_most_32_levels() {
    let h = Harness::new();
    h.setup(1).await;
    let nested = |levels: usize| {
        let mut v = json!(1);
        for _ in 1..levels {
            v = json!([v]);
        }
        json!({"logstoreName": "deep", "ttl": 1, "shardCount": 1, "encrypt_conf": {"x": v}})
    };
    let r = h
        .call("POST", "proj.localhost", "/logstores", Some(nested(40)))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "PostBodyInvalid")
    );
    let r = h
        .call("POST", "proj.localhost", "/logstores", Some(nested(30)))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
