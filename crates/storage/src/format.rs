//! Byte layouts of segment files, records and index files (design §5, §6). All integers are
//! little-endian.
//!
//! ```text
//! segment header (24): magic "CAIRNSEG" | version u32 | reserved u32 | base cursor u64
//! record (40 + L):     len u32 | crc32c u32 | cursor u64 | hlc u64 | receive ms u64 |
//!                      flags u32 | reserved u32 | payload[L]      (crc covers bytes 8..40+L)
//! index header (16):   magic "CAIRNIDX" | version u32 | reserved u32
//! index entry (16):    cursor - base u32 | file position u32 | receive secs u32 | reserved u32
//! ```

/// Segment file magic.
pub const SEGMENT_MAGIC: &[u8; 8] = b"CAIRNSEG";
/// Index file magic.
pub const INDEX_MAGIC: &[u8; 8] = b"CAIRNIDX";
/// Format version of both files.
pub const FORMAT_VERSION: u32 = 1;
/// Segment header length.
pub const SEGMENT_HEADER_LEN: u64 = 24;
/// Record header length.
pub const RECORD_HEADER_LEN: usize = 40;
/// Index header length.
pub const INDEX_HEADER_LEN: u64 = 16;
/// Index entry length.
pub const INDEX_ENTRY_LEN: usize = 16;
/// Largest payload a record may carry (segments address records with u32 positions).
pub const MAX_PAYLOAD: usize = 64 << 20;

const OFF_LEN: usize = 0;
const OFF_CRC: usize = 4;
const OFF_CURSOR: usize = 8;
const OFF_HLC: usize = 16;
const OFF_RECEIVE: usize = 24;
const OFF_FLAGS: usize = 32;

/// Encodes a segment header.
pub fn segment_header(base: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&base.to_le_bytes());
    h
}

/// Parses a segment header, returning its base cursor.
pub fn parse_segment_header(h: &[u8]) -> Result<u64, String> {
    if h.len() < SEGMENT_HEADER_LEN as usize {
        return Err("segment header is truncated".into());
    }
    if &h[..8] != SEGMENT_MAGIC {
        return Err("bad segment magic".into());
    }
    let version = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(format!("unsupported segment format version {version}"));
    }
    Ok(u64::from_le_bytes(h[16..24].try_into().expect("8 bytes")))
}

/// The fixed part of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Payload length.
    pub len: u32,
    /// Stored CRC32C.
    pub crc: u32,
    /// Cursor.
    pub cursor: u64,
    /// Cluster timestamp.
    pub hlc: u64,
    /// Receive time, unix milliseconds.
    pub receive_millis: u64,
    /// Flags (0: plain LogGroup).
    pub flags: u32,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

impl RecordHeader {
    /// Parses the first 40 bytes of `b`.
    pub fn parse(b: &[u8]) -> RecordHeader {
        RecordHeader {
            len: u32_at(b, OFF_LEN),
            crc: u32_at(b, OFF_CRC),
            cursor: u64_at(b, OFF_CURSOR),
            hlc: u64_at(b, OFF_HLC),
            receive_millis: u64_at(b, OFF_RECEIVE),
            flags: u32_at(b, OFF_FLAGS),
        }
    }

    /// Total record length.
    pub fn record_len(&self) -> usize {
        RECORD_HEADER_LEN + self.len as usize
    }
}

/// CRC of a record: header bytes 8..40 followed by the payload.
pub fn record_crc(header: &[u8], payload: &[u8]) -> u32 {
    let c = crc32c::crc32c(&header[OFF_CURSOR..RECORD_HEADER_LEN]);
    crc32c::crc32c_append(c, payload)
}

/// Appends an encoded record to `out`.
pub fn encode_record(
    out: &mut Vec<u8>,
    cursor: u64,
    hlc: u64,
    receive_millis: u64,
    payload: &[u8],
) {
    let start = out.len();
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[OFF_LEN..OFF_LEN + 4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[OFF_CURSOR..OFF_CURSOR + 8].copy_from_slice(&cursor.to_le_bytes());
    h[OFF_HLC..OFF_HLC + 8].copy_from_slice(&hlc.to_le_bytes());
    h[OFF_RECEIVE..OFF_RECEIVE + 8].copy_from_slice(&receive_millis.to_le_bytes());
    let crc = record_crc(&h, payload);
    h[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    debug_assert_eq!(out.len() - start, RECORD_HEADER_LEN + payload.len());
}

/// One sparse index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Cursor minus the segment's base cursor.
    pub rel_cursor: u32,
    /// File position of the record.
    pub pos: u32,
    /// Receive time in unix seconds.
    pub receive_secs: u32,
}

impl IndexEntry {
    /// Encodes the entry.
    pub fn encode(&self) -> [u8; INDEX_ENTRY_LEN] {
        let mut b = [0u8; INDEX_ENTRY_LEN];
        b[0..4].copy_from_slice(&self.rel_cursor.to_le_bytes());
        b[4..8].copy_from_slice(&self.pos.to_le_bytes());
        b[8..12].copy_from_slice(&self.receive_secs.to_le_bytes());
        b
    }

    /// Decodes an entry.
    pub fn decode(b: &[u8]) -> IndexEntry {
        IndexEntry {
            rel_cursor: u32_at(b, 0),
            pos: u32_at(b, 4),
            receive_secs: u32_at(b, 8),
        }
    }
}

/// Encodes an index file header.
pub fn index_header() -> [u8; INDEX_HEADER_LEN as usize] {
    let mut h = [0u8; INDEX_HEADER_LEN as usize];
    h[..8].copy_from_slice(INDEX_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// File name of the segment starting at `base`.
pub fn segment_file_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// File name of the index of the segment starting at `base`.
pub fn index_file_name(base: u64) -> String {
    format!("{base:020}.idx")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_crc() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 42, 1234, b"hello");
        let h = RecordHeader::parse(&buf);
        assert_eq!(
            (h.len, h.cursor, h.hlc, h.receive_millis, h.flags),
            (5, 7, 42, 1234, 0)
        );
        assert_eq!(
            h.crc,
            record_crc(&buf[..RECORD_HEADER_LEN], &buf[RECORD_HEADER_LEN..])
        );
        for i in OFF_CURSOR..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 1;
            assert_ne!(
                h.crc,
                record_crc(&b[..RECORD_HEADER_LEN], &b[RECORD_HEADER_LEN..]),
                "flip at {i}"
            );
        }
    }

    #[test]
    fn headers_round_trip() {
        assert_eq!(parse_segment_header(&segment_header(99)), Ok(99));
        let mut h = segment_header(1);
        h[0] = b'X';
        assert!(parse_segment_header(&h).is_err());
        let e = IndexEntry {
            rel_cursor: 3,
            pos: 100,
            receive_secs: 5,
        };
        assert_eq!(IndexEntry::decode(&e.encode()), e);
        assert_eq!(segment_file_name(12), "00000000000000000012.log");
    }
}
