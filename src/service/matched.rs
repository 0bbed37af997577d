//! The logs a search statement matches in one logstore (design §18.6): hits in the segment
//! indexes where they cover the shard logs, and logs read and tested one by one where they do
//! not yet (the active tail, segments still being indexed), within the query budgets.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use cairn_proto::logs::LogGroup;
use cairn_query::index::read::{self, SortKey};
use cairn_query::index::{plan, Block, Hits, Layout, Plan, View};
use cairn_query::sql::{self, ArrayRef, Column, Rows};
use cairn_query::{Doc, LogAddress, Matcher, QueryError, Schema};
use cairn_storage::ShardLog;

use super::indexer::fingerprint;
use super::logs::decode_group;
use super::query::{Progress, QueryLimits};
use super::{Error, Logstore, Result, Service};

/// Records read per storage call while scanning a shard.
const SCAN_BATCH: usize = 1024;
/// Bytes of LogGroups read per storage call while scanning a shard.
const SCAN_BYTES: usize = 8 << 20;

/// What a search matched.
pub(super) struct Found {
    /// Logs read from the shard logs and tested.
    pub docs: Vec<Doc>,
    /// Hits in segment indexes.
    pub hits: Vec<Hits>,
    /// Logs in the time range (and topic) considered.
    pub processed: u64,
    /// Whether every log in range was considered.
    pub progress: Progress,
}

/// Rough bytes a log holds in memory.
pub(super) fn doc_bytes(d: &Doc) -> usize {
    let pairs =
        |v: &[(String, String)]| v.iter().map(|(k, x)| k.len() + x.len() + 48).sum::<usize>();
    160 + d.topic.len() + d.source.len() + pairs(&d.tags) + pairs(&d.contents)
}

/// Which logs a query considers: a time range `[from, to)` and perhaps one topic.
#[derive(Clone, Copy)]
pub(super) struct Window<'a> {
    pub from: i64,
    pub to: i64,
    pub topic: Option<&'a str>,
}

impl Window<'_> {
    fn contains(&self, d: &Doc) -> bool {
        let t = i64::from(d.time);
        t >= self.from && t < self.to && self.topic.is_none_or(|tp| tp == d.topic)
    }
}

/// A search statement over a window.
pub(super) struct Search<'a> {
    pub matcher: &'a Matcher,
    pub schema: &'a Schema,
    pub window: Window<'a>,
}

/// Memory and time left to a query.
struct Budget {
    limits: QueryLimits,
    started: Instant,
    held: usize,
}

impl Budget {
    fn out_of_time(&self) -> bool {
        self.started.elapsed() > self.limits.time
    }

    /// Whether `n` bytes more fit the budget.
    fn fits(&self, n: usize) -> bool {
        self.held.saturating_add(n) <= self.limits.memory_bytes
    }

    /// Charges `n` bytes; false when past the budget.
    fn hold(&mut self, n: usize) -> bool {
        self.held += n;
        self.held <= self.limits.memory_bytes
    }
}

impl Found {
    fn new() -> Found {
        Found {
            docs: Vec::new(),
            hits: Vec::new(),
            processed: 0,
            progress: Progress::Complete,
        }
    }
}

impl Service {
    fn budget(&self, started: Instant) -> Budget {
        Budget {
            limits: self.query_limits,
            started,
            held: 0,
        }
    }

    /// Every log of `ls` in `w` that `keep` accepts, read from the shard logs.
    pub(super) fn scan_all(
        &self,
        ls: &Logstore,
        w: Window<'_>,
        started: Instant,
        mut keep: impl FnMut(&Doc) -> bool,
    ) -> Result<Found> {
        let mut found = Found::new();
        let mut budget = self.budget(started);
        for (&shard, log) in &ls.logs {
            let range = (log.begin(), log.end());
            if !scan(log, shard, range, w, &mut keep, &mut budget, &mut found)? {
                break;
            }
        }
        Ok(found)
    }

    /// The parts of each shard of `ls` a search reads, in cursor order: ranges not indexed
    /// (yet) and the segment indexes of the logstore's configuration.
    fn parts(&self, ls: &Logstore) -> Vec<(u32, Vec<Part>)> {
        let config = ls.rec.settings.index.as_ref().map(fingerprint);
        let mut out = Vec::with_capacity(ls.logs.len());
        for (&shard, log) in &ls.logs {
            let views = config
                .as_deref()
                .and_then(|c| self.indexes.views(&ls.rec.uid, shard, c));
            let mut parts = Vec::new();
            let mut cursor = log.begin();
            let end = log.end();
            for v in views.iter().flat_map(|v| v.views.iter()) {
                let c = &v.coverage;
                if c.base < cursor || c.through <= c.base {
                    continue;
                }
                if cursor < c.base.min(end) {
                    parts.push(Part::Scan((cursor, c.base.min(end))));
                }
                cursor = c.through;
                parts.push(Part::Index(v.clone()));
            }
            if cursor < end {
                parts.push(Part::Scan((cursor, end)));
            }
            out.push((shard, parts));
        }
        out
    }

    /// Every log of `ls` that `s` matches.
    pub(super) fn find(&self, ls: &Logstore, s: &Search<'_>, started: Instant) -> Result<Found> {
        let mut found = Found::new();
        let mut budget = self.budget(started);
        let mut keep = |d: &Doc| s.matcher.matches(d, s.schema);
        let mut planned = Planned::default();
        'shards: for (shard, parts) in self.parts(ls) {
            let log = ls.shard_log(shard)?;
            for part in parts {
                let v = match part {
                    Part::Scan(range) => {
                        let w = s.window;
                        if !scan(log, shard, range, w, &mut keep, &mut budget, &mut found)? {
                            break 'shards;
                        }
                        continue;
                    }
                    Part::Index(v) => v,
                };
                if budget.out_of_time() {
                    found.progress = Progress::Incomplete;
                    break 'shards;
                }
                let Some((hits, exact)) = planned.search(&v, s, &mut found)? else {
                    continue;
                };
                if exact {
                    if !budget.hold(hits.len() * 4) {
                        found.progress = Progress::Incomplete;
                        break 'shards;
                    }
                    if !hits.is_empty() {
                        found.hits.push(hits);
                    }
                    continue;
                }
                for d in fetch_docs(log, &hits.addresses().map_err(query_error)?)? {
                    if keep(&d) {
                        if !budget.hold(doc_bytes(&d)) {
                            found.progress = Progress::Incomplete;
                            break 'shards;
                        }
                        found.docs.push(d);
                    }
                }
            }
        }
        Ok(found)
    }

    /// The logs of `ls` that `s` matches that a search answers: sorted by time (newest first
    /// with `reverse`), from `offset`, at most `line`; with the logs considered and whether
    /// that was all of them. The ranges not indexed are read first; then the blocks of the
    /// segment indexes in the page's order of their times, until one could not enter it.
    pub(super) fn find_page(
        &self,
        ls: &Logstore,
        s: &Search<'_>,
        started: Instant,
        (reverse, offset, line): (bool, usize, usize),
    ) -> Result<(Vec<Doc>, u64, Progress)> {
        let mut found = Found::new();
        let budget = self.budget(started);
        let mut pager = Pager::new(offset.saturating_add(line), reverse);
        let mut indexes = Vec::new();
        let w = s.window;
        // Ranges not indexed first: they are read log by log whatever their times.
        'shards: for (shard, parts) in self.parts(ls) {
            let log = ls.shard_log(shard)?;
            for part in parts {
                match part {
                    Part::Scan(range) => {
                        if !pager.scan(log, shard, range, s, &budget, &mut found)? {
                            break 'shards;
                        }
                    }
                    Part::Index(v) if v.coverage.overlaps(w.from, w.to) => indexes.push(v),
                    Part::Index(_) => {}
                }
            }
        }
        if found.progress == Progress::Complete {
            self.page_indexes(ls, s, &indexes, &budget, &mut pager, &mut found)?;
        }
        Ok((pager.finish(ls, offset)?, found.processed, found.progress))
    }

    /// Offers to `pager` the logs of `indexes` that `s` matches, block by block in answer
    /// order of their times (newest first for a reverse page), up to the first block none of
    /// whose logs could enter the page.
    fn page_indexes(
        &self,
        ls: &Logstore,
        s: &Search<'_>,
        indexes: &[View],
        budget: &Budget,
        pager: &mut Pager,
        found: &mut Found,
    ) -> Result<()> {
        let w = s.window;
        let mut blocks: Vec<(usize, usize, Block)> = Vec::new();
        for (i, v) in indexes.iter().enumerate() {
            found.processed +=
                read::in_range(v, w.from, w.to, w.topic).map_err(query_error)? as u64;
            for (piece, bs) in v.blocks.iter().enumerate() {
                blocks.extend(
                    bs.iter()
                        .filter(|b| b.min_time < w.to && b.max_time >= w.from)
                        .map(|b| (i, piece, *b)),
                );
            }
        }
        let reverse = pager.reverse;
        blocks.sort_by_key(|(_, _, b)| {
            if reverse {
                b.max_time.saturating_neg()
            } else {
                b.min_time
            }
        });
        let mut planned = Planned::default();
        let mut prepared: HashMap<usize, read::Prepared> = HashMap::new();
        for (i, piece, b) in blocks {
            // Blocks come in answer order: none after this one could enter either.
            if !pager.could_take_between(b.min_time, b.max_time) {
                break;
            }
            if budget.out_of_time() || !budget.fits(pager.bytes) {
                found.progress = Progress::Incomplete;
                break;
            }
            let v = &indexes[i];
            let p = planned.plan(v, s);
            let exact = p.exact;
            let search = match prepared.entry(i) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    e.insert(read::prepare(v, p, w.from, w.to, w.topic).map_err(query_error)?)
                }
            };
            let hits = search.hits_in(piece, b.docs).map_err(query_error)?;
            if exact {
                pager.offer_hits(&hits).map_err(query_error)?;
                continue;
            }
            let log = ls.shard_log(v.shard)?;
            for d in fetch_docs(log, &hits.addresses().map_err(query_error)?)? {
                if pager.could_take(d.time) && s.matcher.matches(&d, s.schema) {
                    pager.offer(sort_key(&d), Some(d));
                }
            }
        }
        if !budget.fits(pager.bytes) {
            found.progress = Progress::Incomplete;
        }
        Ok(())
    }
}

/// A part of a shard's logs a search reads.
enum Part {
    /// LogGroups `[from, until)`, read and tested log by log.
    Scan((u64, u64)),
    /// A segment index.
    Index(View),
}

/// The statement planned for the layout of the indexes searched (all alike but across a
/// change of configuration).
#[derive(Default)]
struct Planned(Option<(Arc<Layout>, Plan)>);

impl Planned {
    /// The statement planned for the layout of `v`.
    fn plan(&mut self, v: &View, s: &Search<'_>) -> &Plan {
        if self
            .0
            .as_ref()
            .is_some_and(|(l, _)| !Arc::ptr_eq(l, &v.layout))
        {
            self.0 = None;
        }
        let (_, p) = self
            .0
            .get_or_insert_with(|| (v.layout.clone(), plan(s.matcher, &v.layout)));
        p
    }

    /// The hits of `s` in `v` and whether they are exact (otherwise each is to be tested);
    /// none when `v` holds no log of the window. Counts the logs of the window in `found`.
    fn search(
        &mut self,
        v: &View,
        s: &Search<'_>,
        found: &mut Found,
    ) -> Result<Option<(Hits, bool)>> {
        let w = s.window;
        if !v.coverage.overlaps(w.from, w.to) {
            return Ok(None);
        }
        let p = self.plan(v, s);
        let searched = read::search_statement(v, p, w.from, w.to, w.topic).map_err(query_error)?;
        found.processed += searched.in_range as u64;
        Ok(Some((searched.hits, p.exact)))
    }
}

fn query_error(e: QueryError) -> Error {
    Error::Internal(e.to_string())
}

/// One stored LogGroup as queries see it.
pub(super) struct Group {
    /// Its shard.
    pub shard: u32,
    /// Its cursor.
    pub cursor: u64,
    /// Its cluster timestamp.
    pub hlc: u64,
    /// The length of the LogGroup.
    pub bytes: usize,
    /// The LogGroup.
    pub group: LogGroup,
}

impl Group {
    /// Its logs.
    pub fn docs(&self) -> Vec<Doc> {
        Doc::from_group(&self.group, self.shard, self.cursor)
    }
}

/// Calls `f` with each LogGroup of `[from, until)` of one shard, in order, until it answers
/// false; answers whether it went through the range.
pub(super) fn for_each_group(
    log: &ShardLog,
    shard: u32,
    from: u64,
    until: u64,
    mut f: impl FnMut(Group) -> Result<bool>,
) -> Result<bool> {
    let mut cursor = from;
    let mut buf = Vec::new();
    while cursor < until {
        let records = log.read(cursor, until, SCAN_BATCH, SCAN_BYTES)?;
        let Some(last) = records.last() else { break };
        cursor = last.cursor + 1;
        for r in &records {
            let group = decode_group(r, &mut buf)?;
            let g = Group {
                shard,
                cursor: r.cursor,
                hlc: r.hlc.0,
                bytes: buf.len(),
                group,
            };
            if !f(g)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Reads the logs of the LogGroups `[from, until)` of one shard: counts those in `w` and
/// keeps those `keep` accepts; false when a budget ran out.
fn scan(
    log: &ShardLog,
    shard: u32,
    (from, until): (u64, u64),
    w: Window<'_>,
    keep: &mut impl FnMut(&Doc) -> bool,
    budget: &mut Budget,
    found: &mut Found,
) -> Result<bool> {
    for_each_group(log, shard, from, until, |g| {
        if budget.out_of_time() {
            found.progress = Progress::Incomplete;
            return Ok(false);
        }
        for doc in g.docs() {
            if !w.contains(&doc) {
                continue;
            }
            found.processed += 1;
            if keep(&doc) {
                if !budget.hold(doc_bytes(&doc)) {
                    found.progress = Progress::Incomplete;
                    return Ok(false);
                }
                found.docs.push(doc);
            }
        }
        Ok(true)
    })
}

/// The logs at `addrs` (all of one shard), in that order; reads each run of consecutive
/// LogGroups once and makes only the logs asked for.
pub(super) fn fetch_docs(log: &ShardLog, addrs: &[LogAddress]) -> Result<Vec<Doc>> {
    let Some(first) = addrs.first() else {
        return Ok(Vec::new());
    };
    let shard = first.shard;
    let mut cursors: Vec<u64> = addrs.iter().map(|a| a.cursor).collect();
    cursors.sort_unstable();
    cursors.dedup();
    let mut groups: HashMap<u64, LogGroup> = HashMap::with_capacity(cursors.len());
    let mut i = 0;
    while i < cursors.len() {
        let mut j = i + 1;
        while j < cursors.len() && cursors[j] == cursors[j - 1] + 1 {
            j += 1;
        }
        for_each_group(log, shard, cursors[i], cursors[j - 1] + 1, |g| {
            groups.insert(g.cursor, g.group);
            Ok(true)
        })?;
        i = j;
    }
    Ok(addrs
        .iter()
        .filter_map(|a| Doc::at(groups.get(&a.cursor)?, shard, a.cursor, a.index as usize))
        .collect())
}

/// Where a log read already sorts in a search answer.
fn sort_key(d: &Doc) -> SortKey {
    (d.time, d.time_ns, d.address)
}

/// The first `k` logs in answer order (by time, newest first with `reverse`) of those
/// offered: a heap whose top is the worst kept, with the logs read already.
struct Pager {
    heap: BinaryHeap<Ordered>,
    k: usize,
    reverse: bool,
    /// Rough bytes the heap holds.
    bytes: usize,
}

impl Pager {
    fn new(k: usize, reverse: bool) -> Pager {
        Pager {
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
            k,
            reverse,
            bytes: 0,
        }
    }

    /// Whether a log of time `t` sorts after every log kept of a full page.
    fn beaten(&self, t: u32) -> bool {
        self.heap.len() >= self.k
            && self.heap.peek().is_none_or(|top| {
                if self.reverse {
                    t < top.key.0
                } else {
                    t > top.key.0
                }
            })
    }

    /// Whether a log of time `t` could enter the page.
    fn could_take(&self, t: u32) -> bool {
        !self.beaten(t)
    }

    /// Whether a log with a time in `[min, max]` could enter the page.
    fn could_take_between(&self, min: i64, max: i64) -> bool {
        let best = if self.reverse { max } else { min };
        !self.beaten(best.clamp(0, i64::from(u32::MAX)) as u32)
    }

    fn offer(&mut self, key: SortKey, doc: Option<Doc>) {
        let o = Ordered {
            key,
            reverse: self.reverse,
            doc,
        };
        if self.heap.len() < self.k {
            self.bytes += o.bytes();
            self.heap.push(o);
        } else if self.heap.peek().is_some_and(|top| o < *top) {
            self.bytes += o.bytes();
            if let Some(out) = self.heap.pop() {
                self.bytes -= out.bytes();
            }
            self.heap.push(o);
        }
    }

    /// Offers the logs of the LogGroups `[from, until)` of one shard that `s` matches; false
    /// when a budget ran out.
    fn scan(
        &mut self,
        log: &ShardLog,
        shard: u32,
        (from, until): (u64, u64),
        s: &Search<'_>,
        budget: &Budget,
        found: &mut Found,
    ) -> Result<bool> {
        for_each_group(log, shard, from, until, |g| {
            if budget.out_of_time() || !budget.fits(self.bytes) {
                found.progress = Progress::Incomplete;
                return Ok(false);
            }
            for d in g.docs() {
                if s.window.contains(&d) {
                    found.processed += 1;
                    if self.could_take(d.time) && s.matcher.matches(&d, s.schema) {
                        self.offer(sort_key(&d), Some(d));
                    }
                }
            }
            Ok(true)
        })
    }

    /// Offers the hits of a segment index; only those whose time could enter have their
    /// whole key read.
    fn offer_hits(&mut self, hits: &Hits) -> std::result::Result<(), QueryError> {
        hits.for_each_candidate(|t, key| {
            if self.could_take(t) {
                self.offer(key(), None);
            }
        })
    }

    /// The page from `offset`: the logs not read yet are read now.
    fn finish(self, ls: &Logstore, offset: usize) -> Result<Vec<Doc>> {
        let mut kept = self.heap.into_sorted_vec();
        kept.drain(..offset.min(kept.len()));
        let mut wanted: BTreeMap<u32, Vec<LogAddress>> = BTreeMap::new();
        for o in kept.iter().filter(|o| o.doc.is_none()) {
            wanted.entry(o.key.2.shard).or_default().push(o.key.2);
        }
        let mut fetched: HashMap<LogAddress, Doc> = HashMap::new();
        for (shard, addrs) in wanted {
            let log = ls.shard_log(shard)?;
            for d in fetch_docs(log, &addrs)? {
                fetched.insert(d.address, d);
            }
        }
        Ok(kept
            .into_iter()
            .filter_map(|o| o.doc.or_else(|| fetched.remove(&o.key.2)))
            .collect())
    }
}

/// A sort key in answer order, with the log when it was read already.
struct Ordered {
    key: SortKey,
    reverse: bool,
    doc: Option<Doc>,
}

impl Ordered {
    fn bytes(&self) -> usize {
        std::mem::size_of::<Ordered>() + self.doc.as_ref().map_or(0, doc_bytes)
    }
}

impl PartialEq for Ordered {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.reverse {
            other.key.cmp(&self.key)
        } else {
            self.key.cmp(&other.key)
        }
    }
}

/// Calls `f` with the time of every matched log.
pub(super) fn for_each_time(found: &Found, mut f: impl FnMut(i64)) -> Result<()> {
    for d in &found.docs {
        f(i64::from(d.time));
    }
    for h in &found.hits {
        h.for_each_time(&mut f).map_err(query_error)?;
    }
    Ok(())
}

/// The matched logs as the rows of the analytic statement's table: columns of the segment
/// indexes where they hold them, values of the logs otherwise.
pub(super) struct MatchedRows {
    pub docs: Vec<Doc>,
    pub hits: Vec<Hits>,
    pub logstore: Arc<Logstore>,
    pub max_text_len: usize,
}

impl std::fmt::Debug for MatchedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} logs and {} index hits of {}/{}",
            self.docs.len(),
            self.hits.iter().map(Hits::len).sum::<usize>(),
            self.logstore.rec.project,
            self.logstore.rec.name
        )
    }
}

impl Rows for MatchedRows {
    fn tag_keys(&self) -> Vec<String> {
        let mut keys = sql::tag_keys(&self.docs);
        for h in &self.hits {
            keys.extend(h.tag_keys().unwrap_or_default());
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn arrays(
        &self,
        cols: &[Column],
        budget: usize,
    ) -> std::result::Result<Vec<(usize, Vec<ArrayRef>)>, QueryError> {
        let mut out = Vec::new();
        let mut used = 0usize;
        if !self.docs.is_empty() {
            out.push((
                self.docs.len(),
                sql::table(cols, &self.docs, self.max_text_len, budget)?,
            ));
        }
        for h in &self.hits {
            let mut arrays = Vec::with_capacity(cols.len());
            for c in cols {
                match h.column(&c.target, c.kind)? {
                    Some(a) => {
                        used += sql::array_bytes(&a);
                        arrays.push(a);
                    }
                    None => break,
                }
                if used > budget {
                    return Err(QueryError::MemoryExceeded(budget));
                }
            }
            if arrays.len() < cols.len() {
                // A column the index does not hold (tags): from the logs themselves.
                let log = self
                    .logstore
                    .shard_log(h.view.shard)
                    .map_err(|e| QueryError::Internal(e.to_string()))?;
                let docs = fetch_docs(log, &h.addresses()?)
                    .map_err(|e| QueryError::Internal(e.to_string()))?;
                used += docs.iter().map(doc_bytes).sum::<usize>();
                if used > budget {
                    return Err(QueryError::MemoryExceeded(budget));
                }
                arrays = sql::table(cols, &docs, self.max_text_len, budget)?;
            }
            out.push((h.len(), arrays));
        }
        Ok(out)
    }
}
