//! Index configuration: CreateIndex, GetIndex, UpdateIndex, DeleteIndex (`/logstores/{ls}/index`),
//! and the SLS index JSON read into and written from the stored configuration (design §17).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{Ctx, Reply};
use crate::excerpt::excerpt;
use crate::http::error::SlsError;
use crate::http::json;
use crate::meta::index::{FieldIndex, IndexConfig, KeyIndex, KeyType, LineIndex, TextRules};
use crate::service::{blocking, Service};

/// A member of the index JSON of the wrong type.
fn wrong(place: &str, expected: &str) -> SlsError {
    SlsError::param(format!("{place} must be {expected}"))
}

fn object<'a>(v: &'a Value, place: &str) -> Result<&'a Map<String, Value>, SlsError> {
    v.as_object().ok_or_else(|| wrong(place, "an object"))
}

fn opt_bool(o: &Map<String, Value>, key: &str, place: &str) -> Result<Option<bool>, SlsError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong(&format!("{place}.{key}"), "a boolean")),
    }
}

fn opt_str(o: &Map<String, Value>, key: &str, place: &str) -> Result<Option<String>, SlsError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong(&format!("{place}.{key}"), "a string")),
    }
}

fn opt_strings(
    o: &Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<Vec<String>>, SlsError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| wrong(&format!("{place}.{key}"), "an array of strings"))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(wrong(&format!("{place}.{key}"), "an array of strings")),
    }
}

/// The members of `o` not named in `known`, as they are.
fn extra(o: &Map<String, Value>, known: &[&str]) -> BTreeMap<String, Value> {
    o.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

const TEXT: [&str; 3] = ["token", "caseSensitive", "chn"];
const KEY: [&str; 7] = [
    "type",
    "alias",
    "doc_value",
    "json_keys",
    "index_all",
    "max_depth",
    "text",
];

/// `token`, `caseSensitive` and `chn`, when `token` is there.
fn text_rules(o: &Map<String, Value>, place: &str) -> Result<Option<TextRules>, SlsError> {
    let Some(token) = opt_strings(o, "token", place)? else {
        return Ok(None);
    };
    Ok(Some(TextRules {
        token,
        case_sensitive: opt_bool(o, "caseSensitive", place)?,
        chn: opt_bool(o, "chn", place)?,
    }))
}

fn key_type(o: &Map<String, Value>, place: &str) -> Result<KeyType, SlsError> {
    match opt_str(o, "type", place)?.as_deref() {
        Some("text") => Ok(KeyType::Text),
        Some("long") => Ok(KeyType::Long),
        Some("double") => Ok(KeyType::Double),
        Some("json") => Ok(KeyType::Json),
        Some(other) => Err(SlsError::param(format!(
            "{place}.type {:?} is not text, long, double or json",
            excerpt(other)
        ))),
        None => Err(SlsError::param(format!("{place}.type is required"))),
    }
}

/// The rules of a field or json sub-key at `place`.
fn field_index(o: &Map<String, Value>, place: &str) -> Result<FieldIndex, SlsError> {
    Ok(FieldIndex {
        kind: key_type(o, place)?,
        text: text_rules(o, place)?,
        alias: opt_str(o, "alias", place)?,
        doc_value: opt_bool(o, "doc_value", place)?,
        extra: extra(o, &[&TEXT[..], &KEY[..]].concat()),
    })
}

fn key_index(v: &Value, place: &str) -> Result<KeyIndex, SlsError> {
    let o = object(v, place)?;
    let mut json_keys = BTreeMap::new();
    if let Some(j) = o.get("json_keys").filter(|v| !v.is_null()) {
        for (sub, jv) in object(j, &format!("{place}.json_keys"))? {
            let p = format!("{place}.json_keys.{}", excerpt(sub));
            json_keys.insert(sub.clone(), field_index(object(jv, &p)?, &p)?);
        }
    }
    Ok(KeyIndex {
        field: field_index(o, place)?,
        json_keys,
        index_all: opt_bool(o, "index_all", place)?,
        max_depth: match o.get("max_depth") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| wrong(&format!("{place}.max_depth"), "an integer"))?,
            ),
        },
    })
}

/// Reads the index JSON of CreateIndex and UpdateIndex. Members that GetIndex adds (`ttl`,
/// `lastModifyTime`, `index_mode`, `storage`) and members Cairn does not know are ignored, so
/// that what GetIndex answered can be sent back.
pub fn parse_index(body: &Value) -> Result<IndexConfig, SlsError> {
    let o = object(body, "the index")?;
    let line = match o.get("line").filter(|v| !v.is_null()) {
        None => None,
        Some(l) => {
            let lo = object(l, "line")?;
            Some(LineIndex {
                text: text_rules(lo, "line")?.unwrap_or_default(),
                include_keys: opt_strings(lo, "include_keys", "line")?,
                exclude_keys: opt_strings(lo, "exclude_keys", "line")?,
                extra: extra(
                    lo,
                    &[&TEXT[..], &["include_keys", "exclude_keys"][..]].concat(),
                ),
            })
        }
    };
    let mut keys = BTreeMap::new();
    if let Some(k) = o.get("keys").filter(|v| !v.is_null()) {
        for (name, kv) in object(k, "keys")? {
            keys.insert(
                name.clone(),
                key_index(kv, &format!("keys.{}", excerpt(name)))?,
            );
        }
    }
    let max_text_len = match o.get("max_text_len") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| wrong("max_text_len", "a positive integer"))?,
        ),
    };
    Ok(IndexConfig {
        line,
        keys,
        max_text_len,
        log_reduce: opt_bool(o, "log_reduce", "the index")?,
        log_reduce_white_list: opt_strings(o, "log_reduce_white_list", "the index")?,
        log_reduce_black_list: opt_strings(o, "log_reduce_black_list", "the index")?,
        scan_index: opt_bool(o, "scan_index", "the index")?,
        last_modify_time: 0,
        extra: extra(
            o,
            &[
                "line",
                "keys",
                "max_text_len",
                "log_reduce",
                "log_reduce_white_list",
                "log_reduce_black_list",
                "scan_index",
                // What GetIndex adds.
                "ttl",
                "lastModifyTime",
                "index_mode",
                "storage",
            ],
        ),
    })
}

/// Inserts `value` under `name` when there is one: the index JSON answers what was given.
fn put<T: serde::Serialize>(v: &mut Map<String, Value>, name: &str, value: Option<T>) {
    if let Some(x) = value {
        v.insert(name.into(), json!(x));
    }
}

/// Tokens and the text flags, which are always answered (clients such as the Rust SDK need
/// them), `false` when not given.
fn text_json(t: &TextRules, v: &mut Map<String, Value>) {
    v.insert("token".into(), json!(t.token));
    v.insert(
        "caseSensitive".into(),
        json!(t.case_sensitive.unwrap_or(false)),
    );
    v.insert("chn".into(), json!(t.chn.unwrap_or(false)));
}

/// The JSON of a field's or sub-key's rules.
fn field_json(f: &FieldIndex) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("type".into(), json!(f.kind.as_str()));
    if let Some(t) = &f.text {
        text_json(t, &mut v);
    }
    put(&mut v, "alias", f.alias.as_ref());
    v.insert("doc_value".into(), json!(f.doc_value.unwrap_or(false)));
    v.extend(f.extra.clone());
    v
}

/// The index JSON GetIndex answers; `ttl` is the logstore's.
pub fn index_json(cfg: &IndexConfig, ttl: u32) -> Value {
    let mut v = Map::new();
    if let Some(line) = &cfg.line {
        let mut l = Map::new();
        text_json(&line.text, &mut l);
        put(&mut l, "include_keys", line.include_keys.as_ref());
        put(&mut l, "exclude_keys", line.exclude_keys.as_ref());
        l.extend(line.extra.clone());
        v.insert("line".into(), Value::Object(l));
    }
    let mut keys = Map::new();
    for (name, k) in &cfg.keys {
        let mut kv = field_json(&k.field);
        if k.field.kind == KeyType::Json {
            let jk: Map<String, Value> = k
                .json_keys
                .iter()
                .map(|(sub, j)| (sub.clone(), Value::Object(field_json(j))))
                .collect();
            kv.insert("json_keys".into(), Value::Object(jk));
            kv.insert("index_all".into(), json!(k.index_all.unwrap_or(true)));
            kv.insert("max_depth".into(), json!(k.max_depth.unwrap_or(-1)));
        }
        keys.insert(name.clone(), Value::Object(kv));
    }
    v.insert("keys".into(), Value::Object(keys));
    put(&mut v, "max_text_len", cfg.max_text_len);
    put(&mut v, "log_reduce", cfg.log_reduce);
    put(
        &mut v,
        "log_reduce_white_list",
        cfg.log_reduce_white_list.as_ref(),
    );
    put(
        &mut v,
        "log_reduce_black_list",
        cfg.log_reduce_black_list.as_ref(),
    );
    put(&mut v, "scan_index", cfg.scan_index);
    v.extend(cfg.extra.clone());
    v.insert("ttl".into(), json!(ttl));
    v.insert("lastModifyTime".into(), json!(cfg.last_modify_time));
    v.insert("index_mode".into(), json!("v2"));
    v.insert("storage".into(), json!("pg"));
    Value::Object(v)
}

/// What CreateIndex and UpdateIndex do with the configuration they carry.
type Write = fn(&Service, &str, &str, IndexConfig) -> crate::service::Result<()>;

/// CreateIndex and UpdateIndex: parse the configuration, hand it to `write`.
async fn write(ctx: Ctx, ls: &str, write: Write) -> Reply {
    let project = ctx.project()?;
    let cfg = parse_index(&ctx.stored_json_body()?)?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || write(&svc, &project, &ls, cfg)).await?;
    Ok(json::empty())
}

pub(super) async fn create(ctx: Ctx, ls: &str) -> Reply {
    write(ctx, ls, Service::create_index).await
}

pub(super) async fn get(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let (cfg, ttl, progress) = ctx.state.svc.index_status(&project, ls)?;
    let mut r = json::response(&index_json(&cfg, ttl));
    // Not in SLS, which never indexes logs written before the index: how far the background
    // indexer reached (design §18.6). A header, so that SDKs and the CLI show the body as SLS
    // answers it.
    let progress = json!({
        "indexedLogGroups": progress.indexed,
        "totalLogGroups": progress.total,
        "complete": progress.indexed >= progress.total,
    });
    if let Ok(v) = axum::http::HeaderValue::from_str(&progress.to_string()) {
        r.headers_mut().insert("x-cairn-indexing", v);
    }
    Ok(r)
}

pub(super) async fn update(ctx: Ctx, ls: &str) -> Reply {
    write(ctx, ls, Service::update_index).await
}

pub(super) async fn delete(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || svc.delete_index(&project, &ls)).await?;
    Ok(json::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_json_round_trips() {
        let doc = json!({
            "line": {"token": [",", " ", "\n"], "caseSensitive": true, "chn": false,
                     "exclude_keys": ["secret"]},
            "keys": {
                "status": {"type": "long", "doc_value": true, "alias": "code"},
                "latency": {"type": "double", "doc_value": true},
                "path": {"type": "text", "token": ["/", "?"], "caseSensitive": false, "chn": false,
                         "doc_value": true},
                "req": {"type": "json", "token": [","], "caseSensitive": false, "chn": false,
                        "doc_value": false, "index_all": true, "max_depth": 3,
                        "json_keys": {"user.id": {"type": "long", "doc_value": true},
                                      "ua": {"type": "text", "token": [" "], "caseSensitive": false,
                                             "chn": false, "doc_value": true}}}
            },
            "max_text_len": 2048,
            "log_reduce": false,
            "ttl": 30, "lastModifyTime": 5, "index_mode": "v2", "storage": "pg", "unknown": 1
        });
        let cfg = parse_index(&doc).unwrap();
        let mut back = index_json(&cfg, 30);
        back["lastModifyTime"] = json!(5);
        // Members Cairn does not know come back as they were sent.
        assert_eq!(back, doc);
        assert_eq!(parse_index(&back).unwrap(), cfg);
    }

    #[test]
    fn flags_not_given_are_answered_with_their_defaults() {
        let cfg = parse_index(&json!({
            "line": {"token": [","]},
            "keys": {"t": {"type": "text", "token": [" "]}, "n": {"type": "long"},
                     "j": {"type": "json", "token": [","]}}
        }))
        .unwrap();
        let v = index_json(&cfg, 7);
        assert_eq!(
            v["line"],
            json!({"token": [","], "caseSensitive": false, "chn": false})
        );
        assert_eq!(
            v["keys"]["t"],
            json!({"type": "text", "token": [" "], "caseSensitive": false, "chn": false,
                   "doc_value": false})
        );
        assert_eq!(v["keys"]["n"], json!({"type": "long", "doc_value": false}));
        assert_eq!(
            v["keys"]["j"],
            json!({"type": "json", "token": [","], "caseSensitive": false, "chn": false,
                   "doc_value": false, "json_keys": {}, "index_all": true, "max_depth": -1})
        );
    }

    #[test]
    fn members_of_the_wrong_type_are_named() {
        for (doc, named) in [
            (json!([]), "the index"),
            (json!({"line": "x"}), "line"),
            (json!({"line": {"token": ","}}), "line.token"),
            (json!({"keys": {"a": {"type": "date"}}}), "keys.a.type"),
            (json!({"keys": {"a": {}}}), "keys.a.type"),
            (
                json!({"keys": {"a": {"type": "long", "doc_value": "yes"}}}),
                "keys.a.doc_value",
            ),
            (json!({"max_text_len": -1}), "max_text_len"),
        ] {
            let e = parse_index(&doc).unwrap_err();
            assert_eq!(e.code.as_str(), "ParameterInvalid");
            assert!(e.message.contains(named), "{doc}: {}", e.message);
        }
    }
}
