//! Reading request bodies within the limits (design §15): a declared length over the route's
//! limit is refused before anything is read, a body takes its share of the body budget before
//! it is read, and a body that stalls or takes too long is abandoned.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::limits::HttpLimits;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body is, or says it is, longer than the limit.
    TooLarge {
        /// The declared length, when the body has one.
        declared: Option<u64>,
        /// The route's limit.
        limit: usize,
    },
    /// The body budget had no room for it within the stall timeout.
    Busy,
    /// The body stalled, or did not arrive within the whole-body timeout.
    Timeout,
    /// The connection failed.
    Io(String),
}

/// A body read whole. It holds its share of the body budget until dropped.
pub struct ReadBody {
    /// The bytes.
    pub bytes: Bytes,
    _share: Option<OwnedSemaphorePermit>,
}

/// The length the request declared (`Content-Length`), if it did.
pub fn declared_len(body: &Body) -> Option<u64> {
    body.size_hint().exact()
}

/// Refuses a body whose declared length is over `limit`, without reading any of it (so no
/// `100 Continue` is sent).
pub fn check_declared(body: &Body, limit: usize) -> Result<(), BodyError> {
    match declared_len(body) {
        Some(n) if n > limit as u64 => Err(BodyError::TooLarge {
            declared: Some(n),
            limit,
        }),
        _ => Ok(()),
    }
}

/// Reads the whole body, refusing more than `limit` bytes. The body first takes its declared
/// length (or `limit`, when it declares none) from the body budget, waiting at most the stall
/// timeout for it.
pub async fn read_body(
    body: Body,
    limit: usize,
    limits: &HttpLimits,
) -> Result<ReadBody, BodyError> {
    check_declared(&body, limit)?;
    let declared = declared_len(&body);
    if declared == Some(0) || body.is_end_stream() {
        return Ok(ReadBody {
            bytes: Bytes::new(),
            _share: None,
        });
    }
    let want = declared.map_or(limit, |n| n as usize);
    let share = tokio::time::timeout(
        limits.body_stall_timeout,
        limits
            .body_budget
            .clone()
            .acquire_many_owned(u32::try_from(want).unwrap_or(u32::MAX)),
    )
    .await
    .map_err(|_| BodyError::Busy)?
    .map_err(|_| BodyError::Busy)?;
    let bytes = read_within(body, limit, want, limits).await?;
    Ok(ReadBody {
        bytes,
        _share: Some(share),
    })
}

async fn read_within(
    mut body: Body,
    limit: usize,
    capacity: usize,
    limits: &HttpLimits,
) -> Result<Bytes, BodyError> {
    let deadline = Instant::now() + limits.body_read_timeout;
    let mut buf = BytesMut::with_capacity(capacity);
    loop {
        let stall = Instant::now() + limits.body_stall_timeout;
        let frame = match tokio::time::timeout_at(stall.min(deadline), body.frame()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(e))) => return Err(BodyError::Io(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BodyError::TooLarge {
                    declared: None,
                    limit,
                });
            }
            buf.extend_from_slice(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::HttpConfig;

    fn limits(budget: usize, stall_secs: u64) -> HttpLimits {
        let cfg = HttpConfig {
            body_budget_bytes: budget,
            body_stall_timeout_secs: stall_secs,
            ..HttpConfig::default()
        };
        HttpLimits::new(&cfg, 16)
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_unread() {
        let l = limits(1 << 20, 1);
        let body = Body::from(vec![0u8; 100]);
        match read_body(body, 99, &l).await {
            Err(BodyError::TooLarge {
                declared: Some(100),
                limit: 99,
            }) => {}
            other => panic!("{:?}", other.map(|b| b.bytes)),
        }
        assert_eq!(l.body_budget.available_permits(), 1 << 20);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_holds_its_share_of_the_budget_and_a_full_budget_answers_busy() {
        let l = limits(150, 5);
        let first = read_body(Body::from(vec![1u8; 100]), 1000, &l)
            .await
            .unwrap();
        assert_eq!(first.bytes.len(), 100);
        assert_eq!(l.body_budget.available_permits(), 50);
        // Another 100 bytes do not fit while the first body is held: busy after the stall timeout.
        let started = Instant::now();
        assert!(matches!(
            read_body(Body::from(vec![2u8; 100]), 1000, &l).await,
            Err(BodyError::Busy)
        ));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        drop(first);
        let second = read_body(Body::from(vec![2u8; 100]), 1000, &l)
            .await
            .unwrap();
        assert_eq!(second.bytes.len(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out_and_gives_its_share_back() {
        let l = limits(1 << 20, 2);
        let (mut tx, body) = channel_body(1000);
        let reader = tokio::spawn(async move {
            let l = l;
            let r = read_body(body, 1 << 20, &l).await;
            (r.map(|b| b.bytes.len()), l.body_budget.available_permits())
        });
        tx.send(Bytes::from_static(b"part")).await;
        let (r, free) = reader.await.unwrap();
        assert!(matches!(r, Err(BodyError::Timeout)), "{r:?}");
        assert_eq!(free, 1 << 20);
        drop(tx);
    }

    #[tokio::test]
    async fn a_body_without_a_length_is_cut_at_the_limit() {
        let l = limits(1 << 20, 5);
        let (mut tx, body) = channel_body_unsized();
        tokio::spawn(async move {
            for _ in 0..10 {
                tx.send(Bytes::from(vec![0u8; 100])).await;
            }
        });
        assert!(matches!(
            read_body(body, 999, &l).await,
            Err(BodyError::TooLarge { declared: None, .. })
        ));
    }

    /// A body fed through a channel, declaring `len` bytes.
    fn channel_body(len: u64) -> (Sender, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        (Sender(tx), Body::new(ChannelBody { rx, len: Some(len) }))
    }

    fn channel_body_unsized() -> (Sender, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        (Sender(tx), Body::new(ChannelBody { rx, len: None }))
    }

    struct Sender(tokio::sync::mpsc::Sender<Bytes>);

    impl Sender {
        async fn send(&mut self, b: Bytes) {
            let _ = self.0.send(b).await;
        }
    }

    struct ChannelBody {
        rx: tokio::sync::mpsc::Receiver<Bytes>,
        len: Option<u64>,
    }

    impl http_body::Body for ChannelBody {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
            self.rx
                .poll_recv(cx)
                .map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
        }

        fn size_hint(&self) -> http_body::SizeHint {
            match self.len {
                Some(n) => http_body::SizeHint::with_exact(n),
                None => http_body::SizeHint::default(),
            }
        }
    }
}
