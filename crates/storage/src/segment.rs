//! One segment: a log file of records plus its sparse index (design §5, §6).
//!
//! A segment is shared by the writer and readers. Readers only look at bytes below
//! `visible_len`, which the writer advances once records are durable (or written, by policy), so
//! they never see a record being written.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;

use crate::format::{
    self, IndexEntry, RecordHeader, INDEX_ENTRY_LEN, INDEX_HEADER_LEN, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use crate::{Hlc, Record, StorageError};

/// Where a segment's index lives.
pub(crate) enum IndexStore {
    /// Entries in memory (the active segment, and segments just recovered).
    Memory(Vec<IndexEntry>),
    /// Entries in the `.idx` file (sealed segments), read with positional reads.
    Disk { file: File, count: usize },
}

impl IndexStore {
    fn len(&self) -> usize {
        match self {
            IndexStore::Memory(v) => v.len(),
            IndexStore::Disk { count, .. } => *count,
        }
    }

    fn get(&self, i: usize) -> std::io::Result<IndexEntry> {
        match self {
            IndexStore::Memory(v) => Ok(v[i]),
            IndexStore::Disk { file, .. } => {
                let mut b = [0u8; INDEX_ENTRY_LEN];
                file.read_exact_at(&mut b, INDEX_HEADER_LEN + (i * INDEX_ENTRY_LEN) as u64)?;
                Ok(IndexEntry::decode(&b))
            }
        }
    }

    /// Index of the last entry for which `before(entry)` holds, if any (entries are sorted so
    /// that `before` is true for a prefix).
    fn last_where(&self, before: impl Fn(&IndexEntry) -> bool) -> std::io::Result<Option<usize>> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if before(&self.get(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.checked_sub(1))
    }
}

/// A segment of a shard log.
pub(crate) struct Segment {
    /// Cursor of its first record.
    pub base: u64,
    pub path: PathBuf,
    pub idx_path: PathBuf,
    pub file: File,
    /// Bytes readers may look at.
    pub visible_len: AtomicU64,
    /// Cursor after the last visible record.
    pub visible_next: AtomicU64,
    /// Receive time of the first record, `u64::MAX` while empty.
    pub first_millis: AtomicU64,
    /// Receive time of the last record.
    pub last_millis: AtomicU64,
    /// Cluster timestamp of the last record, 0 while empty.
    pub last_hlc: AtomicU64,
    pub index: RwLock<IndexStore>,
}

fn io_err(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Prefix of the reason given for a CRC-valid record with the wrong cursor.
pub(crate) const DISCONTINUITY: &str = "cursor discontinuity";

/// Outcome of scanning a segment's records from some position.
pub(crate) struct ScanEnd {
    /// Cursor after the last good record.
    pub next: u64,
    /// Why the scan stopped before the end of the file, with the position of the bad record.
    pub bad: Option<(u64, String)>,
}

impl Segment {
    /// Creates a new, empty segment file (header written and synced, directory synced).
    pub fn create(dir: &Path, base: u64) -> Result<Segment, StorageError> {
        let path = dir.join(format::segment_file_name(base));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        file.write_all_at(&format::segment_header(base), 0)
            .map_err(|e| io_err(&path, e))?;
        file.sync_all().map_err(|e| io_err(&path, e))?;
        sync_dir(dir)?;
        Ok(Self::new(
            dir,
            base,
            file,
            SEGMENT_HEADER_LEN,
            base,
            IndexStore::Memory(Vec::new()),
        ))
    }

    pub fn new(
        dir: &Path,
        base: u64,
        file: File,
        len: u64,
        next: u64,
        index: IndexStore,
    ) -> Segment {
        Segment {
            base,
            path: dir.join(format::segment_file_name(base)),
            idx_path: dir.join(format::index_file_name(base)),
            file,
            visible_len: AtomicU64::new(len),
            visible_next: AtomicU64::new(next),
            first_millis: AtomicU64::new(u64::MAX),
            last_millis: AtomicU64::new(0),
            last_hlc: AtomicU64::new(0),
            index: RwLock::new(index),
        }
    }

    pub fn next(&self) -> u64 {
        self.visible_next.load(Ordering::Acquire)
    }

    pub fn len(&self) -> u64 {
        self.visible_len.load(Ordering::Acquire)
    }

    pub fn io(&self, e: std::io::Error) -> StorageError {
        io_err(&self.path, e)
    }

    fn corrupt(&self, offset: u64, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            path: self.path.clone(),
            offset,
            reason: reason.into(),
        }
    }

    /// File position from which to scan for `cursor` (`base ≤ cursor`).
    fn start_for_cursor(&self, cursor: u64) -> Result<(u64, u64), StorageError> {
        let rel = (cursor - self.base).min(u64::from(u32::MAX)) as u32;
        let idx = self.index.read();
        match idx
            .last_where(|e| e.rel_cursor <= rel)
            .map_err(|e| io_err(&self.idx_path, e))?
        {
            Some(i) => {
                let e = idx.get(i).map_err(|e| io_err(&self.idx_path, e))?;
                Ok((u64::from(e.pos), self.base + u64::from(e.rel_cursor)))
            }
            None => Ok((SEGMENT_HEADER_LEN, self.base)),
        }
    }

    /// File position from which to scan for the first record received at or after `secs`.
    fn start_for_time(&self, secs: u64) -> Result<(u64, u64), StorageError> {
        let idx = self.index.read();
        match idx
            .last_where(|e| u64::from(e.receive_secs) < secs)
            .map_err(|e| io_err(&self.idx_path, e))?
        {
            Some(i) => {
                let e = idx.get(i).map_err(|e| io_err(&self.idx_path, e))?;
                Ok((u64::from(e.pos), self.base + u64::from(e.rel_cursor)))
            }
            None => Ok((SEGMENT_HEADER_LEN, self.base)),
        }
    }

    /// Reads the record header at `pos` and checks the whole record's CRC.
    fn read_checked(&self, pos: u64, limit: u64) -> Result<(RecordHeader, Bytes), StorageError> {
        if pos + RECORD_HEADER_LEN as u64 > limit {
            return Err(self.corrupt(pos, "record header runs past the visible end"));
        }
        let mut hb = [0u8; RECORD_HEADER_LEN];
        self.file
            .read_exact_at(&mut hb, pos)
            .map_err(|e| self.io(e))?;
        let h = RecordHeader::parse(&hb);
        if pos + h.record_len() as u64 > limit {
            return Err(self.corrupt(pos, "record runs past the visible end"));
        }
        let mut payload = vec![0u8; h.len as usize];
        self.file
            .read_exact_at(&mut payload, pos + RECORD_HEADER_LEN as u64)
            .map_err(|e| self.io(e))?;
        if format::record_crc(&hb, &payload) != h.crc {
            return Err(self.corrupt(pos, "record CRC mismatch"));
        }
        Ok((h, Bytes::from(payload)))
    }

    /// Finds the position of `cursor` (which must be visible in this segment).
    fn locate(&self, cursor: u64) -> Result<u64, StorageError> {
        let (mut pos, mut c) = self.start_for_cursor(cursor)?;
        let limit = self.len();
        let mut hb = [0u8; RECORD_HEADER_LEN];
        while c < cursor {
            if pos + RECORD_HEADER_LEN as u64 > limit {
                return Err(self.corrupt(pos, format!("cursor {cursor} not found")));
            }
            self.file
                .read_exact_at(&mut hb, pos)
                .map_err(|e| self.io(e))?;
            let h = RecordHeader::parse(&hb);
            if h.cursor != c {
                return Err(self.corrupt(pos, format!("expected cursor {c}, found {}", h.cursor)));
            }
            pos += h.record_len() as u64;
            c += 1;
        }
        Ok(pos)
    }

    /// Meta of the record at `cursor`.
    pub fn record_at(&self, cursor: u64) -> Result<(RecordHeader, u64), StorageError> {
        let pos = self.locate(cursor)?;
        let (h, _) = self.read_checked(pos, self.len())?;
        if h.cursor != cursor {
            return Err(self.corrupt(pos, format!("expected cursor {cursor}, found {}", h.cursor)));
        }
        Ok((h, pos))
    }

    /// First visible cursor in this segment received at or after `secs`; `None` if all are earlier.
    pub fn cursor_for_time(&self, secs: u64) -> Result<Option<u64>, StorageError> {
        let next = self.next();
        let (mut pos, mut c) = self.start_for_time(secs)?;
        let mut hb = [0u8; RECORD_HEADER_LEN];
        let limit = self.len();
        while c < next {
            if pos + RECORD_HEADER_LEN as u64 > limit {
                break;
            }
            self.file
                .read_exact_at(&mut hb, pos)
                .map_err(|e| self.io(e))?;
            let h = RecordHeader::parse(&hb);
            if h.receive_millis / 1000 >= secs {
                return Ok(Some(h.cursor));
            }
            pos += h.record_len() as u64;
            c += 1;
        }
        Ok(None)
    }

    /// Appends records with cursors in `[from, until)` to `out`, reading in large chunks; stops
    /// at `max_records` total or once `*budget` bytes of payload are used up.
    pub fn read_into(
        &self,
        from: u64,
        until: u64,
        max_records: usize,
        budget: &mut usize,
        out: &mut Vec<Record>,
    ) -> Result<(), StorageError> {
        const CHUNK: u64 = 1 << 20;
        let limit = self.len();
        let until = until.min(self.next());
        let mut pos = self.locate(from)?;
        let mut cursor = from;
        while cursor < until && out.len() < max_records && (*budget > 0 || out.is_empty()) {
            let want = (limit - pos).min(CHUNK);
            if want < RECORD_HEADER_LEN as u64 {
                return Err(self.corrupt(pos, "record header runs past the visible end"));
            }
            let mut buf = vec![0u8; want as usize];
            self.file
                .read_exact_at(&mut buf, pos)
                .map_err(|e| self.io(e))?;
            let buf = Bytes::from(buf);
            let mut off = 0usize;
            let mut progressed = false;
            while cursor < until && out.len() < max_records && (*budget > 0 || out.is_empty()) {
                if off + RECORD_HEADER_LEN > buf.len() {
                    break;
                }
                let h = RecordHeader::parse(&buf[off..]);
                let end = off + h.record_len();
                if end > buf.len() {
                    if pos + off as u64 + h.record_len() as u64 > limit {
                        return Err(
                            self.corrupt(pos + off as u64, "record runs past the visible end")
                        );
                    }
                    if !progressed {
                        // A single record larger than the chunk: read it on its own.
                        let (h2, payload) = self.read_checked(pos + off as u64, limit)?;
                        self.push(out, &h2, cursor, pos + off as u64, payload)?;
                        *budget = budget.saturating_sub(h2.len as usize);
                        cursor += 1;
                        off = end;
                    }
                    break;
                }
                let payload = buf.slice(off + RECORD_HEADER_LEN..end);
                if format::record_crc(&buf[off..off + RECORD_HEADER_LEN], &payload) != h.crc {
                    return Err(self.corrupt(pos + off as u64, "record CRC mismatch"));
                }
                self.push(out, &h, cursor, pos + off as u64, payload)?;
                *budget = budget.saturating_sub(h.len as usize);
                cursor += 1;
                off = end;
                progressed = true;
            }
            pos += off as u64;
        }
        Ok(())
    }

    fn push(
        &self,
        out: &mut Vec<Record>,
        h: &RecordHeader,
        expect: u64,
        pos: u64,
        payload: Bytes,
    ) -> Result<(), StorageError> {
        if h.cursor != expect {
            return Err(self.corrupt(pos, format!("expected cursor {expect}, found {}", h.cursor)));
        }
        out.push(Record {
            cursor: h.cursor,
            hlc: Hlc(h.hlc),
            receive_millis: h.receive_millis,
            payload,
        });
        Ok(())
    }

    /// Scans records from `pos` (whose cursor is `cursor`) to the end of the file, validating
    /// each; calls `on_record` for every good one. Stops at the first bad record.
    pub fn scan(
        file: &File,
        path: &Path,
        mut pos: u64,
        mut cursor: u64,
        file_len: u64,
        mut on_record: impl FnMut(&RecordHeader, u64),
    ) -> Result<ScanEnd, StorageError> {
        const CHUNK: usize = 4 << 20;
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_pos = pos; // file position of buf[0]
        loop {
            if pos == file_len {
                return Ok(ScanEnd {
                    next: cursor,
                    bad: None,
                });
            }
            let off = (pos - buf_pos) as usize;
            if off + RECORD_HEADER_LEN > buf.len() || {
                let h = RecordHeader::parse(&buf[off..]);
                off + h.record_len() > buf.len()
            } {
                // Refill from `pos`.
                let remaining = file_len - pos;
                if remaining < RECORD_HEADER_LEN as u64 {
                    return Ok(ScanEnd {
                        next: cursor,
                        bad: Some((pos, "incomplete record header".into())),
                    });
                }
                let mut hb = [0u8; RECORD_HEADER_LEN];
                file.read_exact_at(&mut hb, pos)
                    .map_err(|e| io_err(path, e))?;
                let h = RecordHeader::parse(&hb);
                if h.len as usize > format::MAX_PAYLOAD || pos + h.record_len() as u64 > file_len {
                    return Ok(ScanEnd {
                        next: cursor,
                        bad: Some((pos, "incomplete record".into())),
                    });
                }
                let n = remaining.min(CHUNK.max(h.record_len()) as u64) as usize;
                buf.resize(n, 0);
                file.read_exact_at(&mut buf, pos)
                    .map_err(|e| io_err(path, e))?;
                buf_pos = pos;
                continue;
            }
            let h = RecordHeader::parse(&buf[off..]);
            let rec = &buf[off..off + h.record_len()];
            if format::record_crc(rec, &rec[RECORD_HEADER_LEN..]) != h.crc {
                return Ok(ScanEnd {
                    next: cursor,
                    bad: Some((pos, "record CRC mismatch".into())),
                });
            }
            if h.cursor != cursor {
                return Ok(ScanEnd {
                    next: cursor,
                    bad: Some((
                        pos,
                        format!("{DISCONTINUITY}: expected {cursor}, found {}", h.cursor),
                    )),
                });
            }
            on_record(&h, pos);
            pos += h.record_len() as u64;
            cursor += 1;
        }
    }

    /// Writes the complete index of this (sealed) segment to its `.idx` file and syncs it, then
    /// switches lookups to that file.
    pub fn write_index_file(&self) -> Result<(), StorageError> {
        let entries: Vec<IndexEntry> = {
            let idx = self.index.read();
            (0..idx.len())
                .map(|i| idx.get(i))
                .collect::<Result<_, _>>()
                .map_err(|e| io_err(&self.idx_path, e))?
        };
        write_index(&self.idx_path, &entries)?;
        let file = File::open(&self.idx_path).map_err(|e| io_err(&self.idx_path, e))?;
        *self.index.write() = IndexStore::Disk {
            file,
            count: entries.len(),
        };
        Ok(())
    }
}

/// Writes an index file atomically (temp file, sync, rename).
pub(crate) fn write_index(path: &Path, entries: &[IndexEntry]) -> Result<(), StorageError> {
    let tmp = path.with_extension("idx.tmp");
    let mut bytes = Vec::with_capacity(INDEX_HEADER_LEN as usize + entries.len() * INDEX_ENTRY_LEN);
    bytes.extend_from_slice(&format::index_header());
    for e in entries {
        bytes.extend_from_slice(&e.encode());
    }
    std::fs::write(&tmp, &bytes).map_err(|e| io_err(&tmp, e))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Reads an index file; `None` when it is missing or malformed.
pub(crate) fn read_index(path: &Path) -> Option<Vec<IndexEntry>> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < INDEX_HEADER_LEN as usize
        || bytes[..8] != format::INDEX_MAGIC[..]
        || !(bytes.len() - INDEX_HEADER_LEN as usize).is_multiple_of(INDEX_ENTRY_LEN)
    {
        return None;
    }
    Some(
        bytes[INDEX_HEADER_LEN as usize..]
            .chunks_exact(INDEX_ENTRY_LEN)
            .map(IndexEntry::decode)
            .collect(),
    )
}

/// fsyncs a directory so that file creations and renames in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}
