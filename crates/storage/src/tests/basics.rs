//! Appending, reading, seeking, rolling, policies.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::fault::FaultFs;
use super::*;
use crate::index::{INDEX_ENTRY_LEN, INDEX_HEADER_LEN};
use crate::{Hlc, StorageError, MAX_PAYLOAD};

#[test]
fn a_new_log_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("a/b/shard");
    let (_, hc) = manual(T0);
    let log = ShardLog::open(&shard, cfg(1 << 20, 4096), hc).unwrap();
    assert_eq!((log.begin(), log.end()), (0, 0));
    assert!(log.read(0, u64::MAX, 10, 100).unwrap().is_empty());
    assert!(matches!(
        log.read(1, u64::MAX, 10, 100),
        Err(StorageError::CursorOutOfRange {
            cursor: 1,
            begin: 0,
            end: 0
        })
    ));
    assert!(matches!(
        log.record_meta(0),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    assert_eq!(log.cursor_for_time(0).unwrap(), 0);
    assert_eq!(log.cursor_for_time(i64::MAX).unwrap(), 0);
    assert_eq!(log.last_hlc(), None);
    assert_eq!(
        log.stats(),
        crate::ShardStats {
            records: 0,
            bytes: SEGMENT_HEADER_LEN,
            segments: 1
        }
    );
    assert_eq!(segment_paths(&shard).len(), 1);
}

#[test]
fn append_read_roll_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(2048, 256), hc.clone()).unwrap();
    let appended = append_n(&log, 300);
    let stats = log.stats();
    assert!(stats.segments > 5, "segments rolled: {stats:?}");
    assert_eq!((log.begin(), log.end()), (0, 300));
    assert_payloads(&log);
    // Ranges within and across segments.
    for (from, until) in [(37, 120), (0, 1), (299, 300), (100, 100), (250, 10_000)] {
        let got: Vec<u64> = log
            .read(from, until, usize::MAX, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.cursor)
            .collect();
        assert_eq!(got, (from..until.min(300)).collect::<Vec<_>>());
    }
    // Stamps read back as they were handed out.
    for r in log.read(0, u64::MAX, usize::MAX, usize::MAX).unwrap() {
        let a = appended[r.cursor as usize];
        assert_eq!((r.hlc, r.receive_millis), (a.hlc, a.receive_millis));
    }
    assert!(log.read(300, u64::MAX, 10, usize::MAX).unwrap().is_empty());
    assert!(log.read(10, u64::MAX, 0, usize::MAX).unwrap().is_empty());
    assert!(matches!(
        log.read(301, u64::MAX, 10, 10),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    let last = log.last_hlc().unwrap();
    assert_eq!(last, appended[299].hlc);
    let files_before = stats.bytes;
    drop(log);

    // Reopen with a clock far behind: stamps keep increasing.
    let (_, hc2) = manual(1_000);
    let log = ShardLog::open(dir.path(), cfg(2048, 256), hc2.clone()).unwrap();
    assert_eq!((log.begin(), log.end()), (0, 300));
    assert_eq!(log.stats().bytes, files_before);
    assert_payloads(&log);
    assert_eq!(log.last_hlc(), Some(last));
    assert!(hc2.peek() >= last, "the clock observes the stamps on disk");
    let more = append_n(&log, 10);
    assert!(more[0].hlc > last);
    assert!(more[0].receive_millis >= appended[299].receive_millis);
    assert_eq!(log.end(), 310);
    assert_payloads(&log);
}

#[test]
fn reads_stop_at_the_record_and_byte_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(4096, 256), hc).unwrap();
    // 100-byte payloads.
    for _ in 0..100 {
        let a = log.append(&[7u8; 100]).unwrap();
        log.wait_durable(&a).unwrap();
    }
    let n = |max_records, max_bytes| {
        log.read(10, u64::MAX, max_records, max_bytes)
            .unwrap()
            .len()
    };
    assert_eq!(n(5, usize::MAX), 5);
    assert_eq!(n(usize::MAX, 0), 1, "at least one record");
    assert_eq!(n(usize::MAX, 1), 1);
    assert_eq!(n(usize::MAX, 100), 1, "the record that reaches the limit");
    assert_eq!(n(usize::MAX, 101), 2);
    assert_eq!(n(usize::MAX, 2_000), 20);
    assert_eq!(n(usize::MAX, 2_050), 21);
    assert_eq!(n(3, 2_050), 3);
    assert_eq!(n(usize::MAX, usize::MAX), 90);
    // Limits hold across segment boundaries too.
    let r = log.read(0, u64::MAX, 77, usize::MAX).unwrap();
    assert_eq!(r.len(), 77);
    assert!(r.iter().enumerate().all(|(i, r)| r.cursor == i as u64));
}

#[test]
fn large_payloads_and_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(1 << 20, 4096), hc).unwrap();
    // Larger than one read, larger than a segment.
    let big: Vec<u8> = (0..(5u32 << 20)).map(|i| (i % 251) as u8).collect();
    for p in [&b"small"[..], &big, b"", &big[..3000], b"tail"] {
        let a = log.append(p).unwrap();
        log.wait_durable(&a).unwrap();
    }
    let all = log.read(0, u64::MAX, usize::MAX, usize::MAX).unwrap();
    let lens: Vec<usize> = all.iter().map(|r| r.payload.len()).collect();
    assert_eq!(lens, [5, big.len(), 0, 3000, 4]);
    assert_eq!(all[1].payload, big[..]);
    assert_eq!(log.read(1, 2, 1, 1).unwrap()[0].payload, big[..]);
    assert_eq!(log.record_meta(1).unwrap().len as usize, big.len());
    assert!(
        log.stats().segments >= 2,
        "the big record sealed its segment"
    );
    let too_big = vec![0u8; MAX_PAYLOAD + 1];
    assert!(matches!(
        log.append(&too_big),
        Err(StorageError::PayloadTooLarge { len }) if len == MAX_PAYLOAD + 1
    ));
    assert!(!log.is_failed());
    assert_eq!(log.append(b"after").unwrap().cursor, 5);
}

#[test]
fn records_become_visible_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(1 << 20, 4096), hc).unwrap();
    let a = log.append(b"one").unwrap();
    let b = log.append(b"two").unwrap();
    assert_eq!((a.cursor, b.cursor), (0, 1));
    assert_eq!(log.end(), 0, "not synced yet");
    assert!(log.read(0, u64::MAX, 10, 100).unwrap().is_empty());
    assert!(log.record_meta(0).is_err());
    assert_eq!(log.last_hlc(), None);
    assert_eq!(log.stats().records, 0);
    log.wait_durable(&a).unwrap();
    // One sync covered both.
    assert_eq!(log.end(), 2);
    assert_eq!(log.last_hlc(), Some(b.hlc));
    log.wait_durable(&b).unwrap();
    assert_eq!(log.read(0, u64::MAX, 10, 100).unwrap().len(), 2);
}

#[test]
fn interval_and_never_publish_on_write() {
    for policy in [FsyncPolicy::Interval, FsyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let (_, hc) = manual(T0);
        let fs = FaultFs::new();
        let log = ShardLog::open_with_fs(
            Arc::new(fs.clone()),
            dir.path(),
            LogConfig {
                fsync: policy,
                ..cfg(1 << 20, 4096)
            },
            hc,
        )
        .unwrap();
        let syncs = || fs.state.data_syncs.load(Ordering::SeqCst);
        let a = log.append(b"one").unwrap();
        assert_eq!(log.end(), 1);
        assert_eq!(log.last_hlc(), Some(a.hlc));
        log.wait_durable(&a).unwrap();
        assert_eq!(syncs(), 0, "{policy:?} does not sync per append");
        log.sync().unwrap();
        assert_eq!(syncs(), 1);
        log.sync().unwrap();
        assert_eq!(syncs(), 1, "an idle shard's sync costs nothing");
        assert_eq!(log.read(0, 5, 5, 5).unwrap()[0].payload, &b"one"[..]);
    }
}

#[test]
fn seeks_by_time_and_cursor_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = manual(T0);
    // Small segments and a small interval: lookups cross segments and land between entries.
    let log = ShardLog::open(dir.path(), cfg(1500, 200), hc).unwrap();
    let secs0 = (T0 / 1000) as i64;
    let mut appended = Vec::new();
    // 7 records per second for 40 seconds, then a gap of 100 seconds, then 5 more.
    for i in 0..285u64 {
        if i == 280 {
            m.advance(100_000);
        } else if i > 0 && i % 7 == 0 && i < 280 {
            m.advance(1000);
        }
        let a = log.append(&payload(i)).unwrap();
        log.wait_durable(&a).unwrap();
        appended.push(a);
    }
    assert!(log.stats().segments > 10);
    for a in &appended {
        let meta = log.record_meta(a.cursor).unwrap();
        assert_eq!(
            (
                meta.cursor,
                meta.hlc,
                meta.receive_millis,
                meta.len as usize
            ),
            (a.cursor, a.hlc, a.receive_millis, payload(a.cursor).len())
        );
    }
    assert!(matches!(
        log.record_meta(285),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    assert_eq!(log.cursor_for_time(-5).unwrap(), 0);
    assert_eq!(log.cursor_for_time(0).unwrap(), 0);
    assert_eq!(log.cursor_for_time(secs0).unwrap(), 0);
    for s in 0..40i64 {
        assert_eq!(
            log.cursor_for_time(secs0 + s).unwrap(),
            s as u64 * 7,
            "second {s}"
        );
    }
    // Inside the gap: the first record after it.
    for s in [40, 41, 100, 139] {
        assert_eq!(log.cursor_for_time(secs0 + s).unwrap(), 280, "second {s}");
    }
    assert_eq!(log.cursor_for_time(secs0 + 140).unwrap(), 285);
    assert_eq!(log.cursor_for_time(i64::MAX).unwrap(), 285);
}

#[test]
fn receive_time_never_decreases() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(1 << 20, 4096), hc).unwrap();
    let a = log.append(b"a").unwrap();
    m.set(T0 - 60_000);
    let b = log.append(b"b").unwrap();
    assert_eq!(b.receive_millis, a.receive_millis);
    assert!(b.hlc > a.hlc);
    log.wait_durable(&b).unwrap();
    drop(log);
    let (_, hc) = manual(T0 - 3_600_000);
    let log = ShardLog::open(dir.path(), cfg(1 << 20, 4096), hc).unwrap();
    let c = log.append(b"c").unwrap();
    assert_eq!(c.receive_millis, a.receive_millis);
    assert!(c.hlc > b.hlc);
    assert_eq!(c.hlc.secs(), b.hlc.secs());
}

#[test]
fn create_at_starts_at_a_given_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::create_at(dir.path(), cfg(1024, 256), hc.clone(), 500).unwrap();
    assert_eq!((log.begin(), log.end()), (500, 500));
    assert!(matches!(
        log.read(499, u64::MAX, 1, 1),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    assert_eq!(log.cursor_for_time(0).unwrap(), 500);
    append_n(&log, 50);
    assert_eq!(log.end(), 550);
    assert_payloads(&log);
    drop(log);
    assert!(matches!(
        ShardLog::create_at(dir.path(), cfg(1024, 256), hc.clone(), 0),
        Err(StorageError::Corrupt { .. })
    ));
    let log = ShardLog::open(dir.path(), cfg(1024, 256), hc).unwrap();
    assert_eq!((log.begin(), log.end()), (500, 550));
    assert_payloads(&log);
}

#[test]
fn sparse_indexes_are_written_when_sealing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let interval = 300;
    let log = ShardLog::open(dir.path(), cfg(4000, interval), hc.clone()).unwrap();
    append_n(&log, 200);
    let sealed = log.sealed_segments();
    assert!(sealed.len() >= 3);
    for m in &sealed {
        let idx = dir.path().join(crate::record::index_file_name(m.base));
        let entries = (std::fs::metadata(&idx).unwrap().len() - INDEX_HEADER_LEN) / INDEX_ENTRY_LEN;
        // One entry at the start and then one per interval: about len / interval.
        let expected = (m.len - SEGMENT_HEADER_LEN) / u64::from(interval);
        assert!(
            entries >= expected / 2 && entries <= expected + 1,
            "{entries} entries for {} bytes",
            m.len
        );
        assert_eq!(m.records(), m.next - m.base);
    }
    // The active segment's index is in its file as well; only a sample is in memory.
    let (active, sampled, count) = {
        let segs = log.segments.read();
        let a = &segs.active;
        (a.base, a.index.sampled(), a.index.count())
    };
    assert!(count > 0);
    assert_eq!(sampled, count.div_ceil(crate::index::SAMPLE_EVERY));
    let active_idx = dir.path().join(crate::record::index_file_name(active));
    assert_eq!(
        std::fs::metadata(&active_idx).unwrap().len(),
        INDEX_HEADER_LEN + count as u64 * INDEX_ENTRY_LEN
    );
    // A rebuilt index is byte for byte the one written while appending.
    drop(log);
    let first = dir.path().join(crate::record::index_file_name(0));
    let written = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    let active_written = std::fs::read(&active_idx).unwrap();
    let log = ShardLog::open(dir.path(), cfg(4000, interval), hc).unwrap();
    assert_eq!(std::fs::read(&first).unwrap(), written);
    assert_eq!(std::fs::read(&active_idx).unwrap(), active_written);
    assert_payloads(&log);
}

#[test]
fn memory_per_segment_stays_small() {
    // A full default-sized active segment would have 32768 index entries; only 1 in 64 is
    // kept in memory.
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(1 << 30, 64), hc).unwrap();
    for _ in 0..5000 {
        log.append(&[1u8; 24]).unwrap();
    }
    log.sync().unwrap();
    let segs = log.segments.read();
    assert_eq!(segs.active.index.count(), 5000);
    assert_eq!(segs.active.index.sampled(), 5000usize.div_ceil(64));
    drop(segs);
    for c in (0..5000).step_by(97) {
        assert_eq!(log.record_meta(c).unwrap().cursor, c);
    }
    assert_eq!(size_of::<crate::SegmentMeta>(), 40);
}

#[test]
fn open_sealed_files_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(1024, 128), hc).unwrap();
    append_n(&log, 400);
    let segments = log.stats().segments;
    assert!(segments > 20);
    for c in (0..400).step_by(7) {
        log.record_meta(c).unwrap();
        log.read(c, c + 3, 10, usize::MAX).unwrap();
    }
    assert_payloads(&log);
    assert!(log.cached_handles().len() <= crate::shard::OPEN_SEALED_SEGMENTS);
}

#[test]
fn stats_count_records_bytes_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(2048, 256), hc).unwrap();
    append_n(&log, 120);
    let s = log.stats();
    let files = segment_paths(dir.path());
    assert_eq!(s.segments, files.len());
    assert_eq!(
        s.bytes,
        files
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum::<u64>()
    );
    assert_eq!(s.records, 120);
}

#[test]
fn hlc_accessors() {
    let h = Hlc::from_parts(7, 3);
    assert_eq!((h.secs(), h.increment()), (7, 3));
    assert_eq!(h.0, (7 << 32) | 3);
}

#[test]
fn encodings_are_kept_and_pull_budgets_count_decoded_bytes() {
    use crate::Encoding;
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(1 << 20, 4096), hc.clone()).unwrap();
    let lz4 = Encoding::Lz4 { raw_len: 1000 };
    for (enc, p) in [
        (Encoding::Plain, &b"abc"[..]),
        (lz4, b"xy"),
        (Encoding::Plain, b"defg"),
    ] {
        let a = log.append_as(enc, &[p]).unwrap();
        log.wait_durable(&a).unwrap();
    }
    let check = |log: &ShardLog| {
        let all = log.read(0, u64::MAX, 10, usize::MAX).unwrap();
        let got: Vec<_> = all
            .iter()
            .map(|r| (r.encoding, r.payload.to_vec(), r.raw_len()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Encoding::Plain, b"abc".to_vec(), 3),
                (lz4, b"xy".to_vec(), 1000),
                (Encoding::Plain, b"defg".to_vec(), 4),
            ]
        );
        // The budget counts what the records decode to: 3 + 1000 reaches 500 at cursor 1.
        assert_eq!(log.read(0, u64::MAX, 10, 500).unwrap().len(), 2);
        assert_eq!(log.read(1, u64::MAX, 10, 500).unwrap().len(), 1);
        assert_eq!(log.read(0, u64::MAX, 10, 1010).unwrap().len(), 3);
    };
    check(&log);
    drop(log);
    let log = ShardLog::open(dir.path(), cfg(1 << 20, 4096), hc).unwrap();
    check(&log);
}
