//! Cairn's storage engine: one segmented, append-only, CRC-framed log per shard.
//!
//! Map of the crate (formats and rules are stated in `docs/design.md` §3–§9, §13):
//!
//! - `clock` — wall clocks and the hybrid logical clock that stamps every record (§4);
//! - `record` — byte layout of segment headers and records (§5);
//! - `index` — the sparse index of a segment (§6);
//! - `io` — the file-system traits all I/O goes through, so tests can inject faults;
//! - `pool` — [`PooledFs`], the real file system with a bound on open descriptors (§7);
//! - `segment` — per-segment summaries and walking a segment file in large reads;
//! - `handles` — a small cache of open sealed-segment files;
//! - `recovery` — sorts what is on disk into valid, torn and corrupt at open (§8);
//! - `shard` — [`ShardLog`]: appends with group commit, reads, seeks, retention (§7, §9);
//! - `backup` — consistent cuts, pinning segments by hard link, restoring a cut (§13);
//! - `store` — [`ShardStore`], the engine over a whole data dir: its layout, shard logs by id,
//!   durable appends, pins and restores, the sweep of directories at start (§1, §2).
//!
//! The durability contract (§7): with [`FsyncPolicy::Always`] an append is durable once
//! [`ShardLog::wait_durable`] returns, and readers never see a record before that.

#![warn(missing_docs)]

mod backup;
mod clock;
mod handles;
mod index;
pub mod io;
mod pool;
mod record;
mod recovery;
mod reserve;
mod segment;
mod shard;
mod store;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use backup::{AppendPause, CutPoint, PinnedSegment};
pub use clock::{Clock, Hlc, HybridClock, ManualClock, SystemClock};
pub use pool::PooledFs;
pub use record::{Encoding, MAX_PAYLOAD};
pub use reserve::Reserver;
pub use segment::SegmentMeta;
pub use shard::{Appended, RecordMeta, SealListener, ShardLog, ShardStats, MAX_SEGMENT_BYTES};
pub use store::{DirKey, ShardStore, Sweep};

/// When an append counts as durable (design §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After an `fdatasync` covering it, group-committed; readers see a record only then.
    Always,
    /// Once written to the page cache; the owner runs a timer calling [`ShardLog::sync`].
    Interval,
    /// Once written to the page cache; the operating system decides when it reaches the disk.
    Never,
}

/// Settings of a shard log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Size at which a segment is sealed and the next one started (default 128 MiB). The record
    /// that crosses it still goes into the segment. Values above [`MAX_SEGMENT_BYTES`] are
    /// treated as that.
    pub segment_bytes: u64,
    /// Bytes of records between sparse index entries (default 4096): a lookup scans at most
    /// about this much after a binary search.
    pub index_interval_bytes: u32,
    /// Durability policy (default [`FsyncPolicy::Always`]).
    pub fsync: FsyncPolicy,
    /// Zero bytes kept written and synced ahead of the appends of a shard being written, with
    /// [`FsyncPolicy::Always`] (default 1 MiB; 0 turns it off): see [`ShardLog::reserve`] and
    /// design §7.
    pub preallocate_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 128 << 20,
            index_interval_bytes: 4096,
            fsync: FsyncPolicy::Always,
            preallocate_bytes: 1 << 20,
        }
    }
}

/// One record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Cursor.
    pub cursor: u64,
    /// Cluster timestamp.
    pub hlc: Hlc,
    /// Receive time, unix milliseconds.
    pub receive_millis: u64,
    /// How `payload` holds the LogGroup.
    pub encoding: Encoding,
    /// The payload bytes, as appended (a slice of the read buffer; no copy).
    pub payload: bytes::Bytes,
}

impl Record {
    /// Length of the LogGroup once decoded.
    pub fn raw_len(&self) -> usize {
        self.encoding.raw_len(self.payload.len())
    }
}

/// Wraps an I/O error on `path` into a [`StorageError::Io`].
pub(crate) fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether an I/O error says the disk is full or a quota is exhausted.
pub(crate) fn no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Whether an I/O error says the process or the system is out of file descriptors.
pub(crate) fn no_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Errors of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O error on a file or directory.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Data on disk that recovery cannot explain, or a state an operation cannot work on.
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// File concerned.
        path: PathBuf,
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A cursor outside `[begin, end]` (or `[begin, end)` where a record is needed).
    #[error("cursor {cursor} is out of range [{begin}, {end}]")]
    CursorOutOfRange {
        /// The cursor.
        cursor: u64,
        /// Oldest retained cursor.
        begin: u64,
        /// Visible end.
        end: u64,
    },
    /// The shard stopped accepting writes after an I/O error on the append path.
    #[error("shard log failed after an I/O error and refuses writes")]
    Failed,
    /// A payload larger than [`MAX_PAYLOAD`].
    #[error("payload of {len} bytes is too large")]
    PayloadTooLarge {
        /// Its length.
        len: usize,
    },
}

impl StorageError {
    /// Whether the operation failed because the disk is full or a quota is exhausted; nothing
    /// was changed and the shard stays usable (design §7).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if no_space(source))
    }

    /// Whether the operation failed for lack of file descriptors; nothing was changed and the
    /// shard stays usable (design §7).
    pub fn is_out_of_descriptors(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if no_descriptors(source))
    }
}
