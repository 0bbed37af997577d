//! Tests of the shard log on real files in temp dirs.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::format::{self, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::{FsyncPolicy, HybridClock, LogConfig, ManualClock, ShardLog, StorageError};

fn cfg(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 256,
        fsync: FsyncPolicy::Always,
    }
}

fn clock(start: u64) -> (Arc<ManualClock>, Arc<HybridClock>) {
    let m = Arc::new(ManualClock::new(start));
    (m.clone(), Arc::new(HybridClock::new(m)))
}

fn payload(i: u64) -> Vec<u8> {
    format!("payload-{i}-{}", "x".repeat((i % 50) as usize)).into_bytes()
}

fn append_n(log: &ShardLog, from: u64, n: u64) {
    for i in from..from + n {
        let a = log.append(&payload(i)).unwrap();
        assert_eq!(a.cursor, i);
        log.wait_durable(&a).unwrap();
    }
}

fn read_all(log: &ShardLog) -> Vec<(u64, Vec<u8>)> {
    log.read(log.begin(), u64::MAX, usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| (r.cursor, r.payload.to_vec()))
        .collect()
}

fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[test]
fn append_read_roll_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    let log = ShardLog::open(dir.path(), cfg(2048), hc.clone()).unwrap();
    append_n(&log, 0, 300);
    assert!(
        log.stats().segments > 5,
        "segments rolled: {:?}",
        log.stats()
    );
    assert_eq!((log.begin(), log.end()), (0, 300));
    let all = read_all(&log);
    assert_eq!(all.len(), 300);
    for (c, p) in &all {
        assert_eq!(p, &payload(*c));
    }
    // Partial reads within and across segments.
    let r = log.read(37, 120, 1000, usize::MAX).unwrap();
    assert_eq!(
        r.iter().map(|r| r.cursor).collect::<Vec<_>>(),
        (37..120).collect::<Vec<_>>()
    );
    let r = log.read(10, u64::MAX, 5, usize::MAX).unwrap();
    assert_eq!(r.len(), 5);
    let r = log.read(10, u64::MAX, 1000, 1).unwrap();
    assert_eq!(r.len(), 1, "byte budget stops after the first record");
    assert!(log.read(300, u64::MAX, 10, usize::MAX).unwrap().is_empty());
    assert!(matches!(
        log.read(301, u64::MAX, 10, 10),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    let last = log.last_hlc().unwrap();
    drop(log);
    let (_, hc2) = clock(0);
    let log = ShardLog::open(dir.path(), cfg(2048), hc2.clone()).unwrap();
    assert_eq!((log.begin(), log.end()), (0, 300));
    assert_eq!(read_all(&log), all);
    assert!(hc2.peek() >= last, "the clock observes the stamps on disk");
    append_n(&log, 300, 10);
    assert_eq!(log.end(), 310);
}

#[test]
fn group_commit_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    let log = Arc::new(ShardLog::open(dir.path(), cfg(64 * 1024), hc).unwrap());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut cursors = Vec::new();
                for i in 0..200u64 {
                    let a = log.append(&payload(t * 1000 + i)).unwrap();
                    log.wait_durable(&a).unwrap();
                    assert!(log.end() > a.cursor, "visible once durable");
                    cursors.push((a.cursor, a.hlc));
                }
                cursors
            })
        })
        .collect();
    let mut all: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(
        all.iter().map(|c| c.0).collect::<Vec<_>>(),
        (0..3200).collect::<Vec<_>>()
    );
    assert!(
        all.windows(2).all(|w| w[0].1 < w[1].1),
        "cluster stamps increase along the log"
    );
    assert_eq!(log.end(), 3200);
    assert_eq!(read_all(&log).len(), 3200);
}

#[test]
fn unsynced_records_are_invisible_until_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    let log = ShardLog::open(dir.path(), cfg(1 << 20), hc).unwrap();
    let a = log.append(b"one").unwrap();
    assert_eq!(log.end(), 0);
    assert!(log.read(0, u64::MAX, 10, 100).unwrap().is_empty());
    log.wait_durable(&a).unwrap();
    assert_eq!(log.end(), 1);
}

#[test]
fn interval_policy_publishes_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    let log = ShardLog::open(
        dir.path(),
        LogConfig {
            fsync: FsyncPolicy::Interval,
            ..cfg(1 << 20)
        },
        hc,
    )
    .unwrap();
    log.append(b"one").unwrap();
    assert_eq!(log.end(), 1);
    log.sync().unwrap();
}

fn last_record_start(path: &Path) -> (u64, u64) {
    // Walk the segment to find where its last record starts.
    let bytes = std::fs::read(path).unwrap();
    let mut pos = SEGMENT_HEADER_LEN as usize;
    let mut last = pos;
    while pos < bytes.len() {
        last = pos;
        let h = format::RecordHeader::parse(&bytes[pos..]);
        pos += h.record_len();
    }
    (last as u64, bytes.len() as u64)
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    {
        let log = ShardLog::open(dir.path(), cfg(1 << 20), hc.clone()).unwrap();
        append_n(&log, 0, 20);
    }
    let seg = segment_files(dir.path()).pop().unwrap();
    let pristine = std::fs::read(&seg).unwrap();
    let (start, end) = last_record_start(&seg);
    for cut in start..end {
        std::fs::write(&seg, &pristine[..cut as usize]).unwrap();
        let log = ShardLog::open(dir.path(), cfg(1 << 20), hc.clone()).unwrap();
        assert_eq!(log.end(), 19, "cut at {cut}");
        assert_eq!(
            std::fs::metadata(&seg).unwrap().len(),
            start,
            "torn tail truncated at {cut}"
        );
        let all = read_all(&log);
        assert_eq!(all.len(), 19);
        // Appending continues with the next cursor.
        let a = log.append(b"again").unwrap();
        assert_eq!(a.cursor, 19);
        log.wait_durable(&a).unwrap();
        drop(log);
    }
}

#[test]
fn zero_filled_and_garbage_tails_are_torn() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    {
        let log = ShardLog::open(dir.path(), cfg(1 << 20), hc.clone()).unwrap();
        append_n(&log, 0, 5);
    }
    let seg = segment_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len + 4096).unwrap();
    drop(f);
    let log = ShardLog::open(dir.path(), cfg(1 << 20), hc.clone()).unwrap();
    assert_eq!(log.end(), 5);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len);
    drop(log);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[0xab; 100]);
    std::fs::write(&seg, &bytes).unwrap();
    let log = ShardLog::open(dir.path(), cfg(1 << 20), hc).unwrap();
    assert_eq!(log.end(), 5);
}

#[test]
fn damage_followed_by_valid_records_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    {
        let log = ShardLog::open(dir.path(), cfg(1 << 20), hc.clone()).unwrap();
        append_n(&log, 0, 10);
    }
    let seg = segment_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    // Flip a payload byte of the third record.
    let mut pos = SEGMENT_HEADER_LEN as usize;
    for _ in 0..2 {
        pos += format::RecordHeader::parse(&bytes[pos..]).record_len();
    }
    bytes[pos + RECORD_HEADER_LEN + 2] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let err = ShardLog::open(dir.path(), cfg(1 << 20), hc)
        .err()
        .expect("refuses to open");
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
}

#[test]
fn cursor_discontinuity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    {
        let log = ShardLog::open(dir.path(), cfg(1 << 20), hc.clone()).unwrap();
        append_n(&log, 0, 3);
    }
    let seg = segment_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mut rec = Vec::new();
    format::encode_record(&mut rec, 7, 1, 1, b"stray");
    bytes.extend_from_slice(&rec);
    std::fs::write(&seg, &bytes).unwrap();
    let err = ShardLog::open(dir.path(), cfg(1 << 20), hc)
        .err()
        .expect("refuses to open");
    assert!(err.to_string().contains("discontinuity"), "{err}");
}

#[test]
fn sealed_segment_damage_and_gaps_are_refused_but_bad_indexes_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    {
        let log = ShardLog::open(dir.path(), cfg(2048), hc.clone()).unwrap();
        append_n(&log, 0, 100);
    }
    let segs = segment_files(dir.path());
    assert!(segs.len() >= 3);
    // A garbled or missing index of a sealed segment is rebuilt from the log.
    let idx = segs[0].with_extension("idx");
    std::fs::write(&idx, b"garbage").unwrap();
    std::fs::remove_file(segs[1].with_extension("idx")).unwrap();
    {
        let log = ShardLog::open(dir.path(), cfg(2048), hc.clone()).unwrap();
        assert_eq!(read_all(&log).len(), 100);
        assert_eq!(log.record_meta(5).unwrap().cursor, 5);
    }
    assert!(segs[1].with_extension("idx").exists());
    // Damage inside a sealed segment.
    let pristine = std::fs::read(&segs[1]).unwrap();
    let mut bytes = pristine.clone();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&segs[1], &bytes).unwrap();
    assert!(matches!(
        ShardLog::open(dir.path(), cfg(2048), hc.clone()),
        Err(StorageError::Corrupt { .. })
    ));
    std::fs::write(&segs[1], &pristine).unwrap();
    // A missing segment in the middle is a gap.
    let moved = dir.path().join("aside");
    std::fs::rename(&segs[1], &moved).unwrap();
    let err = ShardLog::open(dir.path(), cfg(2048), hc.clone())
        .err()
        .expect("gap refused");
    assert!(err.to_string().contains("gap"), "{err}");
    std::fs::rename(&moved, &segs[1]).unwrap();
    assert_eq!(
        read_all(&ShardLog::open(dir.path(), cfg(2048), hc).unwrap()).len(),
        100
    );
}

#[test]
fn seeks_by_time_and_cursor_meta() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = clock(1_000_000_000);
    let log = ShardLog::open(dir.path(), cfg(2048), hc).unwrap();
    // 10 records per second for 30 seconds.
    for i in 0..300u64 {
        let a = log.append(&payload(i)).unwrap();
        log.wait_durable(&a).unwrap();
        if i % 10 == 9 {
            m.advance(1000);
        }
    }
    for c in [0u64, 9, 10, 155, 299] {
        let meta = log.record_meta(c).unwrap();
        assert_eq!(meta.cursor, c);
        assert_eq!(meta.receive_millis / 1000, 1_000_000 + c / 10);
    }
    assert!(matches!(
        log.record_meta(300),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    assert_eq!(log.cursor_for_time(0).unwrap(), 0);
    assert_eq!(log.cursor_for_time(1_000_000).unwrap(), 0);
    for s in 0..30u64 {
        assert_eq!(log.cursor_for_time((1_000_000 + s) as i64).unwrap(), s * 10);
    }
    assert_eq!(log.cursor_for_time(1_000_031).unwrap(), 300);
}

#[test]
fn retention_deletes_old_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = clock(1_000_000_000);
    let log = ShardLog::open(dir.path(), cfg(2048), hc.clone()).unwrap();
    append_n(&log, 0, 100);
    m.advance(100_000);
    append_n(&log, 100, 100);
    let before = log.stats().segments;
    assert_eq!(
        log.expire_before(1_000_000_000).unwrap(),
        0,
        "nothing older than the cutoff"
    );
    let n = log.expire_before(1_000_050_000).unwrap();
    assert!(n > 0 && log.stats().segments == before - n);
    let begin = log.begin();
    assert!(begin > 0 && begin <= 100);
    assert!(matches!(
        log.read(0, u64::MAX, 10, 100),
        Err(StorageError::CursorOutOfRange { .. })
    ));
    assert_eq!(log.cursor_for_time(0).unwrap(), begin);
    assert_eq!(read_all(&log).first().unwrap().0, begin);
    // The active segment is never deleted.
    log.expire_before(u64::MAX).unwrap();
    assert!(log.stats().segments >= 1);
    assert_eq!(log.end(), 200);
    drop(log);
    let log = ShardLog::open(dir.path(), cfg(2048), hc).unwrap();
    assert_eq!(log.end(), 200);
    assert!(log.begin() >= begin);
}

#[test]
fn create_at_starts_at_a_given_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    let log = ShardLog::create_at(dir.path(), cfg(2048), hc.clone(), 500).unwrap();
    assert_eq!((log.begin(), log.end()), (500, 500));
    let a = log.append(b"x").unwrap();
    assert_eq!(a.cursor, 500);
    log.wait_durable(&a).unwrap();
    drop(log);
    assert!(ShardLog::create_at(dir.path(), cfg(2048), hc.clone(), 0).is_err());
    assert_eq!(
        ShardLog::open(dir.path(), cfg(2048), hc).unwrap().end(),
        501
    );
}

#[test]
fn io_error_latches_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = clock(1_000_000);
    let log = ShardLog::open(dir.path(), cfg(1 << 20), hc).unwrap();
    append_n(&log, 0, 3);
    log.inject_io_error.store(true, Ordering::SeqCst);
    assert!(log.append(b"x").is_err());
    log.inject_io_error.store(false, Ordering::SeqCst);
    assert!(matches!(log.append(b"y"), Err(StorageError::Failed)));
    assert_eq!(read_all(&log).len(), 3, "reads keep working");
}

#[test]
fn pin_and_restore_a_cut_without_copying_sealed_data() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = clock(1_000_000_000);
    let src = dir.path().join("src");
    let log = ShardLog::open(&src, cfg(2048), hc.clone()).unwrap();
    append_n(&log, 0, 120);
    let cut = {
        let pause = log.pause_appends();
        pause.cut()
    };
    assert_eq!(cut.next, 120);
    // Appends after the cut are not part of it.
    append_n(&log, 120, 30);
    log.make_durable(&cut).unwrap();
    let pin_dir = dir.path().join("pin");
    let pinned = log.pin(&cut, &pin_dir).unwrap();
    assert!(pinned.len() > 2 && pinned.iter().rev().skip(1).all(|p| p.whole));
    // Retention removes the originals; the pins keep the data.
    m.advance(10_000_000);
    append_n(&log, 150, 1);
    log.expire_before(u64::MAX).unwrap();
    assert!(log.begin() > 0);
    assert!(crate::pinned_intact(&pin_dir, &pinned));
    let restored = dir.path().join("restored");
    let copied = crate::restore_pinned(&pin_dir, &pinned, &restored).unwrap();
    assert!(
        copied <= 2048 + 1024,
        "only the segment the cut falls in is copied: {copied}"
    );
    let r = ShardLog::open(&restored, cfg(2048), hc).unwrap();
    assert_eq!((r.begin(), r.end()), (0, 120));
    let got = read_all(&r);
    assert_eq!(got.len(), 120);
    for (c, p) in got {
        assert_eq!(p, payload(c));
    }
    // Deleting the pin frees it.
    std::fs::remove_dir_all(&pin_dir).unwrap();
    assert!(!crate::pinned_intact(&pin_dir, &pinned));
}
