//! JSON LogGroup bodies: the batch of `POST /logstores/{ls}/track`, which anyone may send to
//! a logstore with tracking on, and of PutLogs with `application/json`.

use cairn::http::parse_json_batch;
use cairn::http::SlsError;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// Runs `data` through the tracking body parser: a typed batch or `400 PostBodyInvalid`, and an
/// accepted batch written back as JSON parses to itself.
pub fn tracking_body(data: &[u8]) {
    match parse_json_batch(data) {
        Ok(b) => {
            // Accepted bodies are JSON (numbers of any size: a value is kept as the text it was
            // sent as), with an array of logs.
            let top: BTreeMap<String, Box<RawValue>> =
                serde_json::from_slice(data).expect("accepted bodies are JSON objects");
            assert!(top["__logs__"].get().starts_with('['));
            let pairs = |kv: &[(String, String)]| -> Value {
                Value::Object(
                    kv.iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect::<Map<_, _>>(),
                )
            };
            let mut again = json!({
                "__logs__": b.logs.iter().map(|l| pairs(l)).collect::<Vec<_>>(),
                "__tags__": pairs(&b.tags),
            });
            if let Some(t) = &b.topic {
                again["__topic__"] = json!(t);
            }
            if let Some(s) = &b.source {
                again["__source__"] = json!(s);
            }
            let back =
                parse_json_batch(&serde_json::to_vec(&again).unwrap()).expect("its own JSON");
            // Duplicate keys collapse in a JSON object; what is left is what was parsed.
            assert_eq!(back.topic, b.topic);
            assert_eq!(back.source, b.source);
            assert_eq!(back.logs.len(), b.logs.len());
        }
        Err(e) => refusal(&e),
    }
}

fn refusal(e: &SlsError) {
    assert_eq!(e.status().as_u16(), 400, "{e:?}");
    assert_eq!(e.code.as_str(), "PostBodyInvalid", "{e:?}");
    assert!(
        e.message.len() <= 2048,
        "{} bytes of message",
        e.message.len()
    );
}
