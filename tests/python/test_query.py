"""Query and analysis through the official clients, unmodified: the classic SDK's get_log,
get_logs, get_log_all, get_histograms, get_context_logs, get_project_logs and list_topics, the
OpenAPI SDK's GetLogs, GetLogsV2 and GetHistograms, and the CLI's get_log and get_log_all.

Every answer is checked against what this module computes itself, in Python, over the same
generated access logs: each search statement comes with a predicate written here, each analytic
statement with its expected rows (SQL examples from the SLS documentation among them).
"""
import collections
import json
import os
import random
import subprocess
from datetime import datetime, timezone

import pytest
from aliyun.log import (GetHistogramsRequest, GetLogsRequest, GetProjectLogsRequest, ListTopicsRequest,
                        LogException)
from aliyun.log.index_config import IndexConfig, IndexJsonKeyConfig, IndexKeyConfig, IndexLineConfig

from conftest import assert_sdk_error, log_item, put_request, unique, wait_indexed

T0 = 1_700_000_040  # a whole minute
SPAN = 3600
N = 480
SEPARATORS = ", '\";=()[]{}?@&<>/:\n\t\r"

PATHS = ["/api/users", "/api/orders/42", "/static/app.js", "/health", "/api/users/7/profile", "/login"]
UAS = ["Mozilla/5.0 (X11; Linux)", "curl/7.88.1", "Go-http-client/1.1", "python-requests/2.31"]
MESSAGES = ["connection refused by upstream", "request completed", "Timeout waiting for DB",
            "user login failed", "cache miss for key", "refused connection to cache"]
CODES = ["ERR_DB", "err_db", "OK", "E42"]


def generate():
    """N access logs in groups that share topic, source and tags."""
    rnd = random.Random(20261207)
    latencies = rnd.sample(range(1, 2000), N)
    logs = []
    for i in range(N):
        log = {
            "time": T0 + rnd.randrange(SPAN),
            "ip": f"10.0.{rnd.randrange(3)}.{rnd.randrange(1, 20)}",
            "method": rnd.choice(["GET", "GET", "POST", "PUT", "DELETE"]),
            "path": rnd.choice(PATHS),
            "status": str(rnd.choice([200, 200, 200, 201, 301, 404, 500, 503])),
            "latency": str(latencies[i]),
            "rt": "%.3f" % (latencies[i] / 1000),
            "ua": rnd.choice(UAS),
            "message": rnd.choice(MESSAGES),
            "code": rnd.choice(CODES),
            "extra": json.dumps({"user": {"id": rnd.randrange(1, 50), "name": rnd.choice(["alice", "bob", "carol"])},
                                 "region": rnd.choice(["cn-hangzhou", "us-west-1"])}),
        }
        if i % 3 == 0:
            log["trace"] = f"t{rnd.randrange(5)}"
        logs.append(log)
    # Groups of consecutive logs share topic, source and tags.
    for g in range(0, N, 20):
        topic = ["web", "api"][(g // 20) % 2]
        source = f"10.1.0.{(g // 20) % 3 + 1}"
        tags = {"env": ["prod", "staging"][(g // 40) % 2], "__client_ip__": f"192.168.0.{(g // 20) % 4}"}
        for log in logs[g:g + 20]:
            log["__topic__"], log["__source__"], log["__tags__"] = topic, source, tags
    return logs


LOGS = generate()
CONTENT_KEYS = ["ip", "method", "path", "status", "latency", "rt", "ua", "message", "code", "extra", "trace"]


def tokens(text, case_sensitive=False, seps=SEPARATORS):
    out, cur = [], ""
    for ch in text:
        if ch in seps:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out if case_sensitive else [t.lower() for t in out]


def has(log, key, *words, case_sensitive=False):
    """Every word is a token of the field."""
    toks = tokens(log.get(key, ""), case_sensitive)
    return all(w in toks for w in words)


def full_text(log, *words):
    toks = [t for k in CONTENT_KEYS if k in log for t in tokens(log[k])]
    return all(w in toks for w in words)


def phrase(values, words):
    for v in values:
        t = tokens(v)
        if any(t[i:i + len(words)] == list(words) for i in range(len(t))):
            return True
    return False


def num(log, key):
    return float(log[key])


def extra(log):
    return json.loads(log["extra"])


SEARCHES = [
    ("*", lambda l: True),
    ("", lambda l: True),
    ("status:500", lambda l: l["status"] == "500"),
    ("status:500 and path:/api/*", lambda l: l["status"] == "500" and has(l, "path", "api")),
    ("status:500 or status:503", lambda l: l["status"] in ("500", "503")),
    ("not status:200", lambda l: l["status"] != "200"),
    ("method:GET not status:200", lambda l: l["method"] == "GET" and l["status"] != "200"),
    ("method:GET and (status:404 or status:500)", lambda l: l["method"] == "GET" and l["status"] in ("404", "500")),
    ("status >= 500", lambda l: int(l["status"]) >= 500),
    ("latency > 1500", lambda l: int(l["latency"]) > 1500),
    ("latency < 10 or latency >= 1990", lambda l: int(l["latency"]) < 10 or int(l["latency"]) >= 1990),
    ("latency in [100 200)", lambda l: 100 <= int(l["latency"]) < 200),
    ("latency in (100 200]", lambda l: 100 < int(l["latency"]) <= 200),
    ("rt > 1.5", lambda l: num(l, "rt") > 1.5),
    ("rt in [0.5 0.6]", lambda l: 0.5 <= num(l, "rt") <= 0.6),
    ("refused", lambda l: full_text(l, "refused")),
    ("Timeout", lambda l: full_text(l, "timeout")),
    ("#\"connection refused\"", lambda l: phrase([l[k] for k in CONTENT_KEYS if k in l], ["connection", "refused"])),
    ("message:#\"login failed\"", lambda l: phrase([l["message"]], ["login", "failed"])),
    ("message:\"cache miss\"", lambda l: has(l, "message", "cache", "miss")),
    ("mozill*", lambda l: any(t.startswith("mozill") for k in CONTENT_KEYS if k in l for t in tokens(l[k]))),
    ("ua:curl*", lambda l: any(t.startswith("curl") for t in tokens(l["ua"]))),
    ("ua:go-http-?lient*", lambda l: l["ua"].startswith("Go-http-client")),
    ("code:ERR_DB", lambda l: l["code"] == "ERR_DB"),
    ("code:err_db", lambda l: l["code"] == "err_db"),
    ("__topic__:web", lambda l: l["__topic__"] == "web"),
    ("__source__:10.1.0.2", lambda l: l["__source__"] == "10.1.0.2"),
    ("__tag__:env:prod", lambda l: l["__tags__"]["env"] == "prod"),
    ("__tag__:__client_ip__:192.168.0.1", lambda l: l["__tags__"]["__client_ip__"] == "192.168.0.1"),
    ("extra.user.id > 40", lambda l: extra(l)["user"]["id"] > 40),
    ("extra.region:us-west-1", lambda l: extra(l)["region"] == "us-west-1"),
    ("extra.user.name:alice", lambda l: extra(l)["user"]["name"] == "alice"),
    ("agent:curl*", lambda l: l["ua"].startswith("curl")),
    ("path:users and not method:GET", lambda l: has(l, "path", "users") and l["method"] != "GET"),
    ("GET and 500", lambda l: full_text(l, "get", "500")),
    ("status:500 or status:503 and method:POST",
     lambda l: l["status"] == "500" or (l["status"] == "503" and l["method"] == "POST")),
    ("not (status:200 or status:201)", lambda l: l["status"] not in ("200", "201")),
    ("trace:*", lambda l: "trace" in l),
    ("not trace:*", lambda l: "trace" not in l),
    (f"__time__ >= {T0 + 1800}", lambda l: l["time"] >= T0 + 1800),
    ("path:/api/users/*", lambda l: has(l, "path", "api", "users")),
    ("STATUS:500 OR Status:404", None),  # keys are case-sensitive: not indexed, refused (below)
    ("path:orders AND latency <= 1000", lambda l: has(l, "path", "orders") and int(l["latency"]) <= 1000),
]
SEARCHES = [s for s in SEARCHES if s[1] is not None]


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def ordered_counts(key_fn, logs=LOGS):
    c = collections.Counter(key_fn(l) for l in logs)
    return c


def group_rows(key_fn, order="key", logs=LOGS, limit=None):
    c = ordered_counts(key_fn, logs)
    items = sorted(c.items()) if order == "key" else sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [[str(k), str(v)] for k, v in items]
    return rows[:limit] if limit is not None else rows


def sql_cases():
    lat = [int(l["latency"]) for l in LOGS]
    slowest = max(LOGS, key=lambda l: int(l["latency"]))
    fastest = min(LOGS, key=lambda l: int(l["latency"]))
    errors = sum(1 for l in LOGS if int(l["status"]) >= 500)
    minute = lambda l: iso(l["time"] - l["time"] % 60) + ".000"
    five = lambda l: iso(l["time"] - l["time"] % 300)
    cls = lambda l: "error" if int(l["status"]) >= 500 else "client" if int(l["status"]) >= 400 else "ok"
    by_method = collections.Counter(l["method"] for l in LOGS)
    ranked = sorted(by_method.items(), key=lambda kv: (-kv[1], kv[0]))
    ranks, prev, r = [], None, 0
    for i, (m, c) in enumerate(ranked):
        if c != prev:
            r, prev = i + 1, c
        ranks.append([m, str(c), str(r)])
    first = min(LOGS, key=lambda l: l["time"])
    uid_max = max(extra(l)["user"]["id"] for l in LOGS)
    trace_rows = sorted(collections.Counter(l.get("trace", "none") for l in LOGS).items(),
                        key=lambda kv: (-kv[1], kv[0]))[:3]
    return [
        ("* | select count(*) as c", ["c"], [[str(N)]]),
        # From the SLS documentation: page views by status.
        ("* | SELECT status, count(*) AS pv GROUP BY status ORDER BY status", ["status", "pv"],
         group_rows(lambda l: int(l["status"]), "key")),
        ("* | select status, count(*) as c group by status order by c desc, status", ["status", "c"],
         group_rows(lambda l: int(l["status"]), "count")),
        ("status >= 500 | select method, count(*) as c group by method order by method", ["method", "c"],
         group_rows(lambda l: l["method"], "key", [l for l in LOGS if int(l["status"]) >= 500])),
        ("* | select min(latency) as mn, max(latency) as mx, sum(latency) as s", ["mn", "mx", "s"],
         [[str(min(lat)), str(max(lat)), str(sum(lat))]]),
        # From the SLS documentation: page views per minute.
        ("* | SELECT date_trunc('minute', __time__) AS time, COUNT(1) AS PV GROUP BY time ORDER BY time LIMIT 1000",
         ["time", "pv"], group_rows(minute, "key")),
        ("* | select count_if(status >= 500) as errors, count(*) as total", ["errors", "total"],
         [[str(errors), str(N)]]),
        ("* | select max_by(path, latency) as slowest, min_by(path, latency) as fastest", ["slowest", "fastest"],
         [[slowest["path"], fastest["path"]]]),
        ("* | select method, count(*) as c group by method order by c desc, method limit 2", ["method", "c"],
         group_rows(lambda l: l["method"], "count", limit=2)),
        ("* | select status, count(*) as c group by status order by status limit 1, 2", ["status", "c"],
         group_rows(lambda l: int(l["status"]), "key")[1:3]),
        ("* | select distinct method order by method", ["method"], [[m] for m in sorted(by_method)]),
        ("* | select split_part(path, '/', 2) as seg, count(*) as c group by seg order by seg", ["seg", "c"],
         group_rows(lambda l: l["path"].split("/")[1], "key")),
        ("* | select regexp_extract(ua, '^([A-Za-z-]+)', 1) as client, count(*) as c group by client order by client",
         ["client", "c"], group_rows(lambda l: l["ua"].split("/")[0], "key")),
        ("* | select json_extract_scalar(extra, '$.region') as region, count(*) as c group by region order by region",
         ["region", "c"], group_rows(lambda l: extra(l)["region"], "key")),
        ("* | select case when status >= 500 then 'error' when status >= 400 then 'client' else 'ok' end as cls, "
         "count(*) as c group by cls order by cls", ["cls", "c"], group_rows(cls, "key")),
        ("* | select coalesce(trace, 'none') as t, count(*) as c group by t order by c desc, t limit 3", ["t", "c"],
         [[k, str(v)] for k, v in trace_rows]),
        ("* | select from_unixtime(__time__) as t order by __time__ limit 1", ["t"],
         [[iso(first["time"]) + ".000"]]),
        ("* | select date_format(from_unixtime(__time__), '%Y-%m-%d %H:%i') as m, count(*) as c group by m "
         "order by m limit 5", ["m", "c"], group_rows(lambda l: iso(l["time"])[:16], "key", limit=5)),
        ("* | select time_series(__time__, '5m', '%Y-%m-%d %H:%i:%s', '0') as t, count(*) as c group by t order by t",
         ["t", "c"], group_rows(five, "key")),
        ("* | select method, c, rank() over (order by c desc) as r from "
         "(select method, count(*) as c from log group by method) order by r, method", ["method", "c", "r"], ranks),
        ("* | select element_at(split(path, '/'), 2) as seg, count(*) as c group by seg order by seg", ["seg", "c"],
         group_rows(lambda l: l["path"].split("/")[1], "key")),
        ("* | select regexp_like(path, '^/api') as api, count(*) as c group by api order by api", ["api", "c"],
         group_rows(lambda l: str(l["path"].startswith("/api")).lower(), "key")),
        ("* | select __topic__, count(*) as c group by __topic__ order by __topic__", ["__topic__", "c"],
         group_rows(lambda l: l["__topic__"], "key")),
        ("* | select \"__tag__:env\" as env, count(*) as c group by env order by env", ["env", "c"],
         group_rows(lambda l: l["__tags__"]["env"], "key")),
        ("* | select \"extra.user.id\" as uid order by uid desc limit 1", ["uid"], [[str(uid_max)]]),
        ("* | select agent, count(*) c group by agent order by agent", ["agent", "c"],
         group_rows(lambda l: l["ua"], "key")),
        ("status:500 | select count(*) as c", ["c"], [[str(sum(1 for l in LOGS if l["status"] == "500"))]]),
        ("* | SELECT Method, COUNT(*) AS c GROUP BY Method ORDER BY Method", ["method", "c"],
         group_rows(lambda l: l["method"], "key")),
        ("* | select ip, latency order by latency", ["ip", "latency"],
         [[l["ip"], l["latency"]] for l in sorted(LOGS, key=lambda l: int(l["latency"]))][:100]),
        ("* | select sum(latency) as s from log where status = 200", ["s"],
         [[str(sum(int(l["latency"]) for l in LOGS if l["status"] == "200"))]]),
        ("* | select histogram(method) as h", ["h"], [[json.dumps(dict(sorted(by_method.items())), separators=(",", ":"))]]),
        ("* | select count(distinct ip) as n", ["n"], [[str(len({l["ip"] for l in LOGS}))]]),
        ("not status:200 | select status, count(*) as c group by status having count(*) > 10 order by status",
         ["status", "c"], [r for r in group_rows(lambda l: int(l["status"]), "key",
                                                 [l for l in LOGS if l["status"] != "200"]) if int(r[1]) > 10]),
    ]


SQLS = sql_cases()


def index_config():
    json_key = IndexJsonKeyConfig(index_all=True, max_depth=-1)
    json_key.add_key("user.id", "long", doc_value=True)
    json_key.add_key("region", "text", doc_value=True)
    text = lambda **kw: IndexKeyConfig(token_list=list(SEPARATORS), doc_value=True, **kw)
    return IndexConfig(
        line_config=IndexLineConfig(token_list=list(SEPARATORS), case_sensitive=False, chinese=False),
        key_config_list={
            "ip": text(),
            "method": text(),
            "path": text(),
            "status": IndexKeyConfig(index_type="long", doc_value=True),
            "latency": IndexKeyConfig(index_type="long", doc_value=True),
            "rt": IndexKeyConfig(index_type="double", doc_value=True),
            "ua": text(alias="agent"),
            "message": text(),
            "code": text(case_sensitive=True),
            "trace": text(),
            "extra": IndexKeyConfig(index_type="json", token_list=list(SEPARATORS), doc_value=True,
                                    json_key_config=json_key),
        },
    )


@pytest.fixture(scope="module")
def store(cairn_server):
    """A project and a 2-shard logstore holding LOGS, with the index above."""
    from conftest import make_client
    client = make_client(cairn_server)
    project = unique("query")
    client.create_project(project, "query tests")
    client.create_logstore(project, "access", ttl=30, shard_count=2)
    client.create_index(project, "access", index_config())
    for g in range(0, N, 20):
        group = LOGS[g:g + 20]
        first = group[0]
        items = [log_item(l["time"], [(k, l[k]) for k in CONTENT_KEYS if k in l], 0) for l in group]
        req = put_request(project, "access", first["__topic__"], first["__source__"], items,
                          tags=list(first["__tags__"].items()), hash_key="%032x" % (g * 7919 % 256 << 120))
        client.put_logs(req)
    # Every check below reads the segment indexes (logs not indexed yet would be read one by
    # one, which the index tests cover).
    wait_indexed(cairn_server, project, "access")
    return client, project


def canonical(row):
    """A returned log as the generator wrote it."""
    return (int(row["__time__"]), row.get("__topic__"), tuple(sorted((k, v) for k, v in row.items()
                                                                       if k in CONTENT_KEYS)))


def expected_logs(pred):
    return sorted(((l["time"], l["__topic__"], tuple(sorted((k, l[k]) for k in CONTENT_KEYS if k in l)))
                   for l in LOGS if pred(l)))


def all_logs(client, project, query, **kw):
    """Every log the classic SDK's get_log_all yields for the query."""
    rows = []
    for res in client.get_log_all(project, "access", T0, T0 + SPAN, query=query, **kw):
        assert res.is_completed()
        for log in res.get_logs():
            d = dict(log.get_contents())
            d["__time__"] = str(log.get_time())
            rows.append(d)
    return rows


@pytest.mark.parametrize("query,pred", SEARCHES, ids=[q or "(empty)" for q, _ in SEARCHES])
def test_search_statements_find_exactly_the_matching_logs(store, query, pred):
    client, project = store
    got = sorted(canonical(r) for r in all_logs(client, project, query))
    assert got == expected_logs(pred)


@pytest.mark.parametrize("query,keys,rows", SQLS, ids=[q for q, _, _ in SQLS])
def test_analytic_statements_answer_the_expected_rows(store, query, keys, rows):
    client, project = store
    res = client.get_log(project, "access", T0, T0 + SPAN, query=query)
    assert res.is_completed()
    meta = res.get_meta()
    assert meta.get_has_sql() is True
    body = [log.get_contents() for log in res.get_logs()]
    got = [[r[k] for k in keys] for r in body]
    assert got == rows
    assert res.get_count() == len(rows)


@pytest.mark.parametrize("padding", ["0", "null", "last", "next", "avg"])
def test_time_series_fills_the_windows_without_logs(store, padding):
    client, project = store
    counts = collections.Counter((l["time"] - T0) // 60 for l in LOGS if l["status"] == "503")
    assert len(counts) < SPAN // 60, "the data leaves some minutes without a 503"
    minutes = range(SPAN // 60)

    def filled(m):
        if m in counts:
            return str(counts[m])
        before = [counts[b] for b in minutes if b < m and b in counts][-1:]
        after = [counts[a] for a in minutes if a > m and a in counts][:1]
        if padding == "0":
            return "0"
        if padding == "last":
            return str(before[0]) if before else None
        if padding == "next":
            return str(after[0]) if after else None
        if padding == "avg":
            both = before + after
            if not both:
                return None
            mean = sum(both) / len(both)
            return str(int(mean)) if mean == int(mean) else str(mean)
        return None

    want = [[iso(T0 + m * 60)[:16], filled(m)] for m in minutes]
    query = (f"status:503 | select time_series(__time__, '1m', '%Y-%m-%d %H:%i', '{padding}') as t, "
             "count(*) as c group by t order by t limit 1000")
    res = client.get_log(project, "access", T0, T0 + SPAN, query=query)
    got = [[r["t"], r["c"]] for r in (log.get_contents() for log in res.get_logs())]
    assert got == [[t, "null" if c is None else c] for t, c in want]
    # Descending, with an offset and a limit counted over the filled rows.
    res = client.get_log(project, "access", T0, T0 + SPAN, query=query.replace("order by t limit 1000",
                                                                              "order by t desc limit 3, 5"))
    got = [[r["t"], r["c"]] for r in (log.get_contents() for log in res.get_logs())]
    assert got == [[t, "null" if c is None else c] for t, c in list(reversed(want))[3:8]]


def test_approximate_aggregates_are_close(store):
    client, project = store
    res = client.get_log(project, "access", T0, T0 + SPAN,
                         query="* | select approx_distinct(ip) as n, approx_percentile(latency, 0.5) as p50, "
                               "avg(latency) as a, round(avg(rt), 2) as r")
    row = res.get_logs()[0].get_contents()
    distinct = len({l["ip"] for l in LOGS})
    assert abs(int(row["n"]) - distinct) <= distinct * 0.05
    lat = sorted(int(l["latency"]) for l in LOGS)
    assert abs(float(row["p50"]) - lat[N // 2]) <= 40
    assert abs(float(row["a"]) - sum(lat) / N) < 1e-6
    assert float(row["r"]) == round(sum(float(l["rt"]) for l in LOGS) / N, 2)


def test_time_range_edges_and_topic(store):
    client, project = store
    t = LOGS[5]["time"]
    at = client.get_log(project, "access", t, t + 1, query="*")
    assert sorted(canonical({**l.get_contents(), "__time__": str(l.get_time())}) for l in at.get_logs()) == \
        expected_logs(lambda l: l["time"] == t)
    # `to` is excluded.
    before = client.get_log(project, "access", t - 1, t, query="*")
    assert all(l.get_time() == t - 1 for l in before.get_logs())
    topic = client.get_log_all(project, "access", T0, T0 + SPAN, topic="api", query="status:200")
    got = sorted(canonical({**l.get_contents(), "__time__": str(l.get_time())}) for r in topic for l in r.get_logs())
    assert got == expected_logs(lambda l: l["__topic__"] == "api" and l["status"] == "200")


def test_order_offset_and_reverse(store):
    client, project = store
    res = client.get_log(project, "access", T0, T0 + SPAN, query="status:200", size=30)
    times = [l.get_time() for l in res.get_logs()]
    want = sorted(l["time"] for l in LOGS if l["status"] == "200")
    assert times == want[:30]
    rev = client.get_log(project, "access", T0, T0 + SPAN, query="status:200", size=10, offset=5, reverse=True)
    assert [l.get_time() for l in rev.get_logs()] == sorted(want, reverse=True)[5:15]
    # get_logs with a request object; the rows carry topic and tags.
    req = GetLogsRequest(project, "access", T0, T0 + SPAN, query="__tag__:env:staging", line=3, reverse=True)
    logs = client.get_logs(req).get_logs()
    assert len(logs) == 3
    for log in logs:
        c = log.get_contents()
        assert c["__tag__:env"] == "staging" and c["__topic__"] in ("web", "api")
        assert log.get_source().startswith("10.1.0.")


def test_histograms_count_matches_per_bucket(store):
    client, project = store
    res = client.get_histograms(GetHistogramsRequest(project, "access", T0, T0 + SPAN, query="status >= 500"))
    assert res.is_completed()
    buckets = res.get_histograms()
    assert len(buckets) == 60
    width = SPAN // 60
    for i, b in enumerate(buckets):
        assert (b.get_from(), b.get_to()) == (T0 + i * width, T0 + (i + 1) * width)
        assert b.get_count() == sum(1 for l in LOGS if int(l["status"]) >= 500 and
                                    b.get_from() <= l["time"] < b.get_to())
    assert res.get_total_count() == sum(1 for l in LOGS if int(l["status"]) >= 500)


def test_context_logs_surround_a_log(store):
    client, project = store
    res = client.get_log(project, "access", T0, T0 + SPAN, query="status:404 | with_pack_meta", size=1)
    log = res.get_logs()[0].get_contents()
    pack_id, pack_meta = log["__tag__:__pack_id__"], log["__pack_meta__"]
    ctx = client.get_context_logs(project, "access", pack_id, pack_meta, 3, 4)
    body = ctx.get_body()
    assert body["progress"] == "Complete"
    logs = body["logs"]
    assert body["total_lines"] == len(logs) == body["back_lines"] + body["forward_lines"] + 1
    assert [int(l["__index_number__"]) for l in logs] == list(range(-body["back_lines"], body["forward_lines"] + 1))
    center = logs[body["back_lines"]]
    assert center["__pack_meta__"] == pack_meta and center["status"] == "404"
    # The neighbours are the logs written next to it: within its group they are the generator's.
    i = next(i for i, l in enumerate(LOGS) if l["time"] == int(center["__time__"]) and l["latency"] == center["latency"])
    for l in logs:
        j = i + int(l["__index_number__"])
        if j // 20 == i // 20:
            assert l["latency"] == LOGS[j]["latency"]


def test_project_logs_and_topics(store):
    client, project = store
    res = client.get_project_logs(GetProjectLogsRequest(
        project, "select status, count(*) as c from access where status >= 500 group by status order by status"))
    got = [[l.get_contents()["status"], l.get_contents()["c"]] for l in res.get_logs()]
    assert got == group_rows(lambda l: int(l["status"]), "key", [l for l in LOGS if int(l["status"]) >= 500])
    topics = client.list_topics(ListTopicsRequest(project, "access"))
    assert sorted(topics.get_topics()) == ["api", "web"]


@pytest.mark.parametrize("query,code,fragment", [
    ("status:500 and", "ParameterInvalid", "syntax error"),
    ("(status:500", "ParameterInvalid", "missing ')'"),
    ("*abc", "ParameterInvalid", "wildcard"),
    ("nosuchkey:1", "ParameterInvalid", "nosuchkey"),
    ("STATUS:500", "ParameterInvalid", "STATUS"),
    ("method > 3", "ParameterInvalid", "numeric"),
    ("* | select nosuchfn(status)", "ParameterInvalid", "nosuchfn"),
    ("* | select nosuchcol", "ParameterInvalid", "nosuchcol"),
    ("* | selec count(*)", "ParameterInvalid", "SQL"),
    ("* | select status limit 2000000", "ParameterInvalid", "LIMIT"),
    ("* | select status limit 2000000, 10", "ParameterInvalid", "offset"),
    ("* | delete from log", "ParameterInvalid", "SELECT"),
])
def test_bad_queries_get_clear_errors(store, query, code, fragment):
    client, project = store
    with pytest.raises(LogException) as e:
        client.get_log(project, "access", T0, T0 + SPAN, query=query)
    assert_sdk_error(e, 400, code)
    assert fragment in e.value.get_error_message()


def test_a_logstore_without_an_index_is_refused(store):
    client, project = store
    client.create_logstore(project, "plain", ttl=30, shard_count=1)
    with pytest.raises(LogException) as e:
        client.get_log(project, "plain", T0, T0 + SPAN, query="*")
    assert_sdk_error(e, 400, "IndexConfigNotExist")
    with pytest.raises(LogException) as e:
        client.get_histograms(GetHistogramsRequest(project, "plain", T0, T0 + SPAN, query="*"))
    assert_sdk_error(e, 400, "IndexConfigNotExist")


def openapi(server):
    from test_openapi_sdk import openapi_client
    return openapi_client(server)


def test_the_openapi_sdk_queries(store, cairn_server):
    from alibabacloud_sls20201230 import models
    client, project = store
    api = openapi(cairn_server)
    pred = lambda l: l["status"] == "500" and has(l, "path", "api")
    v2 = api.get_logs_v2(project, "access", models.GetLogsV2Request(
        from_=T0, to=T0 + SPAN, query="status:500 and path:/api/*", line=100, reverse=False))
    assert v2.body.meta.progress == "Complete"
    assert v2.body.meta.count == len(v2.body.data)
    assert sorted(canonical(r) for r in v2.body.data) == expected_logs(pred)
    v1 = api.get_logs(project, "access", models.GetLogsRequest(
        from_=T0, to=T0 + SPAN, query="* | select method, count(*) as c group by method order by method"))
    assert [[r["method"], r["c"]] for r in v1.body.data] == group_rows(lambda l: l["method"], "key")
    h = api.get_histograms(project, "access", models.GetHistogramsRequest(from_=T0, to=T0 + SPAN, query="status:404"))
    assert sum(b.count for b in h.body) == sum(1 for l in LOGS if l["status"] == "404")
    assert all(b.progress == "Complete" for b in h.body)


def cli(server, *args):
    """`aliyunlog log <args>` with a HOME of its own and the server as its proxy."""
    import sys
    import tempfile
    with tempfile.TemporaryDirectory(prefix="cairn-cli-home-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIYUN_LOG_CLI_", "ALIBABA_CLOUD_"))}
        for k in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(k, None)
        env.update(HOME=home, HTTP_PROXY=server.proxy, http_proxy=server.proxy, PYTHONIOENCODING="utf-8")
        cmd = [os.path.join(os.path.dirname(sys.executable), "aliyunlog"), "log", *args,
               f"--access-id={server.ak}", f"--access-key={server.secret}", "--region-endpoint=localhost"]
        out = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    return out.stdout


def test_the_cli_gets_logs(store, cairn_server):
    client, project = store
    out = cli(cairn_server, "get_log", f"--project={project}", "--logstore=access", "--query=status:503",
              f"--from_time={T0}", f"--to_time={T0 + SPAN}", "--size=100")
    rows = json.loads(out)
    assert sorted(canonical(r) for r in rows) == expected_logs(lambda l: l["status"] == "503")
    out = cli(cairn_server, "get_log_all", f"--project={project}", "--logstore=access", "--query=method:DELETE",
              f"--from_time={T0}", f"--to_time={T0 + SPAN}")
    rows = [r for line in out.splitlines() if line.strip() for r in json.loads(line)]
    assert sorted(canonical(r) for r in rows) == expected_logs(lambda l: l["method"] == "DELETE")


def test_get_logs_v1_answers_an_array_with_its_state_in_headers(store, cairn_server):
    """GetLogs as `GET /logstores/{ls}?type=log`: what older SDKs send, with `True` booleans."""
    from conftest import raw_request
    client, project = store
    params = {"type": "log", "from": str(T0), "to": str(T0 + SPAN), "query": "status:301", "line": "100",
              "offset": "0", "reverse": "False", "powerSql": "False"}
    r = raw_request(cairn_server, "GET", project, "/logstores/access", params=params)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert isinstance(rows, list)
    assert all(isinstance(v, str) for row in rows for v in row.values())
    assert sorted(canonical(row) for row in rows) == expected_logs(lambda l: l["status"] == "301")
    assert r.headers["x-log-progress"] == "Complete"
    assert r.headers["x-log-count"] == str(len(rows))
    assert r.headers["x-log-has-sql"] == "false"
    assert int(r.headers["x-log-processed-rows"]) == N
    json.loads(r.headers["x-log-query-info"])
    params["query"] = "* | select count(*) as c"
    r = raw_request(cairn_server, "GET", project, "/logstores/access", params=params)
    assert r.json() == [{"c": str(N)}]
    assert r.headers["x-log-has-sql"] == "true"
    assert r.headers["x-log-agg-query"] == "select count(*) as c"


def test_get_logs_v2_bodies_are_compressed_as_asked(store, cairn_server):
    import lz4.block
    from conftest import raw_request
    client, project = store
    body = json.dumps({"from": T0, "to": T0 + SPAN, "query": "status:301", "line": 100, "reverse": True}).encode()
    plain = raw_request(cairn_server, "POST", project, "/logstores/access/logs", body=body,
                        headers={"Content-Type": "application/json", "Accept-Encoding": ""})
    assert plain.status_code == 200, plain.text
    assert "x-log-compresstype" not in plain.headers and "x-log-bodyrawsize" not in plain.headers
    want = plain.json()
    assert want["meta"]["count"] == len(want["data"]) == sum(1 for l in LOGS if l["status"] == "301")
    times = [int(d["__time__"]) for d in want["data"]]
    assert times == sorted(times, reverse=True)
    # The Java SDK labels its JSON body as protobuf and leaves x-log-bodyrawsize at 0.
    lz = raw_request(cairn_server, "POST", project, "/logstores/access/logs", body=body,
                     headers={"Content-Type": "application/x-protobuf", "Accept-Encoding": "lz4"})
    assert lz.headers["x-log-compresstype"] == "lz4"
    raw = lz4.block.decompress(lz.content, uncompressed_size=int(lz.headers["x-log-bodyrawsize"]))
    got = json.loads(raw)
    for doc in (got, want):
        doc["meta"].pop("elapsedMillisecond")
    assert got == want


def test_an_index_created_after_the_data_finds_it_and_a_deleted_one_refuses(client, project):
    client.create_logstore(project, "later", ttl=30, shard_count=1)
    items = [log_item(T0 + i, [("word", f"w{i % 3}")], 0) for i in range(30)]
    client.put_logs(put_request(project, "later", "", "", items))
    with pytest.raises(LogException) as e:
        client.get_log(project, "later", T0, T0 + 60, query="w1")
    assert_sdk_error(e, 400, "IndexConfigNotExist")
    client.create_index(project, "later", IndexConfig(line_config=IndexLineConfig(token_list=[" "])))
    res = client.get_log(project, "later", T0, T0 + 60, query="w1")
    assert sorted(l.get_time() for l in res.get_logs()) == [T0 + i for i in range(30) if i % 3 == 1]
    # A field index added by UpdateIndex applies to the old logs too.
    client.update_index(project, "later", IndexConfig(
        line_config=IndexLineConfig(token_list=[" "]),
        key_config_list={"word": IndexKeyConfig(token_list=[" "], doc_value=True)}))
    res = client.get_log(project, "later", T0, T0 + 60, query="* | select word, count(*) as c group by word order by word")
    assert [[l.get_contents()["word"], l.get_contents()["c"]] for l in res.get_logs()] == \
        [["w0", "10"], ["w1", "10"], ["w2", "10"]]
    client.delete_index(project, "later")
    with pytest.raises(LogException) as e:
        client.get_log(project, "later", T0, T0 + 60, query="w1")
    assert_sdk_error(e, 400, "IndexConfigNotExist")


def test_hostile_statements_are_refused_and_the_server_stays_up(store):
    client, project = store
    deep = "* | select " + "+".join(["1"] * 5000) + " as x"
    with pytest.raises(LogException) as e:
        client.get_log(project, "access", T0, T0 + SPAN, query=deep)
    assert_sdk_error(e, 400, "ParameterInvalid")
    nested = "(" * 200 + "status:500" + ")" * 200
    with pytest.raises(LogException) as e:
        client.get_log(project, "access", T0, T0 + SPAN, query=nested)
    assert_sdk_error(e, 400, "ParameterInvalid")
    parens = "* | select " + "(" * 200 + "1" + ")" * 200
    with pytest.raises(LogException) as e:
        client.get_log(project, "access", T0, T0 + SPAN, query=parens)
    assert_sdk_error(e, 400, "ParameterInvalid")
    # Still answering.
    res = client.get_log(project, "access", T0, T0 + SPAN, query="* | select count(*) as c")
    assert res.get_logs()[0].get_contents()["c"] == str(N)


def test_a_search_with_too_many_conditions_is_refused(store):
    client, project = store
    with pytest.raises(LogException) as e:
        client.get_log(project, "access", T0, T0 + SPAN, query=" or ".join(["a"] * 2000))
    assert_sdk_error(e, 400, "ParameterInvalid")
    assert "conditions" in e.value.get_error_message()
