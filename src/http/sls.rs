//! SLS routes: parse, authenticate, call the service, answer in SLS's wire format.

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use cairn_proto::{CodecError, CompressType};
use serde_json::{json, Value};

use super::body::{check_declared, read_body, BodyError};
use super::codes::SlsCode;
use super::error::SlsError;
use super::request::{percent_decode, project_from_host, request_host, Query};
use super::{sls_auth, AppState};
use crate::config::BODY_SLACK;
use crate::excerpt::excerpt;
use crate::meta::{LogstoreRec, ProjectRec, ShardRec, ShardStatus};
use crate::service::{
    parse_hash_key, CursorFrom, GroupSpec, LogstoreSpec, ProjectSpec, Pull, PutTarget,
};

type Reply = Result<Response<Body>, SlsError>;

/// Handles one SLS request.
pub async fn handle(state: AppState, req: Request, request_id: String) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut resp = match route(&state, parts, body).await {
        Ok(r) => r,
        Err(e) => {
            // 503 ServerBusy is load, not a fault: not logged as an error (a flood would
            // otherwise flood the log too).
            if e.status.is_server_error() && e.status != StatusCode::SERVICE_UNAVAILABLE {
                tracing::error!(code = e.code.as_str(), message = %e.message, request_id, "request failed");
            } else {
                tracing::debug!(code = e.code.as_str(), message = %e.message, request_id, "request rejected");
            }
            let mut r = Response::new(Body::from(e.body(&request_id)));
            *r.status_mut() = e.status;
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-log-requestid", v);
    }
    resp.headers_mut()
        .insert("server", HeaderValue::from_static("cairn"));
    resp
}

/// A request after parsing, before routing.
struct Ctx {
    state: AppState,
    parts: Parts,
    project: Option<String>,
    query: Query,
    body: Bytes,
}

impl Ctx {
    fn project(&self) -> Result<String, SlsError> {
        self.project.clone().ok_or_else(|| {
            SlsError::param(
                "this operation needs a project: address it as Host: <project>.<endpoint>",
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json_body(&self) -> Result<Value, SlsError> {
        if self.body.is_empty() {
            return Err(SlsError::new(
                SlsCode::PostBodyInvalid,
                "request body is empty; a JSON object is expected",
            ));
        }
        let v: Value = serde_json::from_slice(&self.body).map_err(|e| {
            SlsError::new(
                SlsCode::PostBodyInvalid,
                format!(
                    "request body is not valid JSON: {}",
                    excerpt(&e.to_string())
                ),
            )
        })?;
        Ok(v)
    }
}

fn body_error(e: BodyError) -> SlsError {
    match e {
        BodyError::TooLarge {
            declared: Some(n),
            limit,
        } => SlsError::new(
            SlsCode::PostBodyTooLarge,
            format!("request body of {n} bytes is larger than the limit of {limit} bytes"),
        ),
        BodyError::TooLarge {
            declared: None,
            limit,
        } => SlsError::new(
            SlsCode::PostBodyTooLarge,
            format!("request body is larger than the limit of {limit} bytes"),
        ),
        BodyError::Busy => SlsError::new(
            SlsCode::ServerBusy,
            "the server is receiving too many request bodies at once; retry later",
        ),
        BodyError::Timeout => SlsError::new(
            SlsCode::RequestTimeout,
            "the request body did not arrive in time",
        ),
        BodyError::Io(e) => SlsError::new(SlsCode::PostBodyInvalid, format!("reading body: {e}")),
    }
}

async fn route(state: &AppState, parts: Parts, body: Body) -> Reply {
    let limit = state.max_raw_body + BODY_SLACK;
    // Refused before anything is read: a declared length over the limit, then a request whose
    // head does not authenticate (design §14, §15).
    check_declared(&body, limit).map_err(body_error)?;
    let check = if state.auth_enabled {
        Some(sls_auth::verify_head(state, &parts)?)
    } else {
        None
    };
    // Holds the body's share of the body budget until the request is answered.
    let read = read_body(body, limit, &state.limits)
        .await
        .map_err(body_error)?;
    let body = read.bytes.clone();
    if let Some(check) = &check {
        sls_auth::verify_body(state, &parts, check, &body)?;
    }
    let project = request_host(&parts).and_then(|h| project_from_host(&h, &state.endpoints));
    let query = Query::parse(parts.uri.query());
    let segs: Vec<String> = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let method = parts.method.clone();
    let ctx = Ctx {
        state: state.clone(),
        parts,
        project,
        query,
        body,
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (&method, segs.as_slice()) {
        (m, []) if m == Method::GET => {
            if ctx.project.is_some() {
                get_project(ctx).await
            } else {
                list_projects(ctx).await
            }
        }
        (m, []) if m == Method::POST => create_project(ctx).await,
        (m, []) if m == Method::PUT => update_project(ctx).await,
        (m, []) if m == Method::DELETE => delete_project(ctx).await,
        (m, ["logstores"]) if m == Method::GET => list_logstores(ctx).await,
        (m, ["logstores"]) if m == Method::POST => create_logstore(ctx).await,
        (m, ["logstores", ls]) if m == Method::GET => get_logstore(ctx, ls).await,
        (m, ["logstores", ls]) if m == Method::PUT => update_logstore(ctx, ls).await,
        (m, ["logstores", ls]) if m == Method::DELETE => delete_logstore(ctx, ls).await,
        (m, ["logstores", ls]) if m == Method::POST => {
            put_logs(ctx, ls, PutTarget::LoadBalance).await
        }
        (m, ["logstores", ls, "shards"]) if m == Method::GET => list_shards(ctx, ls).await,
        (m, ["logstores", ls, "shards", "lb"]) if m == Method::POST => {
            put_logs(ctx, ls, PutTarget::LoadBalance).await
        }
        (m, ["logstores", ls, "shards", "route"]) if m == Method::POST => {
            let key = ctx
                .query
                .get("key")
                .or_else(|| ctx.header("x-log-hashkey"))
                .ok_or_else(|| SlsError::param("route needs a key query parameter"))?;
            let key = parse_hash_key(key)?;
            put_logs(ctx, ls, PutTarget::HashKey(key)).await
        }
        (m, ["logstores", ls, "shards", shard]) if m == Method::GET => {
            let shard = parse_shard_id(shard)?;
            match ctx.query.get("type") {
                Some("cursor") => get_cursor(ctx, ls, shard).await,
                Some("cursor_time") => get_cursor_time(ctx, ls, shard).await,
                Some("log") | Some("logs") => pull_logs(ctx, ls, shard).await,
                other => Err(SlsError::param(format!(
                    "type {:?} is not supported; use cursor, cursor_time, log or logs",
                    other.map(excerpt)
                ))),
            }
        }
        (m, ["logstores", ls, "shards", shard]) if m == Method::POST => {
            let shard = parse_shard_id(shard)?;
            match ctx.query.get("action") {
                Some("split") => split_shard(ctx, ls, shard).await,
                Some("merge") => merge_shards(ctx, ls, shard).await,
                other => Err(SlsError::param(format!(
                    "action {:?} is not supported; use split or merge",
                    other.map(excerpt)
                ))),
            }
        }
        (m, ["logstores", ls, "consumergroups"]) if m == Method::GET => list_groups(ctx, ls).await,
        (m, ["logstores", ls, "consumergroups"]) if m == Method::POST => {
            create_group(ctx, ls).await
        }
        (m, ["logstores", ls, "consumergroups", cg]) if m == Method::PUT => {
            update_group(ctx, ls, cg).await
        }
        (m, ["logstores", ls, "consumergroups", cg]) if m == Method::DELETE => {
            delete_group(ctx, ls, cg).await
        }
        (m, ["logstores", ls, "consumergroups", cg]) if m == Method::GET => {
            get_checkpoints(ctx, ls, cg).await
        }
        (m, ["logstores", ls, "consumergroups", cg]) if m == Method::POST => {
            match ctx.query.get("type") {
                Some("heartbeat") => heartbeat(ctx, ls, cg).await,
                Some("checkpoint") => update_checkpoint(ctx, ls, cg).await,
                other => Err(SlsError::param(format!(
                    "type {:?} is not supported; use heartbeat or checkpoint",
                    other.map(excerpt)
                ))),
            }
        }
        (m, ["logstores", ls, "shards", shard]) if m == Method::DELETE => {
            let shard = parse_shard_id(shard)?;
            delete_shard(ctx, ls, shard).await
        }
        _ => Err(SlsError::new(
            SlsCode::NoSuchApi,
            format!("no API {} {}", method, excerpt(ctx.parts.uri.path())),
        )),
    }
}

fn parse_shard_id(s: &str) -> Result<u32, SlsError> {
    s.parse::<u32>().map_err(|_| {
        SlsError::param(format!(
            "shard id {:?} is not a non-negative integer",
            excerpt(s)
        ))
    })
}

/// Runs a service call on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SlsError> + Send + 'static,
) -> Result<T, SlsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SlsError::new(SlsCode::InternalServerError, format!("worker failed: {e}")))?
}

fn empty() -> Reply {
    Ok(Response::new(Body::empty()))
}

fn json_reply(v: &Value) -> Reply {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).expect("json")));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    Ok(r)
}

fn time_string(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn project_json(p: &ProjectRec) -> Value {
    json!({
        "projectName": p.name,
        "description": p.description,
        "status": "Normal",
        "region": "cairn",
        "owner": "",
        "createTime": time_string(p.create_time),
        "lastModifyTime": time_string(p.last_modify_time),
        "resourceGroupId": p.resource_group_id,
        "projectId": p.id,
        // Always present: the Rust SDK fails to parse a project without it. SLS answers "LRS"
        // when none was chosen at creation.
        "dataRedundancyType": if p.data_redundancy_type.is_empty() {
            "LRS"
        } else {
            p.data_redundancy_type.as_str()
        },
    })
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, SlsError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SlsError::param(format!("{key} must be a string"))),
    }
}

async fn create_project(ctx: Ctx) -> Reply {
    let v = ctx.json_body()?;
    let body_name = str_field(&v, "projectName")?.map(str::to_string);
    let name = match (&ctx.project, body_name) {
        (Some(h), Some(b)) if *h != b => {
            return Err(SlsError::param(format!(
                "projectName {:?} does not match the Host project {:?}",
                excerpt(&b),
                excerpt(h)
            )))
        }
        (Some(h), _) => h.clone(),
        (None, Some(b)) => b,
        (None, None) => return Err(SlsError::param("projectName is required")),
    };
    let spec = ProjectSpec {
        name,
        description: str_field(&v, "description")?
            .unwrap_or_default()
            .to_string(),
        resource_group_id: str_field(&v, "resourceGroupId")?
            .unwrap_or_default()
            .to_string(),
        data_redundancy_type: str_field(&v, "dataRedundancyType")?
            .unwrap_or_default()
            .to_string(),
    };
    let svc = ctx.state.svc.clone();
    blocking(move || Ok(svc.create_project(spec)?)).await?;
    empty()
}

async fn get_project(ctx: Ctx) -> Reply {
    let p = ctx.state.svc.get_project(&ctx.project()?)?;
    json_reply(&project_json(&p))
}

fn paging(q: &Query, max: usize) -> Result<(usize, usize), SlsError> {
    let num = |k: &str, d: usize| -> Result<usize, SlsError> {
        match q.get(k) {
            None | Some("") => Ok(d),
            Some(s) => s
                .parse()
                .map_err(|_| SlsError::param(format!("{k} must be a non-negative integer"))),
        }
    };
    let offset = num("offset", 0)?;
    let size = num("size", 100)?;
    if size > max {
        return Err(SlsError::param(format!("size {size} is larger than {max}")));
    }
    Ok((offset, size))
}

async fn list_projects(ctx: Ctx) -> Reply {
    let (offset, size) = paging(&ctx.query, 500)?;
    let filter = ctx.query.get("projectName").unwrap_or("");
    let page = ctx.state.svc.list_projects(offset, size, filter);
    let projects: Vec<Value> = page.projects.iter().map(project_json).collect();
    json_reply(&json!({"count": projects.len(), "total": page.total, "projects": projects}))
}

async fn update_project(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let v = ctx.json_body()?;
    let description = str_field(&v, "description")?
        .unwrap_or_default()
        .to_string();
    let svc = ctx.state.svc.clone();
    blocking(move || Ok(svc.update_project(&project, description)?)).await?;
    empty()
}

async fn delete_project(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let svc = ctx.state.svc.clone();
    blocking(move || Ok(svc.delete_project(&project)?)).await?;
    empty()
}

fn logstore_spec(v: &Value) -> Result<LogstoreSpec, SlsError> {
    let invalid = |m: String| SlsError::new(SlsCode::LogStoreInfoInvalid, m);
    if !v.is_object() {
        return Err(invalid("the logstore must be a JSON object".into()));
    }
    let u32_field = |k: &str| -> Result<Option<u32>, SlsError> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| invalid(format!("{k} must be a non-negative integer"))),
            Some(_) => Err(invalid(format!("{k} must be an integer"))),
        }
    };
    let bool_field = |k: &str| -> Result<Option<bool>, SlsError> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(format!("{k} must be a boolean"))),
        }
    };
    let string_field = |k: &str| -> Result<Option<String>, SlsError> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!("{k} must be a string"))),
        }
    };
    Ok(LogstoreSpec {
        name: string_field("logstoreName")?
            .ok_or_else(|| invalid("logstoreName is required".into()))?,
        ttl: u32_field("ttl")?,
        shard_count: u32_field("shardCount")?,
        enable_tracking: bool_field("enable_tracking")?,
        auto_split: bool_field("autoSplit")?,
        max_split_shard: u32_field("maxSplitShard")?,
        append_meta: bool_field("appendMeta")?,
        telemetry_type: string_field("telemetryType")?,
        hot_ttl: u32_field("hot_ttl")?,
        mode: string_field("mode")?,
    })
}

fn logstore_json(l: &LogstoreRec) -> Value {
    let s = &l.settings;
    let rw = l
        .shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .count();
    let mut v = json!({
        "logstoreName": l.name,
        "ttl": s.ttl,
        "shardCount": rw,
        "enable_tracking": s.enable_tracking,
        "autoSplit": s.auto_split,
        "maxSplitShard": s.max_split_shard,
        "appendMeta": s.append_meta,
        "telemetryType": s.telemetry_type,
        "createTime": l.create_time,
        "lastModifyTime": l.last_modify_time,
    });
    if let Some(h) = s.hot_ttl {
        v["hot_ttl"] = json!(h);
    }
    // Always present: the Rust SDK fails to parse a logstore without it. "standard" is SLS's
    // default mode.
    v["mode"] = json!(s.mode.as_deref().unwrap_or("standard"));
    v
}

async fn create_logstore(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let spec = logstore_spec(&ctx.json_body()?)?;
    let svc = ctx.state.svc.clone();
    blocking(move || Ok(svc.create_logstore(&project, spec)?)).await?;
    empty()
}

async fn get_logstore(ctx: Ctx, ls: &str) -> Reply {
    let rec = ctx.state.svc.get_logstore(&ctx.project()?, ls)?;
    json_reply(&logstore_json(&rec))
}

async fn list_logstores(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let (offset, size) = paging(&ctx.query, 500)?;
    let filter = ctx.query.get("logstoreName").unwrap_or("");
    let (total, names) = ctx
        .state
        .svc
        .list_logstores(&project, offset, size, filter)?;
    json_reply(&json!({"count": names.len(), "total": total, "logstores": names}))
}

async fn update_logstore(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let mut body = ctx.json_body()?;
    // The path names the logstore; the Rust SDK leaves it out of the body.
    if let Some(o) = body.as_object_mut() {
        o.entry("logstoreName").or_insert_with(|| json!(ls));
    }
    let spec = logstore_spec(&body)?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || Ok(svc.update_logstore(&project, &ls, spec)?)).await?;
    empty()
}

async fn delete_logstore(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || Ok(svc.delete_logstore(&project, &ls)?)).await?;
    empty()
}

fn shard_json(s: &ShardRec) -> Value {
    json!({
        "shardID": s.id,
        "status": match s.status { ShardStatus::Readwrite => "readwrite", ShardStatus::Readonly => "readonly" },
        "inclusiveBeginKey": format!("{:032x}", s.begin_key),
        "exclusiveEndKey": format!("{:032x}", s.end_key),
        "createTime": s.create_time,
    })
}

async fn list_shards(ctx: Ctx, ls: &str) -> Reply {
    let shards = ctx.state.svc.list_shards(&ctx.project()?, ls)?;
    json_reply(&Value::Array(shards.iter().map(shard_json).collect()))
}

async fn split_shard(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let key = match ctx.query.get("key") {
        None | Some("") => None,
        Some(k) => Some(parse_hash_key(k)?),
    };
    if let Some(n) = ctx.query.get("shardCount") {
        if n != "2" {
            return Err(SlsError::param(format!(
                "shardCount {} is not supported; a shard splits into 2",
                excerpt(n)
            )));
        }
    }
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let shards = blocking(move || Ok(svc.split_shard(&project, &ls, shard, key)?)).await?;
    json_reply(&Value::Array(shards.iter().map(shard_json).collect()))
}

async fn merge_shards(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let shards = blocking(move || Ok(svc.merge_shards(&project, &ls, shard)?)).await?;
    json_reply(&Value::Array(shards.iter().map(shard_json).collect()))
}

async fn delete_shard(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || Ok(svc.delete_shard(&project, &ls, shard)?)).await?;
    empty()
}

fn codec_error(e: CodecError, limit: usize) -> SlsError {
    match e {
        CodecError::TooLarge { .. } => SlsError::new(
            SlsCode::PostBodyTooLarge,
            format!("decompressed body is larger than {limit} bytes"),
        ),
        other => SlsError::new(
            SlsCode::PostBodyUncompressError,
            format!("cannot decompress the body: {other}"),
        ),
    }
}

async fn put_logs(ctx: Ctx, ls: &str, target: PutTarget) -> Reply {
    let project = ctx.project()?;
    let limit = ctx.state.max_raw_body;
    if ctx
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(SlsError::new(SlsCode::PostBodyInvalid,
            "JSON PutLogs bodies are not supported; send a LogGroup protobuf (application/x-protobuf)",
        ));
    }
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
    let declared = if ct == CompressType::None {
        ctx.body.len()
    } else {
        raw_size.unwrap_or(0)
    };
    if declared > limit {
        return Err(SlsError::new(
            SlsCode::PostBodyTooLarge,
            format!("body of {declared} bytes is larger than the limit of {limit} bytes"),
        ));
    }
    let (svc, ls, body) = (ctx.state.svc.clone(), ls.to_string(), ctx.body);
    blocking(move || {
        if ct == CompressType::None {
            svc.put_logs(&project, &ls, target, &body)?;
            return Ok(());
        }
        let group = cairn_proto::decompress(ct, &body, raw_size, limit)
            .map_err(|e| codec_error(e, limit))?;
        if ct == CompressType::Lz4 {
            svc.put_logs_lz4(&project, &ls, target, &group, &body)?;
        } else {
            svc.put_logs(&project, &ls, target, &group)?;
        }
        Ok(())
    })
    .await?;
    empty()
}

fn parse_cursor(s: Option<&str>, name: &str) -> Result<u64, SlsError> {
    let s = s.ok_or_else(|| SlsError::param(format!("{name} is required")))?;
    cairn_proto::decode_cursor(s).map_err(|e| match e {
        // Well formed but before every shard's beginning: out of range, like any cursor < begin,
        // so consumer libraries take their InvalidCursor recovery path.
        cairn_proto::CursorError::Negative => crate::service::Error::InvalidCursor(format!(
            "{name} {:?} is before the beginning of the shard",
            excerpt(s)
        ))
        .into(),
        e => SlsError::param(format!(
            "{name} {:?} is not a valid cursor: {e}",
            excerpt(s)
        )),
    })
}

async fn get_cursor(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let from = match ctx.query.get("from") {
        Some("begin") => CursorFrom::Begin,
        Some("end") => CursorFrom::End,
        Some(t) => {
            CursorFrom::Time(t.parse::<i64>().ok().filter(|t| *t >= 0).ok_or_else(|| {
                SlsError::param(format!(
                    "from {:?} must be begin, end or a unix time in seconds",
                    excerpt(t)
                ))
            })?)
        }
        None => {
            return Err(SlsError::param(
                "from is required (begin, end or a unix time in seconds)",
            ))
        }
    };
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let cursor = blocking(move || Ok(svc.get_cursor(&project, &ls, shard, from)?)).await?;
    json_reply(&json!({"cursor": cairn_proto::encode_cursor(cursor)}))
}

async fn get_cursor_time(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let cursor = parse_cursor(ctx.query.get("cursor"), "cursor")?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let t = blocking(move || Ok(svc.get_cursor_time(&project, &ls, shard, cursor)?)).await?;
    json_reply(&json!({"cursor_time": t}))
}

async fn pull_logs(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let cursor = parse_cursor(ctx.query.get("cursor"), "cursor")?;
    let count = match ctx.query.get("count") {
        None => 1000,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| SlsError::param(format!("count {:?} is not a number", excerpt(c))))?,
    };
    // `end_cursor` as the Python, Java and Go SDKs send it; `endCursor` as the Rust SDK does.
    let end_cursor = match ctx
        .query
        .get("end_cursor")
        .or_else(|| ctx.query.get("endCursor"))
    {
        None | Some("") => None,
        s => Some(parse_cursor(s, "end_cursor")?),
    };
    if ctx.query.get("query").is_some_and(|q| !q.is_empty()) {
        return Err(SlsError::param("SPL queries on PullLogs are not supported"));
    }
    let ct = CompressType::from_accept_encoding(ctx.header("accept-encoding"));
    // A consumer at the end of the shard is answered here; reads go to the blocking pool.
    let pull = ctx
        .state
        .svc
        .start_pull(&project, ls, shard, cursor, count, end_cursor)?;
    let (res, raw_len, body) = match pull {
        Pull::Answered(res) => (res, 0, Vec::new()),
        Pull::Read(read) => {
            blocking(move || {
                let res = read.run()?;
                let (body, raw_len) = res.encode(ct)?;
                Ok((res, raw_len, body))
            })
            .await?
        }
    };
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-protobuf"),
    );
    h.insert(
        "x-log-cursor",
        hv(&cairn_proto::encode_cursor(res.next_cursor)),
    );
    h.insert("x-log-count", hv(&res.records.len().to_string()));
    h.insert("x-log-bodyrawsize", hv(&raw_len.to_string()));
    if raw_len > 0 {
        if let Some(name) = ct.as_header() {
            h.insert("x-log-compresstype", HeaderValue::from_static(name));
        }
    }
    if let Some(last) = res.records.last() {
        h.insert("x-log-read-last-cursor", hv(&last.cursor.to_string()));
        h.insert(
            "x-log-cursor-time",
            hv(&(last.receive_millis / 1000).to_string()),
        );
    }
    if res.next_cursor >= res.shard_end {
        h.insert("x-log-end-of-cursor", HeaderValue::from_static("1"));
    }
    *r.status_mut() = StatusCode::OK;
    Ok(r)
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("header-safe value")
}

async fn list_groups(ctx: Ctx, ls: &str) -> Reply {
    let groups = ctx.state.svc.list_consumer_groups(&ctx.project()?, ls)?;
    let list: Vec<Value> = groups
        .iter()
        .map(|g| json!({"name": g.name, "timeout": g.timeout, "order": g.order}))
        .collect();
    json_reply(&Value::Array(list))
}

fn timeout_field(v: &Value) -> Result<Option<u32>, SlsError> {
    match v.get("timeout") {
        None | Some(Value::Null) => Ok(None),
        Some(t) => t
            .as_u64()
            .and_then(|t| u32::try_from(t).ok())
            .map(Some)
            .ok_or_else(|| SlsError::param("timeout must be a positive integer (seconds)")),
    }
}

fn order_field(v: &Value) -> Result<Option<bool>, SlsError> {
    match v.get("order") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(SlsError::param("order must be a boolean")),
    }
}

async fn create_group(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let v = ctx.json_body()?;
    let name = str_field(&v, "consumerGroup")?
        .ok_or_else(|| SlsError::param("consumerGroup is required"))?;
    let spec = GroupSpec {
        name: name.to_string(),
        timeout: timeout_field(&v)?.ok_or_else(|| SlsError::param("timeout is required"))?,
        order: order_field(&v)?.unwrap_or(false),
    };
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || Ok(svc.create_consumer_group(&project, &ls, spec)?)).await?;
    empty()
}

async fn update_group(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let v = ctx.json_body()?;
    let (timeout, order) = (timeout_field(&v)?, order_field(&v)?);
    let (svc, ls, cg) = (ctx.state.svc.clone(), ls.to_string(), cg.to_string());
    blocking(move || Ok(svc.update_consumer_group(&project, &ls, &cg, timeout, order)?)).await?;
    empty()
}

async fn delete_group(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let (svc, ls, cg) = (ctx.state.svc.clone(), ls.to_string(), cg.to_string());
    blocking(move || Ok(svc.delete_consumer_group(&project, &ls, &cg)?)).await?;
    empty()
}

async fn heartbeat(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let consumer = ctx
        .query
        .get("consumer")
        .ok_or_else(|| SlsError::param("consumer is required"))?
        .to_string();
    let held: Vec<u32> = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        serde_json::from_slice(&ctx.body).map_err(|e| {
            SlsError::param(format!(
                "heartbeat body must be a JSON array of shard ids: {}",
                excerpt(&e.to_string())
            ))
        })?
    };
    let (svc, ls, cg) = (ctx.state.svc.clone(), ls.to_string(), cg.to_string());
    let shards = blocking(move || Ok(svc.heartbeat(&project, &ls, &cg, &consumer, &held)?)).await?;
    json_reply(&json!(shards))
}

async fn update_checkpoint(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let consumer = ctx
        .query
        .get("consumer")
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let force = match ctx.query.get("forceSuccess") {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(SlsError::param(format!(
                "forceSuccess {:?} must be true or false",
                excerpt(v)
            )))
        }
    };
    let v = ctx.json_body()?;
    let shard = v
        .get("shard")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| SlsError::param("shard must be a non-negative integer"))?;
    let checkpoint = str_field(&v, "checkpoint")?
        .ok_or_else(|| SlsError::param("checkpoint is required"))?
        .to_string();
    // Checked and queued here (no I/O); only the commit is waited for.
    let pending = ctx.state.svc.queue_checkpoint(
        &project,
        ls,
        cg,
        consumer.as_deref(),
        force,
        shard,
        &checkpoint,
    )?;
    pending
        .committed()
        .await
        .map_err(crate::service::Error::from)?;
    empty()
}

async fn get_checkpoints(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let shard = match ctx.query.get("shard") {
        None | Some("") => None,
        Some(s) => match s.parse::<i64>() {
            // A shard id that cannot exist answers an empty list, as a missing shard does.
            Ok(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(_) => {
                return Err(SlsError::param(format!(
                    "shard {:?} is not an integer",
                    excerpt(s)
                )))
            }
        },
    };
    let list = ctx.state.svc.get_checkpoints(&project, ls, cg, shard)?;
    let out: Vec<Value> = list
        .iter()
        .map(|c| json!({"shard": c.shard, "checkpoint": c.checkpoint, "updateTime": c.update_time_us, "consumer": c.consumer}))
        .collect();
    json_reply(&Value::Array(out))
}
