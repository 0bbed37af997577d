//! Runs the real `cairn` binary for black-box tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Test access key id.
pub const AK: &str = "test-ak";
/// Test access key secret.
pub const SK: &str = "test-secret";

/// A running `cairn serve`.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// What `--listen` says (the address itself unless started with [`Server::start_listening`]).
    listen: String,
    extra: Vec<String>,
    /// RLIMIT_NOFILE (soft and hard) of the process, when set.
    fd_limit: Option<u64>,
    _tmp: Option<tempfile::TempDir>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts a server on a fresh data dir.
    pub fn start(extra: &[&str]) -> Server {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Self::start_listening(&addr.to_string(), addr, extra)
    }

    /// Starts a server with `--listen listen`, reached at `addr`.
    pub fn start_listening(listen: &str, addr: SocketAddr, extra: &[&str]) -> Server {
        Self::start_full(listen, addr, extra, None)
    }

    /// Starts a server whose RLIMIT_NOFILE, soft and hard, is `fd_limit`.
    pub fn start_with_fd_limit(extra: &[&str], fd_limit: u64) -> Server {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Self::start_full(&addr.to_string(), addr, extra, Some(fd_limit))
    }

    fn start_full(listen: &str, addr: SocketAddr, extra: &[&str], fd_limit: Option<u64>) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        Self::start_in(data_dir, Some(tmp), listen, addr, extra, fd_limit)
    }

    /// Starts a server on `data_dir` (kept by the caller when `tmp` is `None`), optionally
    /// under an RLIMIT_NOFILE of `fd_limit`.
    pub fn start_on(
        data_dir: PathBuf,
        tmp: Option<tempfile::TempDir>,
        extra: &[&str],
        fd_limit: Option<u64>,
    ) -> Server {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Self::start_in(data_dir, tmp, &addr.to_string(), addr, extra, fd_limit)
    }

    fn start_in(
        data_dir: PathBuf,
        tmp: Option<tempfile::TempDir>,
        listen: &str,
        addr: SocketAddr,
        extra: &[&str],
        fd_limit: Option<u64>,
    ) -> Server {
        let mut s = Server {
            child: None,
            addr,
            data_dir,
            listen: listen.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            fd_limit,
            _tmp: tmp,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(&self.listen)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra)
            .env("CAIRN_ACCESS_KEY_ID", AK)
            .env("CAIRN_ACCESS_KEY_SECRET", SK)
            // TEST_CAIRN_LOG=debug shows the server's debug log while a test runs.
            .env(
                "CAIRN_LOG",
                std::env::var("TEST_CAIRN_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(n) = self.fd_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is a single system call, safe between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    rustix::process::setrlimit(
                        rustix::process::Resource::Nofile,
                        rustix::process::Rlimit {
                            current: Some(n),
                            maximum: Some(n),
                        },
                    )
                    .map_err(std::io::Error::from)
                });
            }
        }
        let mut child = cmd.spawn().expect("start cairn");
        // The server prints its listening line once it accepts connections.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("cairn exited during start-up: {status}");
            }
            assert!(Instant::now() < deadline, "cairn did not start");
        }
        self.child = Some(child);
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    }

    /// Waits for the process to exit; panics (and kills it) if it is still running after
    /// `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                c.kill().unwrap();
                c.wait().unwrap();
                panic!("cairn did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the process.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts it again on the same data dir and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Stops the process the way an operator does (SIGTERM), waiting for it to exit; returns
    /// whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        if self.child.is_none() {
            return true;
        }
        self.sigterm();
        self.wait_exit(Duration::from_secs(60)).success()
    }

    /// Stops it cleanly (SIGTERM) and starts it again on the same data dir and port.
    pub fn restart_clean(&mut self) {
        assert!(self.terminate(), "cairn exited with an error at SIGTERM");
        self.spawn();
    }

    /// Starts a second process on the data dir and returns its exit status and output, for
    /// checking refusals to start. Panics if it is still running after 60 s: it started.
    pub fn try_start_on(data_dir: &Path) -> std::process::Output {
        Self::try_start_with(data_dir, &[])
    }

    /// [`Server::try_start_on`] with extra arguments.
    pub fn try_start_with(data_dir: &Path, extra: &[&str]) -> std::process::Output {
        Self::try_start_listening_with(&format!("127.0.0.1:{}", free_port()), data_dir, extra)
    }

    /// Like [`Server::try_start_on`] with `--listen listen`.
    pub fn try_start_listening(listen: &str, data_dir: &Path) -> std::process::Output {
        Self::try_start_listening_with(listen, data_dir, &[])
    }

    fn try_start_listening_with(
        listen: &str,
        data_dir: &Path,
        extra: &[&str],
    ) -> std::process::Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("CAIRN_ACCESS_KEY_ID", AK)
            .env("CAIRN_ACCESS_KEY_SECRET", SK)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "the server started on {}: {}",
                    data_dir.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal signed SLS client over plain HTTP, for tests that need exact control of requests.
pub struct SlsHttp {
    pub base: String,
    pub client: reqwest::Client,
    pub secret: String,
}

/// A response, read whole.
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl SlsHttp {
    pub fn new(server: &Server) -> Self {
        Self::with_secret(server, SK)
    }

    pub fn with_secret(server: &Server, secret: &str) -> Self {
        SlsHttp {
            base: server.url(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            secret: secret.into(),
        }
    }

    /// Sends a v1-signed request to `project` (None: no project) and reads the response.
    pub async fn send(
        &self,
        method: &str,
        project: Option<&str>,
        path: &str,
        query: &str,
        body: Vec<u8>,
        extra: &[(&str, String)],
    ) -> Result<Resp, reqwest::Error> {
        let headers = self.signed_headers(method, project, path, query, &body, extra);
        let url = if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        };
        let mut rb = self.client.request(method.parse().unwrap(), url).body(body);
        for (k, v) in &headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let r = rb.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// The headers of a v1-signed request (Host and Authorization included), for sending it
    /// some other way. The v1 signature does not cover the body unless Content-MD5 is sent.
    pub fn signed_headers(
        &self,
        method: &str,
        project: Option<&str>,
        path: &str,
        query: &str,
        body: &[u8],
        extra: &[(&str, String)],
    ) -> Vec<(String, String)> {
        let host = match project {
            Some(p) => format!("{p}.localhost"),
            None => "localhost".to_string(),
        };
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let mut headers: Vec<(String, String)> = vec![
            ("Date".into(), date),
            ("x-log-apiversion".into(), "0.6.0".into()),
            ("x-log-signaturemethod".into(), "hmac-sha1".into()),
        ];
        if !extra
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-log-bodyrawsize"))
        {
            headers.push(("x-log-bodyrawsize".into(), "0".into()));
        }
        for (k, v) in extra {
            headers.push((k.to_string(), v.clone()));
        }
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = cairn_auth::SlsRequest {
            method,
            path,
            query,
            headers: &hs,
            body,
        };
        let auth = cairn_auth::sign_v1(&req, AK, &self.secret);
        headers.push(("Host".into(), host));
        headers.push(("Authorization".into(), auth));
        headers
    }

    /// Sends JSON.
    pub async fn json(&self, method: &str, project: Option<&str>, path: &str, v: Value) -> Resp {
        let body = serde_json::to_vec(&v).unwrap();
        self.send(
            method,
            project,
            path,
            "",
            body,
            &[("Content-Type", "application/json".into())],
        )
        .await
        .unwrap()
    }

    /// PutLogs of one LogGroup, lz4-compressed, to `target` ("lb" or "route?key=..").
    pub async fn put(
        &self,
        project: &str,
        logstore: &str,
        key: Option<&str>,
        group: &[u8],
    ) -> Result<Resp, reqwest::Error> {
        let body = cairn_proto::compress(cairn_proto::CompressType::Lz4, group);
        let (path, query) = match key {
            Some(k) => (
                format!("/logstores/{logstore}/shards/route"),
                format!("key={k}"),
            ),
            None => (format!("/logstores/{logstore}/shards/lb"), String::new()),
        };
        self.send(
            "POST",
            Some(project),
            &path,
            &query,
            body,
            &[
                ("Content-Type", "application/x-protobuf".into()),
                ("x-log-compresstype", "lz4".into()),
                ("x-log-bodyrawsize", group.len().to_string()),
            ],
        )
        .await
    }

    /// Pulls every LogGroup of a shard from its begin cursor: (cursor, LogGroup bytes).
    pub async fn pull_all(&self, project: &str, logstore: &str, shard: u32) -> Vec<(u64, Vec<u8>)> {
        use prost::Message;
        let r = self
            .send(
                "GET",
                Some(project),
                &format!("/logstores/{logstore}/shards/{shard}"),
                "type=cursor&from=begin",
                vec![],
                &[],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let mut cursor = r.json()["cursor"].as_str().unwrap().to_string();
        let mut out = Vec::new();
        loop {
            let q = format!("type=log&count=1000&cursor={}", cursor.replace('=', "%3D"));
            let r = self
                .send(
                    "GET",
                    Some(project),
                    &format!("/logstores/{logstore}/shards/{shard}"),
                    &q,
                    vec![],
                    &[("Accept-Encoding", "lz4".into())],
                )
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{:?}", r.body);
            let count: usize = r.header("x-log-count").unwrap().parse().unwrap();
            let next = r.header("x-log-cursor").unwrap().to_string();
            if count == 0 {
                assert_eq!(next, cursor);
                return out;
            }
            let raw_len: usize = r.header("x-log-bodyrawsize").unwrap().parse().unwrap();
            let raw = cairn_proto::decompress(
                cairn_proto::CompressType::Lz4,
                &r.body,
                Some(raw_len),
                1 << 30,
            )
            .unwrap();
            let list = cairn_proto::LogGroupList::decode(raw.as_slice()).unwrap();
            assert_eq!(list.log_groups.len(), count);
            let first = cairn_proto::decode_cursor(&cursor).unwrap();
            for (i, g) in list.log_groups.iter().enumerate() {
                out.push((first + i as u64, g.encode_to_vec()));
            }
            cursor = next;
        }
    }
}

/// `curl --digest`: (status, JSON body).
pub fn curl(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<&Value>,
    user: Option<(&str, &str)>,
) -> (u16, Value) {
    let url = format!("{}/api/atlas/v1.0{path}", server.url());
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        "-H",
        "Content-Type: application/json",
    ]);
    if let Some((u, p)) = user {
        cmd.args(["--digest", "--user", &format!("{u}:{p}")]);
    }
    if let Some(b) = body {
        cmd.args(["--data", &b.to_string()]);
    }
    cmd.arg(&url);
    let out = cmd.output().expect("curl is installed");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    let v = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status.parse().unwrap(), v)
}

/// `curl --digest` with the test key.
pub fn atlas(server: &Server, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    curl(server, method, path, body, Some((AK, SK)))
}

/// A LogGroup naming `seq` (its first field) with `len` bytes that do not compress, so that
/// segments fill as configured whatever the codec.
pub fn noisy_group(seq: usize, len: usize) -> Vec<u8> {
    use prost::Message;
    let mut x = (seq as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let noise: String = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    cairn_proto::LogGroup {
        logs: vec![cairn_proto::Log {
            time: 1_700_000_000,
            contents: vec![
                cairn_proto::LogContent {
                    key: b"seq".to_vec(),
                    value: seq.to_string().into_bytes(),
                },
                cairn_proto::LogContent {
                    key: b"noise".to_vec(),
                    value: noise.into_bytes(),
                },
            ],
            time_ns: None,
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

/// The `seq` of a [`noisy_group`].
pub fn seq_of(bytes: &[u8]) -> usize {
    use prost::Message;
    let g = cairn_proto::LogGroup::decode(bytes).unwrap();
    String::from_utf8(g.logs[0].contents[0].value.clone())
        .unwrap()
        .parse()
        .unwrap()
}

/// Restores checkpoint `id` of `project/source` into `target` through the Atlas API and waits
/// (at most a minute) until no job of the batch is in progress; answers the batch's jobs.
pub fn restore_and_wait(
    server: &Server,
    project: &str,
    source: &str,
    id: &str,
    target: &str,
) -> Vec<Value> {
    let body = serde_json::json!({"checkpointId": id, "delivery": {"methodName": "AUTOMATED_RESTORE",
        "targetGroupId": project, "targetClusterName": target}});
    let path = format!("/groups/{project}/clusters/{source}/restoreJobs");
    let (status, jobs) = atlas(server, "POST", &path, Some(&body));
    assert_eq!(status, 200, "{jobs}");
    let batch = jobs["results"][0]["batchId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, list) = atlas(server, "GET", &format!("{path}?batchId={batch}"), None);
        assert_eq!(status, 200, "{list}");
        let jobs = list["results"].as_array().unwrap().clone();
        if jobs.iter().all(|j| j["statusName"] != "IN_PROGRESS") {
            return jobs;
        }
        assert!(Instant::now() < deadline, "restore did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `count` reaches `at_least`, failing (rather than hanging) when it has not within
/// `within`: a writer that stopped acknowledging ends the test with a message.
pub async fn wait_for_count(
    count: &std::sync::atomic::AtomicUsize,
    at_least: usize,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let n = count.load(std::sync::atomic::Ordering::SeqCst);
        if n >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {at_least} acknowledgements within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
