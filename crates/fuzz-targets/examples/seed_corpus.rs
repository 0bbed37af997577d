//! Writes the seed corpus, `fuzz/corpus/<target>/seed-*`, from real inputs: LogGroups encoded
//! with prost as the SDKs encode them, bodies compressed by every codec, LZ4 blocks from
//! lz4_flex and liblz4, cursors with their edge cases, the SLS requests the Python SDK signed
//! (`crates/auth/tests/sls_sdk_vectors.rs`), the Digest headers curl and python-requests sent
//! (`crates/auth/tests/digest_clients.rs`) and the Atlas bodies of `tests/atlas.rs`.
//!
//! `cargo run -p cairn-fuzz-targets --example seed_corpus` (rewrites the `seed-*` files only).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cairn_proto::lz4::last_sequence;
use cairn_proto::{compress, CompressType, Log, LogContent, LogGroup, LogTag};
use prost::Message;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Corpus {
    dir: PathBuf,
    written: usize,
}

impl Corpus {
    fn new(target: &str) -> Self {
        let dir = root().join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for e in std::fs::read_dir(&dir).expect("corpus directory") {
            let p = e.expect("entry").path();
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
            {
                std::fs::remove_file(p).expect("old seed");
            }
        }
        Self { dir, written: 0 }
    }

    fn add(&mut self, name: &str, data: &[u8]) {
        std::fs::write(self.dir.join(format!("seed-{name}")), data).expect("seed");
        self.written += 1;
    }
}

fn kv(k: &str, v: &[u8]) -> LogContent {
    LogContent {
        key: k.as_bytes().to_vec(),
        value: v.to_vec(),
    }
}

fn groups() -> Vec<(&'static str, LogGroup)> {
    let log = |t: u32, contents: Vec<LogContent>, ns: Option<u32>| Log {
        time: t,
        contents,
        time_ns: ns,
    };
    vec![
        ("empty", LogGroup::default()),
        (
            "python-sdk",
            LogGroup {
                logs: vec![log(
                    1_795_351_683,
                    vec![kv("level", b"info"), kv("msg", b"hello cairn")],
                    None,
                )],
                topic: Some("web".into()),
                source: Some("host-1".into()),
                ..Default::default()
            },
        ),
        (
            "java-sdk-tags-ns",
            LogGroup {
                logs: (0..8)
                    .map(|i| {
                        log(
                            1_795_351_683 + i,
                            vec![kv("k", format!("v{i}").as_bytes()), kv("", b"")],
                            Some(i * 1000),
                        )
                    })
                    .collect(),
                reserved: Some("".into()),
                topic: Some("topic".into()),
                source: Some("10.1.2.3".into()),
                machine_uuid: Some("3f1a2b3c-uuid".into()),
                log_tags: vec![
                    LogTag {
                        key: b"__tag__:__hostname__".to_vec(),
                        value: b"node-7".to_vec(),
                    },
                    LogTag {
                        key: b"t".to_vec(),
                        value: vec![],
                    },
                ],
            },
        ),
        (
            "binary-values",
            LogGroup {
                logs: vec![log(
                    u32::MAX,
                    vec![
                        kv("bin", &[0xff, 0xfe, 0, 0x80]),
                        kv(&"k".repeat(127), b"x"),
                    ],
                    Some(u32::MAX),
                )],
                ..Default::default()
            },
        ),
        (
            "long-key-and-value",
            LogGroup {
                logs: vec![log(
                    1,
                    vec![
                        kv(&"k".repeat(128), &[b'v'; 16_384]),
                        kv("v", &[b'w'; 16_383]),
                    ],
                    None,
                )],
                ..Default::default()
            },
        ),
        (
            "time-zero",
            LogGroup {
                logs: vec![log(0, vec![], None)],
                ..Default::default()
            },
        ),
    ]
}

fn log_groups() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = groups()
        .into_iter()
        .map(|(n, g)| (n.to_string(), g.encode_to_vec()))
        .collect();
    let base = groups()[2].1.encode_to_vec();
    let mut unknown = base.clone();
    unknown.extend_from_slice(&[
        9 << 3,
        5,
        (10 << 3) | 1,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        (11 << 3) | 2,
        2,
        b'h',
        b'i',
        (12 << 3) | 5,
        1,
        2,
        3,
        4,
    ]);
    out.push(("unknown-fields".into(), unknown));
    out.push(("truncated".into(), base[..base.len() / 2].to_vec()));
    out.push((
        "log-without-time".into(),
        vec![0x0a, 8, 0x12, 6, 0x0a, 1, b'k', 0x12, 1, b'v'],
    ));
    out.push((
        "content-without-value".into(),
        vec![0x0a, 7, 0x08, 1, 0x12, 3, 0x0a, 1, b'k'],
    ));
    out.push(("group-wire-type".into(), vec![(7 << 3) | 3, (7 << 3) | 4]));
    out.push(("topic-not-utf8".into(), vec![0x1a, 2, 0xc3, 0x28]));
    out
}

fn main() {
    let mut c = Corpus::new("log_group");
    for (name, bytes) in log_groups() {
        c.add(&name, &bytes);
    }
    report("log_group", &c);

    let mut c = Corpus::new("decompress");
    let text: Vec<u8> = (0..2000u32)
        .flat_map(|i| format!("key{}=value{} ", i % 97, i % 13).into_bytes())
        .collect();
    let mut payloads: Vec<(String, Vec<u8>)> = log_groups().into_iter().take(4).collect();
    payloads.push(("text".into(), text));
    for (name, raw) in &payloads {
        for (i, ct) in [
            CompressType::None,
            CompressType::Lz4,
            CompressType::Zstd,
            CompressType::Deflate,
        ]
        .into_iter()
        .enumerate()
        {
            let body = compress(ct, raw);
            c.add(
                &format!("{name}-{ct:?}"),
                &frame_body(i as u8 | 4, raw.len(), 1 << 20, &body),
            );
            if ct != CompressType::Lz4 {
                c.add(
                    &format!("{name}-{ct:?}-no-raw-size"),
                    &frame_body(i as u8, 0, 1 << 20, &body),
                );
            }
        }
        // Frames without a content size, as streaming encoders write them.
        let mut e = zstd::stream::Encoder::new(Vec::new(), 3).expect("encoder");
        std::io::Write::write_all(&mut e, raw).expect("write");
        c.add(
            &format!("{name}-zstd-stream"),
            &frame_body(2, 0, 1 << 20, &e.finish().expect("finish")),
        );
        let block = lz4::block::compress(raw, None, false).expect("liblz4");
        c.add(
            &format!("{name}-liblz4"),
            &frame_body(1 | 4, raw.len(), 1 << 20, &block),
        );
    }
    let big = vec![b'a'; 1 << 20];
    c.add(
        "deflate-bomb",
        &frame_body(3, 0, 64 << 10, &compress(CompressType::Deflate, &big)),
    );
    c.add(
        "zstd-bomb",
        &frame_body(2 | 4, 10, 1 << 20, &compress(CompressType::Zstd, &big)),
    );
    c.add(
        "lz4-raw-size-too-large",
        &frame_body(1 | 4, 1 << 20, 1000, &compress(CompressType::Lz4, b"x")),
    );
    report("decompress", &c);

    let mut c = Corpus::new("lz4_join");
    let mut blocks: Vec<(String, Vec<u8>, usize)> = Vec::new();
    for len in [0usize, 3, 12, 13, 40, 700, 5000] {
        let pattern = b"level=info msg=\"request served\" ";
        let data: Vec<u8> = (0..len)
            .map(|i| pattern[i % pattern.len()] ^ (i / 97) as u8)
            .collect();
        blocks.push((
            format!("lz4_flex-{len}"),
            lz4_flex::block::compress(&data),
            len,
        ));
        blocks.push((
            format!("liblz4-{len}"),
            lz4::block::compress(&data, None, false).expect("liblz4"),
            len,
        ));
    }
    // Blocks that break the end rules: too few final literals, a late last match, ends in a match.
    blocks.push((
        "short-tail".into(),
        vec![0x14, b'a', 1, 0, 0x20, b'b', b'b'],
        11,
    ));
    blocks.push((
        "late-match".into(),
        vec![0x20, b'a', b'b', 2, 0, 0x50, b'c', b'c', b'c', b'c', b'c'],
        11,
    ));
    blocks.push(("ends-in-match".into(), vec![0x14, b'a', 1, 0], 9));
    for (name, block, raw) in blocks {
        let last = last_sequence(&block, raw).unwrap_or(0);
        let mut d = Vec::new();
        d.extend_from_slice(&(raw as u32).to_le_bytes());
        d.extend_from_slice(&(last as u32).to_le_bytes());
        d.extend_from_slice(&block);
        c.add(&name, &d);
    }
    report("lz4_join", &c);

    let mut c = Corpus::new("cursor");
    for (name, s) in [
        ("zero", "MA=="),
        ("zero-unpadded", "MA"),
        ("zero-one-pad", "MA="),
        ("zero-three-pads", "MA==="),
        ("minus-one", "LTE="),
        ("minus", "LQ=="),
        ("minus-zero", "LTA="),
        ("123", "MTIz"),
        ("123-newline", "MTIz\n"),
        ("123-spaces", " MTIz "),
        ("real", "MTYxNDc1MDAyNzM3MzIwNTcxNA=="),
        ("u64-max", "MTg0NDY3NDQwNzM3MDk1NTE2MTU="),
        ("u64-max-plus-one", "MTg0NDY3NDQwNzM3MDk1NTE2MTY="),
        ("21-digits", "MDAwMDAwMDAwMDAwMDAwMDAwMDAx"),
        ("url-safe", "MTU0-NDM_0NjAz"),
        ("not-base64", "%%%"),
        ("not-decimal", "MTJh"),
        ("empty", ""),
        ("plus-sign", "KzU="),
    ] {
        c.add(name, s.as_bytes());
    }
    report("cursor", &c);

    let mut c = Corpus::new("sls_signature");
    for (name, req) in sls_vectors() {
        c.add(&name, &req);
    }
    report("sls_signature", &c);

    let mut c = Corpus::new("digest");
    for (name, data) in digest_vectors() {
        c.add(&name, &data);
    }
    report("digest", &c);

    let mut c = Corpus::new("atlas_body");
    for (name, body) in [
        (
            "restore",
            r#"{"checkpointId": "5f0f1e2d3c4b5a6978877665", "delivery": {"methodName": "AUTOMATED_RESTORE", "targetGroupId": "demo", "targetClusterName": "app-logs-restored"}}"#,
        ),
        (
            "restore-by-cluster-id",
            r#"{"checkPointId": "5f0f1e2d3c4b5a6978877665", "delivery": {"methodName": "AUTOMATED_RESTORE", "targetGroupId": "5f0f1e2d3c4b5a6978877665", "targetClusterId": "abc", "expirationHours": 1, "maxDownloads": null}}"#,
        ),
        (
            "restore-no-delivery",
            r#"{"checkpointId": "5f0f1e2d3c4b5a6978877665"}"#,
        ),
        (
            "restore-no-checkpoint",
            r#"{"delivery": {"methodName": "AUTOMATED_RESTORE"}}"#,
        ),
        (
            "restore-http",
            r#"{"checkpointId": "x", "delivery": {"methodName": "HTTP"}}"#,
        ),
        (
            "restore-bogus",
            r#"{"checkpointId": "x", "bogus": 1, "delivery": {}}"#,
        ),
        (
            "restore-point-in-time",
            r#"{"pointInTimeUTCMillis": 1795351683000, "delivery": {}}"#,
        ),
        ("schedule-7", r#"{"clusterCheckpointIntervalMin": 7}"#),
        ("schedule-30", r#"{"clusterCheckpointIntervalMin": 30}"#),
        (
            "schedule-30-72",
            r#"{"clusterCheckpointIntervalMin": 30, "pointInTimeWindowHours": 72}"#,
        ),
        (
            "schedule-all",
            r#"{"snapshotIntervalHours": 6, "snapshotRetentionDays": 2, "dailySnapshotRetentionDays": 7, "weeklySnapshotRetentionWeeks": 4, "monthlySnapshotRetentionMonths": 13, "pointInTimeWindowHours": 8760}"#,
        ),
        ("schedule-read-only", r#"{"groupId": "x"}"#),
        ("schedule-negative", r#"{"snapshotRetentionDays": -1}"#),
        ("schedule-float", r#"{"snapshotRetentionDays": 2.0}"#),
        ("empty", ""),
        ("empty-object", "{}"),
        ("whitespace", " \n\t"),
        ("array", "[]"),
        ("broken", r#"{"checkpointId": "#),
    ] {
        c.add(name, body.as_bytes());
    }
    report("atlas_body", &c);

    let mut c = Corpus::new("tracking_body");
    for (name, body) in [
        (
            "browser-sdk",
            r#"{"__logs__":[{"run":"r","step":"one","n":"1"}],"__tags__":{"page":"track.html"},"__topic__":"browser","__source__":"chromium"}"#,
        ),
        (
            "put-webtracking",
            r#"{"__topic__":"topic","__source__":"source","__logs__":[{"key1":"value1","key2":"value2"},{"key1":"value1","__time__":"1"}],"__tags__":{"tag1":"value1"}}"#,
        ),
        (
            "non-strings",
            r#"{"__logs__":[{"n":2,"b":true,"o":{"x":[1]},"z":null}]}"#,
        ),
        ("empty-logs", r#"{"__logs__":[]}"#),
        ("empty-log", r#"{"__logs__":[{}]}"#),
        ("no-logs", r#"{"__topic__":"t"}"#),
        ("logs-not-array", r#"{"__logs__":{"a":"b"}}"#),
        (
            "tags-not-object",
            r#"{"__logs__":[{"a":"b"}],"__tags__":["x"]}"#,
        ),
        ("unknown-key", r#"{"__logs__":[{"a":"b"}],"extra":1}"#),
        (
            "duplicate-keys",
            r#"{"__logs__":[{"a":"1","a":"2"}],"__topic__":"x","__topic__":"y"}"#,
        ),
        ("empty", ""),
        ("array", "[]"),
        ("broken", r#"{"__logs__":[{"a":"#),
    ] {
        c.add(name, body.as_bytes());
    }
    report("tracking_body", &c);
}

fn report(target: &str, c: &Corpus) {
    println!("{target}: {} seeds in {}", c.written, c.dir.display());
}

/// The decompress target's input: flags, raw size, limit, body.
fn frame_body(flags: u8, raw: usize, limit: usize, body: &[u8]) -> Vec<u8> {
    let mut d = vec![flags];
    d.extend_from_slice(&(raw as u32).to_le_bytes());
    d.extend_from_slice(&(limit as u32).to_le_bytes());
    d.extend_from_slice(body);
    d
}

/// Undoes the escapes of a Rust string literal that the vector files use.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The quoted strings of a line, in order.
fn strings(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        match (&mut cur, ch) {
            (None, '"') => cur = Some(String::new()),
            (Some(s), '\\') => {
                s.push('\\');
                if let Some(n) = chars.next() {
                    s.push(n);
                }
            }
            (Some(_), '"') => out.push(unescape(&cur.take().expect("open"))),
            (Some(s), c) => s.push(c),
            (None, _) => {}
        }
    }
    out
}

/// The Python SDK's signed requests, as the sls_signature target reads them.
fn sls_vectors() -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(root().join("crates/auth/tests/sls_sdk_vectors.rs"))
        .expect("vectors");
    let mut out = Vec::new();
    let (mut name, mut method, mut path, mut query) =
        (String::new(), String::new(), String::new(), String::new());
    let mut headers = String::new();
    let mut in_headers = false;
    for line in text.lines() {
        let t = line.trim();
        let field = |p: &str| {
            t.strip_prefix(p)
                .map(strings)
                .and_then(|v| v.into_iter().next())
        };
        if let Some(v) = field("name:") {
            name = v;
            headers.clear();
        } else if let Some(v) = field("method:") {
            method = v;
        } else if let Some(v) = field("path:") {
            path = v;
        } else if let Some(v) = field("query:") {
            query = v;
        } else if t.starts_with("headers: &[") {
            in_headers = true;
        } else if in_headers && t.starts_with("],") {
            in_headers = false;
        } else if in_headers && t.starts_with("(\"") {
            let kv = strings(t);
            let _ = writeln!(headers, "{}: {}", kv[0], kv[1]);
        } else if let Some(v) = field("body_hex:") {
            let target = if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            };
            let mut d = format!("{method} {target} 1795351683\n{headers}\n").into_bytes();
            d.extend_from_slice(&hex::decode(v).expect("hex body"));
            out.push((name.clone(), d));
        }
    }
    assert!(out.len() >= 10, "found {} SLS vectors", out.len());
    out
}

/// The recorded curl and python-requests Digest headers, as the digest target reads them.
fn digest_vectors() -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(root().join("crates/auth/tests/digest_clients.rs"))
        .expect("vectors");
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("const ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(": &str = r#\"") else {
            continue;
        };
        let header = value.trim_end_matches(";").trim_end_matches("\"#");
        let uri = header
            .split("uri=\"")
            .nth(1)
            .and_then(|u| u.split('"').next())
            .expect("uri");
        let method = if name.contains("POST") { "POST" } else { "GET" };
        out.push((
            name.to_lowercase(),
            format!("{method} {uri}\n{header}").into_bytes(),
        ));
        // The same with an absolute uri, the form some clients send through proxies.
        let absolute = header.replace("uri=\"/", "uri=\"http://127.0.0.1:7070/");
        out.push((
            format!("{}-absolute-uri", name.to_lowercase()),
            format!("{method} {uri}\n{absolute}").into_bytes(),
        ));
    }
    assert!(out.len() >= 8, "found {} Digest vectors", out.len());
    out
}
