//! `ShardLog`: the segmented, group-committed log of one shard.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::format::{self, IndexEntry, RecordHeader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::recovery;
use crate::segment::{IndexStore, Segment};
use crate::{FsyncPolicy, Hlc, HybridClock, LogConfig, Record, StorageError};

/// A record just appended: its stamps and what must be synced for it to be durable.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    /// Its cursor.
    pub cursor: u64,
    /// Its cluster timestamp.
    pub hlc: Hlc,
    /// Its receive time, unix milliseconds.
    pub receive_millis: u64,
    seq: u64,
    end_pos: u64,
}

/// Metadata of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    /// Cursor.
    pub cursor: u64,
    /// Cluster timestamp.
    pub hlc: Hlc,
    /// Receive time, unix milliseconds.
    pub receive_millis: u64,
    /// Payload length.
    pub len: u32,
}

/// Size of a shard log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardStats {
    /// Retained records.
    pub records: u64,
    /// Bytes on disk in segment files.
    pub bytes: u64,
    /// Segment files.
    pub segments: usize,
}

struct Writer {
    active: Arc<Segment>,
    /// Number of the active segment since open; orders sync positions across rolls.
    seq: u64,
    len: u64,
    next: u64,
    last_millis: u64,
    bytes_since_index: u64,
    buf: Vec<u8>,
}

struct SyncState {
    synced_seq: u64,
    synced_len: u64,
    in_progress: bool,
}

/// The log of one shard. Appends are serialised by a lock; reads run concurrently with them.
pub struct ShardLog {
    dir: PathBuf,
    cfg: LogConfig,
    clock: Arc<HybridClock>,
    segments: RwLock<Vec<Arc<Segment>>>,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    failed: AtomicBool,
    begin: AtomicU64,
    end: AtomicU64,
    #[cfg(test)]
    pub(crate) inject_io_error: AtomicBool,
}

impl ShardLog {
    /// Opens (recovering, design §8) or creates the shard log in `dir`.
    pub fn open(
        dir: &Path,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
    ) -> Result<ShardLog, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let mut segments = recovery::recover(dir, cfg.index_interval_bytes)?;
        if segments.is_empty() {
            segments.push(Segment::create(dir, 0)?);
        }
        Ok(Self::assemble(dir, cfg, clock, segments))
    }

    /// Creates a new, empty log whose first cursor is `begin`; fails if `dir` holds segments.
    pub fn create_at(
        dir: &Path,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
        begin: u64,
    ) -> Result<ShardLog, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        if !recovery::list_segments(dir)?.is_empty() {
            return Err(StorageError::Corrupt {
                path: dir.to_path_buf(),
                offset: 0,
                reason: "directory already holds segments".into(),
            });
        }
        let seg = Segment::create(dir, begin)?;
        Ok(Self::assemble(dir, cfg, clock, vec![seg]))
    }

    fn assemble(
        dir: &Path,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
        segments: Vec<Segment>,
    ) -> ShardLog {
        let segments: Vec<Arc<Segment>> = segments.into_iter().map(Arc::new).collect();
        let active = segments.last().expect("at least one segment").clone();
        for s in &segments {
            let h = s.last_hlc.load(Ordering::Acquire);
            if h != 0 {
                clock.observe(Hlc(h));
            }
        }
        let (len, next) = (active.len(), active.next());
        let last_millis = segments
            .iter()
            .map(|s| s.last_millis.load(Ordering::Acquire))
            .max()
            .unwrap_or(0);
        let bytes_since_index = if active.index.read().len_is_zero() {
            u64::MAX
        } else {
            0
        };
        let begin = segments[0].base;
        ShardLog {
            dir: dir.to_path_buf(),
            cfg,
            clock,
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                active,
                seq: 0,
                len,
                next,
                last_millis,
                bytes_since_index,
                buf: Vec::new(),
            }),
            sync: Mutex::new(SyncState {
                synced_seq: 0,
                synced_len: len,
                in_progress: false,
            }),
            synced: Condvar::new(),
            failed: AtomicBool::new(false),
            begin: AtomicU64::new(begin),
            end: AtomicU64::new(next),
            #[cfg(test)]
            inject_io_error: AtomicBool::new(false),
        }
    }

    fn check_io(&self, r: std::io::Result<()>, path: &Path) -> Result<(), StorageError> {
        #[cfg(test)]
        let r = if self.inject_io_error.load(Ordering::SeqCst) {
            Err(std::io::Error::other("injected I/O error"))
        } else {
            r
        };
        r.map_err(|source| {
            self.failed.store(true, Ordering::SeqCst);
            tracing::error!(path = %path.display(), error = %source, "I/O error on the append path; shard refuses further writes");
            StorageError::Io { path: path.to_path_buf(), source }
        })
    }

    /// Stamps and writes one record into the page cache. Does not wait for durability.
    pub fn append(&self, payload: &[u8]) -> Result<Appended, StorageError> {
        if payload.len() > format::MAX_PAYLOAD {
            return Err(StorageError::PayloadTooLarge { len: payload.len() });
        }
        let mut w = self.writer.lock();
        if self.failed.load(Ordering::SeqCst) {
            return Err(StorageError::Failed);
        }
        if w.len >= self.cfg.segment_bytes {
            self.roll(&mut w)?;
        }
        let receive_millis = self.clock.wall_millis().max(w.last_millis);
        let hlc = self.clock.tick();
        let cursor = w.next;
        let pos = w.len;
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        format::encode_record(&mut buf, cursor, hlc.0, receive_millis, payload);
        let r = w.active.file.write_all_at(&buf, pos);
        let path = w.active.path.clone();
        let written = buf.len() as u64;
        w.buf = buf;
        self.check_io(r, &path)?;
        if w.bytes_since_index >= u64::from(self.cfg.index_interval_bytes) {
            if let IndexStore::Memory(v) = &mut *w.active.index.write() {
                v.push(IndexEntry {
                    rel_cursor: (cursor - w.active.base) as u32,
                    pos: pos as u32,
                    receive_secs: (receive_millis / 1000) as u32,
                });
            }
            w.bytes_since_index = 0;
        }
        w.bytes_since_index = w.bytes_since_index.saturating_add(written);
        w.len += written;
        w.next += 1;
        w.last_millis = receive_millis;
        let seg = &w.active;
        seg.first_millis.fetch_min(receive_millis, Ordering::AcqRel);
        seg.last_millis.store(receive_millis, Ordering::Release);
        seg.last_hlc.store(hlc.0, Ordering::Release);
        if self.cfg.fsync != FsyncPolicy::Always {
            seg.visible_len.store(w.len, Ordering::Release);
            seg.visible_next.store(w.next, Ordering::Release);
            self.end.store(w.next, Ordering::Release);
        }
        Ok(Appended {
            cursor,
            hlc,
            receive_millis,
            seq: w.seq,
            end_pos: w.len,
        })
    }

    /// Seals the active segment (synced, index written) and starts a new one. Caller holds the
    /// writer lock.
    fn roll(&self, w: &mut Writer) -> Result<(), StorageError> {
        let old = w.active.clone();
        self.check_io(old.file.sync_data(), &old.path)?;
        old.visible_len.store(w.len, Ordering::Release);
        old.visible_next.store(w.next, Ordering::Release);
        self.end.fetch_max(w.next, Ordering::AcqRel);
        if let Err(e) = old.write_index_file() {
            self.failed.store(true, Ordering::SeqCst);
            return Err(e);
        }
        let new = match Segment::create(&self.dir, w.next) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                self.failed.store(true, Ordering::SeqCst);
                return Err(e);
            }
        };
        self.segments.write().push(new.clone());
        w.active = new;
        w.seq += 1;
        w.len = SEGMENT_HEADER_LEN;
        w.bytes_since_index = u64::MAX;
        let mut s = self.sync.lock();
        s.synced_seq = w.seq;
        s.synced_len = SEGMENT_HEADER_LEN;
        drop(s);
        self.synced.notify_all();
        Ok(())
    }

    /// Waits until `appended` is durable (policy `Always`): one waiter at a time syncs
    /// everything written so far and all the appends it covers return together.
    pub fn wait_durable(&self, appended: &Appended) -> Result<(), StorageError> {
        if self.cfg.fsync != FsyncPolicy::Always {
            return Ok(());
        }
        self.wait_synced(appended.seq, appended.end_pos)
    }

    /// Waits until the active segment number `seq` is synced up to `end_pos` (group commit).
    fn wait_synced(&self, seq: u64, end_pos: u64) -> Result<(), StorageError> {
        let mut s = self.sync.lock();
        loop {
            if s.synced_seq > seq || (s.synced_seq == seq && s.synced_len >= end_pos) {
                return Ok(());
            }
            if self.failed.load(Ordering::SeqCst) {
                return Err(StorageError::Failed);
            }
            if s.in_progress {
                self.synced.wait(&mut s);
                continue;
            }
            s.in_progress = true;
            drop(s);
            let r = self.sync_now();
            s = self.sync.lock();
            s.in_progress = false;
            self.synced.notify_all();
            r?;
        }
    }

    /// Syncs the active segment now and publishes what it covers.
    fn sync_now(&self) -> Result<(), StorageError> {
        let (seg, seq, len, next) = {
            let w = self.writer.lock();
            (w.active.clone(), w.seq, w.len, w.next)
        };
        self.check_io(seg.file.sync_data(), &seg.path)?;
        seg.visible_len.fetch_max(len, Ordering::AcqRel);
        seg.visible_next.fetch_max(next, Ordering::AcqRel);
        self.end.fetch_max(next, Ordering::AcqRel);
        let mut s = self.sync.lock();
        if seq > s.synced_seq || (seq == s.synced_seq && len > s.synced_len) {
            s.synced_seq = seq;
            s.synced_len = len;
        }
        Ok(())
    }

    /// Syncs everything written so far (the `Interval` timer and shutdown call this).
    pub fn sync(&self) -> Result<(), StorageError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(StorageError::Failed);
        }
        self.sync_now()?;
        self.synced.notify_all();
        Ok(())
    }

    /// Oldest retained cursor.
    pub fn begin(&self) -> u64 {
        self.begin.load(Ordering::Acquire)
    }

    /// Cursor after the newest visible record.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// The segment holding `cursor` (the last whose base ≤ cursor), and the ones after it.
    fn segments_from(&self, cursor: u64) -> Vec<Arc<Segment>> {
        let segs = self.segments.read();
        let i = segs.partition_point(|s| s.base <= cursor).saturating_sub(1);
        segs[i..].to_vec()
    }

    fn check_range(&self, cursor: u64, allow_end: bool) -> Result<(), StorageError> {
        let (begin, end) = (self.begin(), self.end());
        if cursor < begin || cursor > end || (!allow_end && cursor == end) {
            return Err(StorageError::CursorOutOfRange { cursor, begin, end });
        }
        Ok(())
    }

    /// Records with cursors in `[from, min(until, end))`: at most `max_records`, stopping once
    /// `max_bytes` of payload are reached (at least one record when any is available).
    pub fn read(
        &self,
        from: u64,
        until: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        self.check_range(from, true)?;
        let until = until.min(self.end());
        let mut out = Vec::new();
        let mut budget = max_bytes;
        let mut cursor = from;
        for seg in self.segments_from(from) {
            if cursor >= until || out.len() >= max_records || (budget == 0 && !out.is_empty()) {
                break;
            }
            if cursor >= seg.next() {
                continue;
            }
            seg.read_into(cursor, until, max_records, &mut budget, &mut out)?;
            cursor = out.last().map_or(cursor, |r| r.cursor + 1);
            if cursor < seg.next().min(until) {
                break; // stopped by a limit inside this segment
            }
        }
        Ok(out)
    }

    /// Metadata of the record at `cursor` (`begin ≤ cursor < end`).
    pub fn record_meta(&self, cursor: u64) -> Result<RecordMeta, StorageError> {
        self.check_range(cursor, false)?;
        let seg = self
            .segments_from(cursor)
            .into_iter()
            .next()
            .expect("a segment covers every retained cursor");
        let (h, _) = seg.record_at(cursor)?;
        Ok(meta(&h))
    }

    /// First visible cursor received at or after `unix_secs`: `begin` when all data is later,
    /// `end` when all of it is earlier.
    pub fn cursor_for_time(&self, unix_secs: i64) -> Result<u64, StorageError> {
        let secs = unix_secs.max(0) as u64;
        let segs: Vec<Arc<Segment>> = self.segments.read().clone();
        let end = self.end();
        // Receive times never decrease along the shard, so the first segment whose newest
        // record is late enough holds the answer.
        let start = segs.partition_point(|s| s.last_millis.load(Ordering::Acquire) / 1000 < secs);
        for seg in &segs[start..] {
            if let Some(c) = seg.cursor_for_time(secs)? {
                return Ok(c.min(end).max(self.begin()));
            }
        }
        Ok(end)
    }

    /// Cluster timestamp of the last record, if any.
    pub fn last_hlc(&self) -> Option<Hlc> {
        let segs = self.segments.read();
        segs.iter()
            .rev()
            .map(|s| s.last_hlc.load(Ordering::Acquire))
            .find(|h| *h != 0)
            .map(Hlc)
    }

    /// Deletes sealed segments whose newest record was received before `cutoff_millis`.
    pub fn expire_before(&self, cutoff_millis: u64) -> Result<usize, StorageError> {
        let mut segs = self.segments.write();
        let mut n = 0;
        while segs.len() > 1 && segs[0].last_millis.load(Ordering::Acquire) < cutoff_millis {
            let seg = segs.remove(0);
            self.begin.store(segs[0].base, Ordering::Release);
            for p in [&seg.path, &seg.idx_path] {
                match std::fs::remove_file(p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(StorageError::Io {
                            path: p.clone(),
                            source: e,
                        })
                    }
                }
            }
            n += 1;
        }
        Ok(n)
    }

    /// Size figures.
    pub fn stats(&self) -> ShardStats {
        let segs = self.segments.read();
        ShardStats {
            records: self.end() - self.begin(),
            bytes: segs.iter().map(|s| s.len()).sum(),
            segments: segs.len(),
        }
    }

    /// The directory of this log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn meta(h: &RecordHeader) -> RecordMeta {
    RecordMeta {
        cursor: h.cursor,
        hlc: Hlc(h.hlc),
        receive_millis: h.receive_millis,
        len: h.len,
    }
}

impl IndexStore {
    fn len_is_zero(&self) -> bool {
        match self {
            IndexStore::Memory(v) => v.is_empty(),
            IndexStore::Disk { count, .. } => *count == 0,
        }
    }
}

/// Opens a segment file for reading and appending.
pub(crate) fn open_rw(path: &Path) -> Result<File, StorageError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StorageError::Io {
            path: path.to_path_buf(),
            source: e,
        })
}

/// Length of a record header, for tests that damage files.
pub const RECORD_HEADER: usize = RECORD_HEADER_LEN;

/// A shard's position at a consistent cut: every record before it belongs to the cut, none after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutPoint {
    /// Oldest retained cursor at the cut.
    pub begin: u64,
    /// Cursor after the last record of the cut.
    pub next: u64,
    /// Base cursor of the segment the cut falls in.
    pub active_base: u64,
    /// Bytes of that segment that belong to the cut.
    pub active_len: u64,
    seq: u64,
}

/// Appends to one shard held off; see [`ShardLog::pause_appends`].
pub struct AppendPause<'a> {
    log: &'a ShardLog,
    w: parking_lot::MutexGuard<'a, Writer>,
}

impl AppendPause<'_> {
    /// Where the shard stands: nothing can be appended while the pause lasts.
    pub fn cut(&self) -> CutPoint {
        CutPoint {
            begin: self.log.begin(),
            next: self.w.next,
            active_base: self.w.active.base,
            active_len: self.w.len,
            seq: self.w.seq,
        }
    }
}

/// One segment file kept by a checkpoint, and how much of it belongs to the cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedSegment {
    /// Its base cursor (its file name).
    pub base: u64,
    /// Bytes that belong to the cut.
    pub len: u64,
    /// Whether the whole file belongs to the cut (a sealed segment before the cut's segment).
    pub whole: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ShardLog {
    /// Holds off appends until the returned guard is dropped, so a checkpoint can take its cut
    /// of every shard at one cluster time. Readers are not affected.
    pub fn pause_appends(&self) -> AppendPause<'_> {
        AppendPause {
            log: self,
            w: self.writer.lock(),
        }
    }

    /// Makes everything before `cut` durable, whatever the fsync policy.
    pub fn make_durable(&self, cut: &CutPoint) -> Result<(), StorageError> {
        self.wait_synced(cut.seq, cut.active_len)
    }

    /// Hard-links every segment holding records of the cut into `dest`, so that retention can no
    /// longer remove them; nothing is copied. Returns what was pinned, oldest first.
    pub fn pin(&self, cut: &CutPoint, dest: &Path) -> Result<Vec<PinnedSegment>, StorageError> {
        std::fs::create_dir_all(dest).map_err(io(dest))?;
        // The read lock keeps retention from deleting a segment while it is being linked.
        let segs = self.segments.read();
        let mut out = Vec::new();
        for seg in segs
            .iter()
            .filter(|s| s.base < cut.next && s.base <= cut.active_base)
        {
            let whole = seg.base < cut.active_base;
            let len = if whole { seg.len() } else { cut.active_len };
            let target = dest.join(format::segment_file_name(seg.base));
            std::fs::hard_link(&seg.path, &target).map_err(io(&target))?;
            if whole && seg.idx_path.exists() {
                let idx_target = dest.join(format::index_file_name(seg.base));
                std::fs::hard_link(&seg.idx_path, &idx_target).map_err(io(&idx_target))?;
            }
            out.push(PinnedSegment {
                base: seg.base,
                len,
                whole,
            });
        }
        crate::segment::sync_dir(dest)?;
        Ok(out)
    }
}

/// Whether every pinned file is present in `dir` and long enough.
pub fn pinned_intact(dir: &Path, segments: &[PinnedSegment]) -> bool {
    segments.iter().all(|s| {
        std::fs::metadata(dir.join(format::segment_file_name(s.base)))
            .is_ok_and(|m| m.len() >= s.len)
    })
}

/// Builds a shard directory holding exactly the cut: whole segments are hard-linked (with their
/// indexes), the segment the cut falls in is copied up to the cut. Returns bytes copied.
pub fn restore_pinned(
    src: &Path,
    segments: &[PinnedSegment],
    dest: &Path,
) -> Result<u64, StorageError> {
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let mut copied = 0;
    for s in segments {
        let from = src.join(format::segment_file_name(s.base));
        let to = dest.join(format::segment_file_name(s.base));
        if s.whole {
            std::fs::hard_link(&from, &to).map_err(io(&to))?;
            let idx = src.join(format::index_file_name(s.base));
            if idx.exists() {
                let idx_to = dest.join(format::index_file_name(s.base));
                std::fs::hard_link(&idx, &idx_to).map_err(io(&idx_to))?;
            }
        } else {
            let mut input = std::fs::File::open(&from).map_err(io(&from))?;
            let mut output = std::fs::File::create(&to).map_err(io(&to))?;
            use std::io::Read;
            copied += std::io::copy(&mut (&mut input).take(s.len), &mut output).map_err(io(&to))?;
            output.sync_all().map_err(io(&to))?;
        }
    }
    crate::segment::sync_dir(dest)?;
    Ok(copied)
}
