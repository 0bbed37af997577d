//! Consumer groups: definitions, checkpoints, heartbeats and shard assignment.
//!
//! Group definitions and checkpoints are durable (metadata store; checkpoint commits share
//! transactions through the metadata writer). Which consumers are alive and which shard each one
//! holds is soft state rebuilt from heartbeats after a restart.
//!
//! Assignment rules (the consumer libraries rely on them):
//! - consumable shards are the readwrite shards and the readonly shards not yet finished
//!   (finished: no retained data, or the group's checkpoint reached the shard's end); with
//!   `order`, a shard whose parents are not finished is not consumable yet;
//! - shards are spread evenly over live consumers, keeping current owners where possible;
//! - a shard moves only after its old owner stopped listing it in its heartbeat or timed out, so
//!   it is never handed to two live consumers at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{Catalog, Error, Logstore, Result, Service};
use crate::excerpt::excerpt;
use crate::meta::{CheckpointRec, GroupRec, MetaOp, Pending, ShardStatus};

/// Most consumer groups one logstore may hold.
pub const MAX_GROUPS_PER_LOGSTORE: usize = 30;
/// Longest accepted heartbeat timeout, in seconds.
pub const MAX_TIMEOUT_SECS: u32 = 86_400;

/// What CreateConsumerGroup carries.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// Group name.
    pub name: String,
    /// Heartbeat timeout in seconds.
    pub timeout: u32,
    /// Whether children shards wait for their parents.
    pub order: bool,
}

/// One element of GetCheckPoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointView {
    /// Shard id.
    pub shard: u32,
    /// Committed cursor, empty when never committed.
    pub checkpoint: String,
    /// Unix microseconds of the commit, 0 when never committed.
    pub update_time_us: i64,
    /// Committing consumer.
    pub consumer: String,
}

type GroupKey = (String, String, String);

struct Consumer {
    last_beat_ms: u64,
    held: BTreeSet<u32>,
}

struct Group {
    rec: GroupRec,
    consumers: BTreeMap<String, Consumer>,
    owners: BTreeMap<u32, String>,
    checkpoints: BTreeMap<u32, CheckpointRec>,
}

/// All consumer groups.
pub(super) struct Registry {
    groups: RwLock<BTreeMap<GroupKey, Arc<Mutex<Group>>>>,
}

fn key(p: &str, l: &str, g: &str) -> GroupKey {
    (p.to_string(), l.to_string(), g.to_string())
}

impl Registry {
    /// Builds the registry from stored groups and checkpoints; rows of logstores that no longer
    /// exist are ignored.
    pub(super) fn load(
        groups: Vec<GroupRec>,
        checkpoints: Vec<(String, String, String, CheckpointRec)>,
        catalog: &Catalog,
    ) -> Self {
        let mut map = BTreeMap::new();
        for rec in groups {
            if !catalog
                .logstores
                .contains_key(&(rec.project.clone(), rec.logstore.clone()))
            {
                continue;
            }
            let k = key(&rec.project, &rec.logstore, &rec.name);
            map.insert(
                k,
                Group {
                    rec,
                    consumers: BTreeMap::new(),
                    owners: BTreeMap::new(),
                    checkpoints: BTreeMap::new(),
                },
            );
        }
        for (p, l, g, c) in checkpoints {
            if let Some(group) = map.get_mut(&key(&p, &l, &g)) {
                group.checkpoints.insert(c.shard, c);
            }
        }
        Self {
            groups: RwLock::new(
                map.into_iter()
                    .map(|(k, g)| (k, Arc::new(Mutex::new(g))))
                    .collect(),
            ),
        }
    }

    fn get(&self, p: &str, l: &str, g: &str) -> Result<Arc<Mutex<Group>>> {
        self.groups
            .read()
            .get(&key(p, l, g))
            .cloned()
            .ok_or_else(|| Error::ConsumerGroupNotExist(g.to_string()))
    }

    /// Definitions and checkpoints of a logstore's groups, for a backup.
    pub(super) fn snapshot(&self, p: &str, l: &str) -> Vec<crate::meta::BackupGroupRec> {
        self.groups
            .read()
            .iter()
            .filter(|((gp, gl, _), _)| gp == p && gl == l)
            .map(|(_, g)| {
                let g = g.lock();
                crate::meta::BackupGroupRec {
                    group: g.rec.clone(),
                    checkpoints: g.checkpoints.values().cloned().collect(),
                }
            })
            .collect()
    }

    /// Adds restored groups.
    pub(super) fn install(&self, groups: Vec<crate::meta::BackupGroupRec>) {
        let mut map = self.groups.write();
        for b in groups {
            let k = key(&b.group.project, &b.group.logstore, &b.group.name);
            let checkpoints = b.checkpoints.into_iter().map(|c| (c.shard, c)).collect();
            let group = Group {
                rec: b.group,
                consumers: BTreeMap::new(),
                owners: BTreeMap::new(),
                checkpoints,
            };
            map.insert(k, Arc::new(Mutex::new(group)));
        }
    }

    /// Forgets every group of a deleted logstore.
    pub(super) fn forget_logstore(&self, p: &str, l: &str) {
        self.groups
            .write()
            .retain(|(gp, gl, _), _| !(gp == p && gl == l));
    }
}

/// Whether a readonly shard has been consumed to its end by this group (or holds nothing).
fn finished(ls: &Logstore, group: &Group, shard: u32) -> bool {
    let Some(log) = ls.logs.get(&shard) else {
        return true;
    };
    let (begin, end) = (log.begin(), log.end());
    begin == end
        || group
            .checkpoints
            .get(&shard)
            .is_some_and(|c| c.cursor >= end)
}

/// Shards the group may hand out now.
fn consumable(ls: &Logstore, group: &Group) -> BTreeSet<u32> {
    let readonly_finished = |id: u32| {
        ls.rec
            .shards
            .iter()
            .find(|s| s.id == id)
            .is_none_or(|s| s.status == ShardStatus::Readonly && finished(ls, group, id))
    };
    ls.rec
        .shards
        .iter()
        .filter(|s| !(s.status == ShardStatus::Readonly && finished(ls, group, s.id)))
        .filter(|s| !group.rec.order || s.parents.iter().all(|p| readonly_finished(*p)))
        .map(|s| s.id)
        .collect()
}

impl Group {
    fn expire(&mut self, now_ms: u64) {
        let timeout_ms = u64::from(self.rec.timeout) * 1000;
        let dead: Vec<String> = self
            .consumers
            .iter()
            .filter(|(_, c)| now_ms.saturating_sub(c.last_beat_ms) > timeout_ms)
            .map(|(n, _)| n.clone())
            .collect();
        for name in dead {
            tracing::info!(group = %self.rec.name, consumer = %name, "consumer timed out");
            self.consumers.remove(&name);
        }
    }

    /// Recomputes owners: keep live owners of consumable shards, trim consumers above their
    /// share, give unowned shards to consumers below it.
    fn rebalance(&mut self, shards: &BTreeSet<u32>) {
        let consumers = &self.consumers;
        self.owners
            .retain(|s, c| shards.contains(s) && consumers.contains_key(c));
        let m = consumers.len();
        if m == 0 {
            return;
        }
        let n = shards.len();
        let mut owned: BTreeMap<&str, Vec<u32>> =
            consumers.keys().map(|c| (c.as_str(), Vec::new())).collect();
        for (s, c) in &self.owners {
            owned.get_mut(c.as_str()).expect("owner is live").push(*s);
        }
        // Consumers owning the most keep the extra shards of an uneven split.
        let mut order: Vec<&str> = owned.keys().copied().collect();
        order.sort_by_key(|c| std::cmp::Reverse(owned[c].len()));
        let quota: BTreeMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, n / m + usize::from(i < n % m)))
            .collect();
        let mut free: Vec<u32> = shards
            .iter()
            .copied()
            .filter(|s| !self.owners.contains_key(s))
            .collect();
        for (c, list) in owned.iter_mut() {
            while list.len() > quota[c] {
                let s = list.pop().expect("above quota");
                self.owners.remove(&s);
                free.push(s);
            }
        }
        free.sort_unstable();
        for s in free {
            let Some(c) = owned
                .iter()
                .filter(|(c, l)| l.len() < quota[*c])
                .min_by_key(|(_, l)| l.len())
                .map(|(c, _)| c.to_string())
            else {
                break;
            };
            owned.get_mut(c.as_str()).expect("live").push(s);
            self.owners.insert(s, c);
        }
    }

    /// Shards to tell `consumer`: those it owns that no other live consumer still holds.
    fn reply(&self, consumer: &str) -> Vec<u32> {
        self.owners
            .iter()
            .filter(|(s, c)| {
                c.as_str() == consumer
                    && !self
                        .consumers
                        .iter()
                        .any(|(other, st)| other != consumer && st.held.contains(s))
            })
            .map(|(s, _)| *s)
            .collect()
    }
}

impl Service {
    /// CreateConsumerGroup.
    pub fn create_consumer_group(
        &self,
        project: &str,
        logstore: &str,
        spec: GroupSpec,
    ) -> Result<()> {
        validate_group_name(&spec.name)?;
        check_timeout(spec.timeout)?;
        let _ddl = self.ddl.lock();
        self.logstore(project, logstore)?;
        {
            let groups = self.consumers.groups.read();
            if groups.contains_key(&key(project, logstore, &spec.name)) {
                return Err(Error::ConsumerGroupAlreadyExist(spec.name));
            }
            let n = groups
                .keys()
                .filter(|(p, l, _)| p == project && l == logstore)
                .count();
            if n >= MAX_GROUPS_PER_LOGSTORE {
                return Err(Error::QuotaExceed(format!(
                    "logstore {logstore} already has {MAX_GROUPS_PER_LOGSTORE} consumer groups"
                )));
            }
        }
        let rec = GroupRec {
            project: project.to_string(),
            logstore: logstore.to_string(),
            name: spec.name,
            timeout: spec.timeout,
            order: spec.order,
            create_time: self.now_secs(),
        };
        self.commit(&[MetaOp::PutGroup(rec.clone())], |_| {})?;
        let k = key(project, logstore, &rec.name);
        let group = Group {
            rec,
            consumers: BTreeMap::new(),
            owners: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
        };
        self.consumers
            .groups
            .write()
            .insert(k, Arc::new(Mutex::new(group)));
        Ok(())
    }

    /// UpdateConsumerGroup: changes the given fields.
    pub fn update_consumer_group(
        &self,
        project: &str,
        logstore: &str,
        name: &str,
        timeout: Option<u32>,
        order: Option<bool>,
    ) -> Result<()> {
        if let Some(t) = timeout {
            check_timeout(t)?;
        }
        let _ddl = self.ddl.lock();
        self.logstore(project, logstore)?;
        let group = self.consumers.get(project, logstore, name)?;
        // Not held across the commit: the writer thread takes group locks to install
        // checkpoints. Only DDL (serialised by the lock above) changes `rec`.
        let mut rec = group.lock().rec.clone();
        rec.timeout = timeout.unwrap_or(rec.timeout);
        rec.order = order.unwrap_or(rec.order);
        self.commit(&[MetaOp::PutGroup(rec.clone())], |_| {})?;
        group.lock().rec = rec;
        Ok(())
    }

    /// DeleteConsumerGroup, with its checkpoints.
    pub fn delete_consumer_group(&self, project: &str, logstore: &str, name: &str) -> Result<()> {
        let _ddl = self.ddl.lock();
        self.logstore(project, logstore)?;
        self.consumers.get(project, logstore, name)?;
        self.commit(
            &[MetaOp::DeleteGroup(
                project.into(),
                logstore.into(),
                name.into(),
            )],
            |_| {},
        )?;
        self.consumers
            .groups
            .write()
            .remove(&key(project, logstore, name));
        Ok(())
    }

    /// ListConsumerGroup.
    pub fn list_consumer_groups(&self, project: &str, logstore: &str) -> Result<Vec<GroupRec>> {
        self.logstore(project, logstore)?;
        let groups = self.consumers.groups.read();
        Ok(groups
            .iter()
            .filter(|((p, l, _), _)| p == project && l == logstore)
            .map(|(_, g)| g.lock().rec.clone())
            .collect())
    }

    /// ConsumerGroupHeartBeat: registers or refreshes `consumer`, which currently holds `held`,
    /// and answers the shards it should hold.
    pub fn heartbeat(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
        consumer: &str,
        held: &[u32],
    ) -> Result<Vec<u32>> {
        if consumer.is_empty() || consumer.len() > 256 {
            return Err(Error::ParameterInvalid(
                "consumer must be a name of 1 to 256 characters".into(),
            ));
        }
        let ls = self.logstore(project, logstore)?;
        let group = self.consumers.get(project, logstore, group)?;
        let now = self.clock.wall_millis();
        let mut g = group.lock();
        g.expire(now);
        let entry = g.consumers.entry(consumer.to_string()).or_insert_with(|| {
            tracing::info!(consumer, "consumer joined");
            Consumer {
                last_beat_ms: now,
                held: BTreeSet::new(),
            }
        });
        entry.last_beat_ms = now;
        entry.held = held.iter().copied().collect();
        let shards = consumable(&ls, &g);
        g.rebalance(&shards);
        let reply = g.reply(consumer);
        // What a consumer is told to hold counts as held until its next heartbeat says
        // otherwise: it starts consuming at once, long before that heartbeat.
        if let Some(c) = g.consumers.get_mut(consumer) {
            c.held.extend(reply.iter().copied());
        }
        Ok(reply)
    }

    /// UpdateCheckPoint. With `force` false only the live owner of the shard may commit.
    #[allow(clippy::too_many_arguments)] // one argument per field of the API call
    pub fn update_checkpoint(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
        consumer: Option<&str>,
        force: bool,
        shard: u32,
        checkpoint: &str,
    ) -> Result<()> {
        self.queue_checkpoint(project, logstore, group, consumer, force, shard, checkpoint)?
            .wait()?;
        Ok(())
    }

    /// [`Service::update_checkpoint`] up to the point of waiting: checks the request, updates
    /// memory and queues the durable write, whose [`Pending`] the caller awaits before
    /// answering. Does no I/O, so async code may call it directly.
    #[allow(clippy::too_many_arguments)]
    pub fn queue_checkpoint(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
        consumer: Option<&str>,
        force: bool,
        shard: u32,
        checkpoint: &str,
    ) -> Result<Pending> {
        let ls = self.logstore(project, logstore)?;
        let group = self.consumers.get(project, logstore, group)?;
        let log = ls.shard_log(shard)?;
        let cursor = cairn_proto::decode_cursor(checkpoint).map_err(|e| {
            Error::InvalidCursor(format!(
                "checkpoint {:?} is not a cursor: {e}",
                excerpt(checkpoint)
            ))
        })?;
        let (begin, end) = (log.begin(), log.end());
        if cursor < begin || cursor > end {
            return Err(Error::InvalidCursor(format!(
                "checkpoint cursor {cursor} is out of range [{begin}, {end}] of shard {shard}"
            )));
        }
        if !force {
            let c = consumer.ok_or_else(|| {
                Error::ParameterInvalid("consumer is required unless forceSuccess is true".into())
            })?;
            let now = self.clock.wall_millis();
            let mut g = group.lock();
            g.expire(now);
            if !g.consumers.contains_key(c) {
                return Err(Error::ConsumerNotExist(c.to_string()));
            }
            if g.owners.get(&shard).map(String::as_str) != Some(c) {
                return Err(Error::ConsumerNotMatch(format!(
                    "consumer {} does not hold shard {shard}",
                    excerpt(c)
                )));
            }
        }
        let rec = CheckpointRec {
            shard,
            checkpoint: cairn_proto::encode_cursor(cursor),
            cursor,
            update_time_us: (self.clock.wall_millis() * 1000) as i64,
            consumer: consumer.unwrap_or("").to_string(),
        };
        // Queued under the group lock, so that the durable order of commits to one shard is the
        // order in which they were accepted; installed in memory by the writer thread once
        // committed (in that same order), so a GetCheckPoint never answers what a crash could
        // forget (design §10).
        let pending = {
            let g = group.lock();
            let r = &g.rec;
            let op = MetaOp::PutCheckpoint(
                r.project.clone(),
                r.logstore.clone(),
                r.name.clone(),
                rec.clone(),
            );
            let group = group.clone();
            self.meta.submit_then(vec![op], move || {
                group.lock().checkpoints.insert(shard, rec);
            })
        };
        Ok(pending)
    }

    /// GetCheckPoint: every shard of the logstore, or just `shard` (empty when it does not
    /// exist). Shards never committed have an empty checkpoint.
    pub fn get_checkpoints(
        &self,
        project: &str,
        logstore: &str,
        group: &str,
        shard: Option<u32>,
    ) -> Result<Vec<CheckpointView>> {
        let ls = self.logstore(project, logstore)?;
        let group = self.consumers.get(project, logstore, group)?;
        let g = group.lock();
        Ok(ls
            .rec
            .shards
            .iter()
            .filter(|s| shard.is_none_or(|id| id == s.id))
            .map(|s| match g.checkpoints.get(&s.id) {
                Some(c) => CheckpointView {
                    shard: s.id,
                    checkpoint: c.checkpoint.clone(),
                    update_time_us: c.update_time_us,
                    consumer: c.consumer.clone(),
                },
                None => CheckpointView {
                    shard: s.id,
                    checkpoint: String::new(),
                    update_time_us: 0,
                    consumer: String::new(),
                },
            })
            .collect())
    }

    /// Forgets the consumer groups of a deleted logstore (their rows went with it).
    pub(super) fn forget_groups(&self, project: &str, logstore: &str) {
        self.consumers.forget_logstore(project, logstore);
    }
}

fn validate_group_name(name: &str) -> Result<()> {
    super::GROUP_NAME.check(name)
}

fn check_timeout(t: u32) -> Result<()> {
    if (1..=MAX_TIMEOUT_SECS).contains(&t) {
        Ok(())
    } else {
        Err(Error::ParameterInvalid(format!(
            "timeout {t} is out of range [1, {MAX_TIMEOUT_SECS}] seconds"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::logs::PutTarget;
    use super::super::testing::{proj_ls1, reopen, service_with_manual_clock};
    use super::*;
    use cairn_proto::{Log, LogGroup};
    use prost::Message;

    fn setup(svc: &Service, shards: u32, order: bool) {
        proj_ls1(svc, shards, 7);
        svc.create_consumer_group(
            "proj",
            "ls1",
            GroupSpec {
                name: "cg1".into(),
                timeout: 10,
                order,
            },
        )
        .unwrap();
    }

    fn put(svc: &Service, key: u128) {
        let g = LogGroup {
            logs: vec![Log {
                time: 1,
                contents: vec![],
                time_ns: None,
            }],
            ..Default::default()
        }
        .encode_to_vec();
        svc.put_logs("proj", "ls1", PutTarget::HashKey(key), &g)
            .unwrap();
    }

    fn beat(svc: &Service, c: &str, held: &[u32]) -> Vec<u32> {
        svc.heartbeat("proj", "ls1", "cg1", c, held).unwrap()
    }

    #[test]
    fn group_crud_and_errors() {
        let (svc, _dir, _) = service_with_manual_clock(1_000_000);
        setup(&svc, 2, false);
        assert!(matches!(
            svc.create_consumer_group(
                "proj",
                "ls1",
                GroupSpec {
                    name: "cg1".into(),
                    timeout: 10,
                    order: false
                }
            ),
            Err(Error::ConsumerGroupAlreadyExist(_))
        ));
        assert!(matches!(
            svc.create_consumer_group(
                "proj",
                "ls1",
                GroupSpec {
                    name: "cg2".into(),
                    timeout: 0,
                    order: false
                }
            ),
            Err(Error::ParameterInvalid(_))
        ));
        svc.update_consumer_group("proj", "ls1", "cg1", Some(20), Some(true))
            .unwrap();
        let list = svc.list_consumer_groups("proj", "ls1").unwrap();
        assert_eq!((list.len(), list[0].timeout, list[0].order), (1, 20, true));
        assert!(matches!(
            svc.update_consumer_group("proj", "ls1", "nope", None, None),
            Err(Error::ConsumerGroupNotExist(_))
        ));
        for i in 2..=MAX_GROUPS_PER_LOGSTORE {
            svc.create_consumer_group(
                "proj",
                "ls1",
                GroupSpec {
                    name: format!("cg{i}"),
                    timeout: 5,
                    order: false,
                },
            )
            .unwrap();
        }
        assert!(matches!(
            svc.create_consumer_group(
                "proj",
                "ls1",
                GroupSpec {
                    name: "onemore".into(),
                    timeout: 5,
                    order: false
                }
            ),
            Err(Error::QuotaExceed(_))
        ));
        svc.delete_consumer_group("proj", "ls1", "cg1").unwrap();
        assert!(matches!(
            svc.get_checkpoints("proj", "ls1", "cg1", None),
            Err(Error::ConsumerGroupNotExist(_))
        ));
    }

    #[test]
    fn balanced_sticky_and_safe_hand_over() {
        let (svc, _dir, clock) = service_with_manual_clock(1_000_000);
        setup(&svc, 4, false);
        assert_eq!(beat(&svc, "a", &[]), vec![0, 1, 2, 3]);
        // b joins: a gives up two shards, but b only gets them once a stops listing them.
        assert_eq!(beat(&svc, "b", &[]), Vec::<u32>::new());
        let a = beat(&svc, "a", &[0, 1, 2, 3]);
        assert_eq!(a.len(), 2);
        assert_eq!(
            beat(&svc, "b", &[]),
            Vec::<u32>::new(),
            "a still holds them"
        );
        assert_eq!(beat(&svc, "a", &a), a);
        let b = beat(&svc, "b", &[]);
        assert_eq!(b.len(), 2);
        assert!(a.iter().all(|s| !b.contains(s)));
        // Sticky: more beats change nothing.
        assert_eq!(beat(&svc, "a", &a), a);
        assert_eq!(beat(&svc, "b", &b), b);
        // a times out: b takes everything.
        clock.advance(11_000);
        assert_eq!(beat(&svc, "b", &b), vec![0, 1, 2, 3]);
        // Three consumers over four shards: 2/1/1.
        beat(&svc, "c", &[]);
        beat(&svc, "d", &[]);
        let b2 = beat(&svc, "b", &[0, 1, 2, 3]);
        assert_eq!(
            beat(&svc, "c", &[]),
            Vec::<u32>::new(),
            "b has not released anything yet"
        );
        assert_eq!(beat(&svc, "b", &b2), b2);
        let c = beat(&svc, "c", &[]);
        let d = beat(&svc, "d", &[]);
        let mut counts = vec![b2.len(), c.len(), d.len()];
        counts.sort();
        assert_eq!(counts, vec![1, 1, 2]);
    }

    #[test]
    fn a_long_checkpoint_or_consumer_is_quoted_as_an_excerpt() {
        let (svc, _dir, _) = service_with_manual_clock(1_000_000_000);
        setup(&svc, 1, false);
        let long = "A".repeat(5_000_000);
        let e = svc
            .update_checkpoint("proj", "ls1", "cg1", None, true, 0, &long)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidCursor(_)));
        let m = e.to_string();
        assert!(m.len() < 1000 && m.contains("(5000000 bytes)"), "{m:.2000}");
        let e = svc
            .update_checkpoint(
                "proj",
                "ls1",
                "cg1",
                Some(&long),
                false,
                0,
                &cairn_proto::encode_cursor(0),
            )
            .unwrap_err();
        assert!(matches!(e, Error::ConsumerNotExist(_)));
        assert!(e.to_string().len() < 1000);
    }

    #[test]
    fn checkpoints_commit_rules_and_survive_reopen() {
        let (svc, dir, clock) = service_with_manual_clock(1_000_000_000);
        setup(&svc, 2, false);
        for _ in 0..3 {
            put(&svc, 0);
        }
        let c2 = cairn_proto::encode_cursor(2);
        assert_eq!(beat(&svc, "a", &[]), vec![0, 1]);
        svc.update_checkpoint("proj", "ls1", "cg1", Some("a"), false, 0, &c2)
            .unwrap();
        assert!(matches!(
            svc.update_checkpoint("proj", "ls1", "cg1", Some("z"), false, 0, &c2),
            Err(Error::ConsumerNotExist(_))
        ));
        beat(&svc, "b", &[]);
        beat(&svc, "a", &[0, 1]);
        let b = beat(&svc, "b", &[]);
        let not_b = if b.contains(&0) { 1 } else { 0 };
        assert!(matches!(
            svc.update_checkpoint(
                "proj",
                "ls1",
                "cg1",
                Some("b"),
                false,
                not_b,
                &cairn_proto::encode_cursor(0)
            ),
            Err(Error::ConsumerNotMatch(_))
        ));
        assert!(matches!(
            svc.update_checkpoint(
                "proj",
                "ls1",
                "cg1",
                Some("a"),
                true,
                0,
                &cairn_proto::encode_cursor(4)
            ),
            Err(Error::InvalidCursor(_))
        ));
        assert!(matches!(
            svc.update_checkpoint("proj", "ls1", "cg1", Some("a"), true, 0, "%%"),
            Err(Error::InvalidCursor(_))
        ));
        assert!(matches!(
            svc.update_checkpoint("proj", "ls1", "cg1", Some("a"), true, 9, &c2),
            Err(Error::ShardNotExist(9))
        ));
        svc.update_checkpoint(
            "proj",
            "ls1",
            "cg1",
            None,
            true,
            1,
            &cairn_proto::encode_cursor(0),
        )
        .unwrap();
        let all = svc.get_checkpoints("proj", "ls1", "cg1", None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].checkpoint, c2);
        assert_eq!(all[0].consumer, "a");
        assert_eq!(all[0].update_time_us, 1_000_000_000_000);
        assert_eq!(
            svc.get_checkpoints("proj", "ls1", "cg1", Some(7)).unwrap(),
            vec![]
        );
        drop(svc);
        let svc = reopen(dir.path(), clock);
        assert_eq!(
            svc.get_checkpoints("proj", "ls1", "cg1", None).unwrap(),
            all
        );
        svc.delete_logstore("proj", "ls1").unwrap();
        assert!(matches!(
            svc.get_checkpoints("proj", "ls1", "cg1", None),
            Err(Error::LogStoreNotExist(_))
        ));
    }

    #[test]
    fn readonly_shards_finish_and_order_gates_children() {
        let (svc, _dir, _) = service_with_manual_clock(1_000_000);
        setup(&svc, 1, true);
        put(&svc, 5);
        put(&svc, 6);
        svc.split_shard("proj", "ls1", 0, None).unwrap();
        // order=true: children wait until the parent is consumed to its end.
        assert_eq!(beat(&svc, "a", &[]), vec![0]);
        svc.update_checkpoint(
            "proj",
            "ls1",
            "cg1",
            Some("a"),
            true,
            0,
            &cairn_proto::encode_cursor(1),
        )
        .unwrap();
        assert_eq!(beat(&svc, "a", &[0]), vec![0]);
        svc.update_checkpoint(
            "proj",
            "ls1",
            "cg1",
            Some("a"),
            true,
            0,
            &cairn_proto::encode_cursor(2),
        )
        .unwrap();
        assert_eq!(
            beat(&svc, "a", &[0]),
            vec![1, 2],
            "finished parent is no longer handed out"
        );
        // Without order, children start at once; an empty readonly shard counts as finished.
        svc.create_consumer_group(
            "proj",
            "ls1",
            GroupSpec {
                name: "cg2".into(),
                timeout: 10,
                order: false,
            },
        )
        .unwrap();
        assert_eq!(
            svc.heartbeat("proj", "ls1", "cg2", "x", &[]).unwrap(),
            vec![0, 1, 2]
        );
        svc.split_shard("proj", "ls1", 1, None).unwrap();
        assert_eq!(
            svc.heartbeat("proj", "ls1", "cg2", "x", &[0, 1, 2])
                .unwrap(),
            vec![0, 2, 3, 4]
        );
    }
}
