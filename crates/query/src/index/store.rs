//! The segment indexes of one shard on disk (design §18.6): one tantivy index per segment of
//! the shard log, in `<dir>/<segment base:020>/`, saying in its commit payload which records
//! it holds. An index is derived data: anything that does not open cleanly, or was built for
//! another index configuration or other records, is removed and built again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tantivy::indexer::UserOperation;
use tantivy::{
    index::SegmentId, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher,
    SegmentReader, TantivyDocument,
};

use super::layout::Layout;
use crate::doc::Doc;

/// Version of the payload and of the layout; another one is rebuilt.
pub const FORMAT: u32 = 3;
/// Memory of the writer that adds a batch of logs.
const WRITER_BYTES: usize = 48 << 20;
/// Documents of a piece of an index whose times a [`Block`] bounds.
pub const BLOCK_DOCS: DocId = 16 * 1024;

/// What a segment index holds, as its commit payload says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// [`FORMAT`].
    pub format: u32,
    /// Fingerprint of the index configuration it was built for.
    pub config: String,
    /// The segment's base cursor.
    pub base: u64,
    /// Cursor after the last record indexed: it holds every log of `[base, through)`.
    pub through: u64,
    /// Cluster timestamp of the record at `base`, which names the records it was built from.
    pub first_hlc: u64,
    /// Cluster timestamp of the record at `through - 1` (the last indexed).
    pub last_hlc: u64,
    /// Whether the segment was sealed and everything in it is indexed.
    pub sealed: bool,
    /// Logs indexed.
    pub docs: u64,
    /// Earliest log time indexed (unix seconds); `i64::MAX` when none.
    pub min_time: i64,
    /// Latest log time indexed; `i64::MIN` when none.
    pub max_time: i64,
}

impl Coverage {
    /// An empty index of the segment at `base`.
    pub fn empty(config: &str, base: u64, first_hlc: u64) -> Coverage {
        Coverage {
            format: FORMAT,
            config: config.to_string(),
            base,
            through: base,
            first_hlc,
            last_hlc: first_hlc,
            sealed: false,
            docs: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
        }
    }

    /// Whether it may hold logs with a time in `[from, to)`.
    pub fn overlaps(&self, from: i64, to: i64) -> bool {
        self.docs > 0 && self.min_time < to && self.max_time >= from
    }
}

/// What a query reads of a segment index: a searcher and what it covers, taken together.
#[derive(Clone)]
pub struct View {
    /// The shard.
    pub shard: u32,
    /// What it covers.
    pub coverage: Coverage,
    /// The searcher at that commit.
    pub searcher: Searcher,
    /// The fields.
    pub layout: Arc<Layout>,
    /// The blocks of each piece of the searcher, in order.
    pub blocks: Vec<Arc<[Block]>>,
}

/// A run of documents of one piece of an index, with the range of their times: a search
/// for the newest (or oldest) logs visits blocks in that order and stops when the rest
/// cannot enter its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Its documents, `[start, end)`.
    pub docs: (DocId, DocId),
    /// Earliest log time in it.
    pub min_time: i64,
    /// Latest log time in it.
    pub max_time: i64,
}

/// One segment's index, open for reading and adding.
pub struct SegmentIndex {
    index: Index,
    reader: IndexReader,
    coverage: Coverage,
    layout: Arc<Layout>,
    /// The blocks of the pieces of the last view, which never change.
    blocks: Mutex<HashMap<SegmentId, Arc<[Block]>>>,
}

/// Why an index on disk cannot be used.
#[derive(Debug)]
pub enum Unusable {
    /// There is none.
    Missing,
    /// It is damaged or of another format or configuration; the reason.
    Stale(String),
}

fn dir_of(root: &Path, base: u64) -> PathBuf {
    root.join(format!("{base:020}"))
}

impl SegmentIndex {
    /// Opens the index of the segment at `base` under `root`, checking its files, its format
    /// and that it was built for `config` and `layout`.
    pub fn open(
        root: &Path,
        base: u64,
        config: &str,
        layout: &Arc<Layout>,
    ) -> Result<SegmentIndex, Unusable> {
        let dir = dir_of(root, base);
        if !dir.join("meta.json").exists() {
            return Err(Unusable::Missing);
        }
        let stale = |e: String| Unusable::Stale(e);
        let index = Index::open_in_dir(&dir).map_err(|e| stale(e.to_string()))?;
        layout.register(&index);
        let damaged = index
            .validate_checksum()
            .map_err(|e| stale(e.to_string()))?;
        if !damaged.is_empty() {
            return Err(stale(format!("{} damaged file(s)", damaged.len())));
        }
        if index.schema() != layout.schema {
            return Err(stale("built for other fields".into()));
        }
        let payload = index
            .load_metas()
            .map_err(|e| stale(e.to_string()))?
            .payload
            .ok_or_else(|| stale("no payload".into()))?;
        let coverage: Coverage =
            serde_json::from_str(&payload).map_err(|e| stale(format!("payload: {e}")))?;
        if coverage.format != FORMAT || coverage.config != config || coverage.base != base {
            return Err(stale("built for another configuration".into()));
        }
        let reader = reader(&index).map_err(|e| stale(e.to_string()))?;
        Ok(SegmentIndex {
            index,
            reader,
            coverage,
            layout: layout.clone(),
            blocks: Mutex::default(),
        })
    }

    /// A new, empty index for the segment at `base` under `root`, replacing whatever is there.
    pub fn create(
        root: &Path,
        coverage: Coverage,
        layout: &Arc<Layout>,
    ) -> tantivy::Result<SegmentIndex> {
        let dir = dir_of(root, coverage.base);
        remove(root, coverage.base)?;
        std::fs::create_dir_all(&dir)?;
        let index = Index::create_in_dir(&dir, layout.schema.clone())?;
        layout.register(&index);
        let mut s = SegmentIndex {
            reader: reader(&index)?,
            index,
            coverage,
            layout: layout.clone(),
            blocks: Mutex::default(),
        };
        let mut writer = s.writer()?;
        s.commit(&mut writer)?;
        writer.wait_merging_threads()?;
        s.reader.reload()?;
        Ok(s)
    }

    /// What it covers.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// A view for queries.
    pub fn view(&self, shard: u32) -> View {
        let searcher = self.reader.searcher();
        let mut known = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        let blocks: Vec<Arc<[Block]>> = searcher
            .segment_readers()
            .iter()
            .map(|seg| match known.get(&seg.segment_id()) {
                Some(b) => b.clone(),
                None => time_blocks(&self.layout, seg),
            })
            .collect();
        *known = searcher
            .segment_readers()
            .iter()
            .map(SegmentReader::segment_id)
            .zip(blocks.iter().cloned())
            .collect();
        View {
            shard,
            coverage: self.coverage.clone(),
            searcher,
            layout: self.layout.clone(),
            blocks,
        }
    }

    fn writer(&self) -> tantivy::Result<IndexWriter<TantivyDocument>> {
        self.index.writer_with_num_threads(2, WRITER_BYTES)
    }

    fn commit(&mut self, writer: &mut IndexWriter<TantivyDocument>) -> tantivy::Result<()> {
        let payload = serde_json::to_string(&self.coverage)
            .map_err(|e| tantivy::TantivyError::InternalError(e.to_string()))?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        Ok(())
    }

    /// Adds the logs of the records `[through, to)` (the last stamped `last_hlc`) and commits,
    /// as one step: after a crash the index holds all of them or none. With `sealed`, `to` is
    /// the segment's end and the index is merged into one piece.
    pub fn add(
        &mut self,
        docs: &[Doc],
        to: u64,
        last_hlc: Option<u64>,
        sealed: bool,
    ) -> tantivy::Result<()> {
        let mut adding = self.adding();
        adding.add(docs)?;
        adding.commit(to, last_hlc, sealed)
    }

    /// A batch of logs to add and commit as one step ([`Adding::commit`]); a batch dropped
    /// without a commit adds nothing.
    pub fn adding(&mut self) -> Adding<'_> {
        Adding {
            next: self.coverage.clone(),
            index: self,
            writer: None,
        }
    }
}

/// Logs being added to a [`SegmentIndex`]. They are handed to tantivy's indexing thread as
/// they come, a LogGroup at a time, so that making documents and indexing them overlap.
pub struct Adding<'a> {
    index: &'a mut SegmentIndex,
    writer: Option<IndexWriter<TantivyDocument>>,
    next: Coverage,
}

impl Adding<'_> {
    /// Adds `docs`.
    pub fn add(&mut self, docs: &[Doc]) -> tantivy::Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let writer = match &mut self.writer {
            Some(w) => w,
            None => self.writer.insert(self.index.writer()?),
        };
        let layout = &self.index.layout;
        writer.run(docs.iter().map(|d| UserOperation::Add(layout.document(d))))?;
        self.next.docs += docs.len() as u64;
        for d in docs {
            self.next.min_time = self.next.min_time.min(i64::from(d.time));
            self.next.max_time = self.next.max_time.max(i64::from(d.time));
        }
        Ok(())
    }

    /// Commits what was added as covering the records up to `to` (the last stamped
    /// `last_hlc`); with `sealed`, `to` is the segment's end and the index is merged into one
    /// piece.
    pub fn commit(self, to: u64, last_hlc: Option<u64>, sealed: bool) -> tantivy::Result<()> {
        let Adding {
            index,
            writer,
            mut next,
        } = self;
        let mut writer = match writer {
            Some(w) => w,
            None => index.writer()?,
        };
        next.through = to;
        next.last_hlc = last_hlc.unwrap_or(next.last_hlc);
        next.sealed = sealed;
        let before = std::mem::replace(&mut index.coverage, next);
        if let Err(e) = index.commit(&mut writer) {
            index.coverage = before;
            return Err(e);
        }
        if sealed {
            let ids = index.index.searchable_segment_ids()?;
            if ids.len() > 1 {
                writer.merge(&ids).wait()?;
            }
        }
        writer.wait_merging_threads()?;
        index.reader.reload()?;
        Ok(())
    }
}

/// The blocks of one piece, read from its time column; one block of any time when that
/// cannot be read.
fn time_blocks(layout: &Layout, seg: &SegmentReader) -> Arc<[Block]> {
    let max_doc = seg.max_doc();
    let name = layout.schema.get_field_name(layout.time);
    let Ok(col) = seg.fast_fields().i64(name) else {
        return Arc::new([Block {
            docs: (0, max_doc),
            min_time: i64::MIN,
            max_time: i64::MAX,
        }]);
    };
    let mut out = Vec::with_capacity(max_doc.div_ceil(BLOCK_DOCS) as usize);
    let mut docs = Vec::with_capacity(BLOCK_DOCS as usize);
    let mut times = Vec::with_capacity(BLOCK_DOCS as usize);
    let mut start = 0;
    while start < max_doc {
        let end = start.saturating_add(BLOCK_DOCS).min(max_doc);
        docs.clear();
        docs.extend(start..end);
        times.clear();
        times.resize(docs.len(), None);
        col.first_vals(&docs, &mut times);
        let (min_time, max_time) = times
            .iter()
            .flatten()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let (min_time, max_time) = if min_time <= max_time {
            (min_time, max_time)
        } else {
            (i64::MIN, i64::MAX)
        };
        out.push(Block {
            docs: (start, end),
            min_time,
            max_time,
        });
        start = end;
    }
    out.into()
}

fn reader(index: &Index) -> tantivy::Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
}

/// Removes the index of the segment at `base` under `root`; a missing one counts as removed.
pub fn remove(root: &Path, base: u64) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir_of(root, base)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The bases of the segment indexes under `root`, in order; other entries are ignored.
pub fn list(root: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (name.len() == 20)
                .then(|| name.parse::<u64>().ok())
                .flatten()
        })
        .collect();
    out.sort_unstable();
    out
}
