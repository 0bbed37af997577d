//! Group commit and readers running alongside appends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fault::FaultFs;
use super::*;

#[test]
fn group_commit_under_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    // Small segments so rolls race with group commits.
    let log = Arc::new(ShardLog::open(dir.path(), cfg(16 * 1024, 512), hc).unwrap());
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..150u64 {
                    let p = format!("t{t}-{i}").into_bytes();
                    let a = log.append(&p).unwrap();
                    log.wait_durable(&a).unwrap();
                    assert!(log.end() > a.cursor, "visible once durable");
                    mine.push((a, p));
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_by_key(|(a, _)| a.cursor);
    let n = all.len() as u64;
    assert_eq!(
        all.iter().map(|(a, _)| a.cursor).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>(),
        "cursors unique and contiguous"
    );
    assert!(
        all.windows(2).all(|w| w[0].0.hlc < w[1].0.hlc),
        "cluster stamps increase along the log"
    );
    assert_eq!(log.end(), n);
    assert!(log.stats().segments > 3);
    let read = log.read(0, u64::MAX, usize::MAX, usize::MAX).unwrap();
    assert_eq!(read.len() as u64, n);
    for (r, (a, p)) in read.iter().zip(&all) {
        assert_eq!((r.cursor, r.hlc, &r.payload[..]), (a.cursor, a.hlc, &p[..]));
    }
    let log = Arc::try_unwrap(log).ok().unwrap();
    drop(log);
    let (_, hc) = manual(T0);
    let log = ShardLog::open(dir.path(), cfg(16 * 1024, 512), hc).unwrap();
    assert_eq!(log.end(), n);
}

#[test]
fn one_sync_covers_every_waiting_append() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let fs = FaultFs::new();
    let log = Arc::new(
        ShardLog::open_with_fs(Arc::new(fs.clone()), dir.path(), cfg(1 << 20, 4096), hc).unwrap(),
    );
    let gate = fs.state.sync_gate.lock();
    let appended = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (log, appended) = (log.clone(), appended.clone());
            std::thread::spawn(move || {
                let a = log.append(format!("r{i}").as_bytes()).unwrap();
                appended.fetch_add(1, Ordering::SeqCst);
                log.wait_durable(&a).unwrap();
                a.cursor
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while appended.load(Ordering::SeqCst) < 16 {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    assert_eq!(log.end(), 0, "nothing is visible before the sync");
    drop(gate);
    let mut cursors: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    cursors.sort_unstable();
    assert_eq!(cursors, (0..16).collect::<Vec<_>>());
    assert_eq!(log.end(), 16);
    // The first leader's sync may have been taken before the others appended; the next one
    // covers all of them.
    let syncs = fs.state.data_syncs.load(Ordering::SeqCst);
    assert!(syncs <= 2, "{syncs} syncs for 16 appends");
}

#[test]
fn readers_never_see_past_the_visible_end() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let log = Arc::new(ShardLog::open(dir.path(), cfg(8 * 1024, 256), hc).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3u64)
        .map(|k| {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut seed = k + 1;
                while !stop.load(Ordering::SeqCst) {
                    let end = log.end();
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let from = if end == 0 {
                        0
                    } else {
                        (seed >> 33) % (end + 1)
                    };
                    let got = log.read(from, u64::MAX, 64, 16 * 1024).unwrap();
                    for (i, r) in got.iter().enumerate() {
                        assert_eq!(r.cursor, from + i as u64);
                        assert_eq!(r.payload, payload(r.cursor), "cursor {}", r.cursor);
                        assert!(r.cursor < log.end());
                    }
                    if from < end {
                        assert!(!got.is_empty(), "records below the end are readable");
                        let meta = log.record_meta(from).unwrap();
                        assert_eq!(meta.len as usize, payload(from).len());
                    }
                    log.cursor_for_time((T0 / 1000) as i64).unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..2_000u64 {
                let a = log.append(&payload(i)).unwrap();
                if i % 3 == 0 {
                    log.wait_durable(&a).unwrap();
                }
            }
            log.sync().unwrap();
        })
    };
    writer.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(log.end(), 2_000);
    assert_payloads(&log);
}

#[test]
fn hybrid_clock_is_shared_by_shards() {
    // Two shards stamping with one clock: all stamps distinct, each shard's increasing.
    let dir = tempfile::tempdir().unwrap();
    let (_, hc) = manual(T0);
    let logs: Vec<_> = (0..2)
        .map(|i| {
            Arc::new(
                ShardLog::open(
                    &dir.path().join(i.to_string()),
                    cfg(1 << 20, 4096),
                    hc.clone(),
                )
                .unwrap(),
            )
        })
        .collect();
    let threads: Vec<_> = logs
        .iter()
        .map(|log| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..500)
                    .map(|_| log.append(b"x").unwrap().hlc)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashMap::new();
    for t in threads {
        let stamps = t.join().unwrap();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
        for s in stamps {
            assert!(seen.insert(s, ()).is_none(), "duplicate stamp {s:?}");
        }
    }
}
