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
use super::{Error, Result, Service};
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
        let cfg = self.get_index(project, logstore)?;
        let ttl = self.logstore(project, logstore)?.rec.settings.ttl;
        Ok((cfg, ttl, self.index_progress(project, logstore)?))
    }

    /// How far the indexes of a logstore reach.
    pub fn index_progress(&self, project: &str, logstore: &str) -> Result<IndexProgress> {
        let ls = self.logstore(project, logstore)?;
        let Some(cfg) = &ls.rec.settings.index else {
            return Err(Error::IndexConfigNotExist(logstore.to_string()));
        };
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
        Ok(p)
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
                let publish = |state: &ShardIndexes| {
                    let views = ShardViews {
                        config: config.clone(),
                        views: state.segments.values().map(|s| s.view(shard)).collect(),
                    };
                    self.indexes
                        .published
                        .write()
                        .insert((ls.rec.uid.clone(), shard), Arc::new(views));
                };
                match index_shard(state, &dir, log, &layout, commit_bytes, &publish) {
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
                publish(state);
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
        self.indexes
            .published
            .write()
            .retain(|k, _| live.contains(k));
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
struct Outcome {
    /// Work is left for the next round.
    left: bool,
    /// It started indexing a sealed segment: logs stored before the index (or its
    /// configuration), or an index built again; not just the newest logs.
    backlog: bool,
}

/// Brings the indexes of one shard closer to its log.
fn index_shard(
    state: &mut ShardIndexes,
    dir: &Path,
    log: &ShardLog,
    layout: &Arc<Layout>,
    commit_bytes: usize,
    publish: &dyn Fn(&ShardIndexes),
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
    let mut left = false;
    let mut backlog = false;
    for (base, next, sealed) in segments {
        if base >= next || base < begin {
            continue;
        }
        if !state.segments.contains_key(&base) {
            let opened = if state.loaded {
                Err(Unusable::Missing)
            } else {
                SegmentIndex::open(dir, base, &state.config, layout)
            };
            let index = match opened {
                Ok(i) if still_matches(i.coverage(), log, next)? => i,
                Ok(_) | Err(Unusable::Stale(_)) | Err(Unusable::Missing) => {
                    if let Err(Unusable::Stale(why)) = &opened {
                        tracing::warn!(dir = %dir.display(), segment = base, reason = %why,
                            "rebuilding a segment index that cannot be used");
                    }
                    backlog |= sealed;
                    let first = hlc_at(log, base)?;
                    SegmentIndex::create(dir, Coverage::empty(&state.config, base, first), layout)
                        .map_err(ix)?
                }
            };
            state.segments.insert(base, index);
        }
        let Some(coverage) = state.segments.get(&base).map(|i| i.coverage().clone()) else {
            continue;
        };
        if coverage.sealed {
            continue;
        }
        if budget == 0 {
            left = true;
            continue;
        }
        let mut cursor = coverage.through;
        while let Some(index) = state.segments.get_mut(&base) {
            let mut docs = Vec::new();
            let mut bytes = 0usize;
            let mut last_hlc = None;
            let limit = commit_bytes.min(budget);
            for_each_group(log, 0, cursor, next, |g| {
                cursor = g.cursor + 1;
                bytes += g.bytes;
                last_hlc = Some(g.hlc);
                docs.extend(g.docs);
                Ok(bytes < limit)
            })?;
            budget = budget.saturating_sub(bytes);
            let done = sealed && cursor == next;
            if cursor == index.coverage().through && !done {
                break;
            }
            index.add(&docs, cursor, last_hlc, done).map_err(ix)?;
            publish(state);
            if done || cursor == next {
                break;
            }
            if budget == 0 {
                left = true;
                break;
            }
        }
    }
    state.loaded = true;
    Ok(Outcome { left, backlog })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_proto::logs::LogGroup;
    use cairn_proto::{Log, LogContent};
    use prost::Message;

    use super::super::testing::{proj_ls1, service_with_manual_clock, wait_jobs};
    use super::super::{LogQuery, PutTarget};
    use super::*;
    use crate::meta::index::{FieldIndex, KeyIndex, KeyType, LineIndex, TextRules};

    const T: u32 = 1_700_000_000;

    fn config() -> IndexConfig {
        let mut keys = BTreeMap::new();
        keys.insert(
            "n".to_string(),
            KeyIndex {
                field: FieldIndex {
                    kind: KeyType::Long,
                    text: None,
                    alias: None,
                    doc_value: Some(true),
                    extra: Default::default(),
                },
                json_keys: Default::default(),
                index_all: None,
                max_depth: None,
            },
        );
        IndexConfig {
            line: Some(LineIndex {
                text: TextRules {
                    token: vec![" ".into()],
                    case_sensitive: None,
                    chn: None,
                },
                ..Default::default()
            }),
            keys,
            ..Default::default()
        }
    }

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
        let mut out: Vec<u32> = svc
            .scan(
                &ls,
                i64::MIN,
                i64::MAX,
                None,
                std::time::Instant::now(),
                |_| true,
            )
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
        svc.create_index("proj", "ls1", config()).unwrap();
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
    fn retention_removes_indexes_with_their_segments() {
        let (svc, dir, clock) = service_with_manual_clock(u64::from(T) * 1000);
        proj_ls1(&svc, 1, 1);
        svc.create_index("proj", "ls1", config()).unwrap();
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
        svc.create_index("proj", "ls1", config()).unwrap();
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
