//! SLS routes: parse, authenticate, call the service, answer in SLS's wire format. One module per
//! API family (projects, logstores, shards, logs, consumer groups), as in `service`; `wire`
//! writes the records in JSON, `auth` checks signatures.

mod auth;
mod consumers;
mod index;
mod json_logs;
mod logs;
mod logstores;
mod projects;
mod query;
mod shards;
mod tracking;
mod wire;

pub use json_logs::parse_json_batch;
pub use tracking::TrackingLimiter;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use super::body::{check_declared, read_body, BodyError};
use super::codes::SlsCode;
use super::error::SlsError;
use super::json::FieldError;
use super::request::{percent_decode, project_from_host, request_host, Query, UnknownHost};
use super::AppState;
use crate::config::BODY_SLACK;
use crate::excerpt::excerpt;
use crate::service::{parse_hash_key, PutTarget};

type Reply = Result<Response<Body>, SlsError>;

/// The deepest JSON body kept in the metadata store: a stored record nests it a few levels
/// deeper, and must still read back within the JSON reader's own limit (128 levels).
const MAX_JSON_DEPTH: usize = 32;

/// How deeply `v` nests arrays and objects (a scalar is 0).
fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// The largest JSON body kept in the metadata store (projects, logstores, consumer groups,
/// indexes).
const MAX_JSON_BODY: usize = 1 << 20;

/// A body field of the wrong type: `400 ParameterInvalid`.
fn field(e: FieldError) -> SlsError {
    SlsError::param(e.to_string())
}

/// Handles one SLS request.
pub async fn handle(state: AppState, req: Request, request_id: String) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let segs = path_segments(&parts);
    let track = tracking::is_tracking_path(&segs);
    let mut resp = match route(&state, parts, body, segs, track).await {
        Ok(r) => r,
        Err(e) => {
            // 503 ServerBusy is load, not a fault: not logged as an error (a flood would
            // otherwise flood the log too).
            if e.status().is_server_error() && e.status() != StatusCode::SERVICE_UNAVAILABLE {
                tracing::error!(code = e.code.as_str(), message = %e.message, request_id, "request failed");
            } else {
                tracing::debug!(code = e.code.as_str(), message = %e.message, request_id, "request rejected");
            }
            let mut r = Response::new(Body::from(e.body(&request_id)));
            *r.status_mut() = e.status();
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
    if track {
        tracking::cors(resp.headers_mut());
    }
    resp
}

/// A request after parsing, before routing.
pub(super) struct Ctx {
    state: AppState,
    parts: Parts,
    project: Option<String>,
    query: Query,
    body: Bytes,
    /// The most a body may decompress to: `sls.max_raw_body_bytes`, less for unsigned tracking.
    raw_limit: usize,
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

    /// The body as a JSON document that will be kept in the metadata store (a project,
    /// logstore, consumer group or index): at most [`MAX_JSON_BODY`] bytes.
    fn stored_json_body(&self) -> Result<Value, SlsError> {
        if self.body.len() > MAX_JSON_BODY {
            return Err(SlsError::new(
                SlsCode::PostBodyTooLarge,
                format!(
                    "this JSON request body is at most {MAX_JSON_BODY} bytes, not {}",
                    self.body.len()
                ),
            ));
        }
        let v = self.json_body()?;
        if depth(&v) > MAX_JSON_DEPTH {
            return Err(SlsError::new(
                SlsCode::PostBodyInvalid,
                format!("this JSON request body is nested deeper than {MAX_JSON_DEPTH} levels"),
            ));
        }
        Ok(v)
    }

    /// The body as a JSON document.
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

/// What an unsigned request learns when it may not write where it asked: the same answer
/// whether the project, the logstore or tracking is missing, so that strangers cannot list
/// names (design §16).
fn unsigned_refusal() -> SlsError {
    SlsError::new(
        SlsCode::Unauthorized,
        "no such logstore takes unsigned web tracking writes; a logstore takes them once created \
         or updated with enable_tracking",
    )
}

/// An unsigned tracking request's refusal, with nothing that tells which names exist.
fn hide_names(e: SlsError, unsigned: bool) -> SlsError {
    let naming = matches!(
        e.code,
        SlsCode::ProjectNotExist | SlsCode::LogStoreNotExist | SlsCode::Unauthorized
    );
    if unsigned && naming {
        unsigned_refusal()
    } else {
        e
    }
}

/// The error for a `Host` that names neither a configured endpoint nor a project of one.
fn unknown_host(state: &AppState, UnknownHost(host): UnknownHost) -> SlsError {
    SlsError::param(format!(
        "host {:?} names neither a configured endpoint nor <project>.<endpoint>; the endpoints \
         are {} (and any IP address); address a project as <project>.{}, or add this host's \
         endpoint to sls.endpoints in the configuration",
        excerpt(&host),
        state.endpoints.join(", "),
        state.endpoints.first().map_or("<endpoint>", String::as_str),
    ))
}

/// The decoded, non-empty segments of the request path.
fn path_segments(parts: &Parts) -> Vec<String> {
    parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

/// Routes a request whose decoded path segments are `segs` (`track`: a tracking path).
async fn route(
    state: &AppState,
    parts: Parts,
    body: Body,
    segs: Vec<String>,
    track: bool,
) -> Reply {
    // Web tracking without a signature (design §16): a CORS preflight never carries one, and a
    // tracking write may leave it out; both are bounded by the tracking rate.
    let unsigned_track = track && !parts.headers.contains_key("authorization");
    if unsigned_track {
        if !state.tracking.take(std::time::Instant::now()) {
            return Err(SlsError::new(
                SlsCode::ServerBusy,
                "too many unsigned web tracking requests; retry later",
            ));
        }
        if parts.method == Method::OPTIONS {
            return tracking::preflight(&parts.headers);
        }
    }
    // Unsigned tracking bodies are small, and few are parsed at once: what a stranger can make
    // the server hold stays bounded (design §16).
    let (limit, raw_limit) = if unsigned_track {
        (tracking::MAX_BODY, tracking::MAX_BODY)
    } else {
        (state.max_raw_body + BODY_SLACK, state.max_raw_body)
    };
    let _in_flight = if unsigned_track {
        Some(
            state
                .tracking
                .enter(state.limits.body_stall_timeout)
                .await?,
        )
    } else {
        None
    };
    // Refused before anything is read: a declared length over the limit, then a request whose
    // head does not authenticate (design §14, §15).
    check_declared(&body, limit).map_err(body_error)?;
    let check = if state.auth_enabled && !unsigned_track {
        Some(auth::verify_head(state, &parts)?)
    } else {
        None
    };
    // Holds the body's share of the body budget until the request is answered. An unsigned
    // tracking body has a few seconds to arrive (it holds one of few turns).
    let read = if unsigned_track {
        tokio::time::timeout(
            tracking::BODY_DEADLINE,
            read_body(body, limit, &state.limits),
        )
        .await
        .unwrap_or(Err(BodyError::Timeout))
    } else {
        read_body(body, limit, &state.limits).await
    }
    .map_err(body_error)?;
    let body = read.bytes.clone();
    if let Some(check) = &check {
        auth::verify_body(state, &parts, check, &body)?;
    }
    let project = match request_host(&parts) {
        None => None,
        Some(h) => project_from_host(&h, &state.endpoints).map_err(|e| {
            if unsigned_track {
                unsigned_refusal()
            } else {
                unknown_host(state, e)
            }
        })?,
    };
    let query = Query::parse(parts.uri.query());
    let method = parts.method.clone();
    let ctx = Ctx {
        state: state.clone(),
        parts,
        project,
        query,
        body,
        raw_limit,
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (&method, segs.as_slice()) {
        (m, ["logstores", ls, last]) if m == Method::POST && tracking::is_tracking(last) => {
            tracking::post(ctx, ls)
                .await
                .map_err(|e| hide_names(e, unsigned_track))
        }
        (m, ["logstores", ls, last]) if m == Method::GET && tracking::is_tracking(last) => {
            tracking::get(ctx, ls, last)
                .await
                .map_err(|e| hide_names(e, unsigned_track))
        }
        (m, ["logstores", _, last]) if m == Method::OPTIONS && tracking::is_tracking(last) => {
            tracking::preflight(&ctx.parts.headers)
        }
        (m, []) if m == Method::GET => {
            if ctx.project.is_some() {
                projects::get(ctx).await
            } else {
                projects::list(ctx).await
            }
        }
        (m, []) if m == Method::POST => projects::create(ctx).await,
        (m, []) if m == Method::PUT => projects::update(ctx).await,
        (m, []) if m == Method::DELETE => projects::delete(ctx).await,
        (m, ["logstores"]) if m == Method::GET => logstores::list(ctx).await,
        (m, ["logstores"]) if m == Method::POST => logstores::create(ctx).await,
        (m, ["logstores", ls]) if m == Method::GET => match ctx.query.get("type") {
            None | Some("") => logstores::get(ctx, ls).await,
            Some("log") | Some("logs") => query::get_logs(ctx, ls).await,
            Some("histogram") => query::get_histograms(ctx, ls).await,
            Some("context_log") => query::get_context_logs(ctx, ls).await,
            Some("topic") => query::list_topics(ctx, ls).await,
            Some(other) => Err(SlsError::param(format!(
                "type {:?} is not supported; use log, histogram, context_log or topic",
                excerpt(other)
            ))),
        },
        (m, ["logstores", ls, "logs"]) if m == Method::POST => query::get_logs_v2(ctx, ls).await,
        (m, ["logs"]) if m == Method::GET => query::get_project_logs(ctx).await,
        (m, ["logstores", ls, "index"])
            if m == Method::GET && ctx.query.get("type") == Some("histogram") =>
        {
            query::get_histograms(ctx, ls).await
        }
        (m, ["logstores", ls]) if m == Method::PUT => logstores::update(ctx, ls).await,
        (m, ["logstores", ls]) if m == Method::DELETE => logstores::delete(ctx, ls).await,
        (m, ["logstores", ls]) if m == Method::POST => {
            logs::put(ctx, ls, PutTarget::LoadBalance).await
        }
        (m, ["logstores", ls, "shards"]) if m == Method::GET => shards::list(ctx, ls).await,
        (m, ["logstores", ls, "index"]) if m == Method::GET && ctx.query.get("type").is_none() => {
            index::get(ctx, ls).await
        }
        (m, ["logstores", ls, "index"]) if m == Method::POST => index::create(ctx, ls).await,
        (m, ["logstores", ls, "index"]) if m == Method::PUT => index::update(ctx, ls).await,
        (m, ["logstores", ls, "index"]) if m == Method::DELETE => index::delete(ctx, ls).await,
        (m, ["logstores", ls, "shards", "lb"]) if m == Method::POST => {
            logs::put(ctx, ls, PutTarget::LoadBalance).await
        }
        (m, ["logstores", ls, "shards", "route"]) if m == Method::POST => {
            let key = ctx
                .query
                .get("key")
                .or_else(|| ctx.header("x-log-hashkey"))
                .ok_or_else(|| SlsError::param("route needs a key query parameter"))?;
            let key = parse_hash_key(key)?;
            logs::put(ctx, ls, PutTarget::HashKey(key)).await
        }
        (m, ["logstores", ls, "shards", shard]) if m == Method::GET => {
            let shard = parse_shard_id(shard)?;
            match ctx.query.get("type") {
                Some("cursor") => logs::get_cursor(ctx, ls, shard).await,
                Some("cursor_time") => logs::get_cursor_time(ctx, ls, shard).await,
                Some("log") | Some("logs") => logs::pull(ctx, ls, shard).await,
                other => Err(SlsError::param(format!(
                    "type {:?} is not supported; use cursor, cursor_time, log or logs",
                    other.map(excerpt)
                ))),
            }
        }
        (m, ["logstores", ls, "shards", shard]) if m == Method::POST => {
            let shard = parse_shard_id(shard)?;
            match ctx.query.get("action") {
                Some("split") => shards::split(ctx, ls, shard).await,
                Some("merge") => shards::merge(ctx, ls, shard).await,
                other => Err(SlsError::param(format!(
                    "action {:?} is not supported; use split or merge",
                    other.map(excerpt)
                ))),
            }
        }
        (m, ["logstores", ls, "consumergroups"]) if m == Method::GET => {
            consumers::list(ctx, ls).await
        }
        (m, ["logstores", ls, "consumergroups"]) if m == Method::POST => {
            consumers::create(ctx, ls).await
        }
        (m, ["logstores", ls, "consumergroups", cg]) if m == Method::PUT => {
            consumers::update(ctx, ls, cg).await
        }
        (m, ["logstores", ls, "consumergroups", cg]) if m == Method::DELETE => {
            consumers::delete(ctx, ls, cg).await
        }
        (m, ["logstores", ls, "consumergroups", cg]) if m == Method::GET => {
            consumers::get_checkpoints(ctx, ls, cg).await
        }
        (m, ["logstores", ls, "consumergroups", cg]) if m == Method::POST => {
            match ctx.query.get("type") {
                Some("heartbeat") => consumers::heartbeat(ctx, ls, cg).await,
                Some("checkpoint") => consumers::update_checkpoint(ctx, ls, cg).await,
                other => Err(SlsError::param(format!(
                    "type {:?} is not supported; use heartbeat or checkpoint",
                    other.map(excerpt)
                ))),
            }
        }
        (m, ["logstores", ls, "shards", shard]) if m == Method::DELETE => {
            let shard = parse_shard_id(shard)?;
            shards::delete(ctx, ls, shard).await
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

pub(super) fn paging(q: &Query, max: usize) -> Result<(usize, usize), SlsError> {
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
