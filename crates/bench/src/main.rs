//! `cairn-bench`: a load generator for Cairn (SLS HTTP API) and for a Redis peer.
//!
//! Every subcommand prints one JSON object on stdout; `scripts/bench.sh` runs them and builds
//! the report.

mod cairn;
mod data;
mod peer;
mod sls;
mod stats;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use prost::Message;
use serde_json::{json, Value};

use sls::Endpoint;

#[derive(Parser)]
#[command(
    name = "cairn-bench",
    about = "Load generator for Cairn and a Redis peer"
)]
struct Cli {
    /// Runtime worker threads of the generator.
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Target {
    /// Cairn's listen address.
    #[arg(long, default_value = "127.0.0.1:7070")]
    addr: SocketAddr,
    /// Project (sent as Host: <project>.localhost).
    #[arg(long, default_value = "bench")]
    project: String,
    #[arg(long, env = "CAIRN_ACCESS_KEY_ID", default_value = "bench-ak")]
    access_key_id: String,
    #[arg(long, env = "CAIRN_ACCESS_KEY_SECRET", default_value = "bench-secret")]
    access_key_secret: String,
    /// Server process id, for its memory use.
    #[arg(long)]
    pid: Option<u32>,
}

impl Target {
    fn endpoint(&self) -> Endpoint {
        Endpoint {
            addr: self.addr,
            project: self.project.clone(),
            access_key_id: self.access_key_id.clone(),
            secret: self.access_key_secret.clone(),
        }
    }
}

#[derive(Args, Clone)]
struct GroupShape {
    /// Logs per LogGroup.
    #[arg(long, default_value_t = 100)]
    logs: usize,
    /// Key/value bytes per log.
    #[arg(long, default_value_t = 250)]
    log_bytes: usize,
    /// Grow each group to this many raw bytes instead (e.g. 1048576).
    #[arg(long)]
    group_bytes: Option<usize>,
    /// Distinct pre-built groups cycled through.
    #[arg(long, default_value_t = 64)]
    distinct: usize,
}

impl GroupShape {
    fn bodies(&self) -> Arc<Vec<sls::PreparedBody>> {
        Arc::new(data::bodies(
            self.distinct,
            self.logs,
            self.log_bytes,
            self.group_bytes,
            42,
        ))
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Creates the project and a logstore.
    Setup {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        logstore: String,
        #[arg(long, default_value_t = 16)]
        shards: u32,
    },
    /// PutLogs from concurrent writers.
    Ingest {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        shape: GroupShape,
        #[arg(long)]
        logstore: String,
        #[arg(long, default_value_t = 16)]
        writers: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Stop after this many groups.
        #[arg(long)]
        total: Option<u64>,
    },
    /// PullLogs of every shard from begin to end.
    Pull {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        logstore: String,
        #[arg(long, default_value_t = 16)]
        shards: u32,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Decompress and decode every response (counts logs; costs generator CPU).
        #[arg(long)]
        decode: bool,
    },
    /// Produce at a fixed rate and measure produce-to-consume latency.
    E2e {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        shape: GroupShape,
        #[arg(long)]
        logstore: String,
        #[arg(long, default_value_t = 4)]
        shards: u32,
        #[arg(long, default_value_t = 32)]
        producers: usize,
        /// Groups per second.
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Pause of a consumer after an empty PullLogs, in milliseconds.
        #[arg(long, default_value_t = 1.0)]
        poll_ms: f64,
    },
    /// UpdateCheckPoint from many consumers.
    Checkpoint {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        logstore: String,
        #[arg(long, default_value = "bench-cg")]
        group: String,
        #[arg(long, default_value_t = 64)]
        consumers: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// GetCursor by time and GetCursorTime latency on one shard.
    Seek {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        logstore: String,
        #[arg(long, default_value_t = 0)]
        shard: u32,
        #[arg(long, default_value_t = 2000)]
        queries: usize,
    },
    /// Creates many logstores of many shards, writes one group to each shard, waits, reports RSS.
    ManyShards {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "idle")]
        prefix: String,
        #[arg(long, default_value_t = 10)]
        logstores: usize,
        #[arg(long, default_value_t = 100)]
        shards: u32,
        /// Seconds to stay idle before reading the memory.
        #[arg(long, default_value_t = 5.0)]
        idle: f64,
    },
    /// Starts the server twice on an existing data dir (after a clean stop, then after SIGKILL)
    /// and times start-up to the listening line and to the first successful request.
    Restart {
        #[command(flatten)]
        target: Target,
        /// The cairn binary.
        #[arg(long)]
        bin: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
        /// Logstore whose shard 0 answers the probe request.
        #[arg(long)]
        logstore: String,
    },
    /// Durable sequential write bandwidth: `chunk` bytes per write, fdatasync after each.
    Disk {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1024)]
        mib: usize,
        #[arg(long, default_value_t = 1048576)]
        chunk: usize,
    },
    /// Reads the memory of a process.
    Rss {
        #[arg(long)]
        pid: u32,
    },
    /// XADD of the same bodies to Redis streams.
    RedisIngest {
        #[arg(long, default_value = "redis://127.0.0.1:6379/")]
        url: String,
        #[command(flatten)]
        shape: GroupShape,
        #[arg(long, default_value = "s")]
        prefix: String,
        #[arg(long, default_value_t = 16)]
        streams: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Commands per pipeline.
        #[arg(long, default_value_t = 16)]
        depth: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long)]
        pid: Option<u32>,
    },
    /// XREADGROUP of whole streams.
    RedisPull {
        #[arg(long, default_value = "redis://127.0.0.1:6379/")]
        url: String,
        #[arg(long, default_value = "s")]
        prefix: String,
        #[arg(long, default_value_t = 16)]
        streams: usize,
        #[arg(long, default_value = "pull")]
        group: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long)]
        pid: Option<u32>,
    },
    /// XADD at a fixed rate, blocking XREADGROUP consumers.
    RedisE2e {
        #[arg(long, default_value = "redis://127.0.0.1:6379/")]
        url: String,
        #[command(flatten)]
        shape: GroupShape,
        #[arg(long, default_value = "e")]
        prefix: String,
        #[arg(long, default_value_t = 4)]
        streams: usize,
        #[arg(long, default_value_t = 32)]
        producers: usize,
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long)]
        pid: Option<u32>,
    },
    /// XACK of pending entries from many clients.
    RedisCheckpoint {
        #[arg(long, default_value = "redis://127.0.0.1:6379/")]
        url: String,
        #[arg(long, default_value = "k")]
        prefix: String,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Pending entries prepared per client.
        #[arg(long, default_value_t = 20000)]
        prefill: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long)]
        pid: Option<u32>,
    },
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn with_rss(mut v: Value, pid: Option<u32>) -> Value {
    v["server_memory"] = stats::rss_kib(pid);
    v
}

fn base_group(shape: &GroupShape) -> Arc<Vec<u8>> {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
    let time = (cairn::unix_nanos() / 1_000_000_000) as u32;
    Arc::new(data::group(&mut rng, shape.logs, shape.log_bytes, time).encode_to_vec())
}

/// One stamped body per group to be sent at `rate` for `duration` seconds.
fn e2e_bodies(shape: &GroupShape, rate: f64, duration: f64) -> Result<Arc<Vec<sls::PreparedBody>>> {
    let n = (rate * duration).ceil() as usize;
    if n > 500_000 {
        bail!("{n} groups is too many to build before the run; lower --rate or --duration");
    }
    Ok(cairn::stamped_bodies(&base_group(shape), shape.logs, n))
}

fn shape_json(s: &GroupShape) -> Value {
    let b = data::bodies(1, s.logs, s.log_bytes, s.group_bytes, 42).remove(0);
    json!({"logs_per_group": b.logs, "raw_bytes_per_group": b.raw_len, "lz4_bytes_per_group": b.compressed.len()})
}

async fn run(cmd: Cmd) -> Result<Value> {
    Ok(match cmd {
        Cmd::Setup {
            target,
            logstore,
            shards,
        } => {
            let ep = target.endpoint();
            sls::ensure_project(&ep).await?;
            sls::ensure_logstore(&ep, &logstore, shards).await?;
            json!({"project": ep.project, "logstore": logstore, "shards": shards})
        }
        Cmd::Ingest {
            target,
            shape,
            logstore,
            writers,
            duration,
            total,
        } => {
            let ep = target.endpoint();
            let v = cairn::ingest(
                &ep,
                &logstore,
                writers,
                secs(duration),
                total,
                shape.bodies(),
            )
            .await?;
            let mut v = with_rss(v, target.pid);
            v["writers"] = json!(writers);
            v["shape"] = shape_json(&shape);
            v
        }
        Cmd::Pull {
            target,
            logstore,
            shards,
            concurrency,
            count,
            decode,
        } => {
            let v = cairn::pull(
                &target.endpoint(),
                &logstore,
                shards,
                concurrency,
                count,
                decode,
            )
            .await?;
            with_rss(v, target.pid)
        }
        Cmd::E2e {
            target,
            shape,
            logstore,
            shards,
            producers,
            rate,
            duration,
            poll_ms,
        } => {
            let v = cairn::e2e(
                &target.endpoint(),
                &logstore,
                shards,
                producers,
                rate,
                secs(duration),
                e2e_bodies(&shape, rate, duration)?,
                Duration::from_secs_f64(poll_ms / 1000.0),
            )
            .await?;
            let mut v = with_rss(v, target.pid);
            v["poll_ms"] = json!(poll_ms);
            v["producers"] = json!(producers);
            v
        }
        Cmd::Checkpoint {
            target,
            logstore,
            group,
            consumers,
            duration,
        } => {
            let v = cairn::checkpoint(
                &target.endpoint(),
                &logstore,
                &group,
                consumers,
                secs(duration),
            )
            .await?;
            with_rss(v, target.pid)
        }
        Cmd::Seek {
            target,
            logstore,
            shard,
            queries,
        } => {
            let v = cairn::seek(&target.endpoint(), &logstore, shard, queries).await?;
            with_rss(v, target.pid)
        }
        Cmd::ManyShards {
            target,
            prefix,
            logstores,
            shards,
            idle,
        } => {
            let ep = target.endpoint();
            sls::ensure_project(&ep).await?;
            let before = stats::rss_kib(target.pid);
            let mut v = cairn::many_shards(&ep, &prefix, logstores, shards).await?;
            tokio::time::sleep(secs(idle)).await;
            v["server_memory_before"] = before;
            v["idle_seconds"] = json!(idle);
            with_rss(v, target.pid)
        }
        Cmd::Restart {
            target,
            bin,
            data_dir,
            logstore,
        } => {
            let ep = target.endpoint();
            let clean = start_once(&bin, &data_dir, &ep, &logstore, false).await?;
            let crash = start_once(&bin, &data_dir, &ep, &logstore, true).await?;
            json!({"after_clean_stop": clean, "after_sigkill": crash})
        }
        Cmd::Disk { dir, mib, chunk } => disk(&dir, mib, chunk)?,
        Cmd::Rss { pid } => stats::rss_kib(Some(pid)),
        Cmd::RedisIngest {
            url,
            shape,
            prefix,
            streams,
            clients,
            depth,
            duration,
            pid,
        } => {
            let v = peer::ingest(
                &url,
                &prefix,
                streams,
                clients,
                depth,
                secs(duration),
                shape.bodies(),
            )
            .await?;
            let mut v = with_rss(v, pid);
            v["writers"] = json!(clients);
            v["shape"] = shape_json(&shape);
            v
        }
        Cmd::RedisPull {
            url,
            prefix,
            streams,
            group,
            count,
            pid,
        } => with_rss(
            peer::pull(&url, &prefix, streams, &group, count).await?,
            pid,
        ),
        Cmd::RedisE2e {
            url,
            shape,
            prefix,
            streams,
            producers,
            rate,
            duration,
            pid,
        } => {
            let v = peer::e2e(
                &url,
                &prefix,
                streams,
                producers,
                rate,
                secs(duration),
                e2e_bodies(&shape, rate, duration)?,
            )
            .await?;
            with_rss(v, pid)
        }
        Cmd::RedisCheckpoint {
            url,
            prefix,
            clients,
            prefill,
            duration,
            pid,
        } => with_rss(
            peer::checkpoint(&url, &prefix, clients, prefill, secs(duration)).await?,
            pid,
        ),
    })
}

/// Starts `bin` on `data_dir`, times the listening line and the first successful GetCursor,
/// then stops it (SIGKILL when `kill`, else SIGTERM and wait).
async fn start_once(
    bin: &PathBuf,
    data_dir: &PathBuf,
    ep: &Endpoint,
    logstore: &str,
    kill: bool,
) -> Result<Value> {
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--listen")
        .arg(ep.addr.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .env("CAIRN_ACCESS_KEY_ID", &ep.access_key_id)
        .env("CAIRN_ACCESS_KEY_SECRET", &ep.secret)
        .env("CAIRN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("cairn listening on") {
                let _ = tx.send(Instant::now());
            }
        }
    });
    let listening = loop {
        if let Ok(t) = rx.recv_timeout(Duration::from_millis(5)) {
            break t;
        }
        if let Some(status) = child.try_wait()? {
            bail!("cairn exited during start-up: {status}");
        }
        if t0.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            bail!("cairn did not start within 600 s");
        }
    };
    let served = loop {
        if let Ok(mut c) = sls::Conn::connect(ep).await {
            match c.get_cursor(logstore, 0, "end").await {
                Ok(_) => break Instant::now(),
                Err(e) if t0.elapsed() > Duration::from_secs(600) => {
                    let _ = child.kill();
                    return Err(e);
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let pid = child.id();
    let mem = stats::rss_kib(Some(pid));
    if kill {
        child.kill()?;
    } else {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
    child.wait()?;
    Ok(json!({
        "to_listening_s": (listening - t0).as_secs_f64(),
        "to_first_request_s": (served - t0).as_secs_f64(),
        "server_memory": mem,
    }))
}

fn disk(dir: &std::path::Path, mib: usize, chunk: usize) -> Result<Value> {
    let path = dir.join("cairn-bench-disk.tmp");
    let buf: Vec<u8> = (0..chunk).map(|i| (i * 31 % 251) as u8).collect();
    let total = mib * 1024 * 1024;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let t0 = Instant::now();
    let mut written = 0usize;
    let mut h = stats::histogram();
    while written < total {
        let t1 = Instant::now();
        f.write_all(&buf)?;
        f.sync_data()?;
        stats::record(&mut h, t1.elapsed());
        written += buf.len();
    }
    let secs = t0.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(json!({
        "bytes": written,
        "chunk": chunk,
        "seconds": secs,
        "mb_s": written as f64 / secs / 1e6,
        "write_sync_latency": stats::latency_json(&h),
    }))
}

impl Cmd {
    /// The server process a workload runs against, if given.
    fn server_pid(&self) -> Option<u32> {
        match self {
            Cmd::Ingest { target, .. }
            | Cmd::Pull { target, .. }
            | Cmd::E2e { target, .. }
            | Cmd::Checkpoint { target, .. }
            | Cmd::Seek { target, .. }
            | Cmd::ManyShards { target, .. } => target.pid,
            Cmd::RedisIngest { pid, .. }
            | Cmd::RedisPull { pid, .. }
            | Cmd::RedisE2e { pid, .. }
            | Cmd::RedisCheckpoint { pid, .. } => *pid,
            _ => None,
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    let pid = cli.cmd.server_pid();
    let server_cpu = pid.and_then(|p| stats::cpu_secs(&p.to_string()));
    let own_cpu = stats::cpu_secs("self");
    let load = stats::loadavg();
    let mut v = rt.block_on(run(cli.cmd))?;
    if let Value::Object(m) = &mut v {
        if let (Some(a), Some(b)) = (
            server_cpu,
            pid.and_then(|p| stats::cpu_secs(&p.to_string())),
        ) {
            m.insert("server_cpu_s".into(), json!(b - a));
        }
        if let (Some(a), Some(b)) = (own_cpu, stats::cpu_secs("self")) {
            m.insert("generator_cpu_s".into(), json!(b - a));
        }
        m.insert("loadavg_1m".into(), json!([load, stats::loadavg()]));
    }
    println!("{}", serde_json::to_string(&v)?);
    Ok(())
}
