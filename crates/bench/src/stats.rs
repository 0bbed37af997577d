//! Latency histograms, throughput tallies and the server's memory.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Latencies in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, d: std::time::Duration) {
    let us = (d.as_micros() as u64).clamp(1, 60_000_000);
    h.saturating_record(us);
}

/// p50/p99/p999/max in milliseconds.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "samples": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p999_ms": ms(h.value_at_quantile(0.999)),
        "max_ms": ms(h.max()),
        "mean_ms": h.mean() / 1000.0,
    })
}

/// What a worker task returns: its counts and latencies.
pub type WorkerResult = anyhow::Result<(Tally, Histogram<u64>)>;

/// Counts of one worker.
#[derive(Default, Clone, Copy)]
pub struct Tally {
    pub requests: u64,
    pub groups: u64,
    pub logs: u64,
    pub raw_bytes: u64,
    pub wire_bytes: u64,
    pub errors: u64,
}

impl Tally {
    /// One LogGroup of `raw_len` raw bytes sent in its own request, acknowledged after `elapsed`.
    pub fn sent_group(&mut self, h: &mut Histogram<u64>, elapsed: Duration, raw_len: usize) {
        record(h, elapsed);
        self.requests += 1;
        self.groups += 1;
        self.raw_bytes += raw_len as u64;
    }

    pub fn add(&mut self, o: &Tally) {
        self.requests += o.requests;
        self.groups += o.groups;
        self.logs += o.logs;
        self.raw_bytes += o.raw_bytes;
        self.wire_bytes += o.wire_bytes;
        self.errors += o.errors;
    }

    pub fn json(&self, secs: f64) -> Value {
        let s = secs.max(1e-9);
        json!({
            "seconds": secs,
            "requests": self.requests,
            "groups": self.groups,
            "logs": self.logs,
            "raw_bytes": self.raw_bytes,
            "wire_bytes": self.wire_bytes,
            "errors": self.errors,
            "requests_per_s": self.requests as f64 / s,
            "groups_per_s": self.groups as f64 / s,
            "logs_per_s": self.logs as f64 / s,
            "raw_mb_s": self.raw_bytes as f64 / s / 1e6,
            "wire_mb_s": self.wire_bytes as f64 / s / 1e6,
        })
    }
}

/// VmRSS and VmHWM of `pid` in KiB.
pub fn rss_kib(pid: Option<u32>) -> Value {
    let Some(pid) = pid else {
        return Value::Null;
    };
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Value::Null;
    };
    let field = |name: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    json!({"rss_kib": field("VmRSS:"), "hwm_kib": field("VmHWM:")})
}

/// User plus system CPU seconds of `pid` (`self` for this process).
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The 1-minute load average, to show whether other work shared the machine.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Waits for every worker and merges their tallies and latency histograms.
pub async fn join_all(
    handles: Vec<tokio::task::JoinHandle<WorkerResult>>,
) -> anyhow::Result<(Tally, Histogram<u64>)> {
    let mut t = Tally::default();
    let mut h = histogram();
    for handle in handles {
        let (wt, wh) = handle.await??;
        t.add(&wt);
        h.add(&wh)?;
    }
    Ok((t, h))
}

/// Ends an end-to-end run: waits for the producers, tells the consumers to drain what was sent,
/// waits for them and reports both sides.
pub async fn finish_e2e(
    rate: f64,
    start: Instant,
    producers: Vec<tokio::task::JoinHandle<WorkerResult>>,
    producing: &std::sync::atomic::AtomicBool,
    consumers: Vec<tokio::task::JoinHandle<WorkerResult>>,
) -> anyhow::Result<Value> {
    let produced = join_all(producers).await?;
    let secs = start.elapsed().as_secs_f64();
    producing.store(false, std::sync::atomic::Ordering::Relaxed);
    let consumed = join_all(consumers).await?;
    Ok(e2e_json(rate, secs, produced, consumed))
}

/// The report of an end-to-end run: what the producers sent (with their acknowledgement
/// latency) and what the consumers received (with produce-to-consume latency).
fn e2e_json(
    rate: f64,
    secs: f64,
    (pt, ph): (Tally, Histogram<u64>),
    (ct, chist): (Tally, Histogram<u64>),
) -> Value {
    json!({
        "rate_target": rate,
        "produced": pt.json(secs),
        "ack_latency": latency_json(&ph),
        "consumed_groups": ct.groups,
        "polls": ct.requests,
        "latency": latency_json(&chist),
    })
}

/// The open-loop schedule of an end-to-end producer: producer `p` of `producers` sends bodies
/// `p`, `p + producers`, …; body `k` is due `k / rate` seconds after `start`, whether or not
/// earlier sends were slow, and nothing is sent from `duration` on.
pub struct Schedule {
    start: Instant,
    rate: f64,
    duration: Duration,
    step: usize,
    next: usize,
}

impl Schedule {
    /// The schedule of producer `p` of `producers`.
    pub fn new(start: Instant, rate: f64, duration: Duration, p: usize, producers: usize) -> Self {
        Self {
            start,
            rate,
            duration,
            step: producers,
            next: p,
        }
    }

    /// Waits until the next body is due and returns its index, or `None` once the run is over
    /// or the `available` bodies are used up.
    pub async fn next(&mut self, available: usize) -> Option<usize> {
        let k = self.next;
        let offset = Duration::from_secs_f64(k as f64 / self.rate);
        if k >= available || offset >= self.duration {
            return None;
        }
        let (due, now) = (self.start + offset, Instant::now());
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        self.next += self.step;
        Some(k)
    }
}
