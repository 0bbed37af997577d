//! Cairn's storage engine: one segmented, append-only, CRC-framed log per shard.
//!
//! - [`clock`] — wall clocks and the hybrid logical clock stamping every record;
//! - [`format`] — byte layouts of segments, records and indexes (design §5, §6);
//! - `segment` — one segment file with its sparse index;
//! - `recovery` — classifies what is on disk at open: valid, torn tail, or corrupt (design §8);
//! - [`shard`] — [`ShardLog`]: appends with group commit, reads, seeks, retention.
//!
//! The durability contract is design §7: with [`FsyncPolicy::Always`] an append is durable once
//! [`ShardLog::wait_durable`] returns, and readers never see a record before that.

pub mod clock;
pub mod format;
mod recovery;
mod segment;
pub mod shard;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use clock::{Clock, Hlc, HybridClock, ManualClock, SystemClock};
pub use shard::{
    pinned_intact, restore_pinned, AppendPause, Appended, CutPoint, PinnedSegment, RecordMeta,
    ShardLog, ShardStats,
};

/// When an append counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After an fdatasync covering it (group commit).
    Always,
    /// After the write; the owner calls [`ShardLog::sync`] periodically.
    Interval,
    /// After the write; the OS decides.
    Never,
}

/// Settings of a shard log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Size at which a segment is sealed and a new one started.
    pub segment_bytes: u64,
    /// Bytes of records between sparse index entries.
    pub index_interval_bytes: u32,
    /// Durability policy.
    pub fsync: FsyncPolicy,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 128 << 20,
            index_interval_bytes: 4096,
            fsync: FsyncPolicy::Always,
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
    /// The LogGroup bytes.
    pub payload: bytes::Bytes,
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Data on disk that recovery cannot explain.
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
        /// End cursor.
        end: u64,
    },
    /// The shard stopped accepting writes after an I/O error.
    #[error("shard log failed after an I/O error and refuses writes")]
    Failed,
    /// A payload larger than a record can hold.
    #[error("payload of {len} bytes is too large")]
    PayloadTooLarge {
        /// Its length.
        len: usize,
    },
}
