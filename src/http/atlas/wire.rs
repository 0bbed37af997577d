//! The Atlas wire records: groups, clusters, backup checkpoints, snapshot schedules and restore
//! jobs as the Atlas API writes them, apart from how they are stored.

use serde_json::{json, Value};

use crate::http::json::iso_time;
use crate::meta::{JobStatus, LogstoreRec, ProjectRec, RestoreJobRec, ScheduleRec, ShardStatus};
use crate::service::BackupView;

/// A cluster timestamp as a BSON timestamp: `{date, increment}`.
fn bson_ts(hlc: u64) -> Value {
    let h = cairn_storage::Hlc(hlc);
    json!({"date": iso_time(u64::from(h.secs()) * 1000), "increment": h.increment()})
}

/// A group (a project), with the number of its clusters.
pub fn group(base: &str, p: &ProjectRec, clusters: usize) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "clusterCount": clusters,
        "created": iso_time(p.create_time.max(0) as u64 * 1000),
        "links": [{"href": format!("{base}/groups/{}", p.id), "rel": "self"}],
    })
}

/// A cluster (a logstore).
pub fn cluster(base: &str, p: &ProjectRec, l: &LogstoreRec) -> Value {
    let rw = l
        .shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .count();
    json!({
        "id": l.uid,
        "groupId": p.id,
        "name": l.name,
        "clusterType": "SHARDED",
        "numShards": rw,
        "stateName": "IDLE",
        "backupEnabled": true,
        "links": [{"href": format!("{base}/groups/{}/clusters/{}", p.id, l.name), "rel": "self"}],
    })
}

/// A backup checkpoint of `cluster`: one part per shard, then the configuration.
pub fn checkpoint(base: &str, v: &BackupView, cluster: &str) -> Value {
    let b = &v.rec;
    let cluster_url = format!("{base}/groups/{}/clusters/{cluster}", b.group_id);
    let mut parts: Vec<Value> = b
        .shards
        .iter()
        .map(|s| {
            let name = format!("{cluster}-shard-{}", s.shard.id);
            json!({
                "replicaSetName": name,
                "shardName": name,
                "tokenDiscovered": s.discovered,
                "tokenTimestamp": bson_ts(s.token),
                "typeName": "REPLICA_SET",
            })
        })
        .collect();
    parts.push(json!({
        "replicaSetName": format!("{cluster}-config-0"),
        "tokenDiscovered": true,
        "tokenTimestamp": bson_ts(b.config_token),
        "typeName": "CONFIG_SERVER_REPLICA_SET",
    }));
    json!({
        "clusterId": b.cluster_id,
        "completed": iso_time(b.completed_ms),
        "groupId": b.group_id,
        "id": b.id,
        "links": [
            {"href": format!("{cluster_url}/backupCheckpoints/{}", b.id), "rel": "self"},
            {"href": cluster_url, "rel": "http://mms.mongodb.com/cluster"},
            {"href": format!("{base}/groups/{}", b.group_id), "rel": "http://mms.mongodb.com/group"},
        ],
        "parts": parts,
        "restorable": v.restorable,
        "started": iso_time(b.started_ms),
        "timestamp": iso_time(u64::from(cairn_storage::Hlc(b.timestamp).secs()) * 1000),
    })
}

/// A cluster's snapshot schedule.
pub fn schedule(base: &str, p: &ProjectRec, l: &LogstoreRec, s: &ScheduleRec) -> Value {
    let mut v = json!({
        "groupId": p.id,
        "clusterId": l.uid,
        "snapshotIntervalHours": s.snapshot_interval_hours,
        "snapshotRetentionDays": s.snapshot_retention_days,
        "dailySnapshotRetentionDays": s.daily_snapshot_retention_days,
        "weeklySnapshotRetentionWeeks": s.weekly_snapshot_retention_weeks,
        "monthlySnapshotRetentionMonths": s.monthly_snapshot_retention_months,
        "pointInTimeWindowHours": s.point_in_time_window_hours,
        "links": [{"href": format!("{base}/groups/{}/clusters/{}/snapshotSchedule", p.id, l.name), "rel": "self"}],
    });
    if s.checkpoint_interval_min > 0 {
        v["clusterCheckpointIntervalMin"] = json!(s.checkpoint_interval_min);
    }
    v
}

/// A restore job.
pub fn job(base: &str, p: &ProjectRec, j: &RestoreJobRec) -> Value {
    let delivery_status = match j.status {
        JobStatus::Finished => "READY",
        JobStatus::Broken => "FAILED",
        JobStatus::InProgress => "IN_PROGRESS",
    };
    let mut v = json!({
        "id": j.id,
        "batchId": j.batch_id,
        "clusterId": j.cluster_id,
        "clusterName": j.logstore,
        "groupId": j.group_id,
        "checkpointId": j.checkpoint_id,
        "replicaSetName": j.part,
        "created": iso_time(j.created_ms),
        "statusName": j.status.as_str(),
        "pointInTime": false,
        "encryptionEnabled": false,
        "timestamp": bson_ts(j.timestamp),
        "delivery": {
            "methodName": "AUTOMATED_RESTORE",
            "statusName": delivery_status,
            "targetGroupId": j.target_group_id,
            "targetClusterName": j.target_logstore,
        },
        "links": [{"href": format!("{base}/groups/{}/clusters/{}/restoreJobs/{}", p.id, j.logstore, j.id), "rel": "self"}],
    });
    if let Some(r) = &j.reason {
        v["statusReason"] = json!(r);
    }
    v
}
