//! [`ShardLog`]: the segmented, group-committed log of one shard.
//!
//! Locks, and what each protects:
//!
//! - `writer` — the append position, the active segment's file and index builder. Held for
//!   the duration of one append (stamp + one positional write), a roll, or an append pause.
//! - `commit` — the group-commit state and the publication of the visible end. Never held
//!   across I/O. Lock order: `writer` before `commit`.
//! - `segments` — the list of segments. Held briefly to route a cursor or time to a segment;
//!   written only by rolls and retention.
//!
//! Readers take none of these for long: they load the visible end (an atomic), route through
//! `segments`, and read the file with positional reads. The writer publishes the active
//! segment's visible length before the end cursor (release/acquire), so a reader that sees an
//! end also sees the bytes up to it.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::handles::{HandleCache, SealedFiles};
use crate::index::{Entries, IndexBuilder, IndexEntry, IndexFile};
use crate::io::{Fs, RealFs};
use crate::io_at;
use crate::record::{
    crc_matches, encode_record_as, index_file_name, segment_file_name, unknown_flags, Encoding,
    RecordHeader, MAX_PAYLOAD, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::recovery;
use crate::segment::{
    create_segment, mean_record_len, ActiveSegment, SegmentFile, SegmentMeta, Start,
};
use crate::{
    no_descriptors, no_space, FsyncPolicy, Hlc, HybridClock, LogConfig, Record, StorageError,
};

/// Called each time a segment is sealed and the next one created, with the new segment's base
/// cursor, which is also the shard's end then (the sealed records are durable, and so is the new
/// segment's file). Runs under the shard's writer lock: it must not block.
pub type SealListener = Box<dyn Fn(u64) + Send + Sync>;

/// Largest segment size honoured: a segment may exceed its limit by one record, and positions
/// in the index are 32-bit.
pub const MAX_SEGMENT_BYTES: u64 = 2 << 30;

/// Sealed segments whose files stay open per shard.
pub(crate) const OPEN_SEALED_SEGMENTS: usize = 2;

/// Segments whose records average this many bytes or more get no reserved space (design §7):
/// a sync of such records costs mostly their own bytes, and writing them twice (as zeros, then
/// as records) costs more than the commit it saves.
const RESERVE_BELOW_MEAN: u64 = 128 << 10;

/// Bounds of one read syscall on the read path.
const MIN_READ: u64 = 4 << 10;
const MAX_READ: u64 = 4 << 20;

/// A record just appended, with what must be synced for it to be durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its cursor.
    pub cursor: u64,
    /// Its cluster timestamp.
    pub hlc: Hlc,
    /// Its receive time, unix milliseconds.
    pub receive_millis: u64,
    /// Commit position after this record (record bytes appended since open).
    pub(crate) sync_pos: u64,
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

impl RecordMeta {
    fn from_header(h: &RecordHeader) -> Self {
        RecordMeta {
            cursor: h.cursor,
            hlc: Hlc(h.hlc),
            receive_millis: h.receive_millis,
            len: h.len,
        }
    }
}

/// Size of a shard log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardStats {
    /// Retained visible records (`end - begin`).
    pub records: u64,
    /// Bytes in segment files (visible part of the active one).
    pub bytes: u64,
    /// Segment files, the active one included.
    pub segments: usize,
}

/// The segment list: sealed summaries, oldest first, and the active segment.
pub(crate) struct Segments {
    pub(crate) sealed: VecDeque<SegmentMeta>,
    pub(crate) active: Arc<ActiveSegment>,
}

/// Append state, under the writer lock.
pub(crate) struct Writer {
    pub(crate) active: Arc<ActiveSegment>,
    /// Bytes written to the active segment.
    pub(crate) len: u64,
    /// Cursor of the next record.
    pub(crate) next: u64,
    /// Receive time of the active segment's first record.
    first_millis: Option<u64>,
    /// Receive time of the shard's newest record: receive times never decrease.
    last_millis: u64,
    /// Cluster timestamp of the newest record, 0 if none.
    last_hlc: u64,
    /// Commit position: bytes written to segment files since open (records and reserved zeros).
    pub(crate) written: u64,
    /// End of the zeros written ahead of the appends in the active file (design §7); at or
    /// below `len` when there are none.
    reserved: u64,
    /// Whether more reserved space has been asked for and not written yet.
    reserving: bool,
    index: IndexBuilder,
    /// Encoding buffer, reused across appends.
    buf: Vec<u8>,
}

/// What has been written, as one consistent snapshot.
struct Tail {
    active: Arc<ActiveSegment>,
    len: u64,
    next: u64,
    hlc: u64,
    written: u64,
}

impl Writer {
    fn tail(&self) -> Tail {
        Tail {
            active: self.active.clone(),
            len: self.len,
            next: self.next,
            hlc: self.last_hlc,
            written: self.written,
        }
    }
}

/// Group-commit state, under the commit lock.
struct Commit {
    /// Commit position covered by a completed sync.
    durable: u64,
    /// Whether a sync leader is at work.
    syncing: bool,
}

/// Where a cursor lives.
enum Located {
    Sealed(SegmentMeta),
    Active(Arc<ActiveSegment>),
}

/// The log of one shard: appends are serialised by one lock, reads run concurrently with them
/// and with each other. `Send + Sync`; share it behind an `Arc`.
pub struct ShardLog {
    pub(crate) dir: PathBuf,
    pub(crate) cfg: LogConfig,
    pub(crate) fs: Arc<dyn Fs>,
    clock: Arc<HybridClock>,
    pub(crate) segments: RwLock<Segments>,
    handles: HandleCache,
    pub(crate) writer: Mutex<Writer>,
    commit: Mutex<Commit>,
    committed: Condvar,
    failed: AtomicBool,
    /// Set by an append that asked for reserved space, taken by [`ShardLog::take_reserve_request`].
    reserve_requested: AtomicBool,
    /// Told the new end cursor each time a segment is sealed.
    on_seal: OnceLock<SealListener>,
    begin: AtomicU64,
    /// The visible end.
    end: AtomicU64,
    /// Cluster timestamp of the record before `end`, 0 if none.
    end_hlc: AtomicU64,
}

impl ShardLog {
    /// Opens the shard log in `dir`, recovering it per design §8, or creates it (the directory
    /// and a first segment with base cursor 0) if `dir` holds no segment.
    pub fn open(
        dir: &Path,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
    ) -> Result<ShardLog, StorageError> {
        Self::open_with_fs(Arc::new(RealFs), dir, cfg, clock)
    }

    /// [`ShardLog::open`] over another file system (tests inject faults this way).
    pub fn open_with_fs(
        fs: Arc<dyn Fs>,
        dir: &Path,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
    ) -> Result<ShardLog, StorageError> {
        ensure_dir(&*fs, dir)?;
        let recovered = match recovery::recover(&*fs, dir, cfg.index_interval_bytes)? {
            Some(r) => r,
            None => fresh(&*fs, dir, 0)?,
        };
        Ok(Self::assemble(fs, dir, cfg, clock, recovered))
    }

    /// Opens the shard log in `dir`, recovering it per design §8. Unlike [`ShardLog::open`] it
    /// never creates anything: a missing directory or one without any segment is
    /// [`StorageError::Corrupt`] (a shard is created with its first segment, so such a shard
    /// has lost its files).
    pub fn open_existing_with_fs(
        fs: Arc<dyn Fs>,
        dir: &Path,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
    ) -> Result<ShardLog, StorageError> {
        if !fs.exists(dir) {
            return Err(StorageError::Corrupt {
                path: dir.to_path_buf(),
                offset: 0,
                reason: "the shard's directory is missing".into(),
            });
        }
        match recovery::recover(&*fs, dir, cfg.index_interval_bytes)? {
            Some(r) => Ok(Self::assemble(fs, dir, cfg, clock, r)),
            None => Err(StorageError::Corrupt {
                path: dir.to_path_buf(),
                offset: 0,
                reason: "the shard's directory holds no segment".into(),
            }),
        }
    }

    /// Creates a new, empty log whose first cursor is `begin` (restoring a backup); fails if
    /// `dir` already holds segments.
    pub fn create_at(
        dir: &Path,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
        begin: u64,
    ) -> Result<ShardLog, StorageError> {
        Self::create_at_with_fs(Arc::new(RealFs), dir, cfg, clock, begin)
    }

    /// [`ShardLog::create_at`] over another file system.
    pub fn create_at_with_fs(
        fs: Arc<dyn Fs>,
        dir: &Path,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
        begin: u64,
    ) -> Result<ShardLog, StorageError> {
        ensure_dir(&*fs, dir)?;
        if !recovery::list_segments(&*fs, dir)?.is_empty() {
            return Err(StorageError::Corrupt {
                path: dir.to_path_buf(),
                offset: 0,
                reason: "cannot create a log here: the directory already holds segments".into(),
            });
        }
        let recovered = fresh(&*fs, dir, begin)?;
        Ok(Self::assemble(fs, dir, cfg, clock, recovered))
    }

    fn assemble(
        fs: Arc<dyn Fs>,
        dir: &Path,
        mut cfg: LogConfig,
        clock: Arc<HybridClock>,
        r: recovery::Recovered,
    ) -> ShardLog {
        cfg.segment_bytes = cfg.segment_bytes.min(MAX_SEGMENT_BYTES);
        if let Some(h) = r.last_hlc {
            // Stamps never go backwards across restarts, even if the wall clock did.
            clock.observe(h);
        }
        let a = r.active;
        let builder = IndexBuilder::resume(cfg.index_interval_bytes, a.last_entry.as_ref());
        let active = Arc::new(ActiveSegment::new(a.base, a.file, a.len, a.index));
        let begin = r.sealed.first().map_or(a.base, |m| m.base);
        let last_hlc = r.last_hlc.map_or(0, |h| h.0);
        ShardLog {
            dir: dir.to_path_buf(),
            cfg,
            fs,
            clock,
            segments: RwLock::new(Segments {
                sealed: r.sealed.into(),
                active: active.clone(),
            }),
            handles: HandleCache::new(OPEN_SEALED_SEGMENTS),
            writer: Mutex::new(Writer {
                active,
                len: a.len,
                next: a.next,
                first_millis: a.first_millis,
                last_millis: r.last_millis,
                last_hlc,
                written: 0,
                reserved: a.reserved,
                reserving: false,
                index: builder,
                buf: Vec::new(),
            }),
            commit: Mutex::new(Commit {
                durable: 0,
                syncing: false,
            }),
            committed: Condvar::new(),
            failed: AtomicBool::new(false),
            reserve_requested: AtomicBool::new(false),
            on_seal: OnceLock::new(),
            begin: AtomicU64::new(begin),
            end: AtomicU64::new(a.next),
            end_hlc: AtomicU64::new(last_hlc),
        }
    }

    /// The directory of this log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an I/O error on the append path made this log refuse writes.
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Latches the failed state for an I/O error on the append path. A failed fsync is never
    /// retried: the kernel may already have dropped the pages it could not write.
    fn fail(&self, err: StorageError) -> StorageError {
        if !self.failed.swap(true, Ordering::AcqRel) {
            tracing::error!(shard = %self.dir.display(), error = %err,
                "I/O error on the append path; the shard refuses further writes");
        }
        err
    }

    /// Sets the function told the new segment's base cursor each time a segment is sealed and
    /// the next one created (once; later calls are ignored).
    pub fn set_seal_listener(&self, listener: SealListener) {
        let _ = self.on_seal.set(listener);
    }

    /// After a failed write at `pos` of the active segment (a record, its index entry or
    /// reserved space): when the disk is full, cuts the file back to `pos` — the end of the last
    /// record written before — so no byte of the failed write remains, gives up the reserved
    /// space with it, and leaves the shard usable (design §7). Any other error, or a failed cut,
    /// latches the shard failed.
    ///
    /// `landed` says whether bytes may have reached the file: not when the write could not even
    /// get a descriptor (`EMFILE`, `ENFILE`: the kernel's `write` never returns those), which is
    /// then nothing to undo.
    fn undo_write(
        &self,
        w: &mut Writer,
        pos: u64,
        source: std::io::Error,
        path: PathBuf,
        landed: bool,
    ) -> StorageError {
        let out_of_fds = no_descriptors(&source);
        let recoverable = no_space(&source) || out_of_fds;
        let err = StorageError::Io { path, source };
        if out_of_fds && !landed {
            tracing::warn!(shard = %self.dir.display(), error = %err,
                "append failed: out of file descriptors; nothing was written");
            return err;
        }
        if !recoverable {
            return self.fail(err);
        }
        if let Err(e) = w.active.file.set_len(pos) {
            tracing::error!(shard = %self.dir.display(), error = %e,
                "cannot cut back a failed write");
            return self.fail(err);
        }
        w.reserved = pos;
        tracing::warn!(shard = %self.dir.display(), error = %err,
            "append failed and was cut off; the shard accepts writes again once the cause is gone");
        err
    }

    /// After a failed sync: a sync that could not even get a descriptor (`EMFILE`, `ENFILE`,
    /// which `fsync` itself never returns) did not happen, and the shard stays usable: what it
    /// was to cover is synced by the next one. Any other failed sync latches the shard (its
    /// outcome is unknown, design §7).
    fn failed_sync(&self, err: StorageError) -> StorageError {
        if err.is_out_of_descriptors() {
            tracing::warn!(shard = %self.dir.display(), error = %err,
                "sync not started: out of file descriptors");
            return err;
        }
        self.fail(err)
    }

    /// Stamps one record (receive time, clamped never to decrease in this shard, and a cluster
    /// timestamp) and writes it into the page cache under the shard's append lock. Does not
    /// wait for durability: see [`ShardLog::wait_durable`].
    pub fn append(&self, payload: &[u8]) -> Result<Appended, StorageError> {
        self.append_as(Encoding::Plain, &[payload])
    }

    /// [`ShardLog::append`] of a payload in the given encoding (design §5), made of `parts`.
    pub fn append_as(&self, encoding: Encoding, parts: &[&[u8]]) -> Result<Appended, StorageError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_PAYLOAD {
            return Err(StorageError::PayloadTooLarge { len });
        }
        let mut w = self.writer.lock();
        if self.is_failed() {
            return Err(StorageError::Failed);
        }
        if self.is_full(&w) {
            // Left full by a crash between the last append and its roll.
            self.roll(&mut w)?;
        }
        let receive_millis = self.clock.wall_millis().max(w.last_millis);
        let hlc = self.clock.tick();
        let cursor = w.next;
        let pos = w.len;
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        encode_record_as(&mut buf, cursor, hlc.0, receive_millis, encoding, parts);
        let written = w.active.file.write_all_at(&buf, pos);
        let n = buf.len() as u64;
        w.buf = buf;
        if let Err(e) = written {
            let path = self.segment_path(w.active.base);
            return Err(self.undo_write(&mut w, pos, e, path, true));
        }
        let base = w.active.base;
        let index_before = w.index;
        if let Some(entry) = w.index.observe(cursor - base, pos, receive_millis) {
            if let Err(e) = w.active.index.push(entry) {
                w.index = index_before;
                let path = self.dir.join(index_file_name(base));
                // The record itself was written: it is cut off whatever the error.
                return Err(self.undo_write(&mut w, pos, e, path, true));
            }
        }
        w.len += n;
        w.next += 1;
        w.written += n;
        w.last_millis = receive_millis;
        w.last_hlc = hlc.0;
        w.first_millis.get_or_insert(receive_millis);
        let appended = Appended {
            cursor,
            hlc,
            receive_millis,
            sync_pos: w.written,
        };
        if self.cfg.fsync != FsyncPolicy::Always {
            // Visible once written.
            let mut c = self.commit.lock();
            self.publish(&mut c, &w.active, w.len, w.next, w.last_hlc);
        }
        if self.is_full(&w) {
            // The record that crosses the limit still goes into the segment (design §5); the
            // segment is sealed right away so retention and backups see it whole. A failure
            // here is latched; it does not change what happened to this record, whose
            // durability `wait_durable` reports.
            let _ = self.roll(&mut w);
        }
        if self.wants_reserve(&w) {
            w.reserving = true;
            self.reserve_requested.store(true, Ordering::Release);
        }
        Ok(appended)
    }

    fn is_full(&self, w: &Writer) -> bool {
        w.len >= self.cfg.segment_bytes && w.next > w.active.base
    }

    /// Whether fewer than half of `preallocate_bytes` of reserved space are left ahead of the
    /// appends of a segment that is not full yet, that segment already holds that many bytes of
    /// records (a shard written now and then never holds reserved space), and its records are
    /// smaller than [`RESERVE_BELOW_MEAN`] on average.
    fn wants_reserve(&self, w: &Writer) -> bool {
        let ahead = self.cfg.preallocate_bytes;
        let records = w.next - w.active.base;
        self.cfg.fsync == FsyncPolicy::Always
            && ahead > 0
            && !w.reserving
            && w.len >= SEGMENT_HEADER_LEN + ahead
            && w.reserved < self.cfg.segment_bytes
            && w.reserved < w.len + ahead / 2
            && records > 0
            && (w.len - SEGMENT_HEADER_LEN) / records < RESERVE_BELOW_MEAN
    }

    /// Whether an append asked for more reserved space since the last call; the caller then
    /// has [`ShardLog::reserve`] run away from the append path (design §7).
    pub fn take_reserve_request(&self) -> bool {
        self.reserve_requested.swap(false, Ordering::AcqRel)
    }

    /// Writes zeros ahead of the appends until `preallocate_bytes` lie past the last record (no
    /// further than the segment's size limit), then makes them durable through the group
    /// commit, so that the syncs acknowledging the next appends write into space that is
    /// already allocated and synced instead of growing the file (design §7). Appends wait while
    /// the zeros are written, never while they are synced. A failure latches the shard failed,
    /// as on any append.
    pub fn reserve(&self) -> Result<(), StorageError> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let target = {
            let mut w = self.writer.lock();
            w.reserving = false;
            if self.is_failed() {
                return Err(StorageError::Failed);
            }
            let from = w.reserved.max(w.len);
            let to = (w.len + self.cfg.preallocate_bytes).min(self.cfg.segment_bytes);
            if to <= from {
                return Ok(());
            }
            let mut pos = from;
            while pos < to {
                let n = (to - pos).min(ZEROS.len() as u64);
                if let Err(e) = w.active.file.write_all_at(&ZEROS[..n as usize], pos) {
                    let (len, path) = (w.len, self.segment_path(w.active.base));
                    return Err(self.undo_write(&mut w, len, e, path, pos > from));
                }
                pos += n;
            }
            w.reserved = to;
            w.written += to - from;
            w.written
        };
        self.wait_for(target)
    }

    fn segment_path(&self, base: u64) -> PathBuf {
        self.dir.join(segment_file_name(base))
    }

    /// Seals the active segment and starts the next one. Caller holds the writer lock.
    ///
    /// Order matters for recovery: the segment's data is synced first (so everything in it is
    /// durable before a newer segment exists), then its complete index is written and synced,
    /// then the new segment's file is created with its header and synced with its directory,
    /// all before any record goes into it.
    fn roll(&self, w: &mut Writer) -> Result<(), StorageError> {
        let old = w.active.clone();
        let old_path = self.segment_path(old.base);
        if w.reserved > w.len {
            // A sealed segment ends with its last record (design §5); the sync below makes the
            // new length durable with the data.
            old.file
                .set_len(w.len)
                .map_err(|e| self.failed_sync(io_at(&old_path)(e)))?;
            w.reserved = w.len;
        }
        old.file
            .sync_data()
            .map_err(|e| self.failed_sync(io_at(&old_path)(e)))?;
        {
            let mut c = self.commit.lock();
            c.durable = c.durable.max(w.written);
            self.publish(&mut c, &old, w.len, w.next, w.last_hlc);
        }
        self.committed.notify_all();
        old.index
            .sync()
            .map_err(|e| self.failed_sync(io_at(&self.dir.join(index_file_name(old.base)))(e)))?;
        let (file, index) = match create_segment(&*self.fs, &self.dir, w.next) {
            Ok(created) => created,
            Err(e) => return Err(self.abandon_segment(w.next, e)),
        };
        let new = Arc::new(ActiveSegment::new(w.next, file, SEGMENT_HEADER_LEN, index));
        let meta = SegmentMeta {
            base: old.base,
            next: w.next,
            len: w.len,
            first_millis: w.first_millis.unwrap_or(w.last_millis),
            last_millis: w.last_millis,
        };
        {
            let mut segs = self.segments.write();
            segs.sealed.push_back(meta);
            segs.active = new.clone();
        }
        // Readers near the tail will want the segment just sealed: keep its handles.
        self.handles.insert(
            old.base,
            Arc::new(SealedFiles {
                log: old.file.clone(),
                index: Some((old.index.file().clone(), old.index.count())),
            }),
        );
        w.active = new;
        w.len = SEGMENT_HEADER_LEN;
        w.reserved = SEGMENT_HEADER_LEN;
        w.first_millis = None;
        w.index = IndexBuilder::new(self.cfg.index_interval_bytes);
        if let Some(listener) = self.on_seal.get() {
            listener(w.next);
        }
        Ok(())
    }

    /// After a new segment `base` could not be created: when the cause is a full disk or a lack
    /// of descriptors, removes whatever of its files exists (directory synced) and leaves the
    /// shard usable, its full segment still active, so the next append tries the roll again
    /// (design §7). Anything else, or a failed clean-up, latches the shard failed.
    fn abandon_segment(&self, base: u64, err: StorageError) -> StorageError {
        let recoverable = matches!(&err, StorageError::Io { source, .. } if no_space(source) || no_descriptors(source));
        if !recoverable {
            return self.fail(err);
        }
        let files = [
            self.segment_path(base),
            self.dir.join(index_file_name(base)),
        ];
        let existed = files.iter().any(|p| self.fs.exists(p));
        if let Err(e) = files
            .iter()
            .try_for_each(|p| remove_if_present(&*self.fs, p))
        {
            tracing::error!(shard = %self.dir.display(), error = %e,
                "cannot remove a segment whose creation failed");
            return self.fail(err);
        }
        // Best effort: should the removal not survive a crash, recovery finds a newest segment
        // with at most a header and no record, which it keeps or rewrites (design §8).
        if existed {
            if let Err(e) = self.fs.sync_dir(&self.dir) {
                tracing::warn!(shard = %self.dir.display(), error = %e,
                    "cannot sync the removal of a segment whose creation failed");
            }
        }
        tracing::warn!(shard = %self.dir.display(), error = %err,
            "cannot start a new segment; the shard accepts writes again once the cause is gone");
        err
    }

    /// Makes the records of `segment` up to byte `len` (cursor `next`, last stamp `hlc`)
    /// visible to readers. The caller holds the commit lock, which orders publications (a
    /// sync leader and a roll may both publish). The length is stored before the end, so a
    /// reader that sees the end also sees the bytes.
    fn publish(
        &self,
        _commit: &mut Commit,
        segment: &ActiveSegment,
        len: u64,
        next: u64,
        hlc: u64,
    ) {
        segment.visible_len.fetch_max(len, Ordering::AcqRel);
        if next > self.end.load(Ordering::Acquire) {
            self.end_hlc.store(hlc, Ordering::Release);
            self.end.store(next, Ordering::Release);
        }
    }

    /// Blocks until `appended` is durable per the fsync policy. With
    /// [`FsyncPolicy::Always`] this is group commit: one waiter becomes the sync leader and
    /// issues one `fdatasync` covering everything written so far; every append it covers
    /// returns together, and the visible end advances over them. Other policies return at once.
    pub fn wait_durable(&self, appended: &Appended) -> Result<(), StorageError> {
        if self.cfg.fsync != FsyncPolicy::Always {
            return Ok(());
        }
        self.wait_for(appended.sync_pos)
    }

    /// Waits until the commit position `target` is durable, leading a sync if none is running.
    pub(crate) fn wait_for(&self, target: u64) -> Result<(), StorageError> {
        let mut c = self.commit.lock();
        loop {
            if c.durable >= target {
                return Ok(());
            }
            if self.is_failed() {
                return Err(StorageError::Failed);
            }
            if c.syncing {
                self.committed.wait(&mut c);
                continue;
            }
            c.syncing = true;
            drop(c);
            let synced = self.sync_tail();
            c = self.commit.lock();
            c.syncing = false;
            if let Ok(tail) = &synced {
                c.durable = c.durable.max(tail.written);
                self.publish(&mut c, &tail.active, tail.len, tail.next, tail.hlc);
            }
            self.committed.notify_all();
            synced?;
        }
    }

    /// Syncs the active segment and returns what the sync covers.
    fn sync_tail(&self) -> Result<Tail, StorageError> {
        let tail = self.writer.lock().tail();
        tail.active
            .file
            .sync_data()
            .map_err(|e| self.failed_sync(io_at(&self.segment_path(tail.active.base))(e)))?;
        Ok(tail)
    }

    /// Makes everything written so far durable now (the `Interval` timer and shutdown call
    /// this). Costs nothing when nothing was written since the last sync.
    pub fn sync(&self) -> Result<(), StorageError> {
        if self.is_failed() {
            return Err(StorageError::Failed);
        }
        let target = self.writer.lock().written;
        self.wait_for(target)
    }

    /// Base cursor of the active (newest) segment.
    pub fn newest_segment(&self) -> u64 {
        self.segments.read().active.base
    }

    /// Oldest retained cursor.
    pub fn begin(&self) -> u64 {
        self.begin.load(Ordering::Acquire)
    }

    /// The visible end: one past the newest record readers may see (design §7).
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    fn out_of_range(&self, cursor: u64, end: u64) -> StorageError {
        StorageError::CursorOutOfRange {
            cursor,
            begin: self.begin(),
            end,
        }
    }

    /// The segment holding `cursor`, or `None` if retention removed it.
    fn locate(&self, cursor: u64) -> Option<Located> {
        let segs = self.segments.read();
        if cursor >= segs.active.base {
            return Some(Located::Active(segs.active.clone()));
        }
        let i = segs.sealed.partition_point(|m| m.next <= cursor);
        segs.sealed
            .get(i)
            .filter(|m| m.holds(cursor))
            .map(|m| Located::Sealed(*m))
    }

    /// Open files of a sealed segment; `None` if retention deleted it meanwhile.
    fn sealed_files(&self, meta: &SegmentMeta) -> Result<Option<Arc<SealedFiles>>, StorageError> {
        let path = self.segment_path(meta.base);
        let opened = self.handles.get_or_open(meta.base, || {
            let log = self.fs.open(&path, false)?;
            let index =
                IndexFile::open_checked(&*self.fs, &self.dir.join(index_file_name(meta.base)));
            Ok::<_, std::io::Error>(SealedFiles { log, index })
        });
        match opened {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && meta.base < self.begin() => {
                Ok(None)
            }
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    /// Runs `f` on the readable part of the segment `loc`, with a start found by `seek` in its
    /// index. `None` if retention removed the segment.
    fn with_segment<T>(
        &self,
        loc: &Located,
        end: u64,
        seek: Seek,
        f: impl FnOnce(&SegmentFile<'_>, Start, u64) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        match loc {
            Located::Sealed(meta) => {
                let Some(files) = self.sealed_files(meta)? else {
                    return Ok(None);
                };
                // An unusable index only costs a longer scan: the log is the truth.
                let entry = match &files.index {
                    Some((idx, count)) => {
                        seek_in(&IndexFile::with_count(&**idx, *count), meta.base, seek)
                            .unwrap_or(None)
                    }
                    None => None,
                };
                let seg = SegmentFile {
                    dir: &self.dir,
                    base: meta.base,
                    file: &*files.log,
                    len: meta.len,
                    next: meta.next,
                };
                match f(
                    &seg,
                    Start::from_entry(meta.base, entry),
                    meta.mean_record_len(),
                ) {
                    // Retention removed it meanwhile and its descriptor had been given back
                    // to the pool (design §7): as if the cursor was out of range.
                    Err(StorageError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound
                            && meta.base < self.begin() =>
                    {
                        Ok(None)
                    }
                    other => other.map(Some),
                }
            }
            Located::Active(active) => {
                let len = active.visible_len();
                let entry = match seek {
                    Seek::Cursor(c) => active.index.seek_cursor(c.saturating_sub(active.base)),
                    Seek::Time(secs) => active.index.seek_time(secs),
                }
                .unwrap_or(None);
                let seg = SegmentFile {
                    dir: &self.dir,
                    base: active.base,
                    file: &*active.file,
                    len,
                    next: end,
                };
                let mean = mean_record_len(len, end.saturating_sub(active.base));
                f(&seg, Start::from_entry(active.base, entry), mean).map(Some)
            }
        }
    }

    /// Records with cursors in `[from, min(until, end))`: at most `max_records`, and stopping
    /// once `max_bytes` of decoded LogGroups are reached (the record that reaches it is included, so at
    /// least one record is returned when any is available). `from` must be in `[begin, end]`.
    ///
    /// Each contiguous range is read with one positional read and the payloads are slices of
    /// that buffer.
    pub fn read(
        &self,
        from: u64,
        until: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        let end = self.end();
        if from < self.begin() || from > end {
            return Err(self.out_of_range(from, end));
        }
        let until = until.min(end);
        // Sized up front (within reason) so that filling it does not reallocate per record.
        let expected = (until.saturating_sub(from))
            .min(max_records as u64)
            .min(4096);
        let mut out = Vec::with_capacity(expected as usize);
        let mut budget = max_bytes;
        let mut cursor = from;
        while cursor < until && out.len() < max_records && (budget > 0 || out.is_empty()) {
            let Some(loc) = self.locate(cursor) else {
                return Err(self.out_of_range(cursor, end));
            };
            let seg_next = match &loc {
                Located::Sealed(m) => m.next,
                Located::Active(_) => end,
            };
            let stop = until.min(seg_next);
            let before = out.len();
            let done = self.with_segment(&loc, end, Seek::Cursor(cursor), |seg, start, mean| {
                let wanted = ((max_records - out.len()) as u64).min(stop - cursor);
                let chunk = read_size(
                    mean,
                    start.cursor < cursor,
                    self.cfg.index_interval_bytes,
                    wanted,
                    budget,
                );
                seg.walk(start, stop, chunk, |h, pos, bytes| {
                    if h.cursor < cursor {
                        return Ok(true);
                    }
                    if !crc_matches(&bytes[..RECORD_HEADER_LEN], &bytes[RECORD_HEADER_LEN..]) {
                        return Err(seg.corrupt(pos, "record CRC mismatch"));
                    }
                    let Some(encoding) = h.encoding() else {
                        return Err(seg.corrupt(pos, unknown_flags(h)));
                    };
                    out.push(Record {
                        cursor: h.cursor,
                        hlc: Hlc(h.hlc),
                        receive_millis: h.receive_millis,
                        encoding,
                        payload: bytes.slice(RECORD_HEADER_LEN..),
                    });
                    budget = budget.saturating_sub(encoding.raw_len(h.len as usize));
                    Ok(out.len() < max_records && budget > 0)
                })
            })?;
            if done.is_none() {
                return Err(self.out_of_range(cursor, end));
            }
            if out.len() == before {
                break;
            }
            cursor = out.last().map_or(cursor, |r| r.cursor + 1);
        }
        Ok(out)
    }

    /// Metadata of the record at `cursor`, which must be in `[begin, end)`.
    pub fn record_meta(&self, cursor: u64) -> Result<RecordMeta, StorageError> {
        let end = self.end();
        if cursor < self.begin() || cursor >= end {
            return Err(self.out_of_range(cursor, end));
        }
        let Some(loc) = self.locate(cursor) else {
            return Err(self.out_of_range(cursor, end));
        };
        let interval = self.cfg.index_interval_bytes;
        let found = self.with_segment(&loc, end, Seek::Cursor(cursor), |seg, start, mean| {
            let chunk = read_size(mean, start.cursor < cursor, interval, 1, usize::MAX);
            let mut meta = None;
            seg.walk(start, cursor + 1, chunk, |h, pos, bytes| {
                if h.cursor < cursor {
                    return Ok(true);
                }
                if !crc_matches(&bytes[..RECORD_HEADER_LEN], &bytes[RECORD_HEADER_LEN..]) {
                    return Err(seg.corrupt(pos, "record CRC mismatch"));
                }
                meta = Some(RecordMeta::from_header(h));
                Ok(false)
            })?;
            meta.ok_or_else(|| seg.corrupt(start.pos, format!("cursor {cursor} not found")))
        })?;
        found.ok_or_else(|| self.out_of_range(cursor, end))
    }

    /// The first visible cursor whose receive time (in seconds) is at or after `unix_secs`:
    /// `begin` if all retained data is later, `end` if all of it is earlier. Receive times never
    /// decrease along a shard, so this is one binary search over the segment summaries, one
    /// over the segment's index, and a scan of at most one index interval.
    pub fn cursor_for_time(&self, unix_secs: i64) -> Result<u64, StorageError> {
        let secs = unix_secs.max(0) as u64;
        loop {
            let end = self.end();
            let loc = {
                let segs = self.segments.read();
                let i = segs.sealed.partition_point(|m| m.last_millis / 1000 < secs);
                match segs.sealed.get(i) {
                    Some(m) => Located::Sealed(*m),
                    None => Located::Active(segs.active.clone()),
                }
            };
            let (base, limit) = match &loc {
                Located::Sealed(m) => (m.base, m.next),
                Located::Active(a) => (a.base, end),
            };
            if limit <= base {
                return Ok(end.max(self.begin()));
            }
            let interval = self.cfg.index_interval_bytes;
            let found = self.with_segment(&loc, end, Seek::Time(secs), |seg, start, mean| {
                let chunk = read_size(mean, true, interval, 1, usize::MAX);
                let mut hit = None;
                seg.walk(start, limit, chunk, |h, _, _| {
                    if h.receive_millis / 1000 >= secs {
                        hit = Some(h.cursor);
                        return Ok(false);
                    }
                    Ok(true)
                })?;
                Ok(hit.unwrap_or(limit))
            })?;
            match found {
                Some(c) => return Ok(c.max(self.begin()).min(end)),
                // Retention removed the segment meanwhile: route again.
                None => continue,
            }
        }
    }

    /// Cluster timestamp of the last visible record, if any.
    pub fn last_hlc(&self) -> Option<Hlc> {
        let _c = self.commit.lock();
        match self.end_hlc.load(Ordering::Acquire) {
            0 => None,
            h => Some(Hlc(h)),
        }
    }

    /// Retention: deletes, oldest first, the sealed segments whose newest record was received
    /// before `cutoff_millis`, and moves `begin` to the first remaining one. The active segment
    /// is never deleted. Returns how many segments were deleted.
    pub fn expire_before(&self, cutoff_millis: u64) -> Result<usize, StorageError> {
        match self.expirable_before(cutoff_millis) {
            Some(begin) => self.expire_to(begin),
            None => Ok(0),
        }
    }

    /// The begin cursor [`ShardLog::expire_before`] would leave, if it would delete anything:
    /// the base of the first sealed segment (or of the active one) received at or after
    /// `cutoff_millis`. The caller can record it durably before calling
    /// [`ShardLog::expire_to`] (design §9).
    pub fn expirable_before(&self, cutoff_millis: u64) -> Option<u64> {
        let segs = self.segments.read();
        let n = segs
            .sealed
            .iter()
            .take_while(|m| m.expired(cutoff_millis))
            .count();
        if n == 0 {
            return None;
        }
        Some(segs.sealed.get(n).map_or(segs.active.base, |m| m.base))
    }

    /// Retention up to a begin cursor: deletes, oldest first, the sealed segments that end at or
    /// before `begin` and moves the begin cursor to the first remaining one. Returns how many
    /// segments were deleted.
    pub fn expire_to(&self, begin: u64) -> Result<usize, StorageError> {
        let expired: Vec<u64> = {
            let mut segs = self.segments.write();
            let mut v = Vec::new();
            while let Some(m) = segs.sealed.front() {
                if m.next > begin {
                    break;
                }
                v.push(m.base);
                segs.sealed.pop_front();
            }
            if !v.is_empty() {
                let begin = segs.sealed.front().map_or(segs.active.base, |m| m.base);
                self.begin.store(begin, Ordering::Release);
            }
            v
        };
        for base in &expired {
            self.handles.remove(*base);
            // Oldest first, each deletion made durable before the next, so a crash can only
            // leave a shorter prefix deleted, never a gap.
            let log = self.segment_path(*base);
            remove_if_present(&*self.fs, &log)?;
            self.fs.sync_dir(&self.dir).map_err(io_at(&self.dir))?;
            remove_if_present(&*self.fs, &self.dir.join(index_file_name(*base)))?;
        }
        Ok(expired.len())
    }

    /// Size figures.
    pub fn stats(&self) -> ShardStats {
        let segs = self.segments.read();
        ShardStats {
            records: self.end().saturating_sub(self.begin()),
            bytes: segs.sealed.iter().map(|m| m.len).sum::<u64>() + segs.active.visible_len(),
            segments: segs.sealed.len() + 1,
        }
    }

    /// Summaries of the sealed segments, oldest first (their files are
    /// `{base:020}.log` and `{base:020}.idx` in [`ShardLog::dir`]).
    pub fn sealed_segments(&self) -> Vec<SegmentMeta> {
        self.segments.read().sealed.iter().copied().collect()
    }

    /// Base cursors of the sealed segments whose files are open.
    #[cfg(test)]
    pub(crate) fn cached_handles(&self) -> Vec<u64> {
        self.handles.cached()
    }
}

/// What to look up in a segment's index.
#[derive(Clone, Copy)]
enum Seek {
    /// The record with this (absolute) cursor.
    Cursor(u64),
    /// The first record received at or after these unix seconds.
    Time(u64),
}

fn seek_in<E: Entries + ?Sized>(
    entries: &E,
    base: u64,
    seek: Seek,
) -> std::io::Result<Option<IndexEntry>> {
    match seek {
        Seek::Cursor(c) => entries.seek_cursor(c.saturating_sub(base)),
        Seek::Time(secs) => entries.seek_time(secs),
    }
}

/// How many bytes to read at a time: enough for the records wanted (estimated from the
/// segment's mean record length) within the byte budget, plus the stretch between the index
/// entry and the first wanted record.
fn read_size(mean: u64, skip: bool, interval: u32, records: u64, budget: usize) -> usize {
    let by_count = mean.saturating_mul(records.saturating_add(1));
    let by_bytes = (budget as u64).saturating_add(2 * mean);
    let skip = if skip { u64::from(interval) + mean } else { 0 };
    by_count
        .min(by_bytes)
        .saturating_add(skip)
        .clamp(MIN_READ, MAX_READ) as usize
}

fn remove_if_present(fs: &dyn Fs, path: &Path) -> Result<(), StorageError> {
    match fs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(path)(e)),
    }
}

/// Creates `dir` if needed; a new directory's entry in its parent is made durable too, so a
/// shard created just before a crash is still there after it.
fn ensure_dir(fs: &dyn Fs, dir: &Path) -> Result<(), StorageError> {
    if fs.exists(dir) {
        return Ok(());
    }
    fs.create_dir_all(dir).map_err(io_at(dir))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs.sync_dir(parent).map_err(io_at(parent))?;
    }
    Ok(())
}

/// A new log: its first segment, empty, starting at `base`.
fn fresh(fs: &dyn Fs, dir: &Path, base: u64) -> Result<recovery::Recovered, StorageError> {
    let (file, index) = create_segment(fs, dir, base)?;
    Ok(recovery::Recovered {
        sealed: Vec::new(),
        active: recovery::RecoveredActive {
            base,
            file,
            len: SEGMENT_HEADER_LEN,
            reserved: SEGMENT_HEADER_LEN,
            next: base,
            index,
            last_entry: None,
            first_millis: None,
        },
        last_millis: 0,
        last_hlc: None,
    })
}
