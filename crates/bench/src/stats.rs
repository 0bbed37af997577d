//! Latency histograms, throughput tallies and the server's memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// Latencies in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
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

/// Releases the bodies of an open-loop schedule at their due times: body `k` is due `k / rate`
/// seconds after `start`, whether or not earlier sends were slow, and nothing is due from
/// `duration` on or past the `available` bodies. A thread of its own sleeps until each due time
/// (to within the kernel's timer slack, ~0.05 ms): tokio's timer wakes tasks on whole
/// milliseconds, which would add up to a millisecond of the generator's own to every latency
/// counted from a due time.
pub struct Ticker {
    producers: Vec<Arc<Semaphore>>,
    /// Bodies due in the run: `0..due`.
    due: usize,
}

impl Ticker {
    /// Starts releasing bodies to `producers` producers: producer `p` gets `p`, `p + producers`, ….
    pub fn start(
        start: Instant,
        rate: f64,
        duration: Duration,
        producers: usize,
        available: usize,
    ) -> Self {
        let offset = move |k: usize| Duration::from_secs_f64(k as f64 / rate);
        let due = (0..available)
            .find(|&k| offset(k) >= duration)
            .unwrap_or(available);
        let sems: Vec<_> = (0..producers.max(1))
            .map(|_| Arc::new(Semaphore::new(0)))
            .collect();
        let out = sems.clone();
        std::thread::spawn(move || {
            for k in 0..due {
                let at = start + offset(k);
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                sems[k % sems.len()].add_permits(1);
            }
        });
        Self {
            producers: out,
            due,
        }
    }

    /// The schedule of producer `p`.
    pub fn schedule(&self, p: usize) -> Schedule {
        Schedule {
            released: self.producers[p].clone(),
            due: self.due,
            step: self.producers.len(),
            next: p,
        }
    }
}

/// One producer's part of a [`Ticker`]'s schedule.
pub struct Schedule {
    released: Arc<Semaphore>,
    due: usize,
    step: usize,
    next: usize,
}

impl Schedule {
    /// Waits until the next body is due and returns its index (at once if it is overdue), or
    /// `None` once every body of the run has been handed out.
    pub async fn next(&mut self) -> Option<usize> {
        let k = self.next;
        if k >= self.due {
            return None;
        }
        self.released
            .acquire()
            .await
            .expect("never closed")
            .forget();
        self.next += self.step;
        Some(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ticker_releases_each_body_once_in_turn_until_the_run_ends() {
        // Every body is overdue: they are released at once, in order, to producers in turn.
        let start = Instant::now() - Duration::from_secs(1);
        let (rate, duration) = (1000.0, Duration::from_millis(5));
        let ticker = Ticker::start(start, rate, duration, 2, 100);
        let mut got = Vec::new();
        for p in 0..2 {
            let mut s = ticker.schedule(p);
            let mut mine = Vec::new();
            while let Some(k) = s.next().await {
                mine.push(k);
            }
            got.push(mine);
        }
        assert_eq!(got, [vec![0, 2, 4], vec![1, 3]]);
        // Fewer bodies than the run lasts: the schedule ends with them.
        let ticker = Ticker::start(start, rate, Duration::from_secs(10), 1, 3);
        let mut s = ticker.schedule(0);
        let mut mine = Vec::new();
        while let Some(k) = s.next().await {
            mine.push(k);
        }
        assert_eq!(mine, [0, 1, 2]);
    }
}
