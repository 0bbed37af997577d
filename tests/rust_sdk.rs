//! The official Rust SDK (`aliyun-log-rust-sdk`, unmodified) against the real binary: every call
//! the SDK offers that Cairn implements, read back through the SDK's own response types, and
//! errors checked as the SDK reports them (`Error::Server` with the SLS `errorCode`).
//!
//! The SDK addresses `http://<project>.<endpoint>/...` and has no setting for a port or a custom
//! HTTP client, but its reqwest client takes the proxy from `HTTP_PROXY` when it is built. Each
//! test points `HTTP_PROXY` at its own server just while building its client (under a lock, since
//! the environment is process-wide), with endpoint `localhost`, so requests reach Cairn in
//! absolute form (`GET http://proj.localhost/logstores/...`) and the project comes from the
//! host, exactly as against SLS itself.

mod common;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aliyun_log_rust_sdk::get_cursor_models::CursorPos;
use aliyun_log_rust_sdk::{Client, Config, Error, FromConfig};
use aliyun_log_sdk_protobuf::{Log, LogGroup};
use cairn_proto::{decode_cursor, encode_cursor, CompressType};
use common::{Server, AK, SK};

/// Serialises "set `HTTP_PROXY`, build a client": the variable is read only while building.
static PROXY_ENV: Mutex<()> = Mutex::new(());

/// An SDK client for `server` with the given credentials (and STS token).
fn client_with(server: &Server, ak: &str, sk: &str, token: Option<&str>) -> Client {
    let _env = PROXY_ENV.lock().unwrap_or_else(|e| e.into_inner());
    std::env::set_var("HTTP_PROXY", server.url());
    // Nothing may route localhost around the proxy or override it.
    for var in [
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUEST_METHOD",
    ] {
        std::env::remove_var(var);
    }
    let builder = Config::builder()
        .endpoint("localhost")
        .request_timeout(Duration::from_secs(30))
        // A failure shows at once instead of after the SDK's backed-off retries.
        .max_retry(0);
    let builder = match token {
        Some(t) => builder.sts(ak, sk, t),
        None => builder.access_key(ak, sk),
    };
    Client::from_config(builder.build().expect("config")).expect("client")
}

fn client(server: &Server) -> Client {
    client_with(server, AK, SK, None)
}

/// The SLS error an SDK call ended with: (HTTP status, errorCode).
fn sls_error<T>(r: Result<T, Error>) -> (u32, String) {
    match r {
        Ok(_) => panic!("expected an SLS error, the call succeeded"),
        Err(Error::Server {
            error_code,
            http_status,
            request_id,
            ..
        }) => {
            assert!(
                request_id.is_some_and(|id| !id.is_empty()),
                "errors carry x-log-requestid"
            );
            (http_status, error_code)
        }
        Err(e) => panic!("expected Error::Server, got {e:?}"),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn create_project(c: &Client, project: &str) {
    c.create_project(project)
        .description("made by the rust sdk")
        .send()
        .await
        .expect("create project");
}

async fn create_logstore(c: &Client, project: &str, logstore: &str, shards: i32) {
    c.create_logstore(project, logstore)
        .shard_count(shards)
        .ttl(7)
        .send()
        .await
        .expect("create logstore");
}

/// A LogGroup using every field the protocol has: topic, source, tags, several logs with time
/// and time_ns, non-ASCII and empty values.
fn full_group(tag: &str, logs: u32) -> LogGroup {
    let mut g = LogGroup::new();
    g.set_topic(format!("topic-{tag}"))
        .set_source("10.1.2.3")
        .add_log_tag_kv("__pack_id__", format!("PACK-{tag}"))
        .add_log_tag_kv("host", "web-1");
    for i in 0..logs {
        let mut log = Log::from_unixtime(1_700_000_000 + i);
        log.add_content_kv("msg", format!("héllo {tag} {i} ✓"))
            .add_content_kv("empty", "")
            .add_content_kv("level", "INFO");
        log.set_time_ns(123_456_789 - i);
        g.add_log(log);
    }
    g
}

/// A LogGroup with no topic, source, tags or time_ns: absent fields must stay absent.
fn bare_group(tag: &str) -> LogGroup {
    let mut g = LogGroup::new();
    let mut log = Log::from_unixtime(1_600_000_000);
    log.add_content_kv("only", tag);
    g.add_log(log);
    g
}

async fn cursor(c: &Client, project: &str, ls: &str, shard: i32, pos: CursorPos) -> String {
    c.get_cursor(project, ls, shard)
        .cursor_pos(pos)
        .send()
        .await
        .expect("get cursor")
        .get_body()
        .cursor()
        .to_string()
}

/// Pulls a shard from `from` to its end, `count` groups per call, checking the cursor
/// bookkeeping of every response. Returns the groups and the final cursor.
async fn pull_all(
    c: &Client,
    project: &str,
    ls: &str,
    shard: i32,
    from: &str,
    count: i32,
) -> (Vec<LogGroup>, String) {
    let mut out = Vec::new();
    let mut cur = from.to_string();
    loop {
        let resp = c
            .pull_logs(project, ls, shard)
            .cursor(cur.clone())
            .count(count)
            .send()
            .await
            .expect("pull logs")
            .take_body();
        let n = resp.log_group_list().len();
        assert_eq!(*resp.log_group_count() as usize, n, "x-log-count");
        assert!(n <= count as usize);
        if n == 0 {
            assert_eq!(resp.next_cursor(), &cur, "no data: the cursor stays");
            return (out, cur);
        }
        let first = decode_cursor(&cur).unwrap();
        let next = decode_cursor(resp.next_cursor()).unwrap();
        assert_eq!(next, first + n as u64, "one cursor position per LogGroup");
        assert_eq!(
            resp.read_last_cursor().as_deref(),
            Some((next - 1).to_string().as_str()),
            "x-log-read-last-cursor is the last group's cursor"
        );
        cur = resp.next_cursor().clone();
        out.extend(resp.into_log_group_list());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_create_get_list_update_delete() {
    let server = Server::start(&[]);
    let c = client(&server);
    // CreateProject goes to the bare endpoint with the name in the body.
    c.create_project("sdk-proj")
        .description("first")
        .data_redundancy_type("LRS")
        .send()
        .await
        .unwrap();
    create_project(&c, "sdk-other").await;

    let p = c.get_project("sdk-proj").send().await.unwrap().take_body();
    assert_eq!(p.project_name(), "sdk-proj");
    assert_eq!(p.description(), "first");
    assert_eq!(p.status(), "Normal");
    assert_eq!(p.data_redundancy_type(), "LRS");
    assert!(!p.create_time().is_empty());

    let all = c.list_projects(0, 100).send().await.unwrap().take_body();
    assert_eq!((*all.count(), *all.total()), (2, 2));
    let names: BTreeSet<&str> = all
        .projects()
        .iter()
        .map(|p| p.project_name().as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["sdk-other", "sdk-proj"]));
    let filtered = c
        .list_projects(0, 100)
        .project_name("other")
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(*filtered.total(), 1);
    assert_eq!(filtered.projects()[0].project_name(), "sdk-other");
    assert_eq!(filtered.projects()[0].description(), "made by the rust sdk");
    let page = c.list_projects(1, 1).send().await.unwrap().take_body();
    assert_eq!((*page.count(), *page.total()), (1, 2));

    c.update_project("sdk-proj")
        .description("second")
        .send()
        .await
        .unwrap();
    let p = c.get_project("sdk-proj").send().await.unwrap().take_body();
    assert_eq!(p.description(), "second");

    let dup = c
        .create_project("sdk-proj")
        .description("again")
        .send()
        .await;
    assert_eq!(sls_error(dup), (400, "ProjectAlreadyExist".into()));

    c.delete_project("sdk-proj").send().await.unwrap();
    let gone = c.get_project("sdk-proj").send().await;
    assert_eq!(sls_error(gone), (404, "ProjectNotExist".into()));
    let again = c.delete_project("sdk-proj").send().await;
    assert_eq!(sls_error(again), (404, "ProjectNotExist".into()));
    let rest = c.list_projects(0, 100).send().await.unwrap().take_body();
    assert_eq!(*rest.total(), 1);
    assert_eq!(rest.projects()[0].project_name(), "sdk-other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logstores_create_get_list_update_delete_and_shards() {
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-ls").await;
    c.create_logstore("sdk-ls", "events")
        .shard_count(3)
        .ttl(30)
        .auto_split(true)
        .max_split_shard(16)
        .append_meta(true)
        .enable_tracking(true)
        .telemetry_type("None")
        .hot_ttl(7)
        .mode("query")
        .send()
        .await
        .unwrap();
    create_logstore(&c, "sdk-ls", "audit", 1).await;

    let l = c
        .get_logstore("sdk-ls", "events")
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(l.logstore_name(), "events");
    assert_eq!(*l.ttl(), 30);
    assert_eq!(*l.shard_count(), 3);
    assert!(*l.auto_split());
    assert_eq!(*l.max_split_shard(), Some(16));
    assert!(*l.append_meta());
    assert!(*l.enable_tracking());
    assert_eq!(l.telemetry_type(), "None");
    assert_eq!(*l.hot_ttl(), Some(7));
    assert_eq!(l.mode(), "query");
    let created = *l.create_time();
    assert!(
        (created - now_secs()).abs() < 600,
        "createTime is unix seconds"
    );

    // A logstore created with only the required fields gets SLS's defaults.
    let a = c
        .get_logstore("sdk-ls", "audit")
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!((*a.ttl(), *a.shard_count()), (7, 1));
    assert_eq!(a.mode(), "standard");

    let list = c
        .list_logstores("sdk-ls", 0, 100)
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!((*list.count(), *list.total()), (2, 2));
    let names: BTreeSet<&str> = list.logstores().iter().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["audit", "events"]));
    let filtered = c
        .list_logstores("sdk-ls", 0, 100)
        .logstore_name("even")
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(filtered.logstores(), &vec!["events".to_string()]);

    // The SDK's update body carries no logstoreName; the path names the logstore.
    c.update_logstore("sdk-ls", "events")
        .ttl(60)
        .append_meta(false)
        .max_split_shard(32)
        .mode("standard")
        .send()
        .await
        .unwrap();
    let l = c
        .get_logstore("sdk-ls", "events")
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(*l.ttl(), 60);
    assert!(!*l.append_meta());
    assert_eq!(*l.max_split_shard(), Some(32));
    assert_eq!(l.mode(), "standard");
    assert_eq!(*l.shard_count(), 3, "update leaves the shards alone");
    assert!(
        *l.enable_tracking(),
        "fields left out of an update keep their value"
    );
    assert_eq!(*l.hot_ttl(), Some(7));
    assert_eq!(*l.create_time(), created);
    assert!(*l.last_modify_time() >= created);

    let shards = c
        .list_shards("sdk-ls", "events")
        .send()
        .await
        .unwrap()
        .take_body();
    let shards = shards.shards();
    assert_eq!(shards.len(), 3);
    let ids: Vec<i32> = shards.iter().map(|s| *s.shard_id()).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    assert_eq!(
        shards[0].inclusive_begin_key(),
        "00000000000000000000000000000000"
    );
    assert_eq!(
        shards[2].exclusive_end_key(),
        "ffffffffffffffffffffffffffffffff"
    );
    for w in shards.windows(2) {
        assert_eq!(
            w[0].exclusive_end_key(),
            w[1].inclusive_begin_key(),
            "shard ranges tile the key space"
        );
    }
    for s in shards {
        assert_eq!(s.status(), "readwrite");
        assert!((*s.create_time() - now_secs()).abs() < 600);
    }

    let dup = c
        .create_logstore("sdk-ls", "events")
        .shard_count(1)
        .ttl(1)
        .send()
        .await;
    assert_eq!(sls_error(dup), (400, "LogStoreAlreadyExist".into()));
    let bad_ttl = c
        .create_logstore("sdk-ls", "badttl")
        .shard_count(1)
        .ttl(0)
        .send()
        .await;
    assert_eq!(sls_error(bad_ttl), (400, "LogStoreInfoInvalid".into()));

    c.delete_logstore("sdk-ls", "events").send().await.unwrap();
    let gone = c.get_logstore("sdk-ls", "events").send().await;
    assert_eq!(sls_error(gone), (404, "LogStoreNotExist".into()));
    let upd = c.update_logstore("sdk-ls", "events").ttl(3).send().await;
    assert_eq!(sls_error(upd), (404, "LogStoreNotExist".into()));
    let shards = c.list_shards("sdk-ls", "events").send().await;
    assert_eq!(sls_error(shards), (404, "LogStoreNotExist".into()));
    let del = c.delete_logstore("sdk-ls", "events").send().await;
    assert_eq!(sls_error(del), (404, "LogStoreNotExist".into()));
    let list = c
        .list_logstores("sdk-ls", 0, 100)
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(list.logstores(), &vec!["audit".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_logs_then_pull_logs_returns_every_field_exactly() {
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-rt").await;
    create_logstore(&c, "sdk-rt", "logs", 1).await;
    let begin = cursor(&c, "sdk-rt", "logs", 0, CursorPos::Begin).await;
    assert_eq!(
        begin,
        cursor(&c, "sdk-rt", "logs", 0, CursorPos::End).await,
        "an empty shard begins at its end"
    );

    // PutLogs as the SDK sends it: lz4 to /shards/lb.
    let sent = vec![
        full_group("a", 3),
        bare_group("b"),
        full_group("c", 1),
        full_group("d", 50),
        bare_group("e"),
    ];
    for g in &sent {
        c.put_logs("sdk-rt", "logs")
            .log_group(g.clone())
            .send()
            .await
            .unwrap();
    }
    let end = cursor(&c, "sdk-rt", "logs", 0, CursorPos::End).await;
    assert_eq!(
        decode_cursor(&end).unwrap(),
        decode_cursor(&begin).unwrap() + sent.len() as u64
    );

    // One call for everything, then pages of two: both read back exactly what was sent.
    let (got, next) = pull_all(&c, "sdk-rt", "logs", 0, &begin, 1000).await;
    assert_eq!(got, sent);
    assert_eq!(next, end);
    assert!(got[1].topic().is_none() && got[1].source().is_none());
    assert!(got[1].logs()[0].time_ns().is_none());
    assert_eq!(got[0].logs()[2].time_ns(), &Some(123_456_787));
    let (paged, next) = pull_all(&c, "sdk-rt", "logs", 0, &begin, 2).await;
    assert_eq!(paged, sent);
    assert_eq!(next, end);

    // Reading from the middle starts at that group.
    let third = encode_cursor(decode_cursor(&begin).unwrap() + 2);
    let (tail, _) = pull_all(&c, "sdk-rt", "logs", 0, &third, 1000).await;
    assert_eq!(tail, sent[2..].to_vec());

    // The raw variant hands back the decompressed LogGroupList bytes.
    let raw = c
        .pull_logs_raw("sdk-rt", "logs", 0)
        .cursor(begin.clone())
        .count(1)
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(*raw.log_group_count(), 1);
    let list = aliyun_log_sdk_protobuf::LogGroupList::decode(raw.data()).unwrap();
    assert_eq!(list.log_groups(), &vec![sent[0].clone()]);
    assert_eq!(
        decode_cursor(raw.next_cursor()).unwrap(),
        decode_cursor(&begin).unwrap() + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_deflate_and_lz4_bodies_through_put_logs_raw() {
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-codec").await;
    create_logstore(&c, "sdk-codec", "logs", 1).await;
    let begin = cursor(&c, "sdk-codec", "logs", 0, CursorPos::Begin).await;
    // The typed put_logs always uses lz4; put_logs_raw takes any x-log-compresstype.
    let codecs = [
        ("zstd", CompressType::Zstd),
        ("deflate", CompressType::Deflate),
        ("lz4", CompressType::Lz4),
    ];
    let mut sent = Vec::new();
    for (i, (name, ct)) in codecs.into_iter().enumerate() {
        let g = full_group(name, 20 + i as u32);
        let raw = g.encode().unwrap();
        let body = cairn_proto::compress(ct, &raw);
        assert_ne!(body, raw, "{name} actually compresses");
        c.put_logs_raw("sdk-codec", "logs")
            .data(body.into())
            .raw_size(raw.len())
            .compress_type(name.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        sent.push(g);
    }
    let (got, _) = pull_all(&c, "sdk-codec", "logs", 0, &begin, 1000).await;
    assert_eq!(got, sent);

    // A codec Cairn does not know is refused before anything is stored.
    let g = bare_group("x").encode().unwrap();
    let r = c
        .put_logs_raw("sdk-codec", "logs")
        .data(g.clone().into())
        .raw_size(g.len())
        .compress_type("snappy".to_string())
        .send()
        .await;
    assert_eq!(sls_error(r), (400, "InvalidCompressType".into()));
    // A body that is not what the header says is refused too.
    let r = c
        .put_logs_raw("sdk-codec", "logs")
        .data(vec![0xff; 64].into())
        .raw_size(1000)
        .compress_type("zstd".to_string())
        .send()
        .await;
    assert_eq!(sls_error(r), (400, "PostBodyUncompressError".into()));
    let (after, _) = pull_all(&c, "sdk-codec", "logs", 0, &begin, 1000).await;
    assert_eq!(after, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_logs_spreads_over_shards_and_every_group_is_read_once() {
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-lb").await;
    create_logstore(&c, "sdk-lb", "logs", 2).await;
    let mut sent = Vec::new();
    for i in 0..10 {
        let g = full_group(&format!("g{i}"), 2);
        c.put_logs("sdk-lb", "logs")
            .log_group(g.clone())
            .send()
            .await
            .unwrap();
        sent.push(g);
    }
    let mut got = Vec::new();
    for shard in 0..2 {
        let begin = cursor(&c, "sdk-lb", "logs", shard, CursorPos::Begin).await;
        let (groups, _) = pull_all(&c, "sdk-lb", "logs", shard, &begin, 3).await;
        assert!(!groups.is_empty(), "shard {shard} received writes");
        got.extend(groups);
    }
    let key = |g: &LogGroup| g.topic().clone().unwrap();
    got.sort_by_key(key);
    sent.sort_by_key(key);
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_cursor_from_begin_end_and_time() {
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-cur").await;
    create_logstore(&c, "sdk-cur", "logs", 1).await;
    let first = full_group("first", 1);
    c.put_logs("sdk-cur", "logs")
        .log_group(first.clone())
        .send()
        .await
        .unwrap();
    // The first group was received no later than this second; wait for the clock to pass it so
    // the second group's receive time is strictly later.
    let first_acked = now_secs();
    let deadline = Instant::now() + Duration::from_secs(5);
    while now_secs() <= first_acked {
        assert!(Instant::now() < deadline, "the clock did not advance");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let split = now_secs();
    let second = full_group("second", 2);
    c.put_logs("sdk-cur", "logs")
        .log_group(second.clone())
        .send()
        .await
        .unwrap();

    let begin = cursor(&c, "sdk-cur", "logs", 0, CursorPos::Begin).await;
    let end = cursor(&c, "sdk-cur", "logs", 0, CursorPos::End).await;
    let b = decode_cursor(&begin).unwrap();
    assert_eq!(decode_cursor(&end).unwrap(), b + 2);
    // By time: the first group received at or after it.
    let at_split = cursor(&c, "sdk-cur", "logs", 0, CursorPos::UnixTimeStamp(split)).await;
    assert_eq!(decode_cursor(&at_split).unwrap(), b + 1);
    let (from_split, _) = pull_all(&c, "sdk-cur", "logs", 0, &at_split, 100).await;
    assert_eq!(from_split, vec![second]);
    let early = cursor(
        &c,
        "sdk-cur",
        "logs",
        0,
        CursorPos::UnixTimeStamp(first_acked - 3600),
    )
    .await;
    assert_eq!(early, begin, "before the oldest group: begin");
    let late = cursor(
        &c,
        "sdk-cur",
        "logs",
        0,
        CursorPos::UnixTimeStamp(now_secs() + 3600),
    )
    .await;
    assert_eq!(late, end, "after the newest group: end");
    let (all, _) = pull_all(&c, "sdk-cur", "logs", 0, &early, 100).await;
    assert_eq!(all[0], first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_logs_stops_at_end_cursor() {
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-endc").await;
    create_logstore(&c, "sdk-endc", "logs", 1).await;
    let sent: Vec<LogGroup> = (0..4).map(|i| full_group(&format!("e{i}"), 1)).collect();
    for g in &sent {
        c.put_logs("sdk-endc", "logs")
            .log_group(g.clone())
            .send()
            .await
            .unwrap();
    }
    let begin = cursor(&c, "sdk-endc", "logs", 0, CursorPos::Begin).await;
    let b = decode_cursor(&begin).unwrap();
    let stop = encode_cursor(b + 2);
    let r = c
        .pull_logs("sdk-endc", "logs", 0)
        .cursor(begin.clone())
        .end_cursor(stop.clone())
        .count(100)
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(r.log_group_list(), &sent[..2].to_vec());
    assert_eq!(r.next_cursor(), &stop);
    let r = c
        .pull_logs("sdk-endc", "logs", 0)
        .cursor(stop.clone())
        .end_cursor(stop.clone())
        .count(100)
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(*r.log_group_count(), 0);
    assert!(r.log_group_list().is_empty());
    assert_eq!(r.next_cursor(), &stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_groups_heartbeats_and_checkpoints() {
    let server = Server::start(&[]);
    let c = client(&server);
    let (p, ls) = ("sdk-cg", "logs");
    create_project(&c, p).await;
    create_logstore(&c, p, ls, 2).await;
    for i in 0..6 {
        c.put_logs(p, ls)
            .log_group(full_group(&format!("cg{i}"), 1))
            .send()
            .await
            .unwrap();
    }

    let groups = c.list_consumer_groups(p, ls).send().await.unwrap();
    assert!(groups.get_body().consumer_groups().is_empty());
    c.create_consumer_group(p, ls, "readers")
        .timeout(60)
        .order(true)
        .send()
        .await
        .unwrap();
    c.create_consumer_group(p, ls, "others")
        .timeout(20)
        .order(false)
        .send()
        .await
        .unwrap();
    let dup = c
        .create_consumer_group(p, ls, "readers")
        .timeout(60)
        .order(true)
        .send()
        .await;
    assert_eq!(sls_error(dup), (400, "ConsumerGroupAlreadyExist".into()));
    let list = c
        .list_consumer_groups(p, ls)
        .send()
        .await
        .unwrap()
        .take_body();
    let mut seen: Vec<(String, i32, bool)> = list
        .consumer_groups()
        .iter()
        .map(|g| (g.consumer_group_name().clone(), *g.timeout(), *g.order()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![("others".into(), 20, false), ("readers".into(), 60, true)]
    );

    c.update_consumer_group(p, ls, "readers")
        .timeout(90)
        .order(false)
        .send()
        .await
        .unwrap();
    let list = c
        .list_consumer_groups(p, ls)
        .send()
        .await
        .unwrap()
        .take_body();
    let readers = list
        .consumer_groups()
        .iter()
        .find(|g| g.consumer_group_name() == "readers")
        .unwrap();
    assert_eq!((*readers.timeout(), *readers.order()), (90, false));

    // Heartbeats: the first consumer takes every shard; a second one gets a share only after
    // the first has let it go, so no shard ever has two owners.
    let beat = |consumer: &'static str, held: Vec<i32>| {
        let c = &c;
        async move {
            let mut got = c
                .consumer_group_heartbeat(p, ls, "readers")
                .consumer(consumer)
                .shards(held)
                .send()
                .await
                .unwrap()
                .take_body()
                .shards()
                .clone();
            got.sort();
            got
        }
    };
    assert_eq!(beat("c1", vec![]).await, vec![0, 1]);
    assert_eq!(beat("c2", vec![]).await, Vec::<i32>::new());
    let c1 = beat("c1", vec![0, 1]).await;
    assert_eq!(c1.len(), 1, "c1 gives one shard up: {c1:?}");
    assert_eq!(
        beat("c2", vec![]).await,
        Vec::<i32>::new(),
        "not yet released"
    );
    assert_eq!(beat("c1", c1.clone()).await, c1);
    let c2 = beat("c2", vec![]).await;
    assert_eq!(c2.len(), 1);
    assert_ne!(c1, c2);
    assert_eq!(beat("c2", c2.clone()).await, c2);
    let (s1, s2) = (c1[0], c2[0]);

    // Checkpoints: the SDK sends forceSuccess=false unless told otherwise, so ownership counts.
    let end1 = cursor(&c, p, ls, s1, CursorPos::End).await;
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    c.update_consumer_group_checkpoint(p, ls, "readers")
        .shard_id(s1)
        .consumer_id("c1")
        .checkpoint(end1.clone())
        .send()
        .await
        .unwrap();
    let not_owner = c
        .update_consumer_group_checkpoint(p, ls, "readers")
        .shard_id(s1)
        .consumer_id("c2")
        .checkpoint(end1.clone())
        .send()
        .await;
    assert_eq!(sls_error(not_owner), (400, "ConsumerNotMatch".into()));
    let stranger = c
        .update_consumer_group_checkpoint(p, ls, "readers")
        .shard_id(s1)
        .consumer_id("ghost")
        .checkpoint(end1.clone())
        .send()
        .await;
    assert_eq!(sls_error(stranger), (400, "ConsumerNotExist".into()));
    let beyond = encode_cursor(decode_cursor(&end1).unwrap() + 5);
    let out_of_range = c
        .update_consumer_group_checkpoint(p, ls, "readers")
        .shard_id(s1)
        .consumer_id("c1")
        .checkpoint(beyond)
        .send()
        .await;
    assert_eq!(sls_error(out_of_range), (400, "InvalidCursor".into()));

    let cp = c
        .get_consumer_group_checkpoint(p, ls, "readers")
        .shard_id(s1)
        .send()
        .await
        .unwrap()
        .take_body();
    let cps = cp.checkpoints();
    assert_eq!(cps.len(), 1);
    assert_eq!(*cps[0].shard_id(), s1);
    assert_eq!(cps[0].checkpoint(), &end1);
    assert_eq!(cps[0].consumer(), "c1");
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!(
        (before - 1_000_000..=after + 1_000_000).contains(cps[0].update_time()),
        "updateTime is in microseconds: {}",
        cps[0].update_time()
    );
    // A shard nobody committed still answers, with an empty checkpoint.
    let cp = c
        .get_consumer_group_checkpoint(p, ls, "readers")
        .shard_id(s2)
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(cp.checkpoints().len(), 1);
    assert_eq!(cp.checkpoints()[0].checkpoint(), "");

    // forceSuccess=true commits for anyone; the reader then sees it from its checkpoint on.
    let begin2 = cursor(&c, p, ls, s2, CursorPos::Begin).await;
    let mid2 = encode_cursor(decode_cursor(&begin2).unwrap() + 1);
    c.update_consumer_group_checkpoint(p, ls, "readers")
        .shard_id(s2)
        .consumer_id("ghost")
        .checkpoint(mid2.clone())
        .force_success(true)
        .send()
        .await
        .unwrap();
    let all = c
        .get_consumer_group_checkpoint(p, ls, "readers")
        .send()
        .await
        .unwrap()
        .take_body();
    let mut all: Vec<(i32, String, String)> = all
        .checkpoints()
        .iter()
        .map(|c| (*c.shard_id(), c.checkpoint().clone(), c.consumer().clone()))
        .collect();
    all.sort();
    let mut want = vec![
        (s1, end1.clone(), "c1".to_string()),
        (s2, mid2.clone(), "ghost".to_string()),
    ];
    want.sort();
    assert_eq!(all, want);
    let (rest, _) = pull_all(&c, p, ls, s2, &mid2, 100).await;
    let (whole, _) = pull_all(&c, p, ls, s2, &begin2, 100).await;
    assert_eq!(rest, whole[1..].to_vec());

    // The other group's checkpoints are its own.
    let others = c
        .get_consumer_group_checkpoint(p, ls, "others")
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(others.checkpoints().len(), 2);
    assert!(others
        .checkpoints()
        .iter()
        .all(|c| c.checkpoint().is_empty()));

    c.delete_consumer_group(p, ls, "readers")
        .send()
        .await
        .unwrap();
    let list = c
        .list_consumer_groups(p, ls)
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(list.consumer_groups().len(), 1);
    assert_eq!(list.consumer_groups()[0].consumer_group_name(), "others");
    let missing = "readers";
    let r = c.delete_consumer_group(p, ls, missing).send().await;
    assert_eq!(sls_error(r), (404, "ConsumerGroupNotExist".into()));
    let r = c
        .update_consumer_group(p, ls, missing)
        .timeout(5)
        .order(true)
        .send()
        .await;
    assert_eq!(sls_error(r), (404, "ConsumerGroupNotExist".into()));
    let r = c
        .consumer_group_heartbeat(p, ls, missing)
        .consumer("c1")
        .send()
        .await;
    assert_eq!(sls_error(r), (404, "ConsumerGroupNotExist".into()));
    let r = c.get_consumer_group_checkpoint(p, ls, missing).send().await;
    assert_eq!(sls_error(r), (404, "ConsumerGroupNotExist".into()));
    let r = c
        .update_consumer_group_checkpoint(p, ls, missing)
        .shard_id(s1)
        .consumer_id("c1")
        .checkpoint(end1)
        .force_success(true)
        .send()
        .await;
    assert_eq!(sls_error(r), (404, "ConsumerGroupNotExist".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_resources_and_bad_input_surface_as_sls_errors() {
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-err").await;
    create_logstore(&c, "sdk-err", "logs", 1).await;

    let r = c.get_logstore("nowhere", "logs").send().await;
    assert_eq!(sls_error(r), (404, "ProjectNotExist".into()));
    let r = c.list_logstores("nowhere", 0, 10).send().await;
    assert_eq!(sls_error(r), (404, "ProjectNotExist".into()));
    let r = c
        .put_logs("nowhere", "logs")
        .log_group(bare_group("x"))
        .send()
        .await;
    assert_eq!(sls_error(r), (404, "ProjectNotExist".into()));
    let r = c.update_project("nowhere").description("d").send().await;
    assert_eq!(sls_error(r), (404, "ProjectNotExist".into()));

    let r = c
        .put_logs("sdk-err", "nolog")
        .log_group(bare_group("x"))
        .send()
        .await;
    assert_eq!(sls_error(r), (404, "LogStoreNotExist".into()));
    let r = c
        .get_cursor("sdk-err", "nolog", 0)
        .cursor_pos(CursorPos::Begin)
        .send()
        .await;
    assert_eq!(sls_error(r), (404, "LogStoreNotExist".into()));
    let r = c
        .create_consumer_group("sdk-err", "nolog", "g1")
        .timeout(10)
        .order(false)
        .send()
        .await;
    assert_eq!(sls_error(r), (404, "LogStoreNotExist".into()));

    let r = c
        .get_cursor("sdk-err", "logs", 7)
        .cursor_pos(CursorPos::End)
        .send()
        .await;
    assert_eq!(sls_error(r), (400, "ShardNotExist".into()));
    let r = c
        .pull_logs("sdk-err", "logs", 0)
        .cursor("not a cursor")
        .count(10)
        .send()
        .await;
    assert_eq!(sls_error(r), (400, "ParameterInvalid".into()));
    let end = cursor(&c, "sdk-err", "logs", 0, CursorPos::End).await;
    let r = c
        .pull_logs("sdk-err", "logs", 0)
        .cursor(encode_cursor(decode_cursor(&end).unwrap() + 10))
        .count(10)
        .send()
        .await;
    assert_eq!(sls_error(r), (400, "InvalidCursor".into()));
    let r = c
        .consumer_group_heartbeat("sdk-err", "logs", "absent")
        .consumer("c")
        .send()
        .await;
    assert_eq!(sls_error(r), (404, "ConsumerGroupNotExist".into()));

    // A logstore without an index says so, to GetIndex and to a query alike.
    let r = c.get_index("sdk-err", "logs").send().await;
    assert_eq!(sls_error(r), (400, "IndexConfigNotExist".into()));
    let r = c
        .get_logs("sdk-err", "logs")
        .from(0)
        .to(now_secs())
        .query("*")
        .send()
        .await;
    assert_eq!(sls_error(r), (400, "IndexConfigNotExist".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked_with_signature_v1() {
    let server = Server::start(&[]);
    let good = client(&server);
    create_project(&good, "sdk-auth").await;

    let wrong_secret = client_with(&server, AK, "not-the-secret", None);
    let r = wrong_secret.list_projects(0, 10).send().await;
    assert_eq!(sls_error(r), (401, "SignatureNotMatch".into()));
    let r = wrong_secret
        .put_logs("sdk-auth", "logs")
        .log_group(bare_group("x"))
        .send()
        .await;
    assert_eq!(sls_error(r), (401, "SignatureNotMatch".into()));
    let r = wrong_secret
        .create_project("sdk-intruder")
        .description("no")
        .send()
        .await;
    assert_eq!(sls_error(r), (401, "SignatureNotMatch".into()));

    let unknown_key = client_with(&server, "no-such-key", SK, None);
    let r = unknown_key.get_project("sdk-auth").send().await;
    assert_eq!(sls_error(r), (401, "InvalidAccessKeyId".into()));

    // Nothing the rejected clients sent took effect.
    let all = good.list_projects(0, 10).send().await.unwrap().take_body();
    assert_eq!(*all.total(), 1);
    assert_eq!(all.projects()[0].project_name(), "sdk-auth");

    // An STS token is one more signed x-acs- header; with the right key pair it is accepted.
    let sts = client_with(&server, AK, SK, Some("sts-token"));
    let p = sts
        .get_project("sdk-auth")
        .send()
        .await
        .unwrap()
        .take_body();
    assert_eq!(p.project_name(), "sdk-auth");
    let sts_wrong = client_with(&server, AK, "not-the-secret", Some("sts-token"));
    let r = sts_wrong.get_project("sdk-auth").send().await;
    assert_eq!(sls_error(r), (401, "SignatureNotMatch".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_configuration_round_trips() {
    use aliyun_log_rust_sdk::{
        FieldIndex, FullTextIndex, Index, IndexKeyDouble, IndexKeyLong, IndexKeyText,
    };
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-index").await;
    create_logstore(&c, "sdk-index", "logs", 1).await;
    let index = || {
        Index::builder()
            .max_text_len(2048)
            .line(FullTextIndex {
                case_sensitive: false,
                chn: false,
                token: vec![",".into(), " ".into()],
            })
            .keys(std::collections::HashMap::from([
                (
                    "path".to_string(),
                    FieldIndex::Text(IndexKeyText {
                        case_sensitive: true,
                        alias: Some("p".into()),
                        chn: false,
                        token: vec!["/".into()],
                        doc_value: true,
                    }),
                ),
                (
                    "status".to_string(),
                    FieldIndex::Long(IndexKeyLong {
                        alias: None,
                        doc_value: true,
                    }),
                ),
                (
                    "latency".to_string(),
                    FieldIndex::Double(IndexKeyDouble {
                        alias: None,
                        doc_value: false,
                    }),
                ),
            ]))
            .build()
    };
    let r = c.get_index("sdk-index", "logs").send().await;
    assert_eq!(sls_error(r), (400, "IndexConfigNotExist".into()));
    c.create_index("sdk-index", "logs", index())
        .send()
        .await
        .unwrap();
    let r = c.create_index("sdk-index", "logs", index()).send().await;
    assert_eq!(sls_error(r), (400, "IndexAlreadyExist".into()));
    let got = c.get_index("sdk-index", "logs").send().await.unwrap();
    let got = got.get_body();
    assert_eq!(
        serde_json::to_value(got).unwrap(),
        serde_json::to_value(index()).unwrap()
    );
    c.delete_index("sdk-index", "logs").send().await.unwrap();
    let r = c.get_index("sdk-index", "logs").send().await;
    assert_eq!(sls_error(r), (400, "IndexConfigNotExist".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_logs_searches_and_analyses() {
    use aliyun_log_rust_sdk::{FieldIndex, FullTextIndex, Index, IndexKeyLong};
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-query").await;
    create_logstore(&c, "sdk-query", "logs", 2).await;
    let r = c
        .get_logs("sdk-query", "logs")
        .from(1_700_000_000)
        .to(1_700_000_100)
        .query("*")
        .send()
        .await;
    assert_eq!(sls_error(r), (400, "IndexConfigNotExist".into()));
    let index = Index::builder()
        .line(FullTextIndex {
            case_sensitive: false,
            chn: false,
            token: vec![" ".into(), ",".into()],
        })
        .keys(std::collections::HashMap::from([(
            "n".to_string(),
            FieldIndex::Long(IndexKeyLong {
                alias: None,
                doc_value: true,
            }),
        )]))
        .build();
    c.create_index("sdk-query", "logs", index)
        .send()
        .await
        .unwrap();
    // 40 logs, n = 0..39, one second apart; even ones say "even".
    for chunk in 0..4u32 {
        let mut g = LogGroup::new();
        g.set_topic("t");
        for i in chunk * 10..chunk * 10 + 10 {
            let mut log = Log::from_unixtime(1_700_000_000 + i);
            log.add_content_kv("n", i.to_string()).add_content_kv(
                "msg",
                if i % 2 == 0 {
                    "even number"
                } else {
                    "odd number"
                },
            );
            g.add_log(log);
        }
        c.put_logs("sdk-query", "logs")
            .log_group(g)
            .send()
            .await
            .unwrap();
    }
    let r = c
        .get_logs("sdk-query", "logs")
        .from(1_700_000_000)
        .to(1_700_000_040)
        .query("even and n >= 30")
        .line(100)
        .send()
        .await
        .unwrap();
    assert!(r.get_body().is_complete());
    let mut ns: Vec<u32> = r
        .get_body()
        .logs()
        .iter()
        .map(|l| l["n"].parse().unwrap())
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, vec![30, 32, 34, 36, 38]);
    // `from` is included and `to` is not; reverse answers the newest first.
    let r = c
        .get_logs("sdk-query", "logs")
        .from(1_700_000_005)
        .to(1_700_000_008)
        .query("*")
        .reverse(true)
        .send()
        .await
        .unwrap();
    let times: Vec<&str> = r
        .get_body()
        .logs()
        .iter()
        .map(|l| l["__time__"].as_str())
        .collect();
    assert_eq!(times, ["1700000007", "1700000006", "1700000005"]);
    let r = c
        .get_logs("sdk-query", "logs")
        .from(1_700_000_000)
        .to(1_700_000_040)
        .query("* | select count(*) as c, sum(n) as s where n < 10")
        .send()
        .await
        .unwrap();
    let body = r.get_body();
    assert_eq!(body.meta().has_sql(), &Some(true));
    assert_eq!(body.logs()[0]["c"], "10");
    assert_eq!(body.logs()[0]["s"], "45");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_logs_with_an_spl_query() {
    let server = Server::start(&[]);
    let c = client(&server);
    create_project(&c, "sdk-spl").await;
    create_logstore(&c, "sdk-spl", "logs", 1).await;
    let sent: Vec<LogGroup> = (0..4).map(|i| full_group(&format!("s{i}"), 3)).collect();
    for g in &sent {
        c.put_logs("sdk-spl", "logs")
            .log_group(g.clone())
            .send()
            .await
            .unwrap();
    }
    let begin = cursor(&c, "sdk-spl", "logs", 0, CursorPos::Begin).await;
    let r = c
        .pull_logs("sdk-spl", "logs", 0)
        .cursor(begin.clone())
        .count(100)
        .query("* | where msg like '% s2 %' and __time__ > 1700000000 | project-away empty")
        .send()
        .await
        .unwrap()
        .take_body();
    // What the statement makes of group s2: its logs after the first, without `empty`.
    let mut want = LogGroup::new();
    want.set_topic("topic-s2")
        .set_source("10.1.2.3")
        .add_log_tag_kv("__pack_id__", "PACK-s2")
        .add_log_tag_kv("host", "web-1");
    for i in 1..3 {
        let mut log = Log::from_unixtime(1_700_000_000 + i);
        log.add_content_kv("msg", format!("héllo s2 {i} ✓"))
            .add_content_kv("level", "INFO");
        log.set_time_ns(123_456_789 - i);
        want.add_log(log);
    }
    assert_eq!(r.log_group_list(), &vec![want]);
    assert_eq!(*r.log_group_count(), 1);
    assert_eq!(
        decode_cursor(r.next_cursor()).unwrap(),
        decode_cursor(&begin).unwrap() + 4,
        "the cursor moves past every group read"
    );
    assert_eq!(*r.data_count_before_query(), Some(4));
    assert_eq!(*r.lines_before_query(), Some(12));
    assert_eq!(*r.result_lines(), Some(2));
    assert_eq!(*r.failed_lines(), Some(0));
    assert!(r.raw_size_before_query().unwrap() > 0);

    let Err(err) = c
        .pull_logs("sdk-spl", "logs", 0)
        .cursor(begin)
        .count(10)
        .query("* | summarize count()")
        .send()
        .await
    else {
        panic!("an unknown instruction is refused");
    };
    assert!(format!("{err:?}").contains("ParameterInvalid"), "{err:?}");
}
