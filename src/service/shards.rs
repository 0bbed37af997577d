//! Shards: list, split, merge, delete (design §11).

use cairn_storage::DirKey;

use super::{Error, Result, Service};
use crate::meta::{ShardRec, ShardStatus};

/// Midpoint of a shard's range, treating the last shard's end as 2^128.
fn midpoint(s: &ShardRec) -> u128 {
    if s.end_key == u128::MAX {
        // b + (2^128 - b) / 2, computed without leaving u128.
        let span_minus_one = u128::MAX - s.begin_key;
        s.begin_key + span_minus_one / 2 + (span_minus_one % 2)
    } else {
        s.begin_key + (s.end_key - s.begin_key) / 2
    }
}

impl Service {
    /// ListShards: every shard, readonly ones included, in id order.
    pub fn list_shards(&self, project: &str, logstore: &str) -> Result<Vec<ShardRec>> {
        Ok(self.logstore(project, logstore)?.rec.shards.clone())
    }

    /// SplitShard at `key` (or at the middle of the range): answers `[parent, left, right]`.
    pub fn split_shard(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        key: Option<u128>,
    ) -> Result<Vec<ShardRec>> {
        let _ddl = self.ddl.lock();
        let old = self.logstore(project, logstore)?;
        let mut rec = old.rec.clone();
        let idx = rec
            .shards
            .iter()
            .position(|s| s.id == shard)
            .ok_or(Error::ShardNotExist(shard))?;
        let parent = rec.shards[idx].clone();
        if parent.status != ShardStatus::Readwrite {
            return Err(Error::ParameterInvalid(format!(
                "shard {shard} is readonly and cannot be split"
            )));
        }
        let split_at = key.unwrap_or_else(|| midpoint(&parent));
        if split_at <= parent.begin_key || split_at >= parent.end_key {
            return Err(Error::ParameterInvalid(format!(
                "split key {split_at:032x} is not inside the range [{:032x}, {:032x}) of shard {shard}",
                parent.begin_key, parent.end_key
            )));
        }
        let next_id = rec.shards.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let now = self.now_secs();
        let left = ShardRec {
            id: next_id,
            status: ShardStatus::Readwrite,
            begin_key: parent.begin_key,
            end_key: split_at,
            create_time: now,
            parents: vec![shard],
        };
        let right = ShardRec {
            id: next_id + 1,
            status: ShardStatus::Readwrite,
            begin_key: split_at,
            end_key: parent.end_key,
            create_time: now,
            parents: vec![shard],
        };
        rec.shards[idx].status = ShardStatus::Readonly;
        let parent = rec.shards[idx].clone();
        rec.shards.push(left.clone());
        rec.shards.push(right.clone());
        rec.last_modify_time = now;
        let claim = self.claim(vec![
            DirKey::Shard(rec.uid.clone(), left.id),
            DirKey::Shard(rec.uid.clone(), right.id),
        ])?;
        let mut logs = old.logs.clone();
        for s in [&left, &right] {
            logs.insert(s.id, self.create_shard(&rec.uid, s.id, 0)?);
        }
        let settle = claim.settle_ops().collect();
        self.replace_logstore(&old, rec, logs, settle)?;
        claim.settled();
        Ok(vec![parent, left, right])
    }

    /// MergeShards: `shard` and its readwrite right neighbour become readonly and one new shard
    /// covers both ranges. Answers `[merged, left, right]`.
    pub fn merge_shards(&self, project: &str, logstore: &str, shard: u32) -> Result<Vec<ShardRec>> {
        let _ddl = self.ddl.lock();
        let old = self.logstore(project, logstore)?;
        let mut rec = old.rec.clone();
        let li = rec
            .shards
            .iter()
            .position(|s| s.id == shard)
            .ok_or(Error::ShardNotExist(shard))?;
        if rec.shards[li].status != ShardStatus::Readwrite {
            return Err(Error::ParameterInvalid(format!(
                "shard {shard} is readonly and cannot be merged"
            )));
        }
        let left_end = rec.shards[li].end_key;
        let ri = rec
            .shards
            .iter()
            .position(|s| {
                s.status == ShardStatus::Readwrite
                    && s.begin_key == left_end
                    && left_end != u128::MAX
            })
            .ok_or_else(|| {
                Error::ParameterInvalid(format!(
                    "shard {shard} has no readwrite right neighbour to merge with"
                ))
            })?;
        let now = self.now_secs();
        let next_id = rec.shards.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let merged = ShardRec {
            id: next_id,
            status: ShardStatus::Readwrite,
            begin_key: rec.shards[li].begin_key,
            end_key: rec.shards[ri].end_key,
            create_time: now,
            parents: vec![rec.shards[li].id, rec.shards[ri].id],
        };
        rec.shards[li].status = ShardStatus::Readonly;
        rec.shards[ri].status = ShardStatus::Readonly;
        let (left, right) = (rec.shards[li].clone(), rec.shards[ri].clone());
        rec.shards.push(merged.clone());
        rec.last_modify_time = now;
        let claim = self.claim(vec![DirKey::Shard(rec.uid.clone(), merged.id)])?;
        let mut logs = old.logs.clone();
        logs.insert(merged.id, self.create_shard(&rec.uid, merged.id, 0)?);
        let settle = claim.settle_ops().collect();
        self.replace_logstore(&old, rec, logs, settle)?;
        claim.settled();
        Ok(vec![merged, left, right])
    }

    /// DeleteShard: only readonly shards can be deleted; their data goes with them.
    pub fn delete_shard(&self, project: &str, logstore: &str, shard: u32) -> Result<()> {
        let _ddl = self.ddl.lock();
        let old = self.logstore(project, logstore)?;
        let mut rec = old.rec.clone();
        let idx = rec
            .shards
            .iter()
            .position(|s| s.id == shard)
            .ok_or(Error::ShardNotExist(shard))?;
        if rec.shards[idx].status != ShardStatus::Readonly {
            return Err(Error::ParameterInvalid(format!(
                "shard {shard} is readwrite; only readonly shards can be deleted"
            )));
        }
        rec.shards.remove(idx);
        rec.last_modify_time = self.now_secs();
        let mut logs = old.logs.clone();
        logs.remove(&shard);
        let dirs = vec![DirKey::Shard(rec.uid.clone(), shard)];
        let intents = self.delete_intents(&dirs);
        self.replace_logstore(&old, rec, logs, intents)?;
        self.remove_claimed(dirs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{proj_ls1, service};
    use super::*;

    fn setup(shards: u32) -> (Service, tempfile::TempDir) {
        let (svc, dir) = service();
        proj_ls1(&svc, shards, 7);
        (svc, dir)
    }

    #[test]
    fn split_then_merge_children() {
        let (svc, _dir) = setup(2);
        let res = svc.split_shard("proj", "ls1", 1, None).unwrap();
        assert_eq!(res.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(res[0].status, ShardStatus::Readonly);
        assert_eq!(res[1].begin_key, 1u128 << 127);
        assert_eq!(res[1].end_key, 3u128 << 126);
        assert_eq!(res[2].end_key, u128::MAX);
        assert!(
            svc.split_shard("proj", "ls1", 1, None).is_err(),
            "readonly parent cannot split again"
        );
        assert!(matches!(
            svc.split_shard("proj", "ls1", 0, Some(1u128 << 127)),
            Err(Error::ParameterInvalid(_))
        ));
        let merged = svc.merge_shards("proj", "ls1", 2).unwrap();
        assert_eq!(
            merged.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![4, 2, 3]
        );
        assert_eq!(
            (merged[0].begin_key, merged[0].end_key),
            (1u128 << 127, u128::MAX)
        );
        assert!(matches!(
            svc.merge_shards("proj", "ls1", 4),
            Err(Error::ParameterInvalid(_))
        ));
        assert_eq!(svc.list_shards("proj", "ls1").unwrap().len(), 5);
        assert!(matches!(
            svc.delete_shard("proj", "ls1", 0),
            Err(Error::ParameterInvalid(_))
        ));
        svc.delete_shard("proj", "ls1", 1).unwrap();
        assert!(matches!(
            svc.delete_shard("proj", "ls1", 1),
            Err(Error::ShardNotExist(1))
        ));
        assert_eq!(svc.list_shards("proj", "ls1").unwrap().len(), 4);
    }

    #[test]
    fn midpoint_of_full_range() {
        let s = ShardRec {
            id: 0,
            status: ShardStatus::Readwrite,
            begin_key: 0,
            end_key: u128::MAX,
            create_time: 0,
            parents: vec![],
        };
        assert_eq!(midpoint(&s), 1u128 << 127);
    }
}
