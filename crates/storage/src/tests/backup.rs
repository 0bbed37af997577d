//! Consistent cuts, pinning by hard link, restoring (design §13).

use std::os::unix::fs::MetadataExt;

use super::*;
use crate::backup::{pinned_intact, restore_pinned};
use crate::io::RealFs;

#[test]
fn pin_and_restore_a_cut_without_copying_sealed_data() {
    let dir = tempfile::tempdir().unwrap();
    let (m, hc) = manual(T0);
    let src = dir.path().join("src");
    let log = ShardLog::open(&src, cfg(2048, 256), hc.clone()).unwrap();
    append_n(&log, 120);
    let cut = log.pause_appends().cut();
    assert_eq!(cut.next, 120);
    // Appends after the cut are not part of it.
    append_n(&log, 30);
    log.make_durable(&cut).unwrap();
    let pin_dir = dir.path().join("pins/1/0");
    let pinned = log.pin(&cut, &pin_dir).unwrap();
    assert!(pinned.len() > 2);
    let (last, whole) = pinned.split_last().unwrap();
    assert!(whole.iter().all(|p| p.whole) && !last.whole);
    assert_eq!((last.base, last.len), (cut.active_base, cut.active_len));
    // Linked, not copied.
    let original = std::fs::metadata(src.join(crate::record::segment_file_name(0))).unwrap();
    let pin = std::fs::metadata(pin_dir.join(crate::record::segment_file_name(0))).unwrap();
    assert_eq!(original.ino(), pin.ino());
    // Retention removes the shard's names; the pins keep the data.
    m.advance(10_000_000);
    append_n(&log, 1);
    log.expire_before(u64::MAX).unwrap();
    assert!(log.begin() > 120);
    assert!(pinned_intact(&RealFs, &pin_dir, &pinned));
    let restored = dir.path().join("restored");
    let copied = restore_pinned(&RealFs, &pin_dir, &pinned, &restored).unwrap();
    assert_eq!(
        copied, cut.active_len,
        "only the segment the cut falls in is copied"
    );
    let r = ShardLog::open(&restored, cfg(2048, 256), hc).unwrap();
    assert_eq!((r.begin(), r.end()), (0, 120));
    assert_payloads(&r);
    // The restored log appends to its own copy, never to a pinned file.
    let pinned_bytes =
        std::fs::read(pin_dir.join(crate::record::segment_file_name(last.base))).unwrap();
    append_n(&r, 40);
    assert_payloads(&r);
    assert_eq!(
        std::fs::read(pin_dir.join(crate::record::segment_file_name(last.base))).unwrap(),
        pinned_bytes
    );
    std::fs::remove_dir_all(&pin_dir).unwrap();
    assert!(!pinned_intact(&RealFs, &pin_dir, &pinned));
}

#[test]
fn a_cut_at_a_segment_boundary_still_pins_the_segment_it_falls_in() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let src = dir.path().join("src");
    let log = ShardLog::open(&src, cfg(2048, 256), hc.clone()).unwrap();
    append_n(&log, 30);
    while log.segments.read().active.base != log.end() {
        append_n(&log, 1);
    }
    let cut = log.pause_appends().cut();
    assert_eq!(cut.active_base, cut.next);
    assert_eq!(cut.active_len, SEGMENT_HEADER_LEN);
    log.make_durable(&cut).unwrap();
    let pinned = log.pin(&cut, &dir.path().join("pin")).unwrap();
    let last = pinned.last().unwrap();
    assert_eq!(
        (last.base, last.len, last.whole),
        (cut.next, SEGMENT_HEADER_LEN, false)
    );
    let restored = dir.path().join("restored");
    restore_pinned(&RealFs, &dir.path().join("pin"), &pinned, &restored).unwrap();
    let r = ShardLog::open(&restored, cfg(2048, 256), hc).unwrap();
    assert_eq!(r.end(), cut.next);
    append_n(&r, 5);
    assert_payloads(&r);
    assert_payloads(&log);
}

#[test]
fn make_durable_syncs_whatever_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let fs = fault::FaultFs::new();
    let log = ShardLog::open_with_fs(
        Arc::new(fs.clone()),
        dir.path(),
        LogConfig {
            fsync: FsyncPolicy::Never,
            ..cfg(1 << 20, 256)
        },
        hc,
    )
    .unwrap();
    for i in 0..10 {
        log.append(&payload(i)).unwrap();
    }
    let cut = log.pause_appends().cut();
    let syncs = || {
        fs.state
            .data_syncs
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    assert_eq!(syncs(), 0);
    log.make_durable(&cut).unwrap();
    assert_eq!(syncs(), 1);
    log.make_durable(&cut).unwrap();
    assert_eq!(syncs(), 1);
}

/// A store over a fault-injecting file system, with one shard of `records` records cut and
/// pinned by checkpoint "c1".
fn pinned_store(
    records: u64,
) -> (
    tempfile::TempDir,
    fault::FaultFs,
    crate::ShardStore,
    ShardLog,
    Vec<crate::PinnedSegment>,
) {
    let dir = tempfile::tempdir().unwrap();
    let fs = fault::FaultFs::new();
    let (_, hc) = manual(T0);
    let store =
        crate::ShardStore::open(dir.path(), Arc::new(fs.clone()), cfg(2048, 256), hc).unwrap();
    let log = store.create_shard("aa", 0, 0).unwrap();
    append_n(&log, records);
    let cut = log.pause_appends().cut();
    let pinned = store.pin("c1", 0, &log, &cut).unwrap();
    (dir, fs, store, log, pinned)
}

#[test]
fn a_pin_that_cannot_link_fails_and_leaves_the_shard_usable() {
    let (_dir, fs, store, log, _) = pinned_store(50);
    fs.state
        .fail_creates
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let cut = log.pause_appends().cut();
    assert!(store.pin("c2", 0, &log, &cut).is_err());
    fs.state
        .fail_creates
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(!log.is_failed(), "pinning is not the append path");
    append_n(&log, 5);
    assert_payloads(&log);
}

#[test]
fn verifying_pins_sees_missing_and_short_files() {
    let (dir, _fs, store, _log, pinned) = pinned_store(120);
    assert!(store.pins_intact("c1", 0, &pinned));
    let last = pinned.last().unwrap();
    let path = dir
        .path()
        .join("backups/c1/0")
        .join(crate::record::segment_file_name(last.base));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..last.len as usize - 1]).unwrap();
    assert!(!store.pins_intact("c1", 0, &pinned), "shorter than the cut");
    std::fs::write(&path, &bytes).unwrap();
    assert!(store.pins_intact("c1", 0, &pinned));
    std::fs::remove_file(
        dir.path()
            .join("backups/c1/0")
            .join(crate::record::segment_file_name(0)),
    )
    .unwrap();
    assert!(
        !store.pins_intact("c1", 0, &pinned),
        "a pinned file is missing"
    );
}

#[test]
fn a_restore_on_a_full_disk_fails_and_can_be_done_again() {
    let (_dir, fs, store, log, pinned) = pinned_store(120);
    let full = |on: bool| {
        fs.state
            .disk_full
            .store(on, std::sync::atomic::Ordering::SeqCst)
    };
    full(true);
    let e = match store.restore_shard("c1", 0, &pinned, "bb", 120) {
        Err(e) => e,
        Ok(_) => panic!("the copy of the segment the cut falls in needs space"),
    };
    assert!(e.is_disk_full(), "{e}");
    assert!(
        store.pins_intact("c1", 0, &pinned),
        "the pins are untouched"
    );
    full(false);
    store.remove(&crate::DirKey::Logstore("bb".into())).unwrap();
    let restored = store.restore_shard("c1", 0, &pinned, "bb", 120).unwrap();
    assert_eq!((restored.begin(), restored.end()), (0, 120));
    assert_payloads(&restored);
    assert!(!log.is_failed());
}
