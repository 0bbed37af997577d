"""Thousands of LogGroups written with the official SDK (lz4, zstd and uncompressed bodies; routed
by hash key and load-balanced) come back from PullLogs with every field identical, in order."""
import time

import pytest

from conftest import (KEY_SPACE, assert_error, cursor_int, cursor_str, expected_group, group_fields, key_hex,
                      log_item, pull_all, put_request, shard_for_key)

SHARDS = 4
ROUTED = 2000
LOAD_BALANCED = 400
COMPRESSIONS = [
    # (compress, compress_type): the SDK default (lz4), zstd, and no compression.
    (True, None),
    (True, "zstd"),
    (False, None),
]


def hash_key(i):
    """Keys all over the key space, including every shard's first and last key and ff..ff."""
    shard = i % SHARDS
    begin = shard * KEY_SPACE // SHARDS
    end = (shard + 1) * KEY_SPACE // SHARDS
    pick = (i // SHARDS) % 5
    if pick == 0:
        k = begin
    elif pick == 1:
        k = end - 1
    else:
        k = begin + (i * 0x9E3779B97F4A7C15F39CC0605CEDC834) % (end - begin)
    return key_hex(k)


def items_for(i, base_time):
    """1–6 logs (a few groups hold 300) with unicode, empty values, and edge nanosecond parts."""
    n = 300 if i % 397 == 0 else 1 + i % 6
    out = []
    for j in range(n):
        contents = [("seq", str(i)), ("j", str(j)), ("msg", f"message {i}/{j} ünïcödé ✓ " + "x" * (i % 50)),
                    ("empty", ""), ("k" * (1 + j % 3), "v" * (j % 7))]
        if i % 11 == 0:
            contents.append(("json", '{"a": [1, 2, {"b": "c"}], "d": null}'))
        ns = [0, 999_999_999, 1, (i * 7919 + j) % 1_000_000_000][(i + j) % 4]
        out.append(log_item(base_time - (i % 1000) + j, contents, ns))
    return out


def tags_for(i):
    if i % 5 == 0:
        return None
    tags = [("__tag__:__hostname__", f"host-{i % 7}"), ("seq", str(i))]
    if i % 3 == 0:
        tags.append(("ünï", "tag with spaces and = & ?"))
    return tags


def seq_of(group):
    return int(next(c.Value for c in group.Logs[0].Contents if c.Key == "seq"))


@pytest.fixture(scope="module")
def written(cairn_server):
    """Writes the data set once for every test of this module; returns what was sent."""
    from conftest import make_client, unique

    client = make_client(cairn_server)
    project = unique("rt")
    client.create_project(project, "round trip")
    client.create_logstore(project, "events", ttl=30, shard_count=SHARDS)
    shards = client.list_shards(project, "events").get_shards_info()
    base_time = int(time.time())
    sent = {}          # seq -> (expected fields, shard or None for load-balanced)
    for i in range(ROUTED + LOAD_BALANCED):
        routed = i < ROUTED
        compress, compress_type = COMPRESSIONS[i % len(COMPRESSIONS)]
        key = hash_key(i) if routed else None
        topic = "" if i % 13 == 0 else f"topic-{i % 4}"
        source = f"10.{i % 3}.{i % 250}.{i % 7}"
        req = put_request(project, "events", topic, source, items_for(i, base_time), tags=tags_for(i),
                          hash_key=key, compress_type=compress_type, compress=compress)
        res = client.put_logs(req)
        assert res.get_request_id()
        sent[i] = (expected_group(req), shard_for_key(shards, key) if routed else None)
    yield {"client": client, "project": project, "sent": sent}
    client.delete_project(project)


def test_every_field_round_trips_in_order(written):
    client, project, sent = written["client"], written["project"], written["sent"]
    seen = {}
    lb_per_shard = {}
    for shard in range(SHARDS):
        groups = pull_all(client, project, "events", shard)
        seqs = [seq_of(g) for g in groups]
        assert seqs == sorted(seqs), f"shard {shard}: LogGroups out of write order"
        expected_routed = [s for s, (_, sh) in sent.items() if sh == shard]
        assert [s for s in seqs if s < ROUTED] == expected_routed, f"shard {shard}: routed LogGroups differ"
        lb_per_shard[shard] = sum(1 for s in seqs if s >= ROUTED)
        for g, s in zip(groups, seqs):
            assert s not in seen, f"LogGroup {s} read twice"
            seen[s] = shard
            exp = sent[s][0]
            got = group_fields(g)
            assert got[0] == exp[0], f"topic of {s}"
            assert got[1] == exp[1], f"source of {s}"
            assert got[2] == exp[2], f"tags of {s}"
            assert len(got[3]) == len(exp[3]), f"log count of {s}"
            for j, (a, b) in enumerate(zip(got[3], exp[3])):
                assert a[0] == b[0], f"time of {s}/{j}"
                assert a[1] == b[1], f"time_ns of {s}/{j}"
                assert a[2] == b[2], f"contents of {s}/{j}"
        end = client.get_cursor(project, "events", shard, "end").get_cursor()
        assert cursor_int(end) == len(groups), "cursors count LogGroups from 0"
    assert sorted(seen) == sorted(sent), "every LogGroup is read exactly once"
    # Load-balanced writes are spread over the shards.
    assert all(n > 0 for n in lb_per_shard.values()), lb_per_shard
    assert sum(lb_per_shard.values()) == LOAD_BALANCED


@pytest.mark.parametrize("how", [dict(accept_compress_type="zstd"), dict(compress=False), dict(count=7)])
def test_other_read_encodings_return_the_same(written, how):
    client, project = written["client"], written["project"]
    for shard in range(SHARDS):
        ref = [group_fields(g) for g in pull_all(client, project, "events", shard)]
        got = [group_fields(g) for g in pull_all(client, project, "events", shard, **how)]
        assert got == ref


def test_pull_response_headers(written):
    client, project = written["client"], written["project"]
    begin = client.get_cursor(project, "events", 0, "begin").get_cursor()
    for accept, expect in (("lz4", "lz4"), ("zstd", "zstd")):
        res = client.pull_logs(project, "events", 0, begin, 50, accept_compress_type=accept)
        h = {k.lower(): v for k, v in res.get_all_headers().items()}
        assert h["x-log-count"] == "50"
        assert h["x-log-cursor"] == cursor_str(cursor_int(begin) + 50)
        assert h["x-log-compresstype"] == expect
        assert int(h["x-log-bodyrawsize"]) > 0
        assert "content-encoding" not in h, "compression is signalled only by x-log-compresstype"
        assert h.get("x-log-requestid")
    res = client.pull_logs(project, "events", 0, begin, 50, compress=False)
    h = {k.lower(): v for k, v in res.get_all_headers().items()}
    assert h["x-log-count"] == "50" and "x-log-compresstype" not in h


def test_pull_log_iterator_covers_every_shard(written):
    client, project = written["client"], written["project"]
    now = int(time.time())
    total = 0
    for shard in range(SHARDS):
        end = client.get_cursor(project, "events", shard, "end").get_cursor()
        n = 0
        last = None
        for res in client.pull_log(project, "events", shard, now - 3600, now + 3600, batch_size=128):
            n += res.get_loggroup_count()
            assert res.get_loggroup_count() <= 128
            last = res.get_next_cursor()
        assert last == end
        assert n == cursor_int(end)
        total += n
    assert total == ROUTED + LOAD_BALANCED



def test_json_put_logs_as_the_java_sdk_sends_them(client, project, cairn_server):
    """The Java SDK's JSON mode: `Content-Type: application/json`, one LogGroup as
    `{"__topic__", "__source__", "__logs__": [{"__time__", "__time_ns_part__", k: v}], "__tags__"}`,
    compressed or not; each log keeps its `__time__`."""
    import json

    import lz4.block

    from conftest import raw_request

    client.create_logstore(project, "json-put", ttl=30, shard_count=1)
    doc = {"__topic__": "java", "__source__": "10.1.1.1", "__tags__": {"__pack_unique_id__": "u-1"},
           "__logs__": [{"__time__": 1_700_000_000, "__time_ns_part__": 42, "level": "warn", "msg": "é"},
                        {"__time__": 1_700_000_001, "k": None}]}
    body = json.dumps(doc).encode()
    plain = raw_request(cairn_server, "POST", project, "/logstores/json-put/shards/lb", body=body,
                        headers={"Content-Type": "application/json", "x-log-bodyrawsize": str(len(body))})
    assert plain.status_code == 200, plain.text
    packed = lz4.block.compress(body)[4:]
    r = raw_request(cairn_server, "POST", project, "/logstores/json-put/shards/lb", body=packed,
                    headers={"Content-Type": "application/json", "x-log-bodyrawsize": str(len(body)),
                             "x-log-compresstype": "lz4"})
    assert r.status_code == 200, r.text
    want = ("java", "10.1.1.1", [("__pack_unique_id__", "u-1")],
            [(1_700_000_000, 42, [("level", "warn"), ("msg", "é")]), (1_700_000_001, 0, [("k", "")])])
    assert [group_fields(g) for g in pull_all(client, project, "json-put", 0)] == [want, want]
    # A body that is not a JSON LogGroup is refused and takes no cursor.
    for bad in [b"{}", b'{"__logs__": []}', b'{"__logs__": [{"__time__": "soon", "a": "b"}]}', b"[1]"]:
        r = raw_request(cairn_server, "POST", project, "/logstores/json-put/shards/lb", body=bad,
                        headers={"Content-Type": "application/json"})
        assert_error(r, 400, "PostBodyInvalid")
    assert len(pull_all(client, project, "json-put", 0)) == 2
