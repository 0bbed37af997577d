//! Crashes and I/O errors: acknowledged records survive, the shard latches failed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use super::fault::{FaultFs, Tear};
use super::*;
use crate::{Reserver, StorageError};

/// Appends from several threads until the disk dies after `budget` more syncs, then checks
/// every crash image recovery might face: each acknowledged record is there, nothing that was
/// not appended is, and appending continues. With `ahead` > 0 a [`Reserver`] keeps that much
/// reserved space ahead of the appends meanwhile.
fn crash_at_sync(budget: u64, ahead: u64) {
    crash_at_sync_over(budget, ahead, Arc::new(crate::io::RealFs))
}

/// [`crash_at_sync`] over another file system underneath the faults.
fn crash_at_sync_over(budget: u64, ahead: u64, under: Arc<dyn crate::io::Fs>) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("shard");
    let fs = FaultFs::over(under);
    let (_, hc) = manual(T0);
    let conf = reserving(cfg(1024, 128), ahead);
    let log = Arc::new(ShardLog::open_with_fs(Arc::new(fs.clone()), &src, conf, hc).unwrap());
    let reserver = Arc::new(Reserver::start().unwrap());
    fs.die_after_syncs(budget);
    let written = Arc::new(Mutex::new(HashMap::new()));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (log, written, acked) = (log.clone(), written.clone(), acked.clone());
            let reserver = reserver.clone();
            std::thread::spawn(move || {
                for i in 0..60 {
                    let p = format!("thread {t} record {i} {}", "z".repeat(i % 40)).into_bytes();
                    let Ok(a) = log.append(&p) else { break };
                    written.lock().insert(a.cursor, p);
                    if log.wait_durable(&a).is_err() {
                        break;
                    }
                    acked.lock().push(a.cursor);
                    reserver.after_append(&log);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Waits for the reservations handed over.
    drop(Arc::into_inner(reserver).expect("the threads are done"));
    let end_before = log.end();
    let acked = acked.lock().clone();
    let written = written.lock().clone();
    assert!(
        acked.iter().all(|c| *c < end_before),
        "acknowledged records are visible"
    );
    drop(log);

    let tears = [
        Tear::Lost,
        Tear::Kept,
        Tear::Prefix(1),
        Tear::Prefix(500),
        Tear::Prefix(999),
        Tear::Zeroed(300),
        Tear::Zeroed(1000),
    ];
    for (k, tear) in tears.into_iter().enumerate() {
        let image = dir.path().join(format!("image-{k}"));
        fs.crash_image(&src, &image, tear);
        let (_, hc) = manual(T0);
        let log = ShardLog::open(&image, cfg(1024, 128), hc).unwrap_or_else(|e| {
            panic!("budget {budget}, ahead {ahead}, {tear:?}: recovery refused: {e}")
        });
        let ctx = format!(
            "budget {budget}, ahead {ahead}, {tear:?}, end {}",
            log.end()
        );
        assert_eq!(log.begin(), 0, "{ctx}");
        for c in &acked {
            assert!(*c < log.end(), "{ctx}: acknowledged record {c} lost");
        }
        let records = log.read(0, u64::MAX, usize::MAX, usize::MAX).unwrap();
        assert_eq!(records.len() as u64, log.end(), "{ctx}");
        for r in &records {
            assert_eq!(
                Some(&r.payload.to_vec()),
                written.get(&r.cursor),
                "{ctx}: cursor {} names another record",
                r.cursor
            );
        }
        let a = log.append(b"after the crash").unwrap();
        assert_eq!(a.cursor, records.len() as u64);
        log.wait_durable(&a).unwrap();
    }
}

#[test]
fn acknowledged_records_survive_a_crash_at_any_sync() {
    // Every sync of the first few rolls, then a sample further on.
    for budget in (0..60).chain((60..200).step_by(7)) {
        crash_at_sync(budget, 0);
    }
}

#[test]
fn acknowledged_records_survive_a_crash_at_any_sync_with_reserved_space() {
    for budget in (0..60).chain((60..200).step_by(7)) {
        crash_at_sync(budget, 512);
    }
}

#[test]
fn acknowledged_records_survive_a_crash_at_any_sync_with_few_descriptors() {
    // Descriptors are closed and reopened all the time under the appenders and the reserver.
    for budget in (0..60).step_by(3).chain((60..200).step_by(11)) {
        crash_at_sync_over(budget, 512, Arc::new(crate::PooledFs::new(8)));
    }
}

fn faulty_log(segment_bytes: u64) -> (tempfile::TempDir, FaultFs, ShardLog) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let (_, hc) = manual(T0);
    let log = ShardLog::open_with_fs(
        Arc::new(fs.clone()),
        dir.path(),
        cfg(segment_bytes, 256),
        hc,
    )
    .unwrap();
    (dir, fs, log)
}

#[test]
fn a_failed_write_latches_failed() {
    let (dir, fs, log) = faulty_log(1 << 20);
    append_n(&log, 3);
    fs.state.fail_writes.store(true, Ordering::SeqCst);
    assert!(matches!(log.append(b"x"), Err(StorageError::Io { .. })));
    fs.state.fail_writes.store(false, Ordering::SeqCst);
    assert!(log.is_failed());
    assert!(matches!(log.append(b"y"), Err(StorageError::Failed)));
    assert!(matches!(log.sync(), Err(StorageError::Failed)));
    // Reads keep working.
    assert_eq!(log.end(), 3);
    assert_payloads(&log);
    assert_eq!(log.record_meta(2).unwrap().cursor, 2);
    drop(log);
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(1 << 20, 256), hc).unwrap();
    assert_eq!(log.end(), 3);
    append_n(&log, 1);
}

#[test]
fn a_failed_sync_is_never_retried() {
    let (_dir, fs, log) = faulty_log(1 << 20);
    let a = append_n(&log, 1)[0];
    let b = log.append(&payload(1)).unwrap();
    fs.state.fail_syncs.store(true, Ordering::SeqCst);
    assert!(matches!(log.wait_durable(&b), Err(StorageError::Io { .. })));
    fs.state.fail_syncs.store(false, Ordering::SeqCst);
    let syncs = fs.state.data_syncs.load(Ordering::SeqCst);
    assert!(matches!(log.wait_durable(&b), Err(StorageError::Failed)));
    assert_eq!(
        fs.state.data_syncs.load(Ordering::SeqCst),
        syncs,
        "no retry"
    );
    assert_eq!(log.end(), 1, "the unsynced record never became visible");
    log.wait_durable(&a).unwrap();
    assert!(matches!(log.append(b"z"), Err(StorageError::Failed)));
    assert_payloads(&log);
}

#[test]
fn a_failed_roll_latches_failed_but_keeps_the_record() {
    let (dir, fs, log) = faulty_log(1024);
    fs.state.fail_creates.store(true, Ordering::SeqCst);
    let mut last = None;
    while !log.is_failed() {
        let a = log.append(&payload(log.end())).unwrap();
        // The segment's data was synced before sealing failed.
        log.wait_durable(&a).unwrap();
        last = Some(a);
    }
    let last = last.unwrap();
    assert_eq!(log.end(), last.cursor + 1);
    assert!(matches!(log.append(b"x"), Err(StorageError::Failed)));
    assert_eq!(log.stats().segments, 1);
    assert_payloads(&log);
    drop(log);
    fs.state.fail_creates.store(false, Ordering::SeqCst);
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(1024, 256), hc).unwrap();
    assert_eq!(log.end(), last.cursor + 1);
    append_n(&log, 1);
    assert_eq!(log.stats().segments, 2, "the full segment was sealed first");
    assert_payloads(&log);
}
