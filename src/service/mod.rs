//! The service layer: one method per API operation, in terms of names, numbers and bytes — no
//! HTTP here. Methods are synchronous (they may fsync); the HTTP layer runs them on blocking
//! threads.
//!
//! State is a catalogue of projects and logstores kept in memory and written through to the
//! [`MetadataStore`] before a change becomes visible, plus one [`ShardLog`] per shard.

mod backups;
mod consumers;
mod dirs;
mod index;
mod indexer;
mod json_logs;
mod logs;
mod logstores;
mod matched;
mod projects;
mod query;
mod shards;
mod stream_query;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use anyhow::Context;
use cairn_storage::io::Fs;
use cairn_storage::{
    DirKey, FsyncPolicy, HybridClock, LogConfig, ShardLog, ShardStore, StorageError,
};
use parking_lot::{Mutex, RwLock};

use crate::excerpt::excerpt;
use crate::meta::{
    ExtentRec, JobStatus, LogstoreRec, MetaError, MetaOp, MetaWriter, MetadataStore, ProjectRec,
};

pub use backups::{BackupView, RestoreTarget, ScheduleUpdate};
pub use consumers::{CheckpointView, GroupSpec};
pub use index::validate as validate_index;
pub use indexer::IndexProgress;
pub use json_logs::{JsonBatch, MAX_JSON_FIELDS, MAX_JSON_LOGS};
pub use logs::{
    decompress_body, parse_hash_key, CursorFrom, Pull, PullAnswer, PullFormat, PullRead,
    PullResult, PutTarget,
};
pub use logstores::LogstoreSpec;
pub use projects::{ProjectList, ProjectSpec, ProjectSummary};
pub use query::{Bucket, ContextAnswer, LogQuery, LogsAnswer, Progress, QueryLimits, Row};

/// Most logstores one project may hold.
pub const MAX_LOGSTORES_PER_PROJECT: usize = 200;
/// Most shards a logstore may be created with.
pub const MAX_SHARDS_AT_CREATE: u32 = 100;
/// Largest `count` of one PullLogs.
pub const MAX_PULL_COUNT: usize = 1000;
/// Payload bytes after which one PullLogs stops adding LogGroups.
pub const MAX_PULL_BYTES: usize = 10 * 1024 * 1024;

/// What can go wrong in an operation; each variant maps to one wire error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such project.
    #[error("The Project does not exist : {}", excerpt(.0))]
    ProjectNotExist(String),
    /// Duplicate project.
    #[error("Project {} already exist", excerpt(.0))]
    ProjectAlreadyExist(String),
    /// No such logstore.
    #[error("logstore {} does not exist", excerpt(.0))]
    LogStoreNotExist(String),
    /// Duplicate logstore.
    #[error("logstore {} already exists", excerpt(.0))]
    LogStoreAlreadyExist(String),
    /// CreateIndex on a logstore that has an index.
    #[error("the logstore {} already has an index", excerpt(.0))]
    IndexAlreadyExist(String),
    /// No index configuration (GetIndex, UpdateIndex, DeleteIndex).
    #[error("logstore without index config: {}", excerpt(.0))]
    IndexConfigNotExist(String),
    /// A tracking (unsigned) write to a logstore without `enable_tracking`.
    #[error(
        "web tracking is not enabled for logstore {}: set enable_tracking with UpdateLogStore",
        excerpt(.0)
    )]
    TrackingDisabled(String),
    /// No logstore of the project has this uid.
    #[error("no logstore has the id {}", excerpt(.0))]
    LogStoreIdNotExist(String),
    /// No such shard.
    #[error("Shard {0} does not exist")]
    ShardNotExist(u32),
    /// A cursor outside the shard's range.
    #[error("{0}")]
    InvalidCursor(String),
    /// A malformed or out-of-range parameter.
    #[error("{0}")]
    ParameterInvalid(String),
    /// Bad logstore settings.
    #[error("{0}")]
    LogStoreInfoInvalid(String),
    /// Bad project settings.
    #[error("{0}")]
    ProjectInfoInvalid(String),
    /// A PutLogs body that is not a valid LogGroup.
    #[error("{0}")]
    PostBodyInvalid(String),
    /// A body (or its decompressed LogGroup) over the limit.
    #[error("{0}")]
    PostBodyTooLarge(String),
    /// A body that does not decompress as it says.
    #[error("{0}")]
    PostBodyUncompress(String),
    /// No such consumer group.
    #[error("consumer group {} does not exist", excerpt(.0))]
    ConsumerGroupNotExist(String),
    /// Duplicate consumer group.
    #[error("consumer group {} already exists", excerpt(.0))]
    ConsumerGroupAlreadyExist(String),
    /// A checkpoint from a consumer the group does not know.
    #[error("consumer {} does not exist in this group", excerpt(.0))]
    ConsumerNotExist(String),
    /// A checkpoint from a consumer that does not hold the shard.
    #[error("{0}")]
    ConsumerNotMatch(String),
    /// No such backup checkpoint.
    #[error("no checkpoint with id {}", excerpt(.0))]
    CheckpointNotExist(String),
    /// A restore target that already holds data.
    #[error("{0}")]
    TargetNotEmpty(String),
    /// No such restore job.
    #[error("no restore job with id {}", excerpt(.0))]
    RestoreJobNotExist(String),
    /// A limit on the number of things was reached.
    #[error("{0}")]
    QuotaExceed(String),
    /// A query past its time or memory budget.
    #[error("{0}")]
    QueryBudget(String),
    /// The disk is full (or a quota exhausted): nothing was changed; retry once there is space.
    #[error("the disk is full: {0}")]
    DiskFull(String),
    /// The server is out of file descriptors: nothing was changed; retry later.
    #[error("the server is out of file descriptors: {0}")]
    ServerBusy(String),
    /// Storage refused the operation (failed shard, I/O error).
    #[error("{0}")]
    Internal(String),
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Self {
        if let MetaError::DiskFull(m) = &e {
            return Error::DiskFull(format!("metadata store: {m}"));
        }
        tracing::error!(error = %e, "metadata store error");
        Error::Internal(e.to_string())
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::CursorOutOfRange { cursor, begin, end } => Error::InvalidCursor(format!(
                "cursor {cursor} is out of range [{begin}, {end}] of this shard"
            )),
            e if e.is_disk_full() => Error::DiskFull(e.to_string()),
            e if e.is_out_of_descriptors() => Error::ServerBusy(e.to_string()),
            other => {
                tracing::error!(error = %other, "storage error");
                Error::Internal(other.to_string())
            }
        }
    }
}

/// Result of a service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs a synchronous service call (one that may fsync or read files) on tokio's blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("worker failed: {e}")))?
}

/// A logstore with its open shard logs. Replaced as a whole when its metadata changes.
pub struct Logstore {
    /// The stored record.
    pub rec: LogstoreRec,
    /// Open shard logs by shard id.
    pub logs: BTreeMap<u32, Arc<ShardLog>>,
    /// Round-robin counter for load-balanced writes.
    lb: Arc<AtomicUsize>,
}

impl Logstore {
    fn shard_log(&self, shard: u32) -> Result<&Arc<ShardLog>> {
        self.logs.get(&shard).ok_or(Error::ShardNotExist(shard))
    }
}

#[derive(Default)]
struct Catalog {
    projects: BTreeMap<String, ProjectRec>,
    logstores: BTreeMap<(String, String), Arc<Logstore>>,
}

impl Catalog {
    /// The logstores of the project `project`, sorted by name.
    fn logstores_of<'a>(&'a self, project: &'a str) -> impl Iterator<Item = &'a Arc<Logstore>> {
        self.logstores
            .range((project.to_string(), String::new())..)
            .take_while(move |((p, _), _)| p == project)
            .map(|(_, ls)| ls)
    }

    fn summary(&self, rec: &ProjectRec) -> projects::ProjectSummary {
        projects::ProjectSummary {
            rec: rec.clone(),
            logstores: self.logstores_of(&rec.name).count(),
        }
    }
}

/// The Cairn service.
pub struct Service {
    meta: Arc<MetaWriter>,
    catalog: RwLock<Catalog>,
    /// Consumer groups: definitions, checkpoints, live consumers.
    consumers: consumers::Registry,
    /// Serialises metadata changes so read-modify-write of records is safe.
    ddl: Mutex<()>,
    clock: Arc<HybridClock>,
    /// Every shard log and backup pin, by id.
    store: ShardStore,
    /// Backup checkpoints, schedules and restore jobs.
    backups: backups::Backups,
    /// Checkpoint interval of logstores without their own schedule (0: off).
    default_checkpoint_interval_min: u32,
    /// The budgets of every query.
    query_limits: QueryLimits,
    /// The turns of running queries.
    query_turns: query::QueryTurns,
    /// The segment indexes queries read.
    indexes: indexer::Indexes,
}

impl Service {
    /// Opens the service over `data_dir`: loads metadata, opens (recovering) every shard log
    /// through `fs`, checks each against its recorded extent and the consumer checkpoints
    /// against it (design §8), and settles the directory intents (design §2). Refuses, with a
    /// message naming what is wrong, rather than serve data it cannot account for.
    pub fn open(
        data_dir: &Path,
        meta: Arc<dyn MetadataStore>,
        log_cfg: LogConfig,
        clock: Arc<HybridClock>,
        fs: Arc<dyn Fs>,
    ) -> anyhow::Result<Self> {
        let fsync = log_cfg.fsync;
        let store = ShardStore::open(data_dir, fs, log_cfg, clock.clone())
            .with_context(|| format!("opening the data dir {}", data_dir.display()))?;
        let snap = meta.load()?;
        let mut catalog = Catalog::default();
        for p in snap.projects {
            catalog.projects.insert(p.name.clone(), p);
        }
        let extents: HashMap<(&str, u32), ExtentRec> = snap
            .extents
            .iter()
            .map(|(uid, shard, e)| ((uid.as_str(), *shard), *e))
            .collect();
        let mut live = HashSet::new();
        let mut observed = Vec::new();
        for rec in snap.logstores {
            live.insert(DirKey::Logstore(rec.uid.clone()));
            let mut logs = BTreeMap::new();
            for shard in &rec.shards {
                live.insert(DirKey::Shard(rec.uid.clone(), shard.id));
                let name = format!(
                    "shard {} of logstore {}/{}",
                    shard.id, rec.project, rec.name
                );
                let log = store
                    .open_shard(&rec.uid, shard.id)
                    .with_context(|| format!("cannot open {name}"))?;
                let dir = log.dir().to_path_buf();
                let found = ExtentRec {
                    begin: log.begin(),
                    end: log.end(),
                    segment: log.newest_segment(),
                };
                if let Some(known) = extents.get(&(rec.uid.as_str(), shard.id)) {
                    check_extent(&name, &dir, known, &found)?;
                }
                if let Some(h) = log.last_hlc() {
                    clock.observe(h);
                }
                observed.push(MetaOp::RaiseExtent {
                    uid: rec.uid.clone(),
                    shard: shard.id,
                    extent: ExtentRec { begin: 0, ..found },
                });
                logs.insert(shard.id, Arc::new(log));
            }
            let key = (rec.project.clone(), rec.name.clone());
            catalog.logstores.insert(
                key,
                Arc::new(Logstore {
                    rec,
                    logs,
                    lb: Default::default(),
                }),
            );
        }
        check_checkpoints(&catalog, &snap.checkpoints, fsync)?;
        for b in &snap.backups {
            live.insert(DirKey::Pins(b.id.clone()));
        }
        let mut settle = dirs::settle(&store, data_dir, &live, &snap.intents)?;
        // Extents of logstores that no longer exist (a seal that raced a delete).
        let live_uids: HashSet<&str> = catalog
            .logstores
            .values()
            .map(|l| l.rec.uid.as_str())
            .collect();
        let stale: HashSet<&str> = snap
            .extents
            .iter()
            .map(|(uid, _, _)| uid.as_str())
            .filter(|uid| !live_uids.contains(uid))
            .collect();
        settle.extend(
            stale
                .into_iter()
                .map(|u| MetaOp::DeleteExtents(u.to_string())),
        );
        let consumers = consumers::Registry::load(snap.groups, snap.checkpoints, &catalog);
        let mut restore_jobs = snap.restore_jobs;
        for j in restore_jobs
            .iter_mut()
            .filter(|j| j.status == JobStatus::InProgress)
        {
            j.status = JobStatus::Broken;
            j.reason = Some("interrupted by a restart; start the restore again".into());
            settle.push(MetaOp::PutRestoreJob(j.clone()));
        }
        settle.extend(observed);
        meta.apply(&settle)?;
        let backups = RwLock::new(backups::BackupState::load(
            snap.backups,
            snap.schedules,
            restore_jobs,
        ));
        let svc = Self {
            meta: Arc::new(MetaWriter::start(meta)),
            catalog: RwLock::new(catalog),
            consumers,
            backups,
            default_checkpoint_interval_min: 0,
            query_limits: QueryLimits::default(),
            query_turns: Default::default(),
            indexes: indexer::Indexes::new(store.derived_root()),
            ddl: Mutex::new(()),
            clock,
            store,
        };
        for ls in svc.catalog.read().logstores.values() {
            for (id, log) in &ls.logs {
                svc.watch(&ls.rec.uid, *id, log);
            }
        }
        Ok(svc)
    }

    /// Has every seal of `log` (shard `shard` of the logstore with uid `uid`) raise the shard's
    /// recorded extent (design §8). The change is queued, not waited for: the extent is a lower
    /// bound, and a later one covers a lost one.
    fn watch(&self, uid: &str, shard: u32, log: &ShardLog) {
        let meta = Arc::downgrade(&self.meta);
        let uid = uid.to_string();
        log.set_seal_listener(Box::new(move |base| {
            if let Some(meta) = meta.upgrade() {
                drop(meta.submit(vec![MetaOp::RaiseExtent {
                    uid: uid.clone(),
                    shard,
                    extent: ExtentRec {
                        begin: 0,
                        end: base,
                        segment: base,
                    },
                }]));
            }
        }));
    }

    /// A new shard log whose first cursor is `begin`, watched like every shard.
    fn create_shard(&self, uid: &str, shard: u32, begin: u64) -> Result<Arc<ShardLog>> {
        Ok(self.watched(uid, shard, self.store.create_shard(uid, shard, begin)?))
    }

    /// `log` (shard `shard` of the logstore with uid `uid`), watched like every shard.
    fn watched(&self, uid: &str, shard: u32, log: ShardLog) -> Arc<ShardLog> {
        self.watch(uid, shard, &log);
        Arc::new(log)
    }

    /// Sets the checkpoint interval of logstores that have no schedule of their own.
    pub fn with_default_checkpoint_interval(mut self, minutes: u32) -> Self {
        self.default_checkpoint_interval_min = minutes;
        self
    }

    /// Sets the budgets of every query (`[query]`).
    pub fn with_query_limits(mut self, limits: QueryLimits) -> Self {
        self.query_limits = limits;
        self
    }

    /// The process-wide hybrid logical clock.
    pub fn clock(&self) -> &Arc<HybridClock> {
        &self.clock
    }

    /// Unix seconds now.
    fn now_secs(&self) -> i64 {
        (self.clock.wall_millis() / 1000) as i64
    }

    fn project_exists(&self, project: &str) -> Result<()> {
        if self.catalog.read().projects.contains_key(project) {
            Ok(())
        } else {
            Err(Error::ProjectNotExist(project.to_string()))
        }
    }

    /// The logstore `project/name`, checking the project first so the error names the right thing.
    pub fn logstore(&self, project: &str, name: &str) -> Result<Arc<Logstore>> {
        let cat = self.catalog.read();
        if !cat.projects.contains_key(project) {
            return Err(Error::ProjectNotExist(project.to_string()));
        }
        cat.logstores
            .get(&(project.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| Error::LogStoreNotExist(name.to_string()))
    }

    /// Applies metadata ops durably, then installs the new catalogue state with `install`.
    fn commit(&self, ops: &[MetaOp], install: impl FnOnce(&mut Catalog)) -> Result<()> {
        self.meta.submit(ops.to_vec()).wait()?;
        install(&mut self.catalog.write());
        Ok(())
    }

    /// Forces every shard log to disk (for `fsync = "interval"` and at shutdown).
    pub fn sync_all(&self) {
        let stores: Vec<_> = self.catalog.read().logstores.values().cloned().collect();
        for ls in stores {
            for log in ls.logs.values() {
                if let Err(e) = log.sync() {
                    tracing::error!(error = %e, logstore = %ls.rec.name, "sync failed");
                }
            }
        }
    }

    /// Syncs every shard log and records how far each reaches (design §8), for a clean stop.
    pub fn shutdown(&self) {
        let stores: Vec<_> = self.catalog.read().logstores.values().cloned().collect();
        let mut ops = Vec::new();
        for ls in stores {
            for (id, log) in &ls.logs {
                match log.sync() {
                    Ok(()) => ops.push(MetaOp::RaiseExtent {
                        uid: ls.rec.uid.clone(),
                        shard: *id,
                        extent: ExtentRec {
                            begin: 0,
                            end: log.end(),
                            segment: log.newest_segment(),
                        },
                    }),
                    Err(e) => {
                        tracing::error!(error = %e, logstore = %ls.rec.name, shard = id, "sync failed")
                    }
                }
            }
        }
        if let Err(e) = self.meta.submit(ops).wait() {
            tracing::error!(error = %e, "could not record the shards' extents at shutdown");
        }
    }

    /// Deletes segments older than each logstore's ttl; returns the number of segments deleted.
    /// Each shard's new begin cursor is committed before its files are deleted (design §9).
    pub fn run_retention(&self) -> usize {
        let now_ms = self.clock.wall_millis();
        let stores: Vec<_> = self.catalog.read().logstores.values().cloned().collect();
        let mut deleted = 0;
        for ls in stores {
            let ttl = ls.rec.settings.ttl;
            if ttl >= logstores::TTL_FOREVER {
                continue;
            }
            let cutoff = now_ms.saturating_sub(u64::from(ttl) * 86_400_000);
            for (id, log) in &ls.logs {
                let Some(begin) = log.expirable_before(cutoff) else {
                    continue;
                };
                let recorded = self
                    .meta
                    .submit(vec![MetaOp::RaiseExtent {
                        uid: ls.rec.uid.clone(),
                        shard: *id,
                        extent: ExtentRec {
                            begin,
                            end: 0,
                            segment: 0,
                        },
                    }])
                    .wait();
                match recorded
                    .map_err(Error::from)
                    .and_then(|()| Ok(log.expire_to(begin)?))
                {
                    Ok(n) => deleted += n,
                    Err(e) => {
                        tracing::error!(error = %e, logstore = %ls.rec.name, shard = id, "retention failed")
                    }
                }
            }
        }
        deleted
    }
}

/// Refuses a shard whose files fall short of its recorded extent (design §8).
fn check_extent(
    name: &str,
    dir: &Path,
    known: &ExtentRec,
    found: &ExtentRec,
) -> anyhow::Result<()> {
    if found.end < known.end || found.segment < known.segment {
        anyhow::bail!(
            "refusing to start: {name} ({}) ends at cursor {} in a segment starting at cursor {}, but it held \
             every LogGroup up to cursor {} durably before, in segments up to the one starting at cursor {}: \
             its newest segment files are missing. Restore them (or the whole data dir) from a backup; \
             starting anyway would hand the lost cursors out again.",
            dir.display(),
            found.end,
            found.segment,
            known.end,
            known.segment,
        );
    }
    if found.begin > known.begin {
        anyhow::bail!(
            "refusing to start: {name} ({}) begins at cursor {}, but retention removed only the LogGroups \
             before cursor {}: its oldest segment files are missing. Restore them from a backup of the data dir.",
            dir.display(),
            found.begin,
            known.begin
        );
    }
    Ok(())
}

/// Checks every consumer checkpoint against its shard's end (design §8).
fn check_checkpoints(
    catalog: &Catalog,
    checkpoints: &[(String, String, String, crate::meta::CheckpointRec)],
    fsync: FsyncPolicy,
) -> anyhow::Result<()> {
    for (p, l, g, c) in checkpoints {
        let Some(log) = catalog
            .logstores
            .get(&(p.clone(), l.clone()))
            .and_then(|ls| ls.logs.get(&c.shard))
        else {
            continue;
        };
        if c.cursor <= log.end() {
            continue;
        }
        if fsync == FsyncPolicy::Always {
            anyhow::bail!(
                "refusing to start: consumer group {g} of logstore {p}/{l} has a checkpoint at cursor {} \
                 of shard {}, which ends at cursor {}: acknowledged LogGroups of that shard are lost \
                 ({}). Restore its segment files from a backup of the data dir.",
                c.cursor,
                c.shard,
                log.end(),
                log.dir().display()
            );
        }
        tracing::warn!(group = %g, logstore = %format!("{p}/{l}"), shard = c.shard, checkpoint = c.cursor,
            end = log.end(), "a consumer checkpoint is past the end of its shard: LogGroups acknowledged \
            without fsync were lost in a crash");
    }
    Ok(())
}

/// A random 24-hex id (the shape of Atlas/ObjectId ids).
pub fn new_id() -> String {
    let bytes: [u8; 12] = rand::random();
    hex::encode(bytes)
}

/// A rule for names: length bounds, the characters allowed besides ASCII digits and letters,
/// and whether uppercase letters are allowed. Every name starts and ends with a letter or digit.
pub(crate) struct NameRule {
    /// What is named, for the error message.
    pub what: &'static str,
    /// Shortest and longest length.
    pub len: (usize, usize),
    /// Allowed besides letters and digits.
    pub extra: &'static [u8],
    /// Whether uppercase letters are allowed.
    pub upper: bool,
}

impl NameRule {
    /// Checks `name` against the rule.
    pub fn check(&self, name: &str) -> Result<()> {
        let b = name.as_bytes();
        let letter = |c: u8| c.is_ascii_lowercase() || (self.upper && c.is_ascii_uppercase());
        let ok = (self.len.0..=self.len.1).contains(&b.len())
            && b.iter()
                .all(|&c| letter(c) || c.is_ascii_digit() || self.extra.contains(&c))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric();
        if ok {
            return Ok(());
        }
        let letters = if self.upper {
            "letters"
        } else {
            "lowercase letters"
        };
        let mut kinds = vec![letters.to_string(), "digits".to_string()];
        kinds.extend(self.extra.iter().map(|c| format!("'{}'", *c as char)));
        let last = kinds.pop().unwrap_or_default();
        Err(Error::ParameterInvalid(format!(
            "{} name {:?} is invalid: use {}-{} {} and {last}, starting and ending with a letter or digit",
            self.what,
            excerpt(name),
            self.len.0,
            self.len.1,
            kinds.join(", ")
        )))
    }
}

/// Project names: 3–63 lowercase letters, digits and `-`.
pub(crate) const PROJECT_NAME: NameRule = NameRule {
    what: "project",
    len: (3, 63),
    extra: b"-",
    upper: false,
};

/// Logstore names: 3–63 lowercase letters, digits, `-` and `_`.
pub(crate) const LOGSTORE_NAME: NameRule = NameRule {
    what: "logstore",
    len: (3, 63),
    extra: b"-_",
    upper: false,
};

/// Consumer group names: 2–128 letters, digits, `-` and `_`.
pub(crate) const GROUP_NAME: NameRule = NameRule {
    what: "consumer group",
    len: (2, 128),
    extra: b"-_",
    upper: true,
};

/// Checks a project name (see [`PROJECT_NAME`]).
pub fn validate_project_name(name: &str) -> Result<()> {
    PROJECT_NAME.check(name)
}

/// Checks a logstore name (see [`LOGSTORE_NAME`]).
pub fn validate_logstore_name(name: &str) -> Result<()> {
    LOGSTORE_NAME.check(name)
}

#[cfg(test)]
/// Services over temporary data dirs, for tests.
pub mod testing {
    use super::*;
    use cairn_storage::{ManualClock, SystemClock};

    /// A service over a temp dir with small segments, plus the dir guard.
    pub fn service() -> (Service, tempfile::TempDir) {
        service_with_clock(Arc::new(SystemClock))
    }

    /// Like [`service`] with a manual clock.
    pub fn service_with_manual_clock(
        start_ms: u64,
    ) -> (Service, tempfile::TempDir, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(start_ms));
        let (svc, dir) = service_with_clock(clock.clone());
        (svc, dir, clock)
    }

    fn service_with_clock(clock: Arc<dyn cairn_storage::Clock>) -> (Service, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let svc = reopen(dir.path(), clock);
        (svc, dir)
    }

    /// Opens a service over an existing data dir.
    pub fn reopen(dir: &Path, clock: Arc<dyn cairn_storage::Clock>) -> Service {
        try_reopen(dir, clock).unwrap()
    }

    /// Creates project `proj` with logstore `ls1` of `shards` shards and a ttl of `ttl` days.
    pub fn proj_ls1(svc: &Service, shards: u32, ttl: u32) {
        svc.create_project(ProjectSpec {
            name: "proj".into(),
            ..Default::default()
        })
        .unwrap();
        svc.create_logstore(
            "proj",
            LogstoreSpec {
                name: "ls1".into(),
                ttl: Some(ttl),
                shard_count: Some(shards),
                ..Default::default()
            },
        )
        .unwrap();
    }

    /// Waits (at most 30 s, which only a hanging restore reaches) until no job of restore
    /// batch `batch` of `proj/ls1` is in progress; answers the batch's jobs.
    pub fn wait_jobs(svc: &Service, batch: &str) -> Vec<crate::meta::RestoreJobRec> {
        for _ in 0..6000 {
            let jobs = svc.list_restore_jobs("proj", "ls1", Some(batch)).unwrap();
            if jobs.iter().all(|j| j.status != JobStatus::InProgress) {
                return jobs;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("restore did not finish");
    }

    /// Creates consumer group `cg` of `proj/ls1` (timeout 10 s, no order).
    pub fn group_cg(svc: &Service) {
        svc.create_consumer_group(
            "proj",
            "ls1",
            GroupSpec {
                name: "cg".into(),
                timeout: 10,
                order: false,
            },
        )
        .unwrap();
    }

    /// Commits `cursor` as the checkpoint of `cg` on `shard`, without a consumer.
    pub fn force_checkpoint(svc: &Service, shard: u32, cursor: u64) -> Result<()> {
        svc.update_checkpoint(
            "proj",
            "ls1",
            "cg",
            None,
            true,
            shard,
            &cairn_proto::encode_cursor(cursor),
        )
    }

    /// A LogGroup of one log whose value names `i`, padded with `pad` bytes.
    pub fn log_group(i: u32, pad: usize) -> Vec<u8> {
        use prost::Message;
        cairn_proto::LogGroup {
            logs: vec![cairn_proto::Log {
                time: 1,
                contents: vec![cairn_proto::LogContent {
                    key: b"i".to_vec(),
                    value: format!("{i}{}", "x".repeat(pad)).into_bytes(),
                }],
                time_ns: None,
            }],
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// An index configuration: full text cut at spaces, and `key` as a long.
    pub fn line_and_long(key: &str) -> crate::meta::index::IndexConfig {
        use crate::meta::index::{IndexConfig, KeyIndex, KeyType, LineIndex, TextRules};
        IndexConfig {
            line: Some(LineIndex {
                text: TextRules {
                    token: vec![" ".into()],
                    case_sensitive: None,
                    chn: None,
                },
                ..Default::default()
            }),
            keys: [(key.to_string(), KeyIndex::of_kind(KeyType::Long))].into(),
            ..Default::default()
        }
    }

    /// The settings of test services: small segments.
    pub fn log_config() -> LogConfig {
        LogConfig {
            segment_bytes: 64 * 1024,
            ..LogConfig::default()
        }
    }

    /// Opens a service over an existing data dir, or says why it refuses to.
    pub fn try_reopen(dir: &Path, clock: Arc<dyn cairn_storage::Clock>) -> anyhow::Result<Service> {
        let meta = crate::meta::RedbMetaStore::open(&dir.join("meta.redb"))?;
        open_over(dir, Arc::new(meta), clock)
    }

    /// Opens a service over `dir` with another metadata store.
    pub fn open_over(
        dir: &Path,
        meta: Arc<dyn MetadataStore>,
        clock: Arc<dyn cairn_storage::Clock>,
    ) -> anyhow::Result<Service> {
        Service::open(
            dir,
            meta,
            log_config(),
            Arc::new(HybridClock::new(clock)),
            Arc::new(cairn_storage::PooledFs::new(64)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_errors_say_what_is_allowed() {
        let e = validate_logstore_name("A").unwrap_err().to_string();
        assert!(
            e.contains("use 3-63 lowercase letters, digits, '-' and '_', starting and ending"),
            "{e}"
        );
        let e = GROUP_NAME.check("x").unwrap_err().to_string();
        assert!(e.contains("use 2-128 letters, digits, '-' and '_'"), "{e}");
    }

    #[test]
    fn names_are_checked() {
        for ok in ["abc", "a-b", "a1-2-c", &"a".repeat(63)] {
            validate_project_name(ok).unwrap();
        }
        for bad in ["ab", "-ab", "ab-", "aBc", "a_b", "a.b", &"a".repeat(64)] {
            assert!(validate_project_name(bad).is_err(), "{bad}");
        }
        for ok in ["abc", "a_b", "a-b_c", "0ab"] {
            validate_logstore_name(ok).unwrap();
        }
        for bad in ["ab", "_ab", "ab_", "aBc", "a/b", "a.b"] {
            assert!(validate_logstore_name(bad).is_err(), "{bad}");
        }
    }
}
