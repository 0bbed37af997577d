//! HTTP limits of the real binary (design §15): timeouts, the connection cap, file descriptors,
//! bodies bounded before and while they are read, HTTP/2, error excerpts, the listen address.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{free_port, Server, SlsHttp};
use prost::Message;
use serde_json::json;

/// Upper bound for anything the server is expected to do within a configured timeout; it only
/// fires when something is broken.
const BOUND: Duration = Duration::from_secs(10);
/// Peak resident memory the server may reach in the memory tests.
const MAX_RSS: u64 = 200 * 1024 * 1024;
const MIB: usize = 1024 * 1024;

/// A server started with `config` as its configuration file.
struct Configured {
    server: Server,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Configured {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl std::ops::DerefMut for Configured {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

fn config_file(config: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.toml");
    std::fs::write(&path, config).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

fn start(config: &str) -> Configured {
    let (dir, path) = config_file(config);
    Configured {
        server: Server::start(&["--config", &path]),
        _dir: dir,
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    s
}

/// Reads until the server closes the connection (end of stream or reset) and returns what it
/// sent; panics if the connection is still open after [`BOUND`].
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + BOUND;
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the server kept the connection open");
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server kept the connection open for {BOUND:?}")
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Whether the server closed the connection within `wait` (false: still open).
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => {
            read_until_closed(s);
            true
        }
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("read: {e}"),
    }
}

/// One HTTP/1.1 response read from `s`: (status, head, body), by its Content-Length.
fn read_response(s: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).expect("response");
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let status: u16 = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed inside a response body");
        body.extend_from_slice(&buf[..n]);
    }
    (status, head, body)
}

/// The head of a request with `headers`, as bytes.
fn head(method: &str, target: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut h = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn plain_get() -> Vec<u8> {
    head("GET", "/", &[("Host".into(), "localhost".into())])
}

/// Peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse().unwrap())
        .expect("VmHWM");
    kb * 1024
}

fn log_group(n: usize) -> Vec<u8> {
    cairn_proto::LogGroup {
        logs: vec![cairn_proto::Log {
            time: 1_700_000_000,
            contents: vec![cairn_proto::LogContent {
                key: b"msg".to_vec(),
                value: vec![b'x'; n],
            }],
            time_ns: None,
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

async fn setup_logstore(http: &SlsHttp) {
    let r = http
        .json("POST", None, "/", json!({"projectName": "proj"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = http
        .json(
            "POST",
            Some("proj"),
            "/logstores",
            json!({"logstoreName": "ls1", "ttl": 7, "shardCount": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// Retries an authenticated ListProject until it answers 200 (the server may not yet have
/// seen a connection close); panics after [`BOUND`].
fn until_served(server: &Server) {
    let http = SlsHttp::new(server);
    let deadline = Instant::now() + BOUND;
    block_on(async {
        loop {
            match http.send("GET", None, "/", "", vec![], &[]).await {
                Ok(r) if r.status == 200 => return,
                Ok(r) => panic!("{} {:?}", r.status, r.body),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("not served within {BOUND:?}: {e}"),
            }
        }
    });
}

// ---- B. Timeouts ----

const SHORT_HEADER: &str = "[http]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 60\n";

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let server = start(SHORT_HEADER);
    let mut s = connect(server.addr);
    assert!(read_until_closed(&mut s).is_empty());
}

#[test]
fn a_partial_request_line_is_closed_after_the_header_timeout() {
    let server = start(SHORT_HEADER);
    let mut s = connect(server.addr);
    s.write_all(b"POST /logstores/ls1/shards/lb HT").unwrap();
    read_until_closed(&mut s);
}

#[test]
fn slow_headers_are_closed_after_the_header_timeout() {
    let server = start(SHORT_HEADER);
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let deadline = Instant::now() + BOUND;
    loop {
        // One more header line every 200 ms: the headers never end.
        if s.write_all(b"x-slow: 1\r\n").is_err()
            || closed_within(&mut s, Duration::from_millis(200))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "slow headers kept the connection open"
        );
    }
}

#[test]
fn a_stalled_body_gets_408_and_its_connection_is_closed() {
    let server = start("[http]\nbody_stall_timeout_secs = 1\n");
    let http = SlsHttp::new(&server);
    // Signed (v1 does not sign the body): the body is read, and stops after 10 bytes.
    let body = log_group(1000);
    let mut headers = http.signed_headers(
        "POST",
        Some("proj"),
        "/logstores/ls1/shards/lb",
        "",
        &body,
        &[("Content-Type", "application/x-protobuf".into())],
    );
    headers.push(("Content-Length".into(), body.len().to_string()));
    let mut s = connect(server.addr);
    s.write_all(&head("POST", "/logstores/ls1/shards/lb", &headers))
        .unwrap();
    s.write_all(&body[..10]).unwrap();
    let answer = read_until_closed(&mut s);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestTimeout"), "{answer}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = start("[http]\nheader_read_timeout_secs = 60\nidle_timeout_secs = 1\n");
    let mut s = connect(server.addr);
    s.write_all(&plain_get()).unwrap();
    let (status, head, _) = read_response(&mut s);
    assert_eq!(status, 401, "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(read_until_closed(&mut s).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let (_dir, path) =
        config_file("[http]\nheader_read_timeout_secs = 60\nidle_timeout_secs = 1\n");
    let server = Server::start(&["--config", &path]);
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let conn = tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let req = http::Request::get("http://localhost/").body(()).unwrap();
    let (resp, _) = client.send_request(req, true).unwrap();
    assert_eq!(resp.await.unwrap().status(), 401);
    // `client` stays alive: the connection ends only because the server closes it.
    let ended = tokio::time::timeout(BOUND, conn).await;
    assert!(
        ended.is_ok(),
        "the server kept an idle HTTP/2 connection open"
    );
    drop(client);
}

// ---- A. HTTP/2 and shutdown ----

async fn h2_send(
    client: &mut h2::client::SendRequest<Bytes>,
    http: &SlsHttp,
    method: &str,
    path: &str,
    query: &str,
    body: Vec<u8>,
    extra: &[(&str, String)],
) -> (u16, Vec<u8>) {
    let headers = http.signed_headers(method, Some("proj"), path, query, &body, extra);
    let target = if query.is_empty() {
        format!("http://proj.localhost{path}")
    } else {
        format!("http://proj.localhost{path}?{query}")
    };
    let mut req = http::Request::builder().method(method).uri(target);
    for (k, v) in &headers {
        if !k.eq_ignore_ascii_case("host") {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    req = req.header("content-length", body.len().to_string());
    let ready = client.clone().ready().await.unwrap();
    *client = ready;
    let (resp, mut send) = client
        .send_request(req.body(()).unwrap(), body.is_empty())
        .unwrap();
    if !body.is_empty() {
        send.send_data(Bytes::from(body), true).unwrap();
    }
    read_h2(resp).await.unwrap()
}

async fn read_h2(resp: h2::client::ResponseFuture) -> Result<(u16, Vec<u8>), h2::Error> {
    let resp = resp.await?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    Ok((status, out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_with_prior_knowledge_serves_signed_requests() {
    let server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    setup_logstore(&http).await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let mut client = client;
    let group = log_group(100);
    let (status, body) = h2_send(
        &mut client,
        &http,
        "POST",
        "/logstores/ls1/shards/lb",
        "",
        group.clone(),
        &[("Content-Type", "application/x-protobuf".into())],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, body) = h2_send(
        &mut client,
        &http,
        "GET",
        "/logstores/ls1/shards/0",
        "type=cursor&from=end",
        vec![],
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let cursor: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(cursor["cursor"], cairn_proto::encode_cursor(1));
    assert_eq!(http.pull_all("proj", "ls1", 0).await, vec![(0, group)]);
    // The server's SETTINGS (sent first, so known after an answer) allow 64 streams at once.
    assert_eq!(client.current_max_send_streams(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_finishes_an_http2_request_in_flight_and_exits_0() {
    let mut server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    setup_logstore(&http).await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (client, mut conn) = h2::client::handshake(tcp).await.unwrap();
    let mut ping = conn.ping_pong().unwrap();
    tokio::spawn(conn);
    let group = log_group(1000);
    let headers = http.signed_headers(
        "POST",
        Some("proj"),
        "/logstores/ls1/shards/lb",
        "",
        &group,
        &[("Content-Type", "application/x-protobuf".into())],
    );
    let mut req = http::Request::post("http://proj.localhost/logstores/ls1/shards/lb")
        .header("content-length", group.len().to_string());
    for (k, v) in &headers {
        if !k.eq_ignore_ascii_case("host") {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let mut client = client.ready().await.unwrap();
    let (resp, mut send) = client.send_request(req.body(()).unwrap(), false).unwrap();
    send.send_data(Bytes::copy_from_slice(&group[..100]), false)
        .unwrap();
    // The server answers a ping after the frames before it: the request is in flight (its
    // body half sent) when the server is told to stop.
    ping.ping(h2::Ping::opaque()).await.unwrap();
    let deadline = Instant::now() + BOUND;
    server.sigterm();
    while tokio::net::TcpStream::connect(server.addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server kept accepting after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    send.send_data(Bytes::copy_from_slice(&group[100..]), true)
        .unwrap();
    let (status, body) = read_h2(resp).await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let exit = tokio::task::block_in_place(|| server.wait_exit(BOUND));
    assert!(exit.success(), "{exit}");
    // The acknowledged group was kept.
    server.restart();
    assert_eq!(http.pull_all("proj", "ls1", 0).await, vec![(0, group)]);
}

// ---- C, D. Connections and file descriptors ----

#[test]
fn connections_over_the_cap_are_closed_at_once_and_served_again_after_one_closes() {
    let server = start(
        "[http]\nmax_connections = 4\nheader_read_timeout_secs = 60\nidle_timeout_secs = 60\n",
    );
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            // Served: each holds a slot, idle on keep-alive.
            let mut s = connect(server.addr);
            s.write_all(&plain_get()).unwrap();
            assert_eq!(read_response(&mut s).0, 401);
            s
        })
        .collect();
    let mut fifth = connect(server.addr);
    let _ = fifth.write_all(&plain_get());
    assert!(
        read_until_closed(&mut fifth).is_empty(),
        "refused without an answer"
    );
    held.pop();
    until_served(&server);
    drop(held);
}

#[test]
fn the_connection_cap_is_derived_from_the_descriptor_limit() {
    // RLIMIT_NOFILE 128: 64 for the process, the other 64 halved between storage and
    // connections, so 32 connections.
    let server = Server::start_with_fd_limit(
        &[
            "--config",
            &config_file("[http]\nheader_read_timeout_secs = 60\nidle_timeout_secs = 60\n").1,
        ],
        128,
    );
    let mut held = Vec::new();
    for i in 0..40 {
        let mut s = connect(server.addr);
        let _ = s.write_all(&plain_get());
        if i < 32 {
            assert_eq!(read_response(&mut s).0, 401, "connection {i}");
            held.push(s);
        } else {
            assert!(read_until_closed(&mut s).is_empty(), "connection {i}");
        }
    }
    drop(held);
    until_served(&server);
}

#[test]
fn running_out_of_descriptors_neither_stops_nor_kills_the_accept_loop() {
    // A cap above what the descriptor limit allows: accept fails with EMFILE.
    let (_dir, path) =
        config_file("[http]\nmax_connections = 1000\nheader_read_timeout_secs = 60\n");
    let mut server = Server::start_with_fd_limit(&["--config", &path], 128);
    let held: Vec<TcpStream> = (0..200).map(|_| connect(server.addr)).collect();
    // The server's descriptor table fills up; the rest wait in the backlog while accept fails.
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .count()
    };
    let deadline = Instant::now() + BOUND;
    while fds() < 128 {
        assert!(Instant::now() < deadline, "{} descriptors in use", fds());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.is_running());
    drop(held);
    until_served(&server);
    assert!(server.is_running());
}

// ---- E. Bodies ----

#[test]
fn a_declared_length_over_the_limit_gets_413_without_100_continue() {
    let server = start("");
    let mut s = connect(server.addr);
    let headers = [
        ("Host".to_string(), "proj.localhost".to_string()),
        ("Content-Type".into(), "application/x-protobuf".into()),
        ("Content-Length".into(), (20 * MIB).to_string()),
        ("Expect".into(), "100-continue".into()),
    ];
    s.write_all(&head("POST", "/logstores/ls1/shards/lb", &headers))
        .unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut s)).to_string();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("PostBodyTooLarge"), "{answer}");

    let mut s = connect(server.addr);
    let headers = [
        ("Host".to_string(), "localhost".to_string()),
        ("Content-Type".into(), "application/json".into()),
        ("Content-Length".into(), MIB.to_string()),
        ("Expect".into(), "100-continue".into()),
    ];
    s.write_all(&head(
        "POST",
        "/api/atlas/v1.0/groups/g/clusters/c/backupCheckpoints",
        &headers,
    ))
    .unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut s)).to_string();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("REQUEST_BODY_TOO_LARGE"), "{answer}");
}

#[test]
fn unauthenticated_requests_with_bodies_get_401_before_the_body_is_read() {
    let server = start("");
    let body_len = MIB;
    let unsigned = vec![("Host".to_string(), "proj.localhost".to_string())];
    let wrong_secret = SlsHttp::with_secret(&server, "not-the-secret").signed_headers(
        "POST",
        Some("proj"),
        "/logstores/ls1/shards/lb",
        "",
        &[],
        &[("Content-Type", "application/x-protobuf".into())],
    );
    for (what, mut headers) in [("unsigned", unsigned), ("wrong secret", wrong_secret)] {
        headers.push(("Content-Length".into(), body_len.to_string()));
        headers.push(("Expect".into(), "100-continue".into()));
        let mut s = connect(server.addr);
        s.write_all(&head("POST", "/logstores/ls1/shards/lb", &headers))
            .unwrap();
        // The body is never sent: the answer comes without it.
        let answer = String::from_utf8_lossy(&read_until_closed(&mut s)).to_string();
        assert!(answer.starts_with("HTTP/1.1 401"), "{what}: {answer}");
        assert!(!answer.contains("100 Continue"), "{what}: {answer}");
    }
    let mut s = connect(server.addr);
    let headers = [
        ("Host".to_string(), "localhost".to_string()),
        ("Content-Type".into(), "application/json".into()),
        ("Content-Length".into(), "1000".into()),
        ("Expect".into(), "100-continue".into()),
    ];
    s.write_all(&head(
        "POST",
        "/api/atlas/v1.0/groups/g/clusters/c/backupCheckpoints",
        &headers,
    ))
    .unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut s)).to_string();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
}

/// 60 clients each declare a 10 MiB PutLogs body, send half of it and stall; then the server's
/// peak memory is checked. `signed`: with valid v1 signatures (which do not cover the body), so
/// the bodies are read and only the body budget bounds them.
fn sixty_stalled_uploads(signed: bool) {
    let server = start("[http]\nbody_stall_timeout_secs = 2\nbody_budget_bytes = 67108864\n");
    let headers = if signed {
        SlsHttp::new(&server).signed_headers(
            "POST",
            Some("proj"),
            "/logstores/ls1/shards/lb",
            "",
            &[],
            &[("Content-Type", "application/x-protobuf".into())],
        )
    } else {
        vec![("Host".to_string(), "proj.localhost".to_string())]
    };
    let mut headers = headers;
    headers.push(("Content-Length".into(), (10 * MIB).to_string()));
    let request = head("POST", "/logstores/ls1/shards/lb", &headers);
    let addr = server.addr;
    let clients: Vec<_> = (0..60)
        .map(|_| {
            let request = request.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let _ = s.write_all(&request);
                // Half the body, then nothing. The write ends when it is all sent or when the
                // server gives up on the connection.
                let _ = s.write_all(&vec![b'z'; 5 * MIB]);
                s
            })
        })
        .collect();
    let held: Vec<TcpStream> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    // Measured once the server has read all it will: every connection is closed, or has
    // nothing left in flight to the server and nothing unread by it.
    let deadline = Instant::now() + 3 * BOUND;
    while !settled(addr.port()) {
        assert!(Instant::now() < deadline, "uploads still in flight");
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = peak_rss(server.pid());
    eprintln!("peak RSS of the server: {} MiB", peak / MIB as u64);
    assert!(peak < MAX_RSS, "peak RSS {} MiB", peak / MIB as u64);
    drop(held);
    until_served(&server);
}

/// Whether every established loopback TCP connection to or from `port` has empty queues: no
/// client bytes in flight (send queue) and none waiting for the server to read them (receive
/// queue), from /proc/net/tcp.
fn settled(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{port:04X}");
    table.lines().skip(1).all(|line| {
        // sl local_address rem_address st tx_queue:rx_queue ...
        let f: Vec<&str> = line.split_whitespace().collect();
        let ours = f[1].ends_with(&port) || f[2].ends_with(&port);
        let established = f[3] == "01";
        !ours || !established || f[4] == "00000000:00000000"
    })
}

#[test]
fn memory_stays_bounded_while_60_unauthenticated_clients_stall_10_mib_uploads() {
    sixty_stalled_uploads(false);
}

#[test]
fn memory_stays_bounded_by_the_body_budget_while_60_signed_clients_stall_10_mib_uploads() {
    sixty_stalled_uploads(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_while_one_http2_connection_uploads_on_50_streams() {
    let (_dir, path) =
        config_file("[http]\nbody_stall_timeout_secs = 2\nbody_budget_bytes = 104857600\n");
    let server = Server::start(&["--config", &path]);
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let body = Bytes::from(vec![b'z'; 10 * MIB]);
    let mut streams = Vec::new();
    for _ in 0..50 {
        let mut c = client.clone().ready().await.unwrap();
        let req = http::Request::post("http://proj.localhost/logstores/ls1/shards/lb")
            .header("content-type", "application/x-protobuf")
            .header("content-length", body.len().to_string())
            .body(())
            .unwrap();
        let (resp, mut send) = c.send_request(req, false).unwrap();
        let _ = send.send_data(body.clone(), true);
        streams.push(tokio::spawn(async move {
            let r = read_h2(resp).await;
            drop(send);
            r.map(|(status, _)| status)
        }));
    }
    for s in streams {
        let answered = tokio::time::timeout(Duration::from_secs(60), s).await;
        let status = answered.expect("a stream was never answered").unwrap();
        // Refused (401), or given up on (503, 408); a reset stream is fine too.
        if let Ok(status) = status {
            assert!(matches!(status, 401 | 408 | 503), "{status}");
        }
    }
    let peak = peak_rss(server.pid());
    eprintln!("peak RSS of the server: {} MiB", peak / MIB as u64);
    assert!(peak < MAX_RSS, "peak RSS {} MiB", peak / MIB as u64);
}

// ---- F. Error excerpts and empty bodies ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_input_is_echoed_as_an_excerpt_and_empty_put_logs_bodies_are_refused() {
    let server = Server::start(&[]);
    let http = SlsHttp::new(&server);
    setup_logstore(&http).await;
    let r = http
        .json(
            "POST",
            Some("proj"),
            "/logstores/ls1/consumergroups",
            json!({"consumerGroup": "cg1", "timeout": 20, "order": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = http
        .send(
            "POST",
            Some("proj"),
            "/logstores/ls1/consumergroups/cg1",
            "type=checkpoint&forceSuccess=true",
            serde_json::to_vec(&json!({"shard": 0, "checkpoint": "C".repeat(5_000_000)})).unwrap(),
            &[("Content-Type", "application/json".into())],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errorCode"], "InvalidCursor");
    assert!(r.body.len() < 1000, "{} bytes", r.body.len());
    assert!(
        r.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("(5000000 bytes)"),
        "{:?}",
        r.body
    );

    let no_logs = cairn_proto::LogGroup::default().encode_to_vec();
    for group in [vec![], no_logs] {
        let r = http.put("proj", "ls1", None, &group).await.unwrap();
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert_eq!(r.json()["errorCode"], "PostBodyInvalid");
    }
    let r = http
        .send(
            "POST",
            Some("proj"),
            "/logstores/ls1/shards/lb",
            "",
            vec![],
            &[("Content-Type", "application/x-protobuf".into())],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.json()["errorMessage"].as_str().unwrap().contains("empty"),
        "{:?}",
        r.body
    );
    // Nothing took a cursor.
    assert!(http.pull_all("proj", "ls1", 0).await.is_empty());
}

// ---- G. Listen address and start-up order ----

#[test]
fn a_port_in_use_stops_the_start_before_the_data_dir_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let out = Server::try_start_listening(&addr.to_string(), &data_dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
    assert!(!data_dir.exists(), "the data dir was created");
}

#[test]
fn listen_takes_a_bare_port_and_a_host_name() {
    for listen in [":{port}", "localhost:{port}"] {
        let port = free_port();
        let listen = listen.replace("{port}", &port.to_string());
        let server =
            Server::start_listening(&listen, SocketAddr::from(([127, 0, 0, 1], port)), &[]);
        until_served(&server);
    }
}
