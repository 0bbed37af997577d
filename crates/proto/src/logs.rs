//! The SLS LogGroup protobuf (proto2): message types for building and inspecting groups, an
//! allocation-free validator for the write path, and LogGroupList framing for the read path.
//!
//! ```text
//! LogGroup     { 1: repeated Log, 2: Reserved string, 3: Topic string, 4: Source string,
//!                5: MachineUUID string, 6: repeated LogTag }
//! Log          { 1: Time uint32 (required), 2: repeated Content, 4: Time_ns fixed32 }
//! Content      { 1: Key (required), 2: Value (required) }      LogTag: same shape
//! LogGroupList { 1: repeated LogGroup }
//! ```
//! Keys and values are carried as bytes: SDKs may send values that are not UTF-8.

/// One key/value of a log.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogContent {
    /// Key.
    #[prost(bytes = "vec", required, tag = "1")]
    pub key: Vec<u8>,
    /// Value.
    #[prost(bytes = "vec", required, tag = "2")]
    pub value: Vec<u8>,
}

/// One log.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Log {
    /// Unix seconds.
    #[prost(uint32, required, tag = "1")]
    pub time: u32,
    /// Key/values.
    #[prost(message, repeated, tag = "2")]
    pub contents: Vec<LogContent>,
    /// Nanosecond part of the time.
    #[prost(fixed32, optional, tag = "4")]
    pub time_ns: Option<u32>,
}

/// A tag of a LogGroup.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogTag {
    /// Key.
    #[prost(bytes = "vec", required, tag = "1")]
    pub key: Vec<u8>,
    /// Value.
    #[prost(bytes = "vec", required, tag = "2")]
    pub value: Vec<u8>,
}

/// A group of logs sharing topic, source and tags: the unit of PutLogs and of a cursor step.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogGroup {
    /// Logs.
    #[prost(message, repeated, tag = "1")]
    pub logs: Vec<Log>,
    /// Reserved (Go: Category).
    #[prost(string, optional, tag = "2")]
    pub reserved: Option<String>,
    /// Topic.
    #[prost(string, optional, tag = "3")]
    pub topic: Option<String>,
    /// Source.
    #[prost(string, optional, tag = "4")]
    pub source: Option<String>,
    /// Machine UUID.
    #[prost(string, optional, tag = "5")]
    pub machine_uuid: Option<String>,
    /// Tags.
    #[prost(message, repeated, tag = "6")]
    pub log_tags: Vec<LogTag>,
}

/// What PullLogs returns.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogGroupList {
    /// Groups.
    #[prost(message, repeated, tag = "1")]
    pub log_groups: Vec<LogGroup>,
}

/// Why bytes are not a valid LogGroup.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ProtoError(String);

/// Facts learnt while validating a LogGroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogGroupInfo {
    /// Number of logs.
    pub logs: usize,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` within the whole message, for error messages.
    base: usize,
}

/// Largest field number protobuf allows.
const MAX_FIELD: u64 = (1 << 29) - 1;

const WT_VARINT: u8 = 0;
const WT_FIXED64: u8 = 1;
const WT_LEN: u8 = 2;
const WT_FIXED32: u8 = 5;

impl<'a> Reader<'a> {
    fn at(&self) -> usize {
        self.base + self.pos
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, ProtoError> {
        // Tags, lengths of short strings and small numbers: one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_long()
    }

    fn varint_long(&mut self) -> Result<u64, ProtoError> {
        let start = self.at();
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| ProtoError(format!("truncated varint at offset {start}")))?;
            self.pos += 1;
            if i == 9 && b > 1 {
                // The tenth byte holds bit 63 only: decoders (prost, Go) refuse anything more.
                return Err(ProtoError(format!(
                    "varint at offset {start} does not fit 64 bits"
                )));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError(format!(
            "varint longer than 10 bytes at offset {start}"
        )))
    }

    /// Reads a key: (field number, wire type).
    #[inline]
    fn key(&mut self) -> Result<(u64, u8), ProtoError> {
        let at = self.at();
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 {
            return Err(ProtoError(format!("field number 0 at offset {at}")));
        }
        if field > MAX_FIELD {
            // Decoders refuse a key beyond 32 bits (prost) or a field number past 2^29 - 1 (Go).
            return Err(ProtoError(format!(
                "field number {field} at offset {at} is larger than {MAX_FIELD}"
            )));
        }
        Ok((field, (k & 7) as u8))
    }

    #[inline]
    fn bytes(&mut self) -> Result<Reader<'a>, ProtoError> {
        let at = self.at();
        let len = self.varint()?;
        let len = usize::try_from(len)
            .map_err(|_| ProtoError(format!("length too large at offset {at}")))?;
        if len > self.buf.len() - self.pos {
            return Err(ProtoError(format!(
                "length {len} at offset {at} runs past the end of the data"
            )));
        }
        let r = Reader {
            buf: &self.buf[self.pos..self.pos + len],
            pos: 0,
            base: self.at(),
        };
        self.pos += len;
        Ok(r)
    }

    fn skip(&mut self, wt: u8) -> Result<(), ProtoError> {
        let at = self.at();
        let n = match wt {
            WT_VARINT => return self.varint().map(drop),
            WT_LEN => return self.bytes().map(drop),
            WT_FIXED64 => 8,
            WT_FIXED32 => 4,
            other => {
                return Err(ProtoError(format!(
                    "unsupported wire type {other} at offset {at}"
                )))
            }
        };
        if self.buf.len() - self.pos < n {
            return Err(ProtoError(format!(
                "truncated fixed-size field at offset {at}"
            )));
        }
        self.pos += n;
        Ok(())
    }
}

fn expect_wt(field: u64, wt: u8, want: u8, msg: &str, at: usize) -> Result<(), ProtoError> {
    if wt == want {
        Ok(())
    } else {
        Err(ProtoError(format!(
            "{msg} field {field} at offset {at} has wire type {wt}, expected {want}"
        )))
    }
}

/// A Content or LogTag: key (1) and value (2), both required. `SHORTCUTS`: try
/// [`is_plain_pair`] first.
#[inline]
fn validate_pair<const SHORTCUTS: bool>(r: Reader<'_>, what: &str) -> Result<(), ProtoError> {
    if SHORTCUTS && is_plain_pair(r.buf) {
        Ok(())
    } else {
        validate_pair_fields(r, what)
    }
}

/// Whether `b` is a pair in the shape every SDK writes — `0x0a len key 0x12 len value`, a key
/// shorter than 128 bytes, a value shorter than 16 KiB, nothing else — checked in a few
/// comparisons. Anything else goes through the general parser.
#[inline]
fn is_plain_pair(b: &[u8]) -> bool {
    let (Some(&0x0a), Some(&key_len)) = (b.first(), b.get(1)) else {
        return false;
    };
    if key_len >= 0x80 {
        return false;
    }
    let v = 2 + usize::from(key_len);
    if b.get(v) != Some(&0x12) {
        return false;
    }
    let Some((len, n)) = short_len(b, v + 1) else {
        return false;
    };
    v + 1 + n + len == b.len()
}

/// A length of one or two varint bytes at `at`: (length, bytes it took).
#[inline]
fn short_len(b: &[u8], at: usize) -> Option<(usize, usize)> {
    match (b.get(at), b.get(at + 1)) {
        (Some(&l0), _) if l0 < 0x80 => Some((usize::from(l0), 1)),
        (Some(&l0), Some(&l1)) if l1 < 0x80 => {
            Some((usize::from(l0 & 0x7f) | usize::from(l1) << 7, 2))
        }
        _ => None,
    }
}

fn validate_pair_fields(mut r: Reader<'_>, what: &str) -> Result<(), ProtoError> {
    let start = r.base;
    let (mut key, mut value) = (false, false);
    while !r.done() {
        let at = r.at();
        let (field, wt) = r.key()?;
        match field {
            1 | 2 => {
                expect_wt(field, wt, WT_LEN, what, at)?;
                r.bytes()?;
                if field == 1 {
                    key = true;
                } else {
                    value = true;
                }
            }
            _ => r.skip(wt)?,
        }
    }
    if !key {
        return Err(ProtoError(format!("{what} at offset {start} has no Key")));
    }
    if !value {
        return Err(ProtoError(format!("{what} at offset {start} has no Value")));
    }
    Ok(())
}

/// Whether `b` is a Log in the shape SDKs write — only Time (at most 32 bits), Contents that are
/// plain pairs ([`is_plain_pair`]) and TimeNs, Time present — checked in one tight loop.
/// Anything else goes through the general parser.
#[inline]
fn is_plain_log(b: &[u8]) -> bool {
    let mut p = 0;
    let mut time = false;
    while let Some(&tag) = b.get(p) {
        match tag {
            0x08 => {
                let mut v: u64 = 0;
                let mut i = 0;
                loop {
                    let Some(&x) = b.get(p + 1 + i) else {
                        return false;
                    };
                    v |= u64::from(x & 0x7f) << (7 * i);
                    i += 1;
                    if x < 0x80 {
                        break;
                    }
                    if i == 5 {
                        return false;
                    }
                }
                if v > u64::from(u32::MAX) {
                    return false;
                }
                p += 1 + i;
                time = true;
            }
            0x12 => {
                let Some((len, n)) = short_len(b, p + 1) else {
                    return false;
                };
                let from = p + 1 + n;
                match b.get(from..from + len) {
                    Some(pair) if is_plain_pair(pair) => p = from + len,
                    _ => return false,
                }
            }
            0x25 if p + 5 <= b.len() => p += 5,
            _ => return false,
        }
    }
    time
}

fn validate_log<const SHORTCUTS: bool>(r: Reader<'_>) -> Result<(), ProtoError> {
    if SHORTCUTS && is_plain_log(r.buf) {
        Ok(())
    } else {
        validate_log_fields::<SHORTCUTS>(r)
    }
}

fn validate_log_fields<const SHORTCUTS: bool>(mut r: Reader<'_>) -> Result<(), ProtoError> {
    let start = r.base;
    let mut time = false;
    while !r.done() {
        let at = r.at();
        let (field, wt) = r.key()?;
        match field {
            1 => {
                expect_wt(field, wt, WT_VARINT, "Log", at)?;
                let v = r.varint()?;
                if v > u64::from(u32::MAX) {
                    return Err(ProtoError(format!(
                        "Log Time at offset {at} does not fit 32 bits"
                    )));
                }
                time = true;
            }
            2 => {
                expect_wt(field, wt, WT_LEN, "Log", at)?;
                validate_pair::<SHORTCUTS>(r.bytes()?, "Content")?;
            }
            4 => {
                expect_wt(field, wt, WT_FIXED32, "Log", at)?;
                r.skip(wt)?;
            }
            _ => r.skip(wt)?,
        }
    }
    if !time {
        return Err(ProtoError(format!("Log at offset {start} has no Time")));
    }
    Ok(())
}

/// Checks that `buf` is a well-formed LogGroup: every tag, length and nested message in bounds,
/// required fields present, known fields with their wire types, the string fields of the group
/// (topic, source, …) UTF-8. Unknown fields are allowed.
/// Never allocates and never panics.
///
/// Logs and pairs in the shape the SDKs write are recognised by shortcuts (`is_plain_log`,
/// `is_plain_pair`) that accept only what the general parser accepts.
pub fn validate_log_group(buf: &[u8]) -> Result<LogGroupInfo, ProtoError> {
    validate_log_group_with::<true>(buf)
}

/// [`validate_log_group`] with every Log and pair read by the general parser, none by the
/// shortcuts: the same answer on every input, more slowly. It exists so that tests and the
/// fuzz targets can check that agreement.
pub fn validate_log_group_without_shortcuts(buf: &[u8]) -> Result<LogGroupInfo, ProtoError> {
    validate_log_group_with::<false>(buf)
}

fn validate_log_group_with<const SHORTCUTS: bool>(buf: &[u8]) -> Result<LogGroupInfo, ProtoError> {
    let mut r = Reader {
        buf,
        pos: 0,
        base: 0,
    };
    let mut logs = 0;
    while !r.done() {
        let at = r.at();
        let (field, wt) = r.key()?;
        match field {
            1 => {
                expect_wt(field, wt, WT_LEN, "LogGroup", at)?;
                validate_log::<SHORTCUTS>(r.bytes()?)?;
                logs += 1;
            }
            2..=5 => {
                expect_wt(field, wt, WT_LEN, "LogGroup", at)?;
                // proto2 `string` fields: decoders (prost, Java) refuse invalid UTF-8 here.
                let s = r.bytes()?;
                if std::str::from_utf8(s.buf).is_err() {
                    return Err(ProtoError(format!(
                        "LogGroup field {field} at offset {at} is not UTF-8"
                    )));
                }
            }
            6 => {
                expect_wt(field, wt, WT_LEN, "LogGroup", at)?;
                validate_pair::<SHORTCUTS>(r.bytes()?, "LogTag")?;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(LogGroupInfo { logs })
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Bytes that [`frame_log_group`] adds for a group of `group_len` bytes.
pub fn framed_len(group_len: usize) -> usize {
    1 + varint_len(group_len as u64) + group_len
}

/// Appends `group` to `out` as one entry of a LogGroupList (field 1, length-delimited), so a list
/// is built by concatenating stored groups without re-encoding them.
pub fn frame_log_group(out: &mut Vec<u8>, group: &[u8]) {
    frame_header(out, group.len());
    out.extend_from_slice(group);
}

/// Appends to `out` the bytes that precede a group of `group_len` bytes in a LogGroupList: the
/// key of field 1 and the length.
pub fn frame_header(out: &mut Vec<u8>, group_len: usize) {
    out.push(0x0a);
    let mut v = group_len as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn kv(k: &str, v: &[u8]) -> LogContent {
        LogContent {
            key: k.as_bytes().to_vec(),
            value: v.to_vec(),
        }
    }

    fn groups() -> Vec<LogGroup> {
        vec![
            LogGroup::default(),
            LogGroup {
                logs: vec![Log {
                    time: 1,
                    contents: vec![],
                    time_ns: None,
                }],
                topic: Some(String::new()),
                ..Default::default()
            },
            LogGroup {
                logs: (0..20)
                    .map(|i| Log {
                        time: 1_700_000_000 + i,
                        contents: vec![kv("a", b"1"), kv("msg", &[0xff, 0xfe, b'x']), kv("", b"")],
                        time_ns: Some(i * 1000),
                    })
                    .collect(),
                reserved: Some("r".into()),
                topic: Some("topic".into()),
                source: Some("10.1.2.3".into()),
                machine_uuid: Some("uuid".into()),
                log_tags: vec![
                    LogTag {
                        key: b"__tag__:a".to_vec(),
                        value: b"b".to_vec(),
                    },
                    LogTag {
                        key: b"t".to_vec(),
                        value: vec![],
                    },
                ],
            },
        ]
    }

    #[test]
    fn valid_groups_validate_and_frame_into_a_list() {
        let gs = groups();
        let mut list = Vec::new();
        for g in &gs {
            let bytes = g.encode_to_vec();
            assert_eq!(validate_log_group(&bytes).unwrap().logs, g.logs.len());
            let before = list.len();
            frame_log_group(&mut list, &bytes);
            assert_eq!(list.len() - before, framed_len(bytes.len()));
        }
        let decoded = LogGroupList::decode(list.as_slice()).unwrap();
        assert_eq!(decoded.log_groups, gs);
    }

    /// A reader over a whole message.
    fn reader(buf: &[u8]) -> Reader<'_> {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    #[test]
    fn the_pair_shortcut_agrees_with_the_parser() {
        let general = |b: &[u8]| validate_pair_fields(reader(b), "Content").is_ok();
        // Every pair prost writes, across the one/two-byte length boundaries.
        for key_len in [0, 1, 127, 128, 300] {
            for value_len in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
                let b = kv(&"k".repeat(key_len), &vec![b'v'; value_len]).encode_to_vec();
                let short = key_len < 128 && value_len < 16_384;
                assert_eq!(is_plain_pair(&b), short, "{key_len} {value_len}");
                assert!(general(&b));
            }
        }
        // And never a yes where the parser says no: every prefix, every one-byte change.
        let b = kv("level", b"INFO").encode_to_vec();
        for cut in 0..b.len() {
            assert!(
                !is_plain_pair(&b[..cut]) || general(&b[..cut]),
                "cut at {cut}"
            );
        }
        for at in 0..b.len() {
            for x in 0..=255u8 {
                let mut m = b.clone();
                m[at] = x;
                assert!(!is_plain_pair(&m) || general(&m), "{at} = {x}");
            }
        }
        let mut longer = b.clone();
        longer.extend_from_slice(&[0x18, 1]);
        assert!(
            !is_plain_pair(&longer) && general(&longer),
            "extra fields take the long way"
        );
    }

    #[test]
    fn the_log_shortcut_agrees_with_the_parser() {
        let general = |b: &[u8]| validate_log_fields::<false>(reader(b)).is_ok();
        let logs: Vec<Vec<u8>> = groups()
            .iter()
            .flat_map(|g| g.logs.iter().map(|l| l.encode_to_vec()))
            .chain([
                Log {
                    time: u32::MAX,
                    contents: vec![kv("k", &[b'v'; 200])],
                    time_ns: Some(7),
                }
                .encode_to_vec(),
                Log {
                    time: 0,
                    contents: vec![],
                    time_ns: None,
                }
                .encode_to_vec(),
            ])
            .collect();
        let mut plain = 0;
        for b in &logs {
            assert!(general(b));
            plain += usize::from(is_plain_log(b));
            for cut in 0..b.len() {
                assert!(
                    !is_plain_log(&b[..cut]) || general(&b[..cut]),
                    "cut at {cut}"
                );
            }
            for at in 0..b.len().min(64) {
                for x in 0..=255u8 {
                    let mut m = b.clone();
                    m[at] = x;
                    assert!(!is_plain_log(&m) || general(&m), "{at} = {x} in {b:?}");
                }
            }
        }
        assert!(
            plain >= logs.len() - 1,
            "SDK-shaped logs take the short way"
        );
        // Time beyond 32 bits, in 5 bytes, and a Log without Time.
        assert!(!is_plain_log(&[0x08, 0x80, 0x80, 0x80, 0x80, 0x10]));
        assert!(!is_plain_log(&[0x25, 1, 2, 3, 4]));
        assert!(is_plain_log(&[0x08, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    }

    #[test]
    fn framing_long_groups() {
        let g = LogGroup {
            logs: vec![Log {
                time: 1,
                contents: vec![kv("k", &vec![b'v'; 300_000])],
                time_ns: None,
            }],
            ..Default::default()
        };
        let bytes = g.encode_to_vec();
        let mut list = Vec::new();
        frame_log_group(&mut list, &bytes);
        assert_eq!(list.len(), framed_len(bytes.len()));
        assert_eq!(
            LogGroupList::decode(list.as_slice()).unwrap().log_groups,
            vec![g]
        );
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut bytes = groups()[2].encode_to_vec();
        // field 9 varint, field 10 fixed64, field 11 bytes, field 12 fixed32
        bytes.extend_from_slice(&[
            9 << 3,
            5,
            (10 << 3) | 1,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            (11 << 3) | 2,
            2,
            b'h',
            b'i',
            (12 << 3) | 5,
            1,
            2,
            3,
            4,
        ]);
        assert!(validate_log_group(&bytes).is_ok());
    }

    #[test]
    fn field_numbers_and_varints_beyond_protobuf_are_refused() {
        // Found by the log_group fuzz target: field number 2^39 - 6, which prost refuses.
        let big_field = [0xd0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0x1f];
        assert!(LogGroup::decode(&big_field[..]).is_err());
        assert!(validate_log_group(&big_field)
            .unwrap_err()
            .to_string()
            .contains("field number"));
        // The largest field number protobuf allows is an unknown field like any other.
        let max_field = [0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01];
        assert!(LogGroup::decode(&max_field[..]).is_ok());
        assert!(validate_log_group(&max_field).is_ok());
        let past_max = [0x80, 0x80, 0x80, 0x80, 0x10, 0x01];
        assert!(validate_log_group(&past_max).is_err());
        // A ten-byte varint whose last byte carries more than bit 63, in an unknown field.
        let mut overflow = vec![9 << 3];
        overflow.extend_from_slice(&[0xff; 9]);
        overflow.push(0x02);
        assert!(LogGroup::decode(overflow.as_slice()).is_err());
        assert!(validate_log_group(&overflow)
            .unwrap_err()
            .to_string()
            .contains("64 bits"));
        *overflow.last_mut().unwrap() = 0x01;
        assert!(LogGroup::decode(overflow.as_slice()).is_ok());
        assert!(validate_log_group(&overflow).is_ok());
    }

    #[test]
    fn missing_required_fields() {
        // Log without Time: LogGroup{1: Log{2: Content{1:"k",2:"v"}}}
        let content = [0x0a, 1, b'k', 0x12, 1, b'v'];
        let mut log = vec![0x12, content.len() as u8];
        log.extend_from_slice(&content);
        let mut g = vec![0x0a, log.len() as u8];
        g.extend_from_slice(&log);
        assert!(validate_log_group(&g)
            .unwrap_err()
            .to_string()
            .contains("no Time"));
        // Content without Value.
        let g = [0x0a, 7, 0x08, 1, 0x12, 3, 0x0a, 1, b'k'];
        assert!(validate_log_group(&g)
            .unwrap_err()
            .to_string()
            .contains("no Value"));
        // Wrong wire type for Log.
        assert!(validate_log_group(&[0x08, 1]).is_err());
        // Group wire types are refused.
        assert!(validate_log_group(&[(7 << 3) | 3]).is_err());
    }

    #[test]
    fn truncation_at_every_offset_is_an_error_or_a_valid_prefix() {
        let bytes = groups()[2].encode_to_vec();
        // The first Log ends here; cutting anywhere inside it must fail.
        let first_log_end = 2 + bytes[1] as usize;
        for cut in 0..bytes.len() {
            let res = validate_log_group(&bytes[..cut]);
            if cut > 0 && cut < first_log_end {
                assert!(res.is_err(), "cut at {cut} inside the first Log validated");
            }
            if let Ok(info) = res {
                // A valid prefix decodes to the same number of logs with prost.
                assert_eq!(
                    LogGroup::decode(&bytes[..cut]).unwrap().logs.len(),
                    info.logs
                );
            }
        }
    }

    #[test]
    fn random_corruption_never_panics_and_agrees_with_prost() {
        let base = groups()[2].encode_to_vec();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut b = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            let mine = validate_log_group(&b);
            if mine.is_ok() {
                // Whatever we accept, a full decoder accepts too.
                assert!(
                    LogGroup::decode(b.as_slice()).is_ok(),
                    "accepted bytes prost rejects: {b:?}"
                );
            }
        }
    }
}
