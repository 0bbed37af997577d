//! Tests of whole shard logs on real files in temporary directories.

mod backup;
mod basics;
mod concurrency;
mod crash;
pub(crate) mod fault;
mod full;
mod recovery;
mod reserve;
mod retention;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::record::{RecordHeader, SEGMENT_HEADER_LEN};
use crate::{Appended, FsyncPolicy, HybridClock, LogConfig, ManualClock, ShardLog};

/// Start of the manual clock in most tests: 2023-11-14, in milliseconds.
pub const T0: u64 = 1_700_000_000_000;

/// Most tests look at segment files byte by byte, so they keep no reserved space;
/// [`reserving`] turns it on.
pub fn cfg(segment_bytes: u64, index_interval_bytes: u32) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes,
        fsync: FsyncPolicy::Always,
        preallocate_bytes: 0,
    }
}

/// [`cfg`] keeping `ahead` bytes of reserved space (design §7).
pub fn reserving(cfg: LogConfig, ahead: u64) -> LogConfig {
    LogConfig {
        preallocate_bytes: ahead,
        ..cfg
    }
}

pub fn manual(start_millis: u64) -> (Arc<ManualClock>, Arc<HybridClock>) {
    let m = Arc::new(ManualClock::new(start_millis));
    (m.clone(), Arc::new(HybridClock::new(m)))
}

/// A payload that names its record and varies in length.
pub fn payload(i: u64) -> Vec<u8> {
    format!("payload-{i}-{}", "x".repeat((i % 53) as usize)).into_bytes()
}

/// Appends `payload(c)` for the next `n` cursors, each durable before the next.
pub fn append_n(log: &ShardLog, n: u64) -> Vec<Appended> {
    (0..n)
        .map(|_| {
            let next = log.end();
            let a = log.append(&payload(next)).unwrap();
            assert_eq!(a.cursor, next);
            log.wait_durable(&a).unwrap();
            a
        })
        .collect()
}

/// Every retained record as (cursor, payload).
pub fn read_all(log: &ShardLog) -> Vec<(u64, Vec<u8>)> {
    log.read(log.begin(), u64::MAX, usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| (r.cursor, r.payload.to_vec()))
        .collect()
}

/// Checks that the log holds exactly `payload(c)` for every cursor in `[begin, end)`.
pub fn assert_payloads(log: &ShardLog) {
    let all = read_all(log);
    assert_eq!(all.len() as u64, log.end() - log.begin());
    for (i, (c, p)) in all.iter().enumerate() {
        assert_eq!(*c, log.begin() + i as u64);
        assert_eq!(p, &payload(*c), "payload of cursor {c}");
    }
}

/// Segment files in `dir`, oldest first.
pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Position and length of every record in a well-formed segment file, up to its reserved
/// space if it has any.
pub fn record_spans(path: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(path).unwrap();
    let mut pos = SEGMENT_HEADER_LEN as usize;
    let mut out = Vec::new();
    while pos < bytes.len() && bytes[pos..].iter().any(|b| *b != 0) {
        let len = RecordHeader::decode(&bytes[pos..]).record_len() as usize;
        out.push((pos, len));
        pos += len;
    }
    out
}
