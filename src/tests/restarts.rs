//! What a restart finds: every kind of state survives it, files that fall short of what the
//! metadata recorded are refused, directories are removed only when the metadata says so, and
//! nothing is visible before it is durable (design §2, §8, §10).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_storage::ManualClock;

use std::sync::Arc;

use crate::meta::{
    Intent, IntentRec, JobStatus, MetaError, MetaOp, MetaSnapshot, MetadataStore, RedbMetaStore,
};
use crate::service::testing::{
    force_checkpoint, group_cg, log_group, open_over, proj_ls1, reopen, try_reopen, wait_jobs,
};
use crate::service::{LogstoreSpec, PutTarget, ScheduleUpdate, Service};

const T0: u64 = 1_700_000_000_000;

fn group(i: u32, len: usize) -> Vec<u8> {
    log_group(i, len)
}

fn setup(svc: &Service, shards: u32) {
    proj_ls1(svc, shards, 1);
}

fn fresh(clock: &Arc<ManualClock>) -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let svc = reopen(dir.path(), clock.clone());
    (dir, svc)
}

fn shard_path(svc: &Service, shard: u32) -> PathBuf {
    svc.logstore("proj", "ls1").unwrap().logs[&shard]
        .dir()
        .to_path_buf()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[test]
fn backups_schedules_and_restore_jobs_survive_restarts() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    let svc = Arc::new(svc);
    setup(&svc, 2);
    for i in 0..40 {
        svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i, 10))
            .unwrap();
    }
    let b = svc.take_checkpoint("proj", "ls1").unwrap();
    for i in 40..50 {
        svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i, 10))
            .unwrap();
    }
    let sched = svc
        .update_schedule(
            "proj",
            "ls1",
            ScheduleUpdate {
                checkpoint_interval_min: Some(30),
                point_in_time_window_hours: Some(72),
                ..Default::default()
            },
        )
        .unwrap();
    let jobs = svc
        .start_restore("proj", "ls1", &b.id, "proj", "restored")
        .unwrap();
    let jobs = wait_jobs(&svc, &jobs[0].batch_id);
    assert!(
        jobs.iter().all(|j| j.status == JobStatus::Finished),
        "{jobs:?}"
    );
    drop(svc);
    for restart in 0..2 {
        let svc = reopen(dir.path(), clock.clone());
        let list = svc.list_checkpoints("proj", "ls1").unwrap();
        assert_eq!(list.len(), 1, "restart {restart}");
        assert_eq!(list[0].rec, b);
        assert!(list[0].restorable, "its pins were kept");
        assert_eq!(svc.get_schedule("proj", "ls1").unwrap(), sched);
        assert_eq!(
            svc.list_restore_jobs("proj", "ls1", None).unwrap(),
            jobs,
            "restart {restart}"
        );
    }
    // A restore from the checkpoint taken before both restarts has exactly its LogGroups.
    let svc = Arc::new(reopen(dir.path(), clock.clone()));
    let again = svc
        .start_restore("proj", "ls1", &b.id, "proj", "again")
        .unwrap();
    let done = wait_jobs(&svc, &again[0].batch_id);
    assert!(
        done.iter().all(|j| j.status == JobStatus::Finished),
        "{done:?}"
    );
    let mut total = 0;
    for s in &b.shards {
        let got = svc
            .pull_logs("proj", "again", s.shard.id, 0, 1000, None)
            .unwrap();
        assert_eq!(got.records.len() as u64, s.next);
        total += got.records.len();
    }
    assert_eq!(total, 40);
}

#[test]
fn a_restore_interrupted_by_a_restart_is_broken_at_start() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    let svc = Arc::new(svc);
    setup(&svc, 2);
    svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(0, 10))
        .unwrap();
    let b = svc.take_checkpoint("proj", "ls1").unwrap();
    let jobs = svc
        .start_restore("proj", "ls1", &b.id, "proj", "restored")
        .unwrap();
    let jobs = wait_jobs(&svc, &jobs[0].batch_id);
    drop(svc);
    // The jobs as a process that stopped mid-restore left them.
    {
        let meta = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
        let ops: Vec<MetaOp> = jobs
            .iter()
            .map(|j| {
                let mut j = j.clone();
                j.status = JobStatus::InProgress;
                MetaOp::PutRestoreJob(j)
            })
            .collect();
        meta.apply(&ops).unwrap();
    }
    for restart in 0..2 {
        let svc = reopen(dir.path(), clock.clone());
        let after = svc.list_restore_jobs("proj", "ls1", None).unwrap();
        assert_eq!(after.len(), jobs.len());
        for j in &after {
            assert_eq!(j.status, JobStatus::Broken, "restart {restart}: {j:?}");
            assert!(
                j.reason.as_deref().unwrap_or("").contains("interrupted"),
                "{j:?}"
            );
        }
    }
}

#[test]
fn deleting_a_checkpoint_removes_its_pins_for_good() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    setup(&svc, 1);
    svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(0, 10))
        .unwrap();
    let b = svc.take_checkpoint("proj", "ls1").unwrap();
    let pins = dir.path().join("backups").join(&b.id);
    assert!(pins.exists());
    svc.delete_checkpoint("proj", "ls1", &b.id).unwrap();
    assert!(!pins.exists());
    drop(svc);
    let svc = reopen(dir.path(), clock.clone());
    assert!(svc.list_checkpoints("proj", "ls1").unwrap().is_empty());
}

/// A logstore with one shard written across several sealed segments; returns the shard's end.
fn several_segments(svc: &Service) -> u64 {
    setup(svc, 1);
    for i in 0..40 {
        svc.put_logs("proj", "ls1", PutTarget::HashKey(0), &group(i, 6000))
            .unwrap();
    }
    let log = &svc.logstore("proj", "ls1").unwrap().logs[&0];
    assert!(log.stats().segments >= 3, "{:?}", log.stats());
    log.end()
}

#[test]
fn a_shard_missing_its_newest_segment_is_refused() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    let end = several_segments(&svc);
    let shard = shard_path(&svc, 0);
    drop(svc);
    let newest = segments(&shard).pop().unwrap();
    std::fs::remove_file(&newest).unwrap();
    let err = try_reopen(dir.path(), clock.clone())
        .err()
        .map(|e| format!("{e:#}"))
        .expect("refused");
    assert!(
        err.contains("shard 0 of logstore proj/ls1") && err.contains("newest segment"),
        "{err}"
    );
    assert!(err.contains(&shard.display().to_string()), "{err}");
    assert!(segments(&shard).len() >= 2, "nothing was removed");
    let _ = end;
}

#[test]
fn a_shard_missing_every_segment_is_refused() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    setup(&svc, 1);
    svc.put_logs("proj", "ls1", PutTarget::HashKey(0), &group(1, 10))
        .unwrap();
    let shard = shard_path(&svc, 0);
    drop(svc);
    for f in std::fs::read_dir(&shard).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let err = try_reopen(dir.path(), clock.clone())
        .err()
        .map(|e| format!("{e:#}"))
        .expect("refused");
    assert!(err.contains("holds no segment"), "{err}");
    std::fs::remove_dir(&shard).unwrap();
    let err = try_reopen(dir.path(), clock.clone())
        .err()
        .map(|e| format!("{e:#}"))
        .expect("refused");
    assert!(err.contains("directory is missing"), "{err}");
}

#[test]
fn a_missing_oldest_segment_is_refused_unless_retention_removed_it() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    let end = several_segments(&svc);
    let shard = shard_path(&svc, 0);
    drop(svc);
    let oldest = segments(&shard).remove(0);
    let saved = std::fs::read(&oldest).unwrap();
    std::fs::remove_file(&oldest).unwrap();
    let err = try_reopen(dir.path(), clock.clone())
        .err()
        .map(|e| format!("{e:#}"))
        .expect("refused");
    assert!(err.contains("oldest segment"), "{err}");
    std::fs::write(&oldest, saved).unwrap();
    // Retention (ttl 1 day) removes it and records that first.
    let svc = reopen(dir.path(), clock.clone());
    clock.advance(2 * 86_400_000);
    svc.put_logs("proj", "ls1", PutTarget::HashKey(0), &group(99, 10))
        .unwrap();
    assert!(svc.run_retention() > 0);
    drop(svc);
    let svc = reopen(dir.path(), clock.clone());
    assert_eq!(svc.logstore("proj", "ls1").unwrap().logs[&0].end(), end + 1);
}

#[test]
fn a_consumer_checkpoint_past_the_end_of_its_shard_is_refused() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    setup(&svc, 1);
    for i in 0..10 {
        svc.put_logs("proj", "ls1", PutTarget::HashKey(0), &group(i, 10))
            .unwrap();
    }
    group_cg(&svc);
    force_checkpoint(&svc, 0, 10).unwrap();
    let shard = shard_path(&svc, 0);
    drop(svc);
    // Acknowledged LogGroups vanish from the one (active) segment, at a record boundary.
    let seg = segments(&shard).pop().unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    let mut pos = 24;
    for _ in 0..5 {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 40 + len;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(pos as u64)
        .unwrap();
    let err = try_reopen(dir.path(), clock.clone())
        .err()
        .map(|e| format!("{e:#}"))
        .expect("refused");
    assert!(
        err.contains("consumer group cg")
            && err.contains("cursor 10")
            && err.contains("ends at cursor 5"),
        "{err}"
    );
}

#[test]
fn only_claimed_directories_are_removed_and_unaccounted_ones_are_refused() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    setup(&svc, 1);
    drop(svc);
    let stray = dir.path().join("shards").join("00aa00aa00aa00aa00aa00aa");
    let claimed = dir.path().join("shards").join("00bb00bb00bb00bb00bb00bb");
    std::fs::create_dir_all(stray.join("0")).unwrap();
    std::fs::create_dir_all(claimed.join("0")).unwrap();
    {
        let meta = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
        meta.apply(&[MetaOp::PutIntent(
            "shards/00bb00bb00bb00bb00bb00bb".into(),
            IntentRec {
                intent: Intent::Create,
                at_ms: T0,
            },
        )])
        .unwrap();
    }
    let err = try_reopen(dir.path(), clock.clone())
        .err()
        .map(|e| format!("{e:#}"))
        .expect("refused");
    assert!(err.contains(&stray.display().to_string()), "{err}");
    assert!(stray.exists() && claimed.exists(), "nothing removed");
    std::fs::remove_dir_all(&stray).unwrap();
    let svc = reopen(dir.path(), clock.clone());
    assert!(!claimed.exists(), "a claim that never committed is removed");
    assert!(svc.logstore("proj", "ls1").is_ok());
    drop(svc);
    let meta = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
    assert!(
        meta.load().unwrap().intents.is_empty(),
        "settled intents are dropped"
    );
}

#[test]
fn a_committed_delete_whose_directories_remain_is_finished_at_start() {
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    setup(&svc, 2);
    for i in 0..4 {
        svc.put_logs("proj", "ls1", PutTarget::LoadBalance, &group(i, 10))
            .unwrap();
    }
    let ls_dir = shard_path(&svc, 0).parent().unwrap().to_path_buf();
    let uid = ls_dir.file_name().unwrap().to_string_lossy().into_owned();
    drop(svc);
    // What DeleteLogStore commits before it removes anything (design §2): the records go, a
    // `delete` intent names the directory. The process stops before the removal.
    {
        let meta = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
        meta.apply(&[
            MetaOp::DeleteLogstore("proj".into(), "ls1".into()),
            MetaOp::DeleteExtents(uid.clone()),
            MetaOp::PutIntent(
                format!("shards/{uid}"),
                IntentRec {
                    intent: Intent::Delete,
                    at_ms: T0,
                },
            ),
        ])
        .unwrap();
    }
    assert!(ls_dir.exists());
    let svc = reopen(dir.path(), clock.clone());
    assert!(!ls_dir.exists(), "the delete is finished at start");
    assert!(svc.logstore("proj", "ls1").is_err());
    drop(svc);
    let meta = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
    assert!(
        meta.load().unwrap().intents.is_empty(),
        "the intent is dropped"
    );
}

#[test]
fn deeply_nested_kept_settings_read_back_after_a_restart() {
    // The HTTP edge takes JSON settings nested up to 32 levels; the stored record nests them
    // deeper still, and must load again.
    let clock = Arc::new(ManualClock::new(T0));
    let (dir, svc) = fresh(&clock);
    setup(&svc, 1);
    let mut deep = serde_json::json!("x");
    for _ in 0..32 {
        deep = serde_json::json!({ "a": [deep] });
    }
    svc.update_logstore(
        "proj",
        "ls1",
        LogstoreSpec {
            name: "ls1".into(),
            encrypt_conf: Some(deep.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    drop(svc);
    let svc = reopen(dir.path(), clock.clone());
    assert_eq!(
        svc.get_logstore("proj", "ls1")
            .unwrap()
            .settings
            .encrypt_conf,
        Some(deep)
    );
}

/// A metadata store whose transactions fail once `allowed` more have committed.
struct Flaky {
    inner: RedbMetaStore,
    allowed: AtomicU64,
}

impl Flaky {
    fn allow(&self, n: u64) {
        self.allowed.store(n, Ordering::SeqCst);
    }
}

impl MetadataStore for Flaky {
    fn load(&self) -> Result<MetaSnapshot, MetaError> {
        self.inner.load()
    }
    fn apply(&self, ops: &[MetaOp]) -> Result<(), MetaError> {
        let left = self.allowed.load(Ordering::SeqCst);
        if left == 0 {
            return Err(MetaError::Db("injected failure".into()));
        }
        if left != u64::MAX {
            self.allowed.store(left - 1, Ordering::SeqCst);
        }
        self.inner.apply(ops)
    }
}

fn flaky(dir: &Path, clock: &Arc<ManualClock>) -> (Arc<Flaky>, Service) {
    let store = Arc::new(Flaky {
        inner: RedbMetaStore::open(&dir.join("meta.redb")).unwrap(),
        allowed: AtomicU64::new(u64::MAX),
    });
    let svc = open_over(dir, store.clone(), clock.clone()).unwrap();
    (store, svc)
}

#[test]
fn a_checkpoint_is_visible_only_once_committed() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = tempfile::tempdir().unwrap();
    let (store, svc) = flaky(dir.path(), &clock);
    setup(&svc, 1);
    for i in 0..3 {
        svc.put_logs("proj", "ls1", PutTarget::HashKey(0), &group(i, 10))
            .unwrap();
    }
    group_cg(&svc);
    let commit = |c: u64| force_checkpoint(&svc, 0, c);
    commit(1).unwrap();
    store.allow(0);
    assert!(commit(2).is_err());
    let seen = svc.get_checkpoints("proj", "ls1", "cg", Some(0)).unwrap();
    assert_eq!(
        seen[0].checkpoint,
        cairn_proto::encode_cursor(1),
        "the failed commit is not visible"
    );
    store.allow(u64::MAX);
    commit(3).unwrap();
    let seen = svc.get_checkpoints("proj", "ls1", "cg", Some(0)).unwrap();
    assert_eq!(seen[0].checkpoint, cairn_proto::encode_cursor(3));
}

#[test]
fn a_create_that_fails_to_commit_leaves_no_directory() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = tempfile::tempdir().unwrap();
    let (store, svc) = flaky(dir.path(), &clock);
    setup(&svc, 1);
    // The claim commits; then the store fails, so the logstore's own commit does too.
    let list = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.path().join("shards"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = list();
    store.allow(1);
    assert!(svc
        .create_logstore(
            "proj",
            LogstoreSpec {
                name: "ls2".into(),
                ttl: Some(1),
                shard_count: Some(2),
                ..Default::default()
            },
        )
        .is_err());
    assert_eq!(list(), before, "nothing was left behind");
    store.allow(u64::MAX);
    drop(svc);
    drop(store);
    let svc = reopen(dir.path(), clock.clone());
    assert!(svc.logstore("proj", "ls2").is_err());
}
