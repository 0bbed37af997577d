//! A minimal signed SLS client: one HTTP/1.1 connection per worker, v1 signatures computed on
//! the client for every request, bodies sent as pre-built bytes.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where the server is and how to sign for it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub project: String,
    pub access_key_id: String,
    pub secret: String,
}

/// A PutLogs body: the compressed LogGroup with its raw size and Content-MD5, computed once.
#[derive(Clone)]
pub struct PreparedBody {
    pub compressed: Bytes,
    pub raw_len: usize,
    pub md5: String,
    pub logs: usize,
}

impl PreparedBody {
    pub fn new(raw: &[u8], logs: usize) -> Self {
        let compressed = cairn_proto::compress(cairn_proto::CompressType::Lz4, raw);
        let md5 = cairn_auth::sls::content_md5(&compressed);
        PreparedBody {
            compressed: Bytes::from(compressed),
            raw_len: raw.len(),
            md5,
            logs,
        }
    }
}

/// A response read whole.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response is not JSON: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Fails unless the status is 200.
    pub fn ok(self) -> Result<Self> {
        if self.status != 200 {
            bail!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        Ok(self)
    }
}

/// One keep-alive connection.
pub struct Conn {
    ep: Endpoint,
    host: String,
    sender: SendRequest<Full<Bytes>>,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Conn {
    pub async fn connect(ep: &Endpoint) -> Result<Conn> {
        let stream = TcpStream::connect(ep.addr)
            .await
            .with_context(|| format!("connect to {}", ep.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            ep: ep.clone(),
            host: format!("{}.localhost", ep.project),
            sender,
        })
    }

    /// Sends a v1-signed request. `md5` is the body's Content-MD5 when already known.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        content_type: Option<&str>,
        extra: &[(&str, &str)],
        body: Bytes,
        md5: Option<&str>,
    ) -> Result<Resp> {
        let date = cairn_auth::sls::http_date(now_unix());
        let computed;
        let md5 = if body.is_empty() {
            None
        } else {
            match md5 {
                Some(m) => Some(m),
                None => {
                    computed = cairn_auth::sls::content_md5(&body);
                    Some(computed.as_str())
                }
            }
        };
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(8 + extra.len());
        headers.push(("Date", &date));
        headers.push(("x-log-apiversion", "0.6.0"));
        headers.push(("x-log-signaturemethod", "hmac-sha1"));
        if !extra
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-log-bodyrawsize"))
        {
            headers.push(("x-log-bodyrawsize", "0"));
        }
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        if let Some(m) = md5 {
            headers.push(("Content-MD5", m));
        }
        headers.extend_from_slice(extra);
        let req = cairn_auth::SlsRequest {
            method,
            path,
            query,
            headers: &headers,
            body: &body,
        };
        let auth = cairn_auth::sign_v1(&req, &self.ep.access_key_id, &self.ep.secret);
        let uri = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let mut rb = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &self.host)
            .header("authorization", auth)
            .header("content-length", body.len());
        for (k, v) in &headers {
            rb = rb.header(*k, *v);
        }
        let request = rb.body(Full::new(body))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(request).await?;
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Resp {
            status,
            headers: parts.headers,
            body,
        })
    }

    pub async fn json(&mut self, method: &str, path: &str, v: &serde_json::Value) -> Result<Resp> {
        let body = Bytes::from(serde_json::to_vec(v)?);
        self.send(method, path, "", Some("application/json"), &[], body, None)
            .await
    }

    /// PutLogs of a prepared body through the load balancer (`shards/lb`) or to a hash key.
    pub async fn put_logs(
        &mut self,
        logstore: &str,
        body: &PreparedBody,
        hash_key: Option<&str>,
    ) -> Result<Resp> {
        let (path, query) = match hash_key {
            None => (format!("/logstores/{logstore}/shards/lb"), String::new()),
            Some(k) => (
                format!("/logstores/{logstore}/shards/route"),
                format!("key={k}"),
            ),
        };
        let raw = body.raw_len.to_string();
        self.send(
            "POST",
            &path,
            &query,
            Some("application/x-protobuf"),
            &[("x-log-compresstype", "lz4"), ("x-log-bodyrawsize", &raw)],
            body.compressed.clone(),
            Some(&body.md5),
        )
        .await
    }

    /// A GET answered with JSON.
    async fn get_json(&mut self, path: &str, query: &str) -> Result<serde_json::Value> {
        self.send(
            "GET",
            path,
            query,
            Some("application/json"),
            &[],
            Bytes::new(),
            None,
        )
        .await?
        .ok()?
        .json()
    }

    /// GetCursor `from` = begin, end or unix seconds.
    pub async fn get_cursor(&mut self, logstore: &str, shard: u32, from: &str) -> Result<String> {
        let path = format!("/logstores/{logstore}/shards/{shard}");
        let v = self
            .get_json(&path, &format!("from={from}&type=cursor"))
            .await?;
        v["cursor"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no cursor in {v}"))
    }

    pub async fn get_cursor_time(
        &mut self,
        logstore: &str,
        shard: u32,
        cursor: &str,
    ) -> Result<i64> {
        let path = format!("/logstores/{logstore}/shards/{shard}");
        let query = format!("cursor={}&type=cursor_time", pct(cursor));
        let v = self.get_json(&path, &query).await?;
        v["cursor_time"]
            .as_i64()
            .ok_or_else(|| anyhow!("no cursor_time in {v}"))
    }

    pub async fn pull_logs(
        &mut self,
        logstore: &str,
        shard: u32,
        cursor: &str,
        count: usize,
    ) -> Result<Resp> {
        self.send(
            "GET",
            &format!("/logstores/{logstore}/shards/{shard}"),
            &format!("count={count}&cursor={}&type=log", pct(cursor)),
            None,
            &[
                ("Accept", "application/x-protobuf"),
                ("Accept-Encoding", "lz4"),
            ],
            Bytes::new(),
            None,
        )
        .await?
        .ok()
    }

    pub async fn list_shards(&mut self, logstore: &str) -> Result<Vec<serde_json::Value>> {
        let r = self
            .send(
                "GET",
                &format!("/logstores/{logstore}/shards"),
                "",
                None,
                &[],
                Bytes::new(),
                None,
            )
            .await?
            .ok()?;
        match r.json()? {
            serde_json::Value::Array(a) => Ok(a),
            v => bail!("shard list is not an array: {v}"),
        }
    }
}

/// Percent-encodes a query value (cursors are base64: `+`, `/`, `=` need escaping).
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Creates the project (ignoring "already exists").
pub async fn ensure_project(ep: &Endpoint) -> Result<()> {
    let mut c = Conn::connect(ep).await?;
    let r = c
        .json(
            "POST",
            "/",
            &serde_json::json!({"projectName": ep.project, "description": "benchmark"}),
        )
        .await?;
    if r.status != 200 && !String::from_utf8_lossy(&r.body).contains("AlreadyExist") {
        bail!(
            "create project: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(())
}

/// Creates a logstore (ignoring "already exists").
pub async fn ensure_logstore(ep: &Endpoint, name: &str, shards: u32) -> Result<()> {
    let mut c = Conn::connect(ep).await?;
    let r = c
        .json(
            "POST",
            "/logstores",
            &serde_json::json!({"logstoreName": name, "ttl": 30, "shardCount": shards}),
        )
        .await?;
    if r.status != 200 && !String::from_utf8_lossy(&r.body).contains("AlreadyExist") {
        bail!(
            "create logstore {name}: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(())
}
