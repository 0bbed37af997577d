//! The sparse index of a segment (design §6).
//!
//! ```text
//! index header (16 bytes)
//!   0  8  magic "CAIRNIDX"
//!   8  4  format version (1)
//!  12  4  reserved, 0
//!
//! entry (16 bytes), one for the first record of the segment and then one for the first record
//! that starts at least `index_interval_bytes` after the previous entry's record
//!   0  4  cursor - base cursor
//!   4  4  file position of the record
//!   8  4  receive time, unix seconds
//!  12  4  reserved, 0
//! ```
//!
//! The index is a hint derived from the log: entries are only ever used as a place to start
//! scanning, and the scan checks that the record found there is the one the entry names.
//!
//! Entries live in the `.idx` file, not in memory, so memory does not grow with data: a sealed
//! segment's entries are binary-searched with positional reads ([`IndexFile`]). The active
//! segment appends each entry to its file as it is made (no sync: the file is rebuilt from the
//! log at recovery, and synced once when the segment is sealed) and keeps every
//! [`SAMPLE_EVERY`]-th entry in memory ([`ActiveIndex`]), so a lookup there is a binary search
//! in memory and one small read.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::io::{FileIo, FileRef, Fs};
use crate::record::{index_file_name, u32_at, INDEX_VERSION};

/// Magic at the start of every index file.
pub const INDEX_MAGIC: [u8; 8] = *b"CAIRNIDX";
/// Length of the index header.
pub const INDEX_HEADER_LEN: u64 = 16;
/// Length of one entry.
pub const INDEX_ENTRY_LEN: u64 = 16;

const OFF_REL_CURSOR: usize = 0;
const OFF_POS: usize = 4;
const OFF_SECS: usize = 8;
const OFF_RESERVED: usize = 12;

/// One sparse index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Cursor minus the segment's base cursor.
    pub rel_cursor: u32,
    /// File position of the record.
    pub pos: u32,
    /// Receive time of the record, unix seconds.
    pub receive_secs: u32,
}

impl IndexEntry {
    /// Encodes the entry.
    pub fn encode(&self) -> [u8; INDEX_ENTRY_LEN as usize] {
        let mut b = [0u8; INDEX_ENTRY_LEN as usize];
        b[OFF_REL_CURSOR..OFF_REL_CURSOR + 4].copy_from_slice(&self.rel_cursor.to_le_bytes());
        b[OFF_POS..OFF_POS + 4].copy_from_slice(&self.pos.to_le_bytes());
        b[OFF_SECS..OFF_SECS + 4].copy_from_slice(&self.receive_secs.to_le_bytes());
        b[OFF_RESERVED..OFF_RESERVED + 4].copy_from_slice(&0u32.to_le_bytes());
        b
    }

    /// Decodes an entry from the first 16 bytes of `b`.
    pub fn decode(b: &[u8]) -> IndexEntry {
        IndexEntry {
            rel_cursor: u32_at(b, OFF_REL_CURSOR),
            pos: u32_at(b, OFF_POS),
            receive_secs: u32_at(b, OFF_SECS),
        }
    }
}

/// Receive time in the index's unit, saturating rather than wrapping after 2106.
pub fn receive_secs(receive_millis: u64) -> u32 {
    (receive_millis / 1000).min(u64::from(u32::MAX)) as u32
}

/// Encodes the index header.
pub fn encode_index_header() -> [u8; INDEX_HEADER_LEN as usize] {
    let mut h = [0u8; INDEX_HEADER_LEN as usize];
    h[..8].copy_from_slice(&INDEX_MAGIC);
    h[8..12].copy_from_slice(&INDEX_VERSION.to_le_bytes());
    h
}

/// Decides which records get an entry. Deterministic in the log's contents, so an index rebuilt
/// from the log equals the one written while appending.
#[derive(Debug, Clone, Copy)]
pub struct IndexBuilder {
    interval: u64,
    last_pos: Option<u64>,
}

impl IndexBuilder {
    /// A builder for an empty segment.
    pub fn new(interval_bytes: u32) -> Self {
        Self {
            interval: u64::from(interval_bytes),
            last_pos: None,
        }
    }

    /// A builder continuing after `last` (the newest entry of a segment, if any).
    pub fn resume(interval_bytes: u32, last: Option<&IndexEntry>) -> Self {
        Self {
            interval: u64::from(interval_bytes),
            last_pos: last.map(|e| u64::from(e.pos)),
        }
    }

    /// Called for every record in order; returns the entry to add for it, if one is due.
    pub fn observe(
        &mut self,
        rel_cursor: u64,
        pos: u64,
        receive_millis: u64,
    ) -> Option<IndexEntry> {
        if let Some(last) = self.last_pos {
            if pos < last + self.interval {
                return None;
            }
        }
        self.last_pos = Some(pos);
        Some(IndexEntry {
            rel_cursor: rel_cursor as u32,
            pos: pos as u32,
            receive_secs: receive_secs(receive_millis),
        })
    }
}

/// Random access to a sorted run of entries, wherever they live.
pub trait Entries {
    /// Number of entries.
    fn count(&self) -> usize;
    /// Entry `i` (`i < count()`).
    fn get(&self, i: usize) -> io::Result<IndexEntry>;

    /// The last entry for which `before` holds, given that it holds for a prefix of the entries.
    fn last_where(&self, before: impl Fn(&IndexEntry) -> bool) -> io::Result<Option<IndexEntry>> {
        let (mut lo, mut hi) = (0usize, self.count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(&self.get(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        match lo.checked_sub(1) {
            Some(i) => self.get(i).map(Some),
            None => Ok(None),
        }
    }

    /// The entry to start scanning from to find the record `rel_cursor`.
    fn seek_cursor(&self, rel_cursor: u64) -> io::Result<Option<IndexEntry>> {
        self.last_where(|e| u64::from(e.rel_cursor) <= rel_cursor)
    }

    /// The entry to start scanning from to find the first record received at or after `secs`:
    /// the last one received before it (every record before that entry is earlier still).
    fn seek_time(&self, secs: u64) -> io::Result<Option<IndexEntry>> {
        self.last_where(|e| u64::from(e.receive_secs) < secs)
    }
}

impl Entries for [IndexEntry] {
    fn count(&self) -> usize {
        self.len()
    }
    fn get(&self, i: usize) -> io::Result<IndexEntry> {
        Ok(self[i])
    }
}

impl Entries for Vec<IndexEntry> {
    fn count(&self) -> usize {
        self.len()
    }
    fn get(&self, i: usize) -> io::Result<IndexEntry> {
        Ok(self[i])
    }
}

/// A sealed segment's index file, searched in place.
pub struct IndexFile<'a> {
    file: &'a dyn FileIo,
    count: usize,
}

/// Why an index file cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadIndex(pub String);

impl<'a> IndexFile<'a> {
    /// Checks the header and the length of an index file.
    pub fn new(file: &'a dyn FileIo) -> io::Result<Result<IndexFile<'a>, BadIndex>> {
        let len = file.size()?;
        if len < INDEX_HEADER_LEN {
            return Ok(Err(BadIndex("index header is truncated".into())));
        }
        let mut h = [0u8; INDEX_HEADER_LEN as usize];
        file.read_exact_at(&mut h, 0)?;
        if h[..8] != INDEX_MAGIC {
            return Ok(Err(BadIndex("bad index magic".into())));
        }
        if u32_at(&h, 8) != INDEX_VERSION {
            return Ok(Err(BadIndex("unsupported index version".into())));
        }
        let body = len - INDEX_HEADER_LEN;
        let count = body / INDEX_ENTRY_LEN;
        if count * INDEX_ENTRY_LEN != body {
            return Ok(Err(BadIndex(
                "index length is not a whole number of entries".into(),
            )));
        }
        Ok(Ok(IndexFile {
            file,
            count: count as usize,
        }))
    }
}

impl<'a> IndexFile<'a> {
    /// An index file already checked to hold `count` entries.
    pub fn with_count(file: &'a dyn FileIo, count: usize) -> IndexFile<'a> {
        IndexFile { file, count }
    }

    /// Opens and checks the index file at `path`: `None` if it is missing or unusable.
    pub fn open_checked(fs: &dyn Fs, path: &Path) -> Option<(FileRef, usize)> {
        let file = fs.open(path, false).ok()?;
        let count = IndexFile::new(&*file).ok()?.ok()?.count;
        Some((file, count))
    }
}

impl Entries for IndexFile<'_> {
    fn count(&self) -> usize {
        self.count
    }
    fn get(&self, i: usize) -> io::Result<IndexEntry> {
        let mut b = [0u8; INDEX_ENTRY_LEN as usize];
        self.file
            .read_exact_at(&mut b, INDEX_HEADER_LEN + i as u64 * INDEX_ENTRY_LEN)?;
        Ok(IndexEntry::decode(&b))
    }
}

/// One in this many entries of the active segment's index is kept in memory.
pub const SAMPLE_EVERY: usize = 64;

/// The index of the active segment: entries in its `.idx` file, every [`SAMPLE_EVERY`]-th also
/// in memory. The writer appends under the shard's writer lock; readers search concurrently and
/// only look at the first `count` entries, which are complete in the file.
pub struct ActiveIndex {
    file: FileRef,
    count: AtomicU64,
    sample: RwLock<Vec<IndexEntry>>,
}

impl ActiveIndex {
    /// Creates (or replaces) the index file of segment `base` in `dir`, holding `entries`.
    pub fn create(
        fs: &dyn Fs,
        dir: &Path,
        base: u64,
        entries: &[IndexEntry],
    ) -> Result<ActiveIndex, (PathBuf, io::Error)> {
        let path = dir.join(index_file_name(base));
        let file = fs.create_derived(&path).map_err(|e| (path.clone(), e))?;
        let mut bytes = Vec::with_capacity(
            (INDEX_HEADER_LEN + entries.len() as u64 * INDEX_ENTRY_LEN) as usize,
        );
        bytes.extend_from_slice(&encode_index_header());
        for e in entries {
            bytes.extend_from_slice(&e.encode());
        }
        file.write_all_at(&bytes, 0).map_err(|e| (path, e))?;
        Ok(ActiveIndex {
            file,
            count: AtomicU64::new(entries.len() as u64),
            sample: RwLock::new(entries.iter().step_by(SAMPLE_EVERY).copied().collect()),
        })
    }

    /// Appends an entry. Only the writer calls this, under the shard's writer lock.
    pub fn push(&self, entry: IndexEntry) -> io::Result<()> {
        let i = self.count.load(Ordering::Relaxed);
        self.file
            .write_all_at(&entry.encode(), INDEX_HEADER_LEN + i * INDEX_ENTRY_LEN)?;
        let sampled = (i as usize / SAMPLE_EVERY) * SAMPLE_EVERY;
        if sampled == i as usize {
            self.sample.write().push(entry);
        }
        // Published after the bytes are in the file, so readers only see whole entries.
        self.count.store(i + 1, Ordering::Release);
        Ok(())
    }

    /// Number of entries.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire) as usize
    }

    /// Entries held in memory.
    #[cfg(test)]
    pub fn sampled(&self) -> usize {
        self.sample.read().len()
    }

    /// Makes the file durable (when the segment is sealed).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// The index file.
    pub fn file(&self) -> &FileRef {
        &self.file
    }

    /// The last entry for which `before` holds (true for a prefix of the entries): a binary
    /// search over the sample, then one read of the block of entries after the sampled one.
    pub fn last_where(
        &self,
        before: impl Fn(&IndexEntry) -> bool,
    ) -> io::Result<Option<IndexEntry>> {
        let count = self.count();
        let j = {
            let sample = self.sample.read();
            // The sample may already hold an entry not yet counted.
            let usable = sample.len().min(count.div_ceil(SAMPLE_EVERY));
            let j = sample[..usable].partition_point(|e| before(e));
            match j.checked_sub(1) {
                Some(j) => j,
                None => return Ok(None),
            }
        };
        let first = j * SAMPLE_EVERY;
        let n = SAMPLE_EVERY.min(count - first);
        let mut block = [0u8; SAMPLE_EVERY * INDEX_ENTRY_LEN as usize];
        let block = &mut block[..n * INDEX_ENTRY_LEN as usize];
        self.file
            .read_exact_at(block, INDEX_HEADER_LEN + first as u64 * INDEX_ENTRY_LEN)?;
        let entries = block
            .chunks_exact(INDEX_ENTRY_LEN as usize)
            .map(IndexEntry::decode);
        // Entry `first` satisfies `before`; find the last one in the block that does.
        Ok(entries.take_while(|e| before(e)).last())
    }

    /// The entry to start scanning from to find the record `rel_cursor`.
    pub fn seek_cursor(&self, rel_cursor: u64) -> io::Result<Option<IndexEntry>> {
        self.last_where(|e| u64::from(e.rel_cursor) <= rel_cursor)
    }

    /// The entry to start scanning from to find the first record received at or after `secs`.
    pub fn seek_time(&self, secs: u64) -> io::Result<Option<IndexEntry>> {
        self.last_where(|e| u64::from(e.receive_secs) < secs)
    }
}

/// Writes the complete index of the segment `base` in `dir` and makes it durable: written to a
/// temporary file, synced, renamed over the final name, directory synced. A crash leaves either
/// the old index, the new one, or none, never a mix (a leftover temporary file is removed at
/// open).
pub fn write_index_file(
    fs: &dyn Fs,
    dir: &Path,
    base: u64,
    entries: &[IndexEntry],
) -> Result<(), (PathBuf, io::Error)> {
    let path = dir.join(index_file_name(base));
    let tmp = dir.join(format!("{}.tmp", index_file_name(base)));
    let mut bytes =
        Vec::with_capacity((INDEX_HEADER_LEN + entries.len() as u64 * INDEX_ENTRY_LEN) as usize);
    bytes.extend_from_slice(&encode_index_header());
    for e in entries {
        bytes.extend_from_slice(&e.encode());
    }
    let f = fs.create_truncate(&tmp).map_err(|e| (tmp.clone(), e))?;
    f.write_all_at(&bytes, 0).map_err(|e| (tmp.clone(), e))?;
    f.sync_all().map_err(|e| (tmp.clone(), e))?;
    drop(f);
    fs.rename(&tmp, &path).map_err(|e| (path.clone(), e))?;
    fs.sync_dir(dir).map_err(|e| (dir.to_path_buf(), e))?;
    Ok(())
}

/// Whether `name` is a temporary index file left by an interrupted [`write_index_file`].
pub fn is_index_tmp(name: &str) -> bool {
    name.ends_with(".idx.tmp")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::RealFs;

    fn e(rel: u32, pos: u32, secs: u32) -> IndexEntry {
        IndexEntry {
            rel_cursor: rel,
            pos,
            receive_secs: secs,
        }
    }

    #[test]
    fn entries_round_trip() {
        let x = e(3, 100, 5);
        let b = x.encode();
        assert_eq!(IndexEntry::decode(&b), x);
        assert_eq!(&b[12..], &[0; 4]);
        assert_eq!(&encode_index_header()[..8], b"CAIRNIDX");
        assert_eq!(receive_secs(1_999), 1);
        assert_eq!(receive_secs(u64::MAX), u32::MAX);
    }

    #[test]
    fn builder_spaces_entries_by_interval() {
        let mut b = IndexBuilder::new(100);
        // Records of 40 bytes starting at position 24.
        let got: Vec<_> = (0..10u64)
            .filter_map(|i| b.observe(i, 24 + i * 40, 1000 * i))
            .collect();
        // Entry at the first record, then at the first record >= 100 bytes further on.
        assert_eq!(
            got,
            vec![e(0, 24, 0), e(3, 144, 3), e(6, 264, 6), e(9, 384, 9)]
        );
        // Resuming after an entry makes the same decisions as an uninterrupted builder.
        let mut r = IndexBuilder::resume(100, Some(&e(3, 144, 3)));
        let rest: Vec<_> = (4..10u64)
            .filter_map(|i| r.observe(i, 24 + i * 40, 1000 * i))
            .collect();
        assert_eq!(rest, got[2..]);
        // Interval 0 indexes every record.
        let mut every = IndexBuilder::new(0);
        assert!((0..5u64).all(|i| every.observe(i, 24 + i, 0).is_some()));
    }

    #[test]
    fn seeks_in_memory_and_on_disk_agree() {
        let entries: Vec<_> = (0..50u32)
            .map(|i| e(i * 10, 24 + i * 400, 100 + i / 3))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        write_index_file(&RealFs, dir.path(), 7, &entries).unwrap();
        assert!(!RealFs.exists(&dir.path().join("00000000000000000007.idx.tmp")));
        let f = RealFs
            .open(&dir.path().join(index_file_name(7)), false)
            .unwrap();
        let on_disk = IndexFile::new(&*f).unwrap().unwrap();
        assert_eq!(on_disk.count(), 50);
        for rel in [0u64, 1, 9, 10, 11, 255, 490, 491, 10_000] {
            let want = entries.seek_cursor(rel).unwrap();
            assert_eq!(on_disk.seek_cursor(rel).unwrap(), want, "rel {rel}");
            let w = u64::from(want.unwrap().rel_cursor);
            assert!(
                w <= rel && (rel - w < 10 || w == 490),
                "rel {rel} found {w}"
            );
        }
        for secs in [0u64, 99, 100, 101, 105, 116, 117, 1000] {
            let want = entries.seek_time(secs).unwrap();
            assert_eq!(on_disk.seek_time(secs).unwrap(), want, "secs {secs}");
            match want {
                None => assert!(secs <= 100),
                Some(w) => assert!(u64::from(w.receive_secs) < secs),
            }
        }
        assert_eq!(entries.seek_time(100).unwrap(), None);
        assert_eq!(entries.seek_time(101).unwrap(), Some(entries[2]));
    }

    #[test]
    fn the_active_index_agrees_with_a_plain_search() {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<_> = (0..300u32)
            .map(|i| e(i * 3, 24 + i * 100, 50 + i / 7))
            .collect();
        // Built at once (recovery) or entry by entry (appends): same file, same answers.
        let bulk = ActiveIndex::create(&RealFs, dir.path(), 1, &all).unwrap();
        let one_by_one = ActiveIndex::create(&RealFs, dir.path(), 2, &[]).unwrap();
        for (i, x) in all.iter().enumerate() {
            one_by_one.push(*x).unwrap();
            assert_eq!(one_by_one.count(), i + 1);
            // Lookups see exactly the entries pushed so far.
            let so_far = &all[..=i];
            for rel in [0, x.rel_cursor as u64, x.rel_cursor as u64 + 1, 10_000] {
                assert_eq!(
                    one_by_one.seek_cursor(rel).unwrap(),
                    so_far.seek_cursor(rel).unwrap()
                );
            }
        }
        assert_eq!(
            std::fs::read(dir.path().join(index_file_name(1))).unwrap(),
            std::fs::read(dir.path().join(index_file_name(2))).unwrap()
        );
        assert_eq!(bulk.sampled(), 300usize.div_ceil(SAMPLE_EVERY));
        for rel in 0..1000u64 {
            assert_eq!(
                bulk.seek_cursor(rel).unwrap(),
                all.seek_cursor(rel).unwrap(),
                "rel {rel}"
            );
        }
        for secs in 0..100u64 {
            assert_eq!(
                bulk.seek_time(secs).unwrap(),
                all.seek_time(secs).unwrap(),
                "secs {secs}"
            );
        }
        let empty = ActiveIndex::create(&RealFs, dir.path(), 3, &[]).unwrap();
        assert_eq!(empty.seek_cursor(5).unwrap(), None);
        // What was written is a valid index file.
        let f = RealFs
            .open(&dir.path().join(index_file_name(1)), false)
            .unwrap();
        let file = IndexFile::new(&*f).unwrap().unwrap();
        assert_eq!(file.count(), 300);
        assert_eq!(file.get(299).unwrap(), all[299]);
    }

    #[test]
    fn malformed_index_files_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.idx");
        for (bytes, why) in [
            (b"short".to_vec(), "truncated"),
            (
                [&b"CAIRNIDY"[..], &[1, 0, 0, 0, 0, 0, 0, 0]].concat(),
                "magic",
            ),
            (
                [&encode_index_header()[..], &[0; 5]].concat(),
                "whole number",
            ),
        ] {
            std::fs::write(&p, &bytes).unwrap();
            let f = RealFs.open(&p, false).unwrap();
            let err = IndexFile::new(&*f).unwrap().err().expect(why);
            assert!(err.0.contains(why), "{err:?}");
        }
        std::fs::write(&p, encode_index_header()).unwrap();
        let f = RealFs.open(&p, false).unwrap();
        assert_eq!(IndexFile::new(&*f).unwrap().unwrap().count(), 0);
        assert!(is_index_tmp("00000000000000000007.idx.tmp"));
        assert!(!is_index_tmp("00000000000000000007.idx"));
    }
}
