//! The accept loop (design §15): HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) on one
//! listener, at most `max_connections` connections, each watched for its header, idle and
//! shutdown deadlines.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Version};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use super::limits::{
    HttpLimits, CLOSE_GRACE, H2_CONNECTION_WINDOW, H2_MAX_CONCURRENT_STREAMS, H2_STREAM_WINDOW,
    MAX_HEADER_BYTES,
};

/// Pause after an `accept` error that is not about one connection (EMFILE, ENFILE, ENOBUFS,
/// ENOMEM), so that a full descriptor table does not spin the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Repeated warnings (refused connections, failing accepts) are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What the connections are told to do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Serve.
    Run,
    /// Finish in-flight requests, accept no new ones, close.
    Drain,
    /// Close now.
    Abort,
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves; then stops
/// accepting, lets in-flight requests finish (for at most the shutdown grace period) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Arc<HttpLimits>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let builder = Arc::new(builder());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    let mut shutdown = pin!(shutdown);
    let mut refused = Throttle::default();
    let mut failing = Throttle::default();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((sock, _peer)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    // Closed at once: descriptors stay available for storage.
                    drop(sock);
                    if let Some(more) = refused.due() {
                        tracing::warn!(
                            max_connections = limits.max_connections,
                            refused_since_last_warning = more,
                            "connection refused: http.max_connections connections are open"
                        );
                    }
                    continue;
                };
                let _ = sock.set_nodelay(true);
                tokio::spawn(connection(
                    sock,
                    builder.clone(),
                    router.clone(),
                    limits.clone(),
                    stop_rx.clone(),
                    slot,
                ));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                if let Some(more) = failing.due() {
                    tracing::warn!(error = %e, failed_since_last_warning = more, "accept failed; backing off");
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(Stop::Drain);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            in_use = limits.max_connections - slots.available_permits(),
            "closing connections still busy after the shutdown grace period"
        );
        let _ = stop_tx.send(Stop::Abort);
        let _ = slots.acquire_many(all).await;
    }
    Ok(())
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        // Header and idle deadlines are the connection watcher's (below), for both protocols.
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .adaptive_window(false);
    b
}

/// Errors of `accept` that concern only the connection being accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Serves one connection until it ends, its deadlines pass or the server stops.
async fn connection(
    sock: TcpStream,
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    limits: Arc<HttpLimits>,
    mut stop: watch::Receiver<Stop>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: sock,
        activity: activity.clone(),
    });
    let svc = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let guard = activity.begin(req.version());
            let router = router.clone();
            async move {
                let resp = match router.oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(resp.map(|b| {
                    Body::new(Guarded {
                        inner: b,
                        _guard: guard,
                    })
                }))
            }
        })
    };
    let mut conn = pin!(builder.serve_connection(io, svc));
    // Since when the connection has been asked to close (for a deadline or the shutdown).
    let mut closing: Option<Instant> = None;
    loop {
        let deadline = activity.deadline(&limits, closing);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = activity.changed.notified() => {}
            _ = sleep => {
                if closing.is_some() {
                    return;
                }
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
            r = stop.changed() => {
                let s = if r.is_ok() { *stop.borrow_and_update() } else { Stop::Abort };
                match s {
                    Stop::Run => {}
                    Stop::Drain => {
                        if closing.is_none() {
                            conn.as_mut().graceful_shutdown();
                            closing = Some(Instant::now());
                        }
                    }
                    Stop::Abort => return,
                }
            }
        }
    }
}

/// What a connection's watcher knows of it.
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

struct ActivityState {
    accepted: Instant,
    /// Requests whose response has not been sent yet.
    in_flight: usize,
    /// Whether any request has started.
    served: bool,
    /// Whether the client speaks HTTP/2.
    h2: bool,
    /// Since when no request has been in flight.
    idle_since: Instant,
    /// When the first byte arrived since then.
    first_byte: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(ActivityState {
                accepted: now,
                in_flight: 0,
                served: false,
                h2: false,
                idle_since: now,
                first_byte: None,
            }),
            changed: Notify::new(),
        }
    }

    fn begin(self: &Arc<Self>, version: Version) -> RequestGuard {
        {
            let mut s = self.state.lock();
            s.in_flight += 1;
            s.served = true;
            s.h2 |= version == Version::HTTP_2;
        }
        self.changed.notify_one();
        RequestGuard(self.clone())
    }

    fn bytes_read(&self) {
        let mut s = self.state.lock();
        if s.in_flight == 0 && s.served && s.first_byte.is_none() {
            s.first_byte = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed (or, once closing, dropped); none while a request is
    /// in flight.
    fn deadline(&self, limits: &HttpLimits, closing: Option<Instant>) -> Option<Instant> {
        let s = self.state.lock();
        if s.in_flight > 0 {
            return None;
        }
        if let Some(c) = closing {
            return Some(c.max(s.idle_since) + CLOSE_GRACE);
        }
        Some(if !s.served {
            s.accepted + limits.header_read_timeout
        } else if let (Some(t), false) = (s.first_byte, s.h2) {
            t + limits.header_read_timeout
        } else {
            s.idle_since + limits.idle_timeout
        })
    }
}

/// A request in flight: from its complete headers until its response body has been sent.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        {
            let mut s = self.0.state.lock();
            s.in_flight -= 1;
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
                s.first_byte = None;
            }
        }
        self.0.changed.notify_one();
    }
}

/// A response body that keeps its request in flight until it has been sent or dropped.
struct Guarded {
    inner: Body,
    _guard: RequestGuard,
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling the watcher when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Rate limit for a repeated warning: due at most every [`WARN_EVERY`], counting the
/// occurrences in between.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    since: u64,
}

impl Throttle {
    /// Some(occurrences since the last warning) when a warning is due now.
    fn due(&mut self) -> Option<u64> {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_some_and(|t| now < t + WARN_EVERY) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// Unit tests of the connection watcher's deadlines, on tokio's paused clock.
#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        let cfg = crate::config::HttpConfig {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            ..Default::default()
        };
        HttpLimits::new(&cfg, 4)
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_connection() {
        let l = limits();
        let a = Arc::new(Activity::new());
        let t0 = Instant::now();
        // Before the first request: the header deadline, bytes or not.
        assert_eq!(a.deadline(&l, None), Some(t0 + Duration::from_secs(10)));
        a.bytes_read();
        assert_eq!(a.deadline(&l, None), Some(t0 + Duration::from_secs(10)));
        // While a request is in flight: none.
        let g = a.begin(Version::HTTP_11);
        assert_eq!(a.deadline(&l, None), None);
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(g);
        let t1 = Instant::now();
        // Idle after it: the idle deadline, until the next request's first byte.
        assert_eq!(a.deadline(&l, None), Some(t1 + Duration::from_secs(60)));
        tokio::time::advance(Duration::from_secs(5)).await;
        a.bytes_read();
        assert_eq!(a.deadline(&l, None), Some(t1 + Duration::from_secs(5 + 10)));
        // Asked to close: dropped after the grace.
        let c = Instant::now();
        assert_eq!(a.deadline(&l, Some(c)), Some(c + CLOSE_GRACE));
    }

    #[tokio::test(start_paused = true)]
    async fn http2_connections_close_when_idle_whatever_frames_arrive() {
        let l = limits();
        let a = Arc::new(Activity::new());
        drop(a.begin(Version::HTTP_2));
        let t1 = Instant::now();
        a.bytes_read();
        assert_eq!(a.deadline(&l, None), Some(t1 + Duration::from_secs(60)));
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_warnings_are_throttled() {
        let mut t = Throttle::default();
        assert_eq!(t.due(), Some(1));
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        tokio::time::advance(WARN_EVERY).await;
        assert_eq!(t.due(), Some(3));
    }
}
