//! The HTTP edge: one listener serving the SLS API (project from the `Host` header) and the
//! Atlas-compatible API under `/api/atlas/v1.0`.
//!
//! Handlers parse the request, call one service method on a blocking thread and map the result;
//! they do no I/O of their own.

mod accept;
pub mod atlas;
mod body;
pub mod codes;
mod error;
mod json;
mod limits;
mod request;
mod sls;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;

use crate::keys::KeyRing;
use crate::service::Service;

pub use error::SlsError;
pub use limits::HttpLimits;
pub use sls::parse_json_batch;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The service.
    pub svc: Arc<Service>,
    /// Accepted keys.
    pub keys: Arc<KeyRing>,
    /// Whether requests must be authenticated.
    pub auth_enabled: bool,
    /// Endpoint host names (`<project>.<endpoint>`).
    pub endpoints: Arc<Vec<String>>,
    /// Largest PutLogs body after decompression.
    pub max_raw_body: usize,
    /// Issues and checks HTTP Digest nonces for the Atlas API.
    pub digest: Arc<cairn_auth::DigestAuthority>,
    /// Connection and request limits.
    pub limits: Arc<HttpLimits>,
    /// The rate of unsigned web tracking requests.
    pub tracking: Arc<sls::TrackingLimiter>,
    ids: Arc<RequestIds>,
}

impl AppState {
    /// State over a service.
    pub fn new(
        svc: Arc<Service>,
        keys: KeyRing,
        auth_enabled: bool,
        endpoints: Vec<String>,
        max_raw_body: usize,
    ) -> Self {
        Self {
            svc,
            keys: Arc::new(keys),
            auth_enabled,
            endpoints: Arc::new(endpoints),
            max_raw_body,
            digest: Arc::new(cairn_auth::DigestAuthority::random()),
            limits: Arc::new(HttpLimits::default()),
            tracking: Arc::new(sls::TrackingLimiter::new(
                crate::config::SlsConfig::default().tracking_requests_per_minute,
            )),
            ids: Arc::new(RequestIds::new()),
        }
    }

    /// The same state with another rate of unsigned web tracking requests, per minute.
    pub fn with_tracking_rate(mut self, per_minute: u32) -> Self {
        self.tracking = Arc::new(sls::TrackingLimiter::new(per_minute));
        self
    }

    /// The same state with other limits.
    pub fn with_limits(mut self, limits: HttpLimits) -> Self {
        self.limits = Arc::new(limits);
        self
    }
}

/// Generates SLS-style request ids: 24 uppercase hex digits, unique per process run.
struct RequestIds {
    prefix: u32,
    counter: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self {
            prefix: rand::random(),
            counter: AtomicU64::new(rand::random::<u32>() as u64),
        }
    }

    fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}{:016X}", self.prefix, n)
    }
}

/// The router: every request goes through [`dispatch`].
pub fn app(state: AppState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

async fn dispatch(State(state): State<AppState>, req: Request) -> Response<Body> {
    if req.uri().path().starts_with(atlas::PREFIX) {
        return atlas::handle(state, req).await;
    }
    let request_id = state.ids.next();
    sls::handle(state, req, request_id).await
}

/// Serves `app` on `listener` (HTTP/1.1 and HTTP/2) within `state.limits` until `shutdown`
/// resolves, then stops accepting and drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    accept::serve(listener, app(state), limits, shutdown).await
}
