//! Logstores: create, get, list, update, delete.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_storage::{DirKey, ShardLog};

use super::{
    new_id, validate_logstore_name, Error, Logstore, Result, Service, MAX_LOGSTORES_PER_PROJECT,
    MAX_SHARDS_AT_CREATE,
};
use crate::excerpt::excerpt;
use crate::meta::{LogstoreRec, LogstoreSettings, MetaOp, ProjectRec, ShardRec, ShardStatus};

/// A ttl at or above this keeps data for ever.
pub const TTL_FOREVER: u32 = 3650;
/// Default `maxSplitShard`.
const DEFAULT_MAX_SPLIT_SHARD: u32 = 64;
/// Largest `maxSplitShard` accepted.
const MAX_MAX_SPLIT_SHARD: u32 = 256;

/// The fields of a CreateLogStore / UpdateLogStore body; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct LogstoreSpec {
    /// `logstoreName`.
    pub name: String,
    /// `ttl` in days.
    pub ttl: Option<u32>,
    /// `shardCount`.
    pub shard_count: Option<u32>,
    /// `enable_tracking`.
    pub enable_tracking: Option<bool>,
    /// `autoSplit`.
    pub auto_split: Option<bool>,
    /// `maxSplitShard`.
    pub max_split_shard: Option<u32>,
    /// `appendMeta`.
    pub append_meta: Option<bool>,
    /// `telemetryType`.
    pub telemetry_type: Option<String>,
    /// `hot_ttl`.
    pub hot_ttl: Option<u32>,
    /// `mode`.
    pub mode: Option<String>,
    /// `infrequentAccessTTL`.
    pub infrequent_access_ttl: Option<u32>,
    /// `encrypt_conf` (a JSON object).
    pub encrypt_conf: Option<serde_json::Value>,
    /// `shardingPolicy` (a JSON object).
    pub sharding_policy: Option<serde_json::Value>,
    /// `productType`.
    pub product_type: Option<String>,
    /// `processorId`.
    pub processor_id: Option<String>,
    /// `resourceGroupId`.
    pub resource_group_id: Option<String>,
}

fn check_ttl(ttl: u32) -> Result<()> {
    if (1..=TTL_FOREVER).contains(&ttl) {
        Ok(())
    } else {
        Err(Error::LogStoreInfoInvalid(format!(
            "ttl {ttl} is out of range [1, {TTL_FOREVER}]"
        )))
    }
}

/// `slot` becomes `v` when there is one.
fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// `slot` becomes `v` when it is given.
fn keep<T>(slot: &mut Option<T>, v: Option<T>) {
    if v.is_some() {
        *slot = v;
    }
}

fn check_settings(s: &LogstoreSettings) -> Result<()> {
    check_ttl(s.ttl)?;
    if !(1..=MAX_MAX_SPLIT_SHARD).contains(&s.max_split_shard) {
        return Err(Error::LogStoreInfoInvalid(format!(
            "maxSplitShard {} must be within range [1, {MAX_MAX_SPLIT_SHARD}]",
            s.max_split_shard
        )));
    }
    if let Some(h) = s.hot_ttl {
        if h > s.ttl {
            return Err(Error::LogStoreInfoInvalid(format!(
                "hot_ttl {h} is larger than ttl {}",
                s.ttl
            )));
        }
    }
    match s.telemetry_type.as_str() {
        "" | "None" | "Metrics" | "Event" => {}
        other => {
            return Err(Error::LogStoreInfoInvalid(format!(
                "unknown telemetryType {:?}",
                excerpt(other)
            )))
        }
    }
    if let Some(m) = &s.mode {
        if !matches!(m.as_str(), "standard" | "query" | "lite") {
            return Err(Error::LogStoreInfoInvalid(format!(
                "unknown mode {:?}",
                excerpt(m)
            )));
        }
    }
    Ok(())
}

/// `begin_i = i · 2^128 / n` without overflow.
pub(crate) fn even_boundary(i: u32, n: u32) -> u128 {
    if i == 0 {
        return 0;
    }
    if i >= n {
        return u128::MAX;
    }
    let n128 = u128::from(n);
    // 2^128 = q·n + r
    let q = u128::MAX / n128 + u128::from((u128::MAX % n128 + 1) == n128);
    let r = (u128::MAX % n128 + 1) % n128;
    q * u128::from(i) + r * u128::from(i) / n128
}

impl Service {
    /// CreateLogStore.
    pub fn create_logstore(&self, project: &str, spec: LogstoreSpec) -> Result<()> {
        validate_logstore_name(&spec.name)?;
        let ttl = spec
            .ttl
            .ok_or_else(|| Error::LogStoreInfoInvalid("ttl is required".into()))?;
        let shard_count = spec
            .shard_count
            .ok_or_else(|| Error::LogStoreInfoInvalid("shardCount is required".into()))?;
        if !(1..=MAX_SHARDS_AT_CREATE).contains(&shard_count) {
            return Err(Error::LogStoreInfoInvalid(format!(
                "shardCount {shard_count} is out of range [1, {MAX_SHARDS_AT_CREATE}]"
            )));
        }
        let settings = LogstoreSettings {
            ttl,
            enable_tracking: spec.enable_tracking.unwrap_or(false),
            auto_split: spec.auto_split.unwrap_or(false),
            max_split_shard: spec.max_split_shard.unwrap_or(DEFAULT_MAX_SPLIT_SHARD),
            append_meta: spec.append_meta.unwrap_or(false),
            telemetry_type: spec.telemetry_type.unwrap_or_default(),
            hot_ttl: spec.hot_ttl,
            mode: spec.mode,
            infrequent_access_ttl: spec.infrequent_access_ttl,
            encrypt_conf: spec.encrypt_conf,
            sharding_policy: spec.sharding_policy,
            product_type: spec.product_type,
            processor_id: spec.processor_id,
            resource_group_id: spec.resource_group_id,
            index: None,
        };
        check_settings(&settings)?;

        let _ddl = self.ddl.lock();
        self.project_exists(project)?;
        {
            let cat = self.catalog.read();
            if cat
                .logstores
                .contains_key(&(project.to_string(), spec.name.clone()))
            {
                return Err(Error::LogStoreAlreadyExist(spec.name));
            }
            let count = cat.logstores.keys().filter(|(p, _)| p == project).count();
            if count >= MAX_LOGSTORES_PER_PROJECT {
                return Err(Error::QuotaExceed(format!(
                    "project {project} already holds {MAX_LOGSTORES_PER_PROJECT} logstores"
                )));
            }
        }
        let now = self.now_secs();
        let shards: Vec<ShardRec> = (0..shard_count)
            .map(|i| ShardRec {
                id: i,
                status: ShardStatus::Readwrite,
                begin_key: even_boundary(i, shard_count),
                end_key: even_boundary(i + 1, shard_count),
                create_time: now,
                parents: vec![],
            })
            .collect();
        let rec = LogstoreRec {
            project: project.to_string(),
            name: spec.name,
            uid: new_id(),
            shard_count,
            settings,
            create_time: now,
            last_modify_time: now,
            shards,
        };
        // Shard files exist before the metadata that names them; the claim lets the next start
        // remove them if the commit never happens (design §2).
        let claim = self.claim(vec![DirKey::Logstore(rec.uid.clone())])?;
        let mut logs = BTreeMap::new();
        for s in &rec.shards {
            logs.insert(s.id, self.create_shard(&rec.uid, s.id, 0)?);
        }
        let ls = Arc::new(Logstore {
            rec: rec.clone(),
            logs,
            lb: Default::default(),
        });
        let mut ops = vec![MetaOp::PutLogstore(rec.clone())];
        ops.extend(claim.settle_ops());
        self.commit(&ops, |c| {
            c.logstores
                .insert((rec.project.clone(), rec.name.clone()), ls);
        })?;
        claim.settled();
        Ok(())
    }

    /// GetLogStore.
    pub fn get_logstore(&self, project: &str, name: &str) -> Result<LogstoreRec> {
        Ok(self.logstore(project, name)?.rec.clone())
    }

    /// The logstore `name` of the project `project_key` (its id or its name), with the project.
    pub fn resolve_logstore(
        &self,
        project_key: &str,
        name: &str,
    ) -> Result<(ProjectRec, LogstoreRec)> {
        let project = self.resolve_project(project_key)?.rec;
        let ls = self.logstore(&project.name, name)?;
        Ok((project, ls.rec.clone()))
    }

    /// Every logstore of the project `project_key` (its id or its name), sorted by name, with
    /// the project.
    pub fn project_logstores(&self, project_key: &str) -> Result<(ProjectRec, Vec<LogstoreRec>)> {
        let project = self.resolve_project(project_key)?.rec;
        let cat = self.catalog.read();
        let list = cat
            .logstores_of(&project.name)
            .map(|ls| ls.rec.clone())
            .collect();
        Ok((project, list))
    }

    /// ListLogStores: names containing `name_filter`, sorted, paged; returns (total, page).
    pub fn list_logstores(
        &self,
        project: &str,
        offset: usize,
        size: usize,
        name_filter: &str,
    ) -> Result<(usize, Vec<String>)> {
        self.project_exists(project)?;
        let cat = self.catalog.read();
        let names: Vec<&String> = cat
            .logstores
            .keys()
            .filter(|(p, n)| p == project && n.contains(name_filter))
            .map(|(_, n)| n)
            .collect();
        Ok((
            names.len(),
            names.into_iter().skip(offset).take(size).cloned().collect(),
        ))
    }
    /// UpdateLogStore: applies the given fields. `shardCount` is accepted and ignored (shards
    /// change through split and merge).
    pub fn update_logstore(&self, project: &str, name: &str, spec: LogstoreSpec) -> Result<()> {
        if spec.name != name {
            return Err(Error::LogStoreInfoInvalid(format!(
                "logstoreName {:?} in the body does not match {:?} in the path",
                excerpt(&spec.name),
                excerpt(name)
            )));
        }
        let _ddl = self.ddl.lock();
        let old = self.logstore(project, name)?;
        let mut rec = old.rec.clone();
        let s = &mut rec.settings;
        // Each field the body names replaces the stored one; the others stay.
        set(&mut s.ttl, spec.ttl);
        set(&mut s.enable_tracking, spec.enable_tracking);
        set(&mut s.auto_split, spec.auto_split);
        set(&mut s.max_split_shard, spec.max_split_shard);
        set(&mut s.append_meta, spec.append_meta);
        set(&mut s.telemetry_type, spec.telemetry_type);
        keep(&mut s.hot_ttl, spec.hot_ttl);
        keep(&mut s.mode, spec.mode);
        keep(&mut s.infrequent_access_ttl, spec.infrequent_access_ttl);
        keep(&mut s.encrypt_conf, spec.encrypt_conf);
        keep(&mut s.sharding_policy, spec.sharding_policy);
        keep(&mut s.product_type, spec.product_type);
        keep(&mut s.processor_id, spec.processor_id);
        keep(&mut s.resource_group_id, spec.resource_group_id);
        check_settings(&rec.settings)?;
        rec.last_modify_time = self.now_secs();
        self.replace_logstore(&old, rec, old.logs.clone(), Vec::new())
    }

    /// Installs a new record (and shard set) for an existing logstore, committing `extra` ops
    /// with it.
    pub(super) fn replace_logstore(
        &self,
        old: &Logstore,
        rec: LogstoreRec,
        logs: BTreeMap<u32, Arc<ShardLog>>,
        extra: Vec<MetaOp>,
    ) -> Result<()> {
        let ls = Arc::new(Logstore {
            rec: rec.clone(),
            logs,
            lb: old.lb.clone(),
        });
        let mut ops = vec![MetaOp::PutLogstore(rec.clone())];
        ops.extend(extra);
        self.commit(&ops, |c| {
            c.logstores
                .insert((rec.project.clone(), rec.name.clone()), ls);
        })
    }

    /// DeleteLogStore.
    pub fn delete_logstore(&self, project: &str, name: &str) -> Result<()> {
        let _ddl = self.ddl.lock();
        let ls = self.logstore(project, name)?;
        let (mut ops, dirs) = self.logstore_deletion(&ls);
        ops.insert(
            0,
            MetaOp::DeleteLogstore(project.to_string(), name.to_string()),
        );
        self.commit(&ops, |c| {
            c.logstores.remove(&(project.to_string(), name.to_string()));
        })?;
        self.forget_groups(project, name);
        self.forget_backups(project, name);
        self.remove_claimed(dirs);
        Ok(())
    }

    /// What deleting a logstore must commit besides its record (the `delete` intents of its
    /// directory and of its checkpoints' pins), and those directories' keys (design §2).
    pub(super) fn logstore_deletion(&self, ls: &Logstore) -> (Vec<MetaOp>, Vec<DirKey>) {
        let mut dirs = vec![DirKey::Logstore(ls.rec.uid.clone())];
        dirs.extend(
            self.backup_ids(&ls.rec.project, &ls.rec.name)
                .iter()
                .map(|id| DirKey::Pins(id.clone())),
        );
        (self.delete_intents(&dirs), dirs)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::service;
    use super::super::ProjectSpec;
    use super::*;

    pub(crate) fn spec(name: &str, shards: u32) -> LogstoreSpec {
        LogstoreSpec {
            name: name.into(),
            ttl: Some(7),
            shard_count: Some(shards),
            ..Default::default()
        }
    }

    #[test]
    fn even_boundaries() {
        assert_eq!(even_boundary(1, 2), 1u128 << 127);
        assert_eq!(even_boundary(2, 4), 1u128 << 127);
        assert_eq!(even_boundary(1, 4), 1u128 << 126);
        assert_eq!(even_boundary(4, 4), u128::MAX);
        let b: Vec<u128> = (0..=3).map(|i| even_boundary(i, 3)).collect();
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(b[1], 0x5555_5555_5555_5555_5555_5555_5555_5555);
    }

    #[test]
    fn crud_and_errors() {
        let (svc, dir) = service();
        assert!(matches!(
            svc.create_logstore("nope", spec("ls1", 2)),
            Err(Error::ProjectNotExist(_))
        ));
        svc.create_project(ProjectSpec {
            name: "proj".into(),
            ..Default::default()
        })
        .unwrap();
        svc.create_logstore("proj", spec("ls1", 4)).unwrap();
        assert!(matches!(
            svc.create_logstore("proj", spec("ls1", 4)),
            Err(Error::LogStoreAlreadyExist(_))
        ));
        assert!(matches!(
            svc.create_logstore("proj", spec("ls2", 0)),
            Err(Error::LogStoreInfoInvalid(_))
        ));
        assert!(matches!(
            svc.create_logstore("proj", spec("ls2", 101)),
            Err(Error::LogStoreInfoInvalid(_))
        ));
        let mut bad_ttl = spec("ls2", 1);
        bad_ttl.ttl = Some(0);
        assert!(matches!(
            svc.create_logstore("proj", bad_ttl),
            Err(Error::LogStoreInfoInvalid(_))
        ));
        let rec = svc.get_logstore("proj", "ls1").unwrap();
        assert_eq!(rec.shards.len(), 4);
        assert_eq!(rec.shards[3].end_key, u128::MAX);
        let mut upd = LogstoreSpec {
            name: "ls1".into(),
            ..Default::default()
        };
        upd.ttl = Some(30);
        upd.shard_count = Some(4);
        svc.update_logstore("proj", "ls1", upd).unwrap();
        assert_eq!(svc.get_logstore("proj", "ls1").unwrap().settings.ttl, 30);
        assert_eq!(
            svc.list_logstores("proj", 0, 100, "").unwrap(),
            (1, vec!["ls1".to_string()])
        );
        let uid_dir = dir.path().join("shards").join(&rec.uid);
        assert!(uid_dir.exists());
        svc.delete_logstore("proj", "ls1").unwrap();
        assert!(!uid_dir.exists());
        assert!(matches!(
            svc.get_logstore("proj", "ls1"),
            Err(Error::LogStoreNotExist(_))
        ));
    }
}
