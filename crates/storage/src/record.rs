//! Byte layout of segment headers and records (design §5). All integers are little-endian.
//!
//! ```text
//! segment header (24 bytes)
//!   0  8  magic "CAIRNSEG"
//!   8  4  format version (1)
//!  12  4  reserved, 0
//!  16  8  base cursor (equals the file name)
//!
//! record (40-byte header + L bytes of payload)
//!   0  4  payload length L
//!   4  4  CRC32C of bytes 8 .. 40+L of this record
//!   8  8  cursor
//!  16  8  cluster timestamp (seconds << 32 | increment)
//!  24  8  receive time, unix milliseconds
//!  32  4  flags: payload encoding (0: a LogGroup; 1: a LogGroup as one LZ4 block)
//!  36  4  raw length: with flags 1 the decompressed length, otherwise 0
//!  40  L  payload
//! ```
//!
//! The CRC starts at byte 8 so that it covers everything a reader acts on (cursor, stamps, flags,
//! payload) while the length, which is needed to find the CRC's extent, is checked by the CRC
//! indirectly: a wrong length makes the CRC run over the wrong bytes.

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"CAIRNSEG";
/// Version of the segment format this code writes. Version 1 segments (written before records
/// could carry flags 1) are read the same way; the active one is raised to version 2 when it is
/// opened, so that a binary that knows only version 1 refuses it instead of misreading records
/// with flags 1.
pub const SEGMENT_VERSION: u32 = 2;
/// Oldest segment format version this code reads.
pub const SEGMENT_VERSION_MIN: u32 = 1;
/// Version of the index format.
pub const INDEX_VERSION: u32 = 1;
/// Offset of the version field in a segment header.
pub const SEGMENT_VERSION_OFFSET: u64 = 8;
/// Length of the segment header; the first record starts here.
pub const SEGMENT_HEADER_LEN: u64 = 24;
/// Length of the fixed part of a record.
pub const RECORD_HEADER_LEN: usize = 40;
/// Largest payload a record may carry. Bounding it keeps a segment (the record crossing the
/// size limit included) addressable with the 32-bit positions of the index, and bounds what
/// recovery will believe a length field.
pub const MAX_PAYLOAD: usize = 64 << 20;

// Segment header fields.
const SEG_OFF_MAGIC: usize = 0;
const SEG_OFF_VERSION: usize = SEGMENT_VERSION_OFFSET as usize;
const SEG_OFF_RESERVED: usize = 12;
const SEG_OFF_BASE: usize = 16;

// Record header fields.
const OFF_LEN: usize = 0;
const OFF_CRC: usize = 4;
const OFF_CURSOR: usize = 8;
const OFF_HLC: usize = 16;
const OFF_RECEIVE: usize = 24;
const OFF_FLAGS: usize = 32;
const OFF_RAW_LEN: usize = 36;
/// First byte covered by the CRC.
const CRC_FROM: usize = OFF_CURSOR;

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("slice of 4 bytes"))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("slice of 8 bytes"))
}

/// Encodes the header of the segment whose first cursor is `base`.
pub fn encode_segment_header(base: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[SEG_OFF_MAGIC..SEG_OFF_MAGIC + 8].copy_from_slice(&SEGMENT_MAGIC);
    h[SEG_OFF_VERSION..SEG_OFF_VERSION + 4].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[SEG_OFF_RESERVED..SEG_OFF_RESERVED + 4].copy_from_slice(&0u32.to_le_bytes());
    h[SEG_OFF_BASE..SEG_OFF_BASE + 8].copy_from_slice(&base.to_le_bytes());
    h
}

/// Why a segment header was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`SEGMENT_HEADER_LEN`] bytes.
    Truncated,
    /// Every byte is zero: space was allocated but the header never reached the disk.
    Zeroed,
    /// Anything else that is not a header of a version this code reads.
    Invalid(String),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Truncated => f.write_str("segment header is truncated"),
            HeaderError::Zeroed => f.write_str("segment header is all zeros"),
            HeaderError::Invalid(r) => f.write_str(r),
        }
    }
}

/// Decodes a segment header, returning its base cursor.
pub fn decode_segment_header(h: &[u8]) -> Result<u64, HeaderError> {
    if h.len() < SEGMENT_HEADER_LEN as usize {
        return Err(HeaderError::Truncated);
    }
    let h = &h[..SEGMENT_HEADER_LEN as usize];
    if h.iter().all(|b| *b == 0) {
        return Err(HeaderError::Zeroed);
    }
    if h[SEG_OFF_MAGIC..SEG_OFF_MAGIC + 8] != SEGMENT_MAGIC {
        return Err(HeaderError::Invalid("bad segment magic".into()));
    }
    let version = u32_at(h, SEG_OFF_VERSION);
    if !(SEGMENT_VERSION_MIN..=SEGMENT_VERSION).contains(&version) {
        return Err(HeaderError::Invalid(format!(
            "unsupported segment format version {version}"
        )));
    }
    Ok(u64_at(h, SEG_OFF_BASE))
}

/// The fixed part of a record, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Payload length.
    pub len: u32,
    /// Stored CRC32C.
    pub crc: u32,
    /// Cursor of the record.
    pub cursor: u64,
    /// Cluster timestamp.
    pub hlc: u64,
    /// Receive time, unix milliseconds.
    pub receive_millis: u64,
    /// Flags: the payload's encoding.
    pub flags: u32,
    /// With [`FLAG_LZ4`], the decompressed length of the payload; otherwise 0.
    pub raw_len: u32,
}

/// Flags value of a payload that is the LogGroup itself.
pub const FLAG_PLAIN: u32 = 0;
/// Flags value of a payload that is the LogGroup as one LZ4 block (design §5).
pub const FLAG_LZ4: u32 = 1;

/// How a record's payload holds its LogGroup (design §5). The storage engine does not interpret
/// payloads; it keeps the encoding next to them so that readers know what they got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The LogGroup protobuf itself.
    Plain,
    /// The LogGroup as one raw LZ4 block that decompresses to `raw_len` bytes.
    Lz4 {
        /// Decompressed length.
        raw_len: u32,
    },
}

impl Encoding {
    fn to_fields(self) -> (u32, u32) {
        match self {
            Encoding::Plain => (FLAG_PLAIN, 0),
            Encoding::Lz4 { raw_len } => (FLAG_LZ4, raw_len),
        }
    }

    /// Length of the LogGroup once decoded, given the payload's length.
    pub fn raw_len(self, payload_len: usize) -> usize {
        match self {
            Encoding::Plain => payload_len,
            Encoding::Lz4 { raw_len } => raw_len as usize,
        }
    }
}

impl RecordHeader {
    /// Decodes the first [`RECORD_HEADER_LEN`] bytes of `b` (which must be that long). No field
    /// is checked here: the CRC decides whether a record is believed.
    pub fn decode(b: &[u8]) -> RecordHeader {
        RecordHeader {
            len: u32_at(b, OFF_LEN),
            crc: u32_at(b, OFF_CRC),
            cursor: u64_at(b, OFF_CURSOR),
            hlc: u64_at(b, OFF_HLC),
            receive_millis: u64_at(b, OFF_RECEIVE),
            flags: u32_at(b, OFF_FLAGS),
            raw_len: u32_at(b, OFF_RAW_LEN),
        }
    }

    /// The payload's encoding, or `None` for flags this format does not define (written by a
    /// newer format; never guessed at).
    pub fn encoding(&self) -> Option<Encoding> {
        match (self.flags, self.raw_len) {
            (FLAG_PLAIN, 0) => Some(Encoding::Plain),
            (FLAG_LZ4, raw_len) => Some(Encoding::Lz4 { raw_len }),
            _ => None,
        }
    }

    /// Length of the whole record, header included.
    pub fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.len)
    }
}

/// Why a record whose flags are not an [`Encoding`] is refused.
pub fn unknown_flags(h: &RecordHeader) -> String {
    format!(
        "record {} has flags {:#x} and raw length {}, which this format does not define",
        h.cursor, h.flags, h.raw_len
    )
}

/// CRC32C over a record's header bytes 8..40 followed by its payload.
pub fn record_crc(header: &[u8], payload: &[u8]) -> u32 {
    let c = crc32c::crc32c(&header[CRC_FROM..RECORD_HEADER_LEN]);
    crc32c::crc32c_append(c, payload)
}

/// Whether the stored CRC of the record `header ++ payload` matches its bytes.
pub fn crc_matches(header: &[u8], payload: &[u8]) -> bool {
    record_crc(header, payload) == u32_at(header, OFF_CRC)
}

/// Appends one encoded record with a plain payload to `out`.
#[cfg(test)]
pub fn encode_record(
    out: &mut Vec<u8>,
    cursor: u64,
    hlc: u64,
    receive_millis: u64,
    payload: &[u8],
) {
    encode_record_as(
        out,
        cursor,
        hlc,
        receive_millis,
        Encoding::Plain,
        &[payload],
    );
}

/// Appends one encoded record to `out`, its payload being the concatenation of `parts`. The
/// caller bounds the payload by [`MAX_PAYLOAD`].
pub fn encode_record_as(
    out: &mut Vec<u8>,
    cursor: u64,
    hlc: u64,
    receive_millis: u64,
    encoding: Encoding,
    parts: &[&[u8]],
) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    debug_assert!(len <= MAX_PAYLOAD);
    let (flags, raw_len) = encoding.to_fields();
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[OFF_LEN..OFF_LEN + 4].copy_from_slice(&(len as u32).to_le_bytes());
    h[OFF_CURSOR..OFF_CURSOR + 8].copy_from_slice(&cursor.to_le_bytes());
    h[OFF_HLC..OFF_HLC + 8].copy_from_slice(&hlc.to_le_bytes());
    h[OFF_RECEIVE..OFF_RECEIVE + 8].copy_from_slice(&receive_millis.to_le_bytes());
    h[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&flags.to_le_bytes());
    h[OFF_RAW_LEN..OFF_RAW_LEN + 4].copy_from_slice(&raw_len.to_le_bytes());
    let mut crc = crc32c::crc32c(&h[CRC_FROM..RECORD_HEADER_LEN]);
    for p in parts {
        crc = crc32c::crc32c_append(crc, p);
    }
    h[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    out.reserve(RECORD_HEADER_LEN + len);
    out.extend_from_slice(&h);
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// File name of the segment whose first cursor is `base`.
pub fn segment_file_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// File name of the index of the segment whose first cursor is `base`.
pub fn index_file_name(base: u64) -> String {
    format!("{base:020}.idx")
}

/// The base cursor named by a segment file name, if it is one (`{cursor:020}.log`).
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 42, 1234, b"hello");
        assert_eq!(buf.len(), RECORD_HEADER_LEN + 5);
        let h = RecordHeader::decode(&buf);
        assert_eq!(
            (h.len, h.cursor, h.hlc, h.receive_millis, h.flags),
            (5, 7, 42, 1234, 0)
        );
        assert_eq!(h.record_len(), 45);
        assert!(crc_matches(
            &buf[..RECORD_HEADER_LEN],
            &buf[RECORD_HEADER_LEN..]
        ));
        assert_eq!(&buf[RECORD_HEADER_LEN..], b"hello");
        assert_eq!(
            &buf[36..40],
            &[0, 0, 0, 0],
            "no raw length for a plain payload"
        );
        assert_eq!(h.encoding(), Some(Encoding::Plain));
    }

    #[test]
    fn lz4_records_carry_their_raw_length() {
        let mut buf = Vec::new();
        let enc = Encoding::Lz4 { raw_len: 70_000 };
        encode_record_as(&mut buf, 7, 42, 1234, enc, &[b"blo", b"", b"ck"]);
        assert_eq!(&buf[RECORD_HEADER_LEN..], b"block");
        let h = RecordHeader::decode(&buf);
        assert_eq!((h.flags, h.raw_len), (1, 70_000));
        assert_eq!(&buf[32..40], &[1, 0, 0, 0, 0x70, 0x11, 0x01, 0]);
        assert_eq!(h.encoding(), Some(enc));
        assert_eq!(enc.raw_len(5), 70_000);
        assert_eq!(Encoding::Plain.raw_len(5), 5);
        assert!(crc_matches(
            &buf[..RECORD_HEADER_LEN],
            &buf[RECORD_HEADER_LEN..]
        ));
    }

    #[test]
    fn undefined_flags_are_not_an_encoding() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 42, 1234, b"x");
        for (flags, raw_len) in [(2u32, 0u32), (0x8000_0000, 0), (0, 5)] {
            buf[32..36].copy_from_slice(&flags.to_le_bytes());
            buf[36..40].copy_from_slice(&raw_len.to_le_bytes());
            assert_eq!(
                RecordHeader::decode(&buf).encoding(),
                None,
                "{flags} {raw_len}"
            );
        }
    }

    #[test]
    fn crc_covers_every_byte_from_the_cursor_on() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 42, 1234, b"payload bytes");
        for i in CRC_FROM..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(
                    !crc_matches(&b[..RECORD_HEADER_LEN], &b[RECORD_HEADER_LEN..]),
                    "flip of bit {bit} at byte {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn the_format_does_not_drift() {
        // A record, byte for byte, as every format version writes it. If this test fails, files written
        // by earlier builds can no longer be read.
        let mut buf = Vec::new();
        encode_record(&mut buf, 0x0102, (7u64 << 32) | 3, 1_700_000_000_123, b"ab");
        let expected: Vec<u8> = [
            &2u32.to_le_bytes()[..],
            &buf[4..8],
            &0x0102u64.to_le_bytes(),
            &((7u64 << 32) | 3).to_le_bytes(),
            &1_700_000_000_123u64.to_le_bytes(),
            &[0; 8],
            b"ab",
        ]
        .concat();
        assert_eq!(buf, expected);
        // The CRC is CRC32C (Castagnoli) of bytes 8.. of the record.
        assert_eq!(u32_at(&buf, 4), crc32c::crc32c(&buf[8..]));
        assert_eq!(u32_at(&buf, 4), 0x0D7B_2DBC, "CRC of the reference record");
        // And CRC32C is the standard Castagnoli CRC (its published check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);

        let h = encode_segment_header(5);
        assert_eq!(&h[..8], b"CAIRNSEG");
        assert_eq!(&h[8..], &[2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn segment_headers_are_checked() {
        assert_eq!(decode_segment_header(&encode_segment_header(99)), Ok(99));
        assert_eq!(decode_segment_header(&[0; 10]), Err(HeaderError::Truncated));
        assert_eq!(decode_segment_header(&[0; 24]), Err(HeaderError::Zeroed));
        let mut h = encode_segment_header(1);
        h[0] = b'X';
        assert!(matches!(
            decode_segment_header(&h),
            Err(HeaderError::Invalid(_))
        ));
        let mut h = encode_segment_header(1);
        h[8] = 3;
        assert!(matches!(
            decode_segment_header(&h),
            Err(HeaderError::Invalid(r)) if r.contains("version 3")
        ));
        // Version 1 headers (written before records could carry flags 1) are read as well.
        h[8] = 1;
        assert_eq!(decode_segment_header(&h), Ok(1));
    }

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(12), "00000000000000000012.log");
        assert_eq!(index_file_name(12), "00000000000000000012.idx");
        assert_eq!(
            parse_segment_file_name("00000000000000000012.log"),
            Some(12)
        );
        assert_eq!(parse_segment_file_name("12.log"), None);
        assert_eq!(parse_segment_file_name("0000000000000000001x.log"), None);
        assert_eq!(parse_segment_file_name("00000000000000000012.idx"), None);
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
    }
}
