//! Recovery: what is repaired, what is refused (design §8).

use std::fs::OpenOptions;

use super::*;
use crate::index::IndexEntry;
use crate::record::{encode_record, encode_segment_header, index_file_name, RECORD_HEADER_LEN};
use crate::StorageError;

fn open(dir: &Path) -> Result<ShardLog, StorageError> {
    let (_, hc) = manual(T0);
    ShardLog::open(dir, cfg(2048, 256), hc)
}

/// A shard with several sealed segments and `n` records in all.
fn shard_with(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path()).unwrap();
    append_n(&log, n);
    assert!(log.stats().segments >= 3);
    dir
}

fn expect_corrupt(dir: &Path, needle: &str) -> StorageError {
    let err = open(dir).err().expect("recovery refuses");
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(needle), "{err}");
    err
}

#[test]
fn reopening_after_a_clean_close_changes_nothing() {
    let dir = shard_with(150);
    let before: Vec<_> = segment_paths(dir.path())
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    for _ in 0..3 {
        let log = open(dir.path()).unwrap();
        assert_eq!((log.begin(), log.end()), (0, 150));
        assert_payloads(&log);
    }
    let after: Vec<_> = segment_paths(dir.path())
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn bad_indexes_are_rebuilt_from_the_log() {
    let dir = shard_with(150);
    let segs = segment_paths(dir.path());
    let idx = |i: usize| segs[i].with_extension("idx");
    let pristine: Vec<_> = (0..3).map(|i| std::fs::read(idx(i)).unwrap()).collect();
    std::fs::write(idx(0), b"garbage").unwrap();
    std::fs::remove_file(idx(1)).unwrap();
    // Plausible entries that point at the wrong record.
    let mut lying = pristine[2].clone();
    let n = lying.len();
    let last = IndexEntry::decode(&lying[n - 16..]);
    let wrong = IndexEntry {
        rel_cursor: last.rel_cursor + 1,
        ..last
    };
    lying[n - 16..].copy_from_slice(&wrong.encode());
    std::fs::write(idx(2), &lying).unwrap();
    let log = open(dir.path()).unwrap();
    assert_eq!(log.end(), 150);
    assert_payloads(&log);
    for (i, bytes) in pristine.iter().enumerate() {
        assert_eq!(&std::fs::read(idx(i)).unwrap(), bytes, "index {i} rebuilt");
    }
}

#[test]
fn a_wrong_entry_in_the_middle_of_an_index_only_costs_a_scan() {
    let dir = shard_with(150);
    let first = segment_paths(dir.path())[0].with_extension("idx");
    let mut bytes = std::fs::read(&first).unwrap();
    let entries = (bytes.len() - 16) / 16;
    assert!(entries >= 3);
    // Entry 1 claims a position inside a record.
    let off = 16 + 16;
    let mut e = IndexEntry::decode(&bytes[off..]);
    e.pos += 3;
    bytes[off..off + 16].copy_from_slice(&e.encode());
    std::fs::write(&first, &bytes).unwrap();
    let log = open(dir.path()).unwrap();
    assert_payloads(&log);
    for c in 0..log.sealed_segments()[0].next {
        assert_eq!(log.record_meta(c).unwrap().cursor, c);
    }
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record() {
    let dir = shard_with(60);
    let newest = segment_paths(dir.path()).pop().unwrap();
    let spans = record_spans(&newest);
    assert!(spans.len() >= 2, "the newest segment holds several records");
    let pristine = std::fs::read(&newest).unwrap();
    let (start, len) = *spans.last().unwrap();
    for cut in start..start + len {
        std::fs::write(&newest, &pristine[..cut]).unwrap();
        let log = open(dir.path()).unwrap();
        assert_eq!(log.end(), 59, "cut at {cut}");
        assert_eq!(std::fs::metadata(&newest).unwrap().len(), start as u64);
        assert_payloads(&log);
        let a = log.append(&payload(59)).unwrap();
        assert_eq!(a.cursor, 59, "appending continues with the next cursor");
        log.wait_durable(&a).unwrap();
        drop(log);
        let log = open(dir.path()).unwrap();
        assert_eq!(log.end(), 60);
        assert_payloads(&log);
    }
}

#[test]
fn torn_first_record_of_the_newest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = manual(T0);
    let last = {
        let log = ShardLog::open(dir.path(), cfg(2048, 256), hc).unwrap();
        append_n(&log, 40);
        // Roll happens right after the record crossing the limit: make sure the newest
        // segment holds exactly one record.
        while log.segments.read().active.base != log.end() {
            append_n(&log, 1);
        }
        let a = append_n(&log, 1)[0];
        assert_eq!(log.segments.read().active.base, a.cursor);
        a
    };
    let newest = segment_paths(dir.path()).pop().unwrap();
    let pristine = std::fs::read(&newest).unwrap();
    for cut in SEGMENT_HEADER_LEN as usize..pristine.len() {
        std::fs::write(&newest, &pristine[..cut]).unwrap();
        m.set(0);
        let hc = Arc::new(HybridClock::new(m.clone()));
        let log = ShardLog::open(dir.path(), cfg(2048, 256), hc.clone()).unwrap();
        assert_eq!(log.end(), last.cursor);
        assert_payloads(&log);
        // The stamps of the sealed segment's last record still bound the clock and the
        // receive time.
        let prev = log.record_meta(last.cursor - 1).unwrap();
        assert_eq!(log.last_hlc(), Some(prev.hlc));
        assert!(hc.peek() >= prev.hlc);
        let a = log.append(&payload(last.cursor)).unwrap();
        assert!(a.hlc > prev.hlc && a.receive_millis >= prev.receive_millis);
        log.wait_durable(&a).unwrap();
    }
}

#[test]
fn zero_tails_are_kept_and_garbage_tails_are_torn() {
    let dir = shard_with(60);
    let newest = segment_paths(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    // Space allocated but never written: reserved space, or an append none of whose bytes
    // reached the disk. The log ends before it and the zeros stay.
    OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(len + 8192)
        .unwrap();
    let log = open(dir.path()).unwrap();
    assert_eq!(log.end(), 60);
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), len + 8192);
    let a = append_n(&log, 1)[0];
    assert_eq!(a.cursor, 60);
    assert_eq!(record_spans(&newest).last().unwrap().0 as u64, len);
    drop(log);
    // Bytes that do not form a record, after the zeros: everything from the end of the last
    // record is a torn tail.
    let mut bytes = std::fs::read(&newest).unwrap();
    let records_end = log_end_of(&newest);
    bytes.extend_from_slice(&[0xab; 100]);
    std::fs::write(&newest, &bytes).unwrap();
    let log = open(dir.path()).unwrap();
    assert_eq!(log.end(), 61);
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), records_end);
    assert_payloads(&log);
}

/// Where the records of a segment file end.
fn log_end_of(path: &Path) -> u64 {
    let (pos, len) = *record_spans(path).last().unwrap();
    (pos + len) as u64
}

#[test]
fn damage_followed_by_valid_records_is_refused() {
    let dir = shard_with(60);
    let newest = segment_paths(dir.path()).pop().unwrap();
    let spans = record_spans(&newest);
    let pristine = std::fs::read(&newest).unwrap();
    // A payload byte, a header byte under the CRC, the CRC itself, the length.
    let (pos, _) = spans[1];
    for at in [pos + RECORD_HEADER_LEN + 2, pos + 20, pos + 5, pos] {
        let mut bytes = pristine.clone();
        bytes[at] ^= 0x40;
        std::fs::write(&newest, &bytes).unwrap();
        expect_corrupt(dir.path(), "synced data is damaged");
    }
    std::fs::write(&newest, &pristine).unwrap();
    assert_eq!(open(dir.path()).unwrap().end(), 60);
}

#[test]
fn cursor_discontinuity_is_refused() {
    let dir = shard_with(60);
    let newest = segment_paths(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    let mut rec = Vec::new();
    encode_record(&mut rec, 70, 1, T0, b"from the future");
    bytes.extend_from_slice(&rec);
    std::fs::write(&newest, &bytes).unwrap();
    expect_corrupt(dir.path(), "discontinuity");
    // A repeated cursor is just as wrong.
    let mut bytes = std::fs::read(&newest).unwrap();
    let n = bytes.len();
    bytes.truncate(n - rec.len());
    rec.clear();
    encode_record(&mut rec, 58, 1, T0, b"again");
    bytes.extend_from_slice(&rec);
    std::fs::write(&newest, &bytes).unwrap();
    expect_corrupt(dir.path(), "discontinuity");
}

#[test]
fn damage_in_a_sealed_segment() {
    let dir = shard_with(150);
    let sealed = segment_paths(dir.path())[1].clone();
    let pristine = std::fs::read(&sealed).unwrap();
    let spans = record_spans(&sealed);
    // In the records after the last index entry, which recovery checks.
    let (pos, len) = *spans.last().unwrap();
    let mut bytes = pristine.clone();
    bytes[pos + len - 1] ^= 1;
    std::fs::write(&sealed, &bytes).unwrap();
    expect_corrupt(dir.path(), "sealed segment");
    // Cut short.
    std::fs::write(&sealed, &pristine[..pristine.len() - 3]).unwrap();
    expect_corrupt(dir.path(), "sealed segment");
    // Earlier in the segment: found by a full scan when the index is missing...
    let mut bytes = pristine.clone();
    bytes[spans[0].0 + RECORD_HEADER_LEN] ^= 1;
    std::fs::write(&sealed, &bytes).unwrap();
    let idx = sealed.with_extension("idx");
    let idx_bytes = std::fs::read(&idx).unwrap();
    std::fs::remove_file(&idx).unwrap();
    expect_corrupt(dir.path(), "sealed segment");
    // ...and, with the index intact, when the record is read.
    std::fs::write(&idx, &idx_bytes).unwrap();
    let log = open(dir.path()).unwrap();
    let first = log.sealed_segments()[1].base;
    assert!(matches!(
        log.read(first, first + 1, 1, 1),
        Err(StorageError::Corrupt { .. })
    ));
    assert!(log.read(first + 1, first + 2, 1, 1).is_ok());
    drop(log);
    std::fs::write(&sealed, &pristine).unwrap();
    assert_payloads(&open(dir.path()).unwrap());
}

#[test]
fn gaps_and_bad_headers_are_refused() {
    let dir = shard_with(150);
    let segs = segment_paths(dir.path());
    // A missing segment in the middle.
    let aside = dir.path().join("aside");
    std::fs::rename(&segs[1], &aside).unwrap();
    expect_corrupt(dir.path(), "gap");
    std::fs::rename(&aside, &segs[1]).unwrap();
    // A missing newest segment is no gap: the log just ends earlier (that is what the
    // directory says, and the sealed segments are whole).
    // A header that names another cursor than the file.
    let pristine = std::fs::read(&segs[1]).unwrap();
    let mut bytes = pristine.clone();
    bytes[16] ^= 1;
    std::fs::write(&segs[1], &bytes).unwrap();
    expect_corrupt(dir.path(), "header names base cursor");
    // A bad magic or version.
    for at in [0, 8] {
        let mut bytes = pristine.clone();
        bytes[at] ^= 1;
        std::fs::write(&segs[1], &bytes).unwrap();
        open(dir.path()).err().expect("bad header refused");
    }
    std::fs::write(&segs[1], &pristine).unwrap();
    // A segment whose records do not follow the previous one (overlap).
    let newest = segs.last().unwrap();
    let base =
        crate::record::parse_segment_file_name(newest.file_name().unwrap().to_str().unwrap())
            .unwrap();
    let wrong = dir.path().join(crate::record::segment_file_name(base + 1));
    let mut bytes = std::fs::read(newest).unwrap();
    bytes[..24].copy_from_slice(&encode_segment_header(base + 1));
    std::fs::remove_file(newest).unwrap();
    std::fs::write(&wrong, &bytes).unwrap();
    expect_corrupt(dir.path(), "gap");
}

#[test]
fn a_newest_segment_whose_creation_was_cut_short() {
    let dir = shard_with(100);
    let newest = segment_paths(dir.path()).pop().unwrap();
    let base_of = |log: &ShardLog| log.segments.read().active.base;
    // Make the newest segment empty (as right after a roll).
    let log = open(dir.path()).unwrap();
    while base_of(&log) != log.end() {
        append_n(&log, 1);
    }
    let end = log.end();
    drop(log);
    let newest_now = segment_paths(dir.path()).pop().unwrap();
    assert_ne!(newest, newest_now);
    let header = std::fs::read(&newest_now).unwrap();
    assert_eq!(header.len(), 24);
    let variants: Vec<Vec<u8>> = vec![
        vec![],
        header[..7].to_vec(),
        vec![0; 24],
        [&header[..10], &[0u8; 14][..]].concat(),
        vec![0; 4096],
    ];
    for v in variants {
        std::fs::write(&newest_now, &v).unwrap();
        let log = open(dir.path()).unwrap();
        assert_eq!(log.end(), end, "variant of {} bytes", v.len());
        assert_eq!(std::fs::read(&newest_now).unwrap(), header);
        let a = log.append(&payload(end)).unwrap();
        assert_eq!(a.cursor, end);
        log.wait_durable(&a).unwrap();
        drop(log);
        // Back to an empty newest segment for the next variant.
        let spans = record_spans(&newest_now);
        std::fs::write(&newest_now, &header).unwrap();
        assert_eq!(spans.len(), 1);
    }
    // Not zeros after a missing header: refused.
    std::fs::write(&newest_now, [&[0u8; 24][..], b"data"].concat()).unwrap();
    open(dir.path()).err().expect("refused");
}

#[test]
fn the_only_segment_keeps_its_base_when_its_header_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    drop(ShardLog::create_at(dir.path(), cfg(2048, 256), hc, 500).unwrap());
    let seg = segment_paths(dir.path()).pop().unwrap();
    std::fs::write(&seg, b"").unwrap();
    let log = open(dir.path()).unwrap();
    assert_eq!((log.begin(), log.end()), (500, 500));
}

#[test]
fn leftovers_of_interrupted_operations_are_cleaned() {
    let dir = shard_with(100);
    let tmp = dir.path().join(format!("{}.tmp", index_file_name(0)));
    std::fs::write(&tmp, b"half an index").unwrap();
    // An index whose segment retention already deleted.
    let orphan = dir.path().join(index_file_name(999_999));
    std::fs::write(&orphan, b"x").unwrap();
    // A stale index of the newest segment.
    let newest = segment_paths(dir.path()).pop().unwrap();
    std::fs::write(newest.with_extension("idx"), b"stale").unwrap();
    let log = open(dir.path()).unwrap();
    assert_payloads(&log);
    assert!(!tmp.exists() && !orphan.exists());
    // The newest segment's index was rebuilt.
    let idx = std::fs::read(newest.with_extension("idx")).unwrap();
    assert_eq!(&idx[..8], b"CAIRNIDX");
    assert_eq!((idx.len() - 16) % 16, 0);
}

#[test]
fn a_full_newest_segment_is_sealed_by_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    {
        let log = ShardLog::open(dir.path(), cfg(1 << 20, 256), hc.clone()).unwrap();
        append_n(&log, 50);
    }
    // Reopened with a smaller limit, as after a crash between an append and its roll.
    let log = ShardLog::open(dir.path(), cfg(1024, 256), hc).unwrap();
    assert_eq!(log.stats().segments, 1);
    append_n(&log, 1);
    let sealed = log.sealed_segments();
    assert_eq!(sealed.len(), 1);
    assert_eq!((sealed[0].base, sealed[0].next), (0, 50));
    assert_eq!(log.segments.read().active.base, 50);
    assert_payloads(&log);
}

/// Rewrites the flags and raw length of the record at `pos` in `bytes`, with a matching CRC, as a
/// newer format could have written it.
fn set_flags(bytes: &mut [u8], pos: usize, flags: u32, raw_len: u32) {
    let len = RecordHeader::decode(&bytes[pos..]).len as usize;
    bytes[pos + 32..pos + 36].copy_from_slice(&flags.to_le_bytes());
    bytes[pos + 36..pos + 40].copy_from_slice(&raw_len.to_le_bytes());
    let end = pos + RECORD_HEADER_LEN + len;
    let crc = crate::record::record_crc(
        &bytes[pos..pos + RECORD_HEADER_LEN],
        &bytes[pos + RECORD_HEADER_LEN..end],
    );
    bytes[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn records_with_undefined_flags_are_refused_not_cut_off() {
    let dir = shard_with(60);
    let newest = segment_paths(dir.path()).pop().unwrap();
    let pristine = std::fs::read(&newest).unwrap();
    // Even as the very last record, an intact record is never taken for a torn write.
    let (last, _) = *record_spans(&newest).last().unwrap();
    let mut bytes = pristine.clone();
    set_flags(&mut bytes, last, 2, 0);
    std::fs::write(&newest, &bytes).unwrap();
    expect_corrupt(dir.path(), "does not define");
    assert_eq!(std::fs::read(&newest).unwrap(), bytes, "nothing truncated");
    std::fs::write(&newest, &pristine).unwrap();
    assert_eq!(open(dir.path()).unwrap().end(), 60);
}

#[test]
fn reads_refuse_undefined_flags_in_sealed_segments() {
    let dir = shard_with(150);
    let sealed = segment_paths(dir.path())[1].clone();
    let (pos, _) = record_spans(&sealed)[0];
    let first = RecordHeader::decode(&std::fs::read(&sealed).unwrap()[pos..]).cursor;
    let mut bytes = std::fs::read(&sealed).unwrap();
    // Flags 0 with a raw length is not an encoding either.
    set_flags(&mut bytes, pos, 0, 9);
    std::fs::write(&sealed, &bytes).unwrap();
    // Start-up checks only the tail of a sealed segment; the read that meets the record refuses.
    let log = open(dir.path()).unwrap();
    let err = log.read(first, u64::MAX, 10, usize::MAX).unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("does not define"), "{err}");
    assert_eq!(
        log.read(first + 1, first + 2, 10, usize::MAX)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn version_1_segments_are_read_and_the_active_one_is_raised() {
    let dir = shard_with(150);
    let paths = segment_paths(dir.path());
    let version =
        |p: &Path| u32::from_le_bytes(std::fs::read(p).unwrap()[8..12].try_into().unwrap());
    for p in &paths {
        assert_eq!(version(p), 2);
        let mut b = std::fs::read(p).unwrap();
        b[8] = 1;
        std::fs::write(p, &b).unwrap();
    }
    let log = open(dir.path()).unwrap();
    assert_eq!((log.begin(), log.end()), (0, 150));
    assert_payloads(&log);
    let (newest, older) = paths.split_last().unwrap();
    assert_eq!(version(newest), 2, "appends go to a version 2 segment");
    assert!(
        older.iter().all(|p| version(p) == 1),
        "sealed segments are left as they are"
    );
    append_n(&log, 1);
    drop(log);
    // A version this code does not know is refused, wherever it is.
    for p in [newest, &older[0]] {
        let pristine = std::fs::read(p).unwrap();
        let mut b = pristine.clone();
        b[8] = 3;
        std::fs::write(p, &b).unwrap();
        expect_corrupt(dir.path(), "version 3");
        std::fs::write(p, &pristine).unwrap();
    }
    assert_eq!(open(dir.path()).unwrap().end(), 151);
}

#[test]
fn a_partly_written_version_1_header_is_a_torn_creation() {
    let dir = shard_with(60);
    let newest = segment_paths(dir.path()).pop().unwrap();
    let base =
        crate::record::parse_segment_file_name(newest.file_name().unwrap().to_str().unwrap())
            .unwrap();
    // What an older binary's roll left: the first 12 bytes of its header, then nothing.
    let mut h = encode_segment_header(base);
    h[8] = 1;
    std::fs::write(&newest, &h[..12]).unwrap();
    let log = open(dir.path()).unwrap();
    assert_eq!(log.end(), base);
}
