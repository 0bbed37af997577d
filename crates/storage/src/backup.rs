//! Consistent cuts of a shard and pinning them by hard link (design §13).
//!
//! A cut is taken while appends are paused ([`ShardLog::pause_appends`]), made durable
//! ([`ShardLog::make_durable`]), and pinned ([`ShardLog::pin`]): every segment file holding
//! records of the cut gets a second name in the checkpoint's directory, so retention can delete
//! the shard's own names without losing the data. Nothing is copied until a restore, and then
//! only the segment the cut falls in.

use std::path::Path;

use parking_lot::MutexGuard;

use crate::io::Fs;
use crate::io_at;
use crate::record::{index_file_name, segment_file_name};
use crate::shard::{ShardLog, Writer};
use crate::StorageError;

/// A shard's position at a consistent cut: every record before it belongs to the cut, none
/// after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutPoint {
    /// Oldest retained cursor at the cut.
    pub begin: u64,
    /// Cursor after the last record of the cut.
    pub next: u64,
    /// Base cursor of the segment the cut falls in (the active segment at the cut).
    pub active_base: u64,
    /// Bytes of that segment that belong to the cut.
    pub active_len: u64,
    /// Commit position of the cut.
    sync_pos: u64,
}

/// Appends to one shard held off; see [`ShardLog::pause_appends`]. Appends resume when it is
/// dropped.
pub struct AppendPause<'a> {
    log: &'a ShardLog,
    w: MutexGuard<'a, Writer>,
}

impl AppendPause<'_> {
    /// Where the shard stands: nothing can be appended while the pause lasts.
    pub fn cut(&self) -> CutPoint {
        CutPoint {
            begin: self.log.begin(),
            next: self.w.next,
            active_base: self.w.active.base,
            active_len: self.w.len,
            sync_pos: self.w.written,
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
    /// Whether the whole file belongs to the cut (a segment sealed before the cut's segment).
    pub whole: bool,
}

impl ShardLog {
    /// Holds off appends until the returned guard is dropped, so that a checkpoint can take its
    /// cut of every shard at one cluster time. Readers are not affected. Do no I/O while
    /// holding it.
    pub fn pause_appends(&self) -> AppendPause<'_> {
        AppendPause {
            log: self,
            w: self.writer.lock(),
        }
    }

    /// Makes every record of `cut` durable, whatever the fsync policy.
    pub fn make_durable(&self, cut: &CutPoint) -> Result<(), StorageError> {
        self.wait_for(cut.sync_pos)
    }

    /// Hard-links every segment holding records of `cut` into `dest` (with the indexes of the
    /// sealed ones), so retention can no longer remove them; nothing is copied. The segment the
    /// cut falls in is always listed, even when the cut is at its very start, so that a restore
    /// gets a private copy of the segment it will append to. Returns what was pinned, oldest
    /// first.
    pub fn pin(&self, cut: &CutPoint, dest: &Path) -> Result<Vec<PinnedSegment>, StorageError> {
        let fs = &*self.fs;
        if !fs.exists(dest) {
            fs.create_dir_all(dest).map_err(io_at(dest))?;
            if let Some(parent) = dest.parent() {
                fs.sync_dir(parent).map_err(io_at(parent))?;
            }
        }
        // The read lock keeps retention from deleting a segment while it is being linked.
        let segs = self.segments.read();
        let sealed = segs.sealed.iter().map(|m| (m.base, m.len));
        let active = std::iter::once((segs.active.base, segs.active.visible_len()));
        let mut out = Vec::new();
        for (base, len) in sealed.chain(active) {
            if base > cut.active_base {
                break;
            }
            let whole = base < cut.active_base;
            let target = dest.join(segment_file_name(base));
            fs.hard_link(&self.dir.join(segment_file_name(base)), &target)
                .map_err(io_at(&target))?;
            let index = self.dir.join(index_file_name(base));
            if whole && fs.exists(&index) {
                let target = dest.join(index_file_name(base));
                fs.hard_link(&index, &target).map_err(io_at(&target))?;
            }
            out.push(PinnedSegment {
                base,
                len: if whole { len } else { cut.active_len },
                whole,
            });
        }
        drop(segs);
        fs.sync_dir(dest).map_err(io_at(dest))?;
        Ok(out)
    }
}

/// Whether every pinned file is present in `dir` and long enough.
pub(crate) fn pinned_intact(fs: &dyn Fs, dir: &Path, segments: &[PinnedSegment]) -> bool {
    segments.iter().all(|s| {
        fs.len(&dir.join(segment_file_name(s.base)))
            .is_ok_and(|l| l >= s.len)
    })
}

/// Builds in `dest` a shard directory holding exactly the cut pinned in `src`: whole segments
/// are hard-linked again (with their indexes), the last segment — the one appends will
/// continue in — is copied up to the cut, so the restored log never writes into a file it
/// shares. Returns the number of bytes copied.
pub(crate) fn restore_pinned(
    fs: &dyn Fs,
    src: &Path,
    segments: &[PinnedSegment],
    dest: &Path,
) -> Result<u64, StorageError> {
    fs.create_dir_all(dest).map_err(io_at(dest))?;
    let mut copied = 0;
    for (i, s) in segments.iter().enumerate() {
        let from = src.join(segment_file_name(s.base));
        let to = dest.join(segment_file_name(s.base));
        let last = i + 1 == segments.len();
        if s.whole && !last {
            fs.hard_link(&from, &to).map_err(io_at(&to))?;
            let index = src.join(index_file_name(s.base));
            if fs.exists(&index) {
                let index_to = dest.join(index_file_name(s.base));
                fs.hard_link(&index, &index_to).map_err(io_at(&index_to))?;
            }
        } else {
            copied += copy_prefix(fs, &from, &to, s.len)?;
        }
    }
    fs.sync_dir(dest).map_err(io_at(dest))?;
    Ok(copied)
}

/// Copies the first `len` bytes of `from` into a new file `to`, synced.
fn copy_prefix(fs: &dyn Fs, from: &Path, to: &Path, len: u64) -> Result<u64, StorageError> {
    const CHUNK: u64 = 1 << 20;
    let input = fs.open(from, false).map_err(io_at(from))?;
    let output = fs.create_new(to).map_err(io_at(to))?;
    let mut buf = vec![0u8; CHUNK.min(len) as usize];
    let mut pos = 0;
    while pos < len {
        let n = (len - pos).min(CHUNK) as usize;
        input
            .read_exact_at(&mut buf[..n], pos)
            .map_err(io_at(from))?;
        output.write_all_at(&buf[..n], pos).map_err(io_at(to))?;
        pos += n as u64;
    }
    output.sync_all().map_err(io_at(to))?;
    Ok(len)
}
