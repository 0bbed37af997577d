//! Recovery (design §8): sorts what is on disk into valid data, a torn unacknowledged tail that
//! is truncated, and corruption that stops the start-up.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::format::{self, IndexEntry, RecordHeader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::segment::{self, IndexStore, Segment};
use crate::shard::open_rw;
use crate::StorageError;

/// Segment files in `dir`, sorted by base cursor.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| StorageError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for entry in rd {
        let entry = entry.map_err(|e| StorageError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".log") {
            let base = stem.parse::<u64>().map_err(|_| StorageError::Corrupt {
                path: entry.path(),
                offset: 0,
                reason: "segment file name is not a cursor".into(),
            })?;
            out.push((base, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

/// Recovers every segment of `dir`, oldest first.
pub(crate) fn recover(dir: &Path, index_interval: u32) -> Result<Vec<Segment>, StorageError> {
    let mut files = list_segments(dir)?;
    // A segment whose header never made it to disk was created by a roll that crashed before
    // any record in it could be acknowledged.
    if let Some((_, path)) = files.last() {
        let len = std::fs::metadata(path)
            .map_err(|e| StorageError::Io {
                path: path.clone(),
                source: e,
            })?
            .len();
        if len < SEGMENT_HEADER_LEN && files.len() > 1 {
            std::fs::remove_file(path).map_err(|e| StorageError::Io {
                path: path.clone(),
                source: e,
            })?;
            files.pop();
        }
    }
    let mut segments = Vec::with_capacity(files.len());
    let mut expected_base: Option<u64> = None;
    let count = files.len();
    for (i, (base, path)) in files.into_iter().enumerate() {
        let file = open_rw(&path)?;
        let file_len = file
            .metadata()
            .map_err(|e| StorageError::Io {
                path: path.clone(),
                source: e,
            })?
            .len();
        if file_len < SEGMENT_HEADER_LEN {
            if i + 1 == count && i == 0 {
                // The very first segment of a new shard, torn while being created.
                file.write_all_at(&format::segment_header(base), 0)
                    .and_then(|_| file.set_len(SEGMENT_HEADER_LEN))
                    .and_then(|_| file.sync_all())
                    .map_err(|e| StorageError::Io {
                        path: path.clone(),
                        source: e,
                    })?;
            } else {
                return Err(corrupt(&path, 0, "segment header is truncated"));
            }
        }
        let mut hb = [0u8; SEGMENT_HEADER_LEN as usize];
        file.read_exact_at(&mut hb, 0)
            .map_err(|e| StorageError::Io {
                path: path.clone(),
                source: e,
            })?;
        let header_base = format::parse_segment_header(&hb).map_err(|r| corrupt(&path, 0, r))?;
        if header_base != base {
            return Err(corrupt(
                &path,
                16,
                format!("header names base cursor {header_base}"),
            ));
        }
        if let Some(exp) = expected_base {
            if base != exp {
                return Err(corrupt(
                    &path,
                    0,
                    format!("gap: previous segment ends at cursor {exp}"),
                ));
            }
        }
        let file_len = file_len.max(SEGMENT_HEADER_LEN);
        let seg = if i + 1 < count {
            recover_sealed(dir, base, file, file_len, index_interval)?
        } else {
            recover_last(dir, base, file, file_len, index_interval)?
        };
        expected_base = Some(seg.next());
        segments.push(seg);
    }
    Ok(segments)
}

/// Records scanned from a position: index entries built along the way and time/stamp facts.
struct Scanned {
    end: segment::ScanEnd,
    entries: Vec<IndexEntry>,
    first_millis: Option<u64>,
    last_millis: u64,
    last_hlc: u64,
}

fn scan_from(
    file: &std::fs::File,
    path: &Path,
    base: u64,
    pos: u64,
    cursor: u64,
    file_len: u64,
    index_interval: u32,
) -> Result<Scanned, StorageError> {
    let mut entries = Vec::new();
    let mut since = u64::MAX;
    let (mut first_millis, mut last_millis, mut last_hlc) = (None, 0, 0);
    let end = Segment::scan(file, path, pos, cursor, file_len, |h: &RecordHeader, p| {
        if since >= u64::from(index_interval) {
            entries.push(IndexEntry {
                rel_cursor: (h.cursor - base) as u32,
                pos: p as u32,
                receive_secs: (h.receive_millis / 1000) as u32,
            });
            since = 0;
        }
        since = since.saturating_add(h.record_len() as u64);
        first_millis.get_or_insert(h.receive_millis);
        last_millis = h.receive_millis;
        last_hlc = h.hlc;
    })?;
    Ok(Scanned {
        end,
        entries,
        first_millis,
        last_millis,
        last_hlc,
    })
}

fn finish(seg: Segment, first: Option<u64>, last_millis: u64, last_hlc: u64) -> Segment {
    if let Some(f) = first {
        seg.first_millis.store(f, Ordering::Release);
    }
    seg.last_millis.store(last_millis, Ordering::Release);
    seg.last_hlc.store(last_hlc, Ordering::Release);
    seg
}

/// A sealed segment is trusted through its index; when the index does not hold up, the segment
/// is scanned in full and the index rewritten. Any bad record is corruption: sealed segments
/// were synced before the next one began.
fn recover_sealed(
    dir: &Path,
    base: u64,
    file: std::fs::File,
    file_len: u64,
    index_interval: u32,
) -> Result<Segment, StorageError> {
    let path = dir.join(format::segment_file_name(base));
    let idx_path = dir.join(format::index_file_name(base));
    if let Some(entries) = segment::read_index(&idx_path).filter(|e| index_plausible(e, file_len)) {
        let last = *entries.last().expect("plausible index is not empty");
        let scanned = scan_from(
            &file,
            &path,
            base,
            u64::from(last.pos),
            base + u64::from(last.rel_cursor),
            file_len,
            u32::MAX,
        )?;
        if scanned.end.bad.is_none() && scanned.end.next > base + u64::from(last.rel_cursor) {
            let mut hb = [0u8; RECORD_HEADER_LEN];
            file.read_exact_at(&mut hb, SEGMENT_HEADER_LEN)
                .map_err(|e| StorageError::Io {
                    path: path.clone(),
                    source: e,
                })?;
            let first = RecordHeader::parse(&hb).receive_millis;
            let idx_file = std::fs::File::open(&idx_path).map_err(|e| StorageError::Io {
                path: idx_path.clone(),
                source: e,
            })?;
            let seg = Segment::new(
                dir,
                base,
                file,
                file_len,
                scanned.end.next,
                IndexStore::Disk {
                    file: idx_file,
                    count: entries.len(),
                },
            );
            return Ok(finish(
                seg,
                Some(first),
                scanned.last_millis,
                scanned.last_hlc,
            ));
        }
        tracing::warn!(index = %idx_path.display(), "index does not match its segment; rebuilding it from the log");
    }
    let scanned = scan_from(
        &file,
        &path,
        base,
        SEGMENT_HEADER_LEN,
        base,
        file_len,
        index_interval,
    )?;
    if let Some((pos, reason)) = scanned.end.bad {
        return Err(corrupt(&path, pos, format!("sealed segment: {reason}")));
    }
    if scanned.entries.is_empty() {
        return Err(corrupt(
            &path,
            SEGMENT_HEADER_LEN,
            "sealed segment holds no records",
        ));
    }
    segment::write_index(&idx_path, &scanned.entries)?;
    let idx_file = std::fs::File::open(&idx_path).map_err(|e| StorageError::Io {
        path: idx_path.clone(),
        source: e,
    })?;
    let count = scanned.entries.len();
    let seg = Segment::new(
        dir,
        base,
        file,
        file_len,
        scanned.end.next,
        IndexStore::Disk {
            file: idx_file,
            count,
        },
    );
    Ok(finish(
        seg,
        scanned.first_millis,
        scanned.last_millis,
        scanned.last_hlc,
    ))
}

fn index_plausible(entries: &[IndexEntry], file_len: u64) -> bool {
    !entries.is_empty()
        && entries[0].rel_cursor == 0
        && u64::from(entries[0].pos) == SEGMENT_HEADER_LEN
        && entries.windows(2).all(|w| {
            w[0].rel_cursor < w[1].rel_cursor
                && w[0].pos < w[1].pos
                && w[0].receive_secs <= w[1].receive_secs
        })
        && u64::from(entries[entries.len() - 1].pos) + RECORD_HEADER_LEN as u64 <= file_len
}

/// The newest segment is scanned record by record; a bad record with nothing valid after it is
/// a torn tail and is cut off; a bad record followed by valid data is corruption.
fn recover_last(
    dir: &Path,
    base: u64,
    file: std::fs::File,
    file_len: u64,
    index_interval: u32,
) -> Result<Segment, StorageError> {
    let path = dir.join(format::segment_file_name(base));
    let scanned = scan_from(
        &file,
        &path,
        base,
        SEGMENT_HEADER_LEN,
        base,
        file_len,
        index_interval,
    )?;
    let mut len = file_len;
    if let Some((pos, reason)) = &scanned.end.bad {
        if reason.starts_with(segment::DISCONTINUITY) {
            return Err(corrupt(&path, *pos, reason.clone()));
        }
        if let Some(at) = valid_record_after(&file, &path, *pos, file_len, scanned.end.next)? {
            return Err(corrupt(
                &path,
                *pos,
                format!(
                    "{reason}, but a valid record follows at offset {at}: synced data is damaged"
                ),
            ));
        }
        tracing::warn!(segment = %path.display(), offset = pos, bytes = file_len - pos, %reason, "truncating a torn tail");
        file.set_len(*pos)
            .and_then(|_| file.sync_all())
            .map_err(|e| StorageError::Io {
                path: path.clone(),
                source: e,
            })?;
        len = *pos;
    }
    // The index of the newest segment is kept in memory and written when it is sealed; a stale
    // file from an earlier life is removed.
    let idx_path = dir.join(format::index_file_name(base));
    let _ = std::fs::remove_file(&idx_path);
    let seg = Segment::new(
        dir,
        base,
        file,
        len,
        scanned.end.next,
        IndexStore::Memory(scanned.entries),
    );
    Ok(finish(
        seg,
        scanned.first_millis,
        scanned.last_millis,
        scanned.last_hlc,
    ))
}

/// Looks for a complete record with a valid CRC and a cursor at or after `min_cursor` anywhere
/// after `from`. Only runs when a bad record was found, so it may be slow.
fn valid_record_after(
    file: &std::fs::File,
    path: &Path,
    from: u64,
    file_len: u64,
    min_cursor: u64,
) -> Result<Option<u64>, StorageError> {
    let start = from + 1;
    if start >= file_len {
        return Ok(None);
    }
    let mut tail = vec![0u8; (file_len - start) as usize];
    file.read_exact_at(&mut tail, start)
        .map_err(|e| StorageError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
    for off in 0..tail.len().saturating_sub(RECORD_HEADER_LEN - 1) {
        let h = RecordHeader::parse(&tail[off..]);
        if h.cursor < min_cursor
            || h.cursor - min_cursor > (1 << 32)
            || h.len as usize > format::MAX_PAYLOAD
        {
            continue;
        }
        let end = off + h.record_len();
        if end > tail.len() {
            continue;
        }
        let rec = &tail[off..end];
        if format::record_crc(rec, &rec[RECORD_HEADER_LEN..]) == h.crc {
            return Ok(Some(start + off as u64));
        }
    }
    Ok(None)
}
