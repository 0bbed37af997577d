"""PullLogs with an SPL `query` (consumption with SPL), through the official SDK's `pull_logs` and
the official consumer library's `LogHubConfig(query=...)`. Every answer is checked against what
this file computes, in Python, from the logs it wrote."""
import base64
import csv
import json
import re
import threading
import time

import pytest
from aliyun.log import LogException

from conftest import log_item, put_request, raw_request, unique

GROUPS = 24
PER_GROUP = 10
T0 = 1_700_000_000


def generated():
    """(topic, source, tags, [(time, contents)]) for each LogGroup written."""
    out = []
    for i in range(GROUPS):
        logs = []
        for j in range(PER_GROUP):
            n = i * PER_GROUP + j
            contents = [
                ("status", ["200", "200", "404", "500", "503"][n % 5]),
                ("path", f"/api/v{n % 2 + 1}/items/{n}"),
                ("latency", "n/a" if n % 37 == 0 else str(n * 7 % 1000)),
                ("msg", f"user=u{n % 6}&action={['get', 'put'][n % 2]}&ok={n % 3 == 0}"),
                ("csv", f'{n},x{n % 4},"c,{n}"'),
                ("pipe", f"left{n}|right{n}"),
                ("body", json.dumps({"a": n, "b": {"c": f"x{n}"}, "s": "text"})),
                ("req", f"GET /page/{n}.html {n} 0.{n:03d}"),
            ]
            if n % 4 == 0:
                contents.append(("action", "orig"))
            logs.append((T0 + n, contents))
        tags = [("env", ["prod", "dev"][i % 2]), ("__path__", "/var/log/app.log")]
        out.append((["web", "app", "db"][i % 3], f"10.0.0.{i % 4}", tags, logs))
    return out


def rows(groups):
    """Each log as one dict: its contents, `__time__`, and its group's topic, source and tags."""
    out = []
    for topic, source, tags, logs in groups:
        for t, contents in logs:
            d = dict(contents)
            d["__time__"] = str(t)
            if topic:
                d["__topic__"] = topic
            if source:
                d["__source__"] = source
            for k, v in tags:
                d[f"__tag__:{k}"] = v
            out.append(d)
    return out


def pulled_rows(groups):
    return rows([(g.Topic, g.Source, [(t.Key, t.Value) for t in g.LogTags],
                  [(l.Time, [(c.Key, c.Value) for c in l.Contents]) for l in g.Logs]) for g in groups])


def fixed(d):
    """The fields every instruction keeps."""
    return {"__time__": d["__time__"]}


def num(s):
    return int(s) if s.lstrip("-").isdigit() else None


def where(pred):
    return lambda d: d if pred(d) else None


def project(*names, renames=()):
    def f(d):
        out = fixed(d)
        for n in names:
            if n in d:
                out[n] = d[n]
        for new, old in renames:
            if old in d:
                out[new] = d[old]
        return out
    return f


def extend(**fields):
    def f(d):
        out = dict(d)
        for k, fn in fields.items():
            v = fn(d)
            if v is None:
                out.pop(k, None)
            else:
                out[k] = v
        return out
    return f


def parse(field, fn, preserve=False):
    def f(d):
        if field not in d:
            return d
        out = dict(d)
        for k, v in fn(d[field]).items():
            if k == "__time__" or (preserve and k in out):
                continue
            out[k] = v
        return out
    return f


def chain(*fs):
    def f(d):
        for g in fs:
            if d is None:
                return None
            d = g(d)
        return d
    return f


def regexp(pattern, names):
    def f(s):
        m = re.search(pattern, s)
        return dict(zip(names, m.groups())) if m else {}
    return f


def csv_fields(names, delim=","):
    def f(s):
        values = next(csv.reader([s], delimiter=delim))
        return dict(zip(names, values))
    return f


def json_fields(path=None, prefix=""):
    def f(s):
        v = json.loads(s)
        for k in path or []:
            v = v[k]
        return {prefix + k: (x if isinstance(x, str) else json.dumps(x, separators=(",", ":"))) for k, x in v.items()}
    return f


def kv_fields(prefix=""):
    def f(s):
        return {prefix + k: v for k, v in (p.split("=", 1) for p in s.split("&") if "=" in p)}
    return f


def lat_over_500(d):
    n = num(d["latency"])
    if n is None:
        raise ValueError("cast fails")
    return n > 500


# (statement, what it makes of one log: a dict, None when dropped, or raises when it fails)
CASES = [
    ("* | where status = '500'", where(lambda d: d["status"] == "500")),
    ("* | where cast(status as bigint) >= 500 and path like '/api/v1/%'",
     where(lambda d: int(d["status"]) >= 500 and d["path"].startswith("/api/v1/"))),
    ("* | where __topic__ != 'app'", where(lambda d: d["__topic__"] != "app")),
    ("* | where \"__tag__:env\" = 'prod' and __source__ = '10.0.0.2'",
     where(lambda d: d["__tag__:env"] == "prod" and d["__source__"] == "10.0.0.2")),
    ("* | where regexp_like(path, 'v2/items/1')", where(lambda d: "v2/items/1" in d["path"])),
    ("* | where cast(latency as bigint) > 500", where(lat_over_500)),
    ("* | where missing = 'x'", where(lambda d: False)),
    ("* | where __time__ >= %d and __time__ < %d" % (T0 + 30, T0 + 45),
     where(lambda d: T0 + 30 <= int(d["__time__"]) < T0 + 45)),
    ("* | extend route = split_part(path, '/', 3), big = cast(status as bigint) >= 500",
     extend(route=lambda d: d["path"].split("/")[2], big=lambda d: str(int(d["status"]) >= 500).lower())),
    ("* | extend status = concat('s', status), x = coalesce(nothing, 'dflt')",
     extend(status=lambda d: "s" + d["status"], x=lambda d: "dflt")),
    ("* | extend __time__ = __time__ + 60",
     extend(__time__=lambda d: str(int(d["__time__"]) + 60))),
    ("* | extend \"__tag__:team\" = 'core', __topic__ = upper(__topic__)",
     extend(**{"__tag__:team": lambda d: "core", "__topic__": lambda d: d["__topic__"].upper()})),
    ("* | project status, path", project("status", "path")),
    ("* | project code=status, path", project("path", renames=[("code", "status")])),
    ("* | project -wildcard \"__tag__:*\", status", project("__tag__:env", "__tag__:__path__", "status")),
    ("* | project-away msg, csv, body, req, pipe, \"__tag__:__path__\"",
     lambda d: {k: v for k, v in d.items() if k not in ("msg", "csv", "body", "req", "pipe", "__tag__:__path__")}),
    ("* | project-away -wildcard \"__*\"", lambda d: {k: v for k, v in d.items() if not k.startswith("__")} | fixed(d)),
    ("* | project-rename http_status=status, p=path",
     lambda d: {({"status": "http_status", "path": "p"}).get(k, k): v for k, v in d.items()}),
    ("* | parse-regexp req, '(\\S+)\\s+(\\S+)' as method, uri",
     parse("req", regexp(r"(\S+)\s+(\S+)", ["method", "uri"]))),
    ("* | parse-regexp req, '(?P<verb>\\S+) /page/(?P<page>\\d+)'",
     parse("req", regexp(r"(\S+) /page/(\d+)", ["verb", "page"]))),
    ("* | parse-csv csv as c1, c2, c3", parse("csv", csv_fields(["c1", "c2", "c3"]))),
    ("* | parse-csv -delim='|' pipe as l, r", parse("pipe", csv_fields(["l", "r"], "|"))),
    ("* | parse-json body", parse("body", json_fields())),
    ("* | parse-json -path='$.b' -prefix='b_' body", parse("body", json_fields(["b"], "b_"))),
    ("* | parse-kv -delims='&' msg", parse("msg", kv_fields())),
    ("* | parse-kv -delims='&' -mode='preserve' msg", parse("msg", kv_fields(), preserve=True)),
    ("* | parse-kv -prefix='kv_' msg", parse("msg", kv_fields("kv_"))),
    ("* /* only errors */ | where status = '404' -- and nothing else\n | project status, path ;",
     chain(where(lambda d: d["status"] == "404"), project("status", "path"))),
    ("*| where status = '200' | parse-regexp path, '/api/(v\\d)/' as ver | extend v = concat(ver, '!') "
     "| project-away msg, csv, body, req, pipe",
     chain(where(lambda d: d["status"] == "200"), parse("path", regexp(r"/api/(v\d)/", ["ver"])),
           extend(v=lambda d: d["ver"] + "!"),
           lambda d: {k: v for k, v in d.items() if k not in ("msg", "csv", "body", "req", "pipe")})),
]


@pytest.fixture(scope="module")
def stream(cairn_server):
    """One shard holding the generated LogGroups."""
    from conftest import make_client
    client = make_client(cairn_server)
    project = unique("spl")
    client.create_project(project, "spl")
    client.create_logstore(project, "events", ttl=30, shard_count=1)
    for topic, source, tags, logs in generated():
        items = [log_item(t, contents, 0) for t, contents in logs]
        client.put_logs(put_request(project, "events", topic, source, items, tags=tags))
    yield client, project
    client.delete_project(project)


def expected(fn):
    out, failed = [], 0
    for d in rows(generated()):
        try:
            r = fn(dict(d))
        except ValueError:
            failed += 1
            continue
        if r is not None:
            out.append(r)
    return out, failed


def pull_query(client, project, query, count=5):
    """Every LogGroup of shard 0 pulled with `query`, `count` LogGroups at a time, and the
    number of LogGroups read."""
    cursor = client.get_cursor(project, "events", 0, "begin").get_cursor()
    end = client.get_cursor(project, "events", 0, "end").get_cursor()
    groups, read = [], 0
    while cursor != end:
        res = client.pull_logs(project, "events", 0, cursor, count, query=query)
        got = list(res.get_loggroup_list().LogGroups)
        assert len(got) == res.get_loggroup_count()
        read += res.raw_log_group_count_before_query
        nxt = res.get_next_cursor()
        assert int(base64.b64decode(nxt)) == int(base64.b64decode(cursor)) + res.raw_log_group_count_before_query, \
            "the cursor moves past every LogGroup read, also when none is answered"
        groups.extend(got)
        cursor = nxt
    return groups, read


@pytest.mark.parametrize("statement,fn", CASES, ids=[c[0][:60] for c in CASES])
def test_pull_with_spl_answers_what_the_statement_makes(stream, statement, fn):
    client, project = stream
    groups, read = pull_query(client, project, statement)
    assert read == GROUPS
    want, _ = expected(fn)
    assert pulled_rows(groups) == want


def test_headers_count_what_was_read_answered_and_failed(cairn_server, stream):
    _, project = stream
    cursor = base64.b64encode(b"0").decode()
    statement = "* | where cast(latency as bigint) > 500"
    r = raw_request(cairn_server, "GET", project, "/logstores/events/shards/0",
                    params={"type": "log", "cursor": cursor, "count": "1000", "query": statement,
                            "pullMode": "scan_on_stream"},
                    headers={"Accept": "application/x-protobuf", "Accept-Encoding": ""})
    assert r.status_code == 200, r.text
    want, failed = expected(where(lat_over_500))
    assert failed > 0
    assert int(r.headers["x-log-rawdatacount"]) == GROUPS
    assert int(r.headers["x-log-rawdatalines"]) == GROUPS * PER_GROUP
    assert int(r.headers["x-log-resultlines"]) == len(want)
    assert int(r.headers["x-log-failedlines"]) == failed
    assert int(r.headers["x-log-rawdatasize"]) > int(r.headers["x-log-bodyrawsize"]) > 0
    assert r.headers["x-log-cursor"] == base64.b64encode(str(GROUPS).encode()).decode()
    # The answered groups: one per input group that kept a log.
    assert int(r.headers["x-log-count"]) == len({(int(d["__time__"]) - T0) // PER_GROUP for d in want})


def test_a_group_whose_logs_differ_after_extend_is_split(stream):
    client, project = stream
    groups, _ = pull_query(client, project, "* | extend __topic__ = status", count=1)
    want, _ = expected(extend(__topic__=lambda d: d["status"]))
    assert pulled_rows(groups) == want
    for g in groups:
        assert len({g.Topic} | {[c.Value for c in l.Contents if c.Key == "status"][0] for l in g.Logs}) == 1


@pytest.mark.parametrize("statement", [
    "* | where status = ",
    "* | where status = 'x' and",
    "* | stats count(*)",
    "* | .let x = 1",
    "status:500 | where status = '500'",
    "* | where nosuchfn(status) = 1",
    "* | extend status",
    "* | project-rename status",
    "* | parse-regexp req, '(unclosed' as a",
    "* | parse-regexp req, '(a)(b)' as a",
    "* | parse-csv csv",
    "* | parse-json -mode='merge' body",
    "* | project -bogus status",
    "* | where 'unterminated",
    "* | where status = '1' ; * | where status = '2'",
    "* |  | where status = '1'",
    "* " + "| where status = '200' " * 17,
    "* | where status = '" + "x" * 11000 + "'",
    "* | project __time__=status",
])
def test_a_bad_statement_is_refused_as_parameter_invalid(stream, statement):
    client, project = stream
    cursor = client.get_cursor(project, "events", 0, "begin").get_cursor()
    with pytest.raises(LogException) as e:
        client.pull_logs(project, "events", 0, cursor, 10, query=statement)
    assert e.value.get_error_code() == "ParameterInvalid", e.value.get_error_message()
    assert e.value.resp_status == 400


def test_the_consumer_library_consumes_with_a_query(cairn_server, client, project):
    from aliyun.log.consumer import ConsumerProcessorBase, ConsumerWorker, CursorPosition, LogHubConfig
    from conftest import AK, SECRET

    client.create_logstore(project, "consumed", ttl=30, shard_count=2)
    sent = []
    for i in range(40):
        items = [log_item(T0 + i, [("id", str(i)), ("level", ["INFO", "ERROR"][i % 2])], 0)]
        client.put_logs(put_request(project, "consumed", "t", "s", items))
        sent.append(i)
    want = {str(i) for i in sent if i % 2}
    got, lock = [], threading.Lock()

    class Keep(ConsumerProcessorBase):
        def process(self, log_groups, tracker):
            with lock:
                for g in log_groups.LogGroups:
                    for l in g.Logs:
                        got.append({c.Key: c.Value for c in l.Contents})
            self.save_checkpoint(tracker, force=True)

    config = LogHubConfig("localhost", AK, SECRET, project, "consumed", "spl-group", "w1",
                          cursor_position=CursorPosition.BEGIN_CURSOR, heartbeat_interval=1,
                          data_fetch_interval=0.1, query="* | where level = 'ERROR' | project id")
    worker = ConsumerWorker(Keep, consumer_option=config)
    worker.start()
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with lock:
                if {d["id"] for d in got} >= want:
                    break
            time.sleep(0.1)
    finally:
        worker.shutdown()
    assert {d["id"] for d in got} == want
    assert all(set(d) == {"id"} for d in got), got[:3]
