//! The rules every [`MetadataStore`] keeps (see its docs), as one suite run against each
//! implementation: every table comes back after a reopen, cascades remove what they must and
//! nothing else, batches apply whole or not at all, extents never go down.

use std::sync::Arc;

use super::index::{IndexConfig, KeyIndex, KeyType, LineIndex, TextRules};
use super::*;

/// Opens the store under test: the same store (same file, same database) each time it is called,
/// as a restarted server would. The store opened before is dropped first.
type Open<'a> = &'a dyn Fn() -> Arc<dyn MetadataStore>;

/// One rule of the suite.
type Rule = fn(Open);

fn project(name: &str) -> ProjectRec {
    ProjectRec {
        name: name.into(),
        id: format!("{:0>24}", name.len()),
        description: "d".into(),
        resource_group_id: "rg".into(),
        data_redundancy_type: "LRS".into(),
        create_time: 1,
        last_modify_time: 2,
    }
}

fn logstore(project: &str, name: &str, uid: &str) -> LogstoreRec {
    LogstoreRec {
        project: project.into(),
        name: name.into(),
        uid: uid.into(),
        shard_count: 2,
        settings: LogstoreSettings {
            ttl: 30,
            enable_tracking: true,
            auto_split: true,
            max_split_shard: 64,
            append_meta: false,
            telemetry_type: String::new(),
            hot_ttl: Some(7),
            mode: Some("standard".into()),
            infrequent_access_ttl: Some(14),
            encrypt_conf: Some(serde_json::json!({"enable": true, "encrypt_type": "default"})),
            sharding_policy: Some(serde_json::json!({"shardGroup": {"keys": ["k"]}})),
            product_type: Some("p".into()),
            processor_id: Some("proc".into()),
            resource_group_id: Some("rg".into()),
            index: Some(IndexConfig {
                line: Some(LineIndex {
                    text: TextRules {
                        token: vec![",".into(), " ".into()],
                        case_sensitive: Some(false),
                        chn: None,
                    },
                    include_keys: None,
                    exclude_keys: Some(vec!["secret".into()]),
                    extra: Default::default(),
                }),
                keys: [("status".to_string(), KeyIndex::of_kind(KeyType::Long))].into(),
                max_text_len: Some(2048),
                last_modify_time: 5,
                ..Default::default()
            }),
        },
        create_time: 3,
        last_modify_time: 4,
        shards: (0..2)
            .map(|id| ShardRec {
                id,
                status: ShardStatus::Readwrite,
                begin_key: u128::from(id) << 127,
                end_key: if id == 0 { 1 << 127 } else { u128::MAX },
                create_time: 3,
                parents: vec![],
            })
            .collect(),
    }
}

fn group(p: &str, l: &str, g: &str) -> GroupRec {
    GroupRec {
        project: p.into(),
        logstore: l.into(),
        name: g.into(),
        timeout: 10,
        order: true,
        create_time: 5,
    }
}

fn checkpoint(shard: u32, cursor: u64) -> CheckpointRec {
    CheckpointRec {
        shard,
        checkpoint: format!("c{cursor}"),
        cursor,
        update_time_us: 6,
        consumer: "c1".into(),
    }
}

fn backup(p: &str, l: &str, id: &str) -> BackupRec {
    let ls = logstore(p, l, "u");
    BackupRec {
        id: id.into(),
        project: p.into(),
        logstore: l.into(),
        group_id: "g".into(),
        cluster_id: "u".into(),
        started_ms: 7,
        completed_ms: 8,
        timestamp: 9,
        config_token: 10,
        shards: vec![BackupShardRec {
            shard: ls.shards[0].clone(),
            token: 9,
            begin: 0,
            next: 11,
            discovered: true,
            segments: vec![PinnedSegmentRec {
                base: 0,
                len: 100,
                whole: false,
            }],
        }],
        settings: ls.settings.clone(),
        shard_count: 2,
        groups: vec![BackupGroupRec {
            group: group(p, l, "g1"),
            checkpoints: vec![checkpoint(0, 3)],
        }],
    }
}

fn schedule(p: &str, l: &str) -> ScheduleRec {
    ScheduleRec {
        project: p.into(),
        logstore: l.into(),
        checkpoint_interval_min: 15,
        point_in_time_window_hours: 48,
        snapshot_interval_hours: 6,
        snapshot_retention_days: 2,
        daily_snapshot_retention_days: 7,
        weekly_snapshot_retention_weeks: 4,
        monthly_snapshot_retention_months: 13,
    }
}

fn job(p: &str, l: &str, id: &str) -> RestoreJobRec {
    RestoreJobRec {
        id: id.into(),
        batch_id: "b".into(),
        project: p.into(),
        logstore: l.into(),
        cluster_id: "u".into(),
        group_id: "g".into(),
        checkpoint_id: "k".into(),
        part: format!("{l}-shard-0"),
        target_project: p.into(),
        target_group_id: "g".into(),
        target_logstore: "t".into(),
        created_ms: 12,
        status: JobStatus::Finished,
        reason: Some("why".into()),
        timestamp: 13,
    }
}

fn extent(uid: &str, shard: u32, begin: u64, end: u64) -> MetaOp {
    MetaOp::RaiseExtent {
        uid: uid.into(),
        shard,
        extent: ExtentRec {
            begin,
            end,
            segment: end / 2,
        },
    }
}

fn rec(begin: u64, end: u64, segment: u64) -> ExtentRec {
    ExtentRec {
        begin,
        end,
        segment,
    }
}

fn intent(key: &str, i: Intent) -> MetaOp {
    MetaOp::PutIntent(
        key.into(),
        IntentRec {
            intent: i,
            at_ms: 14,
        },
    )
}

/// One record in every table, for logstore `p/l` with uid `uid`.
fn everything(p: &str, l: &str, uid: &str) -> Vec<MetaOp> {
    vec![
        MetaOp::PutProject(project(p)),
        MetaOp::PutLogstore(logstore(p, l, uid)),
        MetaOp::PutGroup(group(p, l, "g1")),
        MetaOp::PutCheckpoint(p.into(), l.into(), "g1".into(), checkpoint(1, 42)),
        MetaOp::PutBackup(backup(p, l, "k1")),
        MetaOp::PutSchedule(schedule(p, l)),
        MetaOp::PutRestoreJob(job(p, l, "j1")),
        extent(uid, 1, 2, 40),
        intent(&format!("shards/{uid}"), Intent::Create),
    ]
}

fn sorted<T: Clone, K: Ord>(v: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort_by_key(key);
    v
}

fn every_table_survives_a_reopen(open: Open) {
    {
        let store = open();
        store.apply(&everything("p1", "ls", "aa")).unwrap();
        store.apply(&everything("p2", "ls", "bb")).unwrap();
    }
    let snap = open().load().unwrap();
    assert_eq!(
        sorted(&snap.projects, |p| p.name.clone()),
        vec![project("p1"), project("p2")]
    );
    assert_eq!(
        sorted(&snap.logstores, |l| l.key()),
        vec![logstore("p1", "ls", "aa"), logstore("p2", "ls", "bb")]
    );
    assert_eq!(snap.groups.len(), 2);
    assert!(snap.groups.contains(&group("p1", "ls", "g1")));
    assert!(snap
        .checkpoints
        .contains(&("p1".into(), "ls".into(), "g1".into(), checkpoint(1, 42))));
    assert_eq!(
        sorted(&snap.backups, |b| b.project.clone()),
        vec![backup("p1", "ls", "k1"), backup("p2", "ls", "k1")]
    );
    assert_eq!(
        sorted(&snap.schedules, |s| s.project.clone()),
        vec![schedule("p1", "ls"), schedule("p2", "ls")]
    );
    assert_eq!(
        sorted(&snap.restore_jobs, |j| j.project.clone()),
        vec![job("p1", "ls", "j1"), job("p2", "ls", "j1")]
    );
    assert_eq!(
        sorted(&snap.extents, |e| e.0.clone()),
        vec![
            ("aa".into(), 1, rec(2, 40, 20)),
            ("bb".into(), 1, rec(2, 40, 20))
        ]
    );
    assert_eq!(snap.intents.len(), 2);
    assert!(snap.intents.contains(&(
        "shards/aa".into(),
        IntentRec {
            intent: Intent::Create,
            at_ms: 14
        }
    )));
}

fn deleting_a_logstore_takes_everything_of_it_and_nothing_else(open: Open) {
    let store = open();
    store.apply(&everything("p1", "ls", "aa")).unwrap();
    store.apply(&everything("p1", "other", "bb")).unwrap();
    store
        .apply(&[MetaOp::DeleteLogstore("p1".into(), "ls".into())])
        .unwrap();
    drop(store);
    let snap = open().load().unwrap();
    assert_eq!(snap.logstores, vec![logstore("p1", "other", "bb")]);
    assert!(snap.groups.iter().all(|g| g.logstore == "other"));
    assert_eq!(snap.groups.len(), 1);
    assert!(snap.checkpoints.iter().all(|c| c.1 == "other"));
    assert_eq!(snap.backups, vec![backup("p1", "other", "k1")]);
    assert_eq!(snap.schedules, vec![schedule("p1", "other")]);
    assert_eq!(snap.restore_jobs, vec![job("p1", "other", "j1")]);
    assert_eq!(snap.extents, vec![("bb".into(), 1, rec(2, 40, 20))]);
    assert_eq!(snap.intents.len(), 2, "intents outlive what they name");
    assert_eq!(snap.projects, vec![project("p1")]);
}

fn deleting_a_group_takes_its_checkpoints(open: Open) {
    let store = open();
    store.apply(&everything("p1", "ls", "aa")).unwrap();
    store
        .apply(&[
            MetaOp::PutGroup(group("p1", "ls", "g2")),
            MetaOp::PutCheckpoint("p1".into(), "ls".into(), "g2".into(), checkpoint(0, 1)),
            MetaOp::DeleteGroup("p1".into(), "ls".into(), "g1".into()),
        ])
        .unwrap();
    drop(store);
    let snap = open().load().unwrap();
    assert_eq!(snap.groups, vec![group("p1", "ls", "g2")]);
    assert_eq!(
        snap.checkpoints,
        vec![("p1".into(), "ls".into(), "g2".into(), checkpoint(0, 1))]
    );
}

fn extents_only_grow(open: Open) {
    let store = open();
    store
        .apply(&[
            extent("aa", 0, 5, 50),
            extent("aa", 0, 0, 10),
            extent("aa", 0, 7, 0),
        ])
        .unwrap();
    store.apply(&[extent("aa", 0, 1, 60)]).unwrap();
    drop(store);
    let store = open();
    assert_eq!(
        store.load().unwrap().extents,
        vec![("aa".into(), 0, rec(7, 60, 30))]
    );
    store.apply(&[MetaOp::DeleteExtents("aa".into())]).unwrap();
    drop(store);
    assert!(open().load().unwrap().extents.is_empty());
}

fn a_batch_applies_in_order_and_whole(open: Open) {
    let store = open();
    store
        .apply(&[
            MetaOp::PutProject(project("p1")),
            MetaOp::DeleteProject("p1".into()),
            MetaOp::PutProject(project("p2")),
            intent("backups/cc", Intent::Delete),
            MetaOp::DeleteIntent("backups/cc".into()),
        ])
        .unwrap();
    drop(store);
    let snap = open().load().unwrap();
    assert_eq!(snap.projects, vec![project("p2")], "ops apply in order");
    assert!(snap.intents.is_empty());
}

fn deleting_a_backup_or_a_project_takes_only_that_record(open: Open) {
    let store = open();
    store.apply(&everything("p1", "ls", "aa")).unwrap();
    store
        .apply(&[
            MetaOp::PutBackup(backup("p1", "ls", "k2")),
            MetaOp::PutProject(project("p2")),
        ])
        .unwrap();
    store
        .apply(&[
            MetaOp::DeleteBackup("p1".into(), "ls".into(), "k1".into()),
            MetaOp::DeleteProject("p2".into()),
        ])
        .unwrap();
    drop(store);
    let snap = open().load().unwrap();
    assert_eq!(snap.backups, vec![backup("p1", "ls", "k2")]);
    assert_eq!(snap.projects, vec![project("p1")]);
    assert_eq!(snap.logstores, vec![logstore("p1", "ls", "aa")]);
    assert_eq!(snap.schedules, vec![schedule("p1", "ls")]);
    assert_eq!(snap.restore_jobs, vec![job("p1", "ls", "j1")]);
}

/// Runs every rule against the store `open` opens.
pub(crate) fn run(open: Open, reset: &dyn Fn()) {
    let rules: [(&str, Rule); 6] = [
        (
            "every_table_survives_a_reopen",
            every_table_survives_a_reopen,
        ),
        (
            "deleting_a_logstore_takes_everything_of_it_and_nothing_else",
            deleting_a_logstore_takes_everything_of_it_and_nothing_else,
        ),
        (
            "deleting_a_group_takes_its_checkpoints",
            deleting_a_group_takes_its_checkpoints,
        ),
        ("extents_only_grow", extents_only_grow),
        (
            "deleting_a_backup_or_a_project_takes_only_that_record",
            deleting_a_backup_or_a_project_takes_only_that_record,
        ),
        (
            "a_batch_applies_in_order_and_whole",
            a_batch_applies_in_order_and_whole,
        ),
    ];
    for (name, rule) in rules {
        reset();
        eprintln!("metadata store conformance: {name}");
        rule(open);
    }
}

#[test]
fn the_redb_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let open = || -> Arc<dyn MetadataStore> { Arc::new(RedbMetaStore::open(&path).unwrap()) };
    let reset = || {
        let _ = std::fs::remove_file(&path);
    };
    run(&open, &reset);
}

#[test]
fn a_failing_batch_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let store = RedbMetaStore::open(&path).unwrap();
    store.apply(&[MetaOp::PutProject(project("p1"))]).unwrap();
    // An undecodable logstore record makes the cascade of its delete fail midway.
    {
        let db = store.db.read();
        let txn = db.as_ref().unwrap().begin_write().unwrap();
        txn.open_table(LOGSTORES)
            .unwrap()
            .insert("p1/bad", b"not json".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let err = store.apply(&[
        MetaOp::PutProject(project("p2")),
        MetaOp::DeleteLogstore("p1".into(), "bad".into()),
    ]);
    assert!(err.is_err());
    let db = store.db.read();
    let txn = db.as_ref().unwrap().begin_read().unwrap();
    let projects = txn.open_table(PROJECTS).unwrap();
    assert!(
        projects.get("p2").unwrap().is_none(),
        "nothing of the batch was applied"
    );
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    {
        let store = RedbMetaStore::open(&path).unwrap();
        for i in 0..50 {
            store
                .apply(&everything(&format!("p{i}"), "ls", &format!("{i:x}")))
                .unwrap();
        }
    }
    let full = std::fs::read(&path).unwrap();
    for cut in [
        10,
        100,
        600,
        4096,
        full.len() / 3,
        full.len() / 2,
        full.len() - 1,
    ] {
        std::fs::write(&path, &full[..cut]).unwrap();
        match RedbMetaStore::open(&path) {
            Err(MetaError::Damaged { path: p, .. }) => assert!(p.ends_with("meta.redb")),
            Err(e) => panic!("cut at {cut}: {e}"),
            // A cut that still opens must load or say it is damaged.
            Ok(store) => match store.load() {
                Ok(_) | Err(MetaError::Damaged { .. }) => {}
                Err(e) => panic!("cut at {cut}: {e}"),
            },
        }
    }
}
