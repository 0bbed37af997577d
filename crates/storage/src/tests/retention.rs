//! Retention driven by a manual clock (design §9).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::StorageError;

const HOUR: u64 = 3_600_000;

#[test]
fn old_sealed_segments_are_deleted_and_begin_moves() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(2048, 256), hc.clone()).unwrap();
    // Three hours of data, 60 records an hour.
    for _ in 0..3 {
        append_n(&log, 60);
        m.advance(HOUR);
    }
    let sealed = log.sealed_segments();
    let files_before = segment_paths(dir.path()).len();
    assert_eq!(
        log.expire_before(T0).unwrap(),
        0,
        "nothing is older than the cutoff"
    );
    // Everything received in the first hour.
    let cutoff = T0 + HOUR;
    let expected: Vec<_> = sealed
        .iter()
        .take_while(|s| s.last_millis < cutoff)
        .collect();
    assert!(!expected.is_empty());
    let n = log.expire_before(cutoff).unwrap();
    assert_eq!(n, expected.len());
    let begin = log.begin();
    assert_eq!(begin, expected.last().unwrap().next);
    assert!(begin <= 60, "only first-hour segments go");
    assert_eq!(segment_paths(dir.path()).len(), files_before - n);
    for s in &expected {
        let log_file = dir.path().join(crate::record::segment_file_name(s.base));
        assert!(!log_file.exists() && !log_file.with_extension("idx").exists());
    }
    // Below begin is out of range; cursor_for_time clamps to begin.
    assert!(matches!(
        log.read(0, u64::MAX, 10, 100),
        Err(StorageError::CursorOutOfRange { cursor: 0, .. })
    ));
    assert!(matches!(
        log.read(begin - 1, u64::MAX, 10, 100),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    assert!(matches!(
        log.record_meta(begin - 1),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    assert_eq!(log.cursor_for_time(0).unwrap(), begin);
    assert_eq!(log.cursor_for_time((T0 / 1000) as i64).unwrap(), begin);
    assert_eq!(read_all(&log).first().unwrap().0, begin);
    assert_payloads(&log);
    assert_eq!(log.stats().records, 180 - begin);
    assert_eq!(log.end(), 180);

    // The active segment is never deleted, however old.
    m.advance(1000 * HOUR);
    log.expire_before(u64::MAX).unwrap();
    assert_eq!(log.stats().segments, 1);
    let active = log.segments.read().active.base;
    assert_eq!(log.begin(), active);
    assert_eq!(log.end(), 180);
    drop(log);
    let log = ShardLog::open(dir.path(), cfg(2048, 256), hc).unwrap();
    assert_eq!((log.begin(), log.end()), (active, 180));
    append_n(&log, 1);
    assert_payloads(&log);
}

#[test]
fn retention_of_everything_but_an_empty_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(2048, 256), hc).unwrap();
    append_n(&log, 40);
    while log.segments.read().active.base != log.end() {
        append_n(&log, 1);
    }
    let end = log.end();
    m.advance(HOUR);
    log.expire_before(T0 + 1).unwrap();
    assert_eq!((log.begin(), log.end()), (end, end));
    assert!(log.read(end, u64::MAX, 10, 10).unwrap().is_empty());
    assert_eq!(log.cursor_for_time(0).unwrap(), end);
    assert_eq!(log.stats().records, 0);
    let a = append_n(&log, 1)[0];
    assert_eq!(a.cursor, end);
    assert_eq!(log.cursor_for_time(0).unwrap(), end);
}

#[test]
fn reads_racing_retention_see_records_or_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = manual(T0);
    let log = Arc::new(ShardLog::open(dir.path(), cfg(1024, 128), hc).unwrap());
    for _ in 0..40 {
        append_n(&log, 10);
        m.advance(1000);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2u64)
        .map(|k| {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = k;
                while !stop.load(Ordering::SeqCst) {
                    c = (c + 37) % 400;
                    match log.read(c, c + 20, 20, usize::MAX) {
                        Ok(rs) => {
                            for r in rs {
                                assert_eq!(r.payload, payload(r.cursor));
                            }
                        }
                        Err(StorageError::CursorOutOfRange { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                    match log.record_meta(c) {
                        Ok(meta) => assert_eq!(meta.cursor, c),
                        Err(StorageError::CursorOutOfRange { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                    let t = log
                        .cursor_for_time((T0 / 1000) as i64 + (c as i64 % 40))
                        .unwrap();
                    assert!(t <= log.end());
                }
            })
        })
        .collect();
    for s in 0..40 {
        log.expire_before(T0 + s * 1000).unwrap();
        std::thread::yield_now();
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    assert!(log.begin() > 300);
    assert_payloads(&log);
}
