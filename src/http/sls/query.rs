//! Query and analysis: GetLogs (`GET /logstores/{ls}?type=log`), GetLogsV2
//! (`POST /logstores/{ls}/logs`), GetHistograms (`type=histogram`, also on `/index`),
//! GetContextLogs (`type=context_log`), ListTopics (`type=topic`) and GetProjectLogs
//! (`GET /logs`). Design §18.4 lists what each answers.

use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::Response;
use cairn_proto::CompressType;
use serde_json::{json, Map, Value};

use super::{Ctx, Reply};
use crate::excerpt::excerpt;
use crate::http::error::SlsError;
use crate::http::json;
use crate::service::{blocking, LogQuery, LogsAnswer, Row};

/// A boolean query parameter: `true`/`false` in any case (the Python SDKs send `True`).
fn flag(ctx: &Ctx, key: &str) -> Result<Option<bool>, SlsError> {
    match ctx.query.get(key) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(SlsError::param(format!(
            "{key} {:?} must be true or false",
            excerpt(v)
        ))),
    }
}

fn int(ctx: &Ctx, key: &str) -> Result<Option<i64>, SlsError> {
    match ctx.query.get(key) {
        None | Some("") => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| SlsError::param(format!("{key} {:?} must be an integer", excerpt(v)))),
    }
}

fn required(v: Option<i64>, key: &str) -> Result<i64, SlsError> {
    v.ok_or_else(|| SlsError::param(format!("{key} is required (unix seconds)")))
}

fn count(v: Option<i64>, key: &str, default: u64) -> Result<u64, SlsError> {
    match v {
        None => Ok(default),
        Some(n) if n >= 0 => Ok(n as u64),
        Some(n) => Err(SlsError::param(format!("{key} {n} must not be negative"))),
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn row_json(row: &Row) -> Value {
    let mut m = Map::with_capacity(row.len());
    for (k, v) in row {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    Value::Object(m)
}

/// GetLogs (and GetProjectLogs): a JSON array of logs or rows, its state in headers.
fn v1_response(a: &LogsAnswer) -> Response<Body> {
    let rows: Vec<Value> = a.rows.iter().map(row_json).collect();
    let mut r = json::response(&Value::Array(rows));
    let info = json!({
        "mode": 0,
        "keys": a.keys,
        "terms": [],
        "limited": "0",
        "marker": "",
        "scanBytes": 0,
        "isAccurate": 1,
        "columnTypes": a.column_types,
        "phraseQueryInfo": {"scanAll": "false", "beginOffset": "0", "endOffset": "0", "endTime": "0"},
    });
    let h = r.headers_mut();
    h.insert(
        "x-log-progress",
        HeaderValue::from_static(a.progress.as_str()),
    );
    h.insert("x-log-count", hv(&a.rows.len().to_string()));
    h.insert("x-log-processed-rows", hv(&a.processed_rows.to_string()));
    h.insert(
        "x-log-elapsed-millisecond",
        hv(&a.elapsed.as_millis().to_string()),
    );
    h.insert(
        "x-log-has-sql",
        HeaderValue::from_static(if a.has_sql { "true" } else { "false" }),
    );
    h.insert("x-log-where-query", hv(&a.where_query));
    h.insert("x-log-agg-query", hv(&a.agg_query));
    h.insert("x-log-cpu-sec", HeaderValue::from_static("0"));
    h.insert("x-log-cpu-cores", HeaderValue::from_static("0"));
    h.insert("x-log-query-info", hv(&info.to_string()));
    r
}

async fn run(ctx: &Ctx, ls: &str, q: LogQuery) -> Result<LogsAnswer, SlsError> {
    let project = ctx.project()?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    Ok(blocking(move || svc.get_logs(&project, &ls, &q)).await?)
}

/// GetLogs: `GET /logstores/{ls}?type=log&from&to[&query&topic&line&offset&reverse]`.
pub(super) async fn get_logs(ctx: Ctx, ls: &str) -> Reply {
    let q = LogQuery {
        from: required(int(&ctx, "from")?, "from")?,
        to: required(int(&ctx, "to")?, "to")?,
        query: ctx.query.get("query").unwrap_or("").to_string(),
        topic: ctx
            .query
            .get("topic")
            .filter(|t| !t.is_empty())
            .map(String::from),
        line: count(int(&ctx, "line")?, "line", 100)?,
        offset: count(int(&ctx, "offset")?, "offset", 0)?,
        reverse: flag(&ctx, "reverse")?.unwrap_or(false),
    };
    let answer = run(&ctx, ls, q).await?;
    Ok(v1_response(&answer))
}

/// A member of the GetLogsV2 body: an integer, or an integer in a string.
fn body_int(body: &Value, key: &str) -> Result<Option<i64>, SlsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| SlsError::param(format!("{key} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| SlsError::param(format!("{key} must be an integer"))),
        Some(_) => Err(SlsError::param(format!("{key} must be an integer"))),
    }
}

fn body_bool(body: &Value, key: &str) -> Result<Option<bool>, SlsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(SlsError::param(format!("{key} must be true or false"))),
    }
}

fn body_str<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, SlsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SlsError::param(format!("{key} must be a string"))),
    }
}

/// GetLogsV2: `POST /logstores/{ls}/logs` with a JSON body (whatever its Content-Type says);
/// answers `{meta, data}`, compressed as `Accept-Encoding` asks.
pub(super) async fn get_logs_v2(ctx: Ctx, ls: &str) -> Reply {
    let body = ctx.json_body()?;
    if !body.is_object() {
        return Err(SlsError::param("the GetLogs body must be a JSON object"));
    }
    let q = LogQuery {
        from: required(body_int(&body, "from")?, "from")?,
        to: required(body_int(&body, "to")?, "to")?,
        query: body_str(&body, "query")?.unwrap_or("").to_string(),
        topic: body_str(&body, "topic")?
            .filter(|t| !t.is_empty())
            .map(String::from),
        line: count(
            body_int(&body, "line")?.or(body_int(&body, "lines")?),
            "line",
            100,
        )?,
        offset: count(body_int(&body, "offset")?, "offset", 0)?,
        reverse: body_bool(&body, "reverse")?.unwrap_or(false),
    };
    let a = run(&ctx, ls, q).await?;
    let data: Vec<Value> = a.rows.iter().map(row_json).collect();
    let meta = json!({
        "progress": a.progress.as_str(),
        "count": a.rows.len(),
        "processedRows": a.processed_rows,
        "elapsedMillisecond": a.elapsed.as_millis() as u64,
        "hasSQL": a.has_sql,
        "whereQuery": a.where_query,
        "aggQuery": a.agg_query,
        "cpuSec": 0,
        "cpuCores": 0,
        "keys": a.keys,
        "terms": [],
        "limited": 0,
        "marker": "",
        "mode": 0,
        "isAccurate": true,
        "columnTypes": a.column_types,
        "telementryType": "logging",
        "powerSql": false,
        "insertedSQL": "",
        "processedBytes": 0,
        "scanBytes": 0,
        "phraseQueryInfo": {"scanAll": false, "beginOffset": 0, "endOffset": 0, "endTime": 0},
        "highlights": [],
    });
    let raw = serde_json::to_vec(&json!({"meta": meta, "data": data})).expect("json");
    Ok(compressed(&ctx, raw))
}

/// `raw` compressed as the client's `Accept-Encoding` asks (none when it asks for nothing
/// Cairn writes), with `x-log-compresstype` and `x-log-bodyrawsize` only when compressed.
fn compressed(ctx: &Ctx, raw: Vec<u8>) -> Response<Body> {
    let ct = match ctx.header("accept-encoding") {
        None => CompressType::None,
        v => CompressType::from_accept_encoding(v),
    };
    let Some(name) = ct.as_header() else {
        return json::with_status(axum::http::StatusCode::OK, raw);
    };
    let body = cairn_proto::compress(ct, &raw);
    let mut r = json::with_status(axum::http::StatusCode::OK, body);
    let h = r.headers_mut();
    h.insert("x-log-compresstype", HeaderValue::from_static(name));
    h.insert("x-log-bodyrawsize", hv(&raw.len().to_string()));
    r
}

/// GetHistograms: `GET /logstores/{ls}[/index]?type=histogram&from&to[&query&topic]`.
pub(super) async fn get_histograms(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let from = required(int(&ctx, "from")?, "from")?;
    let to = required(int(&ctx, "to")?, "to")?;
    let query = ctx.query.get("query").unwrap_or("").to_string();
    let topic = ctx
        .query
        .get("topic")
        .filter(|t| !t.is_empty())
        .map(String::from);
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let buckets =
        blocking(move || svc.get_histograms(&project, &ls, from, to, topic.as_deref(), &query))
            .await?;
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    let complete = buckets
        .iter()
        .all(|b| b.progress == crate::service::Progress::Complete);
    let body: Vec<Value> = buckets
        .iter()
        .map(|b| json!({"from": b.from, "to": b.to, "count": b.count, "progress": b.progress.as_str()}))
        .collect();
    let mut r = json::response(&Value::Array(body));
    let h = r.headers_mut();
    h.insert(
        "x-log-progress",
        HeaderValue::from_static(if complete { "Complete" } else { "Incomplete" }),
    );
    h.insert("x-log-count", hv(&total.to_string()));
    Ok(r)
}

/// GetContextLogs: `GET /logstores/{ls}?type=context_log&pack_id&pack_meta&back_lines&forward_lines`.
pub(super) async fn get_context_logs(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let pack_meta = ctx
        .query
        .get("pack_meta")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            SlsError::param("pack_meta is required (from a GetLogs answer's __pack_meta__)")
        })?
        .to_string();
    if ctx.query.get("pack_id").is_none_or(str::is_empty) {
        return Err(SlsError::param(
            "pack_id is required (from a GetLogs answer's __tag__:__pack_id__)",
        ));
    }
    let back = count(int(&ctx, "back_lines")?, "back_lines", 0)?;
    let forward = count(int(&ctx, "forward_lines")?, "forward_lines", 0)?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let a =
        blocking(move || svc.get_context_logs(&project, &ls, &pack_meta, back, forward)).await?;
    let logs: Vec<Value> = a.logs.iter().map(row_json).collect();
    Ok(json::response(&json!({
        "logs": logs,
        "total_lines": a.logs.len(),
        "back_lines": a.back_lines,
        "forward_lines": a.forward_lines,
        "progress": "Complete",
    })))
}

/// ListTopics: `GET /logstores/{ls}?type=topic[&token&line]`.
pub(super) async fn list_topics(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let token = ctx.query.get("token").unwrap_or("").to_string();
    let line = count(int(&ctx, "line")?, "line", 100)?.clamp(1, 1000) as usize;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let (topics, next) = blocking(move || svc.list_topics(&project, &ls, &token, line)).await?;
    let mut r = json::response(&json!(topics));
    let h = r.headers_mut();
    h.insert("x-log-count", hv(&topics.len().to_string()));
    h.insert("x-log-nexttoken", hv(next.as_deref().unwrap_or("")));
    Ok(r)
}

/// GetProjectLogs: `GET /logs?query=select … from <logstore> …`.
pub(super) async fn get_project_logs(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let query = ctx
        .query
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| SlsError::param("query is required: select … from <logstore> …"))?
        .to_string();
    let svc = ctx.state.svc.clone();
    let a = blocking(move || svc.get_project_logs(&project, &query)).await?;
    Ok(v1_response(&a))
}
