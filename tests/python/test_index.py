"""Segment indexes with the real binary (design §18.6): logs written before the index are indexed
in the background with progress in GetIndex; an index changed, damaged or deleted on disk is built
again; a SIGKILL while indexing loses nothing; queries answer the same whatever the indexer's
progress, because logs not indexed yet are read one by one."""
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from aliyun.log import GetHistogramsRequest
from aliyun.log.index_config import IndexConfig, IndexKeyConfig, IndexLineConfig

from conftest import CairnServer, index_state, log_item, make_client, put_request, unique, wait_indexed

T0 = 1_700_000_000
SEPARATORS = ", '\";=()[]{}?@&<>/:\n\t\r"
PATHS = ["/api/users", "/api/orders/9", "/static/app.js", "/health", "/login"]


def _server(**query):
    """A server with small segments (many sealed ones) and `[query]` settings."""
    d = Path(tempfile.mkdtemp(prefix="cairn-conf-"))
    conf = d / "cairn.toml"
    lines = ["[storage]", "segment_bytes = 16384", "[query]"]
    lines += [f"{k} = {v}" for k, v in query.items()]
    conf.write_text("\n".join(lines) + "\n")
    return CairnServer(["--config", str(conf)]).start()


def make_logs(n, seed):
    rnd = random.Random(seed)
    logs = []
    for i in range(n):
        logs.append({
            "time": T0 + i,  # every time once: answers have one order
            "path": rnd.choice(PATHS),
            "status": rnd.choice(["200", "200", "404", "500"]),
            "latency": str(rnd.randint(1, 900)),
            "message": rnd.choice(["ok", "slow upstream", "refused by db", "timeout"]) + f" n{i % 7}",
            "host": f"h{rnd.randint(0, 3)}",
        })
    return logs


KEYS = ["path", "status", "latency", "message", "host"]


def write(client, project, ls, logs, group=50):
    for g in range(0, len(logs), group):
        chunk = logs[g:g + group]
        items = [log_item(l["time"], [(k, l[k]) for k in KEYS], 0) for l in chunk]
        client.put_logs(put_request(project, ls, "t", "s", items, hash_key="%032x" % (g * 7919 % 256 << 120)))


def index_config(with_host=False):
    keys = {
        "path": IndexKeyConfig(token_list=list(SEPARATORS), doc_value=True),
        "status": IndexKeyConfig(index_type="long", doc_value=True),
        "latency": IndexKeyConfig(index_type="long", doc_value=True),
        "message": IndexKeyConfig(token_list=list(SEPARATORS), doc_value=True),
    }
    if with_host:
        keys["host"] = IndexKeyConfig(token_list=list(SEPARATORS), doc_value=True)
    return IndexConfig(line_config=IndexLineConfig(token_list=list(SEPARATORS)), key_config_list=keys)


def index_files(server):
    root = Path(server.data_dir) / "indexes"
    return sorted(p for p in root.rglob("*") if p.is_file())


def segment_index_dirs(server):
    root = Path(server.data_dir) / "indexes"
    return sorted(p for p in root.glob("*/*/*") if p.is_dir())


def check_queries(client, project, ls, logs, with_host=False):
    """Searches, an analytic statement and a histogram, each against Python's answer."""
    frm, to = T0, T0 + len(logs)
    res = client.get_log(project, ls, frm, to, query="status:500 and path:/api/*", size=100, reverse=True)
    want = [l for l in logs if l["status"] == "500" and l["path"].startswith("/api/")]
    assert [int(x.get_time()) for x in res.get_logs()] == [l["time"] for l in reversed(want)][:100]
    assert res.is_completed()
    got = client.get_log(project, ls, frm, to, query="refused and not path:health | select count(*) as c")
    want = [l for l in logs if "refused" in l["message"] and l["path"] != "/health"]
    assert got.get_logs()[0].get_contents() == {"c": str(len(want))}
    got = client.get_log(project, ls, frm, to,
                         query="* | select status, count(*) as c, sum(latency) as s group by status order by status")
    want = {}
    for l in logs:
        c, s = want.get(l["status"], (0, 0))
        want[l["status"]] = (c + 1, s + int(l["latency"]))
    assert [(r.get_contents()["status"], int(r.get_contents()["c"]), int(r.get_contents()["s"]))
            for r in got.get_logs()] == [(k, c, s) for k, (c, s) in sorted(want.items())]
    # Logs in the middle of the range, page 2.
    mid = client.get_log(project, ls, frm + 100, frm + 400, query="latency > 450", size=20, offset=20)
    want = [l["time"] for l in logs if frm + 100 <= l["time"] < frm + 400 and int(l["latency"]) > 450][20:40]
    assert [int(x.get_time()) for x in mid.get_logs()] == want
    h = client.get_histograms(GetHistogramsRequest(project, ls, frm, to, query="status >= 404"))
    assert sum(b.get_count() for b in h.get_histograms()) == sum(1 for l in logs if int(l["status"]) >= 404)
    if with_host:
        got = client.get_log(project, ls, frm, to, query="host:h2 | select count(1) as c")
        assert got.get_logs()[0].get_contents() == {"c": str(sum(1 for l in logs if l["host"] == "h2"))}


@pytest.fixture
def server():
    s = _server(index_commit_bytes=65536)
    yield s
    s.cleanup()


def test_logs_written_before_the_index_are_indexed_with_progress_in_get_index(server):
    client = make_client(server)
    project = unique("ix")
    client.create_project(project, "")
    client.create_logstore(project, "lgs", ttl=30, shard_count=2)
    logs = make_logs(3000, 1)
    write(client, project, "lgs", logs)
    offset = server.log_size()
    client.create_index(project, "lgs", index_config())
    # Answers are right before the indexer is done (logs not indexed are read one by one) ...
    check_queries(client, project, "lgs", logs)
    state = wait_indexed(server, project, "lgs")
    assert state["totalLogGroups"] == len(logs) // 50
    assert len(segment_index_dirs(server)) > 4, "sealed segments each have an index"
    # ... and after it.
    check_queries(client, project, "lgs", logs)
    text = server.log_since(offset)
    assert "indexing the logstore's stored logs in the background" in text
    assert "the logstore's logs are all indexed" in text
    # The SDK still reads the configuration it wrote.
    assert client.get_index_config(project, "lgs").get_index_config().key_config_list["status"].index_type == "long"

    # A changed configuration is built again for every stored log: the new key finds old logs.
    client.update_index(project, "lgs", index_config(with_host=True))
    wait_indexed(server, project, "lgs")
    check_queries(client, project, "lgs", logs, with_host=True)

    # Logs written after indexing (the tail) join the indexed ones.
    more = make_logs(3400, 1)[3000:]
    write(client, project, "lgs", more)
    check_queries(client, project, "lgs", logs + more, with_host=True)
    wait_indexed(server, project, "lgs")
    check_queries(client, project, "lgs", logs + more, with_host=True)

    # Without an index there is nothing to index, and its files go.
    client.delete_index(project, "lgs")
    deadline = time.time() + 60
    while segment_index_dirs(server) and time.time() < deadline:
        time.sleep(0.02)
    assert segment_index_dirs(server) == []


def test_damaged_and_deleted_indexes_are_built_again(server):
    client = make_client(server)
    project = unique("ix")
    client.create_project(project, "")
    client.create_logstore(project, "lgs", ttl=30, shard_count=2)
    client.create_index(project, "lgs", index_config())
    logs = make_logs(2500, 2)
    write(client, project, "lgs", logs)
    wait_indexed(server, project, "lgs")
    dirs = segment_index_dirs(server)
    assert len(dirs) >= 6
    server.kill()
    # One index deleted, one with a damaged file, one with garbage for its commit, one emptied.
    shutil.rmtree(dirs[0])
    damaged = max((p for p in dirs[1].iterdir() if p.is_file() and p.name != "meta.json"),
                  key=lambda p: p.stat().st_size)
    b = bytearray(damaged.read_bytes())
    b[len(b) // 2] ^= 0xFF
    damaged.write_bytes(bytes(b))
    (dirs[2] / "meta.json").write_text("{not json")
    for p in dirs[3].iterdir():
        p.unlink()
    # And a directory nobody made.
    (Path(server.data_dir) / "indexes" / "stray").mkdir()
    offset = server.log_size()
    server.start()
    check_queries(client, project, "lgs", logs)
    wait_indexed(server, project, "lgs")
    check_queries(client, project, "lgs", logs)
    assert set(dirs) <= set(segment_index_dirs(server))
    assert not (Path(server.data_dir) / "indexes" / "stray").exists()
    assert "rebuilding a segment index that cannot be used" in server.log_since(offset)
    # The index directory gone entirely is no reason to refuse a start either.
    server.kill()
    shutil.rmtree(Path(server.data_dir) / "indexes")
    server.start()
    wait_indexed(server, project, "lgs")
    check_queries(client, project, "lgs", logs)


def test_sigkill_while_indexing_loses_nothing_and_the_index_recovers():
    # Small commits: the indexer is caught between two of them.
    server = _server(index_commit_bytes=8192)
    try:
        _sigkill_while_indexing(server)
    finally:
        server.cleanup()


def _sigkill_while_indexing(server):
    client = make_client(server)
    project = unique("ix")
    client.create_project(project, "")
    client.create_logstore(project, "lgs", ttl=30, shard_count=2)
    logs = make_logs(6000, 3)
    write(client, project, "lgs", logs)
    client.create_index(project, "lgs", index_config())
    deadline = time.time() + 120
    while True:
        state = index_state(server, project, "lgs")
        if 0 < state["indexedLogGroups"] < state["totalLogGroups"]:
            break
        assert not state["complete"], "the indexer finished before it could be interrupted"
        assert time.time() < deadline, state
        time.sleep(0.005)
    server.kill()
    server.start()
    check_queries(client, project, "lgs", logs)
    wait_indexed(server, project, "lgs")
    check_queries(client, project, "lgs", logs)
    # Every acknowledged log is still there, by SQL over the index.
    got = client.get_log(project, "lgs", T0, T0 + len(logs), query="* | select count(*) as c")
    assert got.get_logs()[0].get_contents() == {"c": str(len(logs))}
