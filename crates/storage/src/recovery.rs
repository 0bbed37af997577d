//! Recovery (design §8): classifies what is on disk before a shard serves anything.
//!
//! Every state is sorted into one of three kinds:
//!
//! - **valid** — served as it is (sealed segments whose index holds up, the newest segment's
//!   records up to its last good one, and zeros from there to the end of its file, which stay
//!   reserved space);
//! - **torn** — what a crash may leave of writes that were never acknowledged, repaired by
//!   discarding it: a tail of the newest segment that ends in an incomplete or CRC-failing
//!   record with nothing valid after it, a newest segment whose header never reached the disk, a
//!   missing or unusable index (rebuilt from the log), a leftover temporary index file;
//! - **corrupt** — anything else (a bad header, a gap between segments, a damaged record in a
//!   sealed segment or followed by valid data, a cursor out of sequence). Recovery refuses with
//!   [`StorageError::Corrupt`] naming the file and offset rather than guess.

use std::io;
use std::path::Path;

use crate::index::{
    is_index_tmp, write_index_file, ActiveIndex, Entries, IndexBuilder, IndexEntry, IndexFile,
};
use crate::io::{FileIo, FileRef, Fs};
use crate::io_at;
use crate::record::{
    crc_matches, decode_segment_header, encode_segment_header, index_file_name,
    parse_segment_file_name, segment_file_name, u32_at, unknown_flags, RecordHeader, MAX_PAYLOAD,
    RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_VERSION, SEGMENT_VERSION_MIN,
    SEGMENT_VERSION_OFFSET,
};
use crate::segment::{RecordReader, SegmentMeta, Step};
use crate::{Hlc, StorageError};

/// Bytes read at a time while scanning.
const SCAN_CHUNK: usize = 1 << 20;

/// Largest segment file the index's 32-bit positions can address.
const MAX_SEGMENT_FILE: u64 = u32::MAX as u64;

/// The newest segment as recovered: where appending continues.
pub struct RecoveredActive {
    /// Base cursor.
    pub base: u64,
    /// The file, open for reading and writing.
    pub file: FileRef,
    /// Length after any torn tail was cut off: the end of the last record.
    pub len: u64,
    /// End of the reserved space after it (design §5), `len` when there is none.
    pub reserved: u64,
    /// Cursor of the next record.
    pub next: u64,
    /// Its sparse index, rebuilt from the records.
    pub index: ActiveIndex,
    /// The newest entry of that index, where index building resumes.
    pub last_entry: Option<IndexEntry>,
    /// Receive time of its first record, if it has one.
    pub first_millis: Option<u64>,
}

/// Everything recovery learned about a shard directory.
pub struct Recovered {
    /// Sealed segments, oldest first.
    pub sealed: Vec<SegmentMeta>,
    /// The newest segment.
    pub active: RecoveredActive,
    /// Receive time of the newest record, 0 if there is none.
    pub last_millis: u64,
    /// Cluster timestamp of the newest record.
    pub last_hlc: Option<Hlc>,
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

/// Base cursors of the segment files in `dir`, sorted. Removes leftovers that cannot hold
/// acknowledged data: temporary index files and indexes without a segment.
pub fn list_segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<u64>, StorageError> {
    let names = fs.list_dir(dir).map_err(io_at(dir))?;
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for name in names {
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_segment_file_name(name) {
            bases.push(base);
        } else if name.ends_with(".log") {
            return Err(corrupt(
                &dir.join(name),
                0,
                "a .log file whose name is not a 20-digit cursor",
            ));
        } else if is_index_tmp(name) {
            let p = dir.join(name);
            fs.remove_file(&p).map_err(io_at(&p))?;
        } else if let Some(stem) = name.strip_suffix(".idx") {
            indexes.push((stem.to_string(), name.to_string()));
        }
    }
    bases.sort_unstable();
    for (stem, name) in indexes {
        let orphan = stem
            .parse::<u64>()
            .map_or(true, |b| bases.binary_search(&b).is_err());
        if orphan {
            let p = dir.join(name);
            fs.remove_file(&p).map_err(io_at(&p))?;
        }
    }
    Ok(bases)
}

/// Recovers the shard in `dir`; `None` when it holds no segment.
pub fn recover(
    fs: &dyn Fs,
    dir: &Path,
    index_interval: u32,
) -> Result<Option<Recovered>, StorageError> {
    let bases = list_segments(fs, dir)?;
    let Some((&newest, older)) = bases.split_last() else {
        return Ok(None);
    };
    let mut sealed = Vec::with_capacity(older.len());
    let mut expected: Option<u64> = None;
    let mut last_hlc = None;
    for &base in older {
        let path = dir.join(segment_file_name(base));
        let file = fs.open(&path, false).map_err(io_at(&path))?;
        check_header(&*file, &path, base, expected)?;
        let (meta, hlc) = recover_sealed(fs, dir, base, &*file, index_interval)?;
        expected = Some(meta.next);
        last_hlc = Some(hlc);
        sealed.push(meta);
    }

    let path = dir.join(segment_file_name(newest));
    let file = fs.open(&path, true).map_err(io_at(&path))?;
    let version = match check_header(&*file, &path, newest, expected) {
        Ok(version) => version,
        Err(e) => {
            if !torn_creation(&*file, &path, newest)? {
                return Err(e);
            }
            // The roll that created this file crashed before the header was synced, so no record in
            // it was acknowledged. Rewrite the header (the base comes from the file name) and check
            // again, so that a misplaced segment is still refused.
            tracing::warn!(segment = %path.display(), "segment header never reached the disk; rewriting it");
            file.set_len(0)
                .and_then(|_| file.write_all_at(&encode_segment_header(newest), 0))
                .and_then(|_| file.sync_all())
                .map_err(io_at(&path))?;
            check_header(&*file, &path, newest, expected)?
        }
    };
    if version != SEGMENT_VERSION {
        raise_version(&*file, &path, version)?;
    }
    let (active, tail) = recover_newest(fs, dir, newest, file, index_interval)?;
    let last_millis = match tail {
        Some((millis, hlc)) => {
            last_hlc = Some(hlc);
            millis
        }
        None => sealed.last().map_or(0, |m| m.last_millis),
    };
    Ok(Some(Recovered {
        sealed,
        active,
        last_millis,
        last_hlc: last_hlc.map(Hlc),
    }))
}

/// Raises the header of the segment appends will go to to [`SEGMENT_VERSION`] (design §5), so
/// that records with flags 1 never land in a file an older binary would read as version 1.
fn raise_version(file: &dyn FileIo, path: &Path, from: u32) -> Result<(), StorageError> {
    tracing::info!(segment = %path.display(), from, to = SEGMENT_VERSION,
        "raising the active segment's format version");
    file.write_all_at(&SEGMENT_VERSION.to_le_bytes(), SEGMENT_VERSION_OFFSET)
        .and_then(|_| file.sync_data())
        .map_err(io_at(path))
}

/// The header must be intact, name the file's cursor, and follow the previous segment.
/// Returns its format version.
fn check_header(
    file: &dyn FileIo,
    path: &Path,
    base: u64,
    expected: Option<u64>,
) -> Result<u32, StorageError> {
    let len = file.size().map_err(io_at(path))?;
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    let n = len.min(SEGMENT_HEADER_LEN) as usize;
    file.read_exact_at(&mut h[..n], 0).map_err(io_at(path))?;
    let found = decode_segment_header(&h[..n]).map_err(|e| corrupt(path, 0, e.to_string()))?;
    if found != base {
        return Err(corrupt(
            path,
            16,
            format!("header names base cursor {found}, the file name {base}"),
        ));
    }
    if let Some(exp) = expected {
        if base != exp {
            return Err(corrupt(
                path,
                0,
                format!("gap between segments: the previous segment ends before cursor {exp}, this one starts at {base}"),
            ));
        }
    }
    Ok(u32_at(&h, SEGMENT_VERSION_OFFSET as usize))
}

/// Whether the file looks like a segment whose creation was cut short: its header is not the
/// header of `base`, but every header byte present is either zero or the byte that header has
/// there (a partly written header), and nothing but zeros follows.
fn torn_creation(file: &dyn FileIo, path: &Path, base: u64) -> Result<bool, StorageError> {
    let len = file.size().map_err(io_at(path))?;
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    let n = len.min(SEGMENT_HEADER_LEN) as usize;
    file.read_exact_at(&mut h[..n], 0).map_err(io_at(path))?;
    let expected = encode_segment_header(base);
    // A header an older binary was writing carries its own version.
    let mut older = expected;
    older[SEGMENT_VERSION_OFFSET as usize..SEGMENT_VERSION_OFFSET as usize + 4]
        .copy_from_slice(&SEGMENT_VERSION_MIN.to_le_bytes());
    let partly = |want: &[u8]| {
        h[..n]
            .iter()
            .zip(want.iter())
            .all(|(got, want)| *got == 0 || got == want)
    };
    if h == expected || !(partly(&expected) || partly(&older)) {
        return Ok(false);
    }
    zeros_to_end(file, n as u64, len).map_err(io_at(path))
}

/// Whether bytes `from .. len` of `file` are all zero.
fn zeros_to_end(file: &dyn FileIo, mut from: u64, len: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; SCAN_CHUNK.min(len.saturating_sub(from) as usize)];
    while from < len {
        let k = ((len - from) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..k], from)?;
        if buf[..k].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        from += k as u64;
    }
    Ok(true)
}

/// A sealed segment is trusted through its index when the index holds up; otherwise it is
/// scanned in full and its index rewritten. Returns its summary and the cluster timestamp of
/// its last record.
fn recover_sealed(
    fs: &dyn Fs,
    dir: &Path,
    base: u64,
    file: &dyn FileIo,
    index_interval: u32,
) -> Result<(SegmentMeta, u64), StorageError> {
    let path = dir.join(segment_file_name(base));
    let len = file.size().map_err(io_at(&path))?;
    if len > MAX_SEGMENT_FILE {
        return Err(corrupt(&path, 0, "segment is larger than 4 GiB"));
    }
    match trust_index(fs, dir, base, file, len)? {
        Ok(found) => return Ok(found),
        Err(why) => {
            tracing::warn!(segment = %path.display(), reason = %why, "rebuilding a sealed segment's index from the log")
        }
    }
    let mut builder = IndexBuilder::new(index_interval);
    let mut entries = Vec::new();
    let scan = scan_records(file, &path, base, len, |h, pos| {
        entries.extend(builder.observe(h.cursor - base, pos, h.receive_millis));
    })?;
    if let Some((pos, reason)) = scan.bad {
        return Err(corrupt(&path, pos, format!("sealed segment: {reason}")));
    }
    let (Some(first), Some(last)) = (scan.first, scan.last) else {
        return Err(corrupt(
            &path,
            SEGMENT_HEADER_LEN,
            "sealed segment holds no records",
        ));
    };
    write_index_file(fs, dir, base, &entries)
        .map_err(|(p, e)| StorageError::Io { path: p, source: e })?;
    Ok((
        SegmentMeta {
            base,
            next: scan.next,
            len,
            first_millis: first.receive_millis,
            last_millis: last.receive_millis,
        },
        last.hlc,
    ))
}

/// Checks a sealed segment's index: whole file, first entry naming the first record, and the
/// records from the last entry to the end of the file valid and in sequence. Entries in between
/// are checked when a lookup uses them ([`crate::segment::SegmentFile::walk`]), which keeps
/// start-up from reading every index in full. `Ok(Err(reason))` when the index cannot be used.
#[allow(clippy::type_complexity)]
fn trust_index(
    fs: &dyn Fs,
    dir: &Path,
    base: u64,
    file: &dyn FileIo,
    len: u64,
) -> Result<Result<(SegmentMeta, u64), String>, StorageError> {
    let path = dir.join(segment_file_name(base));
    let idx_path = dir.join(index_file_name(base));
    let idx = match fs.open(&idx_path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Err("index is missing".into())),
        Err(e) => return Err(io_at(&idx_path)(e)),
    };
    let entries = match IndexFile::new(&*idx).map_err(io_at(&idx_path))? {
        Ok(f) => f,
        Err(bad) => return Ok(Err(bad.0)),
    };
    let count = entries.count();
    if count == 0 {
        return Ok(Err("index has no entries".into()));
    }
    let first = entries.get(0).map_err(io_at(&idx_path))?;
    let last = entries.get(count - 1).map_err(io_at(&idx_path))?;
    let plausible = first.rel_cursor == 0
        && u64::from(first.pos) == SEGMENT_HEADER_LEN
        && u64::from(last.rel_cursor) >= (count - 1) as u64
        && u64::from(last.pos)
            >= SEGMENT_HEADER_LEN + (count as u64 - 1) * RECORD_HEADER_LEN as u64
        && u64::from(last.pos) + RECORD_HEADER_LEN as u64 <= len
        && last.receive_secs >= first.receive_secs;
    if !plausible {
        return Ok(Err("index entries do not fit the segment".into()));
    }
    // The first record gives the segment's first receive time.
    let mut hb = [0u8; RECORD_HEADER_LEN];
    file.read_exact_at(&mut hb, SEGMENT_HEADER_LEN)
        .map_err(io_at(&path))?;
    let head = RecordHeader::decode(&hb);
    if head.cursor != base {
        return Ok(Err("first record does not carry the base cursor".into()));
    }
    // Everything from the last entry on must be valid up to the end of the file.
    let from = base + u64::from(last.rel_cursor);
    let mut reader = RecordReader::new(file, u64::from(last.pos), len, SCAN_CHUNK);
    let mut next = from;
    let mut tail = None;
    loop {
        match reader.next_record().map_err(io_at(&path))? {
            Step::End => break,
            Step::Incomplete { pos } => {
                return Ok(Err(format!(
                    "incomplete record at {pos} after the last entry"
                )))
            }
            Step::Record { header, pos, bytes } => {
                if !crc_matches(&bytes[..RECORD_HEADER_LEN], &bytes[RECORD_HEADER_LEN..])
                    || header.cursor != next
                    || header.encoding().is_none()
                {
                    return Ok(Err(format!("bad record at {pos} after the last entry")));
                }
                next += 1;
                tail = Some(header);
            }
        }
    }
    let Some(tail) = tail else {
        return Ok(Err("no record at the last entry".into()));
    };
    Ok(Ok((
        SegmentMeta {
            base,
            next,
            len,
            first_millis: head.receive_millis,
            last_millis: tail.receive_millis,
        },
        tail.hlc,
    )))
}

/// What a scan of a segment from its first record found.
struct Scan {
    /// Cursor after the last good record.
    next: u64,
    /// Position after the last good record.
    good_len: u64,
    /// First and last good records.
    first: Option<RecordHeader>,
    last: Option<RecordHeader>,
    /// The first bad record: its position and what is wrong. A CRC-valid record out of
    /// sequence is reported as a discontinuity.
    bad: Option<(u64, String)>,
    /// Whether the bad record has a valid CRC (so it is not torn, whatever follows).
    bad_is_discontinuity: bool,
}

fn scan_records(
    file: &dyn FileIo,
    path: &Path,
    base: u64,
    len: u64,
    mut on_record: impl FnMut(&RecordHeader, u64),
) -> Result<Scan, StorageError> {
    let mut reader = RecordReader::new(file, SEGMENT_HEADER_LEN, len, SCAN_CHUNK);
    let mut scan = Scan {
        next: base,
        good_len: SEGMENT_HEADER_LEN,
        first: None,
        last: None,
        bad: None,
        bad_is_discontinuity: false,
    };
    loop {
        match reader.next_record().map_err(io_at(path))? {
            Step::End => return Ok(scan),
            Step::Incomplete { pos } => {
                scan.bad = Some((pos, "incomplete record".into()));
                return Ok(scan);
            }
            Step::Record { header, pos, bytes } => {
                if !crc_matches(&bytes[..RECORD_HEADER_LEN], &bytes[RECORD_HEADER_LEN..]) {
                    scan.bad = Some((pos, "record CRC mismatch".into()));
                    return Ok(scan);
                }
                if header.cursor != scan.next {
                    scan.bad = Some((
                        pos,
                        format!(
                            "cursor discontinuity: expected {}, found {}",
                            scan.next, header.cursor
                        ),
                    ));
                    scan.bad_is_discontinuity = true;
                    return Ok(scan);
                }
                if header.encoding().is_none() {
                    // Intact but not ours to read: a newer format, never a torn write.
                    scan.bad = Some((pos, unknown_flags(&header)));
                    scan.bad_is_discontinuity = true;
                    return Ok(scan);
                }
                on_record(&header, pos);
                scan.first.get_or_insert(header);
                scan.last = Some(header);
                scan.next += 1;
                scan.good_len = pos + header.record_len();
            }
        }
    }
}

/// The newest segment is scanned record by record. A bad record with nothing valid after it
/// is a torn tail and is cut off; one followed by a valid record is damage to synced data.
/// Returns the active segment and the receive time and stamp of its last record.
fn recover_newest(
    fs: &dyn Fs,
    dir: &Path,
    base: u64,
    file: FileRef,
    index_interval: u32,
) -> Result<(RecoveredActive, Option<(u64, u64)>), StorageError> {
    let path = dir.join(segment_file_name(base));
    let len = file.size().map_err(io_at(&path))?;
    let mut builder = IndexBuilder::new(index_interval);
    let mut index = Vec::new();
    let scan = scan_records(&*file, &path, base, len, |h, pos| {
        index.extend(builder.observe(h.cursor - base, pos, h.receive_millis));
    })?;
    // What the previous run left in the page cache may not be on disk yet; what is kept
    // becomes visible (or stays reserved) now, so it must be durable first (design §7).
    let (good_len, reserved) = match &scan.bad {
        None => {
            file.sync_data().map_err(io_at(&path))?;
            (len, len)
        }
        Some((pos, reason)) if scan.bad_is_discontinuity => {
            return Err(corrupt(&path, *pos, reason.clone()));
        }
        Some((pos, _)) if zeros_to_end(&*file, *pos, len).map_err(io_at(&path))? => {
            // Reserved space (design §5), or an append none of whose bytes reached the disk:
            // the log ends here and the zeros stay reserved.
            file.sync_data().map_err(io_at(&path))?;
            (*pos, len)
        }
        Some((pos, reason)) => {
            if let Some(at) =
                find_valid_record(&*file, pos + 1, len, scan.next).map_err(io_at(&path))?
            {
                return Err(corrupt(
                    &path,
                    *pos,
                    format!(
                        "{reason}, but a valid record follows at offset {at}: synced data is damaged"
                    ),
                ));
            }
            tracing::warn!(segment = %path.display(), offset = pos, bytes = len - pos, %reason,
                "cutting off a torn tail of unacknowledged writes");
            file.set_len(*pos)
                .and_then(|_| file.sync_all())
                .map_err(io_at(&path))?;
            (*pos, *pos)
        }
    };
    debug_assert_eq!(good_len, scan.good_len);
    if good_len > MAX_SEGMENT_FILE {
        return Err(corrupt(&path, 0, "segment is larger than 4 GiB"));
    }
    // The newest segment's index is rebuilt from the scan; whatever an earlier run left in its
    // file may describe a tail that was just cut off.
    let last_entry = index.last().copied();
    let index = ActiveIndex::create(fs, dir, base, &index)
        .map_err(|(path, source)| StorageError::Io { path, source })?;
    let tail = scan.last.map(|h| (h.receive_millis, h.hlc));
    Ok((
        RecoveredActive {
            base,
            file,
            len: good_len,
            reserved,
            next: scan.next,
            index,
            last_entry,
            first_millis: scan.first.map(|h| h.receive_millis),
        },
        tail,
    ))
}

/// Looks for a complete record with a valid CRC and a cursor at or after `min_cursor` starting
/// anywhere in `[from, len)`. Runs only after a bad record was found; reads in bounded windows
/// so that memory stays bounded however long the tail is.
fn find_valid_record(
    file: &dyn FileIo,
    from: u64,
    len: u64,
    min_cursor: u64,
) -> io::Result<Option<u64>> {
    const WINDOW: u64 = SCAN_CHUNK as u64;
    let header = RECORD_HEADER_LEN as u64;
    let mut start = from;
    let mut buf = Vec::new();
    while start + header <= len {
        // Each window also holds the header of a record starting at its last position.
        let n = (WINDOW + header - 1).min(len - start) as usize;
        buf.resize(n, 0);
        file.read_exact_at(&mut buf, start)?;
        let starts = (n + 1 - RECORD_HEADER_LEN).min(WINDOW as usize);
        for off in 0..starts {
            let h = RecordHeader::decode(&buf[off..]);
            // Only a record that could continue this log counts.
            if h.cursor < min_cursor
                || h.cursor - min_cursor > u64::from(u32::MAX)
                || h.len as usize > MAX_PAYLOAD
            {
                continue;
            }
            let at = start + off as u64;
            if at + h.record_len() > len {
                continue;
            }
            let end = off + h.record_len() as usize;
            let ok = if end <= buf.len() {
                crc_matches(
                    &buf[off..off + RECORD_HEADER_LEN],
                    &buf[off + RECORD_HEADER_LEN..end],
                )
            } else {
                let mut payload = vec![0u8; h.len as usize];
                file.read_exact_at(&mut payload, at + header)?;
                crc_matches(&buf[off..off + RECORD_HEADER_LEN], &payload)
            };
            if ok {
                return Ok(Some(at));
            }
        }
        start += WINDOW;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::RealFs;
    use crate::record::encode_record;

    #[test]
    fn finds_a_valid_record_anywhere_in_a_long_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        let mut bytes = vec![0xabu8; 3 * SCAN_CHUNK + 17];
        let mut rec = Vec::new();
        encode_record(&mut rec, 42, 1, 1, &[7u8; 100]);
        // Straddling the boundary between two windows.
        let at = SCAN_CHUNK - 20;
        bytes[at..at + rec.len()].copy_from_slice(&rec);
        std::fs::write(&p, &bytes).unwrap();
        let f = RealFs.open(&p, false).unwrap();
        let len = bytes.len() as u64;
        assert_eq!(find_valid_record(&*f, 0, len, 40).unwrap(), Some(at as u64));
        assert_eq!(
            find_valid_record(&*f, 0, len, 43).unwrap(),
            None,
            "cursor too old"
        );
        assert_eq!(
            find_valid_record(&*f, at as u64 + 1, len, 40).unwrap(),
            None
        );
        // A record cut by the end of the file does not count.
        assert_eq!(
            find_valid_record(&*f, 0, at as u64 + rec.len() as u64 - 1, 40).unwrap(),
            None
        );
        // Zeros never look like a record.
        std::fs::write(&p, vec![0u8; 4096]).unwrap();
        let f = RealFs.open(&p, false).unwrap();
        assert_eq!(find_valid_record(&*f, 0, 4096, 0).unwrap(), None);
    }

    #[test]
    fn leftovers_are_removed_and_bad_names_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "00000000000000000000.log",
            "00000000000000000000.idx",
            "00000000000000000005.idx",
            "00000000000000000005.idx.tmp",
            "junk.idx",
            "notes.txt",
        ] {
            std::fs::write(d.join(name), b"").unwrap();
        }
        assert_eq!(list_segments(&RealFs, d).unwrap(), vec![0]);
        let mut left: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "00000000000000000000.idx",
                "00000000000000000000.log",
                "notes.txt"
            ]
        );
        std::fs::write(d.join("7.log"), b"").unwrap();
        assert!(matches!(
            list_segments(&RealFs, d),
            Err(StorageError::Corrupt { .. })
        ));
    }
}
