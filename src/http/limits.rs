//! The limits the HTTP edge enforces on connections and requests (design §15), from `[http]`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::HttpConfig;

/// Most connections when none is configured and no file descriptor limit was computed (router
/// tests, embedders).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Largest HTTP/1 request head (request line and headers) and HTTP/2 header list, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// HTTP/2 streams one connection may have open at once.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 64;
/// HTTP/2 flow-control window of one stream: bytes a client may send on it before the server
/// has taken them.
pub const H2_STREAM_WINDOW: u32 = 256 * 1024;
/// HTTP/2 flow-control window of one connection, across its streams.
pub const H2_CONNECTION_WINDOW: u32 = 1024 * 1024;
/// How long a connection closed for a timeout has to finish before it is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Connection and request limits, shared by every connection.
pub struct HttpLimits {
    /// Most connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time to the complete headers of a connection's first request, and of a later request
    /// from its first byte.
    pub header_read_timeout: Duration,
    /// Longest wait for the next bytes of a request body, or for body memory.
    pub body_stall_timeout: Duration,
    /// Longest time a whole request body may take to arrive.
    pub body_read_timeout: Duration,
    /// Longest time a connection stays open with no request in flight.
    pub idle_timeout: Duration,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Bytes of request bodies that may be held at once; a request takes its share before it
    /// reads its body and gives it back when it is done.
    pub(crate) body_budget: Arc<Semaphore>,
}

impl HttpLimits {
    /// Limits from the `[http]` settings, with `max_connections` already resolved (it may be
    /// derived from the file descriptor limit).
    pub fn new(cfg: &HttpConfig, max_connections: usize) -> Self {
        Self {
            max_connections,
            header_read_timeout: cfg.header_read_timeout(),
            body_stall_timeout: cfg.body_stall_timeout(),
            body_read_timeout: cfg.body_read_timeout(),
            idle_timeout: cfg.idle_timeout(),
            shutdown_grace: cfg.shutdown_grace(),
            body_budget: Arc::new(Semaphore::new(
                cfg.body_budget_bytes.min(Semaphore::MAX_PERMITS),
            )),
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self::new(&HttpConfig::default(), DEFAULT_MAX_CONNECTIONS)
    }
}
