//! The data plane: PutLogs, PullLogs, GetCursor, GetCursorTime.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use cairn_proto::lz4::{self, Joiner};
use cairn_proto::CompressType;
use cairn_storage::{Encoding, Record, ShardLog, MAX_PAYLOAD};

use super::stream_query::{self, SplCounts};
use super::{Error, Result, Service, MAX_PULL_BYTES, MAX_PULL_COUNT};
use crate::excerpt::excerpt;
use crate::meta::ShardStatus;

/// Where a PutLogs goes.
#[derive(Debug, Clone, Copy)]
pub enum PutTarget {
    /// Any readwrite shard (round robin): `/shards/lb` and bare `/logstores/{ls}`.
    LoadBalance,
    /// The readwrite shard whose hash range holds the key: `/shards/route?key=`.
    HashKey(u128),
}

/// Where GetCursor starts.
#[derive(Debug, Clone, Copy)]
pub enum CursorFrom {
    /// Oldest retained LogGroup.
    Begin,
    /// After the newest LogGroup.
    End,
    /// First LogGroup received at or after this unix time (seconds).
    Time(i64),
}

/// A PullLogs answer, encoded.
#[derive(Debug)]
pub struct PullAnswer {
    /// What was read.
    pub result: PullResult,
    /// The LogGroupList in the answer's encoding (empty when nothing was read).
    pub body: Vec<u8>,
    /// Its length before compression.
    pub raw_len: usize,
    /// LogGroups in the body.
    pub count: usize,
    /// What an SPL query did, when the pull had one.
    pub spl: Option<SplCounts>,
}

/// The form of a PullLogs answer's body (design §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFormat {
    /// A LogGroupList protobuf (every classic SDK and consumer library).
    Protobuf,
    /// The LogGroupList as JSON, for clients that accept only `application/json` (the OpenAPI
    /// SDKs' generated clients).
    Json,
}

/// What PullLogs answers.
#[derive(Debug)]
pub struct PullResult {
    /// LogGroups read, in cursor order.
    pub records: Vec<Record>,
    /// Cursor to continue from (the request cursor when nothing was read).
    pub next_cursor: u64,
    /// The shard's end cursor when the read happened.
    pub shard_end: u64,
}

impl PullResult {
    /// The answer's body in `format`, compressed with `ct`, and its uncompressed length.
    pub fn encode_as(&self, format: PullFormat, ct: CompressType) -> Result<(Vec<u8>, usize)> {
        match format {
            PullFormat::Protobuf => self.encode(ct),
            PullFormat::Json => self.encode_json(ct),
        }
    }

    /// The records as the JSON LogGroupList of design §5.2 — `{"logGroupList": [...]}`, also
    /// when there are none — compressed with `ct`, and its uncompressed length. Written one
    /// group at a time, straight from the decoded LogGroup.
    pub fn encode_json(&self, ct: CompressType) -> Result<(Vec<u8>, usize)> {
        let mut raw = b"{\"logGroupList\":[".to_vec();
        let mut bytes = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            let g = decode_group(r, &mut bytes)?;
            if i > 0 {
                raw.push(b',');
            }
            serde_json::to_writer(&mut raw, &json_answer::Group(&g))
                .expect("writing JSON into memory does not fail");
        }
        raw.extend_from_slice(b"]}");
        let raw_len = raw.len();
        let body = match ct {
            CompressType::None => raw,
            _ => cairn_proto::compress(ct, &raw),
        };
        Ok((body, raw_len))
    }

    /// The answer's body: the records as a LogGroupList in `ct`, and its uncompressed length.
    /// With lz4, records stored as LZ4 blocks are joined without being decompressed (design
    /// §5.1); runs of records stored plain are compressed together and joined the same way.
    pub fn encode(&self, ct: CompressType) -> Result<(Vec<u8>, usize)> {
        let raw_len: usize = self
            .records
            .iter()
            .map(|r| cairn_proto::framed_len(r.raw_len()))
            .sum();
        if self.records.is_empty() {
            return Ok((Vec::new(), 0));
        }
        if ct != CompressType::Lz4 {
            let mut raw = Vec::with_capacity(raw_len);
            for r in &self.records {
                cairn_proto::frame_header(&mut raw, r.raw_len());
                decode_into(r, &mut raw)?;
            }
            let body = match ct {
                CompressType::None => raw,
                _ => cairn_proto::compress(ct, &raw),
            };
            return Ok((body, raw_len));
        }
        let stored: usize = self.records.iter().map(|r| r.payload.len() + 8).sum();
        let mut out = Joiner::with_capacity(stored);
        // Plain records waiting to be compressed as one run, and a buffer for a frame header.
        let mut run = Vec::new();
        let mut scratch = Vec::new();
        let flush = |out: &mut Joiner, run: &mut Vec<u8>, scratch: &mut Vec<u8>| {
            if run.is_empty() {
                return;
            }
            cairn_proto::compress_into(CompressType::Lz4, run, scratch);
            // `block` changes nothing when it refuses; the run then goes in uncompressed.
            if out.block(scratch, run.len()).is_err() {
                out.literals(run);
            }
            run.clear();
        };
        for r in &self.records {
            match r.encoding {
                Encoding::Plain => cairn_proto::frame_log_group(&mut run, &r.payload),
                Encoding::Lz4 { raw_len } => {
                    flush(&mut out, &mut run, &mut scratch);
                    scratch.clear();
                    cairn_proto::frame_header(&mut scratch, raw_len as usize);
                    out.literals(&scratch);
                    out.stored(&r.payload, raw_len as usize)
                        .map_err(|e| stored_error(r, &e))?;
                }
            }
        }
        flush(&mut out, &mut run, &mut scratch);
        debug_assert_eq!(out.raw_len(), raw_len);
        Ok((out.finish(), raw_len))
    }
}

/// The JSON form of a LogGroup in PullLogs answers (design §5.2), serialized from the decoded
/// group without copying it.
mod json_answer {
    use serde::ser::SerializeMap;
    use serde::{Serialize, Serializer};

    fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(b)
    }

    /// `{"Key", "Value"}`.
    struct Pair<'a>(&'a [u8], &'a [u8]);

    impl Serialize for Pair<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("Key", &text(self.0))?;
            m.serialize_entry("Value", &text(self.1))?;
            m.end()
        }
    }

    /// Serializes as the sequence its function makes.
    struct SeqOf<F>(F);

    impl<F, I> Serialize for SeqOf<F>
    where
        F: Fn() -> I,
        I: IntoIterator,
        I::Item: Serialize,
    {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq((self.0)())
        }
    }

    /// `{"Time", "TimeNs"?, "Contents"}`.
    struct Item<'a>(&'a cairn_proto::Log);

    impl Serialize for Item<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let l = self.0;
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("Time", &l.time)?;
            if let Some(ns) = l.time_ns {
                m.serialize_entry("TimeNs", &ns)?;
            }
            let contents = || l.contents.iter().map(|c| Pair(&c.key, &c.value));
            m.serialize_entry("Contents", &SeqOf(contents))?;
            m.end()
        }
    }

    /// `{"Topic", "Source", "LogTags", "LogItems"}`.
    pub(in crate::service) struct Group<'a>(pub &'a cairn_proto::LogGroup);

    impl Serialize for Group<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let g = self.0;
            let mut m = s.serialize_map(Some(4))?;
            m.serialize_entry("Topic", g.topic.as_deref().unwrap_or(""))?;
            m.serialize_entry("Source", g.source.as_deref().unwrap_or(""))?;
            let tags = || g.log_tags.iter().map(|t| Pair(&t.key, &t.value));
            m.serialize_entry("LogTags", &SeqOf(tags))?;
            m.serialize_entry("LogItems", &SeqOf(|| g.logs.iter().map(Item)))?;
            m.end()
        }
    }
}

/// The JSON form of a LogGroup in PullLogs answers.
pub(super) fn json_group(g: &cairn_proto::LogGroup) -> impl serde::Serialize + '_ {
    json_answer::Group(g)
}

/// A request body compressed as `compress` says (`raw_size`: its `x-log-bodyrawsize`),
/// decompressed to at most `limit` bytes.
pub fn decompress_body(
    compress: CompressType,
    body: &[u8],
    raw_size: Option<usize>,
    limit: usize,
) -> Result<Vec<u8>> {
    cairn_proto::decompress(compress, body, raw_size, limit).map_err(|e| match e {
        cairn_proto::CodecError::TooLarge { .. } => {
            Error::PostBodyTooLarge(format!("decompressed body is larger than {limit} bytes"))
        }
        other => Error::PostBodyUncompress(format!("cannot decompress the body: {other}")),
    })
}

/// A record whose stored bytes do not decode.
fn stored_error(r: &Record, e: &dyn std::fmt::Display) -> Error {
    Error::Internal(format!("stored LogGroup at cursor {}: {e}", r.cursor))
}

/// The LogGroup a record holds, decoded; `buf` is scratch space (left holding its bytes).
pub(super) fn decode_group(r: &Record, buf: &mut Vec<u8>) -> Result<cairn_proto::LogGroup> {
    buf.clear();
    decode_into(r, buf)?;
    <cairn_proto::LogGroup as prost::Message>::decode(&buf[..]).map_err(|e| stored_error(r, &e))
}

/// Appends the LogGroup a record holds to `out`, decompressing it in place when it is stored
/// as an LZ4 block.
pub(super) fn decode_into(r: &Record, out: &mut Vec<u8>) -> Result<()> {
    match r.encoding {
        Encoding::Plain => out.extend_from_slice(&r.payload),
        Encoding::Lz4 { raw_len } => {
            let (block, _) = lz4::split_stored(&r.payload)
                .ok_or_else(|| stored_error(r, &"no room for its trailer"))?;
            let at = out.len();
            out.resize(at + raw_len as usize, 0);
            cairn_proto::lz4_decompress_exact(block, &mut out[at..])
                .map_err(|e| stored_error(r, &e))?;
        }
    }
    Ok(())
}

/// Parses a 128-bit hash key written as hex (32 digits; shorter keys are right-padded with `0`,
/// as a prefix of the key space).
pub fn parse_hash_key(s: &str) -> Result<u128> {
    let bad = || {
        Error::ParameterInvalid(format!(
            "hash key {:?} is not a hexadecimal key of at most 32 digits",
            excerpt(s)
        ))
    };
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let padded = format!("{s:0<32}");
    u128::from_str_radix(&padded, 16).map_err(|_| bad())
}

impl Service {
    /// PutLogs: validates `group` (an uncompressed LogGroup) and appends it durably.
    /// Returns the shard it went to and its cursor.
    pub fn put_logs(
        &self,
        project: &str,
        logstore: &str,
        target: PutTarget,
        group: &[u8],
    ) -> Result<(u32, u64)> {
        self.put_log_group(project, logstore, target, group, None)
    }

    /// PutLogs of a body as it arrived, compressed as `compress` says (`raw_size`: its
    /// `x-log-bodyrawsize`), its LogGroup at most `limit` bytes once decompressed. An LZ4 body is
    /// stored as it arrived when it can be joined into pull answers (design §5). Answers the
    /// shard and cursor of the LogGroup.
    #[allow(clippy::too_many_arguments)] // one argument per part of the request
    pub fn put_body(
        &self,
        project: &str,
        logstore: &str,
        target: PutTarget,
        compress: CompressType,
        body: &[u8],
        raw_size: Option<usize>,
        limit: usize,
    ) -> Result<(u32, u64)> {
        if compress == CompressType::None {
            return self.put_logs(project, logstore, target, body);
        }
        let group = decompress_body(compress, body, raw_size, limit)?;
        if compress == CompressType::Lz4 {
            self.put_logs_lz4(project, logstore, target, &group, body)
        } else {
            self.put_logs(project, logstore, target, &group)
        }
    }

    /// PutLogs of a LogGroup that arrived as the LZ4 block `block` and decompressed to `group`.
    /// A block that can be joined into pull answers is what is stored, followed by the position
    /// of its last sequence; otherwise `group` is (design §5).
    pub fn put_logs_lz4(
        &self,
        project: &str,
        logstore: &str,
        target: PutTarget,
        group: &[u8],
        block: &[u8],
    ) -> Result<(u32, u64)> {
        let stored = if block.len() + lz4::TRAILER_LEN <= MAX_PAYLOAD {
            lz4::trailer(block, group.len()).map(|t| (block, t))
        } else {
            None
        };
        self.put_log_group(project, logstore, target, group, stored)
    }

    fn put_log_group(
        &self,
        project: &str,
        logstore: &str,
        target: PutTarget,
        group: &[u8],
        block: Option<(&[u8], [u8; lz4::TRAILER_LEN])>,
    ) -> Result<(u32, u64)> {
        if group.is_empty() {
            return Err(Error::PostBodyInvalid(
                "the PutLogs body is empty; a LogGroup with at least one log is expected".into(),
            ));
        }
        let info = cairn_proto::validate_log_group(group)
            .map_err(|e| Error::PostBodyInvalid(format!("invalid LogGroup: {e}")))?;
        if info.logs == 0 {
            return Err(Error::PostBodyInvalid(
                "the LogGroup holds no logs; at least one log is expected".into(),
            ));
        }
        let ls = self.logstore(project, logstore)?;
        let writable = || {
            ls.rec
                .shards
                .iter()
                .filter(|s| s.status == ShardStatus::Readwrite)
        };
        let shard = match target {
            PutTarget::LoadBalance => {
                let n = writable().count();
                if n == 0 {
                    return Err(Error::Internal("logstore has no readwrite shard".into()));
                }
                let i = ls.lb.fetch_add(1, Ordering::Relaxed) % n;
                writable().nth(i).expect("index below count").id
            }
            PutTarget::HashKey(key) => {
                writable()
                    .find(|s| s.owns(key))
                    .ok_or_else(|| {
                        Error::Internal(format!("no readwrite shard owns key {key:032x}"))
                    })?
                    .id
            }
        };
        let log = ls.shard_log(shard)?;
        let appended = match block {
            Some((b, trailer)) => self.store.append_durable(
                log,
                Encoding::Lz4 {
                    raw_len: u32::try_from(group.len())
                        .map_err(|_| Error::Internal("LogGroup over 4 GiB".into()))?,
                },
                &[b, &trailer],
            )?,
            None => self.store.append_durable(log, Encoding::Plain, &[group])?,
        };
        Ok((shard, appended.cursor))
    }

    /// GetCursor.
    pub fn get_cursor(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        from: CursorFrom,
    ) -> Result<u64> {
        let ls = self.logstore(project, logstore)?;
        let log = ls.shard_log(shard)?;
        Ok(match from {
            CursorFrom::Begin => log.begin(),
            CursorFrom::End => log.end(),
            CursorFrom::Time(t) => log.cursor_for_time(t)?,
        })
    }

    /// GetCursorTime: the receive time (unix seconds) of the LogGroup at `cursor`. The end cursor
    /// of a non-empty shard answers the time of its newest LogGroup.
    pub fn get_cursor_time(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        cursor: u64,
    ) -> Result<u64> {
        let ls = self.logstore(project, logstore)?;
        let log = ls.shard_log(shard)?;
        let (begin, end) = (log.begin(), log.end());
        let at = if cursor == end && end > begin {
            end - 1
        } else {
            cursor
        };
        if at < begin || at >= end {
            return Err(Error::InvalidCursor(format!(
                "cursor {cursor} is out of range [{begin}, {end}) of shard {shard}"
            )));
        }
        Ok(log.record_meta(at)?.receive_millis / 1000)
    }

    /// PullLogs: up to `count` LogGroups from `cursor`, stopping before `end_cursor` if given.
    pub fn pull_logs(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        cursor: u64,
        count: usize,
        end_cursor: Option<u64>,
    ) -> Result<PullResult> {
        match self.start_pull(project, logstore, shard, cursor, count, end_cursor)? {
            Pull::Answered(res) => Ok(res),
            Pull::Read(read) => read.run(),
        }
    }

    /// PullLogs, answered in `encoding`: a consumer at the end of its shard is answered at
    /// once, without a thread hop or a read of the shard's files; reads and encoding run on a
    /// blocking thread.
    #[allow(clippy::too_many_arguments)] // one argument per parameter of the API call
    pub async fn pull(
        self: &Arc<Self>,
        project: &str,
        logstore: &str,
        shard: u32,
        cursor: u64,
        count: usize,
        end_cursor: Option<u64>,
        encoding: CompressType,
        format: PullFormat,
        query: Option<&str>,
    ) -> Result<PullAnswer> {
        let pipeline = query.map(stream_query::pipeline).transpose()?;
        let limits = self.query_limits;
        let answer = move |result: PullResult| match &pipeline {
            Some(p) => stream_query::answer(result, p, limits, format, encoding),
            None => {
                let (body, raw_len) = result.encode_as(format, encoding)?;
                Ok(PullAnswer {
                    count: result.records.len(),
                    spl: None,
                    result,
                    body,
                    raw_len,
                })
            }
        };
        match self.start_pull(project, logstore, shard, cursor, count, end_cursor)? {
            Pull::Answered(result) => answer(result),
            Pull::Read(read) => super::blocking(move || answer(read.run()?)).await,
        }
    }

    /// The first half of [`Service::pull_logs`]: checks the request (with the same errors) and
    /// answers at once, without touching the shard's files, when there is nothing to read — the
    /// cursor is at the shard's end or at `end_cursor`, as for a tailing consumer. So async code
    /// may call it; a [`Pull::Read`] is left to run where blocking is allowed.
    pub fn start_pull(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        cursor: u64,
        count: usize,
        end_cursor: Option<u64>,
    ) -> Result<Pull> {
        if !(1..=MAX_PULL_COUNT).contains(&count) {
            return Err(Error::ParameterInvalid(format!(
                "count {count} is out of range [1, {MAX_PULL_COUNT}]"
            )));
        }
        let ls = self.logstore(project, logstore)?;
        let log = ls.shard_log(shard)?;
        let (begin, end) = (log.begin(), log.end());
        if cursor < begin || cursor > end {
            return Err(Error::InvalidCursor(format!(
                "cursor {cursor} is out of range [{begin}, {end}] of shard {shard}"
            )));
        }
        if let Some(e) = end_cursor {
            if e < begin || e > end {
                return Err(Error::InvalidCursor(format!(
                    "end_cursor {e} is out of range [{begin}, {end}] of shard {shard}"
                )));
            }
        }
        let until = end_cursor.unwrap_or(u64::MAX);
        if cursor >= until.min(end) {
            return Ok(Pull::Answered(PullResult {
                records: Vec::new(),
                next_cursor: cursor,
                shard_end: end,
            }));
        }
        Ok(Pull::Read(PullRead {
            log: log.clone(),
            cursor,
            until,
            count,
            end,
        }))
    }
}

/// What [`Service::start_pull`] decided.
pub enum Pull {
    /// Nothing to read: the answer.
    Answered(PullResult),
    /// Records to read from the shard's files.
    Read(PullRead),
}

/// A checked PullLogs that reads from the shard's files ([`PullRead::run`] may block).
pub struct PullRead {
    log: Arc<ShardLog>,
    cursor: u64,
    until: u64,
    count: usize,
    /// The shard's visible end when the request was checked.
    end: u64,
}

impl PullRead {
    /// Reads the records.
    pub fn run(self) -> Result<PullResult> {
        let records = self
            .log
            .read(self.cursor, self.until, self.count, MAX_PULL_BYTES)?;
        let next_cursor = records.last().map_or(self.cursor, |r| r.cursor + 1);
        Ok(PullResult {
            records,
            next_cursor,
            shard_end: self.end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{proj_ls1, reopen, service, service_with_manual_clock};
    use super::*;
    use cairn_proto::{Log, LogContent, LogGroup};
    use prost::Message;
    use std::sync::Arc;

    fn setup(svc: &Service, shards: u32) {
        proj_ls1(svc, shards, 1);
    }

    fn group(i: u32) -> Vec<u8> {
        LogGroup {
            logs: vec![Log {
                time: 1_700_000_000 + i,
                contents: vec![LogContent {
                    key: b"k".to_vec(),
                    value: format!("value-{i}").into_bytes(),
                }],
                time_ns: Some(i),
            }],
            topic: Some(format!("t{i}")),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// An LZ4 block of `g` (whose last 12 bytes are one repeated byte) that decompresses
    /// correctly but whose last match starts 11 bytes before the end, against the format's end
    /// rules.
    fn late_match_block(g: &[u8]) -> Vec<u8> {
        let lit = &g[..g.len() - 11];
        let mut b = vec![(15 << 4) | 2];
        let mut n = lit.len() - 15;
        while n >= 255 {
            b.push(255);
            n -= 255;
        }
        b.push(n as u8);
        b.extend_from_slice(lit);
        b.extend_from_slice(&[1, 0, 0x50]);
        b.extend_from_slice(&g[g.len() - 5..]);
        b
    }

    #[test]
    fn empty_bodies_and_groups_without_logs_are_refused_and_take_no_cursor() {
        let (svc, _dir) = service();
        setup(&svc, 1);
        let lb = PutTarget::LoadBalance;
        let empty_group = LogGroup {
            topic: Some("t".into()),
            ..Default::default()
        }
        .encode_to_vec();
        for (body, says) in [(&[][..], "empty"), (&empty_group[..], "no logs")] {
            match svc.put_logs("proj", "ls1", lb, body) {
                Err(Error::PostBodyInvalid(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("{other:?}"),
            }
            let block = cairn_proto::compress(CompressType::Lz4, body);
            assert!(matches!(
                svc.put_logs_lz4("proj", "ls1", lb, body, &block),
                Err(Error::PostBodyInvalid(_))
            ));
        }
        assert_eq!(
            svc.get_cursor("proj", "ls1", 0, CursorFrom::End).unwrap(),
            0
        );
        assert_eq!(svc.put_logs("proj", "ls1", lb, &group(1)).unwrap(), (0, 0));
    }

    #[test]
    fn errors_quote_at_most_an_excerpt_of_a_long_hash_key() {
        let key = "f".repeat(5_000_000);
        let m = parse_hash_key(&key).unwrap_err().to_string();
        assert!(m.len() < 1000, "{} bytes", m.len());
        assert!(m.contains("(5000000 bytes)"), "{m}");
    }

    #[test]
    fn pulls_answer_every_encoding_whatever_each_group_was_stored_as() {
        let (svc, _dir) = service();
        setup(&svc, 1);
        let mut tail = LogGroup::decode(&group(7)[..]).unwrap();
        tail.topic = Some("a".repeat(40));
        let tail = tail.encode_to_vec();
        let late = late_match_block(&tail);
        assert_eq!(
            cairn_proto::decompress(CompressType::Lz4, &late, Some(tail.len()), 1 << 20).unwrap(),
            tail
        );
        assert!(!lz4::joinable(&late, tail.len()));

        let lb = PutTarget::LoadBalance;
        let mut sent = Vec::new();
        for i in 0..12u32 {
            let g = if i % 4 == 3 { tail.clone() } else { group(i) };
            match i % 4 {
                0 | 1 => {
                    let block = cairn_proto::compress(CompressType::Lz4, &g);
                    svc.put_logs_lz4("proj", "ls1", lb, &g, &block).unwrap();
                }
                2 => {
                    svc.put_logs("proj", "ls1", lb, &g).unwrap();
                }
                _ => {
                    svc.put_logs_lz4("proj", "ls1", lb, &g, &late).unwrap();
                }
            }
            sent.push(g);
        }
        let res = svc.pull_logs("proj", "ls1", 0, 0, 1000, None).unwrap();
        let stored: Vec<_> = res.records.iter().map(|r| r.encoding).collect();
        for (i, (enc, g)) in stored.iter().zip(&sent).enumerate() {
            let want = if i % 4 < 2 {
                Encoding::Lz4 {
                    raw_len: g.len() as u32,
                }
            } else {
                Encoding::Plain
            };
            assert_eq!(*enc, want, "group {i} is stored as a block when joinable");
        }
        let mut expected = Vec::new();
        for g in &sent {
            cairn_proto::frame_log_group(&mut expected, g);
        }
        for ct in [
            CompressType::Lz4,
            CompressType::Zstd,
            CompressType::Deflate,
            CompressType::None,
        ] {
            let (body, raw_len) = res.encode(ct).unwrap();
            assert_eq!(raw_len, expected.len(), "{ct:?}");
            let raw = cairn_proto::decompress(ct, &body, Some(raw_len), 1 << 20).unwrap();
            assert_eq!(raw, expected, "{ct:?}");
            if ct != CompressType::None {
                assert!(body.len() < raw.len(), "{ct:?} answers are compressed");
            }
        }
        // A part of the shard, starting and ending anywhere.
        for from in 0..12 {
            let part = svc.pull_logs("proj", "ls1", 0, from, 5, None).unwrap();
            let (body, raw_len) = part.encode(CompressType::Lz4).unwrap();
            let raw = cairn_proto::decompress(CompressType::Lz4, &body, Some(raw_len), 1 << 20);
            let mut want = Vec::new();
            for g in sent.iter().skip(from as usize).take(5) {
                cairn_proto::frame_log_group(&mut want, g);
            }
            assert_eq!(raw.unwrap(), want, "from {from}");
        }
        let none = svc.pull_logs("proj", "ls1", 0, 12, 5, None).unwrap();
        assert_eq!(none.encode(CompressType::Lz4).unwrap(), (Vec::new(), 0));
        // JSON answers hold the same groups, whatever each was stored as; an empty one is still
        // a document.
        let (body, raw_len) = res.encode_json(CompressType::Zstd).unwrap();
        let raw = cairn_proto::decompress(CompressType::Zstd, &body, Some(raw_len), 1 << 20);
        let doc: serde_json::Value = serde_json::from_slice(&raw.unwrap()).unwrap();
        let list = doc["logGroupList"].as_array().unwrap();
        assert_eq!(list.len(), sent.len());
        for (j, g) in list.iter().zip(&sent) {
            let g = LogGroup::decode(&g[..]).unwrap();
            assert_eq!(j["Topic"], g.topic.unwrap_or_default());
            let items = j["LogItems"].as_array().unwrap();
            assert_eq!(items.len(), g.logs.len());
            for (ji, l) in items.iter().zip(&g.logs) {
                assert_eq!(ji["Time"], l.time);
                let contents = ji["Contents"].as_array().unwrap();
                assert_eq!(contents.len(), l.contents.len());
                assert_eq!(
                    contents[0]["Key"],
                    String::from_utf8_lossy(&l.contents[0].key).as_ref()
                );
                assert_eq!(
                    contents[0]["Value"],
                    String::from_utf8_lossy(&l.contents[0].value).as_ref()
                );
            }
        }
        let (empty, len) = none.encode_json(CompressType::None).unwrap();
        assert_eq!(
            (empty.as_slice(), len),
            (&br#"{"logGroupList":[]}"#[..], 19)
        );
    }

    #[test]
    fn pulls_with_nothing_to_read_are_answered_without_a_read() {
        let (svc, _dir) = service();
        setup(&svc, 1);
        for i in 0..3 {
            svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i))
                .unwrap();
        }
        let quick = |cursor, count, end| {
            svc.start_pull("proj", "ls1", 0, cursor, count, end)
                .map(|p| match p {
                    Pull::Answered(res) => Some(res),
                    Pull::Read(_) => None,
                })
        };
        // Data to read: left to pull_logs.
        assert!(quick(0, 10, None).unwrap().is_none());
        assert!(quick(2, 1, Some(3)).unwrap().is_none());
        // Nothing to read: the same answer pull_logs gives.
        for (cursor, end) in [(3, None), (1, Some(1)), (3, Some(3))] {
            let q = quick(cursor, 10, end).unwrap().expect("answered");
            let full = svc.pull_logs("proj", "ls1", 0, cursor, 10, end).unwrap();
            assert!(q.records.is_empty() && full.records.is_empty());
            assert_eq!(
                (q.next_cursor, q.shard_end),
                (full.next_cursor, full.shard_end)
            );
        }
        // And the same refusals.
        for (cursor, count, end) in [
            (4, 10, None),
            (0, 0, None),
            (3, 1001, None),
            (0, 5, Some(9)),
        ] {
            let q = quick(cursor, count, end).unwrap_err().to_string();
            let full = svc
                .pull_logs("proj", "ls1", 0, cursor, count, end)
                .unwrap_err()
                .to_string();
            assert_eq!(q, full);
        }
        assert!(svc.start_pull("proj", "ls1", 7, 0, 10, None).is_err());
    }

    #[test]
    fn put_pull_roundtrip_with_routing_and_lb() {
        let (svc, _dir) = service();
        setup(&svc, 2);
        for i in 0..10 {
            svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i))
                .unwrap();
        }
        assert_eq!(
            svc.get_cursor("proj", "ls1", 0, CursorFrom::End).unwrap(),
            5
        );
        assert_eq!(
            svc.get_cursor("proj", "ls1", 1, CursorFrom::End).unwrap(),
            5
        );
        let (shard, cursor) = svc
            .put_logs("proj", "ls1", PutTarget::HashKey(u128::MAX), &group(99))
            .unwrap();
        assert_eq!((shard, cursor), (1, 5));
        let (shard, _) = svc
            .put_logs("proj", "ls1", PutTarget::HashKey(0), &group(98))
            .unwrap();
        assert_eq!(shard, 0);
        let r = svc.pull_logs("proj", "ls1", 1, 0, 100, None).unwrap();
        assert_eq!(r.records.len(), 6);
        assert_eq!(r.next_cursor, 6);
        assert_eq!(&r.records[5].payload[..], &group(99)[..]);
        let r = svc.pull_logs("proj", "ls1", 1, 2, 2, None).unwrap();
        assert_eq!(
            r.records.iter().map(|r| r.cursor).collect::<Vec<_>>(),
            vec![2, 3]
        );
        let r = svc.pull_logs("proj", "ls1", 1, 6, 100, None).unwrap();
        assert!(r.records.is_empty());
        assert_eq!(r.next_cursor, 6, "at the end the cursor is unchanged");
        let r = svc.pull_logs("proj", "ls1", 1, 1, 100, Some(3)).unwrap();
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.next_cursor, 3);
        assert!(matches!(
            svc.pull_logs("proj", "ls1", 1, 7, 100, None),
            Err(Error::InvalidCursor(_))
        ));
        assert!(matches!(
            svc.pull_logs("proj", "ls1", 9, 0, 100, None),
            Err(Error::ShardNotExist(9))
        ));
        assert!(matches!(
            svc.pull_logs("proj", "ls1", 1, 0, 0, None),
            Err(Error::ParameterInvalid(_))
        ));
    }

    #[test]
    fn bad_group_changes_nothing() {
        let (svc, _dir) = service();
        setup(&svc, 1);
        let mut g = group(1);
        g.truncate(g.len() - 3);
        assert!(matches!(
            svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &g),
            Err(Error::PostBodyInvalid(_))
        ));
        assert_eq!(
            svc.get_cursor("proj", "ls1", 0, CursorFrom::End).unwrap(),
            0
        );
    }

    #[test]
    fn cursor_time_and_seek_follow_receive_time() {
        let (svc, _dir, clock) = service_with_manual_clock(1_000_000_000_000);
        setup(&svc, 1);
        for i in 0..5 {
            svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i))
                .unwrap();
            clock.advance(10_000);
        }
        // Receive times: 1_000_000_000, +10, +20, +30, +40 seconds.
        for c in 0..5u64 {
            assert_eq!(
                svc.get_cursor_time("proj", "ls1", 0, c).unwrap(),
                1_000_000_000 + 10 * c
            );
        }
        assert_eq!(
            svc.get_cursor_time("proj", "ls1", 0, 5).unwrap(),
            1_000_000_040
        );
        assert!(matches!(
            svc.get_cursor_time("proj", "ls1", 0, 6),
            Err(Error::InvalidCursor(_))
        ));
        let at = |t| {
            svc.get_cursor("proj", "ls1", 0, CursorFrom::Time(t))
                .unwrap()
        };
        assert_eq!(at(0), 0);
        assert_eq!(at(1_000_000_000), 0);
        assert_eq!(at(1_000_000_001), 1);
        assert_eq!(at(1_000_000_020), 2);
        assert_eq!(at(1_000_000_041), 5);
    }

    #[test]
    fn retention_moves_begin_and_data_survives_reopen() {
        let (svc, dir, clock) = service_with_manual_clock(1_000_000_000_000);
        setup(&svc, 1);
        // Large groups so that the 64 KiB test segments roll.
        let big = LogGroup {
            logs: vec![Log {
                time: 1,
                contents: vec![LogContent {
                    key: b"k".to_vec(),
                    value: vec![b'x'; 20_000],
                }],
                time_ns: None,
            }],
            ..Default::default()
        }
        .encode_to_vec();
        for _ in 0..10 {
            svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &big)
                .unwrap();
        }
        clock.advance(2 * 86_400_000);
        svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &big)
            .unwrap();
        assert!(svc.run_retention() > 0);
        let begin = svc.get_cursor("proj", "ls1", 0, CursorFrom::Begin).unwrap();
        assert!(begin > 0);
        assert!(matches!(
            svc.pull_logs("proj", "ls1", 0, 0, 10, None),
            Err(Error::InvalidCursor(_))
        ));
        drop(svc);
        let svc = reopen(dir.path(), clock);
        assert_eq!(
            svc.get_cursor("proj", "ls1", 0, CursorFrom::Begin).unwrap(),
            begin
        );
        assert_eq!(
            svc.get_cursor("proj", "ls1", 0, CursorFrom::End).unwrap(),
            11
        );
        let _ = Arc::strong_count(svc.clock());
    }

    #[test]
    fn hash_keys_parse() {
        assert_eq!(
            parse_hash_key("ffffffffffffffffffffffffffffffff").unwrap(),
            u128::MAX
        );
        assert_eq!(parse_hash_key("8").unwrap(), 1u128 << 127);
        assert!(parse_hash_key("").is_err());
        assert!(parse_hash_key("xyz").is_err());
        assert!(parse_hash_key(&"0".repeat(33)).is_err());
    }
}
