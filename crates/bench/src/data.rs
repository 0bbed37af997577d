//! Realistic LogGroups, built once before a run.

use cairn_proto::{Log, LogContent, LogGroup, LogTag};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::sls::PreparedBody;

const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/orders/{id}",
    "/api/v1/users/{id}/profile",
    "/api/v2/search",
    "/static/app.js",
    "/healthz",
    "/api/v1/cart/items",
    "/api/v1/payments/{id}/capture",
];
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"];
const CLIENT_SOFTWARE: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
    "python-requests/2.32.3",
];

fn kv(k: &str, v: String) -> LogContent {
    LogContent {
        key: k.as_bytes().to_vec(),
        value: v.into_bytes(),
    }
}

/// One access-log line as key/values, padded with a message so that keys plus values come to
/// about `target` bytes.
fn log(rng: &mut StdRng, time: u32, target: usize) -> Log {
    let path = PATHS[rng.gen_range(0..PATHS.len())]
        .replace("{id}", &rng.gen_range(1..999_999u32).to_string());
    let status = *[200u16, 200, 200, 201, 204, 304, 400, 404, 500]
        .get(rng.gen_range(0..9))
        .unwrap_or(&200);
    let mut contents = vec![
        kv("level", LEVELS[rng.gen_range(0..LEVELS.len())].to_string()),
        kv(
            "host",
            format!("web-{:02}.prod.internal", rng.gen_range(0..48)),
        ),
        kv(
            "method",
            METHODS[rng.gen_range(0..METHODS.len())].to_string(),
        ),
        kv("path", path),
        kv("status", status.to_string()),
        kv("latency_ms", format!("{:.3}", rng.gen_range(0.1..900.0f64))),
        kv("bytes", rng.gen_range(0..200_000u32).to_string()),
        kv(
            "client",
            format!(
                "10.{}.{}.{}",
                rng.gen_range(0..255),
                rng.gen_range(0..255),
                rng.gen_range(1..255)
            ),
        ),
        kv(
            "ua",
            CLIENT_SOFTWARE[rng.gen_range(0..CLIENT_SOFTWARE.len())].to_string(),
        ),
        kv(
            "request_id",
            format!("{:016x}{:016x}", rng.gen::<u64>(), rng.gen::<u64>()),
        ),
    ];
    let used: usize = contents.iter().map(|c| c.key.len() + c.value.len()).sum();
    if target > used + 4 {
        let words = [
            "request",
            "served",
            "cache",
            "miss",
            "upstream",
            "retry",
            "user",
            "login",
            "token",
            "refreshed",
            "order",
            "created",
            "payment",
            "declined",
            "timeout",
            "after",
            "ms",
        ];
        let mut msg = String::new();
        while msg.len() < target - used - 3 {
            if !msg.is_empty() {
                msg.push(' ');
            }
            msg.push_str(words[rng.gen_range(0..words.len())]);
        }
        msg.truncate(target - used - 3);
        contents.push(kv("msg", msg));
    }
    Log {
        time,
        contents,
        time_ns: Some(rng.gen_range(0..1_000_000_000)),
    }
}

/// A LogGroup of `logs` logs of about `log_bytes` bytes of key/value text each.
pub fn group(rng: &mut StdRng, logs: usize, log_bytes: usize, time: u32) -> LogGroup {
    LogGroup {
        logs: (0..logs).map(|_| log(rng, time, log_bytes)).collect(),
        reserved: None,
        topic: Some("access".into()),
        source: Some(format!(
            "10.0.{}.{}",
            rng.gen_range(0..255),
            rng.gen_range(1..255)
        )),
        machine_uuid: None,
        log_tags: vec![LogTag {
            key: b"__hostname__".to_vec(),
            value: format!("node-{:03}", rng.gen_range(0..200)).into_bytes(),
        }],
    }
}

/// `n` distinct prepared bodies. With `target_raw` set, logs are added to each group until its
/// encoding reaches that many bytes (for 1 MiB groups); otherwise each has `logs` logs.
pub fn bodies(
    n: usize,
    logs: usize,
    log_bytes: usize,
    target_raw: Option<usize>,
    seed: u64,
) -> Vec<PreparedBody> {
    let mut rng = StdRng::seed_from_u64(seed);
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    (0..n)
        .map(|_| {
            let mut g = group(&mut rng, logs, log_bytes, time);
            if let Some(t) = target_raw {
                while g.encoded_len() < t {
                    g.logs.push(log(&mut rng, time, log_bytes));
                }
                while g.encoded_len() > t && g.logs.len() > 1 {
                    g.logs.pop();
                }
            }
            let raw = g.encode_to_vec();
            PreparedBody::new(&raw, g.logs.len())
        })
        .collect()
}
