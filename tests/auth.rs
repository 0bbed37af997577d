//! Authentication against the real binary: the SLS v1 time check uses only the signed `Date`,
//! and Atlas Digest credentials work only for the request they name, once per nonce count.

mod common;

use std::time::{Duration, SystemTime};

use common::{Server, SlsHttp, AK, SK};
use md5::{Digest, Md5};
use serde_json::{json, Value};

const YEAR: Duration = Duration::from_secs(365 * 86_400);

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Sends a v1-signed request to `project` whose `Date` is `date`, with an unsigned
/// `x-log-date` added after signing (as the Python SDK adds it): (status, JSON body).
async fn send_v1_dated(
    server: &Server,
    method: &str,
    project: &str,
    path: &str,
    date: SystemTime,
    x_log_date: SystemTime,
) -> (u16, Value) {
    let headers: Vec<(&str, String)> = vec![
        ("Date", httpdate::fmt_http_date(date)),
        ("x-log-apiversion", "0.6.0".into()),
        ("x-log-signaturemethod", "hmac-sha1".into()),
        ("x-log-bodyrawsize", "0".into()),
    ];
    let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let req = cairn_auth::SlsRequest {
        method,
        path,
        query: "",
        headers: &hs,
        body: b"",
    };
    let auth = cairn_auth::sign_v1(&req, AK, SK);
    let mut rb = client()
        .request(method.parse().unwrap(), format!("{}{path}", server.url()))
        .header("host", format!("{project}.localhost"))
        .header("authorization", auth)
        .header("x-log-date", httpdate::fmt_http_date(x_log_date));
    for (k, v) in &headers {
        rb = rb.header(*k, v.as_str());
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap();
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, v)
}

async fn setup(http: &SlsHttp, project: &str) {
    let r = http
        .json("POST", Some(project), "/", json!({"projectName": project}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = http
        .json(
            "POST",
            Some(project),
            "/logstores",
            json!({"logstoreName": "logs", "ttl": 7, "shardCount": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn logstore_status(http: &SlsHttp, project: &str) -> u16 {
    http.send("GET", Some(project), "/logstores/logs", "", vec![], &[])
        .await
        .unwrap()
        .status
}

#[tokio::test]
async fn a_replayed_v1_request_with_a_fresh_x_log_date_is_refused() {
    let server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    setup(&http, "replay").await;
    let now = SystemTime::now();

    // A DELETE signed a year ago, replayed with a fresh (unsigned) x-log-date.
    let (status, v) = send_v1_dated(
        &server,
        "DELETE",
        "replay",
        "/logstores/logs",
        now - YEAR,
        now,
    )
    .await;
    assert_eq!(
        (status, v["errorCode"].clone()),
        (400, json!("RequestTimeExpired")),
        "{v}"
    );
    assert_eq!(
        logstore_status(&http, "replay").await,
        200,
        "the logstore still exists"
    );

    // The same request with a fresh Date is accepted, whatever x-log-date says.
    let (status, v) = send_v1_dated(
        &server,
        "DELETE",
        "replay",
        "/logstores/logs",
        now,
        now - YEAR,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(logstore_status(&http, "replay").await, 404);
}

// ---------------------------------------------------------------------------------------------
// Digest

const A: &str = "/api/atlas/v1.0/groups";

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The `Authorization` a Digest client sends for `GET uri` (RFC 7616, MD5, `qop=auth`).
fn digest_get(uri: &str, nonce: &str, nc: u32) -> String {
    let ha1 = md5_hex(&format!("{AK}:MMS Public API:{SK}"));
    let ha2 = md5_hex(&format!("GET:{uri}"));
    let cnonce = "0a4f113b";
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{AK}\", realm=\"MMS Public API\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm=MD5, response=\"{response}\", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\""
    )
}

/// GETs `path` with `authorization`: (status, JSON body, WWW-Authenticate).
async fn atlas_get(
    server: &Server,
    path: &str,
    authorization: Option<&str>,
) -> (u16, Value, String) {
    let mut rb = client().get(format!("{}{path}", server.url()));
    if let Some(a) = authorization {
        rb = rb.header("authorization", a);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let v = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, v, challenge)
}

/// A fresh nonce from the server's challenge.
async fn nonce(server: &Server) -> String {
    let (status, _, challenge) = atlas_get(server, A, None).await;
    assert_eq!(status, 401);
    let start = challenge.find("nonce=\"").expect("a nonce") + "nonce=\"".len();
    let len = challenge[start..].find('"').unwrap();
    challenge[start..start + len].to_string()
}

#[tokio::test]
async fn a_digest_header_works_only_for_the_uri_it_digests() {
    let server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    setup(&http, "digestp").await;
    let b = "/api/atlas/v1.0/groups/digestp/clusters";
    let n = nonce(&server).await;
    let for_a = digest_get(A, &n, 1);

    // Another parameter naming path B does not make the header valid for B.
    let with_xuri = for_a.replacen(", uri=", &format!(", xuri=\"{b}\", uri="), 1);
    assert_ne!(with_xuri, for_a);
    let (status, v, _) = atlas_get(&server, b, Some(&with_xuri)).await;
    assert_eq!(
        (status, v["errorCode"].clone()),
        (401, json!("UNAUTHORIZED")),
        "{v}"
    );
    assert!(v["detail"].as_str().unwrap().contains("uri"), "{v}");
    // Neither does a second uri parameter.
    let two_uris = format!("{for_a}, uri=\"{b}\"");
    let (status, _, _) = atlas_get(&server, b, Some(&two_uris)).await;
    assert_eq!(status, 401);

    // The header itself is valid, for path A.
    let (status, v, _) = atlas_get(&server, A, Some(&for_a)).await;
    assert_eq!(status, 200, "{v}");
    // And a header for B works on B.
    let (status, v, _) = atlas_get(&server, b, Some(&digest_get(b, &n, 2))).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn a_digest_header_cannot_be_replayed() {
    let server = Server::start(&[]);
    let n = nonce(&server).await;
    let first = digest_get(A, &n, 1);
    let (status, v, _) = atlas_get(&server, A, Some(&first)).await;
    assert_eq!(status, 200, "{v}");

    // The same header again: refused, and the client is re-challenged with a fresh nonce.
    let (status, v, challenge) = atlas_get(&server, A, Some(&first)).await;
    assert_eq!(
        (status, v["errorCode"].clone()),
        (401, json!("UNAUTHORIZED")),
        "{v}"
    );
    assert!(challenge.contains("stale=true"), "{challenge}");
    assert!(!challenge.contains(&n), "{challenge}");

    // A client that keeps the nonce and counts up (python-requests) goes on working.
    for nc in [2, 3] {
        let (status, v, _) = atlas_get(&server, A, Some(&digest_get(A, &n, nc))).await;
        assert_eq!(status, 200, "nc {nc}: {v}");
    }
    let (status, _, _) = atlas_get(&server, A, Some(&digest_get(A, &n, 2))).await;
    assert_eq!(status, 401, "a lower count is refused too");
}
