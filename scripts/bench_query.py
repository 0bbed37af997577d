#!/usr/bin/env python3
"""Query benchmarks (issue: query and analysis), run by scripts/bench.sh.

Generates access-log lines (ip, method, path, status, latency, user agent, message), writes
them to a 4-shard logstore of a running Cairn with a full-text plus 6-field index and, the same
lines, to a JSON-lines file and a SQLite FTS5 table. Once Cairn has indexed them it times, side
by side on the same data:

- keyword search, newest 100 hits (`status:500 and path:/api/*`): Cairn through the official
  SDK, ripgrep over the JSON lines, SQLite FTS5;
- `* | select status, count(*) ... group by status` and a date_trunc('minute') time series with
  approx_percentile(latency): Cairn against DuckDB over the JSON-lines file;
- GetHistograms over the whole range in 60 buckets;
- the size of the segment indexes against the raw bytes of the lines.

Writes one JSON object with a `rows` list (scenario, cairn, peer, unit, target, met, ratio) that
scripts/bench_report.py adds to target/bench/results.json.
"""
import argparse
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests
import requests.adapters

SEPARATORS = ", '\";=()[]{}?@&<>/:\n\t\r"
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
PATHS = ["/api/v1/orders", "/api/v1/orders/{id}", "/api/v1/users/{id}/profile", "/api/v2/search",
         "/static/app.js", "/healthz", "/api/v1/cart/items", "/login"]
STATUS = ["200", "200", "200", "200", "201", "204", "304", "400", "404", "500"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "curl/8.5.0", "okhttp/4.12.0",
          "Go-http-client/1.1", "python-requests/2.32.3"]
WORDS = ["request", "served", "upstream", "timeout", "cache", "miss", "hit", "retry", "user",
         "order", "payment", "declined", "accepted", "slow", "query", "db", "pool", "connection"]
KEYS = ["ip", "method", "path", "status", "latency", "ua", "message"]
GROUP = 4096
SPAN = 3600


def nodelay(orig):
    """The SDK reaches Cairn through HTTP_PROXY; without TCP_NODELAY every request with a body
    waits for a delayed ACK (~40 ms), which would be measured as Cairn's latency."""
    def proxy_manager_for(self, proxy, **kw):
        kw.setdefault("socket_options", [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        return orig(self, proxy, **kw)
    return proxy_manager_for


requests.adapters.HTTPAdapter.proxy_manager_for = nodelay(requests.adapters.HTTPAdapter.proxy_manager_for)


def log(msg):
    print(time.strftime("%H:%M:%S", time.gmtime()), "[bench-query]", msg, file=sys.stderr, flush=True)


def lines(n, t0, seed=1):
    """`n` access-log lines in time order, each a dict of strings plus `time`."""
    rnd = random.Random(seed)
    for i in range(n):
        path = rnd.choice(PATHS).replace("{id}", str(rnd.randint(1, 99999)))
        yield {
            "time": t0 + i * SPAN // n,
            "ip": f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
            "method": rnd.choice(METHODS),
            "path": path,
            "status": rnd.choice(STATUS),
            "latency": str(rnd.randint(1, 2000)),
            "ua": rnd.choice(AGENTS),
            "message": " ".join(rnd.choices(WORDS, k=rnd.randint(3, 8))),
        }


def start(cairn, data, port):
    out = open(data.parent / "cairn-query.log", "ab")
    p = subprocess.Popen([cairn, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
                         stdout=out, stderr=out)
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return p
        except OSError:
            if p.poll() is not None:
                raise SystemExit("cairn exited during start-up")
            time.sleep(0.1)
    raise SystemExit("cairn did not listen")


def timed(f, n):
    """Latencies of `n` calls of `f`, in ms (after one warm-up call)."""
    f()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p99(ms):
    return sorted(ms)[max(0, int(len(ms) * 0.99 + 0.5) - 1)]


def row(scenario, cairn, peer, unit, target, met, **extra):
    r = {"scenario": scenario, "cairn": round(cairn, 3), "peer": None if peer is None else round(peer, 3),
         "unit": unit, "ratio": None if not peer else round(cairn / peer, 3), "target": target, "met": bool(met)}
    r.update(extra)
    return r


def du(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def sdk(port):
    """The official SDK, reaching Cairn on `port` through HTTP_PROXY."""
    from aliyun.log import LogClient
    os.environ["HTTP_PROXY"] = os.environ["http_proxy"] = f"http://127.0.0.1:{port}"
    for k in ("NO_PROXY", "no_proxy"):
        os.environ.pop(k, None)
    return LogClient("localhost", os.environ["CAIRN_ACCESS_KEY_ID"], os.environ["CAIRN_ACCESS_KEY_SECRET"])


def index_state(client, project, ls):
    _, headers = client._send("GET", project, None, f"/logstores/{ls}/index", {}, {})
    return json.loads(headers["x-cairn-indexing"])


def ingest_index(a):
    """`--index-logstore`: a full-text plus 6-field index on cairn-bench's generated logs;
    with `--wait`, waits until they are indexed and writes how long that took."""
    from aliyun.log.index_config import IndexConfig, IndexKeyConfig, IndexLineConfig
    client = sdk(a.port)
    if a.wait:
        started = time.time()
        while not index_state(client, a.project, a.index_logstore)["complete"]:
            time.sleep(0.1)
        json.dump({"lag_s": time.time() - started}, open(a.out, "w"))
        return
    text = lambda: IndexKeyConfig(token_list=list(SEPARATORS), doc_value=True)
    client.create_index(a.project, a.index_logstore, IndexConfig(
        line_config=IndexLineConfig(token_list=list(SEPARATORS)),
        key_config_list={"host": text(), "method": text(), "path": text(), "client": text(),
                         "status": IndexKeyConfig(index_type="long", doc_value=True),
                         "latency_ms": IndexKeyConfig(index_type="double", doc_value=True)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn")
    ap.add_argument("--work")
    ap.add_argument("--lines", type=int)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--out")
    ap.add_argument("--index-logstore", help="only create (or --wait for) the ingest benchmark's index")
    ap.add_argument("--port", type=int)
    ap.add_argument("--project", default="bench")
    ap.add_argument("--wait", action="store_true")
    a = ap.parse_args()
    if a.index_logstore:
        return ingest_index(a)

    from aliyun.log import GetHistogramsRequest, LogItem, PutLogsRequest
    from aliyun.log.index_config import IndexConfig, IndexKeyConfig, IndexLineConfig

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start(a.cairn, data, port)
    client = sdk(port)
    try:
        project, ls = "benchq", "access"
        client.create_project(project, "query benchmark")
        client.create_logstore(project, ls, ttl=3650, shard_count=4)
        text = lambda: IndexKeyConfig(token_list=list(SEPARATORS), doc_value=True)
        client.create_index(project, ls, IndexConfig(
            line_config=IndexLineConfig(token_list=list(SEPARATORS)),
            key_config_list={"ip": text(), "method": text(), "path": text(),
                             "status": IndexKeyConfig(index_type="long", doc_value=True),
                             "latency": IndexKeyConfig(index_type="long", doc_value=True),
                             "ua": text()}))

        t0 = int(time.time()) // 60 * 60 - 2 * SPAN
        jsonl = work / "access.jsonl"
        db = sqlite3.connect(work / "access.db")
        db.execute("CREATE VIRTUAL TABLE access USING fts5(ip, method, path, status, latency UNINDEXED, "
                   "ua, message, time UNINDEXED)")
        log(f"writing {a.lines:,} lines to Cairn, {jsonl.name} and SQLite FTS5")
        started = time.time()
        raw = 0
        with open(jsonl, "w") as f:
            group, rows = [], []
            for l in lines(a.lines, t0):
                s = json.dumps(l, separators=(",", ":"))
                raw += len(s) + 1
                f.write(s + "\n")
                group.append(LogItem(l["time"], [(k, l[k]) for k in KEYS]))
                rows.append(tuple(l[k] for k in KEYS[:-1]) + (l["message"], l["time"]))
                if len(group) == GROUP:
                    client.put_logs(PutLogsRequest(project, ls, "", "", group, compress=True))
                    db.executemany("INSERT INTO access VALUES (?,?,?,?,?,?,?,?)", rows)
                    group, rows = [], []
            if group:
                client.put_logs(PutLogsRequest(project, ls, "", "", group, compress=True))
                db.executemany("INSERT INTO access VALUES (?,?,?,?,?,?,?,?)", rows)
        db.commit()
        log(f"written in {time.time() - started:.0f} s; waiting for the indexes")
        while not (state := index_state(client, project, ls))["complete"]:
            time.sleep(0.2)
        log(f"indexed {state['totalLogGroups']} LogGroups after {time.time() - started:.0f} s")
        frm, to = t0, t0 + SPAN + 1
        q = a.queries
        out = []

        # Keyword search, newest 100 hits.
        kw = "status:500 and path:/api/*"
        got = client.get_log(project, ls, frm, to, query=kw, size=100, reverse=True)
        assert got.is_completed() and len(got.get_logs()) == 100, got.get_logs()
        cairn_ms = timed(lambda: client.get_log(project, ls, frm, to, query=kw, size=100, reverse=True), q)
        rg = subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        rg_ms = timed(lambda: subprocess.run(["rg", "-c", '"path":"/api/[^"]*","status":"500"', str(jsonl)],
                                             capture_output=True, check=True), 5)
        fts = ("SELECT * FROM access WHERE access MATCH 'status:500 AND path:api' "
               "ORDER BY time DESC LIMIT 100")
        assert len(db.execute(fts).fetchall()) == 100
        fts_ms = timed(lambda: db.execute(fts).fetchall(), min(q, 20))
        # What the server itself took (its x-log-elapsed-millisecond), apart from the SDK's work.
        server_ms = [client.get_log(project, ls, frm, to, query=kw, size=100, reverse=True).get_elapsed_mills()
                     for _ in range(min(q, 20))]
        c = p99(cairn_ms)
        out.append(row("query-keyword-p99", c, statistics.median(rg_ms), "ms",
                       "p99 <= 50 ms and >= 20x faster than ripgrep", c <= 50 and c * 20 <= statistics.median(rg_ms),
                       peer_name=rg, cairn_p50=statistics.median(cairn_ms),
                       cairn_server_p50=statistics.median(server_ms)))
        out.append(row("query-keyword-vs-sqlite-fts5", c, p99(fts_ms), "ms", "faster than SQLite FTS5",
                       c < p99(fts_ms), peer_name=f"SQLite {sqlite3.sqlite_version} FTS5"))

        # Analytic statements against DuckDB over the JSON lines.
        import duckdb
        duck = duckdb.connect()
        src = f"read_json_auto('{jsonl}')"
        for name, sql, peer_sql in [
            ("query-group-by",
             "* | select status, count(*) as c group by status order by c desc",
             f"SELECT status, count(*) AS c FROM {src} GROUP BY status ORDER BY c DESC"),
            ("query-time-series",
             "* | select date_trunc('minute', __time__) as t, approx_percentile(latency, 0.99) as p "
             "group by t order by t limit 1000",
             f"SELECT date_trunc('minute', to_timestamp(time)) AS t, approx_quantile(CAST(latency AS BIGINT), 0.99) "
             f"FROM {src} GROUP BY t ORDER BY t LIMIT 1000"),
        ]:
            run = lambda: client.get_log(project, ls, frm, to, query=sql)
            assert run().is_completed()
            cm = timed(run, 5)
            dm = timed(lambda: duck.execute(peer_sql).fetchall(), 3)
            c, d = statistics.median(cm), statistics.median(dm)
            out.append(row(name, c, d, "ms", "<= 1 s and faster than DuckDB", c <= 1000 and c < d,
                           peer_name=f"DuckDB {duckdb.__version__}"))

        # Histograms over the whole range.
        hist = lambda: client.get_histograms(GetHistogramsRequest(project, ls, frm, to, query="*"))
        assert sum(b.get_count() for b in hist().get_histograms()) == a.lines
        hm = timed(hist, q)
        out.append(row("query-histograms-p99", p99(hm), None, "ms", "p99 <= 200 ms", p99(hm) <= 200))

        size = du(data / "indexes")
        out.append(row("index-size", size / raw * 100, None, "% of raw bytes", "<= 60%", size <= 0.6 * raw,
                       index_bytes=size, raw_bytes=raw))
        json.dump({"lines": a.lines, "rows": out}, open(a.out, "w"), indent=1)
        for r in out:
            log(json.dumps(r))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
