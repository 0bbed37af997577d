//! The SLS wire records: how projects, logstores, shards, consumer groups and checkpoints are
//! written in JSON, apart from how they are stored.

use serde_json::{json, Value};

use crate::http::json::sls_time;
use crate::meta::{GroupRec, LogstoreRec, ProjectRec, ShardRec, ShardStatus};
use crate::service::CheckpointView;

/// A project (GetProject, ListProject).
pub fn project(p: &ProjectRec) -> Value {
    json!({
        "projectName": p.name,
        "description": p.description,
        "status": "Normal",
        "region": "cairn",
        "owner": "",
        "createTime": sls_time(p.create_time),
        "lastModifyTime": sls_time(p.last_modify_time),
        "resourceGroupId": p.resource_group_id,
        "projectId": p.id,
        // Always present: the Rust SDK fails to parse a project without it. SLS answers "LRS"
        // when none was chosen at creation.
        "dataRedundancyType": if p.data_redundancy_type.is_empty() {
            "LRS"
        } else {
            p.data_redundancy_type.as_str()
        },
    })
}

/// A logstore (GetLogStore).
pub fn logstore(l: &LogstoreRec) -> Value {
    let s = &l.settings;
    let rw = l
        .shards
        .iter()
        .filter(|s| s.status == ShardStatus::Readwrite)
        .count();
    let mut v = json!({
        "logstoreName": l.name,
        "ttl": s.ttl,
        "shardCount": rw,
        "enable_tracking": s.enable_tracking,
        "autoSplit": s.auto_split,
        "maxSplitShard": s.max_split_shard,
        "appendMeta": s.append_meta,
        "telemetryType": s.telemetry_type,
        "createTime": l.create_time,
        "lastModifyTime": l.last_modify_time,
    });
    if let Some(h) = s.hot_ttl {
        v["hot_ttl"] = json!(h);
    }
    if let Some(t) = s.infrequent_access_ttl {
        v["infrequentAccessTTL"] = json!(t);
    }
    if let Some(c) = &s.encrypt_conf {
        v["encrypt_conf"] = c.clone();
    }
    if let Some(p) = &s.sharding_policy {
        v["shardingPolicy"] = p.clone();
    }
    if let Some(p) = &s.processor_id {
        v["processorId"] = json!(p);
    }
    v["productType"] = json!(s.product_type.as_deref().unwrap_or(""));
    v["resourceGroupId"] = json!(s.resource_group_id.as_deref().unwrap_or(""));
    // Always present: the Rust SDK fails to parse a logstore without it. "standard" is SLS's
    // default mode.
    v["mode"] = json!(s.mode.as_deref().unwrap_or("standard"));
    v
}

/// A shard (ListShards, SplitShard, MergeShards).
pub fn shard(s: &ShardRec) -> Value {
    json!({
        "shardID": s.id,
        "status": match s.status { ShardStatus::Readwrite => "readwrite", ShardStatus::Readonly => "readonly" },
        "inclusiveBeginKey": format!("{:032x}", s.begin_key),
        "exclusiveEndKey": format!("{:032x}", s.end_key),
        "createTime": s.create_time,
    })
}

/// A consumer group (ListConsumerGroup).
pub fn group(g: &GroupRec) -> Value {
    json!({"name": g.name, "timeout": g.timeout, "order": g.order})
}

/// A shard's checkpoint (GetCheckPoint).
pub fn checkpoint(c: &CheckpointView) -> Value {
    json!({"shard": c.shard, "checkpoint": c.checkpoint, "updateTime": c.update_time_us, "consumer": c.consumer})
}
