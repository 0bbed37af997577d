//! The same workloads against Redis streams: XADD, XREADGROUP, XACK.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use redis::aio::MultiplexedConnection;
use redis::Value as RV;
use serde_json::{json, Value};

use crate::cairn::unix_nanos;
use crate::sls::PreparedBody;
use crate::stats::{finish_e2e, histogram, join_all, latency_json, record, Tally, Ticker};

async fn connect(url: &str) -> Result<MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    Ok(client.get_multiplexed_async_connection().await?)
}

/// XADD of the PutLogs bodies (the same compressed bytes, with the raw size as a second field)
/// from `clients` connections, `depth` commands per pipeline, over `streams` stream keys.
pub async fn ingest(
    url: &str,
    prefix: &str,
    streams: usize,
    clients: usize,
    depth: usize,
    duration: Duration,
    bodies: Arc<Vec<PreparedBody>>,
) -> Result<Value> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::new();
    for w in 0..clients {
        let (url, bodies) = (url.to_string(), bodies.clone());
        let key = format!("{prefix}{}", w % streams.max(1));
        handles.push(tokio::spawn(async move {
            let mut con = connect(&url).await?;
            let (mut t, mut h) = (Tally::default(), histogram());
            let mut i = w;
            while Instant::now() < deadline {
                let mut p = redis::pipe();
                let mut batch = Tally::default();
                for _ in 0..depth.max(1) {
                    let b = &bodies[i % bodies.len()];
                    i += clients;
                    p.cmd("XADD")
                        .arg(&key)
                        .arg("*")
                        .arg("g")
                        .arg(&b.compressed[..])
                        .arg("r")
                        .arg(b.raw_len)
                        .arg("n")
                        .arg(b.logs);
                    batch.requests += 1;
                    batch.groups += 1;
                    batch.logs += b.logs as u64;
                    batch.raw_bytes += b.raw_len as u64;
                    batch.wire_bytes += b.compressed.len() as u64;
                }
                let t0 = Instant::now();
                let _: Vec<RV> = p.query_async(&mut con).await?;
                record(&mut h, t0.elapsed());
                t.add(&batch);
            }
            Ok((t, h))
        }));
    }
    let (t, h) = join_all(handles).await?;
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({"throughput": t.json(secs), "latency": latency_json(&h), "pipeline_depth": depth}))
}

fn bulk(v: &RV) -> Option<&[u8]> {
    match v {
        RV::BulkString(b) => Some(b),
        _ => None,
    }
}

/// A stream entry: id and field/value pairs.
type Entry<'a> = (&'a [u8], Vec<(&'a [u8], &'a [u8])>);

/// Entries of an XREADGROUP reply.
fn entries(reply: &RV) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    let RV::Array(streams) = reply else {
        return out;
    };
    for s in streams {
        let RV::Array(kv) = s else { continue };
        let Some(RV::Array(items)) = kv.get(1) else {
            continue;
        };
        for item in items {
            let RV::Array(e) = item else { continue };
            let (Some(id), Some(RV::Array(fields))) = (e.first().and_then(bulk), e.get(1)) else {
                continue;
            };
            let fs = fields
                .chunks(2)
                .filter_map(|c| Some((bulk(c.first()?)?, bulk(c.get(1)?)?)))
                .collect();
            out.push((id, fs));
        }
    }
    out
}

fn field<'a>(fs: &'a [(&[u8], &[u8])], name: &str) -> Option<&'a [u8]> {
    fs.iter()
        .find(|(k, _)| *k == name.as_bytes())
        .map(|(_, v)| *v)
}

fn num(b: Option<&[u8]>) -> u64 {
    b.and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn create_group(
    con: &mut MultiplexedConnection,
    key: &str,
    group: &str,
    from: &str,
) -> Result<()> {
    let r: redis::RedisResult<RV> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
        .arg(from)
        .arg("MKSTREAM")
        .query_async(con)
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("BUSYGROUP") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads every stream whole with XREADGROUP COUNT `count`, one reader per stream.
pub async fn pull(
    url: &str,
    prefix: &str,
    streams: usize,
    group: &str,
    count: usize,
) -> Result<Value> {
    let start = Instant::now();
    let mut handles = Vec::new();
    for s in 0..streams {
        let (url, key, group) = (url.to_string(), format!("{prefix}{s}"), group.to_string());
        handles.push(tokio::spawn(async move {
            let mut con = connect(&url).await?;
            create_group(&mut con, &key, &group, "0").await?;
            let (mut t, mut h) = (Tally::default(), histogram());
            loop {
                let t0 = Instant::now();
                let reply: RV = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(&group)
                    .arg("reader")
                    .arg("COUNT")
                    .arg(count)
                    .arg("STREAMS")
                    .arg(&key)
                    .arg(">")
                    .query_async(&mut con)
                    .await?;
                record(&mut h, t0.elapsed());
                let es = entries(&reply);
                t.requests += 1;
                if es.is_empty() {
                    break;
                }
                for (_, fs) in &es {
                    t.groups += 1;
                    t.raw_bytes += num(field(fs, "r"));
                    t.logs += num(field(fs, "n"));
                    t.wire_bytes += field(fs, "g").map_or(0, |g| g.len() as u64);
                }
            }
            Ok((t, h))
        }));
    }
    let (t, h) = join_all(handles).await?;
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({"throughput": t.json(secs), "latency": latency_json(&h)}))
}

/// XADD at a fixed rate; blocking XREADGROUP consumers, one per stream. Same bodies and the
/// same consumer work (decompress, find the stamp) as the Cairn run.
pub async fn e2e(
    url: &str,
    prefix: &str,
    streams: usize,
    producers: usize,
    rate: f64,
    duration: Duration,
    bodies: Arc<Vec<PreparedBody>>,
) -> Result<Value> {
    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let producing = Arc::new(AtomicBool::new(true));
    let mut readers = Vec::new();
    for s in 0..streams {
        let key = format!("{prefix}{s}");
        let mut con = connect(url).await?;
        create_group(&mut con, &key, "e2e", "$").await?;
        readers.push((key, con));
    }
    let start = Instant::now() + Duration::from_millis(50);
    let start_nanos = unix_nanos() + 50_000_000;
    let mut consumers = Vec::new();
    for (key, mut con) in readers {
        let (sent, received, producing) = (sent.clone(), received.clone(), producing.clone());
        consumers.push(tokio::spawn(async move {
            let (mut t, mut h) = (Tally::default(), histogram());
            let mut drain_deadline: Option<Instant> = None;
            loop {
                if !producing.load(Ordering::Relaxed) {
                    let d = *drain_deadline
                        .get_or_insert_with(|| Instant::now() + Duration::from_secs(3));
                    if received.load(Ordering::Relaxed) >= sent.load(Ordering::Relaxed)
                        || Instant::now() > d
                    {
                        break;
                    }
                }
                let reply: RV = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg("e2e")
                    .arg("c")
                    .arg("COUNT")
                    .arg(1000)
                    .arg("BLOCK")
                    .arg(100)
                    .arg("STREAMS")
                    .arg(&key)
                    .arg(">")
                    .query_async(&mut con)
                    .await?;
                t.requests += 1;
                let es = entries(&reply);
                for (_, fs) in &es {
                    if let (Some(g), raw) = (field(fs, "g"), num(field(fs, "r"))) {
                        let plain = lz4_flex::block::decompress(g, raw as usize)?;
                        let now = unix_nanos();
                        if let Some(k) = crate::cairn::group_stamp(&plain) {
                            let due = crate::cairn::due_nanos(start_nanos, k, rate);
                            record(&mut h, Duration::from_nanos(now.saturating_sub(due)));
                            t.groups += 1;
                        }
                    }
                }
                received.fetch_add(es.len() as u64, Ordering::Relaxed);
            }
            Ok((t, h))
        }));
    }
    let per = producers.max(1);
    let ticker = Ticker::start(start, rate, duration, per, bodies.len());
    let mut handles = Vec::new();
    for p in 0..per {
        let (url, bodies, sent) = (url.to_string(), bodies.clone(), sent.clone());
        let key = format!("{prefix}{}", p % streams.max(1));
        let mut schedule = ticker.schedule(p);
        handles.push(tokio::spawn(async move {
            let mut con = connect(&url).await?;
            let (mut t, mut h) = (Tally::default(), histogram());
            while let Some(k) = schedule.next().await {
                let body = &bodies[k];
                let t0 = Instant::now();
                let _: RV = redis::cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg("g")
                    .arg(&body.compressed[..])
                    .arg("r")
                    .arg(body.raw_len)
                    .query_async(&mut con)
                    .await?;
                t.sent_group(&mut h, t0.elapsed(), body.raw_len);
                sent.fetch_add(1, Ordering::Relaxed);
            }
            Ok((t, h))
        }));
    }
    finish_e2e(rate, start, handles, &producing, consumers).await
}

/// XACK of pending entries, one command at a time per client, as a consumer acknowledging
/// what it processed. Each client first fills its own stream with `prefill` small entries and
/// reads them into its pending list, so that every XACK removes a real pending entry (and is
/// written to the append-only file).
pub async fn checkpoint(
    url: &str,
    prefix: &str,
    clients: usize,
    prefill: usize,
    duration: Duration,
) -> Result<Value> {
    let mut ids_per_client = Vec::new();
    for c in 0..clients {
        let key = format!("{prefix}{c}");
        let mut con = connect(url).await?;
        let _: RV = redis::cmd("DEL").arg(&key).query_async(&mut con).await?;
        let mut left = prefill;
        while left > 0 {
            let n = left.min(1000);
            let mut p = redis::pipe();
            for _ in 0..n {
                p.cmd("XADD").arg(&key).arg("*").arg("k").arg("v");
            }
            let _: Vec<RV> = p.query_async(&mut con).await?;
            left -= n;
        }
        create_group(&mut con, &key, "ck", "0").await?;
        let reply: RV = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("ck")
            .arg("c")
            .arg("COUNT")
            .arg(prefill)
            .arg("STREAMS")
            .arg(&key)
            .arg(">")
            .query_async(&mut con)
            .await?;
        let ids: Vec<Vec<u8>> = entries(&reply)
            .into_iter()
            .map(|(id, _)| id.to_vec())
            .collect();
        if ids.is_empty() {
            return Err(anyhow!("no pending entries in {key}"));
        }
        ids_per_client.push((key, ids, con));
    }
    let start = Instant::now();
    let deadline = start + duration;
    let exhausted = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for (key, ids, mut con) in ids_per_client {
        let exhausted = exhausted.clone();
        handles.push(tokio::spawn(async move {
            let (mut t, mut h) = (Tally::default(), histogram());
            for id in &ids {
                if Instant::now() >= deadline {
                    break;
                }
                let t0 = Instant::now();
                let n: i64 = redis::cmd("XACK")
                    .arg(&key)
                    .arg("ck")
                    .arg(&id[..])
                    .query_async(&mut con)
                    .await?;
                record(&mut h, t0.elapsed());
                if n == 1 {
                    t.requests += 1;
                } else {
                    t.errors += 1;
                }
            }
            if Instant::now() < deadline {
                exhausted.fetch_add(1, Ordering::Relaxed);
            }
            Ok((t, h))
        }));
    }
    let (t, h) = join_all(handles).await?;
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({
        "consumers": clients,
        "clients_out_of_entries": exhausted.load(Ordering::Relaxed),
        "throughput": t.json(secs),
        "latency": latency_json(&h),
    }))
}
