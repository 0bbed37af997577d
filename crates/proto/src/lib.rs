//! SLS wire formats for Cairn.
//!
//! - [`logs`] — the LogGroup protobuf: message types, a fast validator, LogGroupList framing;
//! - [`codec`] — body compression (lz4 raw block, zstd, deflate);
//! - [`lz4`] — joining LZ4 blocks into one without decompressing them;
//! - [`cursor`] — cursors as base64 of a decimal position.

pub mod codec;
pub mod cursor;
pub mod logs;
pub mod lz4;

pub use codec::{
    compress, compress_into, decompress, lz4_decompress_exact, CodecError, CompressType,
};
pub use cursor::{decode_cursor, encode_cursor, CursorError};
pub use logs::{
    frame_header, frame_log_group, framed_len, validate_log_group,
    validate_log_group_without_shortcuts, Log, LogContent, LogGroup, LogGroupInfo, LogGroupList,
    LogTag, ProtoError,
};
