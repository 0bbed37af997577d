//! The service layer: one method per API operation, in terms of names, numbers and bytes — no
//! HTTP here. Methods are synchronous (they may fsync); the HTTP layer runs them on blocking
//! threads.
//!
//! State is a catalogue of projects and logstores kept in memory and written through to the
//! [`MetadataStore`] before a change becomes visible, plus one [`ShardLog`] per shard.

mod backups;
mod consumers;
mod logs;
mod logstores;
mod projects;
mod shards;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use cairn_storage::{HybridClock, LogConfig, Reserver, ShardLog, StorageError};
use parking_lot::{Mutex, RwLock};

use crate::excerpt::excerpt;
use crate::meta::{LogstoreRec, MetaError, MetaOp, MetaWriter, MetadataStore, ProjectRec};

pub use backups::{BackupView, ScheduleUpdate, JOB_BROKEN, JOB_FINISHED, JOB_IN_PROGRESS};
pub use consumers::{CheckpointView, GroupSpec};
pub use logs::{parse_hash_key, CursorFrom, Pull, PullRead, PullResult, PutTarget};
pub use logstores::LogstoreSpec;
pub use projects::{ProjectList, ProjectSpec};

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
    /// Storage refused the operation (failed shard, I/O error).
    #[error("{0}")]
    Internal(String),
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Self {
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
            other => {
                tracing::error!(error = %other, "storage error");
                Error::Internal(other.to_string())
            }
        }
    }
}

/// Result of a service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// The Cairn service.
pub struct Service {
    meta: MetaWriter,
    catalog: RwLock<Catalog>,
    /// Consumer groups: definitions, checkpoints, live consumers.
    consumers: consumers::Registry,
    /// Serialises metadata changes so read-modify-write of records is safe.
    ddl: Mutex<()>,
    clock: Arc<HybridClock>,
    log_cfg: LogConfig,
    /// Writes reserved space ahead of busy shards' appends (design §7).
    reserver: Reserver,
    shards_dir: PathBuf,
    /// Backup checkpoints, schedules and restore jobs.
    backups: backups::Backups,
    /// Where backup checkpoints pin their segments.
    backups_dir: PathBuf,
    /// Checkpoint interval of logstores without their own schedule (0: off).
    default_checkpoint_interval_min: u32,
}

impl Service {
    /// Opens the service over `data_dir`: loads metadata and opens (recovering) every shard log.
    pub fn open(
        data_dir: &Path,
        meta: Arc<dyn MetadataStore>,
        log_cfg: LogConfig,
        clock: Arc<HybridClock>,
    ) -> anyhow::Result<Self> {
        let shards_dir = data_dir.join("shards");
        std::fs::create_dir_all(&shards_dir)?;
        let snap = meta.load()?;
        let mut catalog = Catalog::default();
        for p in snap.projects {
            catalog.projects.insert(p.name.clone(), p);
        }
        let mut live_uids = std::collections::HashSet::new();
        for rec in snap.logstores {
            live_uids.insert(rec.uid.clone());
            let mut logs = BTreeMap::new();
            for shard in &rec.shards {
                let dir = shard_dir(&shards_dir, &rec.uid, shard.id);
                let log = ShardLog::open(&dir, log_cfg.clone(), clock.clone()).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot open shard {} of logstore {}/{}: {e}",
                        shard.id,
                        rec.project,
                        rec.name
                    )
                })?;
                if let Some(h) = log.last_hlc() {
                    clock.observe(h);
                }
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
        // Directories whose logstore is gone were left by a delete interrupted by a crash.
        for entry in std::fs::read_dir(&shards_dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !live_uids.contains(&name) {
                tracing::info!(dir = %entry.path().display(), "removing data of a deleted logstore");
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        let consumers = consumers::Registry::load(snap.groups, snap.checkpoints, &catalog);
        let backups_dir = data_dir.join("backups");
        std::fs::create_dir_all(&backups_dir)?;
        let mut restore_jobs = snap.restore_jobs;
        let mut interrupted = Vec::new();
        for j in restore_jobs
            .iter_mut()
            .filter(|j| j.status == backups::JOB_IN_PROGRESS)
        {
            j.status = backups::JOB_BROKEN.to_string();
            j.reason = Some("interrupted by a restart; start the restore again".into());
            interrupted.push(MetaOp::PutRestoreJob(j.clone()));
        }
        if !interrupted.is_empty() {
            meta.apply(&interrupted)?;
        }
        // Pins whose checkpoint is gone were left by a delete interrupted by a crash.
        let live_backups: std::collections::HashSet<&str> =
            snap.backups.iter().map(|b| b.id.as_str()).collect();
        for entry in std::fs::read_dir(&backups_dir)? {
            let entry = entry?;
            if !live_backups.contains(entry.file_name().to_string_lossy().as_ref()) {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        let backups = RwLock::new(backups::BackupState::load(
            snap.backups,
            snap.schedules,
            restore_jobs,
        ));
        Ok(Self {
            meta: MetaWriter::start(meta),
            catalog: RwLock::new(catalog),
            consumers,
            backups,
            backups_dir,
            default_checkpoint_interval_min: 0,
            ddl: Mutex::new(()),
            clock,
            log_cfg,
            reserver: Reserver::start()?,
            shards_dir,
        })
    }

    /// Sets the checkpoint interval of logstores that have no schedule of their own.
    pub fn with_default_checkpoint_interval(mut self, minutes: u32) -> Self {
        self.default_checkpoint_interval_min = minutes;
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

    /// Deletes segments older than each logstore's ttl; returns the number of segments deleted.
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
                match log.expire_before(cutoff) {
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

fn shard_dir(shards_dir: &Path, uid: &str, shard: u32) -> PathBuf {
    shards_dir.join(uid).join(shard.to_string())
}

/// A random 24-hex id (the shape of Atlas/ObjectId ids).
pub fn new_id() -> String {
    let bytes: [u8; 12] = rand::random();
    hex::encode(bytes)
}

/// Checks a project name: 3–63 characters, lowercase letters, digits and `-`, starting and ending
/// with a letter or digit.
pub fn validate_project_name(name: &str) -> Result<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::ParameterInvalid(format!(
            "project name {:?} is invalid: use 3-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            excerpt(name)
        )))
    }
}

/// Checks a logstore (or consumer group) name: 3–63 characters, lowercase letters, digits, `-`
/// and `_`, starting and ending with a letter or digit.
pub fn validate_logstore_name(name: &str) -> Result<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::ParameterInvalid(format!(
            "logstore name {:?} is invalid: use 3-63 lowercase letters, digits, '-' and '_', starting and ending with a letter or digit",
            excerpt(name)
        )))
    }
}

#[cfg(test)]
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
        let meta = crate::meta::RedbMetaStore::open(&dir.join("meta.redb")).unwrap();
        let cfg = LogConfig {
            segment_bytes: 64 * 1024,
            ..LogConfig::default()
        };
        Service::open(dir, Arc::new(meta), cfg, Arc::new(HybridClock::new(clock))).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
