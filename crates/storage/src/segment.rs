//! Segments: the summary kept in memory for each, creating a segment file, and walking the
//! records of a segment file in large positional reads.
//!
//! A sealed segment costs one [`SegmentMeta`] in memory (a few words); its files are opened on
//! demand. The active segment keeps its two files open and a sample of its index in memory
//! ([`ActiveSegment`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::index::{ActiveIndex, IndexEntry};
use crate::io::{FileIo, FileRef, Fs};
use crate::record::{
    encode_segment_header, segment_file_name, RecordHeader, MAX_PAYLOAD, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use crate::StorageError;

/// What is kept in memory about a sealed segment: enough to route a cursor or a time to it and to
/// decide retention without touching its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMeta {
    /// Cursor of its first record (its file name).
    pub base: u64,
    /// Cursor after its last record: the next segment's base.
    pub next: u64,
    /// Length of the segment file.
    pub len: u64,
    /// Receive time of its first record, unix milliseconds.
    pub first_millis: u64,
    /// Receive time of its last record, unix milliseconds.
    pub last_millis: u64,
}

impl SegmentMeta {
    /// Number of records.
    pub fn records(&self) -> u64 {
        self.next - self.base
    }

    /// Whether the record `cursor` is in this segment.
    pub fn holds(&self, cursor: u64) -> bool {
        self.base <= cursor && cursor < self.next
    }

    /// Whether retention may delete it: its newest record was received before the cutoff.
    pub fn expired(&self, cutoff_millis: u64) -> bool {
        self.last_millis < cutoff_millis
    }

    /// Mean record length, used to size reads.
    pub fn mean_record_len(&self) -> u64 {
        mean_record_len(self.len, self.records())
    }
}

/// Mean length of `records` records filling a segment of `len` bytes.
pub fn mean_record_len(len: u64, records: u64) -> u64 {
    (len.saturating_sub(SEGMENT_HEADER_LEN) / records.max(1)).max(RECORD_HEADER_LEN as u64)
}

/// The segment being appended to, shared by the writer and readers.
pub struct ActiveSegment {
    /// Cursor of its first record.
    pub base: u64,
    /// Its file, open for reading and writing.
    pub file: FileRef,
    /// Bytes readers may look at: everything up to the end of the last visible record.
    pub visible_len: AtomicU64,
    /// Sparse index of the records written so far.
    pub index: ActiveIndex,
}

impl ActiveSegment {
    /// An active segment over `file` whose first `len` bytes are already visible.
    pub fn new(base: u64, file: FileRef, len: u64, index: ActiveIndex) -> Self {
        Self {
            base,
            file,
            visible_len: AtomicU64::new(len),
            index,
        }
    }

    /// Bytes readers may look at.
    pub fn visible_len(&self) -> u64 {
        self.visible_len.load(Ordering::Acquire)
    }
}

/// Creates the files of a new, empty segment and makes the segment durable before any record
/// can be acknowledged in it: header written, file synced, directory synced. Its index file is
/// created alongside (empty; it needs no sync, being rebuilt from the log at recovery).
pub fn create_segment(
    fs: &dyn Fs,
    dir: &Path,
    base: u64,
) -> Result<(FileRef, ActiveIndex), StorageError> {
    let path = dir.join(segment_file_name(base));
    let io = |e| StorageError::Io {
        path: path.clone(),
        source: e,
    };
    let file = fs.create_new(&path).map_err(io)?;
    file.write_all_at(&encode_segment_header(base), 0)
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    let index = ActiveIndex::create(fs, dir, base, &[])
        .map_err(|(path, source)| StorageError::Io { path, source })?;
    fs.sync_dir(dir).map_err(|e| StorageError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    Ok((file, index))
}

/// One step of walking a segment file.
#[derive(Debug)]
pub enum Step {
    /// A complete record (CRC not checked yet): its header, position, and bytes (header and
    /// payload), sliced out of the reader's buffer without copying.
    Record {
        /// Decoded header.
        header: RecordHeader,
        /// File position of the record.
        pos: u64,
        /// The whole record.
        bytes: Bytes,
    },
    /// Exactly at the end of the range.
    End,
    /// A record starts at `pos` but its header or payload runs past the end of the range, or
    /// its length field is beyond any record this format allows.
    Incomplete {
        /// Where the record starts.
        pos: u64,
    },
}

/// Walks the records of a file from a position, reading large chunks with positional reads and
/// handing out records as slices of them. At most one allocation per chunk; a record larger
/// than the chunk gets a chunk of its own.
pub struct RecordReader<'a> {
    file: &'a dyn FileIo,
    limit: u64,
    pos: u64,
    buf: Bytes,
    buf_pos: u64,
    chunk: u64,
}

impl<'a> RecordReader<'a> {
    /// A reader of the records in `[pos, limit)` of `file`, reading `chunk` bytes at a time.
    pub fn new(file: &'a dyn FileIo, pos: u64, limit: u64, chunk: usize) -> Self {
        Self {
            file,
            limit,
            pos,
            buf: Bytes::new(),
            buf_pos: pos,
            chunk: chunk.max(RECORD_HEADER_LEN) as u64,
        }
    }

    /// Position of the next record.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The next record.
    pub fn next_record(&mut self) -> std::io::Result<Step> {
        if self.pos >= self.limit {
            return Ok(Step::End);
        }
        let header_len = RECORD_HEADER_LEN as u64;
        if self.limit - self.pos < header_len {
            return Ok(Step::Incomplete { pos: self.pos });
        }
        if !self.buffered(header_len) {
            self.refill(header_len)?;
        }
        let off = (self.pos - self.buf_pos) as usize;
        let header = RecordHeader::decode(&self.buf[off..]);
        if header.len as usize > MAX_PAYLOAD || header.record_len() > self.limit - self.pos {
            return Ok(Step::Incomplete { pos: self.pos });
        }
        let len = header.record_len();
        if !self.buffered(len) {
            self.refill(len)?;
        }
        let off = (self.pos - self.buf_pos) as usize;
        let bytes = self.buf.slice(off..off + len as usize);
        let pos = self.pos;
        self.pos += len;
        Ok(Step::Record { header, pos, bytes })
    }

    fn buffered(&self, n: u64) -> bool {
        self.pos >= self.buf_pos && self.pos + n <= self.buf_pos + self.buf.len() as u64
    }

    fn refill(&mut self, need: u64) -> std::io::Result<()> {
        let n = self.chunk.max(need).min(self.limit - self.pos) as usize;
        if n < POOLED_MIN {
            let mut v = vec![0u8; n];
            self.file.read_exact_at(&mut v, self.pos)?;
            self.buf = Bytes::from(v);
        } else {
            let mut b = ReadBuf::take(n);
            self.file.read_exact_at(b.as_mut(), self.pos)?;
            self.buf = Bytes::from_owner(b);
        }
        self.buf_pos = self.pos;
        Ok(())
    }
}

/// Reads at least this large use pooled buffers.
const POOLED_MIN: usize = 64 << 10;
/// Buffers kept for reuse, and the largest one kept.
const POOL_BUFFERS: usize = 8;
const POOLED_MAX: usize = 8 << 20;

/// Large read buffers, kept once their reads are done with them: a fresh buffer costs a page
/// fault and zeroing per page, which on the pull path cost more than the copy from the page
/// cache. At most [`POOL_BUFFERS`] of at most [`POOLED_MAX`] bytes are kept.
static POOL: parking_lot::Mutex<Vec<Vec<u8>>> = parking_lot::Mutex::new(Vec::new());

/// A read buffer of `n` bytes, returned to the pool when the last [`Bytes`] slicing it drops.
struct ReadBuf {
    v: Vec<u8>,
    n: usize,
}

impl ReadBuf {
    fn take(n: usize) -> Self {
        let reused = {
            let mut pool = POOL.lock();
            // The smallest buffer that is large enough, or else the largest to grow.
            let best = (0..pool.len())
                .filter(|&i| pool[i].len() >= n)
                .min_by_key(|&i| pool[i].len())
                .or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].len()));
            best.map(|i| pool.swap_remove(i))
        };
        let mut v = reused.unwrap_or_default();
        if v.len() < n {
            // Only the growth is zeroed; what a buffer held before is overwritten by the read.
            v.resize(n, 0);
        }
        ReadBuf { v, n }
    }
}

impl AsRef<[u8]> for ReadBuf {
    fn as_ref(&self) -> &[u8] {
        &self.v[..self.n]
    }
}

impl AsMut<[u8]> for ReadBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.v[..self.n]
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        if self.v.len() <= POOLED_MAX {
            let mut pool = POOL.lock();
            if pool.len() < POOL_BUFFERS {
                pool.push(std::mem::take(&mut self.v));
            }
        }
    }
}

/// Where to start scanning a segment: a record position and its cursor, as claimed by an index
/// entry (or the first record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// File position of a record.
    pub pos: u64,
    /// Its cursor.
    pub cursor: u64,
}

impl Start {
    /// The first record of the segment `base`.
    pub fn first(base: u64) -> Self {
        Start {
            pos: SEGMENT_HEADER_LEN,
            cursor: base,
        }
    }

    /// The start an index entry names (or the first record when there is none).
    pub fn from_entry(base: u64, entry: Option<IndexEntry>) -> Self {
        match entry {
            Some(e) => Start {
                pos: u64::from(e.pos),
                cursor: base + u64::from(e.rel_cursor),
            },
            None => Start::first(base),
        }
    }
}

/// The part of one segment file a reader may look at.
pub struct SegmentFile<'a> {
    /// Shard directory, to name the file in errors.
    pub dir: &'a Path,
    /// Base cursor.
    pub base: u64,
    /// The file.
    pub file: &'a dyn FileIo,
    /// Bytes that may be read.
    pub len: u64,
    /// Cursor after the last record that may be read.
    pub next: u64,
}

impl SegmentFile<'_> {
    /// Path of the file, built only when an error needs it.
    pub fn path(&self) -> PathBuf {
        self.dir.join(segment_file_name(self.base))
    }

    /// A corruption error about this file.
    pub fn corrupt(&self, offset: u64, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            path: self.path(),
            offset,
            reason: reason.into(),
        }
    }

    /// An I/O error about this file.
    pub fn io(&self, source: std::io::Error) -> StorageError {
        StorageError::Io {
            path: self.path(),
            source,
        }
    }

    /// Visits the records with cursors in `[start.cursor, until)` in order (`until ≤ next`),
    /// while `visit` returns `true`. Every record's cursor is checked against its place; a
    /// record's CRC is left to `visit`, which knows whether it needs the payload.
    ///
    /// The index is only a hint: if the record at `start` does not carry the cursor the entry
    /// claims, the walk starts over from the first record of the segment.
    pub fn walk(
        &self,
        start: Start,
        until: u64,
        chunk: usize,
        mut visit: impl FnMut(&RecordHeader, u64, Bytes) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        debug_assert!(until <= self.next, "walk past the readable records");
        let mut start = start;
        let limit = self.len;
        'restart: loop {
            let mut reader = RecordReader::new(self.file, start.pos, limit, chunk);
            let mut expect = start.cursor;
            let mut verified = start.pos == SEGMENT_HEADER_LEN && start.cursor == self.base;
            while expect < until {
                match reader.next_record().map_err(|e| self.io(e))? {
                    Step::Record { header, pos, bytes } => {
                        if header.cursor != expect {
                            if !verified {
                                tracing::warn!(segment = %self.path().display(), entry_pos = start.pos,
                                    "index entry does not match its segment; scanning from the first record");
                                start = Start::first(self.base);
                                continue 'restart;
                            }
                            return Err(self.corrupt(
                                pos,
                                format!("expected cursor {expect}, found {}", header.cursor),
                            ));
                        }
                        verified = true;
                        if !visit(&header, pos, bytes)? {
                            return Ok(());
                        }
                        expect += 1;
                    }
                    Step::End | Step::Incomplete { .. } if !verified => {
                        start = Start::first(self.base);
                        continue 'restart;
                    }
                    Step::End => {
                        return Err(self
                            .corrupt(reader.pos(), format!("segment ends before cursor {expect}")))
                    }
                    Step::Incomplete { pos } => {
                        return Err(self.corrupt(pos, "record runs past the end of the segment"))
                    }
                }
            }
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::RealFs;
    use crate::record::{crc_matches, encode_record};

    #[test]
    fn meta_answers_without_io() {
        let m = SegmentMeta {
            base: 10,
            next: 20,
            len: SEGMENT_HEADER_LEN + 10 * 100,
            first_millis: 5_000,
            last_millis: 9_000,
        };
        assert_eq!(m.records(), 10);
        assert!(m.holds(10) && m.holds(19) && !m.holds(9) && !m.holds(20));
        assert!(m.expired(9_001) && !m.expired(9_000));
        assert_eq!(m.mean_record_len(), 100);
        assert_eq!(
            mean_record_len(SEGMENT_HEADER_LEN, 0),
            RECORD_HEADER_LEN as u64
        );
    }

    fn segment_with(payload_lens: &[usize]) -> (tempfile::TempDir, FileRef, u64) {
        let dir = tempfile::tempdir().unwrap();
        let (f, _) = create_segment(&RealFs, dir.path(), 100).unwrap();
        let mut buf = Vec::new();
        for (i, n) in payload_lens.iter().enumerate() {
            encode_record(&mut buf, 100 + i as u64, 1, 1000, &vec![i as u8; *n]);
        }
        f.write_all_at(&buf, SEGMENT_HEADER_LEN).unwrap();
        let len = SEGMENT_HEADER_LEN + buf.len() as u64;
        (dir, f, len)
    }

    #[test]
    fn pooled_read_buffers_show_only_what_was_read() {
        // Large records read through pooled buffers of shrinking and growing sizes: a reused
        // buffer must never show bytes of an earlier read.
        let lens = [200_000, 70_000, 150_000, 66_000, 300_000];
        let (_dir, f, len) = segment_with(&lens);
        let mut held = Vec::new();
        for round in 0..3 {
            for chunk in [POOLED_MIN, 100_000, 1 << 20, POOLED_MIN + 1] {
                let mut r = RecordReader::new(&*f, SEGMENT_HEADER_LEN, len, chunk);
                for (i, n) in lens.iter().enumerate() {
                    let Step::Record { bytes, .. } = r.next_record().unwrap() else {
                        panic!("record {i}");
                    };
                    assert_eq!(bytes.len(), RECORD_HEADER_LEN + n);
                    assert!(bytes[RECORD_HEADER_LEN..].iter().all(|b| *b == i as u8));
                    // Keep some alive across later reads, drop others back into the pool.
                    if (i + round) % 2 == 0 {
                        held.push(bytes);
                    }
                }
                assert!(matches!(r.next_record().unwrap(), Step::End));
            }
        }
        for (k, b) in held.iter().enumerate() {
            let i = b[RECORD_HEADER_LEN] as usize;
            assert!(
                b[RECORD_HEADER_LEN..].iter().all(|x| *x as usize == i),
                "held {k}"
            );
        }
    }

    #[test]
    fn reader_handles_records_larger_than_its_chunk() {
        let lens = [0, 5, 300, 7, 5000, 1];
        let (_dir, f, len) = segment_with(&lens);
        for chunk in [1, 40, 64, 512, 1 << 20] {
            let mut r = RecordReader::new(&*f, SEGMENT_HEADER_LEN, len, chunk);
            for (i, n) in lens.iter().enumerate() {
                match r.next_record().unwrap() {
                    Step::Record { header, bytes, .. } => {
                        assert_eq!(header.cursor, 100 + i as u64);
                        assert_eq!(bytes.len(), RECORD_HEADER_LEN + n);
                        assert!(crc_matches(
                            &bytes[..RECORD_HEADER_LEN],
                            &bytes[RECORD_HEADER_LEN..]
                        ));
                    }
                    other => panic!("chunk {chunk}: {other:?}"),
                }
            }
            assert!(matches!(r.next_record().unwrap(), Step::End));
        }
        // A limit inside a record makes it incomplete.
        let mut r = RecordReader::new(&*f, SEGMENT_HEADER_LEN, len - 1, 64);
        for _ in 0..lens.len() - 1 {
            assert!(matches!(r.next_record().unwrap(), Step::Record { .. }));
        }
        assert!(matches!(r.next_record().unwrap(), Step::Incomplete { .. }));
    }

    #[test]
    fn walk_falls_back_when_the_index_lies() {
        let lens = [10; 20];
        let (dir, f, len) = segment_with(&lens);
        let seg = SegmentFile {
            dir: dir.path(),
            base: 100,
            file: &*f,
            len,
            next: 120,
        };
        let rec = |i: u64| SEGMENT_HEADER_LEN + i * (RECORD_HEADER_LEN as u64 + 10);
        let collect = |start: Start| {
            let mut seen = Vec::new();
            seg.walk(start, 120, 128, |h, _, _| {
                seen.push(h.cursor);
                Ok(true)
            })
            .unwrap();
            seen
        };
        // A truthful entry: the walk starts there.
        assert_eq!(
            collect(Start {
                pos: rec(5),
                cursor: 105
            }),
            (105..120).collect::<Vec<_>>()
        );
        // An entry naming the wrong cursor, or a position inside a record, or past the end.
        for bad in [
            Start {
                pos: rec(5),
                cursor: 106,
            },
            Start {
                pos: rec(5) + 3,
                cursor: 105,
            },
            Start {
                pos: len + 100,
                cursor: 110,
            },
        ] {
            assert_eq!(collect(bad), (100..120).collect::<Vec<_>>(), "{bad:?}");
        }
        // Stopping early.
        let mut n = 0;
        seg.walk(Start::first(100), 120, 128, |_, _, _| {
            n += 1;
            Ok(n < 3)
        })
        .unwrap();
        assert_eq!(n, 3);
        // Asking for more records than the file holds is corruption.
        let short = SegmentFile {
            len: rec(10),
            ..seg
        };
        let err = short
            .walk(Start::first(100), 120, 128, |_, _, _| Ok(true))
            .unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    }
}
