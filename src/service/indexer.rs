//! The background indexer (design §18.6): keeps one tantivy index per segment of every shard
//! of every logstore with an index configuration, built from the shard logs, and publishes
//! what each covers for queries. Indexes are derived data: one that is missing, damaged, built
//! for another configuration or for other records is built again; indexes of segments removed
//! by retention, of shards and logstores that no longer exist are removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cairn_query::index::{Coverage, Layout, SegmentIndex, Unusable, View};
use cairn_storage::ShardLog;
use parking_lot::{Condvar, Mutex, RwLock};
use sha2::{Digest, Sha256};

use super::matched::for_each_group;
use super::query::schema_of;
use super::{Error, Logstore, Result, Service};
use crate::meta::index::IndexConfig;

/// Commits one shard makes per round at most, so that every shard moves on.
const ROUND_COMMITS: usize = 4;

/// The fingerprint of an index configuration: indexes built for another one are rebuilt.
/// When it was last changed is not part of it.
pub fn fingerprint(cfg: &IndexConfig) -> String {
    let mut cfg = cfg.clone();
    cfg.last_modify_time = 0;
    let json = serde_json::to_string(&cfg).unwrap_or_default();
    hex::encode(&Sha256::digest(json.as_bytes())[..12])
}

/// What queries read of one shard's indexes.
#[derive(Clone)]
pub struct ShardViews {
    /// The configuration they were built for.
    pub config: String,
    /// One per indexed segment, oldest first.
    pub views: Vec<View>,
}

/// How far the indexes of a logstore reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexProgress {
    /// LogGroups indexed.
    pub indexed: u64,
    /// LogGroups stored.
    pub total: u64,
}

/// The published indexes of every shard, and the indexer's wake-up.
pub(super) struct Indexes {
    root: PathBuf,
    published: RwLock<HashMap<(String, u32), Arc<ShardViews>>>,
    wake: Mutex<bool>,
    woken: Condvar,
    /// Serialises rounds (the background thread and explicit ones).
    round: Mutex<Rounds>,
    /// Bytes of LogGroups added per commit.
    commit_bytes: std::sync::atomic::AtomicUsize,
}

/// What the indexer holds between rounds.
#[derive(Default)]
struct Rounds {
    shards: HashMap<(String, u32), ShardIndexes>,
    layouts: HashMap<String, Arc<Layout>>,
    /// Logstores whose reindexing was announced as started, by uid.
    announced: HashSet<String>,
    /// The shards with indexes when the index directories were last swept.
    swept: Option<HashSet<(String, u32)>>,
}

/// The open indexes of one shard.
struct ShardIndexes {
    config: String,
    segments: BTreeMap<u64, SegmentIndex>,
    /// Whether the indexes on disk were looked at since the start.
    loaded: bool,
}

impl Indexes {
    pub(super) fn new(root: PathBuf) -> Indexes {
        Indexes {
            root,
            published: RwLock::new(HashMap::new()),
            wake: Mutex::new(false),
            woken: Condvar::new(),
            round: Mutex::new(Rounds::default()),
            commit_bytes: std::sync::atomic::AtomicUsize::new(32 << 20),
        }
    }

    fn shard_dir(&self, uid: &str, shard: u32) -> PathBuf {
        self.root.join(uid).join(shard.to_string())
    }

    /// The published indexes of a shard built for `config`.
    pub(super) fn views(&self, uid: &str, shard: u32, config: &str) -> Option<Arc<ShardViews>> {
        self.published
            .read()
            .get(&(uid.to_string(), shard))
            .filter(|v| v.config == config)
            .cloned()
    }

    /// Publishes the indexes of `state` (shard `shard`, built for `config`).
    fn publish(&self, key: (String, u32), config: &str, state: &ShardIndexes, shard: u32) {
        let views = ShardViews {
            config: config.to_string(),
            views: state.segments.values().map(|s| s.view(shard)).collect(),
        };
        self.published.write().insert(key, Arc::new(views));
    }

    /// Publishes one segment's index after a commit, in place of its previous view.
    fn publish_view(&self, key: &(String, u32), config: &str, view: View) {
        let mut published = self.published.write();
        let mut views = published
            .get(key)
            .filter(|v| v.config == config)
            .map(|v| v.views.clone())
            .unwrap_or_default();
        let base = view.coverage.base;
        match views.binary_search_by_key(&base, |v| v.coverage.base) {
            Ok(i) => views[i] = view,
            Err(i) => views.insert(i, view),
        }
        let views = ShardViews {
            config: config.to_string(),
            views,
        };
        published.insert(key.clone(), Arc::new(views));
    }

    /// Asks the background indexer to run a round now.
    pub(super) fn wake(&self) {
        *self.wake.lock() = true;
        self.woken.notify_one();
    }

    /// Waits for a wake-up or `timeout`.
    pub(super) fn wait(&self, timeout: Duration) {
        let mut w = self.wake.lock();
        if !*w {
            self.woken.wait_for(&mut w, timeout);
        }
        *w = false;
    }
}

impl Service {
    /// GetIndex with what the answer shows besides: the configuration, the logstore's ttl and
    /// how far its indexes reach.
    pub fn index_status(
        &self,
        project: &str,
        logstore: &str,
    ) -> Result<(IndexConfig, u32, IndexProgress)> {
        let ls = self.logstore(project, logstore)?;
        let Some(cfg) = &ls.rec.settings.index else {
            return Err(Error::IndexConfigNotExist(logstore.to_string()));
        };
        Ok((cfg.clone(), ls.rec.settings.ttl, self.progress_of(&ls, cfg)))
    }

    /// How far the indexes of a logstore reach.
    pub fn index_progress(&self, project: &str, logstore: &str) -> Result<IndexProgress> {
        Ok(self.index_status(project, logstore)?.2)
    }

    /// How far the indexes of `ls`, built for `cfg`, reach.
    fn progress_of(&self, ls: &Logstore, cfg: &IndexConfig) -> IndexProgress {
        let config = fingerprint(cfg);
        let mut p = IndexProgress::default();
        for (&shard, log) in &ls.logs {
            let (begin, end) = (log.begin(), log.end());
            p.total += end - begin;
            if let Some(v) = self.indexes.views(&ls.rec.uid, shard, &config) {
                p.indexed += v
                    .views
                    .iter()
                    .filter(|v| v.coverage.through > begin)
                    .map(|v| v.coverage.through.min(end) - v.coverage.base.max(begin))
                    .sum::<u64>();
            }
        }
        p
    }

    /// Sets the bytes of LogGroups the indexer adds per commit (`[query] index_commit_bytes`).
    pub fn set_index_commit_bytes(&self, bytes: usize) {
        self.indexes
            .commit_bytes
            .store(bytes.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs the indexer until `stop` says so: rounds back to back while work is left, then
    /// one every `interval` or when woken.
    pub fn run_indexer(&self, interval: Duration, stop: impl Fn() -> bool) {
        while !stop() {
            if !self.index_round() {
                self.indexes.wait(interval);
            }
        }
    }

    /// Wakes the indexer (after a change of index configuration).
    pub(super) fn wake_indexer(&self) {
        self.indexes.wake();
    }

    /// One indexing round over every shard; returns whether any work is left.
    pub fn index_round(&self) -> bool {
        let mut rounds = self.indexes.round.lock();
        let commit_bytes = self
            .indexes
            .commit_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        let stores: Vec<_> = self.catalog.read().logstores.values().cloned().collect();
        let mut live: HashSet<(String, u32)> = HashSet::new();
        let mut more = false;
        for ls in &stores {
            let Some(cfg) = &ls.rec.settings.index else {
                continue;
            };
            let config = fingerprint(cfg);
            let layout = rounds
                .layouts
                .entry(config.clone())
                .or_insert_with(|| Arc::new(Layout::new(&schema_of(cfg))))
                .clone();
            let mut behind = false;
            let mut backlog = false;
            for (&shard, log) in &ls.logs {
                live.insert((ls.rec.uid.clone(), shard));
                let dir = self.indexes.shard_dir(&ls.rec.uid, shard);
                let state = rounds
                    .shards
                    .entry((ls.rec.uid.clone(), shard))
                    .or_insert_with(|| ShardIndexes {
                        config: config.clone(),
                        segments: BTreeMap::new(),
                        loaded: false,
                    });
                if state.config != config {
                    // A new configuration: everything is indexed again.
                    for base in std::mem::take(&mut state.segments).into_keys() {
                        remove_segment(&dir, base);
                    }
                    state.config = config.clone();
                    state.loaded = false;
                }
                let key = (ls.rec.uid.clone(), shard);
                let on_commit =
                    |i: &SegmentIndex| self.indexes.publish_view(&key, &config, i.view(shard));
                match index_shard(state, &dir, log, &layout, commit_bytes, &on_commit) {
                    Ok(o) => {
                        behind |= o.left;
                        backlog |= o.backlog;
                    }
                    Err(e) => {
                        tracing::warn!(logstore = %ls.rec.name, shard, error = %e,
                            "indexing failed; the shard's logs are searched without an index until it succeeds");
                        behind = true;
                    }
                }
                self.indexes.publish(key, &config, state, shard);
            }
            let uid = ls.rec.uid.clone();
            if (behind || backlog) && rounds.announced.insert(uid.clone()) {
                tracing::info!(project = %ls.rec.project, logstore = %ls.rec.name,
                    "indexing the logstore's stored logs in the background");
            }
            if !behind && rounds.announced.remove(&uid) {
                tracing::info!(project = %ls.rec.project, logstore = %ls.rec.name,
                    "the logstore's logs are all indexed");
            }
            more |= behind;
        }
        // Indexes of shards and logstores that are gone, or have no index any more.
        rounds.shards.retain(|k, _| live.contains(k));
        let configs: HashSet<&str> = rounds.shards.values().map(|s| s.config.as_str()).collect();
        let unused: Vec<String> = rounds
            .layouts
            .keys()
            .filter(|c| !configs.contains(c.as_str()))
            .cloned()
            .collect();
        for c in unused {
            rounds.layouts.remove(&c);
        }
        self.indexes
            .published
            .write()
            .retain(|k, _| live.contains(k));
        // Directories are looked at when the shards with indexes change (and at the start).
        if rounds.swept.as_ref() == Some(&live) {
            return more;
        }
        let live_uids: HashSet<&str> = live.iter().map(|(u, _)| u.as_str()).collect();
        for uid in subdirs(&self.indexes.root) {
            let dir = self.indexes.root.join(&uid);
            if !live_uids.contains(uid.as_str()) {
                remove_dir(&dir);
                continue;
            }
            for shard in subdirs(&dir) {
                let known = shard
                    .parse::<u32>()
                    .is_ok_and(|s| live.contains(&(uid.clone(), s)));
                if !known {
                    remove_dir(&dir.join(&shard));
                }
            }
        }
        rounds.swept = Some(live);
        more
    }
}

fn subdirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove an index directory");
        }
    }
}

fn remove_segment(dir: &Path, base: u64) {
    if let Err(e) = cairn_query::index::store::remove(dir, base) {
        tracing::warn!(dir = %dir.display(), base, error = %e, "could not remove a segment index");
    }
}

fn ix(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("segment index: {e}"))
}

/// The cluster timestamp of the record at `cursor`.
fn hlc_at(log: &ShardLog, cursor: u64) -> Result<u64> {
    Ok(log.record_meta(cursor)?.hlc.0)
}

/// Whether an index covers records that are (still) in the log as they were indexed.
fn still_matches(c: &Coverage, log: &ShardLog, next: u64) -> Result<bool> {
    if c.through > next || c.base < log.begin() {
        return Ok(false);
    }
    if hlc_at(log, c.base)? != c.first_hlc {
        return Ok(false);
    }
    Ok(c.through == c.base || hlc_at(log, c.through - 1)? == c.last_hlc)
}

/// What a round did for one shard.
#[derive(Default)]
struct Outcome {
    /// Work is left for the next round.
    left: bool,
    /// It started indexing a sealed segment: logs stored before the index (or its
    /// configuration), or an index built again; not just the newest logs.
    backlog: bool,
}

/// Brings the indexes of one shard closer to its log; `on_commit` hears of each commit.
fn index_shard(
    state: &mut ShardIndexes,
    dir: &Path,
    log: &ShardLog,
    layout: &Arc<Layout>,
    commit_bytes: usize,
    on_commit: &dyn Fn(&SegmentIndex),
) -> Result<Outcome> {
    let begin = log.begin();
    let end = log.end();
    let mut segments: Vec<(u64, u64, bool)> = log
        .sealed_segments()
        .iter()
        .map(|m| (m.base, m.next, true))
        .collect();
    segments.push((log.newest_segment(), end, false));
    // Indexes of segments retention removed.
    let gone: Vec<u64> = state.segments.range(..begin).map(|(b, _)| *b).collect();
    for base in gone {
        state.segments.remove(&base);
        remove_segment(dir, base);
    }
    if !state.loaded {
        std::fs::create_dir_all(dir).map_err(ix)?;
        let wanted: HashSet<u64> = segments.iter().map(|s| s.0).collect();
        for base in cairn_query::index::store::list(dir) {
            if !wanted.contains(&base) {
                remove_segment(dir, base);
            }
        }
    }
    let mut budget = ROUND_COMMITS * commit_bytes;
    let mut outcome = Outcome::default();
    for (base, next, sealed) in segments {
        if base >= next || base < begin {
            continue;
        }
        if !state.segments.contains_key(&base) {
            let opened = if state.loaded {
                None
            } else {
                open_checked(dir, log, &state.config, layout, base, next)?
            };
            let index = match opened {
                Some(index) => index,
                None => {
                    outcome.backlog |= sealed;
                    let first = hlc_at(log, base)?;
                    SegmentIndex::create(dir, Coverage::empty(&state.config, base, first), layout)
                        .map_err(ix)?
                }
            };
            state.segments.insert(base, index);
        }
        let Some(index) = state.segments.get_mut(&base) else {
            continue;
        };
        if index.coverage().sealed {
            continue;
        }
        if budget == 0 {
            outcome.left = true;
            continue;
        }
        let step = Step {
            next,
            sealed,
            commit_bytes,
        };
        outcome.left |= fill(index, log, &step, &mut budget, on_commit)?;
    }
    state.loaded = true;
    Ok(outcome)
}

/// The index of the segment at `base` (ending at `next`) as the last run left it, when it is
/// whole and still describes the segment's records; none otherwise.
fn open_checked(
    dir: &Path,
    log: &ShardLog,
    config: &str,
    layout: &Arc<Layout>,
    base: u64,
    next: u64,
) -> Result<Option<SegmentIndex>> {
    let why = match SegmentIndex::open(dir, base, config, layout) {
        Ok(i) if still_matches(i.coverage(), log, next)? => return Ok(Some(i)),
        Ok(_) => "it names records the segment does not hold".to_string(),
        Err(Unusable::Missing) => return Ok(None),
        Err(Unusable::Stale(why)) => why,
    };
    tracing::warn!(dir = %dir.display(), segment = base, reason = %why,
        "rebuilding a segment index that cannot be used");
    Ok(None)
}

/// Where a segment's indexing is to go.
struct Step {
    /// The cursor after the segment's last record (now).
    next: u64,
    /// Whether the segment is sealed.
    sealed: bool,
    /// Bytes of LogGroups per commit.
    commit_bytes: usize,
}

/// Adds the records after what `index` holds, up to `step.next`, a commit at a time within
/// `budget`; answers whether work is left.
fn fill(
    index: &mut SegmentIndex,
    log: &ShardLog,
    step: &Step,
    budget: &mut usize,
    on_commit: &dyn Fn(&SegmentIndex),
) -> Result<bool> {
    let mut cursor = index.coverage().through;
    loop {
        let mut bytes = 0usize;
        let mut last_hlc = None;
        let limit = step.commit_bytes.min(*budget);
        let through = index.coverage().through;
        let mut adding = index.adding();
        for_each_group(log, 0, cursor, step.next, |g| {
            cursor = g.cursor + 1;
            bytes += g.bytes;
            last_hlc = Some(g.hlc);
            adding.add(&g.docs()).map_err(ix)?;
            Ok(bytes < limit)
        })?;
        *budget = budget.saturating_sub(bytes);
        let done = step.sealed && cursor == step.next;
        if cursor == through && !done {
            return Ok(false);
        }
        adding.commit(cursor, last_hlc, done).map_err(ix)?;
        on_commit(index);
        if done || cursor == step.next {
            return Ok(false);
        }
        if *budget == 0 {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_proto::logs::LogGroup;
    use cairn_proto::{Log, LogContent};
    use prost::Message;

    use super::super::testing::{line_and_long, proj_ls1, service_with_manual_clock, wait_jobs};
    use super::super::{LogQuery, PutTarget};
    use super::*;

    const T: u32 = 1_700_000_000;

    /// Logs `from..to` in groups of 20 (time `T + i`, `n = i`, 600 bytes of padding).
    fn put(svc: &Service, logstore: &str, from: u32, to: u32) {
        for chunk in (from..to).collect::<Vec<_>>().chunks(20) {
            let g = LogGroup {
                logs: chunk
                    .iter()
                    .map(|&i| Log {
                        time: T + i,
                        contents: vec![
                            LogContent {
                                key: b"n".to_vec(),
                                value: i.to_string().into_bytes(),
                            },
                            LogContent {
                                key: b"pad".to_vec(),
                                value: format!("word{} {}", i % 5, "x".repeat(600)).into_bytes(),
                            },
                        ],
                        time_ns: None,
                    })
                    .collect(),
                ..Default::default()
            };
            svc.put_logs("proj", logstore, PutTarget::LoadBalance, &g.encode_to_vec())
                .unwrap();
        }
    }

    fn index_all(svc: &Service) {
        while svc.index_round() {}
    }

    /// The `n` of every log a query matches, sorted, through GetLogs' analytic statement.
    fn ns(svc: &Service, logstore: &str, search: &str) -> Vec<u32> {
        let q = LogQuery {
            from: 0,
            to: i64::from(u32::MAX),
            query: format!("{search} | select n from log order by n limit 100000"),
            ..LogQuery::default()
        };
        svc.get_logs("proj", logstore, &q)
            .unwrap()
            .rows
            .iter()
            .map(|r| r[0].1.parse().unwrap())
            .collect()
    }

    /// The `n` of every log stored, read from the shard logs.
    fn stored(svc: &Service, logstore: &str) -> Vec<u32> {
        let ls = svc.logstore("proj", logstore).unwrap();
        let all = super::super::matched::Window {
            from: i64::MIN,
            to: i64::MAX,
            topic: None,
        };
        let mut out: Vec<u32> = svc
            .scan_all(&ls, all, std::time::Instant::now(), |_| true)
            .unwrap()
            .docs
            .iter()
            .map(|d| d.content("n").unwrap().parse().unwrap())
            .collect();
        out.sort_unstable();
        out
    }

    fn index_dirs(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for uid in subdirs(&dir.join("indexes")) {
            for shard in subdirs(&dir.join("indexes").join(&uid)) {
                for seg in subdirs(&dir.join("indexes").join(&uid).join(&shard)) {
                    out.push(dir.join("indexes").join(&uid).join(&shard).join(seg));
                }
            }
        }
        out.sort();
        out
    }

    /// The logstore uids that have segment indexes.
    fn index_uids(dir: &Path) -> HashSet<String> {
        index_dirs(dir)
            .iter()
            .filter_map(|d| {
                d.parent()?
                    .parent()?
                    .file_name()?
                    .to_str()
                    .map(String::from)
            })
            .collect()
    }

    #[test]
    fn indexes_cover_every_segment_and_answer_as_the_logs_do() {
        let (svc, dir, _clock) = service_with_manual_clock(u64::from(T) * 1000);
        proj_ls1(&svc, 2, 30);
        put(&svc, "ls1", 0, 400);
        svc.create_index("proj", "ls1", line_and_long("n")).unwrap();
        let p = svc.index_progress("proj", "ls1").unwrap();
        assert_eq!((p.indexed, p.total), (0, 20));
        let before = ns(&svc, "ls1", "word3");
        index_all(&svc);
        let p = svc.index_progress("proj", "ls1").unwrap();
        assert_eq!((p.indexed, p.total), (20, 20));
        let segments: usize = svc
            .logstore("proj", "ls1")
            .unwrap()
            .logs
            .values()
            .map(|l| l.sealed_segments().len() + 1)
            .sum();
        assert_eq!(index_dirs(dir.path()).len(), segments);
        assert!(segments > 2);
        let want: Vec<u32> = (0..400).filter(|i| i % 5 == 3).collect();
        assert_eq!(before, want, "before indexing: read from the logs");
        assert_eq!(ns(&svc, "ls1", "word3"), want, "after: from the indexes");
        assert_eq!(ns(&svc, "ls1", "n >= 390"), (390..400).collect::<Vec<_>>());
        // The tail joins the indexed logs.
        put(&svc, "ls1", 400, 430);
        assert_eq!(ns(&svc, "ls1", "n >= 395"), (395..430).collect::<Vec<_>>());
        index_all(&svc);
        assert_eq!(ns(&svc, "ls1", "n >= 395"), (395..430).collect::<Vec<_>>());
    }

    #[test]
    fn pages_read_newest_or_oldest_indexes_first_and_answer_as_the_logs_do() {
        let (svc, _dir, _clock) = service_with_manual_clock(u64::from(T) * 1000);
        proj_ls1(&svc, 2, 30);
        svc.create_index("proj", "ls1", line_and_long("n")).unwrap();
        put(&svc, "ls1", 0, 400);
        index_all(&svc);
        // A tail not indexed yet.
        put(&svc, "ls1", 400, 430);
        let page = |query: &str, reverse: bool, offset: u64, line: u64| {
            let q = LogQuery {
                from: i64::from(T) + 7,
                to: i64::from(T) + 425,
                query: query.into(),
                line,
                offset,
                reverse,
                ..LogQuery::default()
            };
            let a = svc.get_logs("proj", "ls1", &q).unwrap();
            assert_eq!(a.progress, super::super::query::Progress::Complete);
            assert_eq!(a.processed_rows, 418, "every log of the window is counted");
            a.rows
                .iter()
                .map(|r| r.iter().find(|(k, _)| k == "n").unwrap().1.parse().unwrap())
                .collect::<Vec<u32>>()
        };
        for (query, keep) in [
            ("*", &(|_: u32| true) as &dyn Fn(u32) -> bool),
            ("word3", &|i| i % 5 == 3),
            ("n >= 350 or n < 20", &|i| !(20..350).contains(&i)),
        ] {
            let want: Vec<u32> = (7..425).filter(|&i| keep(i)).collect();
            for (offset, line) in [(0, 100), (0, 3), (90, 100), (5, 40), (400, 100)] {
                let (o, l) = (offset as usize, line as usize);
                let oldest: Vec<u32> = want.iter().copied().skip(o).take(l).collect();
                let newest: Vec<u32> = want.iter().rev().copied().skip(o).take(l).collect();
                assert_eq!(
                    page(query, false, offset, line),
                    oldest,
                    "{query} {offset} {line}"
                );
                assert_eq!(
                    page(query, true, offset, line),
                    newest,
                    "{query} {offset} {line}"
                );
            }
        }
    }

    #[test]
    fn retention_removes_indexes_with_their_segments() {
        let (svc, dir, clock) = service_with_manual_clock(u64::from(T) * 1000);
        proj_ls1(&svc, 1, 1);
        svc.create_index("proj", "ls1", line_and_long("n")).unwrap();
        put(&svc, "ls1", 0, 400);
        index_all(&svc);
        let before = index_dirs(dir.path());
        clock.advance(2 * 86_400_000);
        put(&svc, "ls1", 400, 420);
        assert!(svc.run_retention() > 0);
        let kept = stored(&svc, "ls1");
        assert!(kept.len() < 420 && kept.contains(&419));
        // Queries never read an index of a deleted segment, even before the indexer ran.
        assert_eq!(ns(&svc, "ls1", "*"), kept);
        index_all(&svc);
        assert_eq!(ns(&svc, "ls1", "*"), kept);
        let after = index_dirs(dir.path());
        assert!(after.len() < before.len(), "{before:?} {after:?}");
        let begin = svc.logstore("proj", "ls1").unwrap().logs[&0].begin();
        for d in &after {
            let base: u64 = d.file_name().unwrap().to_str().unwrap().parse().unwrap();
            assert!(base >= begin, "{d:?} is below the begin cursor {begin}");
        }
    }

    #[test]
    fn a_restored_logstore_gets_indexes_of_its_own() {
        let (svc, dir, _clock) = service_with_manual_clock(u64::from(T) * 1000);
        let svc = Arc::new(svc);
        proj_ls1(&svc, 2, 30);
        svc.create_index("proj", "ls1", line_and_long("n")).unwrap();
        put(&svc, "ls1", 0, 300);
        index_all(&svc);
        let b = svc.take_checkpoint("proj", "ls1").unwrap();
        put(&svc, "ls1", 300, 340);
        let jobs = svc
            .start_restore("proj", "ls1", &b.id, "proj", "copy")
            .unwrap();
        wait_jobs(&svc, &jobs[0].batch_id);
        assert_eq!(
            ns(&svc, "copy", "word1"),
            (0..300).filter(|i| i % 5 == 1).collect::<Vec<_>>()
        );
        index_all(&svc);
        assert_eq!(
            ns(&svc, "copy", "word1"),
            (0..300).filter(|i| i % 5 == 1).collect::<Vec<_>>()
        );
        assert_eq!(
            ns(&svc, "ls1", "word1"),
            (0..340).filter(|i| i % 5 == 1).collect::<Vec<_>>()
        );
        let uids = index_uids(dir.path());
        assert_eq!(uids.len(), 2, "each logstore has indexes of its own");
        // Deleting the copy removes its indexes.
        svc.delete_logstore("proj", "copy").unwrap();
        index_all(&svc);
        let uids = index_uids(dir.path());
        assert_eq!(uids.len(), 1);
    }
}
