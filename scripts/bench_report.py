#!/usr/bin/env python3
"""Turns the JSON files of scripts/bench.sh into results.json, a Markdown report and a chart.

Only the chart needs matplotlib; without it the report is written and the chart is skipped.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

WRITERS = [1, 2, 4, 8, 16]


def load(raw, name):
    path = os.path.join(raw, name + ".json")
    with open(path) as f:
        return json.load(f)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def machine(args):
    cpu = ""
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    root = sh("df -h --output=source,fstype,size . | tail -1")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "filesystem": " ".join(root.split()),
        "rustc": sh("rustc --version"),
        "redis": args.redis_version,
        "commit": sh("git rev-parse --short HEAD"),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def lat(v):
    return {k: v[k] for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms", "samples") if k in v}


def row(scenario, cairn, peer, unit, target, met, ratio=None, **extra):
    if ratio is None and cairn is not None and peer:
        ratio = cairn / peer
    r = {"scenario": scenario, "cairn": cairn, "peer": peer, "unit": unit,
         "ratio": None if ratio is None else round(ratio, 3), "target": target, "met": met}
    r.update(extra)
    return r


def build(raw):
    rows = []
    ic, ir = load(raw, "ingest-cairn-w16"), load(raw, "ingest-redis-w16")
    c, p = ic["throughput"]["raw_mb_s"], ir["throughput"]["raw_mb_s"]
    rows.append(row("ingest", c, p, "raw MB/s", "cairn >= 3x peer", c >= 3 * p,
                    cairn_latency=lat(ic["latency"]), peer_latency=lat(ir["latency"]),
                    cairn_logs_per_s=ic["throughput"]["logs_per_s"],
                    peer_logs_per_s=ir["throughput"]["logs_per_s"],
                    cairn_groups_per_s=ic["throughput"]["groups_per_s"],
                    peer_groups_per_s=ir["throughput"]["groups_per_s"],
                    shape=ic.get("shape"), writers=16,
                    peer_setup="Redis XADD, 16 clients, pipelines of 16, appendfsync always"))
    for w in WRITERS:
        a, b = load(raw, f"ingest-cairn-w{w}"), load(raw, f"ingest-redis-w{w}")
        rows.append(row(f"ingest-writers-{w}", a["throughput"]["raw_mb_s"], b["throughput"]["raw_mb_s"],
                        "raw MB/s", None, None, cairn_latency=lat(a["latency"]), peer_latency=lat(b["latency"]),
                        cairn_groups_per_s=a["throughput"]["groups_per_s"],
                        peer_groups_per_s=b["throughput"]["groups_per_s"]))
    large, dd, fs = load(raw, "ingest-large-cairn"), load(raw, "disk-dd"), load(raw, "disk-fsync")
    c = large["throughput"]["raw_mb_s"]
    rows.append(row("ingest-large", c, dd["mb_s"], "raw MB/s", "cairn >= 50% of disk", c >= 0.5 * dd["mb_s"],
                    cairn_latency=lat(large["latency"]), peer_setup="disk: dd bs=1M oflag=direct conv=fdatasync",
                    disk_fsync_per_mib_mb_s=fs["mb_s"], shape=large.get("shape"), writers=4))
    pc, pr = load(raw, "pull-cairn"), load(raw, "pull-redis")
    c, p = pc["throughput"]["raw_mb_s"], pr["throughput"]["raw_mb_s"]
    rows.append(row("pull", c, p, "raw MB/s", "cairn >= 5x peer and >= 1000 MB/s", c >= 5 * p and c >= 1000,
                    cairn_latency=lat(pc["latency"]), peer_latency=lat(pr["latency"]),
                    cairn_groups=pc["throughput"]["groups"], peer_groups=pr["throughput"]["groups"],
                    cairn_groups_per_s=pc["throughput"]["groups_per_s"],
                    peer_groups_per_s=pr["throughput"]["groups_per_s"],
                    peer_setup="Redis XREADGROUP COUNT 1000, one reader per stream"))
    ec, er = load(raw, "e2e-cairn"), load(raw, "e2e-redis")
    c, p = ec["latency"]["p99_ms"], er["latency"]["p99_ms"]
    rows.append(row("e2e-latency-p99", c, p, "ms", "cairn p99 <= 5 ms", c <= 5.0,
                    cairn_latency=lat(ec["latency"]), peer_latency=lat(er["latency"]),
                    rate_groups_per_s=ec["rate_target"],
                    cairn_achieved_groups_per_s=ec["produced"]["groups_per_s"],
                    peer_achieved_groups_per_s=er["produced"]["groups_per_s"],
                    cairn_consumed=ec["consumed_groups"], peer_consumed=er["consumed_groups"],
                    cairn_ack_latency=lat(ec["ack_latency"]), peer_ack_latency=lat(er["ack_latency"]),
                    poll_ms=ec.get("poll_ms"), producers=ec.get("producers")))
    cc, cr = load(raw, "checkpoint-cairn"), load(raw, "checkpoint-redis")
    c, p = cc["throughput"]["requests_per_s"], cr["throughput"]["requests_per_s"]
    rows.append(row("checkpoint-commits", c, p, "commits/s", "cairn >= 20000/s", c >= 20000,
                    cairn_latency=lat(cc["latency"]), peer_latency=lat(cr["latency"]),
                    cairn_errors=cc["throughput"]["errors"], consumers=cc["consumers"],
                    consumers_holding_shards=cc.get("consumers_holding_shards"),
                    peer_setup="Redis XACK of pending entries, 64 clients, one command at a time"))
    sk, sb = load(raw, "seek-cairn"), load(raw, "seek-build")
    for name, key in (("seek-get-cursor-by-time-p99", "get_cursor_by_time"),
                      ("seek-get-cursor-time-p99", "get_cursor_time")):
        c = sk[key]["p99_ms"]
        rows.append(row(name, c, None, "ms", "p99 <= 1 ms", c <= 1.0, cairn_latency=lat(sk[key]),
                        shard_log_groups=sb["throughput"]["groups"], shard_positions=sk["shard_positions"],
                        build_groups_per_s=sb["throughput"]["groups_per_s"]))
    rs = load(raw, "restart-cairn")
    for name, key in (("restart-after-clean-stop", "after_clean_stop"), ("restart-after-sigkill", "after_sigkill")):
        c = rs[key]["to_first_request_s"]
        rows.append(row(name, c, None, "s", "<= 2 s", c <= 2.0, to_listening_s=rs[key]["to_listening_s"],
                        data_bytes=rs["data_bytes"]))
    idle = load(raw, "idle-cairn")
    rss = (idle.get("server_memory") or {}).get("rss_kib")
    c = None if rss is None else rss / 1024
    rows.append(row("idle-rss-1000-shards", c, None, "MiB", "<= 128 MiB", c is not None and c <= 128,
                    shards=idle["shards_written"],
                    empty_server_rss_mib=((idle.get("server_memory_before") or {}).get("rss_kib") or 0) / 1024))
    if os.path.exists(os.path.join(raw, "ingest-indexed-cairn.json")):
        c = load(raw, "ingest-indexed-cairn")["throughput"]["raw_mb_s"]
        p = load(raw, "ingest-cairn-w16")["throughput"]["raw_mb_s"]
        lag = load(raw, "ingest-indexed-lag")["lag_s"]
        rows.append(row("ingest-with-index", c, p, "raw MB/s", "cairn >= 70% of ingest without an index",
                        c >= 0.7 * p, index_lag_after_ingest_s=lag))
        # Indexing rate: the raw bytes written, over the time from the first write until the
        # last of them was indexed (the indexer runs during the ingest and after it).
        t = load(raw, "ingest-indexed-cairn")["throughput"]
        rate = t["raw_bytes"] / 1e6 / (t["seconds"] + lag)
        rows.append(row("indexing-rate", rate, p / 2, "raw MB/s",
                        "indexing keeps up with ingest at half its maximum (>= half of ingest without an index)",
                        rate >= p / 2, raw_bytes=t["raw_bytes"], ingest_s=t["seconds"], lag_s=lag))
    if os.path.exists(os.path.join(raw, "query.json")):
        rows.extend(load(raw, "query")["rows"])
    return rows


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if unit != "ms" else f"{v:.3f}"


def markdown(rows, raw, args, mach):
    by = {r["scenario"]: r for r in rows}
    dd, fs = load(raw, "disk-dd"), load(raw, "disk-fsync")
    ic = load(raw, "ingest-cairn-w16")
    shape = ic.get("shape", {})
    mem = load(raw, "final-memory")
    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w(f"Cairn against Redis {mach['redis'].split()[2].removeprefix('v=') if mach['redis'] else ''} with `appendonly yes` and "
      "`appendfsync always`, both acknowledging a write only once it is on disk. "
      f"Run of {mach['date_utc']} ({args.mode} mode, {args.seconds} s of workloads), commit `{mach['commit']}`.")
    w("")
    w("Reproduce with:")
    w("")
    w("```sh")
    w(args.command)
    w("```")
    w("")
    w("`--quick` runs every workload for a few seconds (about two minutes in all after the build); the full run "
      "uses longer runs, a seek shard of 10 million LogGroups and more data on disk for the restart. "
      "Raw figures are in `target/bench/results.json` and `target/bench/raw/`.")
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    w(f"| CPU | {mach['cpu']}, {mach['cores']} cores (load generator, Cairn and Redis share them) |")
    w(f"| Memory | {mach['memory_gib']} GiB |")
    w(f"| Disk | {mach['filesystem']}; dd `bs=1M oflag=direct conv=fdatasync`: {dd['mb_s']:.0f} MB/s; "
      f"1 MiB write + fdatasync loop: {fs['mb_s']:.0f} MB/s (p50 {fs['write_sync_latency']['p50_ms']:.2f} ms per MiB) |")
    w(f"| Kernel | {mach['kernel']} |")
    w(f"| Toolchain | {mach['rustc']} |")
    w("")
    w("## Results")
    w("")
    w("Ratio is Cairn divided by the peer (for latencies, lower is better). MB/s counts raw (uncompressed) "
      "LogGroup bytes, 10^6 bytes per MB.")
    w("")
    w("| Scenario | Cairn | Peer | Unit | Ratio | Target | Met |")
    w("|---|---:|---:|---|---:|---|---|")
    main = ["ingest", "ingest-large", "pull", "e2e-latency-p99", "checkpoint-commits",
            "seek-get-cursor-by-time-p99", "seek-get-cursor-time-p99", "restart-after-clean-stop",
            "restart-after-sigkill", "idle-rss-1000-shards"]
    peers = {"ingest": "Redis XADD", "ingest-large": "disk (dd)", "pull": "Redis XREADGROUP",
             "e2e-latency-p99": "Redis XADD → XREADGROUP", "checkpoint-commits": "Redis XACK"}
    main += [s for s in by if s.startswith(("query-", "index-", "ingest-with-", "indexing-"))]
    for s in main:
        r = by[s]
        peer = fmt(r["peer"], r["unit"])
        if s in peers and r["peer"] is not None:
            peer = f"{peer} ({peers[s]})"
        elif r.get("peer_name") and r["peer"] is not None:
            peer = f"{peer} ({r['peer_name']})"
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        w(f"| {s} | {fmt(r['cairn'], r['unit'])} | {peer} | {r['unit']} | {ratio} | {r['target']} | {fmt(r['met'])} |")
    w("")
    w("## Latency")
    w("")
    w("Per request, measured by the load generator from sending the request to reading the whole response "
      "(for Redis ingest: one pipeline of 16 XADDs). End-to-end latency runs from the moment a LogGroup was "
      "due to be sent to the moment a consumer holds it decompressed.")
    w("")
    w("| Scenario | System | p50 ms | p99 ms | p99.9 ms | max ms | samples |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for s in ["ingest", "ingest-large", "pull", "e2e-latency-p99", "checkpoint-commits",
              "seek-get-cursor-by-time-p99", "seek-get-cursor-time-p99"]:
        r = by[s]
        for system, key in (("Cairn", "cairn_latency"), ("Redis", "peer_latency")):
            l = r.get(key)
            if l:
                w(f"| {s.replace('-p99', '')} | {system} | {l['p50_ms']:.3f} | {l['p99_ms']:.3f} | "
                  f"{l['p999_ms']:.3f} | {l['max_ms']:.3f} | {l['samples']:,} |")
    w("")
    w("## CPU time")
    w("")
    w("CPU seconds (user + system) used by each server process and by the load generator during a workload, "
      "from /proc. These do not depend on how busy the rest of the machine was.")
    w("")
    w("| Workload | System | Server CPU s | Generator CPU s | Wall s | Server CPU per LogGroup | Server CPU s per GB raw |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for name, label, system in (("ingest-cairn-w16", "ingest", "Cairn"), ("ingest-redis-w16", "ingest", "Redis"),
                                ("ingest-large-cairn", "ingest-large", "Cairn"),
                                ("pull-cairn", "pull", "Cairn"), ("pull-redis", "pull", "Redis")):
        v = load(raw, name)
        t = v.get("throughput", {})
        cpu, gen = v.get("server_cpu_s"), v.get("generator_cpu_s")
        if cpu is None:
            continue
        per = t.get("groups") or t.get("requests")
        per_s = f"{cpu / per * 1e6:,.0f} µs" if per else "–"
        gb = t.get("raw_bytes", 0) / 1e9
        per_gb = f"{cpu / gb:.2f}" if gb else "–"
        w(f"| {label} | {system} | {cpu:.2f} | {gen:.2f} | {t.get('seconds', 0):.1f} | {per_s} | {per_gb} |")
    w("")
    loads = []
    for f in sorted(os.listdir(raw)):
        if f.endswith(".json"):
            la = load(raw, f[:-5]).get("loadavg_1m") if isinstance(load(raw, f[:-5]), dict) else None
            loads += [x for x in (la or []) if x is not None]
    if loads:
        w(f"The 1-minute load average during the workloads ranged from {min(loads):.1f} to {max(loads):.1f} on "
          f"{mach['cores']} cores. The load generator and both servers together account for about 2; more than "
          "that means other processes competed for the CPU during the run, and throughput figures are lower "
          "than on an otherwise idle machine.")
        w("")
    w("## Ingest against concurrency")
    w("")
    w("![Ingest throughput against concurrent writers](benchmarks-ingest.png)")
    w("")
    w("| Writers | Cairn raw MB/s | Cairn LogGroups/s | Redis raw MB/s | Redis LogGroups/s | Ratio |")
    w("|---:|---:|---:|---:|---:|---:|")
    for n in WRITERS:
        r = by[f"ingest-writers-{n}"]
        w(f"| {n} | {r['cairn']:.1f} | {r['cairn_groups_per_s']:,.0f} | {r['peer']:.1f} | "
          f"{r['peer_groups_per_s']:,.0f} | {r['ratio']:.2f}× |")
    w("")
    e = by["e2e-latency-p99"]
    ck = by["checkpoint-commits"]
    sk = by["seek-get-cursor-by-time-p99"]
    rs = by["restart-after-clean-stop"]
    rk = by["restart-after-sigkill"]
    idle = by["idle-rss-1000-shards"]
    w("## Workloads")
    w("")
    w(f"- **ingest**: 16 writers, one keep-alive HTTP/1.1 connection each, PutLogs to `shards/lb` of a 16-shard "
      f"logstore with v1-signed requests. Each LogGroup holds {shape.get('logs_per_group')} access-log lines of "
      f"about 250 bytes of key/value text ({shape.get('raw_bytes_per_group'):,} bytes raw, "
      f"{shape.get('lz4_bytes_per_group'):,} bytes after lz4); 64 distinct groups are built and compressed "
      "before the run and cycled. Cairn uses its default `fsync = \"always\"` (group commit). Redis gets the "
      "same compressed bytes through XADD (fields: body, raw size, log count) from 16 clients over 16 "
      "streams, 16 commands per pipeline. "
      f"Cairn: {by['ingest']['cairn_logs_per_s']:,.0f} logs/s, {by['ingest']['cairn_groups_per_s']:,.0f} "
      f"LogGroups/s; Redis: {by['ingest']['peer_logs_per_s']:,.0f} logs/s, "
      f"{by['ingest']['peer_groups_per_s']:,.0f} LogGroups/s.")
    w(f"- **ingest-large**: 4 writers, LogGroups of 1 MiB raw into a 4-shard logstore, compared with the "
      "disk's sequential bandwidth from dd with O_DIRECT and a final fdatasync (the 1 MiB write + fdatasync "
      f"loop reached {by['ingest-large']['disk_fsync_per_mib_mb_s']:.0f} MB/s).")
    w(f"- **pull**: every shard of the ingest logstore read from begin to end, PullLogs count=1000 with lz4, "
      f"one connection per shard ({by['pull']['cairn_groups']:,} LogGroups); Redis reads its 16 streams with "
      f"XREADGROUP COUNT 1000 ({by['pull']['peer_groups']:,} entries). Neither side decodes the payload "
      "(`cairn-bench pull --decode` does). The data was just written, so it is served from the page cache.")
    w(f"- **e2e**: {e['rate_groups_per_s']:,.0f} LogGroups/s ({args.e2e_fraction} of Cairn's ingest maximum), "
      f"{e.get('producers')} producer connections, each LogGroup released to its producer at its due time "
      "by a thread of the generator that sleeps until then (tokio's millisecond timer would release them "
      "in bursts once a millisecond, and add up to a millisecond of its own), "
      f"a 4-shard logstore; one consumer per shard polls PullLogs and pauses {e.get('poll_ms')} ms (a tokio timer: 1–2 ms) after an "
      "empty answer, decompresses each answer and reads each group's stamp (its topic) without decoding the "
      "logs. The stamped groups are built and compressed before the run, so producing costs the generator "
      "only signing and HTTP. Redis: the same bodies by XADD to 4 streams, one blocking XREADGROUP consumer "
      "per stream doing the same decompression. Produced: Cairn "
      f"{e['cairn_achieved_groups_per_s']:,.0f}/s, Redis {e['peer_achieved_groups_per_s']:,.0f}/s; PutLogs "
      f"acknowledgement p99 {e['cairn_ack_latency']['p99_ms']:.2f} ms, XADD p99 "
      f"{e['peer_ack_latency']['p99_ms']:.2f} ms.")
    w(f"- **checkpoint**: {ck['consumers']} consumers of one consumer group on a 64-shard logstore "
      f"({ck['consumers_holding_shards']} held a shard after heartbeats), each sending UpdateCheckPoint "
      "(forceSuccess=false) for its shard one request at a time. Redis: 64 clients each XACK one pending "
      "entry at a time.")
    w(f"- **seek**: one shard holding {sk['shard_log_groups']:,} small LogGroups (written at "
      f"{sk['build_groups_per_s']:,.0f}/s by 32 writers); GetCursor with `from=<unix time>` at random times "
      "in the shard's span, then GetCursorTime on the cursors returned, one request at a time.")
    w(f"- **restart**: the server holding this run's data ({rs['data_bytes'] / 1e9:.2f} GB on disk) is "
      "stopped with SIGTERM and started again; the time runs from process start to the first successful "
      f"GetCursor (the \"cairn listening on\" line came after {rs['to_listening_s']:.3f} s). It is then "
      f"killed with SIGKILL and started once more: {rk['cairn']:.3f} s to the first request.")
    w(f"- **idle RSS**: a fresh server with 10 logstores of 100 shards, one LogGroup written to each shard, "
      f"then idle; VmRSS from /proc. The same server with no logstores used {idle['empty_server_rss_mib']:.1f} MiB.")
    cm, rm = mem.get("cairn") or {}, mem.get("redis") or {}
    if cm.get("rss_kib") and rm.get("rss_kib"):
        w(f"- Memory after the workloads: Cairn RSS {cm['rss_kib'] / 1024:.0f} MiB (peak "
          f"{cm['hwm_kib'] / 1024:.0f} MiB); Redis RSS {rm['rss_kib'] / 1024:.0f} MiB (peak "
          f"{rm['hwm_kib'] / 1024:.0f} MiB). Redis holds its streams in memory; the ingest streams are "
          "flushed (FLUSHALL, MEMORY PURGE) after the pull workload, which no later workload reads, so that "
          "the workloads after it do not run with that memory taken.")
    w("")
    w("The load generator is `cairn-bench` (crates/bench). It runs on the same two cores as the servers, so "
      "its CPU time (request signing, HTTP, lz4 decompression in e2e) is taken from them; it signs every request "
      "(HMAC-SHA1) while the Content-MD5 of each pre-built body is computed once.")
    w("")
    w("Where the server's time goes per request, and what would close each missed target, is in "
      "[performance.md](performance.md).")
    w("")
    return "\n".join(out)


def chart(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:
        print(f"chart skipped: matplotlib unavailable ({e})", file=sys.stderr)
        return False
    by = {r["scenario"]: r for r in rows}
    c = [by[f"ingest-writers-{n}"]["cairn"] for n in WRITERS]
    p = [by[f"ingest-writers-{n}"]["peer"] for n in WRITERS]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(WRITERS, c, marker="o", label="Cairn PutLogs (fsync always)")
    ax.plot(WRITERS, p, marker="s", label="Redis XADD (appendfsync always, pipelined)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(WRITERS)
    ax.set_xticklabels([str(n) for n in WRITERS])
    ax.set_xlabel("concurrent writers")
    ax.set_ylabel("raw MB/s")
    ax.set_ylim(bottom=0)
    ax.set_title("Durable ingest of 100-log LogGroups")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--mode", default="full")
    ap.add_argument("--command", default="scripts/bench.sh")
    ap.add_argument("--seconds", default="?")
    ap.add_argument("--cairn", default="")
    ap.add_argument("--redis-version", default="")
    ap.add_argument("--e2e-fraction", default="0.5")
    ap.add_argument("--date", default="", help="date of the run, when the report is written later")
    args = ap.parse_args()
    rows = build(args.raw)
    mach = machine(args)
    if args.date:
        mach["date_utc"] = args.date
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=2)
    with open(args.md, "w") as f:
        f.write(markdown(rows, args.raw, args, mach))
    chart(rows, args.png)
    for r in rows:
        if not r["scenario"].startswith("ingest-writers"):
            met = "" if r["met"] is None else ("met" if r["met"] else "MISSED")
            print(f"{r['scenario']:32} cairn={fmt(r['cairn'], r['unit']):>10} peer={fmt(r['peer'], r['unit']):>10} "
                  f"{r['unit']:10} {met}")


if __name__ == "__main__":
    main()
