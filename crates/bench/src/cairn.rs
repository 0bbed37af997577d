//! Workloads against Cairn over the SLS HTTP API.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use prost::Message;
use serde_json::{json, Value};

use crate::sls::{Conn, Endpoint, PreparedBody};
use crate::stats::{finish_e2e, histogram, join_all, latency_json, record, Tally, Ticker};

pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// PutLogs from `writers` connections until `duration` passes or `total` groups are written.
pub async fn ingest(
    ep: &Endpoint,
    logstore: &str,
    writers: usize,
    duration: Duration,
    total: Option<u64>,
    bodies: Arc<Vec<PreparedBody>>,
) -> Result<Value> {
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::new();
    for w in 0..writers {
        let (ep, ls, bodies, issued) = (
            ep.clone(),
            logstore.to_string(),
            bodies.clone(),
            issued.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&ep).await?;
            let (mut t, mut h) = (Tally::default(), histogram());
            let mut i = w;
            while Instant::now() < deadline {
                if let Some(total) = total {
                    if issued.fetch_add(1, Ordering::Relaxed) >= total {
                        break;
                    }
                }
                let b = &bodies[i % bodies.len()];
                i += writers;
                let t0 = Instant::now();
                match conn.put_logs(&ls, b, None).await {
                    Ok(r) if r.status == 200 => {
                        record(&mut h, t0.elapsed());
                        t.requests += 1;
                        t.groups += 1;
                        t.logs += b.logs as u64;
                        t.raw_bytes += b.raw_len as u64;
                        t.wire_bytes += b.compressed.len() as u64;
                    }
                    Ok(r) => {
                        t.errors += 1;
                        if t.errors <= 3 {
                            eprintln!(
                                "PutLogs: HTTP {}: {}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                            );
                        }
                    }
                    Err(e) => {
                        t.errors += 1;
                        if t.errors <= 3 {
                            eprintln!("PutLogs: {e:#}");
                        }
                        conn = Conn::connect(&ep).await?;
                    }
                }
            }
            Ok((t, h))
        }));
    }
    let (t, h) = join_all(handles).await?;
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({"throughput": t.json(secs), "latency": latency_json(&h)}))
}

/// Reads every shard of `logstore` from begin to end with PullLogs (lz4).
pub async fn pull(
    ep: &Endpoint,
    logstore: &str,
    shards: u32,
    concurrency: usize,
    count: usize,
    decode: bool,
) -> Result<Value> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (ep, ls, next) = (ep.clone(), logstore.to_string(), next.clone());
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&ep).await?;
            let (mut t, mut h) = (Tally::default(), histogram());
            loop {
                let shard = next.fetch_add(1, Ordering::Relaxed) as u32;
                if shard >= shards {
                    break;
                }
                let mut cursor = conn.get_cursor(&ls, shard, "begin").await?;
                let end = conn.get_cursor(&ls, shard, "end").await?;
                while cursor != end {
                    let t0 = Instant::now();
                    let r = conn.pull_logs(&ls, shard, &cursor, count).await?;
                    record(&mut h, t0.elapsed());
                    let n: u64 = r
                        .header("x-log-count")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let raw: u64 = r
                        .header("x-log-bodyrawsize")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    t.requests += 1;
                    t.groups += n;
                    t.raw_bytes += raw;
                    t.wire_bytes += r.body.len() as u64;
                    if decode && n > 0 {
                        let plain = lz4_flex::block::decompress(&r.body, raw as usize)?;
                        let list = cairn_proto::LogGroupList::decode(&plain[..])?;
                        t.logs += list
                            .log_groups
                            .iter()
                            .map(|g| g.logs.len() as u64)
                            .sum::<u64>();
                    }
                    cursor = r
                        .header("x-log-cursor")
                        .ok_or_else(|| anyhow!("PullLogs answered no x-log-cursor"))?
                        .to_string();
                    if n == 0 {
                        break;
                    }
                }
            }
            Ok((t, h))
        }));
    }
    let (t, h) = join_all(handles).await?;
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({"throughput": t.json(secs), "latency": latency_json(&h), "decoded": decode}))
}

/// The raw LogGroup `base` with its topic replaced by `e2e:<k>`: a repeated optional field in
/// protobuf keeps the last value, so appending the field is enough.
pub fn stamped(base: &[u8], k: u64) -> Vec<u8> {
    let topic = format!("e2e:{k}");
    let mut raw = Vec::with_capacity(base.len() + topic.len() + 2);
    raw.extend_from_slice(base);
    raw.push(0x1a);
    raw.push(topic.len() as u8);
    raw.extend_from_slice(topic.as_bytes());
    raw
}

/// Bodies 0..n, body k stamped with k, built and compressed before the run (on every core) so
/// that producing costs the generator no compression.
pub fn stamped_bodies(base: &[u8], logs: usize, n: usize) -> Arc<Vec<PreparedBody>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = n.div_ceil(threads).max(1);
    let mut out = Vec::with_capacity(n);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|from| {
                s.spawn(move || {
                    (from..(from + chunk).min(n))
                        .map(|k| PreparedBody::new(&stamped(base, k as u64), logs))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for p in parts {
            out.extend(p.join().expect("body builder"));
        }
    });
    Arc::new(out)
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The `e2e:<k>` stamp of an encoded LogGroup: its last topic field, found by skipping the
/// other fields without decoding the logs.
pub fn group_stamp(group: &[u8]) -> Option<u64> {
    let (mut pos, mut stamp) = (0usize, None);
    while pos < group.len() {
        let key = varint(group, &mut pos)?;
        match key & 7 {
            0 => {
                varint(group, &mut pos)?;
            }
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let len = varint(group, &mut pos)? as usize;
                let v = group.get(pos..pos + len)?;
                if key >> 3 == 3 {
                    stamp = std::str::from_utf8(v)
                        .ok()
                        .and_then(|t| t.strip_prefix("e2e:"))
                        .and_then(|t| t.parse().ok());
                }
                pos += len;
            }
            _ => return None,
        }
    }
    stamp
}

/// The stamps of the groups of an encoded LogGroupList.
pub fn list_stamps(list: &[u8]) -> Vec<Option<u64>> {
    let (mut pos, mut out) = (0usize, Vec::new());
    while pos < list.len() {
        let Some(key) = varint(list, &mut pos) else {
            break;
        };
        let Some(len) = varint(list, &mut pos) else {
            break;
        };
        let len = len as usize;
        if key == 0x0a {
            out.push(list.get(pos..pos + len).and_then(group_stamp));
        }
        pos += len;
    }
    out
}

/// When stamp `k` was due to be sent, in unix nanoseconds.
pub fn due_nanos(start_nanos: u64, k: u64, rate: f64) -> u64 {
    start_nanos + (k as f64 * 1e9 / rate) as u64
}

/// Produces at a fixed `rate` (groups/s) and consumes from every shard; latency is from the
/// time a group was due to be sent to the moment a consumer holds it decompressed.
#[allow(clippy::too_many_arguments)]
pub async fn e2e(
    ep: &Endpoint,
    logstore: &str,
    shards: u32,
    producers: usize,
    rate: f64,
    duration: Duration,
    bodies: Arc<Vec<PreparedBody>>,
    poll_interval: Duration,
) -> Result<Value> {
    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let producing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Consumers start at the end of each shard.
    let mut readers = Vec::new();
    for shard in 0..shards {
        let mut conn = Conn::connect(ep).await?;
        let cursor = conn.get_cursor(logstore, shard, "end").await?;
        readers.push((shard, conn, cursor));
    }
    let start = Instant::now() + Duration::from_millis(50);
    let start_nanos = unix_nanos() + 50_000_000;
    let mut consumers = Vec::new();
    for (shard, mut conn, mut cursor) in readers {
        let ls = logstore.to_string();
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
                let r = conn.pull_logs(&ls, shard, &cursor, 1000).await?;
                let n: u64 = r
                    .header("x-log-count")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                cursor = r
                    .header("x-log-cursor")
                    .ok_or_else(|| anyhow!("PullLogs answered no x-log-cursor"))?
                    .to_string();
                t.requests += 1;
                if n == 0 {
                    tokio::time::sleep(poll_interval).await;
                    continue;
                }
                let raw: usize = r
                    .header("x-log-bodyrawsize")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let plain = lz4_flex::block::decompress(&r.body, raw)?;
                let now = unix_nanos();
                for k in list_stamps(&plain).into_iter().flatten() {
                    let due = due_nanos(start_nanos, k, rate);
                    record(&mut h, Duration::from_nanos(now.saturating_sub(due)));
                    t.groups += 1;
                }
                t.raw_bytes += raw as u64;
                received.fetch_add(n, Ordering::Relaxed);
            }
            Ok((t, h))
        }));
    }
    let per = producers.max(1);
    let ticker = Ticker::start(start, rate, duration, per, bodies.len());
    let mut handles = Vec::new();
    for p in 0..per {
        let (ep, ls, bodies, sent) = (
            ep.clone(),
            logstore.to_string(),
            bodies.clone(),
            sent.clone(),
        );
        let mut schedule = ticker.schedule(p);
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&ep).await?;
            let (mut t, mut h) = (Tally::default(), histogram());
            while let Some(k) = schedule.next().await {
                let body = &bodies[k];
                let t0 = Instant::now();
                let r = conn.put_logs(&ls, body, None).await?;
                if r.status != 200 {
                    t.errors += 1;
                } else {
                    t.sent_group(&mut h, t0.elapsed(), body.raw_len);
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok((t, h))
        }));
    }
    finish_e2e(rate, start, handles, &producing, consumers).await
}

async fn heartbeat(
    conn: &mut Conn,
    ls: &str,
    cg: &str,
    consumer: &str,
    held: &[u32],
) -> Result<Vec<u32>> {
    let body = Bytes::from(serde_json::to_vec(held)?);
    let r = conn
        .send(
            "POST",
            &format!("/logstores/{ls}/consumergroups/{cg}"),
            &format!("consumer={consumer}&type=heartbeat"),
            Some("application/json"),
            &[],
            body,
            None,
        )
        .await?
        .ok()?;
    let v = r.json()?;
    Ok(v.as_array()
        .ok_or_else(|| anyhow!("heartbeat answered {v}"))?
        .iter()
        .filter_map(|x| x.as_u64().map(|x| x as u32))
        .collect())
}

/// UpdateCheckPoint from `consumers` consumers of one group, each on the shards it holds.
pub async fn checkpoint(
    ep: &Endpoint,
    logstore: &str,
    group: &str,
    consumers: usize,
    duration: Duration,
) -> Result<Value> {
    let mut setup = Conn::connect(ep).await?;
    let r = setup
        .json(
            "POST",
            &format!("/logstores/{logstore}/consumergroups"),
            &json!({"consumerGroup": group, "timeout": 120, "order": false}),
        )
        .await?;
    if r.status != 200 && !String::from_utf8_lossy(&r.body).contains("AlreadyExist") {
        bail!(
            "create consumer group: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    // Join everyone, then heartbeat until every consumer holds what it was given.
    let mut conns = Vec::new();
    for i in 0..consumers {
        let mut c = Conn::connect(ep).await?;
        heartbeat(&mut c, logstore, group, &format!("c{i}"), &[]).await?;
        conns.push(c);
    }
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); consumers];
    for _round in 0..4 {
        for (i, c) in conns.iter_mut().enumerate() {
            held[i] = heartbeat(c, logstore, group, &format!("c{i}"), &held[i].clone()).await?;
        }
    }
    let mut cursors = std::collections::HashMap::new();
    for shard in held.iter().flatten() {
        let c = setup.get_cursor(logstore, *shard, "begin").await?;
        cursors.insert(*shard, c);
    }
    let holding = held.iter().filter(|h| !h.is_empty()).count();
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let mine: Vec<(u32, String)> = held[i].iter().map(|s| (*s, cursors[s].clone())).collect();
        if mine.is_empty() {
            continue;
        }
        let (ls, cg) = (logstore.to_string(), group.to_string());
        handles.push(tokio::spawn(async move {
            let (mut t, mut h) = (Tally::default(), histogram());
            let path = format!("/logstores/{ls}/consumergroups/{cg}");
            let query = format!("consumer=c{i}&forceSuccess=false&type=checkpoint");
            let mut k = 0usize;
            let mut last_beat = Instant::now();
            while Instant::now() < deadline {
                if last_beat.elapsed() > Duration::from_secs(10) {
                    let ids: Vec<u32> = mine.iter().map(|m| m.0).collect();
                    heartbeat(&mut conn, &ls, &cg, &format!("c{i}"), &ids).await?;
                    last_beat = Instant::now();
                }
                let (shard, cursor) = &mine[k % mine.len()];
                k += 1;
                let body = Bytes::from(serde_json::to_vec(
                    &json!({"shard": shard, "checkpoint": cursor}),
                )?);
                let t0 = Instant::now();
                let r = conn
                    .send(
                        "POST",
                        &path,
                        &query,
                        Some("application/json"),
                        &[],
                        body,
                        None,
                    )
                    .await?;
                if r.status == 200 {
                    record(&mut h, t0.elapsed());
                    t.requests += 1;
                } else {
                    t.errors += 1;
                    if t.errors <= 3 {
                        eprintln!(
                            "UpdateCheckPoint: HTTP {}: {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        );
                    }
                }
            }
            Ok((t, h))
        }));
    }
    let (t, h) = join_all(handles).await?;
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({
        "consumers": consumers,
        "consumers_holding_shards": holding,
        "throughput": t.json(secs),
        "latency": latency_json(&h),
    }))
}

/// GetCursor by time and GetCursorTime on one shard, one request at a time.
pub async fn seek(ep: &Endpoint, logstore: &str, shard: u32, queries: usize) -> Result<Value> {
    use rand::Rng;
    let mut conn = Conn::connect(ep).await?;
    let begin = conn.get_cursor(logstore, shard, "begin").await?;
    let end = conn.get_cursor(logstore, shard, "end").await?;
    let positions = cairn_proto::decode_cursor(&end)? - cairn_proto::decode_cursor(&begin)?;
    let t_begin = conn.get_cursor_time(logstore, shard, &begin).await?;
    let t_end = (unix_nanos() / 1_000_000_000) as i64;
    let mut rng = rand::thread_rng();
    let (mut hc, mut ht) = (histogram(), histogram());
    let mut cursors = Vec::with_capacity(queries);
    let start = Instant::now();
    for _ in 0..queries {
        let t = rng.gen_range(t_begin..=t_end.max(t_begin));
        let t0 = Instant::now();
        let c = conn.get_cursor(logstore, shard, &t.to_string()).await?;
        record(&mut hc, t0.elapsed());
        if c != end {
            cursors.push(c);
        }
    }
    let cursor_secs = start.elapsed().as_secs_f64();
    let mut errors = 0u64;
    for c in &cursors {
        let t0 = Instant::now();
        match conn.get_cursor_time(logstore, shard, c).await {
            Ok(_) => record(&mut ht, t0.elapsed()),
            Err(_) => errors += 1,
        }
    }
    Ok(json!({
        "shard_positions": positions,
        "time_span_s": t_end - t_begin,
        "get_cursor_by_time": latency_json(&hc),
        "get_cursor_by_time_per_s": queries as f64 / cursor_secs,
        "get_cursor_time": latency_json(&ht),
        "get_cursor_time_errors": errors,
    }))
}

/// Creates `logstores` logstores of `shards` shards and writes one small group to every shard.
pub async fn many_shards(
    ep: &Endpoint,
    prefix: &str,
    logstores: usize,
    shards: u32,
) -> Result<Value> {
    let body = crate::data::bodies(1, 10, 200, None, 7).remove(0);
    let mut conn = Conn::connect(ep).await?;
    let mut written = 0u64;
    for l in 0..logstores {
        let name = format!("{prefix}{l}");
        crate::sls::ensure_logstore(ep, &name, shards).await?;
        for s in conn.list_shards(&name).await? {
            let key = s["inclusiveBeginKey"]
                .as_str()
                .ok_or_else(|| anyhow!("shard without inclusiveBeginKey: {s}"))?
                .to_string();
            conn.put_logs(&name, &body, Some(&key))
                .await?
                .ok()
                .context("PutLogs to a shard")?;
            written += 1;
        }
    }
    Ok(json!({"logstores": logstores, "shards_written": written}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn stamps_survive_encoding_and_are_found_without_decoding() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let base = crate::data::group(&mut rng, 5, 250, 1_700_000_000).encode_to_vec();
        let a = stamped(&base, 42);
        let decoded = cairn_proto::LogGroup::decode(&a[..]).unwrap();
        assert_eq!(decoded.topic.as_deref(), Some("e2e:42"));
        assert_eq!(decoded.logs.len(), 5);
        assert_eq!(group_stamp(&a), Some(42));
        assert_eq!(group_stamp(&base), None);

        let mut list = Vec::new();
        cairn_proto::frame_log_group(&mut list, &a);
        cairn_proto::frame_log_group(&mut list, &stamped(&base, 7));
        cairn_proto::frame_log_group(&mut list, &base);
        assert_eq!(list_stamps(&list), vec![Some(42), Some(7), None]);
    }

    #[test]
    fn prepared_bodies_round_trip() {
        let bodies = stamped_bodies(&[], 0, 3);
        assert_eq!(bodies.len(), 3);
        for (k, b) in bodies.iter().enumerate() {
            let raw = lz4_flex::block::decompress(&b.compressed, b.raw_len).unwrap();
            assert_eq!(group_stamp(&raw), Some(k as u64));
            assert_eq!(b.md5, cairn_auth::sls::content_md5(&b.compressed));
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(crate::sls::pct("MTIz+/="), "MTIz%2B%2F%3D");
        assert_eq!(crate::sls::pct("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn groups_have_the_requested_shape() {
        let b = crate::data::bodies(2, 100, 250, None, 3);
        assert_eq!(b[0].logs, 100);
        assert!((30_000..36_000).contains(&b[0].raw_len), "{}", b[0].raw_len);
        let large = crate::data::bodies(1, 100, 250, Some(1 << 20), 3);
        assert!(large[0].raw_len <= 1 << 20 && large[0].raw_len > (1 << 20) - 1000);
    }
}
