//! The Atlas-compatible API under `/api/atlas/v1.0`: projects are groups, logstores are sharded
//! clusters, backup checkpoints and restore jobs are Cairn's own. HTTP Digest authentication;
//! errors as `{detail, error, errorCode, parameters, reason}`.
//!
//! The request bodies are parsed by pure functions — [`parse_restore_request`],
//! [`parse_schedule_update`], [`parse_checkpoint_request`]: bytes in, a typed request or the
//! [`AtlasError`] the handler answers with out — which the handlers call once the path is
//! resolved, and which the fuzz targets (`crates/fuzz-targets`) call directly.

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::body::{check_declared, read_body, BodyError};
use super::request::{percent_decode, Query};
use super::AppState;
use crate::excerpt::{bounded_message, excerpt};
use crate::meta::JobStatus;
use crate::meta::{BackupRec, LogstoreRec, ProjectRec, RestoreJobRec, ScheduleRec, ShardStatus};
use crate::service::{BackupView, Error, ScheduleUpdate};

/// Path prefix of the API.
pub const PREFIX: &str = "/api/atlas/v1.0";
const MAX_BODY: usize = 64 * 1024;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 500;

/// An Atlas error: HTTP status, `errorCode`, `detail` and `parameters`.
#[derive(Debug)]
pub struct AtlasError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    params: Vec<String>,
}

impl AtlasError {
    fn new(
        status: u16,
        code: &'static str,
        detail: impl Into<String>,
        params: Vec<String>,
    ) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            detail: bounded_message(detail.into()),
            // Parameters echo client input: cut like every quote of it.
            params: params
                .into_iter()
                .map(|p| excerpt(&p).to_string())
                .collect(),
        }
    }

    fn invalid(attr: &str, detail: impl Into<String>) -> Self {
        Self::new(400, "INVALID_ATTRIBUTE", detail, vec![attr.to_string()])
    }

    fn missing(attr: &str) -> Self {
        Self::new(
            400,
            "MISSING_ATTRIBUTE",
            format!("The required attribute {attr} was not specified."),
            vec![attr.into()],
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The `errorCode`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The `detail`.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The JSON body of the error response.
    pub fn body(&self) -> Value {
        json!({
            "detail": self.detail,
            "error": self.status.as_u16(),
            "errorCode": self.code,
            "parameters": self.params,
            "reason": self.status.canonical_reason().unwrap_or(""),
        })
    }
}

impl From<Error> for AtlasError {
    fn from(e: Error) -> Self {
        match e {
            Error::ProjectNotExist(g) => AtlasError::new(
                404,
                "GROUP_NOT_FOUND",
                format!("No group with ID {} exists.", excerpt(&g)),
                vec![g],
            ),
            Error::CheckpointNotExist(id) => AtlasError::new(
                404,
                "CHECKPOINT_NOT_FOUND",
                format!("No checkpoint with ID {} exists.", excerpt(&id)),
                vec![id],
            ),
            Error::RestoreJobNotExist(id) => AtlasError::new(
                404,
                "RESTORE_JOB_NOT_FOUND",
                format!("No restore job with ID {} exists.", excerpt(&id)),
                vec![id],
            ),
            Error::TargetNotEmpty(t) => AtlasError::new(
                403,
                "CANNOT_RESTORE_TO_TARGET",
                format!(
                    "Cannot restore to {}: the target cluster already holds data.",
                    excerpt(&t)
                ),
                vec![t],
            ),
            e @ Error::DiskFull(_) => {
                AtlasError::new(507, "INSUFFICIENT_DISK_SPACE", e.to_string(), vec![])
            }
            e @ Error::ServerBusy(_) => {
                AtlasError::new(503, "SERVICE_UNAVAILABLE", e.to_string(), vec![])
            }
            Error::Internal(m) => AtlasError::new(500, "UNEXPECTED_ERROR", m, vec![]),
            other => AtlasError::new(400, "INVALID_ATTRIBUTE", other.to_string(), vec![]),
        }
    }
}

type Reply = Result<(StatusCode, Value, Kind), AtlasError>;

/// Whether a reply is one entity or a list (they are enveloped differently).
enum Kind {
    One,
    List,
}

/// Output options common to every resource.
struct Render {
    pretty: bool,
    envelope: bool,
}

fn parse_bool(q: &Query, key: &str, default: bool) -> Result<bool, AtlasError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(AtlasError::new(
            400,
            "INVALID_QUERY_PARAMETER",
            format!("Invalid query parameter {key} specified: {}.", excerpt(v)),
            vec![key.into(), v.into()],
        )),
    }
}

fn respond(render: &Render, status: StatusCode, mut v: Value, kind: Kind) -> Response<Body> {
    if render.envelope {
        v = match kind {
            Kind::One => json!({"status": status.as_u16(), "content": v}),
            Kind::List => {
                if let Value::Object(m) = &mut v {
                    m.insert("status".into(), json!(status.as_u16()));
                }
                v
            }
        };
    }
    let bytes = if render.pretty {
        serde_json::to_vec_pretty(&v)
    } else {
        serde_json::to_vec(&v)
    }
    .expect("json");
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// Handles one Atlas request.
pub async fn handle(state: AppState, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let render = Render {
        pretty: parse_bool(&query, "pretty", false).unwrap_or(false),
        envelope: parse_bool(&query, "envelope", false).unwrap_or(false),
    };
    if let Err(e) = check_declared(&body, MAX_BODY) {
        let e = body_error(e);
        return respond(&render, e.status, e.body(), Kind::One);
    }
    if state.auth_enabled {
        if let Err((e, stale)) = authenticate(&state, &parts) {
            let mut r = respond(&render, e.status, e.body(), Kind::One);
            let challenge = state
                .digest
                .challenge(chrono::Utc::now().timestamp(), stale);
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_str(&challenge).expect("ascii"),
            );
            return r;
        }
    }
    // Holds the body's share of the body budget until the request is answered.
    let read = match read_body(body, MAX_BODY, &state.limits).await {
        Ok(b) => b,
        Err(e) => {
            let e = body_error(e);
            return respond(&render, e.status, e.body(), Kind::One);
        }
    };
    let ctx = Ctx {
        base: base_url(&parts),
        query,
        body: read.bytes.to_vec(),
        state,
    };
    match route(&ctx, &parts).await {
        Ok((status, v, kind)) => respond(&render, status, v, kind),
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(code = e.code, detail = %e.detail, "atlas request failed");
            }
            respond(&render, e.status, e.body(), Kind::One)
        }
    }
}

fn body_error(e: BodyError) -> AtlasError {
    match e {
        BodyError::TooLarge { .. } => AtlasError::new(
            413,
            "REQUEST_BODY_TOO_LARGE",
            format!("The request body is larger than the limit of {MAX_BODY} bytes."),
            vec![],
        ),
        BodyError::Busy => AtlasError::new(
            503,
            "SERVER_BUSY",
            "The server is receiving too many request bodies at once; retry later.",
            vec![],
        ),
        BodyError::Timeout => AtlasError::new(
            408,
            "REQUEST_TIMEOUT",
            "The request body did not arrive in time.",
            vec![],
        ),
        BodyError::Io(m) => AtlasError::new(400, "INVALID_JSON", m, vec![]),
    }
}

fn authenticate(state: &AppState, parts: &Parts) -> Result<(), (AtlasError, bool)> {
    let unauthorized = |detail: String| AtlasError::new(401, "UNAUTHORIZED", detail, vec![]);
    let Some(header) = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return Err((
            unauthorized(
                "You are not authorized for this resource: HTTP Digest credentials are required."
                    .into(),
            ),
            false,
        ));
    };
    // The digest must name this request: its path and query as received.
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let now = chrono::Utc::now().timestamp();
    match state.digest.verify_for_target(
        parts.method.as_str(),
        target,
        header,
        state.keys.as_ref(),
        now,
    ) {
        Ok(_) => Ok(()),
        Err(cairn_auth::DigestError::StaleNonce) => {
            Err((unauthorized("The digest nonce is stale.".into()), true))
        }
        Err(cairn_auth::DigestError::UriMismatch) => Err((
            unauthorized("The digest uri does not match the request.".into()),
            false,
        )),
        Err(e) => Err((
            unauthorized(format!(
                "You are not authorized for this resource: {}.",
                excerpt(&e.to_string())
            )),
            e.is_stale(),
        )),
    }
}

fn base_url(parts: &Parts) -> String {
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    format!("http://{host}{PREFIX}")
}

struct Ctx {
    base: String,
    query: Query,
    body: Vec<u8>,
    state: AppState,
}

impl Ctx {
    fn svc(&self) -> &std::sync::Arc<crate::service::Service> {
        &self.state.svc
    }

    fn group(&self, g: &str) -> Result<ProjectRec, AtlasError> {
        self.svc()
            .project_by_id(g)
            .or_else(|| self.svc().get_project(g).ok())
            .ok_or_else(|| {
                AtlasError::new(
                    404,
                    "GROUP_NOT_FOUND",
                    format!("No group with ID {} exists.", excerpt(g)),
                    vec![g.into()],
                )
            })
    }

    fn cluster(&self, p: &ProjectRec, c: &str) -> Result<LogstoreRec, AtlasError> {
        self.svc().get_logstore(&p.name, c).map_err(|_| {
            AtlasError::new(
                404,
                "CLUSTER_NAME_NOT_FOUND",
                format!(
                    "No cluster with name \"{}\" exists in group {}.",
                    excerpt(c),
                    p.id
                ),
                vec![c.into(), p.id.clone()],
            )
        })
    }

    /// A page of `items`, with links built from `path` (below the API prefix).
    fn page(&self, path: &str, items: Vec<Value>) -> Reply {
        let num = |k: &str, d: usize| -> Result<usize, AtlasError> {
            match self.query.get(k) {
                None => Ok(d),
                Some(v) => v.parse::<usize>().map_err(|_| {
                    AtlasError::new(
                        400,
                        "INVALID_QUERY_PARAMETER",
                        format!("Invalid query parameter {k} specified: {}.", excerpt(v)),
                        vec![k.into(), v.into()],
                    )
                }),
            }
        };
        let page_num = num("pageNum", 1)?;
        let per_page = num("itemsPerPage", DEFAULT_PAGE)?;
        if page_num == 0 {
            return Err(AtlasError::new(
                400,
                "INVALID_QUERY_PARAMETER",
                "pageNum must be at least 1.",
                vec!["pageNum".into()],
            ));
        }
        if !(1..=MAX_PAGE).contains(&per_page) {
            return Err(AtlasError::new(
                400,
                "INVALID_QUERY_PARAMETER",
                format!("itemsPerPage must be between 1 and {MAX_PAGE}."),
                vec!["itemsPerPage".into()],
            ));
        }
        let include_count = parse_bool(&self.query, "includeCount", true)?;
        let total = items.len();
        let results: Vec<Value> = items
            .into_iter()
            .skip((page_num - 1) * per_page)
            .take(per_page)
            .collect();
        let link = |rel: &str, n: usize| json!({"href": format!("{}{path}?pageNum={n}&itemsPerPage={per_page}", self.base), "rel": rel});
        let mut links = vec![link("self", page_num)];
        if page_num > 1 {
            links.push(link("previous", page_num - 1));
        }
        if page_num * per_page < total {
            links.push(link("next", page_num + 1));
        }
        let mut out = json!({"links": links, "results": results});
        if include_count {
            out["totalCount"] = json!(total);
        }
        Ok((StatusCode::OK, out, Kind::List))
    }
}

/// A request body as a JSON object; an empty (or all-whitespace) body is an empty object.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, AtlasError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AtlasError::new(
            400,
            "INVALID_JSON",
            "The request body must be a JSON object.",
            vec![],
        )),
        Err(e) => Err(AtlasError::new(
            400,
            "INVALID_JSON",
            format!("Invalid JSON: {e}."),
            vec![],
        )),
    }
}

fn iso(ms: u64) -> String {
    super::json::iso_time(ms)
}

fn bson_ts(hlc: u64) -> Value {
    let h = cairn_storage::Hlc(hlc);
    json!({"date": iso(u64::from(h.secs()) * 1000), "increment": h.increment()})
}

async fn route(ctx: &Ctx, parts: &Parts) -> Reply {
    let path = parts.uri.path().strip_prefix(PREFIX).unwrap_or("");
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = &parts.method;
    let not_allowed = || {
        Err(AtlasError::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!(
                "Method {m} is not allowed on {}.",
                excerpt(parts.uri.path())
            ),
            vec![],
        ))
    };
    match segs.as_slice() {
        ["groups"] if m == Method::GET => list_groups(ctx),
        ["groups", g] if m == Method::GET => {
            let p = ctx.group(g)?;
            Ok((StatusCode::OK, group_json(ctx, &p), Kind::One))
        }
        ["groups", g, "clusters"] if m == Method::GET => list_clusters(ctx, g),
        ["groups", g, "clusters", c] if m == Method::GET => {
            let p = ctx.group(g)?;
            let l = ctx.cluster(&p, c)?;
            Ok((StatusCode::OK, cluster_json(ctx, &p, &l), Kind::One))
        }
        ["groups", g, "clusters", c, "backupCheckpoints"] if m == Method::GET => {
            list_checkpoints(ctx, g, c)
        }
        ["groups", g, "clusters", c, "backupCheckpoints"] if m == Method::POST => {
            take_checkpoint(ctx, g, c).await
        }
        ["groups", g, "clusters", c, "backupCheckpoints", id] if m == Method::GET => {
            let (p, l) = (ctx.group(g)?, ctx.cluster_by(g, c)?);
            let v = ctx
                .svc()
                .get_checkpoint(&p.name, &l.name, id)
                .map_err(|e| not_found_checkpoint(e, id, c))?;
            Ok((StatusCode::OK, checkpoint_json(ctx, &v, c), Kind::One))
        }
        ["groups", g, "clusters", c, "backupCheckpoints", id] if m == Method::DELETE => {
            let (p, l) = (ctx.group(g)?, ctx.cluster_by(g, c)?);
            let (svc, id2) = (ctx.svc().clone(), id.to_string());
            let (pn, ln) = (p.name.clone(), l.name.clone());
            blocking(move || svc.delete_checkpoint(&pn, &ln, &id2))
                .await
                .map_err(|e| not_found_checkpoint(e, id, c))?;
            Ok((StatusCode::OK, json!({}), Kind::One))
        }
        ["groups", g, "clusters", c, "snapshotSchedule"] if m == Method::GET => {
            let (p, l) = (ctx.group(g)?, ctx.cluster_by(g, c)?);
            let s = ctx.svc().get_schedule(&p.name, &l.name)?;
            Ok((StatusCode::OK, schedule_json(ctx, &p, &l, &s), Kind::One))
        }
        ["groups", g, "clusters", c, "snapshotSchedule"] if m == Method::PATCH => {
            patch_schedule(ctx, g, c).await
        }
        ["groups", g, "clusters", c, "restoreJobs"] if m == Method::GET => list_jobs(ctx, g, c),
        ["groups", g, "clusters", c, "restoreJobs"] if m == Method::POST => {
            create_restore(ctx, g, c).await
        }
        ["groups", g, "clusters", c, "restoreJobs", id] if m == Method::GET => {
            let (p, l) = (ctx.group(g)?, ctx.cluster_by(g, c)?);
            let j = ctx
                .svc()
                .get_restore_job(&p.name, &l.name, id)
                .map_err(|_| {
                    AtlasError::new(
                        404,
                        "RESTORE_JOB_NOT_FOUND",
                        format!(
                            "No restore job with ID {} exists for cluster {}.",
                            excerpt(id),
                            excerpt(c)
                        ),
                        vec![id.to_string(), c.to_string()],
                    )
                })?;
            Ok((StatusCode::OK, job_json(ctx, &p, &j), Kind::One))
        }
        ["groups"]
        | ["groups", _]
        | ["groups", _, "clusters"]
        | ["groups", _, "clusters", _]
        | ["groups", _, "clusters", _, "backupCheckpoints" | "snapshotSchedule" | "restoreJobs"]
        | ["groups", _, "clusters", _, "backupCheckpoints" | "restoreJobs", _] => not_allowed(),
        _ => Err(AtlasError::new(
            404,
            "RESOURCE_NOT_FOUND",
            format!("Cannot find resource {}.", excerpt(parts.uri.path())),
            vec![parts.uri.path().to_string()],
        )),
    }
}

impl Ctx {
    fn cluster_by(&self, g: &str, c: &str) -> Result<LogstoreRec, AtlasError> {
        let p = self.group(g)?;
        self.cluster(&p, c)
    }
}

fn not_found_checkpoint(e: Error, id: &str, c: &str) -> AtlasError {
    match e {
        Error::CheckpointNotExist(_) => AtlasError::new(
            404,
            "CHECKPOINT_NOT_FOUND",
            format!(
                "No checkpoint with ID {} exists for cluster {}.",
                excerpt(id),
                excerpt(c)
            ),
            vec![id.to_string(), c.to_string()],
        ),
        other => other.into(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("worker failed: {e}")))?
}

fn group_json(ctx: &Ctx, p: &ProjectRec) -> Value {
    let clusters = ctx
        .svc()
        .list_logstores(&p.name, 0, usize::MAX, "")
        .map(|(n, _)| n)
        .unwrap_or(0);
    json!({
        "id": p.id,
        "name": p.name,
        "clusterCount": clusters,
        "created": iso(p.create_time as u64 * 1000),
        "links": [{"href": format!("{}/groups/{}", ctx.base, p.id), "rel": "self"}],
    })
}

fn list_groups(ctx: &Ctx) -> Reply {
    let page = ctx.svc().list_projects(0, usize::MAX, "");
    let items = page.projects.iter().map(|p| group_json(ctx, p)).collect();
    ctx.page("/groups", items)
}

fn cluster_json(ctx: &Ctx, p: &ProjectRec, l: &LogstoreRec) -> Value {
    let rw = l
        .shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .count();
    json!({
        "id": l.uid,
        "groupId": p.id,
        "name": l.name,
        "clusterType": "SHARDED",
        "numShards": rw,
        "stateName": "IDLE",
        "backupEnabled": true,
        "links": [{"href": format!("{}/groups/{}/clusters/{}", ctx.base, p.id, l.name), "rel": "self"}],
    })
}

fn list_clusters(ctx: &Ctx, g: &str) -> Reply {
    let p = ctx.group(g)?;
    let (_, names) = ctx.svc().list_logstores(&p.name, 0, usize::MAX, "")?;
    let items = names
        .iter()
        .filter_map(|n| ctx.svc().get_logstore(&p.name, n).ok())
        .map(|l| cluster_json(ctx, &p, &l))
        .collect();
    ctx.page(&format!("/groups/{}/clusters", p.id), items)
}

fn checkpoint_json(ctx: &Ctx, v: &BackupView, cluster: &str) -> Value {
    let b: &BackupRec = &v.rec;
    let cluster_url = format!("{}/groups/{}/clusters/{cluster}", ctx.base, b.group_id);
    let mut parts: Vec<Value> = b
        .shards
        .iter()
        .map(|s| {
            let name = format!("{cluster}-shard-{}", s.shard.id);
            json!({
                "replicaSetName": name,
                "shardName": name,
                "tokenDiscovered": s.discovered,
                "tokenTimestamp": bson_ts(s.token),
                "typeName": "REPLICA_SET",
            })
        })
        .collect();
    parts.push(json!({
        "replicaSetName": format!("{cluster}-config-0"),
        "tokenDiscovered": true,
        "tokenTimestamp": bson_ts(b.config_token),
        "typeName": "CONFIG_SERVER_REPLICA_SET",
    }));
    json!({
        "clusterId": b.cluster_id,
        "completed": iso(b.completed_ms),
        "groupId": b.group_id,
        "id": b.id,
        "links": [
            {"href": format!("{cluster_url}/backupCheckpoints/{}", b.id), "rel": "self"},
            {"href": cluster_url, "rel": "http://mms.mongodb.com/cluster"},
            {"href": format!("{}/groups/{}", ctx.base, b.group_id), "rel": "http://mms.mongodb.com/group"},
        ],
        "parts": parts,
        "restorable": v.restorable,
        "started": iso(b.started_ms),
        "timestamp": iso(u64::from(cairn_storage::Hlc(b.timestamp).secs()) * 1000),
    })
}

fn list_checkpoints(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let p = ctx.group(g)?;
    let l = ctx.cluster(&p, c)?;
    let list = ctx.svc().list_checkpoints(&p.name, &l.name)?;
    let items = list.iter().map(|v| checkpoint_json(ctx, v, c)).collect();
    ctx.page(
        &format!("/groups/{}/clusters/{c}/backupCheckpoints", p.id),
        items,
    )
}

/// Parses the body of `POST .../backupCheckpoints`: empty, or a JSON object without attributes.
pub fn parse_checkpoint_request(body: &[u8]) -> Result<(), AtlasError> {
    if let Some(k) = json_object(body)?.keys().next() {
        return Err(AtlasError::invalid(
            k,
            format!("Invalid attribute {} specified.", excerpt(k)),
        ));
    }
    Ok(())
}

async fn take_checkpoint(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let p = ctx.group(g)?;
    let l = ctx.cluster(&p, c)?;
    parse_checkpoint_request(&ctx.body)?;
    let svc = ctx.svc().clone();
    let (pn, ln) = (p.name.clone(), l.name.clone());
    let rec = blocking(move || {
        let r = svc.take_checkpoint(&pn, &ln)?;
        svc.get_checkpoint(&pn, &ln, &r.id)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        checkpoint_json(ctx, &rec, c),
        Kind::One,
    ))
}

fn schedule_json(ctx: &Ctx, p: &ProjectRec, l: &LogstoreRec, s: &ScheduleRec) -> Value {
    let mut v = json!({
        "groupId": p.id,
        "clusterId": l.uid,
        "snapshotIntervalHours": s.snapshot_interval_hours,
        "snapshotRetentionDays": s.snapshot_retention_days,
        "dailySnapshotRetentionDays": s.daily_snapshot_retention_days,
        "weeklySnapshotRetentionWeeks": s.weekly_snapshot_retention_weeks,
        "monthlySnapshotRetentionMonths": s.monthly_snapshot_retention_months,
        "pointInTimeWindowHours": s.point_in_time_window_hours,
        "links": [{"href": format!("{}/groups/{}/clusters/{}/snapshotSchedule", ctx.base, p.id, l.name), "rel": "self"}],
    });
    if s.checkpoint_interval_min > 0 {
        v["clusterCheckpointIntervalMin"] = json!(s.checkpoint_interval_min);
    }
    v
}

async fn patch_schedule(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let p = ctx.group(g)?;
    let l = ctx.cluster(&p, c)?;
    let u = parse_schedule_update(&ctx.body)?;
    let svc = ctx.svc().clone();
    let (pn, ln) = (p.name.clone(), l.name.clone());
    let s = blocking(move || svc.update_schedule(&pn, &ln, u)).await?;
    Ok((StatusCode::OK, schedule_json(ctx, &p, &l, &s), Kind::One))
}

/// Parses the body of `PATCH .../snapshotSchedule`: each attribute a non-negative integer among
/// the values Atlas allows; read-only and unknown attributes are refused.
pub fn parse_schedule_update(body: &[u8]) -> Result<ScheduleUpdate, AtlasError> {
    let body = json_object(body)?;
    let mut u = ScheduleUpdate::default();
    for (k, v) in &body {
        let n = || -> Result<u32, AtlasError> {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    AtlasError::invalid(
                        k,
                        format!(
                            "Invalid attribute {k} specified: it must be a non-negative integer."
                        ),
                    )
                })
        };
        let check = |n: u32, ok: bool, allowed: &str| -> Result<Option<u32>, AtlasError> {
            if ok {
                Ok(Some(n))
            } else {
                Err(AtlasError::invalid(
                    k,
                    format!("Invalid attribute {k} specified: {n} (allowed: {allowed})."),
                ))
            }
        };
        match k.as_str() {
            "clusterCheckpointIntervalMin" => {
                let x = n()?;
                u.checkpoint_interval_min = check(x, matches!(x, 15 | 30 | 60), "15, 30, 60")?;
            }
            "snapshotIntervalHours" => {
                let x = n()?;
                u.snapshot_interval_hours = check(x, matches!(x, 6 | 8 | 12 | 24), "6, 8, 12, 24")?;
            }
            "snapshotRetentionDays" => {
                let x = n()?;
                u.snapshot_retention_days = check(x, (2..=5).contains(&x), "2 to 5")?;
            }
            "dailySnapshotRetentionDays" => {
                let x = n()?;
                let ok = matches!(x, 0 | 3..=7 | 15 | 30 | 60 | 90 | 120 | 180 | 360);
                u.daily_snapshot_retention_days =
                    check(x, ok, "0, 3-7, 15, 30, 60, 90, 120, 180, 360")?;
            }
            "weeklySnapshotRetentionWeeks" => {
                let x = n()?;
                let ok = matches!(x, 0..=8 | 12 | 16 | 20 | 24 | 52);
                u.weekly_snapshot_retention_weeks = check(x, ok, "0-8, 12, 16, 20, 24, 52")?;
            }
            "monthlySnapshotRetentionMonths" => {
                let x = n()?;
                let ok = matches!(x, 0..=13 | 18 | 24 | 36);
                u.monthly_snapshot_retention_months = check(x, ok, "0-13, 18, 24, 36")?;
            }
            "pointInTimeWindowHours" => {
                let x = n()?;
                u.point_in_time_window_hours = check(x, (1..=8760).contains(&x), "1 to 8760")?;
            }
            "groupId" | "clusterId" | "links" => {
                return Err(AtlasError::new(
                    400,
                    "ATTRIBUTE_READ_ONLY",
                    format!("Attribute {k} is read-only and cannot be changed."),
                    vec![k.clone()],
                ))
            }
            _ => {
                return Err(AtlasError::invalid(
                    k,
                    format!("Invalid attribute {} specified.", excerpt(k)),
                ))
            }
        }
    }
    Ok(u)
}

fn job_json(ctx: &Ctx, p: &ProjectRec, j: &RestoreJobRec) -> Value {
    let delivery_status = match j.status {
        JobStatus::Finished => "READY",
        JobStatus::Broken => "FAILED",
        JobStatus::InProgress => "IN_PROGRESS",
    };
    let mut v = json!({
        "id": j.id,
        "batchId": j.batch_id,
        "clusterId": j.cluster_id,
        "clusterName": j.logstore,
        "groupId": j.group_id,
        "checkpointId": j.checkpoint_id,
        "replicaSetName": j.part,
        "created": iso(j.created_ms),
        "statusName": j.status.as_str(),
        "pointInTime": false,
        "encryptionEnabled": false,
        "timestamp": bson_ts(j.timestamp),
        "delivery": {
            "methodName": "AUTOMATED_RESTORE",
            "statusName": delivery_status,
            "targetGroupId": j.target_group_id,
            "targetClusterName": j.target_logstore,
        },
        "links": [{"href": format!("{}/groups/{}/clusters/{}/restoreJobs/{}", ctx.base, p.id, j.logstore, j.id), "rel": "self"}],
    });
    if let Some(r) = &j.reason {
        v["statusReason"] = json!(r);
    }
    v
}

fn list_jobs(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let p = ctx.group(g)?;
    let l = ctx.cluster(&p, c)?;
    let jobs = ctx
        .svc()
        .list_restore_jobs(&p.name, &l.name, ctx.query.get("batchId"))?;
    let items = jobs.iter().map(|j| job_json(ctx, &p, j)).collect();
    ctx.page(&format!("/groups/{}/clusters/{c}/restoreJobs", p.id), items)
}

/// A restore job creation (`POST .../restoreJobs`) as its body states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// `checkpointId` (also accepted as `checkPointId`).
    pub checkpoint_id: String,
    /// `delivery.targetGroupId`: the id or name of the target group.
    pub target_group: String,
    /// The target cluster.
    pub target_cluster: RestoreTarget,
}

/// How a restore names its target cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    /// `delivery.targetClusterName` (preferred when both are given).
    Name(String),
    /// `delivery.targetClusterId`.
    Id(String),
}

/// Parses the body of `POST .../restoreJobs`: `checkpointId` and a `delivery` with
/// `methodName` `AUTOMATED_RESTORE`, `targetGroupId` and `targetClusterName` or
/// `targetClusterId`. Point-in-time attributes and unknown attributes are refused.
pub fn parse_restore_request(body: &[u8]) -> Result<RestoreRequest, AtlasError> {
    let body = json_object(body)?;
    let mut checkpoint = None;
    let mut delivery = None;
    for (k, v) in &body {
        match k.as_str() {
            "checkpointId" | "checkPointId" => {
                checkpoint = Some(v.as_str().ok_or_else(|| AtlasError::invalid(k, format!("{k} must be a string.")))?.to_string())
            }
            "delivery" => delivery = Some(v.as_object().ok_or_else(|| AtlasError::invalid(k, "delivery must be an object."))?.clone()),
            "snapshotId" | "oplogTs" | "oplogInc" | "pointInTimeUTCMillis" => {
                return Err(AtlasError::invalid(k, format!("Invalid attribute {k} specified: Cairn restores checkpoints only; use checkpointId.")))
            }
            _ => return Err(AtlasError::invalid(k, format!("Invalid attribute {} specified.", excerpt(k)))),
        }
    }
    let delivery = delivery.ok_or_else(|| AtlasError::missing("delivery"))?;
    let checkpoint = checkpoint.ok_or_else(|| AtlasError::missing("checkpointId"))?;
    let text = |k: &str| -> Result<Option<String>, AtlasError> {
        match delivery.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(AtlasError::invalid(
                k,
                format!("delivery.{k} must be a string."),
            )),
        }
    };
    for k in delivery.keys() {
        if !matches!(
            k.as_str(),
            "methodName"
                | "targetGroupId"
                | "targetClusterName"
                | "targetClusterId"
                | "expirationHours"
                | "maxDownloads"
        ) {
            return Err(AtlasError::invalid(
                k,
                format!("Invalid attribute delivery.{} specified.", excerpt(k)),
            ));
        }
    }
    let method = text("methodName")?.ok_or_else(|| AtlasError::missing("delivery.methodName"))?;
    if method != "AUTOMATED_RESTORE" {
        return Err(AtlasError::new(
            400,
            "UNSUPPORTED_DELIVERY_METHOD",
            format!(
                "Unsupported delivery method {}: Cairn supports AUTOMATED_RESTORE.",
                excerpt(&method)
            ),
            vec![method],
        ));
    }
    let target_group =
        text("targetGroupId")?.ok_or_else(|| AtlasError::missing("delivery.targetGroupId"))?;
    let target_cluster = match (text("targetClusterName")?, text("targetClusterId")?) {
        (Some(n), _) => RestoreTarget::Name(n),
        (None, Some(id)) => RestoreTarget::Id(id),
        (None, None) => return Err(AtlasError::missing("delivery.targetClusterName")),
    };
    Ok(RestoreRequest {
        checkpoint_id: checkpoint,
        target_group,
        target_cluster,
    })
}

async fn create_restore(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let p = ctx.group(g)?;
    let l = ctx.cluster(&p, c)?;
    let RestoreRequest {
        checkpoint_id: checkpoint,
        target_group,
        target_cluster,
    } = parse_restore_request(&ctx.body)?;
    let tp = ctx.group(&target_group)?;
    let target_cluster = match target_cluster {
        RestoreTarget::Name(n) => n,
        RestoreTarget::Id(id) => {
            let (_, names) = ctx.svc().list_logstores(&tp.name, 0, usize::MAX, "")?;
            names
                .into_iter()
                .find(|n| {
                    ctx.svc()
                        .get_logstore(&tp.name, n)
                        .is_ok_and(|l| l.uid == id)
                })
                .ok_or_else(|| {
                    AtlasError::new(
                        404,
                        "CLUSTER_NOT_FOUND",
                        format!(
                            "No cluster with ID {} exists in group {}.",
                            excerpt(&id),
                            tp.id
                        ),
                        vec![id, tp.id.clone()],
                    )
                })?
        }
    };
    let svc = ctx.svc().clone();
    let (pn, ln, tpn, cid) = (
        p.name.clone(),
        l.name.clone(),
        tp.name.clone(),
        checkpoint.clone(),
    );
    let jobs = blocking(move || svc.start_restore(&pn, &ln, &cid, &tpn, &target_cluster))
        .await
        .map_err(|e| not_found_checkpoint(e, &checkpoint, c))?;
    let items: Vec<Value> = jobs.iter().map(|j| job_json(ctx, &p, j)).collect();
    let (_, body, kind) = ctx.page(&format!("/groups/{}/clusters/{c}/restoreJobs", p.id), items)?;
    Ok((StatusCode::OK, body, kind))
}
