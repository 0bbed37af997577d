//! LogGroups sent as JSON — `{"__topic__", "__source__", "__tags__": {k: v}, "__logs__":
//! [{k: v}, …]}` — by web tracking and by PutLogs with `Content-Type: application/json`.

use cairn_proto::CompressType;
use serde_json::Value;

use super::Ctx;
use crate::excerpt::excerpt;
use crate::http::codes::SlsCode;
use crate::http::error::SlsError;
use crate::service::{decompress_body, JsonBatch};

/// The compression a body declares: `x-log-compresstype` and `x-log-bodyrawsize` (required
/// with compression).
pub(super) fn compression(ctx: &Ctx) -> Result<(CompressType, Option<usize>), SlsError> {
    let ct = CompressType::from_header(ctx.header("x-log-compresstype")).map_err(|_| {
        SlsError::new(
            SlsCode::InvalidCompressType,
            format!(
                "x-log-compresstype {:?} is not supported; use lz4, zstd, deflate or none",
                excerpt(ctx.header("x-log-compresstype").unwrap_or(""))
            ),
        )
    })?;
    let raw_size = match ctx.header("x-log-bodyrawsize") {
        None => None,
        Some(s) => Some(s.trim().parse::<usize>().map_err(|_| {
            SlsError::new(
                SlsCode::InvalidBodyRawSize,
                format!("x-log-bodyrawsize {:?} is not a size", excerpt(s)),
            )
        })?),
    };
    if ct != CompressType::None && raw_size.is_none() {
        return Err(SlsError::new(
            SlsCode::MissingBodyRawSize,
            "a compressed body needs x-log-bodyrawsize",
        ));
    }
    Ok((ct, raw_size))
}

/// The body, decompressed as its headers say, at most the request's raw limit.
pub(super) fn decompressed(ctx: &Ctx) -> Result<Vec<u8>, SlsError> {
    let (ct, raw_size) = compression(ctx)?;
    if ct == CompressType::None {
        return Ok(ctx.body.to_vec());
    }
    Ok(decompress_body(ct, &ctx.body, raw_size, ctx.raw_limit)?)
}

/// A field's value: strings as they are, `null` as empty, anything else as its JSON text.
fn body_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn object_pairs(v: &Value, what: &str) -> Result<Vec<(String, String)>, SlsError> {
    let o = v.as_object().ok_or_else(|| {
        SlsError::new(
            SlsCode::PostBodyInvalid,
            format!("{what} must be a JSON object of fields"),
        )
    })?;
    Ok(o.iter().map(|(k, v)| (k.clone(), body_text(v))).collect())
}

/// Parses a JSON LogGroup: `__topic__`, `__source__`, `__tags__` and `__logs__` (required);
/// any other key is refused.
pub fn parse_json_batch(body: &[u8]) -> Result<JsonBatch, SlsError> {
    let invalid = |m: String| SlsError::new(SlsCode::PostBodyInvalid, m);
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "the JSON body is not JSON: {}",
            excerpt(&e.to_string())
        ))
    })?;
    let o = v
        .as_object()
        .ok_or_else(|| invalid("the JSON body must be a JSON object".into()))?;
    let mut batch = JsonBatch::default();
    for (k, v) in o {
        match k.as_str() {
            "__topic__" => batch.topic = Some(body_text(v)),
            "__source__" => batch.source = Some(body_text(v)),
            "__tags__" => batch.tags = object_pairs(v, "__tags__")?,
            "__logs__" => {
                let logs = v
                    .as_array()
                    .ok_or_else(|| invalid("__logs__ must be an array of objects".into()))?;
                batch.logs = logs
                    .iter()
                    .map(|l| object_pairs(l, "each log of __logs__"))
                    .collect::<Result<_, _>>()?;
            }
            other => {
                return Err(invalid(format!(
                    "unknown key {:?} in the JSON body; use __topic__, __source__, __tags__ and __logs__",
                    excerpt(other)
                )))
            }
        }
    }
    if !o.contains_key("__logs__") {
        return Err(invalid("the JSON body needs __logs__".into()));
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_parse_as_the_browser_sdk_and_put_webtracking_send_them() {
        let b = parse_json_batch(
            br#"{"__logs__":[{"a":"1","n":2,"o":{"x":true}},{"b":""}],
                 "__tags__":{"t":"v"},"__topic__":"web","__source__":"s"}"#,
        )
        .unwrap();
        assert_eq!(b.topic.as_deref(), Some("web"));
        assert_eq!(b.source.as_deref(), Some("s"));
        assert_eq!(b.tags, vec![("t".to_string(), "v".to_string())]);
        assert_eq!(
            b.logs,
            vec![
                vec![
                    ("a".to_string(), "1".to_string()),
                    ("n".to_string(), "2".to_string()),
                    ("o".to_string(), r#"{"x":true}"#.to_string()),
                ],
                vec![("b".to_string(), String::new())],
            ]
        );
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"__logs__":{}}"#,
            br#"{"__logs__":[1]}"#,
            br#"{"__logs__":[],"__tags__":[]}"#,
            br#"{"__logs__":[],"extra":1}"#,
        ] {
            let e = parse_json_batch(bad).unwrap_err();
            assert_eq!(e.code, SlsCode::PostBodyInvalid, "{bad:?}");
        }
    }
}
