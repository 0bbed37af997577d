//! LogGroups sent as JSON — `{"__topic__", "__source__", "__tags__": {k: v}, "__logs__":
//! [{k: v}, …]}` — by web tracking and by PutLogs with `Content-Type: application/json`.

use std::borrow::Cow;
use std::cell::Cell;

use cairn_proto::CompressType;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::Ctx;
use crate::excerpt::excerpt;
use crate::http::codes::SlsCode;
use crate::http::error::SlsError;
use crate::service::{blocking, decompress_body, JsonBatch, MAX_JSON_FIELDS, MAX_JSON_LOGS};

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

/// `body` decompressed with `ct` (`raw_size`: its `x-log-bodyrawsize`) to at most `limit`.
fn decompress(
    ct: CompressType,
    body: &[u8],
    raw_size: Option<usize>,
    limit: usize,
) -> Result<Cow<'_, [u8]>, SlsError> {
    if ct == CompressType::None {
        return Ok(Cow::Borrowed(body));
    }
    Ok(Cow::Owned(decompress_body(ct, body, raw_size, limit)?))
}

/// Decompresses the request's body as `ct` and `raw_size` say, parses it as a JSON LogGroup
/// and hands it to `write`, all on a blocking thread (design §5.1a, §16).
pub(super) async fn write_batch(
    ctx: &Ctx,
    ct: CompressType,
    raw_size: Option<usize>,
    write: impl FnOnce(JsonBatch) -> crate::service::Result<()> + Send + 'static,
) -> Result<(), SlsError> {
    let (body, limit) = (ctx.body.clone(), ctx.raw_limit);
    let parse_and_write = move || -> Result<(), SlsError> {
        let batch = parse_json_batch(&decompress(ct, &body, raw_size, limit)?)?;
        Ok(write(batch)?)
    };
    blocking(move || Ok(parse_and_write())).await?
}

/// A field's value: a string as it is, `null` as empty, anything else as its JSON text as sent.
fn text<E: de::Error>(raw: &RawValue) -> Result<String, E> {
    let s = raw.get();
    match s.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(s).map_err(E::custom),
        _ if s == "null" => Ok(String::new()),
        _ => Ok(s.to_string()),
    }
}

/// Counts the fields and tags of one body against [`MAX_JSON_FIELDS`].
struct Budget(Cell<usize>);

impl Budget {
    fn take<E: de::Error>(&self) -> Result<(), E> {
        let n = self.0.get() + 1;
        if n > MAX_JSON_FIELDS {
            return Err(E::custom(format!(
                "the JSON body holds more than {MAX_JSON_FIELDS} fields and tags"
            )));
        }
        self.0.set(n);
        Ok(())
    }
}

/// An object of fields (a log, or `__tags__`), each value as [`text`] makes it.
struct Fields<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Fields<'_> {
    type Value = Vec<(String, String)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_> {
    type Value = Vec<(String, String)>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object of fields")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            self.0.take()?;
            let v: &RawValue = map.next_value()?;
            out.push((k, text(v)?));
        }
        Ok(out)
    }
}

/// `__logs__`: an array of at most [`MAX_JSON_LOGS`] objects of fields.
struct Logs<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Logs<'_> {
    type Value = Vec<Vec<(String, String)>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Logs<'_> {
    type Value = Vec<Vec<(String, String)>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("__logs__ as an array of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(log) = seq.next_element_seed(Fields(self.0))? {
            if out.len() == MAX_JSON_LOGS {
                return Err(de::Error::custom(format!(
                    "__logs__ holds more than {MAX_JSON_LOGS} logs"
                )));
            }
            out.push(log);
        }
        Ok(out)
    }
}

/// The whole body.
struct Batch<'b>(&'b Budget);

impl<'de> Visitor<'de> for Batch<'_> {
    type Value = JsonBatch;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object with __logs__")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonBatch, A::Error> {
        let mut batch = JsonBatch::default();
        let mut logs = false;
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "__topic__" => batch.topic = Some(text(map.next_value::<&RawValue>()?)?),
                "__source__" => batch.source = Some(text(map.next_value::<&RawValue>()?)?),
                "__tags__" => batch.tags = map.next_value_seed(Fields(self.0))?,
                "__logs__" => {
                    batch.logs = map.next_value_seed(Logs(self.0))?;
                    logs = true;
                }
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key {:?}; use __topic__, __source__, __tags__ and __logs__",
                        excerpt(other)
                    )))
                }
            }
        }
        if !logs {
            return Err(de::Error::custom("the JSON body needs __logs__"));
        }
        Ok(batch)
    }
}

/// Parses a JSON LogGroup: `__topic__`, `__source__`, `__tags__` and `__logs__` (required);
/// any other key is refused. It is read straight into its fields, at most
/// [`MAX_JSON_LOGS`] logs and [`MAX_JSON_FIELDS`] fields and tags, so what the parse holds
/// is about what the body says, whatever it holds.
pub fn parse_json_batch(body: &[u8]) -> Result<JsonBatch, SlsError> {
    let budget = Budget(Cell::new(0));
    let mut d = serde_json::Deserializer::from_slice(body);
    let batch = d
        .deserialize_map(Batch(&budget))
        .and_then(|b| d.end().map(|()| b))
        .map_err(|e| {
            SlsError::new(
                SlsCode::PostBodyInvalid,
                format!(
                    "the JSON body is not a LogGroup: {}",
                    excerpt(&e.to_string())
                ),
            )
        })?;
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

    #[test]
    fn what_a_body_can_make_the_parse_hold_is_bounded() {
        let logs = |n: usize| format!(r#"{{"__logs__":[{}]}}"#, vec![r#"{"a":0}"#; n].join(","));
        assert_eq!(
            parse_json_batch(logs(MAX_JSON_LOGS).as_bytes())
                .unwrap()
                .logs
                .len(),
            MAX_JSON_LOGS
        );
        let e = parse_json_batch(logs(MAX_JSON_LOGS + 1).as_bytes()).unwrap_err();
        assert!(e.message.contains("more than 4096 logs"), "{}", e.message);
        let fields: Vec<String> = (0..=MAX_JSON_FIELDS)
            .map(|i| format!(r#""f{i}":0"#))
            .collect();
        let wide = format!(r#"{{"__logs__":[{{{}}}]}}"#, fields.join(","));
        let e = parse_json_batch(wide.as_bytes()).unwrap_err();
        assert!(e.message.contains("fields and tags"), "{}", e.message);
        // A value is kept as the text it was sent as; a document is one object, nothing after.
        let b = parse_json_batch(br#"{"__logs__":[{"o": {"x" : [1, 2]}}]}"#).unwrap();
        assert_eq!(b.logs[0][0].1, r#"{"x" : [1, 2]}"#);
        assert!(parse_json_batch(br#"{"__logs__":[]} {}"#).is_err());
    }
}
