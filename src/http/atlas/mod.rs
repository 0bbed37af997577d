//! The Atlas-compatible API under `/api/atlas/v1.0`: projects are groups, logstores are sharded
//! clusters, backup checkpoints and restore jobs are Cairn's own. HTTP Digest authentication;
//! errors as `{detail, error, errorCode, parameters, reason}`. One module per resource family
//! (groups and clusters, checkpoints, schedules, restore jobs); `wire` writes the records.
//!
//! The request bodies are parsed by pure functions — [`parse_restore_request`],
//! [`parse_schedule_update`], [`parse_checkpoint_request`]: bytes in, a typed request or the
//! [`AtlasError`] the handler answers with out — which the handlers call once the path is
//! resolved, and which the fuzz targets (`crates/fuzz-targets`) call directly.

mod checkpoints;
mod error;
mod groups;
mod restores;
mod schedules;
mod wire;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

pub use checkpoints::parse_checkpoint_request;
pub use error::AtlasError;
use error::Scope;
pub use restores::{parse_restore_request, RestoreRequest, RestoreTarget};
pub use schedules::parse_schedule_update;

use super::body::{check_declared, read_body, BodyError};
use super::codes::AtlasCode;
use super::request::{percent_decode, Query};
use super::AppState;
use crate::excerpt::excerpt;
use crate::meta::{LogstoreRec, ProjectRec};
use crate::service::{Error, ProjectSummary};

/// Path prefix of the API.
pub const PREFIX: &str = "/api/atlas/v1.0";
const MAX_BODY: usize = 64 * 1024;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 500;

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
        Some(v) => Err(AtlasError::query(
            key,
            format!("Invalid query parameter {key} specified: {}.", excerpt(v)),
            Some(v),
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
        return respond(&render, e.atlas_code().status(), e.body(), Kind::One);
    }
    if state.auth_enabled {
        if let Err((e, stale)) = authenticate(&state, &parts) {
            let mut r = respond(&render, e.atlas_code().status(), e.body(), Kind::One);
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
            return respond(&render, e.atlas_code().status(), e.body(), Kind::One);
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
            if e.atlas_code().status().is_server_error() && e.atlas_code() != AtlasCode::ServerBusy
            {
                tracing::error!(code = e.code(), detail = %e.detail(), "atlas request failed");
            }
            respond(&render, e.atlas_code().status(), e.body(), Kind::One)
        }
    }
}

fn body_error(e: BodyError) -> AtlasError {
    match e {
        BodyError::TooLarge { .. } => AtlasError::new(
            AtlasCode::RequestBodyTooLarge,
            format!("The request body is larger than the limit of {MAX_BODY} bytes."),
            vec![],
        ),
        BodyError::Busy => AtlasError::new(
            AtlasCode::ServerBusy,
            "The server is receiving too many request bodies at once; retry later.",
            vec![],
        ),
        BodyError::Timeout => AtlasError::new(
            AtlasCode::RequestTimeout,
            "The request body did not arrive in time.",
            vec![],
        ),
        BodyError::Io(m) => AtlasError::new(AtlasCode::InvalidJson, m, vec![]),
    }
}

fn authenticate(state: &AppState, parts: &Parts) -> Result<(), (AtlasError, bool)> {
    let unauthorized = |detail: String| AtlasError::new(AtlasCode::Unauthorized, detail, vec![]);
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

/// A cluster the path names: its group's project, its logstore, and the path's names for
/// error details.
struct Cluster<'a> {
    p: ProjectRec,
    l: LogstoreRec,
    scope: Scope<'a>,
}

impl Cluster<'_> {
    /// The wire error of a service error about this cluster.
    fn err(&self, e: Error) -> AtlasError {
        AtlasError::service(e, self.scope)
    }
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

    /// The group `g` (a project's id, or its name) with its cluster count.
    fn group(&self, g: &str) -> Result<ProjectSummary, AtlasError> {
        Ok(self.svc().resolve_project(g)?)
    }

    /// The cluster `c` of the group `g`.
    fn cluster<'a>(&self, g: &'a str, c: &'a str) -> Result<Cluster<'a>, AtlasError> {
        let scope = Scope {
            group: Some(g),
            cluster: Some(c),
        };
        let (p, l) = self
            .svc()
            .resolve_logstore(g, c)
            .map_err(|e| AtlasError::service(e, scope))?;
        Ok(Cluster { p, l, scope })
    }

    /// A page of `items`, with links built from `path` (below the API prefix).
    fn page(&self, path: &str, items: Vec<Value>) -> Reply {
        let num = |k: &str, d: usize| -> Result<usize, AtlasError> {
            match self.query.get(k) {
                None => Ok(d),
                Some(v) => v.parse::<usize>().map_err(|_| {
                    AtlasError::query(
                        k,
                        format!("Invalid query parameter {k} specified: {}.", excerpt(v)),
                        Some(v),
                    )
                }),
            }
        };
        let page_num = num("pageNum", 1)?;
        let per_page = num("itemsPerPage", DEFAULT_PAGE)?;
        if page_num == 0 {
            return Err(AtlasError::query(
                "pageNum",
                "pageNum must be at least 1.",
                None,
            ));
        }
        if !(1..=MAX_PAGE).contains(&per_page) {
            return Err(AtlasError::query(
                "itemsPerPage",
                format!("itemsPerPage must be between 1 and {MAX_PAGE}."),
                None,
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
            AtlasCode::InvalidJson,
            "The request body must be a JSON object.",
            vec![],
        )),
        Err(e) => Err(AtlasError::new(
            AtlasCode::InvalidJson,
            format!("Invalid JSON: {e}."),
            vec![],
        )),
    }
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
    match segs.as_slice() {
        ["groups"] if m == Method::GET => groups::list(ctx),
        ["groups", g] if m == Method::GET => groups::get(ctx, g),
        ["groups", g, "clusters"] if m == Method::GET => groups::list_clusters(ctx, g),
        ["groups", g, "clusters", c] if m == Method::GET => groups::get_cluster(ctx, g, c),
        ["groups", g, "clusters", c, "backupCheckpoints"] if m == Method::GET => {
            checkpoints::list(ctx, g, c)
        }
        ["groups", g, "clusters", c, "backupCheckpoints"] if m == Method::POST => {
            checkpoints::take(ctx, g, c).await
        }
        ["groups", g, "clusters", c, "backupCheckpoints", id] if m == Method::GET => {
            checkpoints::get(ctx, g, c, id)
        }
        ["groups", g, "clusters", c, "backupCheckpoints", id] if m == Method::DELETE => {
            checkpoints::delete(ctx, g, c, id).await
        }
        ["groups", g, "clusters", c, "snapshotSchedule"] if m == Method::GET => {
            schedules::get(ctx, g, c)
        }
        ["groups", g, "clusters", c, "snapshotSchedule"] if m == Method::PATCH => {
            schedules::patch(ctx, g, c).await
        }
        ["groups", g, "clusters", c, "restoreJobs"] if m == Method::GET => {
            restores::list(ctx, g, c)
        }
        ["groups", g, "clusters", c, "restoreJobs"] if m == Method::POST => {
            restores::create(ctx, g, c).await
        }
        ["groups", g, "clusters", c, "restoreJobs", id] if m == Method::GET => {
            restores::get(ctx, g, c, id)
        }
        ["groups"]
        | ["groups", _]
        | ["groups", _, "clusters"]
        | ["groups", _, "clusters", _]
        | ["groups", _, "clusters", _, "backupCheckpoints" | "snapshotSchedule" | "restoreJobs"]
        | ["groups", _, "clusters", _, "backupCheckpoints" | "restoreJobs", _] => {
            Err(AtlasError::new(
                AtlasCode::MethodNotAllowed,
                format!(
                    "Method {m} is not allowed on {}.",
                    excerpt(parts.uri.path())
                ),
                vec![],
            ))
        }
        _ => Err(AtlasError::new(
            AtlasCode::ResourceNotFound,
            format!("Cannot find resource {}.", excerpt(parts.uri.path())),
            vec![parts.uri.path().to_string()],
        )),
    }
}
