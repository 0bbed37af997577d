//! Web tracking: `POST /logstores/{ls}/track` (a JSON batch, as PutWebtracking and the browser
//! SDK send it), `GET /logstores/{ls}/track` and `GET .../track_ua.gif` (one log in the query
//! string, as image beacons send it), and the CORS preflight browsers send first (design §16).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::json_logs;
use super::{Ctx, Reply};
use crate::excerpt::excerpt;
use crate::http::codes::SlsCode;
use crate::http::error::SlsError;
use crate::service::{blocking, JsonBatch};

/// The paths of tracking requests, by their last segment.
pub(super) fn is_tracking(last: &str) -> bool {
    last == "track" || last == IMAGE
}

/// Whether the path's decoded segments name a tracking route: `/logstores/{ls}/track` or
/// `.../track_ua.gif`.
pub(super) fn is_tracking_path(segs: &[String]) -> bool {
    matches!(segs, [l, _, last] if l == "logstores" && is_tracking(last))
}

/// The image-beacon path: also records the browser's user agent and referer.
const IMAGE: &str = "track_ua.gif";

/// A transparent 1×1 GIF, the answer to an image beacon.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Headers a browser may send on a tracking request (answered to a preflight that names none).
const ALLOWED_HEADERS: &str =
    "x-log-apiversion, x-log-bodyrawsize, x-log-compresstype, content-type";

/// Adds the CORS headers every tracking answer carries, errors included, so that a page can
/// read it.
pub(super) fn cors(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("x-log-requestid"),
    );
}

/// The answer to a CORS preflight (`OPTIONS`), which carries no credentials by design.
pub(super) fn preflight(request: &HeaderMap) -> Reply {
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, GET, OPTIONS"),
    );
    // The headers the browser asks for, when they are plain header names; else the usual ones.
    let asked = request
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            v.len() <= 1024
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_, ".contains(&b))
        })
        .unwrap_or(ALLOWED_HEADERS);
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_str(asked).expect("checked above"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    *r.status_mut() = StatusCode::OK;
    Ok(r)
}

/// The largest unsigned tracking body, as sent and once decompressed.
pub(super) const MAX_BODY: usize = 1 << 20;

/// Unsigned tracking requests read, parsed and written at once; more wait for their turn.
const IN_FLIGHT: usize = 16;

/// The longest an unsigned tracking body may take to arrive, once it has its turn.
pub(super) const BODY_DEADLINE: Duration = Duration::from_secs(5);

/// Bounds unsigned tracking requests: how many a minute across the server (a token bucket
/// holding at most a minute's worth), and how many are read and parsed at once.
pub struct TrackingLimiter {
    per_minute: f64,
    state: Mutex<(f64, Instant)>,
    in_flight: Arc<Semaphore>,
}

impl TrackingLimiter {
    /// A limiter allowing `per_minute` requests a minute (at least one).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Self {
            per_minute,
            state: Mutex::new((per_minute, Instant::now())),
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// A turn to read and parse one request, waited for at most `patience`; held until the
    /// request is answered.
    pub(super) async fn enter(&self, patience: Duration) -> Result<OwnedSemaphorePermit, SlsError> {
        match tokio::time::timeout(patience, self.in_flight.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(SlsError::new(
                SlsCode::ServerBusy,
                "too many unsigned web tracking requests at once; retry later",
            )),
        }
    }

    /// Takes one request's token at `now`; false when there is none left.
    pub fn take(&self, now: Instant) -> bool {
        let mut s = self.state.lock();
        let (tokens, last) = *s;
        let refill = now.saturating_duration_since(last).as_secs_f64() * self.per_minute / 60.0;
        let tokens = (tokens + refill).min(self.per_minute);
        if tokens >= 1.0 {
            *s = (tokens - 1.0, now.max(last));
            true
        } else {
            *s = (tokens, now.max(last));
            false
        }
    }
}

/// One log from a query string: every parameter but `APIVersion` is a field, except
/// `__topic__` and `__source__`, and `__tag__:<key>`, a tag.
pub(super) fn batch_from_query(ctx: &Ctx) -> JsonBatch {
    let mut batch = JsonBatch::default();
    let mut fields = Vec::new();
    for (k, v) in ctx.query.pairs() {
        match k {
            "APIVersion" => {}
            "__topic__" => batch.topic = Some(v.to_string()),
            "__source__" => batch.source = Some(v.to_string()),
            _ => match k.strip_prefix("__tag__:") {
                Some(tag) => batch.tags.push((tag.to_string(), v.to_string())),
                None => fields.push((k.to_string(), v.to_string())),
            },
        }
    }
    batch.logs.push(fields);
    batch
}

fn check_api_version(ctx: &Ctx) -> Result<(), SlsError> {
    match ctx
        .query
        .get("APIVersion")
        .or_else(|| ctx.header("x-log-apiversion"))
    {
        Some("0.6.0") => Ok(()),
        Some(v) => Err(SlsError::param(format!(
            "APIVersion {:?} is not supported; use 0.6.0",
            excerpt(v)
        ))),
        None => Err(SlsError::param(
            "a tracking request needs APIVersion=0.6.0 (query) or x-log-apiversion: 0.6.0",
        )),
    }
}

/// `POST .../track`: a batch, possibly compressed as `x-log-compresstype` says.
pub(super) async fn post(ctx: Ctx, ls: &str) -> Reply {
    check_api_version(&ctx)?;
    let project = ctx.project()?;
    let (ct, raw_size) = json_logs::compression(&ctx)?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    json_logs::write_batch(&ctx, ct, raw_size, move |batch| {
        svc.put_tracked(&project, &ls, batch)
    })
    .await?;
    Ok(Response::new(Body::empty()))
}

/// `GET .../track` and `GET .../track_ua.gif`: one log in the query string.
pub(super) async fn get(ctx: Ctx, ls: &str, last: &str) -> Reply {
    check_api_version(&ctx)?;
    let project = ctx.project()?;
    let mut batch = batch_from_query(&ctx);
    let image = last == IMAGE;
    if image {
        let log = &mut batch.logs[0];
        for (field, header) in [("__userAgent__", "user-agent"), ("__referer__", "referer")] {
            if let Some(v) = ctx.header(header) {
                log.push((field.to_string(), v.to_string()));
            }
        }
    }
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || svc.put_tracked(&project, &ls, batch)).await?;
    let mut r = if image {
        let mut r = Response::new(Body::from(PIXEL));
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("image/gif"));
        r
    } else {
        Response::new(Body::empty())
    };
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn only_a_few_unsigned_requests_are_parsed_at_once() {
        let l = TrackingLimiter::new(1000);
        let patience = Duration::from_secs(30);
        let mut held = Vec::new();
        for _ in 0..IN_FLIGHT {
            held.push(l.enter(patience).await.unwrap());
        }
        let e = l.enter(patience).await.unwrap_err();
        assert_eq!(e.code, SlsCode::ServerBusy);
        held.pop();
        assert!(
            l.enter(patience).await.is_ok(),
            "a turn comes back when one ends"
        );
    }

    #[test]
    fn the_limiter_allows_a_minute_of_requests_then_refills() {
        let l = TrackingLimiter::new(3);
        let t0 = Instant::now();
        assert!(l.take(t0) && l.take(t0) && l.take(t0));
        assert!(!l.take(t0), "a minute's worth is used up");
        assert!(!l.take(t0 + Duration::from_secs(10)));
        assert!(l.take(t0 + Duration::from_secs(21)), "one token per 20 s");
        assert!(!l.take(t0 + Duration::from_secs(21)));
        assert!(l.take(t0 + Duration::from_secs(3600)));
        assert!(l.take(t0 + Duration::from_secs(3600)));
        assert!(l.take(t0 + Duration::from_secs(3600)));
        assert!(
            !l.take(t0 + Duration::from_secs(3600)),
            "never more than a minute's worth"
        );
    }
}
