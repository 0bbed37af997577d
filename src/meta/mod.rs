//! The metadata store: projects, logstores and their shard maps.
//!
//! Records are JSON values in an embedded redb database (design §10). Every change is a batch of
//! [`MetaOp`]s applied in one write transaction; redb fsyncs on commit, so a change that returned
//! is durable. The service keeps its own in-memory catalogue and only calls [`MetadataStore::load`]
//! at start, which keeps this trait small enough to be implemented over a networked database.

use std::path::{Path, PathBuf};

pub mod index;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const PROJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("projects");
const LOGSTORES: TableDefinition<&str, &[u8]> = TableDefinition::new("logstores");
const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("consumer_groups");
const CHECKPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");
const BACKUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("backups");
const SCHEDULES: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot_schedules");
const RESTORE_JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("restore_jobs");
const EXTENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("shard_extents");
const INTENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("dir_intents");

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The database reported an error.
    #[error("metadata store: {0}")]
    Db(String),
    /// The database file cannot be opened: it is damaged or truncated.
    #[error("the metadata file {path} is damaged and cannot be opened ({detail}); restore it from a backup of the data dir")]
    Damaged {
        /// The file.
        path: String,
        /// What the store library said.
        detail: String,
    },
    /// Another process has the database file open.
    #[error("the metadata file {path} is in use by another process")]
    InUse {
        /// The file.
        path: String,
    },
    /// The disk is full (or a quota exhausted): nothing was committed.
    #[error("metadata store: the disk is full: {0}")]
    DiskFull(String),
    /// An I/O error: nothing was committed; the store is opened again before the next change.
    #[error("metadata store: I/O error: {0}")]
    Io(String),
    /// A stored value could not be decoded.
    #[error("metadata store: undecodable record {key}: {source}")]
    Decode {
        /// Key of the record.
        key: String,
        /// Decoder error.
        source: serde_json::Error,
    },
}

/// Errors of the metadata store that the store library reports: I/O errors (after which the
/// library refuses every further operation until the database is opened again) apart from the
/// rest.
fn from_storage(e: redb::StorageError) -> MetaError {
    match e {
        redb::StorageError::Io(io)
            if matches!(io.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) =>
        {
            MetaError::DiskFull(io.to_string())
        }
        redb::StorageError::Io(io) => MetaError::Io(io.to_string()),
        redb::StorageError::PreviousIo => MetaError::Io(redb::StorageError::PreviousIo.to_string()),
        other => MetaError::Db(other.to_string()),
    }
}

macro_rules! db_err {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for MetaError {
            fn from(e: redb::$t) -> Self {
                match e {
                    redb::$t::Storage(s) => from_storage(s),
                    other => MetaError::Db(other.to_string()),
                }
            }
        }
    )*};
}
db_err!(DatabaseError, TransactionError, TableError, CommitError);

impl From<redb::StorageError> for MetaError {
    fn from(e: redb::StorageError) -> Self {
        from_storage(e)
    }
}

/// A project as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProjectRec {
    /// Project name (unique).
    pub name: String,
    /// 24-hex id, also the Atlas group id.
    pub id: String,
    /// Free text.
    pub description: String,
    /// Resource group id as sent by the client.
    #[serde(default)]
    pub resource_group_id: String,
    /// `LRS` / `ZRS` as sent by the client, empty when not given.
    #[serde(default)]
    pub data_redundancy_type: String,
    /// Unix seconds.
    pub create_time: i64,
    /// Unix seconds.
    pub last_modify_time: i64,
}

/// Whether a shard still accepts writes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ShardStatus {
    /// Accepts writes.
    Readwrite,
    /// Split or merged away: readable, not writable.
    Readonly,
}

/// A shard as stored: its id, status and hash range.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShardRec {
    /// Shard id, unique within the logstore.
    pub id: u32,
    /// Status.
    pub status: ShardStatus,
    /// Inclusive begin of the hash range.
    pub begin_key: u128,
    /// Exclusive end of the hash range; `u128::MAX` for the last shard, which also owns that key.
    pub end_key: u128,
    /// Unix seconds.
    pub create_time: i64,
    /// Shards this one was split or merged from.
    #[serde(default)]
    pub parents: Vec<u32>,
}

impl ShardRec {
    /// Whether the hash `key` falls into this shard's range.
    pub fn owns(&self, key: u128) -> bool {
        (self.begin_key <= key && key < self.end_key)
            || (key == u128::MAX && self.end_key == u128::MAX)
    }
}

/// Settings of a logstore that clients can change.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogstoreSettings {
    /// Retention in days; 3650 keeps data for ever.
    pub ttl: u32,
    /// `enable_tracking` flag.
    pub enable_tracking: bool,
    /// `autoSplit` flag (kept, not acted upon).
    pub auto_split: bool,
    /// `maxSplitShard`.
    pub max_split_shard: u32,
    /// `appendMeta` flag.
    pub append_meta: bool,
    /// `telemetryType`.
    pub telemetry_type: String,
    /// `hot_ttl`, when given.
    #[serde(default)]
    pub hot_ttl: Option<u32>,
    /// `mode`, when given.
    #[serde(default)]
    pub mode: Option<String>,
    /// `infrequentAccessTTL`, when given (kept, not acted upon).
    #[serde(default)]
    pub infrequent_access_ttl: Option<u32>,
    /// `encrypt_conf`, when given: a JSON object kept as sent (no encryption is done).
    #[serde(default)]
    pub encrypt_conf: Option<serde_json::Value>,
    /// `shardingPolicy`, when given: a JSON object kept as sent.
    #[serde(default)]
    pub sharding_policy: Option<serde_json::Value>,
    /// `productType`, when given.
    #[serde(default)]
    pub product_type: Option<String>,
    /// `processorId`, when given (kept; no ingest processor runs).
    #[serde(default)]
    pub processor_id: Option<String>,
    /// `resourceGroupId`, when given.
    #[serde(default)]
    pub resource_group_id: Option<String>,
    /// The index configuration (CreateIndex), when there is one (design §17).
    #[serde(default)]
    pub index: Option<index::IndexConfig>,
}

/// A logstore as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogstoreRec {
    /// Owning project name.
    pub project: String,
    /// Logstore name.
    pub name: String,
    /// 24-hex id naming its data directory (design §2).
    pub uid: String,
    /// Shard count asked for at creation.
    pub shard_count: u32,
    /// Changeable settings.
    pub settings: LogstoreSettings,
    /// Unix seconds.
    pub create_time: i64,
    /// Unix seconds.
    pub last_modify_time: i64,
    /// Every shard, readonly ones included, in id order.
    pub shards: Vec<ShardRec>,
}

impl LogstoreRec {
    /// Key of the record in the `logstores` table.
    pub fn key(&self) -> String {
        logstore_key(&self.project, &self.name)
    }
}

fn logstore_key(project: &str, name: &str) -> String {
    format!("{project}/{name}")
}

fn group_key(project: &str, logstore: &str, group: &str) -> String {
    format!("{project}/{logstore}/{group}")
}

fn checkpoint_key(project: &str, logstore: &str, group: &str, shard: u32) -> String {
    format!("{project}/{logstore}/{group}/{shard:010}")
}

/// A consumer group as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GroupRec {
    /// Project name.
    pub project: String,
    /// Logstore name.
    pub logstore: String,
    /// Group name.
    pub name: String,
    /// Seconds without a heartbeat after which a consumer is dropped.
    pub timeout: u32,
    /// Whether children shards wait for their parents to be consumed.
    pub order: bool,
    /// Unix seconds.
    pub create_time: i64,
}

/// A committed consumer checkpoint of one shard.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckpointRec {
    /// Shard id.
    pub shard: u32,
    /// The cursor, as committed (base64).
    pub checkpoint: String,
    /// The cursor as a number.
    pub cursor: u64,
    /// Unix microseconds of the commit.
    pub update_time_us: i64,
    /// Consumer that committed it (empty when committed without one).
    pub consumer: String,
}

/// A segment file kept by a backup checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PinnedSegmentRec {
    /// Base cursor (file name).
    pub base: u64,
    /// Bytes that belong to the cut.
    pub len: u64,
    /// Whether the whole file belongs to the cut.
    pub whole: bool,
}

/// One shard of a backup checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackupShardRec {
    /// The shard as it was at the cut.
    pub shard: ShardRec,
    /// Cluster timestamp of this shard's token.
    pub token: u64,
    /// Oldest retained cursor at the cut.
    pub begin: u64,
    /// Cursor after the last LogGroup of the cut.
    pub next: u64,
    /// Whether the cut is durable on this shard.
    pub discovered: bool,
    /// Pinned segment files.
    pub segments: Vec<PinnedSegmentRec>,
}

/// A consumer group as captured by a backup: its definition and checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackupGroupRec {
    /// The group.
    pub group: GroupRec,
    /// Its checkpoints at the cut.
    pub checkpoints: Vec<CheckpointRec>,
}

/// A backup checkpoint: a consistent cut of every shard of a logstore plus its configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackupRec {
    /// 24-hex id.
    pub id: String,
    /// Project name.
    pub project: String,
    /// Logstore name.
    pub logstore: String,
    /// Project id (the Atlas group id).
    pub group_id: String,
    /// Logstore uid (the Atlas cluster id).
    pub cluster_id: String,
    /// When taking it began (splits and merges held off), unix ms.
    pub started_ms: u64,
    /// When it ended, unix ms.
    pub completed_ms: u64,
    /// Cluster timestamp of the cut.
    pub timestamp: u64,
    /// Cluster timestamp of the configuration token.
    pub config_token: u64,
    /// Per shard.
    pub shards: Vec<BackupShardRec>,
    /// Logstore settings at the cut.
    pub settings: LogstoreSettings,
    /// Shard count asked for at creation.
    pub shard_count: u32,
    /// Consumer groups at the cut.
    pub groups: Vec<BackupGroupRec>,
}

/// Snapshot schedule of a logstore (Atlas `snapshotSchedule`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScheduleRec {
    /// Project name.
    pub project: String,
    /// Logstore name.
    pub logstore: String,
    /// Minutes between scheduled checkpoints; 0 is off.
    pub checkpoint_interval_min: u32,
    /// Checkpoints older than this many hours are removed.
    pub point_in_time_window_hours: u32,
    /// Other schedule fields, kept as set.
    pub snapshot_interval_hours: u32,
    /// Kept as set.
    pub snapshot_retention_days: u32,
    /// Kept as set.
    pub daily_snapshot_retention_days: u32,
    /// Kept as set.
    pub weekly_snapshot_retention_weeks: u32,
    /// Kept as set.
    pub monthly_snapshot_retention_months: u32,
}

/// Where a restore job stands; stored (and answered as Atlas `statusName`) as `IN_PROGRESS`,
/// `FINISHED` or `BROKEN`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Running.
    InProgress,
    /// Done: the target holds the cut.
    Finished,
    /// Failed or interrupted; its `reason` says why.
    Broken,
}

impl JobStatus {
    /// The name as stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Finished => "FINISHED",
            JobStatus::Broken => "BROKEN",
        }
    }
}

/// A restore job: one part (shard or configuration) of a restore batch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RestoreJobRec {
    /// 24-hex id.
    pub id: String,
    /// Shared by the jobs of one restore.
    pub batch_id: String,
    /// Source project.
    pub project: String,
    /// Source logstore.
    pub logstore: String,
    /// Source cluster id.
    pub cluster_id: String,
    /// Source group id.
    pub group_id: String,
    /// Checkpoint restored.
    pub checkpoint_id: String,
    /// Part name (`<logstore>-shard-<id>` or `<logstore>-config-0`).
    pub part: String,
    /// Target project.
    pub target_project: String,
    /// Target project id.
    pub target_group_id: String,
    /// Target logstore.
    pub target_logstore: String,
    /// Unix ms.
    pub created_ms: u64,
    /// Where it stands.
    pub status: JobStatus,
    /// Why it broke.
    pub reason: Option<String>,
    /// Cluster timestamp restored to.
    pub timestamp: u64,
}

/// How far a shard is known to reach (design §8): what its files must still hold.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExtentRec {
    /// Retention removed everything before this cursor (the shard may still hold more).
    pub begin: u64,
    /// The shard held every LogGroup before this cursor durably.
    pub end: u64,
    /// Base cursor of the newest segment the shard is known to have created.
    #[serde(default)]
    pub segment: u64,
}

/// What a directory intent announces (design §2).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// The directory is about to be created; it is kept only if a record names it.
    Create,
    /// The records naming the directory are gone; the directory is about to be removed.
    Delete,
}

/// A directory intent: a directory under the data dir that may be removed at start unless the
/// metadata names it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IntentRec {
    /// Create or delete.
    pub intent: Intent,
    /// Unix ms when it was recorded.
    pub at_ms: u64,
}

/// Key of a shard's extent.
fn extent_key(uid: &str, shard: u32) -> String {
    format!("{uid}/{shard:010}")
}

/// One change to the metadata.
#[derive(Clone, Debug)]
pub enum MetaOp {
    /// Insert or replace a project.
    PutProject(ProjectRec),
    /// Remove a project record (its logstores are removed by their own ops).
    DeleteProject(String),
    /// Insert or replace a logstore.
    PutLogstore(LogstoreRec),
    /// Remove a logstore (project, name), with its consumer groups and checkpoints.
    DeleteLogstore(String, String),
    /// Insert or replace a consumer group.
    PutGroup(GroupRec),
    /// Remove a consumer group (project, logstore, group) with its checkpoints.
    DeleteGroup(String, String, String),
    /// Insert or replace a checkpoint of a group (project, logstore, group, checkpoint).
    PutCheckpoint(String, String, String, CheckpointRec),
    /// Insert or replace a backup checkpoint.
    PutBackup(BackupRec),
    /// Remove a backup checkpoint (project, logstore, id).
    DeleteBackup(String, String, String),
    /// Insert or replace a snapshot schedule.
    PutSchedule(ScheduleRec),
    /// Insert or replace a restore job.
    PutRestoreJob(RestoreJobRec),
    /// Raise the extent of shard `shard` of the logstore with uid `uid`: each field becomes the
    /// larger of the stored and the given value.
    RaiseExtent {
        /// Logstore uid.
        uid: String,
        /// Shard id.
        shard: u32,
        /// The extent to raise to.
        extent: ExtentRec,
    },
    /// Remove every extent of the logstore with this uid.
    DeleteExtents(String),
    /// Record a directory intent under its path relative to the data dir.
    PutIntent(String, IntentRec),
    /// Remove a directory intent.
    DeleteIntent(String),
}

/// Everything the metadata store holds, as loaded at start.
#[derive(Debug, Default)]
pub struct MetaSnapshot {
    /// All projects.
    pub projects: Vec<ProjectRec>,
    /// All logstores.
    pub logstores: Vec<LogstoreRec>,
    /// All consumer groups.
    pub groups: Vec<GroupRec>,
    /// All checkpoints: (project, logstore, group, checkpoint).
    pub checkpoints: Vec<(String, String, String, CheckpointRec)>,
    /// All backup checkpoints.
    pub backups: Vec<BackupRec>,
    /// All snapshot schedules.
    pub schedules: Vec<ScheduleRec>,
    /// All restore jobs.
    pub restore_jobs: Vec<RestoreJobRec>,
    /// All shard extents: (logstore uid, shard, extent).
    pub extents: Vec<(String, u32, ExtentRec)>,
    /// All directory intents: (path relative to the data dir, intent).
    pub intents: Vec<(String, IntentRec)>,
}

/// A transactional store of Cairn's metadata.
///
/// Rules every implementation keeps: [`MetadataStore::load`] returns everything every earlier
/// [`MetadataStore::apply`] committed, in every table; a batch applies all of its ops or none;
/// ops apply in order within a batch; deleting a logstore also removes its consumer groups,
/// checkpoints, backups, snapshot schedule, restore jobs and shard extents; deleting a group
/// removes its checkpoints; [`MetaOp::RaiseExtent`] never lowers a stored field.
pub trait MetadataStore: Send + Sync + 'static {
    /// Reads everything.
    fn load(&self) -> Result<MetaSnapshot, MetaError>;
    /// Applies `ops` atomically and durably.
    fn apply(&self, ops: &[MetaOp]) -> Result<(), MetaError>;
}

/// The embedded metadata store, one redb file.
pub struct RedbMetaStore {
    path: PathBuf,
    /// `None` after an I/O error until it could be opened again.
    db: parking_lot::RwLock<Option<Database>>,
}

impl RedbMetaStore {
    /// Opens or creates the database at `path`. A file the store library cannot open (damaged,
    /// truncated) is [`MetaError::Damaged`], never a panic; a file another process holds is
    /// [`MetaError::InUse`].
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let shown = path.display().to_string();
        let opened = without_panics(|| -> Result<Database, MetaError> {
            let db = match Database::create(path) {
                Ok(db) => db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(MetaError::InUse {
                        path: shown.clone(),
                    })
                }
                Err(redb::DatabaseError::Storage(e)) => {
                    return Err(MetaError::Damaged {
                        path: shown.clone(),
                        detail: e.to_string(),
                    })
                }
                Err(e) => return Err(e.into()),
            };
            let txn = db.begin_write()?;
            for table in [
                PROJECTS,
                LOGSTORES,
                GROUPS,
                CHECKPOINTS,
                BACKUPS,
                SCHEDULES,
                RESTORE_JOBS,
                EXTENTS,
                INTENTS,
            ] {
                txn.open_table(table)?;
            }
            txn.commit()?;
            Ok(db)
        });
        match opened {
            Ok(db) => Ok(Self {
                path: path.to_path_buf(),
                db: parking_lot::RwLock::new(Some(db?)),
            }),
            Err(detail) => Err(MetaError::Damaged {
                path: shown,
                detail,
            }),
        }
    }

    /// Runs `f` on the database, opening it again first if an I/O error closed it. After an I/O
    /// error the store library refuses every further operation (its state in memory may not
    /// match the file), so the database is closed, to be opened again — which recovers it to
    /// its last commit — by the next call: a full disk stops metadata changes only while it is
    /// full.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, MetaError>,
    ) -> Result<T, MetaError> {
        if self.db.read().is_none() {
            let mut db = self.db.write();
            if db.is_none() {
                let reopened = Self::open(&self.path)?;
                *db = reopened.db.into_inner();
                tracing::info!(path = %self.path.display(), "metadata store opened again after an I/O error");
            }
        }
        let result = {
            let db = self.db.read();
            f(db.as_ref().expect("opened above"))
        };
        if let Err(MetaError::Io(_) | MetaError::DiskFull(_)) = &result {
            tracing::warn!(path = %self.path.display(), error = %result.as_ref().err().unwrap(),
                "metadata store I/O error; it is opened again before the next change");
            *self.db.write() = None;
        }
        result
    }
}

/// Runs `f`, turning a panic inside it into `Err` with the panic's message, printed nowhere:
/// the store library asserts on some damaged files instead of returning an error. Only panics
/// of the calling thread inside `f` are silenced (other threads' panics are reported as ever),
/// and calls may nest.
fn without_panics<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    thread_local! {
        static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was_quiet = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was_quiet));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the store library failed".into())
    })
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|source| MetaError::Decode {
        key: key.to_string(),
        source,
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("metadata records always serialize")
}

impl MetadataStore for RedbMetaStore {
    fn load(&self) -> Result<MetaSnapshot, MetaError> {
        without_panics(|| self.with_db(load_all)).unwrap_or_else(|detail| {
            Err(MetaError::Damaged {
                path: self.path.display().to_string(),
                detail,
            })
        })
    }

    fn apply(&self, ops: &[MetaOp]) -> Result<(), MetaError> {
        self.with_db(|db| apply_all(db, ops))
    }
}

fn load_all(db: &Database) -> Result<MetaSnapshot, MetaError> {
    let txn = db.begin_read()?;
    let mut snap = MetaSnapshot::default();
    for item in txn.open_table(PROJECTS)?.iter()? {
        let (k, v) = item?;
        snap.projects.push(decode(k.value(), v.value())?);
    }
    for item in txn.open_table(LOGSTORES)?.iter()? {
        let (k, v) = item?;
        snap.logstores.push(decode(k.value(), v.value())?);
    }
    for item in txn.open_table(GROUPS)?.iter()? {
        let (k, v) = item?;
        snap.groups.push(decode(k.value(), v.value())?);
    }
    for item in txn.open_table(CHECKPOINTS)?.iter()? {
        let (k, v) = item?;
        let key = k.value();
        let mut parts = key.splitn(4, '/');
        let (Some(p), Some(l), Some(g)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        snap.checkpoints.push((
            p.to_string(),
            l.to_string(),
            g.to_string(),
            decode(key, v.value())?,
        ));
    }
    for item in txn.open_table(BACKUPS)?.iter()? {
        let (k, v) = item?;
        snap.backups.push(decode(k.value(), v.value())?);
    }
    for item in txn.open_table(SCHEDULES)?.iter()? {
        let (k, v) = item?;
        snap.schedules.push(decode(k.value(), v.value())?);
    }
    for item in txn.open_table(RESTORE_JOBS)?.iter()? {
        let (k, v) = item?;
        snap.restore_jobs.push(decode(k.value(), v.value())?);
    }
    for item in txn.open_table(EXTENTS)?.iter()? {
        let (k, v) = item?;
        let key = k.value();
        let parsed = key
            .rsplit_once('/')
            .and_then(|(uid, shard)| Some((uid.to_string(), shard.parse::<u32>().ok()?)));
        let Some((uid, shard)) = parsed else {
            return Err(MetaError::Db(format!("malformed shard extent key {key:?}")));
        };
        snap.extents.push((uid, shard, decode(key, v.value())?));
    }
    for item in txn.open_table(INTENTS)?.iter()? {
        let (k, v) = item?;
        snap.intents
            .push((k.value().to_string(), decode(k.value(), v.value())?));
    }
    Ok(snap)
}

fn apply_all(db: &Database, ops: &[MetaOp]) -> Result<(), MetaError> {
    let txn = db.begin_write()?;
    {
        let mut projects = txn.open_table(PROJECTS)?;
        let mut logstores = txn.open_table(LOGSTORES)?;
        let mut groups = txn.open_table(GROUPS)?;
        let mut checkpoints = txn.open_table(CHECKPOINTS)?;
        let mut backups = txn.open_table(BACKUPS)?;
        let mut schedules = txn.open_table(SCHEDULES)?;
        let mut jobs = txn.open_table(RESTORE_JOBS)?;
        let mut extents = txn.open_table(EXTENTS)?;
        let mut intents = txn.open_table(INTENTS)?;
        for op in ops {
            match op {
                MetaOp::PutProject(p) => {
                    projects.insert(p.name.as_str(), encode(p).as_slice())?;
                }
                MetaOp::DeleteProject(name) => {
                    projects.remove(name.as_str())?;
                }
                MetaOp::PutLogstore(l) => {
                    logstores.insert(l.key().as_str(), encode(l).as_slice())?;
                }
                MetaOp::DeleteLogstore(project, name) => {
                    let key = logstore_key(project, name);
                    let removed = logstores.remove(key.as_str())?;
                    if let Some(rec) = removed {
                        let rec: LogstoreRec = decode(&key, rec.value())?;
                        remove_prefix(&mut extents, &format!("{}/", rec.uid))?;
                    }
                    let prefix = format!("{key}/");
                    remove_prefix(&mut groups, &prefix)?;
                    remove_prefix(&mut checkpoints, &prefix)?;
                    remove_prefix(&mut backups, &prefix)?;
                    remove_prefix(&mut jobs, &prefix)?;
                    schedules.remove(key.as_str())?;
                }
                MetaOp::PutGroup(g) => {
                    let key = group_key(&g.project, &g.logstore, &g.name);
                    groups.insert(key.as_str(), encode(g).as_slice())?;
                }
                MetaOp::DeleteGroup(p, l, g) => {
                    groups.remove(group_key(p, l, g).as_str())?;
                    remove_prefix(&mut checkpoints, &format!("{}/", group_key(p, l, g)))?;
                }
                MetaOp::PutCheckpoint(p, l, g, c) => {
                    let key = checkpoint_key(p, l, g, c.shard);
                    checkpoints.insert(key.as_str(), encode(c).as_slice())?;
                }
                MetaOp::PutBackup(b) => {
                    let key = format!("{}/{}", logstore_key(&b.project, &b.logstore), b.id);
                    backups.insert(key.as_str(), encode(b).as_slice())?;
                }
                MetaOp::DeleteBackup(p, l, id) => {
                    backups.remove(format!("{}/{id}", logstore_key(p, l)).as_str())?;
                }
                MetaOp::PutSchedule(sc) => {
                    schedules.insert(
                        logstore_key(&sc.project, &sc.logstore).as_str(),
                        encode(sc).as_slice(),
                    )?;
                }
                MetaOp::PutRestoreJob(j) => {
                    let key = format!("{}/{}", logstore_key(&j.project, &j.logstore), j.id);
                    jobs.insert(key.as_str(), encode(j).as_slice())?;
                }
                MetaOp::RaiseExtent { uid, shard, extent } => {
                    let key = extent_key(uid, *shard);
                    let stored: ExtentRec = match extents.get(key.as_str())? {
                        Some(v) => decode(&key, v.value())?,
                        None => ExtentRec::default(),
                    };
                    let raised = ExtentRec {
                        begin: stored.begin.max(extent.begin),
                        end: stored.end.max(extent.end),
                        segment: stored.segment.max(extent.segment),
                    };
                    if raised != stored {
                        extents.insert(key.as_str(), encode(&raised).as_slice())?;
                    }
                }
                MetaOp::DeleteExtents(uid) => {
                    remove_prefix(&mut extents, &format!("{uid}/"))?;
                }
                MetaOp::PutIntent(path, intent) => {
                    intents.insert(path.as_str(), encode(intent).as_slice())?;
                }
                MetaOp::DeleteIntent(path) => {
                    intents.remove(path.as_str())?;
                }
            }
        }
    }
    txn.commit()?;
    Ok(())
}

fn remove_prefix(table: &mut redb::Table<&str, &[u8]>, prefix: &str) -> Result<(), MetaError> {
    let keys: Vec<String> = table
        .range(prefix..)?
        .map(|item| item.map(|(k, _)| k.value().to_string()))
        .take_while(|k| k.as_ref().map_or(true, |k| k.starts_with(prefix)))
        .collect::<Result<_, _>>()?;
    for k in keys {
        table.remove(k.as_str())?;
    }
    Ok(())
}

/// The one writer of the metadata store: callers submit batches of ops and wait; whatever
/// queues up while a transaction commits goes into the next one, so many small changes (consumer
/// checkpoints) share one fsync. Submissions are applied in the order they were queued.
pub struct MetaWriter {
    tx: std::sync::Mutex<Option<std::sync::mpsc::Sender<WriteJob>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MetaWriter {
    /// Stops the writer thread after it has applied everything queued, so the store is closed
    /// when this returns.
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs on the writer thread right after a batch's transaction committed.
type AfterCommit = Box<dyn FnOnce() + Send>;

struct WriteJob {
    ops: Vec<MetaOp>,
    after: Option<AfterCommit>,
    done: tokio::sync::oneshot::Sender<Result<(), Failed>>,
}

/// A queued change; [`Pending::wait`] (on a thread that may block) or [`Pending::committed`]
/// (in async code) returns once it is durable.
pub struct Pending(tokio::sync::oneshot::Receiver<Result<(), Failed>>);

impl Pending {
    /// Blocks this thread until the change is committed. Not for async workers (tokio refuses
    /// that with a panic): use [`Pending::committed`] there.
    pub fn wait(self) -> Result<(), MetaError> {
        Self::outcome(self.0.blocking_recv())
    }

    /// Waits asynchronously until the change is committed.
    pub async fn committed(self) -> Result<(), MetaError> {
        Self::outcome(self.0.await)
    }

    fn outcome(
        r: Result<Result<(), Failed>, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<(), MetaError> {
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Failed::DiskFull(m))) => Err(MetaError::DiskFull(m)),
            Ok(Err(Failed::Other(m))) => Err(MetaError::Db(m)),
            Err(_) => Err(MetaError::Db("metadata writer stopped".into())),
        }
    }
}

/// Why a batch failed, as told to each of its callers.
#[derive(Debug, Clone)]
enum Failed {
    /// [`MetaError::DiskFull`].
    DiskFull(String),
    /// Anything else, as its message.
    Other(String),
}

impl From<&MetaError> for Failed {
    fn from(e: &MetaError) -> Self {
        match e {
            MetaError::DiskFull(m) => Failed::DiskFull(m.clone()),
            MetaError::Db(m) | MetaError::Io(m) => Failed::Other(m.clone()),
            other => Failed::Other(other.to_string()),
        }
    }
}

impl MetaWriter {
    /// Starts the writer thread over `store`.
    pub fn start(store: std::sync::Arc<dyn MetadataStore>) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<WriteJob>();
        let thread = std::thread::Builder::new()
            .name("cairn-meta-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut jobs = vec![first];
                    while let Ok(j) = rx.try_recv() {
                        jobs.push(j);
                    }
                    let ops: Vec<MetaOp> =
                        jobs.iter().flat_map(|j| j.ops.iter().cloned()).collect();
                    let result = store.apply(&ops).map_err(|e| Failed::from(&e));
                    for j in jobs {
                        if result.is_ok() {
                            if let Some(after) = j.after {
                                after();
                            }
                        }
                        let _ = j.done.send(result.clone());
                    }
                }
            })
            .expect("spawn metadata writer");
        Self {
            tx: std::sync::Mutex::new(Some(tx)),
            thread: Some(thread),
        }
    }

    /// Queues `ops`; the returned handle waits for them to be durable.
    pub fn submit(&self, ops: Vec<MetaOp>) -> Pending {
        self.queue(ops, None)
    }

    /// Queues `ops` and runs `after` on the writer thread once they are committed, before the
    /// returned handle reports it (and not at all if the transaction fails). Changes queued
    /// later are applied after `after` has run. `after` must not wait for the writer.
    pub fn submit_then(&self, ops: Vec<MetaOp>, after: impl FnOnce() + Send + 'static) -> Pending {
        self.queue(ops, Some(Box::new(after)))
    }

    fn queue(&self, ops: Vec<MetaOp>, after: Option<AfterCommit>) -> Pending {
        let (done, rx) = tokio::sync::oneshot::channel();
        let job = WriteJob { ops, after, done };
        let unsent = match self.tx.lock() {
            Ok(tx) => match tx.as_ref() {
                Some(tx) => tx.send(job).err().map(|e| e.0),
                None => Some(job),
            },
            Err(_) => Some(job),
        };
        if let Some(job) = unsent {
            let _ = job
                .done
                .send(Err(Failed::Other("metadata writer stopped".into())));
        }
        Pending(rx)
    }
}

#[cfg(test)]
mod conformance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silenced_panics_nest_and_stay_on_their_thread() {
        // A reopen inside a load nests two calls; one lock per call would never return.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let nested = without_panics(|| without_panics(|| -> u8 { panic!("inner") }));
            let after = without_panics(|| 7);
            tx.send((nested, after)).unwrap();
        });
        let (nested, after) = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("nested calls return");
        assert_eq!(nested, Ok(Err("inner".to_string())));
        assert_eq!(after, Ok(7));
        // Outside a call, panics are caught as ever (and reported by the previous hook).
        let caught = std::panic::catch_unwind(|| -> u8 { panic!("loud") });
        assert!(caught.is_err());
    }

    fn project(name: &str) -> ProjectRec {
        ProjectRec {
            name: name.into(),
            id: "0123456789abcdef01234567".into(),
            description: "d".into(),
            resource_group_id: String::new(),
            data_redundancy_type: String::new(),
            create_time: 1,
            last_modify_time: 2,
        }
    }

    #[test]
    fn changes_survive_reopen_and_deletes_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        let ls = LogstoreRec {
            project: "p1".into(),
            name: "ls".into(),
            uid: "u".into(),
            shard_count: 1,
            settings: LogstoreSettings {
                ttl: 30,
                enable_tracking: false,
                auto_split: true,
                max_split_shard: 64,
                append_meta: false,
                telemetry_type: String::new(),
                hot_ttl: None,
                mode: None,
                infrequent_access_ttl: None,
                encrypt_conf: None,
                sharding_policy: None,
                product_type: None,
                processor_id: None,
                resource_group_id: None,
                index: None,
            },
            create_time: 1,
            last_modify_time: 1,
            shards: vec![ShardRec {
                id: 0,
                status: ShardStatus::Readwrite,
                begin_key: 0,
                end_key: u128::MAX,
                create_time: 1,
                parents: vec![],
            }],
        };
        {
            let store = RedbMetaStore::open(&path).unwrap();
            store
                .apply(&[
                    MetaOp::PutProject(project("p1")),
                    MetaOp::PutProject(project("p2")),
                    MetaOp::PutLogstore(ls.clone()),
                ])
                .unwrap();
            store.apply(&[MetaOp::DeleteProject("p2".into())]).unwrap();
        }
        let store = RedbMetaStore::open(&path).unwrap();
        let snap = store.load().unwrap();
        assert_eq!(snap.projects, vec![project("p1")]);
        assert_eq!(snap.logstores, vec![ls]);
        store
            .apply(&[MetaOp::DeleteLogstore("p1".into(), "ls".into())])
            .unwrap();
        assert!(store.load().unwrap().logstores.is_empty());
    }

    #[test]
    fn shard_owns_top_key_only_when_last() {
        let mut s = ShardRec {
            id: 0,
            status: ShardStatus::Readwrite,
            begin_key: 10,
            end_key: 20,
            create_time: 0,
            parents: vec![],
        };
        assert!(s.owns(10) && s.owns(19) && !s.owns(20) && !s.owns(9));
        assert!(!s.owns(u128::MAX));
        s.end_key = u128::MAX;
        assert!(s.owns(u128::MAX));
    }
}
