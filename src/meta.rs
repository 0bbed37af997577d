//! The metadata store: projects, logstores and their shard maps.
//!
//! Records are JSON values in an embedded redb database (design §10). Every change is a batch of
//! [`MetaOp`]s applied in one write transaction; redb fsyncs on commit, so a change that returned
//! is durable. The service keeps its own in-memory catalogue and only calls [`MetadataStore::load`]
//! at start, which keeps this trait small enough to be implemented over a networked database.

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const PROJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("projects");
const LOGSTORES: TableDefinition<&str, &[u8]> = TableDefinition::new("logstores");

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The database reported an error.
    #[error("metadata store: {0}")]
    Db(String),
    /// A stored value could not be decoded.
    #[error("metadata store: undecodable record {key}: {source}")]
    Decode {
        /// Key of the record.
        key: String,
        /// Decoder error.
        source: serde_json::Error,
    },
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for MetaError {
            fn from(e: $t) -> Self {
                MetaError::Db(e.to_string())
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

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
        (self.begin_key <= key && key < self.end_key) || (key == u128::MAX && self.end_key == u128::MAX)
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

/// One change to the metadata.
#[derive(Clone, Debug)]
pub enum MetaOp {
    /// Insert or replace a project.
    PutProject(ProjectRec),
    /// Remove a project record (its logstores are removed by their own ops).
    DeleteProject(String),
    /// Insert or replace a logstore.
    PutLogstore(LogstoreRec),
    /// Remove a logstore: project, name.
    DeleteLogstore(String, String),
}

/// Everything the metadata store holds, as loaded at start.
#[derive(Debug, Default)]
pub struct MetaSnapshot {
    /// All projects.
    pub projects: Vec<ProjectRec>,
    /// All logstores.
    pub logstores: Vec<LogstoreRec>,
}

/// A transactional store of Cairn's metadata.
pub trait MetadataStore: Send + Sync + 'static {
    /// Reads everything.
    fn load(&self) -> Result<MetaSnapshot, MetaError>;
    /// Applies `ops` atomically and durably.
    fn apply(&self, ops: &[MetaOp]) -> Result<(), MetaError>;
}

/// The embedded metadata store, one redb file.
pub struct RedbMetaStore {
    db: Database,
}

impl RedbMetaStore {
    /// Opens or creates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(PROJECTS)?;
        txn.open_table(LOGSTORES)?;
        txn.commit()?;
        Ok(Self { db })
    }
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|source| MetaError::Decode { key: key.to_string(), source })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("metadata records always serialize")
}

impl MetadataStore for RedbMetaStore {
    fn load(&self) -> Result<MetaSnapshot, MetaError> {
        let txn = self.db.begin_read()?;
        let mut snap = MetaSnapshot::default();
        for item in txn.open_table(PROJECTS)?.iter()? {
            let (k, v) = item?;
            snap.projects.push(decode(k.value(), v.value())?);
        }
        for item in txn.open_table(LOGSTORES)?.iter()? {
            let (k, v) = item?;
            snap.logstores.push(decode(k.value(), v.value())?);
        }
        Ok(snap)
    }

    fn apply(&self, ops: &[MetaOp]) -> Result<(), MetaError> {
        let txn = self.db.begin_write()?;
        {
            let mut projects = txn.open_table(PROJECTS)?;
            let mut logstores = txn.open_table(LOGSTORES)?;
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
                        logstores.remove(logstore_key(project, name).as_str())?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        store.apply(&[MetaOp::DeleteLogstore("p1".into(), "ls".into())]).unwrap();
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
