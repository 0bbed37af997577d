//! Micro-benchmarks of the storage engine.
//!
//! - `append`: N threads each appending ~25 KiB records (a LogGroup of 100 logs of 250 bytes)
//!   and waiting until durable, with `FsyncPolicy::Always` (group commit) without and with
//!   reserved space kept ahead by a [`Reserver`] (design §7), and with `Never`.
//! - `read`: pulling a pre-written shard from a warm page cache the way PullLogs does (up to
//!   1000 records and 10 MiB per read).
//! - `lookup`: `cursor_for_time`, `record_meta` and one-record reads at random places of a shard
//!   of ~1M small records.
//! - `recovery`: opening a shard whose newest segment holds 64 MiB of records (the start-up
//!   scan), from a warm and from a cold page cache.
//!
//! Run with `cargo bench -p cairn-storage` (one group: `cargo bench -p cairn-storage -- lookup`).
//! Shards live in temporary directories under `TMPDIR`, which should be on the disk being
//! measured. Under `cargo test --benches` every benchmark runs once on small data sets.

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cairn_storage::{
    FsyncPolicy, HybridClock, LogConfig, ManualClock, Reserver, ShardLog, SystemClock,
    MAX_SEGMENT_BYTES,
};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use tempfile::TempDir;

/// A LogGroup of 100 logs of about 250 bytes each.
const LOG_GROUP_BYTES: usize = 25_600;
/// Payload of the small records of the lookup shard.
const SMALL_PAYLOAD_BYTES: usize = 100;
/// What PullLogs asks of one read (`MAX_PULL_COUNT`, `MAX_PULL_BYTES` in the service).
const PULL_RECORDS: usize = 1000;
const PULL_BYTES: usize = 10 << 20;
/// Unix milliseconds of the first record of the lookup shards.
const START_MILLIS: u64 = 1_750_000_000_000;

/// Data set sizes: full ones for `cargo bench`, small ones when the benchmarks only run once as
/// tests.
struct Sizes {
    /// Records in each lookup shard (one every millisecond).
    small_records: u64,
    /// Segment size of the lookup shard (the default one in full runs).
    small_segment_bytes: u64,
    /// Segment size of the lookup shard with many segments.
    many_segment_bytes: u64,
    /// PullLogs reads covering the shard of the `read` group.
    read_pulls: u64,
    /// Bytes of records in the newest segment of the `recovery` shards.
    recovery_bytes: u64,
    /// An `append` shard grows to this size and is then replaced by an empty one.
    append_shard_bytes: u64,
}

impl Sizes {
    fn full() -> Self {
        Self {
            small_records: 1_000_000,
            small_segment_bytes: LogConfig::default().segment_bytes,
            many_segment_bytes: 16 << 20,
            read_pulls: 25,
            recovery_bytes: 64 << 20,
            append_shard_bytes: 1 << 30,
        }
    }

    fn quick() -> Self {
        Self {
            small_records: 20_000,
            small_segment_bytes: 1 << 20,
            many_segment_bytes: 256 << 10,
            read_pulls: 2,
            recovery_bytes: 1 << 20,
            append_shard_bytes: 64 << 20,
        }
    }
}

/// xorshift64*: deterministic, dependency-free randomness for payloads and probe positions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `[lo, hi)`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// Incompressible bytes: the engine neither parses nor compresses payloads.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

fn system_clock() -> Arc<HybridClock> {
    Arc::new(HybridClock::new(Arc::new(SystemClock)))
}

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("cairn-bench-")
        .tempdir()
        .expect("temporary directory")
}

/// Without reserved space; the `append` group turns it on for one of its cases.
fn config(segment_bytes: u64, fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        segment_bytes,
        fsync,
        preallocate_bytes: 0,
        ..LogConfig::default()
    }
}

/// A shard log in a directory of its own, removed on drop.
struct Shard {
    log: Arc<ShardLog>,
    // Dropped after the log.
    _dir: TempDir,
}

impl Shard {
    fn create(cfg: LogConfig, clock: Arc<HybridClock>) -> Self {
        let dir = temp_dir();
        let log =
            Arc::new(ShardLog::open(&dir.path().join("shard"), cfg, clock).expect("open shard"));
        Self { log, _dir: dir }
    }
}

// ---------------------------------------------------------------------------------------------
// append

/// `threads` appenders, each appending `iters` records and waiting for each to be durable
/// before the next (a PutLogs handler per connection), then handing the shard to `reserver`
/// as PutLogs does. Returns the time from the moment all start until the last one is done.
fn run_appenders(
    log: &Arc<ShardLog>,
    reserver: &Reserver,
    threads: usize,
    iters: u64,
    payload: &[u8],
) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    for _ in 0..iters {
                        let a = log.append(payload).expect("append");
                        log.wait_durable(&a).expect("wait_durable");
                        reserver.after_append(log);
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for w in workers {
            w.join().expect("appender panicked");
        }
        start.elapsed()
    })
}

fn bench_append(c: &mut Criterion, sizes: &Sizes) {
    let payload = payload(LOG_GROUP_BYTES, 1);
    let mut g = c.benchmark_group("append");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let reserver = Reserver::start().expect("reserver thread");
    for (name, fsync, ahead) in [
        ("fsync_always", FsyncPolicy::Always, 0),
        (
            "fsync_always_reserved",
            FsyncPolicy::Always,
            LogConfig::default().preallocate_bytes,
        ),
        ("fsync_never", FsyncPolicy::Never, 0),
    ] {
        for threads in [1usize, 4, 16] {
            // One iteration: every appender appends one record and sees it durable.
            g.throughput(Throughput::Bytes((threads * payload.len()) as u64));
            let cfg = LogConfig {
                preallocate_bytes: ahead,
                ..config(LogConfig::default().segment_bytes, fsync)
            };
            let mut shard: Option<Shard> = None;
            g.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    // Bound the disk space used: start over on an empty shard now and then.
                    if shard
                        .as_ref()
                        .is_none_or(|s| s.log.stats().bytes > sizes.append_shard_bytes)
                    {
                        shard = None;
                        shard = Some(Shard::create(cfg.clone(), system_clock()));
                    }
                    let log = &shard.as_ref().expect("shard").log;
                    run_appenders(log, &reserver, threads, iters, &payload)
                })
            });
        }
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// read

/// Records one PullLogs read returns when records have `len` bytes of payload: the read stops
/// at the record that reaches the byte budget.
fn records_per_pull(len: usize) -> usize {
    PULL_BYTES.div_ceil(len).min(PULL_RECORDS)
}

/// Appends `records` records of `payload` and makes them durable.
fn fill(log: &ShardLog, records: u64, payload: &[u8]) {
    for _ in 0..records {
        log.append(payload).expect("append");
    }
    log.sync().expect("sync");
}

/// Pulls `per_pull` records at a time from `cursor`, going round the shard.
fn pull(log: &ShardLog, cursor: &mut u64, per_pull: usize) -> Vec<cairn_storage::Record> {
    let recs = log
        .read(*cursor, u64::MAX, PULL_RECORDS, PULL_BYTES)
        .expect("read");
    debug_assert_eq!(recs.len(), per_pull);
    *cursor = recs.last().map_or(log.begin(), |r| r.cursor + 1);
    if *cursor >= log.end() {
        *cursor = log.begin();
    }
    recs
}

fn bench_read(c: &mut Criterion, sizes: &Sizes, fixtures: &Fixtures) {
    let mut g = c.benchmark_group("read");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    // LogGroups of ~25 KiB: each read is bounded by the 10 MiB budget.
    let per_pull = records_per_pull(LOG_GROUP_BYTES);
    let big = OnceCell::new();
    g.throughput(Throughput::Bytes((per_pull * LOG_GROUP_BYTES) as u64));
    g.bench_function("pull_25KiB_records", |b| {
        let shard = big.get_or_init(|| {
            let s = Shard::create(
                config(LogConfig::default().segment_bytes, FsyncPolicy::Never),
                system_clock(),
            );
            fill(
                &s.log,
                sizes.read_pulls * per_pull as u64,
                &payload(LOG_GROUP_BYTES, 2),
            );
            s
        });
        let log = &shard.log;
        let mut cursor = log.begin();
        // Once round the shard, so the page cache holds all of it.
        for _ in 0..sizes.read_pulls {
            assert_eq!(pull(log, &mut cursor, per_pull).len(), per_pull);
        }
        b.iter(|| pull(log, &mut cursor, per_pull));
    });

    // Small records: each read is bounded by the record count; per-record costs dominate.
    let per_pull = records_per_pull(SMALL_PAYLOAD_BYTES);
    g.throughput(Throughput::Bytes((per_pull * SMALL_PAYLOAD_BYTES) as u64));
    g.bench_function("pull_100B_records", |b| {
        let log = &fixtures.small(sizes).log;
        let mut cursor = log.begin();
        assert_eq!(pull(log, &mut cursor, per_pull).len(), per_pull);
        b.iter(|| pull(log, &mut cursor, per_pull));
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// lookup

/// Shards of small records, one received every millisecond, built on first use and shared by
/// the groups that read them.
#[derive(Default)]
struct Fixtures {
    small: OnceCell<Shard>,
    many_segments: OnceCell<Shard>,
}

impl Fixtures {
    /// ~1M records in segments of the default size.
    fn small(&self, sizes: &Sizes) -> &Shard {
        self.small
            .get_or_init(|| build_small(sizes.small_records, sizes.small_segment_bytes))
    }

    /// The same records in small segments, so that reads spread over many sealed segments.
    fn many_segments(&self, sizes: &Sizes) -> &Shard {
        self.many_segments
            .get_or_init(|| build_small(sizes.small_records, sizes.many_segment_bytes))
    }
}

fn build_small(records: u64, segment_bytes: u64) -> Shard {
    let started = Instant::now();
    let wall = Arc::new(ManualClock::new(START_MILLIS));
    let clock = Arc::new(HybridClock::new(wall.clone()));
    let shard = Shard::create(config(segment_bytes, FsyncPolicy::Never), clock);
    let payload = payload(SMALL_PAYLOAD_BYTES, 3);
    for _ in 0..records {
        shard.log.append(&payload).expect("append");
        wall.advance(1);
    }
    shard.log.sync().expect("sync");
    let stats = shard.log.stats();
    eprintln!(
        "built a shard of {} records, {} MiB in {} segments of {} KiB, in {:.1} s",
        stats.records,
        stats.bytes >> 20,
        stats.segments,
        segment_bytes.min(MAX_SEGMENT_BYTES) >> 10,
        started.elapsed().as_secs_f64()
    );
    shard
}

/// Base cursor of the active segment.
fn active_base(log: &ShardLog) -> u64 {
    log.sealed_segments().last().map_or(log.begin(), |m| m.next)
}

fn bench_lookup(c: &mut Criterion, sizes: &Sizes, fixtures: &Fixtures) {
    let mut g = c.benchmark_group("lookup");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let first_secs = (START_MILLIS / 1000) as i64;
    let last_secs = ((START_MILLIS + sizes.small_records) / 1000) as i64;

    g.bench_function("cursor_for_time/random", |b| {
        let log = &fixtures.small(sizes).log;
        let mut rng = Rng::new(11);
        // The first record received in that second.
        let probe = (first_secs + 1) as u64;
        let want = (probe * 1000 - START_MILLIS).min(log.end());
        assert_eq!(log.cursor_for_time(probe as i64).expect("lookup"), want);
        b.iter(|| {
            let secs = rng.between(first_secs as u64, last_secs as u64 + 1) as i64;
            log.cursor_for_time(black_box(secs)).expect("lookup")
        });
    });

    g.bench_function("record_meta/random", |b| {
        let log = &fixtures.small(sizes).log;
        let mut rng = Rng::new(12);
        let mid = log.end() / 2;
        assert_eq!(log.record_meta(mid).expect("meta").cursor, mid);
        b.iter(|| {
            let cursor = rng.between(log.begin(), log.end());
            log.record_meta(black_box(cursor)).expect("meta")
        });
    });

    g.bench_function("record_meta/active_segment", |b| {
        let log = &fixtures.small(sizes).log;
        let mut rng = Rng::new(13);
        let from = active_base(log);
        b.iter(|| {
            let cursor = rng.between(from, log.end());
            log.record_meta(black_box(cursor)).expect("meta")
        });
    });

    g.bench_function("read_one/random", |b| {
        let log = &fixtures.small(sizes).log;
        let mut rng = Rng::new(14);
        b.iter(|| {
            let cursor = rng.between(log.begin(), log.end());
            let recs = log
                .read(black_box(cursor), cursor + 1, 1, PULL_BYTES)
                .expect("read");
            debug_assert_eq!(recs[0].cursor, cursor);
            recs
        });
    });

    g.bench_function("record_meta/random_16MiB_segments", |b| {
        let log = &fixtures.many_segments(sizes).log;
        let mut rng = Rng::new(15);
        b.iter(|| {
            let cursor = rng.between(log.begin(), log.end());
            log.record_meta(black_box(cursor)).expect("meta")
        });
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// recovery

/// Asks the kernel to drop the cached pages of `file` (GNU dd; best effort). Returns whether it
/// could.
fn drop_cached(file: &Path) -> bool {
    Command::new("dd")
        .arg(format!("if={}", file.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A closed shard whose only (and so newest) segment holds `bytes` of records.
struct RecoveryShard {
    shard: PathBuf,
    segment: PathBuf,
    _dir: TempDir,
}

fn build_recovery(bytes: u64, payload_len: usize) -> RecoveryShard {
    let dir = temp_dir();
    let shard = dir.path().join("shard");
    let log = ShardLog::open(
        &shard,
        config(LogConfig::default().segment_bytes, FsyncPolicy::Never),
        system_clock(),
    )
    .expect("open");
    let payload = payload(payload_len, 4);
    while log.stats().bytes < bytes {
        log.append(&payload).expect("append");
    }
    log.sync().expect("sync");
    assert_eq!(
        log.stats().segments,
        1,
        "the records must stay in the active segment"
    );
    drop(log);
    let segment = shard.join(format!("{:020}.log", 0));
    assert!(segment.exists(), "segment file name");
    RecoveryShard {
        shard,
        segment,
        _dir: dir,
    }
}

fn bench_recovery(c: &mut Criterion, sizes: &Sizes) {
    let mut g = c.benchmark_group("recovery");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let cfg = LogConfig::default();
    let can_drop_cache = Command::new("dd")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    for (name, payload_len) in [
        ("25KiB_records", LOG_GROUP_BYTES),
        ("100B_records", SMALL_PAYLOAD_BYTES),
    ] {
        let built = OnceCell::new();
        let get = || built.get_or_init(|| build_recovery(sizes.recovery_bytes, payload_len));
        // Nominal: the segment holds this much and at most one record more.
        g.throughput(Throughput::Bytes(sizes.recovery_bytes));
        g.bench_function(BenchmarkId::new("open_warm", name), |b| {
            let r = get();
            b.iter(|| ShardLog::open(&r.shard, cfg.clone(), system_clock()).expect("open"))
        });
        if payload_len == LOG_GROUP_BYTES && can_drop_cache {
            g.bench_function(BenchmarkId::new("open_cold", name), |b| {
                let r = get();
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        assert!(drop_cached(&r.segment), "dropping cached pages");
                        let start = Instant::now();
                        let log = ShardLog::open(&r.shard, cfg.clone(), system_clock());
                        total += start.elapsed();
                        black_box(log.expect("open"));
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// descriptor pool

/// What a read costs through the descriptor pool the server opens its files with, against the
/// plain file system: one 4 KiB positional read of a cached file, and the same read when the
/// pool has to reopen the file each time (every other file in use, capacity 8).
fn bench_pool(c: &mut Criterion) {
    use cairn_storage::io::{FileRef, Fs, RealFs};
    use cairn_storage::PooledFs;
    let dir = temp_dir();
    let path = dir.path().join("f");
    std::fs::write(&path, vec![7u8; 1 << 20]).expect("write");
    let mut g = c.benchmark_group("pool");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let mut buf = vec![0u8; 4096];
    let real: FileRef = RealFs.open(&path, false).expect("open");
    g.bench_function("read_4KiB/real", |b| {
        b.iter(|| real.read_exact_at(&mut buf, black_box(8192)).expect("read"))
    });
    let pool = PooledFs::new(1024);
    let pooled: FileRef = pool.open(&path, false).expect("open");
    g.bench_function("read_4KiB/pooled", |b| {
        b.iter(|| {
            pooled
                .read_exact_at(&mut buf, black_box(8192))
                .expect("read")
        })
    });
    let small = PooledFs::new(8);
    let files: Vec<FileRef> = (0..16)
        .map(|_| small.open(&path, false).expect("open"))
        .collect();
    let mut i = 0;
    g.bench_function("read_4KiB/pooled_reopening", |b| {
        b.iter(|| {
            i = (i + 1) % files.len();
            files[i]
                .read_exact_at(&mut buf, black_box(8192))
                .expect("read")
        })
    });
    g.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // As criterion decides: without `--bench` (cargo test --benches) or with `--test`, every
    // benchmark runs once, so small data sets do.
    let quick = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test");
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    let fixtures = Fixtures::default();
    let mut c = Criterion::default()
        .nresamples(20_000)
        .without_plots()
        .configure_from_args();
    bench_append(&mut c, &sizes);
    bench_read(&mut c, &sizes, &fixtures);
    bench_lookup(&mut c, &sizes, &fixtures);
    bench_recovery(&mut c, &sizes);
    bench_pool(&mut c);
    c.final_summary();
}
