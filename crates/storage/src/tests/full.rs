//! Running out of disk space or file descriptors: the append that met it fails, nothing of it
//! remains on disk, and the shard accepts writes again once the cause is gone (design §7).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::fault::FaultFs;
use super::*;
use crate::{LogConfig, PooledFs};

fn faulty(conf: LogConfig) -> (tempfile::TempDir, FaultFs, ShardLog) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let (_, hc) = manual(T0);
    let log = ShardLog::open_with_fs(Arc::new(fs.clone()), dir.path(), conf, hc).unwrap();
    (dir, fs, log)
}

fn reopen(dir: &Path, conf: LogConfig) -> ShardLog {
    let (_, hc) = manual(T0);
    ShardLog::open(dir, conf, hc).unwrap()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Names in the shard directory.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn disk_full(fs: &FaultFs, on: bool) {
    fs.state.disk_full.store(on, Ordering::SeqCst);
}

fn out_of_fds(fs: &FaultFs, on: bool) {
    fs.state.out_of_fds.store(on, Ordering::SeqCst);
}

#[test]
fn a_full_disk_fails_the_append_and_writes_resume_once_there_is_space() {
    let conf = cfg(1 << 20, 256);
    let (dir, fs, log) = faulty(conf.clone());
    append_n(&log, 5);
    let seg = segment_paths(dir.path()).pop().unwrap();
    let len = file_len(&seg);
    disk_full(&fs, true);
    for _ in 0..3 {
        let e = log.append(&payload(log.end())).unwrap_err();
        assert!(e.is_disk_full(), "{e}");
    }
    assert!(!log.is_failed(), "a full disk does not latch the shard");
    assert_eq!(file_len(&seg), len, "nothing of the failed writes remains");
    assert_eq!(log.end(), 5);
    disk_full(&fs, false);
    // The failed appends took no cursor.
    append_n(&log, 5);
    assert_eq!(log.end(), 10);
    assert_payloads(&log);
    drop(log);
    let log = reopen(dir.path(), conf);
    assert_eq!(log.end(), 10);
    assert_payloads(&log);
}

#[test]
fn a_full_disk_while_writing_an_index_entry_cuts_the_record_off() {
    // Records go into reserved space, which needs no new blocks; their index entries extend
    // the index file, which fails.
    let conf = reserving(cfg(1 << 20, 128), 4096);
    let (dir, fs, log) = faulty(conf.clone());
    while !log.take_reserve_request() {
        append_n(&log, 1);
    }
    log.reserve().unwrap();
    let seg = segment_paths(dir.path()).pop().unwrap();
    assert!(file_len(&seg) > log.stats().bytes, "reserved space ahead");
    disk_full(&fs, true);
    let mut appended = 0;
    let err = loop {
        match log.append(&payload(log.end())) {
            Ok(a) => {
                log.wait_durable(&a).unwrap();
                appended += 1;
                assert!(appended < 20, "an index entry was due long ago");
            }
            Err(e) => break e,
        }
    };
    assert!(err.is_disk_full(), "{err}");
    assert!(!log.is_failed());
    assert_eq!(
        file_len(&seg),
        log.stats().bytes,
        "the record whose index entry failed is cut off, with the reserved space after it"
    );
    disk_full(&fs, false);
    append_n(&log, 10);
    assert_payloads(&log);
    let end = log.end();
    for c in 0..end {
        assert_eq!(
            log.record_meta(c).unwrap().cursor,
            c,
            "index lookups still work"
        );
    }
    drop(log);
    let log = reopen(dir.path(), conf);
    assert_eq!(log.end(), end);
    assert_payloads(&log);
}

#[test]
fn a_full_disk_while_reserving_space_leaves_the_shard_usable() {
    let conf = reserving(cfg(1 << 20, 4096), 64 << 10);
    let (dir, fs, log) = faulty(conf.clone());
    while !log.take_reserve_request() {
        append_n(&log, 1);
    }
    let seg = segment_paths(dir.path()).pop().unwrap();
    disk_full(&fs, true);
    let e = log.reserve().unwrap_err();
    assert!(e.is_disk_full(), "{e}");
    assert!(!log.is_failed());
    assert_eq!(
        file_len(&seg),
        log.stats().bytes,
        "no partial zeros are left"
    );
    disk_full(&fs, false);
    append_n(&log, 3);
    assert_payloads(&log);
    let end = log.end();
    drop(log);
    let log = reopen(dir.path(), conf);
    assert_eq!(log.end(), end);
    assert_payloads(&log);
}

/// Appends until the active segment is full and its roll failed for lack of descriptors;
/// returns the end cursor then.
fn fill_without_descriptors(dir: &Path, fs: &FaultFs, log: &ShardLog) -> u64 {
    out_of_fds(fs, true);
    // The append that crosses the limit succeeds; the roll after it fails quietly.
    while segment_paths(dir).len() == 1 && log.stats().bytes < 1024 {
        let a = log.append(&payload(log.end())).unwrap();
        log.wait_durable(&a).unwrap();
    }
    let e = log.append(&payload(log.end())).unwrap_err();
    assert!(e.is_out_of_descriptors(), "{e}");
    assert!(!log.is_failed());
    log.end()
}

#[test]
fn running_out_of_descriptors_at_a_roll_fails_appends_until_they_are_back() {
    let conf = cfg(1024, 256);
    let (dir, fs, log) = faulty(conf.clone());
    let end = fill_without_descriptors(dir.path(), &fs, &log);
    assert_eq!(log.stats().segments, 1);
    assert_eq!(
        names(dir.path()),
        vec!["00000000000000000000.idx", "00000000000000000000.log"],
        "no part of the next segment is left"
    );
    assert_eq!(log.end(), end, "the failed append took no cursor");
    out_of_fds(&fs, false);
    append_n(&log, 3);
    assert_eq!(
        log.stats().segments,
        2,
        "the roll happened on the next append"
    );
    assert_payloads(&log);
    drop(log);
    let log = reopen(dir.path(), conf);
    assert_eq!(log.end(), end + 3);
    assert_payloads(&log);
}

#[test]
fn a_full_disk_at_a_roll_removes_the_half_created_segment() {
    let conf = cfg(1024, 256);
    let (dir, fs, log) = faulty(conf.clone());
    let end = fill_without_descriptors(dir.path(), &fs, &log);
    // Now the file can be created, but its header cannot be written.
    out_of_fds(&fs, false);
    disk_full(&fs, true);
    let e = log.append(&payload(end)).unwrap_err();
    assert!(e.is_disk_full(), "{e}");
    assert!(!log.is_failed());
    assert_eq!(
        segment_paths(dir.path()).len(),
        1,
        "the new segment was removed"
    );
    disk_full(&fs, false);
    append_n(&log, 2);
    assert_eq!(log.stats().segments, 2);
    assert_payloads(&log);
    drop(log);
    let log = reopen(dir.path(), conf);
    assert_eq!(log.end(), end + 2);
    assert_payloads(&log);
}

#[test]
fn a_sync_that_cannot_get_a_descriptor_does_not_latch() {
    let conf = cfg(1 << 20, 256);
    let (dir, fs, log) = faulty(conf.clone());
    append_n(&log, 2);
    let a = log.append(&payload(2)).unwrap();
    fs.state.syncs_out_of_fds.store(true, Ordering::SeqCst);
    let e = log.wait_durable(&a).unwrap_err();
    assert!(e.is_out_of_descriptors(), "{e}");
    assert!(
        !log.is_failed(),
        "no sync was attempted, so its outcome is known"
    );
    assert_eq!(log.end(), 2, "not visible before it is durable");
    fs.state.syncs_out_of_fds.store(false, Ordering::SeqCst);
    log.wait_durable(&a).unwrap();
    assert_eq!(log.end(), 3);
    append_n(&log, 2);
    assert_payloads(&log);
    drop(log);
    let log = reopen(dir.path(), conf);
    assert_eq!(log.end(), 5);
}

#[test]
fn many_shards_share_a_small_descriptor_pool() {
    let dir = tempfile::tempdir().unwrap();
    let pool = PooledFs::new(8);
    let fs: Arc<dyn crate::io::Fs> = Arc::new(pool.clone());
    let (_, hc) = manual(T0);
    let conf = cfg(1024, 256);
    let open = |i: usize| {
        ShardLog::open_with_fs(
            fs.clone(),
            &dir.path().join(i.to_string()),
            conf.clone(),
            hc.clone(),
        )
        .unwrap()
    };
    let logs: Vec<ShardLog> = (0..40).map(open).collect();
    assert!(pool.open_files() <= 8, "{} open", pool.open_files());
    for round in 0..3 {
        for log in &logs {
            append_n(log, 7);
            assert!(
                pool.open_files() <= 8,
                "round {round}: {} open",
                pool.open_files()
            );
        }
    }
    for log in &logs {
        assert!(log.stats().segments > 1, "rolls happened");
        assert_payloads(log);
        assert_eq!(log.cursor_for_time(0).unwrap(), 0);
        assert!(pool.open_files() <= 8);
    }
    drop(logs);
    assert_eq!(pool.open_files(), 0);
    let logs: Vec<ShardLog> = (0..40).map(open).collect();
    for log in &logs {
        assert_eq!(log.end(), 21);
        assert_payloads(log);
    }
    assert!(pool.open_files() <= 8);
}
