//! Backup checkpoints: consistent cuts of every shard of a logstore at one cluster time, their
//! schedule and retention, and restoring them into a logstore (design §13).

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_storage::{DirKey, Hlc, PinnedSegment};
use parking_lot::RwLock;

use super::{new_id, Error, Logstore, Result, Service};
use crate::meta::{
    BackupGroupRec, BackupRec, BackupShardRec, ExtentRec, JobStatus, LogstoreRec, MetaOp,
    PinnedSegmentRec, ProjectRec, RestoreJobRec, ScheduleRec,
};

/// How a restore names its target logstore in the target project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    /// By name (created when it does not exist).
    Name(String),
    /// By the uid of an existing logstore.
    Uid(String),
}

/// Default of `pointInTimeWindowHours`: checkpoints older than this are removed.
pub const DEFAULT_WINDOW_HOURS: u32 = 24;

/// Backups, schedules and restore jobs, in memory (written through to the metadata store).
#[derive(Default)]
pub(super) struct BackupState {
    /// By (project, logstore), oldest first.
    backups: BTreeMap<(String, String), Vec<BackupRec>>,
    schedules: BTreeMap<(String, String), ScheduleRec>,
    jobs: BTreeMap<String, RestoreJobRec>,
}

pub(super) type Backups = RwLock<BackupState>;

impl BackupState {
    pub(super) fn load(
        backups: Vec<BackupRec>,
        schedules: Vec<ScheduleRec>,
        jobs: Vec<RestoreJobRec>,
    ) -> Self {
        let mut st = BackupState::default();
        for b in backups {
            st.backups
                .entry((b.project.clone(), b.logstore.clone()))
                .or_default()
                .push(b);
        }
        for list in st.backups.values_mut() {
            list.sort_by(|a, b| (a.started_ms, &a.id).cmp(&(b.started_ms, &b.id)));
        }
        for s in schedules {
            st.schedules
                .insert((s.project.clone(), s.logstore.clone()), s);
        }
        for j in jobs {
            st.jobs.insert(j.id.clone(), j);
        }
        st
    }
}

/// A backup checkpoint with whether it can be restored now.
#[derive(Debug, Clone)]
pub struct BackupView {
    /// The record.
    pub rec: BackupRec,
    /// Everything it pins is present and every part's cut is durable.
    pub restorable: bool,
}

/// Changes to a snapshot schedule; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct ScheduleUpdate {
    /// `clusterCheckpointIntervalMin`.
    pub checkpoint_interval_min: Option<u32>,
    /// `pointInTimeWindowHours`.
    pub point_in_time_window_hours: Option<u32>,
    /// `snapshotIntervalHours`.
    pub snapshot_interval_hours: Option<u32>,
    /// `snapshotRetentionDays`.
    pub snapshot_retention_days: Option<u32>,
    /// `dailySnapshotRetentionDays`.
    pub daily_snapshot_retention_days: Option<u32>,
    /// `weeklySnapshotRetentionWeeks`.
    pub weekly_snapshot_retention_weeks: Option<u32>,
    /// `monthlySnapshotRetentionMonths`.
    pub monthly_snapshot_retention_months: Option<u32>,
}

fn to_pinned(s: &[PinnedSegmentRec]) -> Vec<PinnedSegment> {
    s.iter()
        .map(|p| PinnedSegment {
            base: p.base,
            len: p.len,
            whole: p.whole,
        })
        .collect()
}

impl Service {
    fn default_schedule(&self, project: &str, logstore: &str) -> ScheduleRec {
        ScheduleRec {
            project: project.to_string(),
            logstore: logstore.to_string(),
            checkpoint_interval_min: self.default_checkpoint_interval_min,
            point_in_time_window_hours: DEFAULT_WINDOW_HOURS,
            snapshot_interval_hours: 6,
            snapshot_retention_days: 2,
            daily_snapshot_retention_days: 7,
            weekly_snapshot_retention_weeks: 4,
            monthly_snapshot_retention_months: 13,
        }
    }

    /// Takes a backup checkpoint of a logstore now. Splits and merges are held off while it is
    /// taken; appends pause only for the instant of the cut.
    pub fn take_checkpoint(&self, project: &str, logstore: &str) -> Result<BackupRec> {
        let _balancer = self.ddl.lock();
        let ls = self.logstore(project, logstore)?;
        let group_id = self.get_project(project)?.id;
        let started_ms = self.clock.wall_millis();
        let id = new_id();

        // The cut: every shard's appends paused at once, one token per shard, then the
        // configuration (consumer checkpoints) and its token. Nothing can be stamped between the
        // first and the last token, so "before its token" is one cluster time on every shard.
        let (cuts, groups, config_token) = {
            let pauses: Vec<_> = ls
                .logs
                .iter()
                .map(|(id, log)| (*id, log.pause_appends()))
                .collect();
            let cuts: Vec<(u32, Hlc, cairn_storage::CutPoint)> = pauses
                .iter()
                .map(|(id, p)| (*id, self.clock.tick(), p.cut()))
                .collect();
            let groups = self.consumers.snapshot(project, logstore);
            (cuts, groups, self.clock.tick())
        };
        let timestamp = cuts.first().map_or(config_token, |c| c.1);

        let claim = self.claim(vec![DirKey::Pins(id.clone())])?;
        let result = (|| -> Result<Vec<BackupShardRec>> {
            let mut shards = Vec::with_capacity(cuts.len());
            for (shard_id, token, cut) in &cuts {
                let log = ls.shard_log(*shard_id)?;
                let pinned = self.store.pin(&id, *shard_id, log, cut)?;
                let rec = ls
                    .rec
                    .shards
                    .iter()
                    .find(|s| s.id == *shard_id)
                    .expect("shard of the logstore")
                    .clone();
                shards.push(BackupShardRec {
                    shard: rec,
                    token: token.0,
                    begin: cut.begin,
                    next: cut.next,
                    discovered: true,
                    segments: pinned
                        .iter()
                        .map(|p| PinnedSegmentRec {
                            base: p.base,
                            len: p.len,
                            whole: p.whole,
                        })
                        .collect(),
                });
            }
            Ok(shards)
        })();
        // On failure the claim removes what was pinned.
        let shards = result?;
        let rec = BackupRec {
            id,
            project: project.to_string(),
            logstore: logstore.to_string(),
            group_id,
            cluster_id: ls.rec.uid.clone(),
            started_ms,
            completed_ms: self.clock.wall_millis(),
            timestamp: timestamp.0,
            config_token: config_token.0,
            shards,
            settings: ls.rec.settings.clone(),
            shard_count: ls.rec.shard_count,
            groups,
        };
        let mut ops = vec![MetaOp::PutBackup(rec.clone())];
        ops.extend(claim.settle_ops());
        self.meta.submit(ops).wait()?;
        claim.settled();
        self.backups
            .write()
            .backups
            .entry((project.to_string(), logstore.to_string()))
            .or_default()
            .push(rec.clone());
        Ok(rec)
    }

    /// Ids of the checkpoints of a logstore.
    pub(super) fn backup_ids(&self, project: &str, logstore: &str) -> Vec<String> {
        let st = self.backups.read();
        st.backups
            .get(&(project.to_string(), logstore.to_string()))
            .map(|l| l.iter().map(|b| b.id.clone()).collect())
            .unwrap_or_default()
    }

    fn view(&self, rec: &BackupRec) -> BackupView {
        let restorable = rec.shards.iter().all(|s| {
            s.discovered
                && self
                    .store
                    .pins_intact(&rec.id, s.shard.id, &to_pinned(&s.segments))
        });
        BackupView {
            rec: rec.clone(),
            restorable,
        }
    }

    /// Backup checkpoints of a logstore, oldest first.
    pub fn list_checkpoints(&self, project: &str, logstore: &str) -> Result<Vec<BackupView>> {
        self.logstore(project, logstore)?;
        let st = self.backups.read();
        let list = st.backups.get(&(project.to_string(), logstore.to_string()));
        Ok(list
            .map(|l| l.iter().map(|b| self.view(b)).collect())
            .unwrap_or_default())
    }

    /// One backup checkpoint.
    pub fn get_checkpoint(&self, project: &str, logstore: &str, id: &str) -> Result<BackupView> {
        self.logstore(project, logstore)?;
        let st = self.backups.read();
        st.backups
            .get(&(project.to_string(), logstore.to_string()))
            .and_then(|l| l.iter().find(|b| b.id == id))
            .map(|b| self.view(b))
            .ok_or_else(|| Error::CheckpointNotExist(id.to_string()))
    }

    /// Deletes a backup checkpoint and un-pins its data.
    pub fn delete_checkpoint(&self, project: &str, logstore: &str, id: &str) -> Result<()> {
        self.get_checkpoint(project, logstore, id)?;
        let dirs = vec![DirKey::Pins(id.to_string())];
        let mut ops = vec![MetaOp::DeleteBackup(
            project.into(),
            logstore.into(),
            id.into(),
        )];
        ops.extend(self.delete_intents(&dirs));
        self.meta.submit(ops).wait()?;
        if let Some(list) = self
            .backups
            .write()
            .backups
            .get_mut(&(project.to_string(), logstore.to_string()))
        {
            list.retain(|b| b.id != id);
        }
        self.remove_claimed(dirs);
        Ok(())
    }

    /// Forgets the checkpoints, schedule and restore jobs of a deleted logstore (their rows
    /// went with it; its deletion removes their pins).
    pub(super) fn forget_backups(&self, project: &str, logstore: &str) {
        let mut st = self.backups.write();
        let key = (project.to_string(), logstore.to_string());
        st.schedules.remove(&key);
        st.backups.remove(&key);
        st.jobs
            .retain(|_, j| !(j.project == project && j.logstore == logstore));
    }

    /// The snapshot schedule of a logstore.
    pub fn get_schedule(&self, project: &str, logstore: &str) -> Result<ScheduleRec> {
        self.logstore(project, logstore)?;
        let st = self.backups.read();
        Ok(st
            .schedules
            .get(&(project.to_string(), logstore.to_string()))
            .cloned()
            .unwrap_or_else(|| self.default_schedule(project, logstore)))
    }

    /// Changes the snapshot schedule of a logstore.
    pub fn update_schedule(
        &self,
        project: &str,
        logstore: &str,
        u: ScheduleUpdate,
    ) -> Result<ScheduleRec> {
        let mut s = self.get_schedule(project, logstore)?;
        let set = |f: &mut u32, v: Option<u32>| {
            if let Some(v) = v {
                *f = v;
            }
        };
        set(&mut s.checkpoint_interval_min, u.checkpoint_interval_min);
        set(
            &mut s.point_in_time_window_hours,
            u.point_in_time_window_hours,
        );
        set(&mut s.snapshot_interval_hours, u.snapshot_interval_hours);
        set(&mut s.snapshot_retention_days, u.snapshot_retention_days);
        set(
            &mut s.daily_snapshot_retention_days,
            u.daily_snapshot_retention_days,
        );
        set(
            &mut s.weekly_snapshot_retention_weeks,
            u.weekly_snapshot_retention_weeks,
        );
        set(
            &mut s.monthly_snapshot_retention_months,
            u.monthly_snapshot_retention_months,
        );
        self.meta
            .submit(vec![MetaOp::PutSchedule(s.clone())])
            .wait()?;
        self.backups
            .write()
            .schedules
            .insert((project.to_string(), logstore.to_string()), s.clone());
        Ok(s)
    }

    /// Takes the checkpoints that are due and removes those past their window. Returns the number
    /// taken and removed. Called periodically; tests call it with a manual clock.
    pub fn run_backup_schedules(&self) -> (usize, usize) {
        let now = self.clock.wall_millis();
        let stores: Vec<(String, String)> = self.catalog.read().logstores.keys().cloned().collect();
        let (mut taken, mut removed) = (0, 0);
        for (p, l) in stores {
            let Ok(schedule) = self.get_schedule(&p, &l) else {
                continue;
            };
            let last = {
                let st = self.backups.read();
                st.backups
                    .get(&(p.clone(), l.clone()))
                    .and_then(|v| v.last())
                    .map(|b| b.started_ms)
            };
            if schedule.checkpoint_interval_min > 0 {
                let interval_ms = u64::from(schedule.checkpoint_interval_min) * 60_000;
                if last.is_none_or(|t| now.saturating_sub(t) >= interval_ms) {
                    match self.take_checkpoint(&p, &l) {
                        Ok(_) => taken += 1,
                        Err(e) => {
                            tracing::error!(project = %p, logstore = %l, error = %e, "scheduled checkpoint failed")
                        }
                    }
                }
            }
            let window_ms = u64::from(schedule.point_in_time_window_hours) * 3_600_000;
            let expired: Vec<String> = {
                let st = self.backups.read();
                st.backups
                    .get(&(p.clone(), l.clone()))
                    .map(|v| {
                        v.iter()
                            .filter(|b| now.saturating_sub(b.started_ms) > window_ms)
                            .map(|b| b.id.clone())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for id in expired {
                match self.delete_checkpoint(&p, &l, &id) {
                    Ok(()) => removed += 1,
                    Err(e) => {
                        tracing::error!(checkpoint = %id, error = %e, "could not remove an expired checkpoint")
                    }
                }
            }
        }
        (taken, removed)
    }

    /// [`Service::take_checkpoint`], answering the checkpoint as listed.
    pub fn checkpoint_now(&self, project: &str, logstore: &str) -> Result<BackupView> {
        let rec = self.take_checkpoint(project, logstore)?;
        Ok(self.view(&rec))
    }

    /// [`Service::start_restore`] into the project `target_project_key` (its id or its name)
    /// and the logstore `target` names there; answers that project and the jobs.
    pub fn start_restore_into(
        self: &Arc<Self>,
        project: &str,
        logstore: &str,
        id: &str,
        target_project_key: &str,
        target: &RestoreTarget,
    ) -> Result<(ProjectRec, Vec<RestoreJobRec>)> {
        let tp = self.resolve_project(target_project_key)?.rec;
        let name = match target {
            RestoreTarget::Name(n) => n.clone(),
            RestoreTarget::Uid(uid) => self
                .catalog
                .read()
                .logstores_of(&tp.name)
                .find(|ls| &ls.rec.uid == uid)
                .map(|ls| ls.rec.name.clone())
                .ok_or_else(|| Error::LogStoreIdNotExist(uid.clone()))?,
        };
        let jobs = self.start_restore(project, logstore, id, &tp.name, &name)?;
        Ok((tp, jobs))
    }

    /// Starts restoring checkpoint `id` of `project/logstore` into `target_project`/`target`
    /// (a logstore that does not exist yet or holds no data). Answers the jobs, one per part,
    /// sharing a batch id; the restore itself runs on a background thread.
    pub fn start_restore(
        self: &Arc<Self>,
        project: &str,
        logstore: &str,
        id: &str,
        target_project: &str,
        target: &str,
    ) -> Result<Vec<RestoreJobRec>> {
        let view = self.get_checkpoint(project, logstore, id)?;
        if !view.restorable {
            return Err(Error::ParameterInvalid(format!(
                "checkpoint {id} is not restorable"
            )));
        }
        super::validate_logstore_name(target)?;
        let target_rec = self.get_project(target_project)?;
        if let Ok(existing) = self.logstore(target_project, target) {
            if existing.logs.values().any(|l| l.end() > 0) {
                return Err(Error::TargetNotEmpty(format!("{target_project}/{target}")));
            }
        }
        let batch_id = new_id();
        let created_ms = self.clock.wall_millis();
        let rec = &view.rec;
        let mut parts: Vec<String> = rec
            .shards
            .iter()
            .map(|s| format!("{logstore}-shard-{}", s.shard.id))
            .collect();
        parts.push(format!("{logstore}-config-0"));
        let jobs: Vec<RestoreJobRec> = parts
            .into_iter()
            .map(|part| RestoreJobRec {
                id: new_id(),
                batch_id: batch_id.clone(),
                project: project.to_string(),
                logstore: logstore.to_string(),
                cluster_id: rec.cluster_id.clone(),
                group_id: rec.group_id.clone(),
                checkpoint_id: id.to_string(),
                part,
                target_project: target_project.to_string(),
                target_group_id: target_rec.id.clone(),
                target_logstore: target.to_string(),
                created_ms,
                status: JobStatus::InProgress,
                reason: None,
                timestamp: rec.timestamp,
            })
            .collect();
        self.meta
            .submit(jobs.iter().cloned().map(MetaOp::PutRestoreJob).collect())
            .wait()?;
        {
            let mut st = self.backups.write();
            for j in &jobs {
                st.jobs.insert(j.id.clone(), j.clone());
            }
        }
        let svc = self.clone();
        let (backup, target_project, target, batch) = (
            rec.clone(),
            target_project.to_string(),
            target.to_string(),
            jobs.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("cairn-restore".into())
            .spawn(move || {
                // Held through the status update, so that deleting the source logstore (which
                // takes it too) cannot be overtaken by this batch's final rows.
                let _ddl = svc.ddl.lock();
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    svc.restore(&backup, &target_project, &target)
                }))
                .unwrap_or_else(|_| {
                    Err(Error::Internal("the restore stopped unexpectedly".into()))
                });
                if let Err(e) = &outcome {
                    tracing::error!(checkpoint = %backup.id, error = %e, "restore failed");
                }
                svc.finish_jobs(batch, outcome.err().map(|e| e.to_string()));
            });
        if let Err(e) = spawned {
            self.finish_jobs(jobs.clone(), Some(format!("cannot start the restore: {e}")));
        }
        Ok(jobs)
    }

    /// Records the end of a restore batch: every job `FINISHED`, or `BROKEN` with `failure` as
    /// its reason. Memory follows the metadata store (a failed write leaves both as they were
    /// and is logged: the next start marks the batch `BROKEN`).
    fn finish_jobs(&self, batch: Vec<RestoreJobRec>, failure: Option<String>) {
        let finished: Vec<RestoreJobRec> = batch
            .into_iter()
            .map(|mut j| {
                match &failure {
                    None => j.status = JobStatus::Finished,
                    Some(reason) => {
                        j.status = JobStatus::Broken;
                        j.reason = Some(reason.clone());
                    }
                }
                j
            })
            .collect();
        let ops = finished
            .iter()
            .cloned()
            .map(MetaOp::PutRestoreJob)
            .collect();
        if let Err(e) = self.meta.submit(ops).wait() {
            tracing::error!(error = %e, "could not record restore job status");
            return;
        }
        let mut st = self.backups.write();
        for j in finished {
            st.jobs.insert(j.id.clone(), j);
        }
    }

    /// Builds the target logstore from a checkpoint: same shards (ids, ranges, status), exactly the
    /// LogGroups of the cut under the same cursors, settings and consumer groups with their
    /// checkpoints at the cut.
    /// The caller holds the DDL lock.
    fn restore(&self, b: &BackupRec, target_project: &str, target: &str) -> Result<()> {
        self.project_exists(target_project)?;
        let old = self.logstore(target_project, target).ok();
        if let Some(o) = &old {
            if o.logs.values().any(|l| l.end() > 0) {
                return Err(Error::ParameterInvalid(format!(
                    "target logstore {target_project}/{target} already holds data"
                )));
            }
        }
        let uid = new_id();
        let claim = self.claim(vec![DirKey::Logstore(uid.clone())])?;
        let mut logs = BTreeMap::new();
        let mut extents = Vec::new();
        for s in &b.shards {
            // Nothing retained at the cut: an empty log starting where the cut was.
            let log = self.store.restore_shard(
                &b.id,
                s.shard.id,
                &to_pinned(&s.segments),
                &uid,
                s.next,
            )?;
            let log = self.watched(&uid, s.shard.id, log);
            extents.push(MetaOp::RaiseExtent {
                uid: uid.clone(),
                shard: s.shard.id,
                extent: ExtentRec {
                    begin: log.begin(),
                    end: s.next,
                    segment: log.newest_segment(),
                },
            });
            if log.end() != s.next {
                return Err(Error::Internal(format!(
                    "restored shard {} ends at cursor {} instead of {}",
                    s.shard.id,
                    log.end(),
                    s.next
                )));
            }
            logs.insert(s.shard.id, log);
        }
        let now = self.now_secs();
        let rec = LogstoreRec {
            project: target_project.to_string(),
            name: target.to_string(),
            uid,
            shard_count: b.shard_count,
            settings: b.settings.clone(),
            create_time: now,
            last_modify_time: now,
            shards: b.shards.iter().map(|s| s.shard.clone()).collect(),
        };
        let groups: Vec<BackupGroupRec> = b
            .groups
            .iter()
            .map(|g| {
                let mut g = g.clone();
                g.group.project = target_project.to_string();
                g.group.logstore = target.to_string();
                g
            })
            .collect();
        let mut ops = Vec::new();
        let mut replaced = Vec::new();
        if let Some(o) = &old {
            ops.push(MetaOp::DeleteLogstore(
                target_project.to_string(),
                target.to_string(),
            ));
            let (intents, dirs) = self.logstore_deletion(o);
            ops.extend(intents);
            replaced = dirs;
        }
        ops.push(MetaOp::PutLogstore(rec.clone()));
        ops.extend(extents);
        ops.extend(claim.settle_ops());
        for g in &groups {
            ops.push(MetaOp::PutGroup(g.group.clone()));
            for c in &g.checkpoints {
                ops.push(MetaOp::PutCheckpoint(
                    target_project.into(),
                    target.into(),
                    g.group.name.clone(),
                    c.clone(),
                ));
            }
        }
        let ls = Arc::new(Logstore {
            rec: rec.clone(),
            logs,
            lb: Default::default(),
        });
        self.commit(&ops, |c| {
            c.logstores
                .insert((target_project.to_string(), target.to_string()), ls);
        })?;
        claim.settled();
        self.consumers.forget_logstore(target_project, target);
        self.consumers.install(groups);
        if old.is_some() {
            self.forget_backups(target_project, target);
            self.remove_claimed(replaced);
        }
        Ok(())
    }

    /// Restore jobs of a source logstore (optionally one batch), oldest first.
    pub fn list_restore_jobs(
        &self,
        project: &str,
        logstore: &str,
        batch: Option<&str>,
    ) -> Result<Vec<RestoreJobRec>> {
        self.logstore(project, logstore)?;
        let st = self.backups.read();
        let mut jobs: Vec<RestoreJobRec> = st
            .jobs
            .values()
            .filter(|j| {
                j.project == project
                    && j.logstore == logstore
                    && batch.is_none_or(|b| j.batch_id == b)
            })
            .cloned()
            .collect();
        jobs.sort_by(|a, b| {
            (a.created_ms, &a.batch_id, &a.part).cmp(&(b.created_ms, &b.batch_id, &b.part))
        });
        Ok(jobs)
    }

    /// One restore job.
    pub fn get_restore_job(
        &self,
        project: &str,
        logstore: &str,
        id: &str,
    ) -> Result<RestoreJobRec> {
        self.logstore(project, logstore)?;
        let st = self.backups.read();
        st.jobs
            .get(id)
            .filter(|j| j.project == project && j.logstore == logstore)
            .cloned()
            .ok_or_else(|| Error::RestoreJobNotExist(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::logs::PutTarget;
    use super::super::testing::{
        force_checkpoint, group_cg, log_group, proj_ls1, service_with_manual_clock, wait_jobs,
    };
    use super::*;
    use cairn_proto::{Log, LogContent, LogGroup};
    use prost::Message;

    fn group(i: u32) -> Vec<u8> {
        log_group(i, 0)
    }

    fn setup(svc: &Service) {
        proj_ls1(svc, 2, 1);
    }

    #[test]
    fn checkpoint_restore_round_trip_with_consumer_checkpoints() {
        let (svc, _dir, _clock) = service_with_manual_clock(1_000_000_000_000);
        let svc = Arc::new(svc);
        setup(&svc);
        for i in 0..50 {
            svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i))
                .unwrap();
        }
        group_cg(&svc);
        force_checkpoint(&svc, 0, 7).unwrap();
        let b = svc.take_checkpoint("proj", "ls1").unwrap();
        assert_eq!(b.shards.iter().map(|s| s.next).sum::<u64>(), 50);
        // Written after the checkpoint: not restored.
        for i in 50..60 {
            svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i))
                .unwrap();
        }
        force_checkpoint(&svc, 0, 9).unwrap();
        let jobs = svc
            .start_restore("proj", "ls1", &b.id, "proj", "restored")
            .unwrap();
        assert_eq!(jobs.len(), 3);
        let done = wait_jobs(&svc, &jobs[0].batch_id);
        assert!(
            done.iter().all(|j| j.status == JobStatus::Finished),
            "{done:?}"
        );
        let mut total = 0;
        for shard in 0..2 {
            let orig = svc.pull_logs("proj", "ls1", shard, 0, 1000, None).unwrap();
            let rest = svc
                .pull_logs("proj", "restored", shard, 0, 1000, None)
                .unwrap();
            let cut = b.shards.iter().find(|s| s.shard.id == shard).unwrap().next as usize;
            assert_eq!(rest.records.len(), cut);
            for (o, r) in orig.records.iter().zip(&rest.records) {
                assert_eq!(
                    (o.cursor, &o.payload, o.receive_millis / 1000),
                    (r.cursor, &r.payload, r.receive_millis / 1000)
                );
            }
            total += cut;
        }
        assert_eq!(total, 50);
        let cps = svc
            .get_checkpoints("proj", "restored", "cg", Some(0))
            .unwrap();
        assert_eq!(
            cps[0].checkpoint,
            cairn_proto::encode_cursor(7),
            "consumer checkpoints as of the cut"
        );
        // Restoring again into a logstore that now holds data is refused.
        assert!(svc
            .start_restore("proj", "ls1", &b.id, "proj", "restored")
            .is_err());
    }

    #[test]
    fn restores_name_their_target_by_project_id_and_logstore_uid() {
        let (svc, _dir, _clock) = service_with_manual_clock(1_000_000_000_000);
        let svc = Arc::new(svc);
        setup(&svc);
        for i in 0..6 {
            svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i))
                .unwrap();
        }
        let b = svc.checkpoint_now("proj", "ls1").unwrap();
        assert!(b.restorable);
        let listed = svc.list_checkpoints("proj", "ls1").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].rec, b.rec);
        // An empty logstore, named by its uid; the project by its id.
        svc.create_logstore(
            "proj",
            super::super::LogstoreSpec {
                name: "empty".into(),
                ttl: Some(1),
                shard_count: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        let (p, list) = svc.project_logstores("proj").unwrap();
        assert_eq!(
            list.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["empty", "ls1"]
        );
        let uid = list[0].uid.clone();
        let (tp, jobs) = svc
            .start_restore_into("proj", "ls1", &b.rec.id, &p.id, &RestoreTarget::Uid(uid))
            .unwrap();
        assert_eq!(tp.name, "proj");
        let done = wait_jobs(&svc, &jobs[0].batch_id);
        assert!(
            done.iter().all(|j| j.status == JobStatus::Finished),
            "{done:?}"
        );
        assert!(
            done.iter().all(|j| j.target_logstore == "empty"),
            "{done:?}"
        );
        let total: usize = (0..2)
            .map(|s| {
                svc.pull_logs("proj", "empty", s, 0, 100, None)
                    .unwrap()
                    .records
                    .len()
            })
            .sum();
        assert_eq!(total, 6);
        // An unknown uid names no logstore; an unknown project no project.
        assert!(matches!(
            svc.start_restore_into(
                "proj",
                "ls1",
                &b.rec.id,
                "proj",
                &RestoreTarget::Uid("00".into())
            ),
            Err(Error::LogStoreIdNotExist(_))
        ));
        assert!(matches!(
            svc.start_restore_into(
                "proj",
                "ls1",
                &b.rec.id,
                "nope",
                &RestoreTarget::Name("x".into())
            ),
            Err(Error::ProjectNotExist(_))
        ));
    }

    #[test]
    fn checkpoints_survive_ttl_and_deleting_frees_them() {
        let (svc, dir, clock) = service_with_manual_clock(1_000_000_000_000);
        setup(&svc);
        let big = LogGroup {
            logs: vec![Log {
                time: 1,
                contents: vec![LogContent {
                    key: b"k".to_vec(),
                    value: vec![b'x'; 20_000],
                }],
                time_ns: None,
            }],
            ..Default::default()
        }
        .encode_to_vec();
        for _ in 0..20 {
            svc.put_logs("proj", "ls1", PutTarget::HashKey(0), &big)
                .unwrap();
        }
        let b = svc.take_checkpoint("proj", "ls1").unwrap();
        clock.advance(3 * 86_400_000);
        svc.put_logs("proj", "ls1", PutTarget::HashKey(0), &big)
            .unwrap();
        assert!(svc.run_retention() > 0, "ttl deleted segments of the shard");
        assert!(svc.get_checkpoint("proj", "ls1", &b.id).unwrap().restorable);
        let pins = dir.path().join("backups").join(&b.id);
        assert!(pins.exists());
        svc.delete_checkpoint("proj", "ls1", &b.id).unwrap();
        assert!(!pins.exists());
        assert!(matches!(
            svc.get_checkpoint("proj", "ls1", &b.id),
            Err(Error::CheckpointNotExist(_))
        ));
    }

    #[test]
    fn schedules_take_and_expire_checkpoints() {
        let (svc, _dir, clock) = service_with_manual_clock(1_000_000_000_000);
        setup(&svc);
        assert_eq!(svc.run_backup_schedules(), (0, 0), "off by default");
        svc.update_schedule(
            "proj",
            "ls1",
            ScheduleUpdate {
                checkpoint_interval_min: Some(15),
                point_in_time_window_hours: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(svc.run_backup_schedules(), (1, 0));
        clock.advance(10 * 60_000);
        assert_eq!(svc.run_backup_schedules(), (0, 0), "not due yet");
        clock.advance(5 * 60_000);
        assert_eq!(svc.run_backup_schedules(), (1, 0));
        assert_eq!(svc.list_checkpoints("proj", "ls1").unwrap().len(), 2);
        clock.advance(50 * 60_000);
        // One more due; the first is now past the one-hour window.
        assert_eq!(svc.run_backup_schedules(), (1, 1));
        let list = svc.list_checkpoints("proj", "ls1").unwrap();
        assert_eq!(list.len(), 2);
        assert!(
            list[0].rec.started_ms < list[1].rec.started_ms,
            "oldest first"
        );
    }
}
