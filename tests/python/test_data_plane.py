"""The official Python SDK, unmodified, against the real binary: projects, logstores, shards,
PutLogs / PullLogs with every field, cursors by time, routing, split and merge, signatures."""
import base64
import email.utils
import hashlib
import hmac
import os
import time
import uuid

import pytest
import requests
from aliyun.log import LogClient, LogException, LogItem, PutLogsRequest

from conftest import AK, SECRET

KEY_SPACE = 1 << 128


def make_items(prefix, n, base_time):
    items = []
    for i in range(n):
        item = LogItem(
            timestamp=base_time + i,
            contents=[("id", f"{prefix}-{i}"), ("msg", "hello " * (i % 5)), ("bin", "ü-ñ-" + str(i))],
            time_nano_part=(i * 7919) % 1_000_000_000 or 1,
        )
        items.append(item)
    return items


def group_fields(g):
    return (
        g.Topic,
        g.Source,
        [(t.Key, t.Value) for t in g.LogTags],
        [(l.Time, l.Time_ns, [(c.Key, c.Value) for c in l.Contents]) for l in g.Logs],
    )


def pull_all(client, project, logstore, shard, **kw):
    cursor = client.get_cursor(project, logstore, shard, "begin").get_cursor()
    groups = []
    while True:
        res = client.pull_logs(project, logstore, shard, cursor, 1000, **kw)
        if res.get_loggroup_count() == 0:
            assert res.get_next_cursor() == cursor, "at the end the cursor comes back unchanged"
            return groups
        groups.extend(res.get_loggroup_list().LogGroups)
        cursor = res.get_next_cursor()


def hash_key_for_shard(shard, shards):
    """A 32-hex key inside shard `shard` of `shards` evenly split shards."""
    return "%032x" % (shard * KEY_SPACE // shards + 12345)


def test_project_crud_and_errors(client):
    name = "p-" + uuid.uuid4().hex[:10]
    client.create_project(name, "first")
    with pytest.raises(LogException) as e:
        client.create_project(name, "again")
    assert e.value.get_error_code() == "ProjectAlreadyExist"
    body = client.get_project(name).get_body()
    for k in ("projectName", "description", "status", "region", "owner", "createTime", "lastModifyTime"):
        assert k in body
    assert body["description"] == "first"
    client.update_project(name, "second")
    assert client.get_project(name).get_body()["description"] == "second"
    names = set()
    offset = 0
    while True:
        page = client.list_project(offset=offset, size=1).get_body()
        names.update(p["projectName"] for p in page["projects"])
        offset += page["count"]
        if page["count"] == 0 or offset >= page["total"]:
            break
    assert name in names
    client.delete_project(name)
    with pytest.raises(LogException) as e:
        client.get_project(name)
    assert e.value.get_error_code() == "ProjectNotExist"
    assert e.value.resp_status == 404


def test_logstore_crud_and_shards(client, project):
    client.create_logstore(project, "store-a", ttl=7, shard_count=4)
    with pytest.raises(LogException) as e:
        client.create_logstore(project, "store-a", ttl=7, shard_count=4)
    assert e.value.get_error_code() == "LogStoreAlreadyExist"
    ls = client.get_logstore(project, "store-a")
    assert ls.get_ttl() == 7 and ls.get_shard_count() == 4
    client.update_logstore(project, "store-a", ttl=30)
    assert client.get_logstore(project, "store-a").get_ttl() == 30
    assert "store-a" in client.list_logstore(project).get_logstores()
    shards = client.list_shards(project, "store-a").get_shards_info()
    assert [s["shardID"] for s in shards] == [0, 1, 2, 3]
    assert all(s["status"] == "readwrite" for s in shards)
    assert [s["inclusiveBeginKey"] for s in shards] == ["%032x" % (i * KEY_SPACE // 4) for i in range(4)]
    assert shards[-1]["exclusiveEndKey"] == "f" * 32
    client.delete_logstore(project, "store-a")
    with pytest.raises(LogException) as e:
        client.get_logstore(project, "store-a")
    assert e.value.get_error_code() == "LogStoreNotExist"


@pytest.mark.parametrize("compress_type", ["lz4", "zstd"])
def test_thousands_of_groups_round_trip_every_field(client, project, compress_type):
    client.create_logstore(project, "events", ttl=7, shard_count=4)
    sent = {s: [] for s in range(4)}
    base = int(time.time()) - 3600
    for i in range(1200):
        shard = i % 4
        req = PutLogsRequest(
            project, "events", topic=f"topic-{i % 3}", source=f"10.0.{shard}.{i % 250}",
            logitems=make_items(f"g{i}", 1 + i % 4, base + i),
            hashKey=hash_key_for_shard(shard, 4),
            logtags=[("__tag__:env", "test"), ("seq", str(i))],
            compress_type=compress_type,
        )
        client.put_logs(req)
        sent[shard].append(req)
    # A few more through the load-balanced route.
    for i in range(40):
        client.put_logs(PutLogsRequest(project, "events", topic="lb", source="lb",
                                       logitems=make_items(f"lb{i}", 2, base), compress_type=compress_type))
    total = 0
    for shard in range(4):
        got = pull_all(client, project, "events", shard, accept_compress_type=compress_type)
        total += len(got)
        routed = [g for g in got if g.Topic != "lb"]
        assert len(routed) == len(sent[shard])
        for g, req in zip(routed, sent[shard]):
            topic, source, tags, logs = group_fields(g)
            assert topic == req.get_topic()
            assert source == req.get_source()
            assert tags == [tuple(t) for t in req.get_log_tags()]
            assert len(logs) == len(req.get_log_items())
            for (t, tns, contents), item in zip(logs, req.get_log_items()):
                assert t == item.get_time()
                assert tns == item.get_time_nano_part()
                assert contents == [(k, v) for k, v in item.get_contents()]
    assert total == 1240


def test_pull_log_iterator_and_uncompressed_reads(client, project):
    client.create_logstore(project, "iter", ttl=7, shard_count=1)
    now = int(time.time())
    for i in range(30):
        client.put_logs(PutLogsRequest(project, "iter", topic="t", source="s", logitems=make_items(f"x{i}", 1, now)))
    seen = 0
    for res in client.pull_log(project, "iter", 0, now - 60, now + 60, batch_size=7):
        seen += res.get_loggroup_count()
    assert seen == 30
    plain = pull_all(client, project, "iter", 0, compress=False)
    assert len(plain) == 30


def test_cursor_by_time_and_cursor_time(client, project):
    client.create_logstore(project, "times", ttl=7, shard_count=1)
    before = int(time.time())
    for i in range(20):
        client.put_logs(PutLogsRequest(project, "times", topic="", source="s", logitems=make_items(f"t{i}", 1, before)))
    after = int(time.time())
    begin = client.get_cursor(project, "times", 0, "begin").get_cursor()
    end = client.get_cursor(project, "times", 0, "end").get_cursor()
    assert base64.b64decode(begin) == b"0" and base64.b64decode(end) == b"20"
    # Every group's cursor time is its receive time, within the window of the writes.
    for c in range(20):
        cur = base64.b64encode(str(c).encode()).decode()
        t = client.get_cursor_time(project, "times", 0, cur).get_cursor_time()
        assert before <= t <= after
    # A time before the data gives the begin cursor, after it the end cursor.
    assert client.get_cursor(project, "times", 0, before - 1000).get_cursor() == begin
    assert client.get_cursor(project, "times", 0, after + 1000).get_cursor() == end
    # The cursor found for a time points at a group received at or after it.
    c = client.get_cursor(project, "times", 0, after).get_cursor()
    if c != end:
        assert client.get_cursor_time(project, "times", 0, c).get_cursor_time() >= after
    prev = client.get_previous_cursor_time(project, "times", 0, end).get_cursor_time()
    assert before <= prev <= after
    with pytest.raises(LogException) as e:
        client.get_cursor_time(project, "times", 0, base64.b64encode(b"500").decode())
    assert e.value.get_error_code() == "InvalidCursor"


def test_end_cursor_and_empty_pulls(client, project):
    client.create_logstore(project, "ends", ttl=7, shard_count=1)
    for i in range(10):
        client.put_logs(PutLogsRequest(project, "ends", topic="", source="s", logitems=make_items(f"e{i}", 1, int(time.time()))))
    begin = client.get_cursor(project, "ends", 0, "begin").get_cursor()
    stop = base64.b64encode(b"4").decode()
    res = client.pull_logs(project, "ends", 0, begin, 100, end_cursor=stop)
    assert res.get_loggroup_count() == 4
    assert res.get_next_cursor() == stop
    res = client.pull_logs(project, "ends", 0, stop, 100, end_cursor=stop)
    assert res.get_loggroup_count() == 0 and res.get_next_cursor() == stop


def test_routing_split_and_merge(client, project):
    client.create_logstore(project, "route", ttl=7, shard_count=2)
    for i in range(6):
        client.put_logs(PutLogsRequest(project, "route", topic="before", source="s",
                                       logitems=make_items(f"r{i}", 1, int(time.time())),
                                       hashKey="%032x" % ((i % 2) * (KEY_SPACE // 2) + 99)))
    assert len(pull_all(client, project, "route", 0)) == 3
    assert len(pull_all(client, project, "route", 1)) == 3
    res = client.split_shard(project, "route", 1, "c0000000000000000000000000000000").get_shards_info()
    assert [s["shardID"] for s in res] == [1, 2, 3]
    assert res[0]["status"] == "readonly"
    shards = {s["shardID"]: s for s in client.list_shards(project, "route").get_shards_info()}
    assert shards[1]["status"] == "readonly" and shards[2]["status"] == "readwrite"
    assert shards[3]["inclusiveBeginKey"] == "c0000000000000000000000000000000"
    # The readonly parent stays readable; new writes for its range go to the children.
    client.put_logs(PutLogsRequest(project, "route", topic="after", source="s",
                                   logitems=make_items("late", 1, int(time.time())), hashKey="d" + "0" * 31))
    assert [g.Topic for g in pull_all(client, project, "route", 1)] == ["before"] * 3
    assert [g.Topic for g in pull_all(client, project, "route", 3)] == ["after"]
    res = client.merge_shard(project, "route", 2).get_shards_info()
    assert [s["shardID"] for s in res] == [4, 2, 3]
    assert res[0]["status"] == "readwrite"
    assert len(client.list_shards(project, "route").get_shards_info()) == 5


def test_wrong_secret_and_unknown_key(cairn_server, project):
    bad = LogClient("localhost", AK, "not-the-secret")
    with pytest.raises(LogException) as e:
        bad.get_project(project)
    assert e.value.get_error_code() == "SignatureNotMatch"
    assert e.value.resp_status == 401
    unknown = LogClient("localhost", "nobody", SECRET)
    with pytest.raises(LogException) as e:
        unknown.get_project(project)
    assert e.value.resp_status == 401


def test_v4_signed_client_works(cairn_server, project):
    from aliyun.log.auth import AUTH_VERSION_4

    c4 = LogClient("localhost", AK, SECRET, auth_version=AUTH_VERSION_4, region="cn-hangzhou")
    c4.create_logstore(project, "v4store", ttl=7, shard_count=1)
    c4.put_logs(PutLogsRequest(project, "v4store", topic="v4", source="s", logitems=make_items("v4", 2, int(time.time()))))
    assert [g.Topic for g in pull_all(c4, project, "v4store", 0)] == ["v4"]
    bad = LogClient("localhost", AK, "wrong", auth_version=AUTH_VERSION_4, region="cn-hangzhou")
    with pytest.raises(LogException) as e:
        bad.get_logstore(project, "v4store")
    assert e.value.get_error_code() == "SignatureNotMatch"


def signed_get(server, project, path, date):
    """A v1-signed GET built from the documented string-to-sign, sent through the proxy."""
    headers = {"Date": date, "x-log-apiversion": "0.6.0", "x-log-signaturemethod": "hmac-sha1", "x-log-bodyrawsize": "0"}
    canon = "".join(f"{k}:{headers[k]}\n" for k in sorted(h for h in headers if h.startswith("x-log-")))
    sts = f"GET\n\n\n{date}\n{canon}{path}"
    sig = base64.b64encode(hmac.new(SECRET.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    headers["Authorization"] = f"LOG {AK}:{sig}"
    return requests.get(f"http://{project}.localhost{path}", headers=headers,
                        proxies={"http": server.proxy}, timeout=10)


def test_request_time_is_checked(cairn_server, project):
    now = time.time()
    ok = signed_get(cairn_server, project, "/", email.utils.formatdate(now, usegmt=True))
    assert ok.status_code == 200, ok.text
    skewed = signed_get(cairn_server, project, "/", email.utils.formatdate(now - 3600, usegmt=True))
    assert skewed.status_code == 400
    assert skewed.json()["errorCode"] == "RequestTimeExpired"
    assert "x-log-requestid" in skewed.headers


def raw_put(server, project, logstore, body, headers):
    date = email.utils.formatdate(time.time(), usegmt=True)
    h = {"Date": date, "x-log-apiversion": "0.6.0", "x-log-signaturemethod": "hmac-sha1",
         "Content-Type": "application/x-protobuf", **headers}
    canon = "".join(f"{k.lower()}:{h[k]}\n" for k in sorted((k for k in h if k.lower().startswith("x-log-")), key=str.lower))
    path = f"/logstores/{logstore}/shards/lb"
    sts = f"POST\n\napplication/x-protobuf\n{date}\n{canon}{path}"
    sig = base64.b64encode(hmac.new(SECRET.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    h["Authorization"] = f"LOG {AK}:{sig}"
    return requests.post(f"http://{project}.localhost{path}", data=body, headers=h,
                         proxies={"http": server.proxy}, timeout=30)


def test_bad_bodies_change_nothing(cairn_server, client, project):
    import lz4.block
    from aliyun.log.log_logs_pb2 import LogGroup

    client.create_logstore(project, "bad", ttl=7, shard_count=1)
    g = LogGroup()
    g.Topic = "t"
    log = g.Logs.add()
    log.Time = int(time.time())
    c = log.Contents.add()
    c.Key, c.Value = "k", "v"
    raw = g.SerializeToString()
    end = client.get_cursor(project, "bad", 0, "end").get_cursor()
    cases = [
        (raw[:-1], {"x-log-bodyrawsize": str(len(raw) - 1)}, 400, "PostBodyInvalid"),
        (raw[:6], {}, 400, "PostBodyInvalid"),
        (lz4.block.compress(raw)[4:], {"x-log-bodyrawsize": str(len(raw) + 9), "x-log-compresstype": "lz4"}, 400, "PostBodyUncompressError"),
        (raw, {"x-log-bodyrawsize": str(len(raw)), "x-log-compresstype": "snappy"}, 400, "InvalidCompressType"),
        (b"\x00" * 64, {"x-log-bodyrawsize": "64", "x-log-compresstype": "zstd"}, 400, "PostBodyUncompressError"),
        (raw, {"x-log-bodyrawsize": str(11 << 20), "x-log-compresstype": "lz4"}, 413, "PostBodyTooLarge"),
    ]
    for body, headers, status, code in cases:
        r = raw_put(cairn_server, project, "bad", body, headers)
        assert r.status_code == status, (code, r.text)
        assert r.json()["errorCode"] == code
        assert r.json()["errorMessage"]
        assert "x-log-requestid" in r.headers
    assert client.get_cursor(project, "bad", 0, "end").get_cursor() == end
    with pytest.raises(LogException) as e:
        client.pull_logs(project, "bad", 0, "not-a-cursor!", 10)
    assert e.value.get_error_code() == "ParameterInvalid"
    with pytest.raises(LogException) as e:
        client.pull_logs(project, "bad", 0, base64.b64encode(b"99").decode(), 10)
    assert e.value.get_error_code() == "InvalidCursor"
    with pytest.raises(LogException) as e:
        client.get_cursor(project, "bad", 7, "begin")
    assert e.value.get_error_code() == "ShardNotExist"
    with pytest.raises(LogException) as e:
        client.create_logstore(project, "Bad Name!", ttl=7, shard_count=1)
    assert e.value.resp_status == 400
