//! Reserved space (design §5, §7, §8): zeros written and synced ahead of the appends, kept
//! across restarts, cut off by sealing, and never taken for a record or for damage.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use super::fault::{FaultFs, Tear};
use super::*;
use crate::record::encode_record;
use crate::{Reserver, StorageError};

const AHEAD: u64 = 64 << 10;

fn conf() -> LogConfig {
    reserving(cfg(1 << 20, 4096), AHEAD)
}

fn open(dir: &Path, cfg: LogConfig) -> ShardLog {
    let (_, hc) = manual(T0);
    ShardLog::open(dir, cfg, hc).unwrap()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Appends until the shard asks for reserved space.
fn append_until_asked(log: &ShardLog) {
    while !log.take_reserve_request() {
        append_n(log, 1);
    }
}

/// A shard over a [`FaultFs`] that has just asked for reserved space.
fn asking_over_faults() -> (tempfile::TempDir, FaultFs, ShardLog) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let (_, hc) = manual(T0);
    let log = ShardLog::open_with_fs(Arc::new(fs.clone()), dir.path(), conf(), hc).unwrap();
    append_until_asked(&log);
    (dir, fs, log)
}

/// A shard whose records are followed by `AHEAD` bytes of reserved space; returns where the
/// records end and how many there are.
fn reserved_shard(dir: &Path) -> (u64, u64) {
    let log = open(dir, conf());
    append_until_asked(&log);
    log.reserve().unwrap();
    let end = log.stats().bytes;
    let newest = segment_paths(dir).pop().unwrap();
    assert_eq!(file_len(&newest), end + AHEAD);
    (end, log.end())
}

#[test]
fn reserved_space_is_written_ahead_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), conf());
    let seg = segment_paths(dir.path()).pop().unwrap();
    // A shard asks once its segment holds `AHEAD` bytes of records, not before.
    append_n(&log, 1);
    assert!(
        !log.take_reserve_request(),
        "one record does not make a busy shard"
    );
    append_until_asked(&log);
    let first = log.stats().bytes;
    assert!(first >= SEGMENT_HEADER_LEN + AHEAD, "{first}");
    assert!(first < SEGMENT_HEADER_LEN + AHEAD + 100, "{first}");
    assert!(!log.take_reserve_request(), "it asks once");
    assert_eq!(file_len(&seg), first, "nothing is reserved until asked");
    let n = log.end();

    log.reserve().unwrap();
    assert_eq!(file_len(&seg), first + AHEAD);
    assert_eq!(log.stats().bytes, first, "reserved space is not data");
    assert_eq!(log.end(), n);

    // Appends overwrite the zeros; the file does not grow, and nothing more is asked while
    // more than half of the space is left.
    append_n(&log, 20);
    assert_eq!(log.end(), n + 20);
    let used = log.stats().bytes;
    assert!(used < first + AHEAD / 2, "{used}");
    assert_eq!(file_len(&seg), first + AHEAD);
    assert!(!log.take_reserve_request());
    assert_payloads(&log);

    // Past half of it, the next append asks again, and the space is topped up from the last
    // record.
    while !log.take_reserve_request() {
        append_n(&log, 1);
    }
    let end = log.stats().bytes;
    assert!(end >= first + AHEAD / 2, "{end}");
    log.reserve().unwrap();
    assert_eq!(file_len(&seg), end + AHEAD);
    let n = log.end();
    drop(log);

    // A restart keeps the zeros reserved and continues after the last record, with or without
    // reserved space configured.
    for c in [conf(), cfg(1 << 20, 4096)] {
        let log = open(dir.path(), c);
        assert_eq!(log.end(), n);
        assert_eq!(log.stats().bytes, end);
        assert_eq!(file_len(&seg), end + AHEAD, "the zeros are kept");
        assert_payloads(&log);
    }
    let log = open(dir.path(), conf());
    let a = append_n(&log, 1)[0];
    assert_eq!(a.cursor, n);
    assert_eq!(file_len(&seg), end + AHEAD);
    drop(log);
    let log = open(dir.path(), conf());
    assert_eq!(log.end(), n + 1);
    assert_payloads(&log);
}

#[test]
fn reserved_space_is_synced_before_it_counts() {
    let (dir, fs, log) = asking_over_faults();
    let n = log.end();
    let syncs = fs.state.data_syncs.load(Ordering::SeqCst);
    log.reserve().unwrap();
    assert_eq!(fs.state.data_syncs.load(Ordering::SeqCst), syncs + 1);
    let image = dir.path().join("image");
    fs.crash_image(dir.path(), &image, Tear::Lost);
    let newest = segment_paths(&image).pop().unwrap();
    assert_eq!(file_len(&newest), log.stats().bytes + AHEAD);
    // Appends after it are acknowledged by syncs that cover them, like any other.
    let a = log.append(&payload(n)).unwrap();
    log.wait_durable(&a).unwrap();
    let image = dir.path().join("image-2");
    fs.crash_image(dir.path(), &image, Tear::Lost);
    let recovered = open(&image, conf());
    assert_eq!(recovered.end(), n + 1);
    assert_payloads(&recovered);
}

#[test]
fn appends_never_wait_for_reserved_space_and_never_exceed_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody serves the request: appends grow the file as without reserved space.
    let log = open(dir.path(), reserving(cfg(8192, 256), 2048));
    append_n(&log, 300);
    assert!(log.stats().segments > 2);
    assert!(log.take_reserve_request());
    assert_payloads(&log);
    // Space is reserved only up to the segment's limit.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), reserving(cfg(8192, 256), 6144));
    append_until_asked(&log);
    log.reserve().unwrap();
    assert_eq!(file_len(&segment_paths(dir.path())[0]), 8192);
    // Other fsync policies never ask: no sync acknowledges their appends.
    for fsync in [FsyncPolicy::Never, FsyncPolicy::Interval] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), LogConfig { fsync, ..conf() });
        append_n(&log, 2000);
        assert!(log.stats().bytes > 2 * AHEAD);
        assert!(!log.take_reserve_request(), "{fsync:?}");
    }
}

#[test]
fn sealing_cuts_reserved_space_off() {
    // Space is reserved no further than the segment's limit, so a segment normally fills its
    // reserved space exactly; a segment left with more (the limit was lowered since) has it cut
    // off when it is sealed.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), reserving(cfg(1 << 16, 256), 16 << 10));
    append_until_asked(&log);
    log.reserve().unwrap();
    let seg = segment_paths(dir.path()).pop().unwrap();
    assert!(file_len(&seg) > log.stats().bytes);
    drop(log);

    let c = reserving(cfg(8192, 256), 4096);
    let log = open(dir.path(), c.clone());
    while log.stats().segments < 4 {
        append_n(&log, 1);
        if log.take_reserve_request() {
            log.reserve().unwrap();
        }
    }
    let sealed = log.sealed_segments();
    let paths = segment_paths(dir.path());
    for (meta, path) in sealed.iter().zip(&paths) {
        assert_eq!(file_len(path), meta.len, "{}", path.display());
        let (pos, len) = *record_spans(path).last().unwrap();
        assert_eq!((pos + len) as u64, meta.len, "ends with its last record");
    }
    let n = log.end();
    drop(log);
    let log = open(dir.path(), c);
    assert_eq!(log.end(), n);
    assert_payloads(&log);
    append_n(&log, 1);
}

#[test]
fn a_torn_append_in_reserved_space_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (end, n) = reserved_shard(dir.path());
    let newest = segment_paths(dir.path()).pop().unwrap();
    // Part of a record (its length and CRC fields, some payload) over the zeros.
    let f = OpenOptions::new().write(true).open(&newest).unwrap();
    f.write_all_at(&[0x31, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 7, 7, 7], end)
        .unwrap();
    let log = open(dir.path(), conf());
    assert_eq!(log.end(), n);
    assert_eq!(
        file_len(&newest),
        end,
        "the torn tail and the zeros after it are cut"
    );
    assert_payloads(&log);
    append_n(&log, 1);
    assert_payloads(&log);
}

#[test]
fn a_record_after_zeros_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (end, n) = reserved_shard(dir.path());
    let newest = segment_paths(dir.path()).pop().unwrap();
    // A valid record with the next cursor, but not where the log ends: the zeros before it
    // were written over synced data.
    let mut rec = Vec::new();
    encode_record(&mut rec, n, 1, T0, b"after a hole");
    let f = OpenOptions::new().write(true).open(&newest).unwrap();
    f.write_all_at(&rec, end + 1000).unwrap();
    let (_, hc) = manual(T0);
    let err = ShardLog::open(dir.path(), conf(), hc)
        .err()
        .expect("refused");
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("synced data is damaged"), "{err}");
}

#[test]
fn a_failed_reservation_latches_failed() {
    // The zeros cannot be written.
    let (_dir, fs, log) = asking_over_faults();
    fs.state.fail_writes.store(true, Ordering::SeqCst);
    assert!(matches!(log.reserve(), Err(StorageError::Io { .. })));
    fs.state.fail_writes.store(false, Ordering::SeqCst);
    assert!(log.is_failed());
    assert!(matches!(log.append(b"x"), Err(StorageError::Failed)));

    // The sync of the zeros fails: a record written before it is never acknowledged, since a
    // sync is never retried.
    let (_dir, fs, log) = asking_over_faults();
    let n = log.end();
    let b = log.append(&payload(n)).unwrap();
    fs.state.fail_syncs.store(true, Ordering::SeqCst);
    assert!(matches!(log.reserve(), Err(StorageError::Io { .. })));
    fs.state.fail_syncs.store(false, Ordering::SeqCst);
    assert!(matches!(log.wait_durable(&b), Err(StorageError::Failed)));
    assert_eq!(log.end(), n);
    assert!(matches!(log.reserve(), Err(StorageError::Failed)));
}

#[test]
fn the_reserver_serves_shards_that_ask() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path(), conf()));
    let reserver = Reserver::start().unwrap();
    // No append runs while the thread reserves, so where it starts from is known: the end of
    // the records when the shard is handed over.
    while log.stats().bytes < SEGMENT_HEADER_LEN + AHEAD + 1 {
        append_n(&log, 1);
    }
    reserver.after_append(&log);
    // Dropping the reserver waits for the shards handed over.
    drop(reserver);
    let seg = segment_paths(dir.path()).pop().unwrap();
    assert_eq!(file_len(&seg), log.stats().bytes + AHEAD);
    assert!(!log.take_reserve_request(), "the request was taken");
}

#[test]
fn large_records_get_no_reserved_space() {
    // Records of 128 KiB and more on average are synced mostly for their own bytes; writing
    // them twice would cost more than the commit saved.
    for (len, asks) in [(200 << 10, false), (128 << 10, false), (100 << 10, true)] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), reserving(cfg(64 << 20, 4096), 256 << 10));
        for _ in 0..8 {
            let a = log.append(&vec![7u8; len]).unwrap();
            log.wait_durable(&a).unwrap();
        }
        assert!(log.stats().bytes > 2 * (256 << 10));
        assert_eq!(log.take_reserve_request(), asks, "records of {len} bytes");
    }
}
